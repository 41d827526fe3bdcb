from scenarios.base import Query, Scenario


def params(pop, rng):
    project_id, owner_id, org_id = pop.pick(pop.owned_projects, rng)
    return {"user_id": owner_id, "org_id": org_id, "project_id": project_id,
            "description": f"Edited by the benchmark, revision {int(rng.integers(1_000_000))}"}


SCENARIO = Scenario(
    name="update_project",
    kind="write",
    description="A project's owner edits its description (fires the audit trigger where there is one)",
    queries={
        "baseline": Query("UPDATE projects SET description = $1, updated_at = now() WHERE id = $2 "
                          "AND organization_id = $3 RETURNING id", ("description", "project_id", "org_id")),
        "rls": Query("UPDATE projects SET description = $1, updated_at = now() WHERE id = $2 RETURNING id",
                     ("description", "project_id")),
    },
    params=params,
    expected_failures={"review": "the review enables RLS on projects with only a SELECT policy "
                                 "(org_member_access), so every UPDATE is silently refused: 0 rows"},
)
