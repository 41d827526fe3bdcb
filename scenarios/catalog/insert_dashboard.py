import uuid

from scenarios.base import Query, Scenario

MAX_SOURCES = 3


def params(pop, rng):
    user_id, org_id, project_id, datasets = pop.pick(pop.dashboard_editors, rng)  # editors and up of the project
    sources = [datasets[int(i)] for i in rng.permutation(len(datasets))[:int(rng.integers(1, MAX_SOURCES + 1))]]
    template_id, _org = pop.pick([t for t in pop.templates if t[1] in (None, org_id)], rng)
    return {"user_id": user_id, "org_id": org_id, "project_id": project_id, "template_id": template_id,
            "dashboard_id": uuid.UUID(bytes=rng.bytes(16), version=4), "sources": sources,
            "name": f"Benchmark dashboard {int(rng.integers(1_000_000))}"}


ROW = "organization_id, project_id, owner_id, template_id, name"
SCENARIO = Scenario(
    name="insert_dashboard",
    kind="write",
    description="A project editor creates a dashboard on a template with its data sources (soft uuid[] reference, "
                "the review's validate_data_sources, hardened's junction table)",
    queries={
        "baseline": Query(f"INSERT INTO dashboards ({ROW}, data_sources) VALUES ($1, $2, $3, $4, $5, $6::uuid[]) "
                          "RETURNING id", ("org_id", "project_id", "user_id", "template_id", "name", "sources")),
        # the review's check, as an app would call it: no row when a source does not exist
        "review": Query(f"INSERT INTO dashboards ({ROW}, data_sources) SELECT $1, $2, $3, $4, $5, $6::uuid[] "
                        "WHERE validate_data_sources($6::uuid[]) RETURNING id",
                        ("org_id", "project_id", "user_id", "template_id", "name", "sources")),
        # two statements in the request's transaction: the junction rows' policy must see the
        # dashboard, which one statement's own snapshot does not (hence the client's id)
        "hardened": Query(f"INSERT INTO dashboards (id, {ROW}) VALUES ($1, $2, $3, $4, $5, $6);\n"
                          "INSERT INTO dashboard_data_sources (dashboard_id, dataset_id) SELECT $1, unnest($7::uuid[]) "
                          "RETURNING dashboard_id",
                          ("dashboard_id", "org_id", "project_id", "user_id", "template_id", "name", "sources")),
    },
    params=params,
)
