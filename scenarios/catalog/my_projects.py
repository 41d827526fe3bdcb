from scenarios.base import Query, Scenario


def params(pop, rng):
    user_id, org_id, _project, _role = pop.pick(pop.memberships, rng)
    return {"user_id": user_id, "org_id": org_id}


# The same SQL everywhere: the user's id is known to the client; RLS adds its own check.
SCENARIO = Scenario(
    name="my_projects",
    kind="read",
    description="Projects a user owns or belongs to (membership join)",
    queries={"*": Query("SELECT p.id, p.name, m.role FROM project_members m JOIN projects p ON p.id = m.project_id "
                        "WHERE m.user_id = $1 ORDER BY p.name", ("user_id",))},
    params=params,
)
