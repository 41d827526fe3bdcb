from scenarios.base import Query, Scenario


def params(pop, rng):
    user_id, org_id, _role = pop.pick(pop.users, rng)
    return {"user_id": user_id, "org_id": org_id, "status": str(rng.choice(["active", "active", "draft"]))}


SCENARIO = Scenario(
    name="projects_by_status",
    kind="read",
    description="A member lists their organisation's projects with a status, newest first",
    queries={
        "baseline": Query("SELECT id, name, status, updated_at FROM projects WHERE organization_id = $1 AND status = $2 "
                          "ORDER BY created_at DESC LIMIT 50", ("org_id", "status")),
        "rls": Query("SELECT id, name, status, updated_at FROM projects WHERE status = $1 "
                     "ORDER BY created_at DESC LIMIT 50", ("status",)),
    },
    params=params,
)
