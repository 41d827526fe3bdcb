from scenarios.base import Query, Scenario


def params(pop, rng):
    user_id, org_id = pop.pick(pop.departing_users, rng)  # owns a project (audited), no dashboard
    return {"user_id": user_id, "org_id": org_id}


# Account deletion by the back office (service_role: hardened lets no user delete a
# profile), with the departing user's claims, so auth.uid() names who asked. Their projects'
# owner_id is SET NULL, an UPDATE the audit triggers log in the user's name.
SCENARIO = Scenario(
    name="delete_user",
    kind="write",
    description="The back office deletes a user's account at their request (FK rules, audit trail)",
    queries={"*": Query("DELETE FROM users WHERE id = $1 RETURNING id", ("user_id",),
                        settings=(("role", "service_role"),))},
    params=params,
    expected_failures={"review": "the review's audit_log.user_id REFERENCES users(id) (NO ACTION): the audit rows "
                                 "that name the user (here those of the deletion's own cascade; in production also "
                                 "every earlier change) make the user undeletable ('violates foreign key constraint "
                                 "\"audit_log_user_id_fkey\"')"},
)
