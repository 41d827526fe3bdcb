from scenarios.base import Query, Scenario


def params(pop, rng):
    project_id, org_id = pop.pick(pop.audited_records, rng)
    return {"user_id": pop.user_of(org_id, rng), "org_id": org_id, "record_id": project_id}


# Baseline has no audit trail: the scenario does not apply there.
SCENARIO = Scenario(
    name="audit_lookup",
    kind="read",
    description="The change history of a project from audit_log",
    queries={"rls": Query("SELECT operation, \"timestamp\" FROM audit_log WHERE table_name = 'projects' "
                          "AND record_id = $1 ORDER BY \"timestamp\" DESC LIMIT 20", ("record_id",))},
    params=params,
)
