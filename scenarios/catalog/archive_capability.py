from scenarios.base import Query, Scenario


def params(pop, rng):
    capability_id, org_id, owner_id = pop.pick(pop.draft_capabilities, rng)
    return {"user_id": owner_id, "org_id": org_id, "capability_id": capability_id}


SCENARIO = Scenario(
    name="archive_capability",
    kind="write",
    description="A capability's owner archives it (soft delete where the schema has it)",
    queries={
        "baseline": Query("UPDATE capabilities SET status = 'archived', updated_at = now() WHERE id = $1 "
                          "AND organization_id = $2 RETURNING id", ("capability_id", "org_id")),
        "review": Query("SELECT soft_delete_capability($1)", ("capability_id",)),
        # hardened's function answers false for a capability already archived (a repeat pick)
        "hardened": Query("SELECT soft_delete_capability($1) AS archived", ("capability_id",)),
    },
    params=params,
)
