from scenarios.base import Query, Scenario

EDITORS = ("owner", "admin", "editor")


def params(pop, rng):
    editable = [m for m in pop.memberships if m[3] in EDITORS]
    user_id, org_id, project_id, _role = pop.pick(editable, rng)
    return {"user_id": user_id, "org_id": org_id, "project_id": project_id}


SCENARIO = Scenario(
    name="editable_dashboards",
    kind="read",
    description="Dashboards of a project that a member may edit (the review's project_member_access)",
    queries={
        "baseline": Query(
            "SELECT d.id, d.name FROM dashboards d WHERE d.project_id = $1 AND d.organization_id = $2 AND "
            "(d.owner_id = $3 OR EXISTS (SELECT 1 FROM project_members m WHERE m.project_id = d.project_id "
            "AND m.user_id = $3 AND m.role IN ('owner', 'admin', 'editor'))) ORDER BY d.updated_at DESC",
            ("project_id", "org_id", "user_id")),
        # review: its FOR ALL policy itself restricts rows to editors
        "review": Query("SELECT id, name FROM dashboards WHERE project_id = $1 ORDER BY updated_at DESC",
                        ("project_id",)),
        # hardened lets viewers read, so "editable" is asked for explicitly
        "hardened": Query(
            "SELECT d.id, d.name FROM dashboards d WHERE d.project_id = $1 AND "
            "(d.owner_id = (SELECT auth.uid()) OR EXISTS (SELECT 1 FROM project_members m WHERE "
            "m.project_id = d.project_id AND m.user_id = (SELECT auth.uid()) "
            "AND m.role IN ('owner', 'admin', 'editor'))) ORDER BY d.updated_at DESC", ("project_id",)),
    },
    params=params,
)
