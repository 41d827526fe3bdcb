import datetime as dt

from scenarios.base import Query, Scenario


def params(pop, rng):
    admins = [u for u in pop.users if u[2] in ("owner", "admin")]
    user_id, org_id, _role = pop.pick(admins, rng)
    start = (pop.anchor - dt.timedelta(days=92)).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return {"user_id": user_id, "org_id": org_id, "from": start, "to": pop.anchor}


# An organisation admin's analytics: the partitioned table prunes to three months.
SCENARIO = Scenario(
    name="monthly_activity",
    kind="read",
    description="Monthly activity counts of an organisation over the last three months (partition pruning)",
    queries={"*": Query("SELECT date_trunc('month', \"timestamp\") AS month, count(*) FROM user_activity_log "
                        "WHERE organization_id = $1 AND \"timestamp\" >= $2 AND \"timestamp\" < $3 "
                        "GROUP BY 1 ORDER BY 1", ("org_id", "from", "to"))},
    params=params,
)
