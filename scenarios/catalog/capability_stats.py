from scenarios.base import Query, Scenario


def params(pop, rng):
    user_id, org_id, _role = pop.pick(pop.users, rng)
    return {"user_id": user_id, "org_id": org_id}


# baseline aggregates live; review and hardened read the materialized view (stale until
# refreshed: the speed comes from precomputing, a trade the report must state).
SCENARIO = Scenario(
    name="capability_stats",
    kind="read",
    description="Marketplace statistics per category (live aggregate vs materialized view)",
    queries={
        "baseline": Query("SELECT category, count(*) AS total_capabilities, avg((metrics->>'rating')::numeric) "
                          "AS avg_rating, sum((metrics->>'downloads')::bigint) AS total_downloads FROM capabilities "
                          "WHERE status = 'published' GROUP BY category ORDER BY category"),
        "rls": Query("SELECT category, total_capabilities, avg_rating, total_downloads FROM mv_capability_stats "
                     "ORDER BY category"),
    },
    params=params,
)
