from scenarios.base import Query, Scenario


def params(pop, rng):
    user_id, org_id, _role = pop.pick(pop.users, rng)
    return {"user_id": user_id, "org_id": org_id, "category": pop.pick(pop.categories, rng),
            "offset": int(rng.integers(0, 3)) * 20}


SCENARIO = Scenario(
    name="marketplace_browse",
    kind="read",
    description="Published and approved capabilities of a category, newest first, a page of 20",
    queries={"*": Query("SELECT id, name, category, metrics, created_at FROM capabilities "
                        "WHERE status = 'published' AND approval_status = 'approved' AND category = $1 "
                        "ORDER BY created_at DESC LIMIT 20 OFFSET $2", ("category", "offset")),
             "hardened": Query("SELECT id, name, category, metrics, created_at FROM capabilities "
                               "WHERE status = 'published' AND approval_status = 'approved' AND deleted_at IS NULL "
                               "AND category = $1 ORDER BY created_at DESC LIMIT 20 OFFSET $2",
                               ("category", "offset"))},
    params=params,
)
