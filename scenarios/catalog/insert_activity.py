from scenarios.base import Query, Scenario


def params(pop, rng):
    user_id, org_id, _role = pop.pick(pop.users, rng)
    return {"user_id": user_id, "org_id": org_id, "action": "document.viewed",
            "metadata": f'{{"source": "benchmark", "n": {int(rng.integers(1_000_000))}}}'}


# The app logs an action as it happens ("timestamp" defaults to now()). Baseline: one plain
# table; hardened: routed to the month's partition (DEFAULT catches any other month);
# review: its proposed partitioned table, which has January 2024 only and no DEFAULT.
INSERT = ("INSERT INTO {table} (user_id, organization_id, action, metadata) VALUES ($1, $2, $3, $4::jsonb) "
          "RETURNING id")
SCENARIO = Scenario(
    name="insert_activity",
    kind="write",
    description="The app logs a user's action (partition routing where the log is partitioned)",
    queries={"*": Query(INSERT.format(table="user_activity_log"), ("user_id", "org_id", "action", "metadata")),
             "review": Query(INSERT.format(table="user_activity_log_partitioned"),
                             ("user_id", "org_id", "action", "metadata"))},
    params=params,
    expected_failures={"review": "the review's user_activity_log_partitioned has one partition (January 2024) and "
                                 "no DEFAULT partition: a row logged today fails with 'no partition of relation "
                                 "\"user_activity_log_partitioned\" found for row'"},
)
