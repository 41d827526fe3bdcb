from scenarios.base import Query, Scenario


def params(pop, rng):
    template_id, org_id = pop.pick(pop.used_templates, rng)  # an organisation's template that dashboards use
    return {"user_id": pop.user_of(org_id, rng), "org_id": org_id, "template_id": template_id}


# What deleting a template in use does to the dashboards on it: baseline leaves their
# template_id dangling (no FK), review refuses (NO ACTION), hardened sets it NULL (each
# dashboard updated, and audited).
SCENARIO = Scenario(
    name="delete_template",
    kind="write",
    description="A member deletes their organisation's dashboard template that dashboards use (FK and cascade rules)",
    queries={
        "baseline": Query("DELETE FROM dashboard_templates WHERE id = $1 AND organization_id = $2 RETURNING id",
                          ("template_id", "org_id")),
        "rls": Query("DELETE FROM dashboard_templates WHERE id = $1 RETURNING id", ("template_id",)),
    },
    params=params,
    expected_failures={"review": "the review's fk_dashboards_template has no ON DELETE rule (NO ACTION): a template "
                                 "that dashboards use cannot be deleted ('violates foreign key constraint "
                                 "\"fk_dashboards_template\"')"},
)
