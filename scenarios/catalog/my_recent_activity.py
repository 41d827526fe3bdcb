import datetime as dt

from scenarios.base import Query, Scenario


def params(pop, rng):
    user_id, org_id, _role = pop.pick(pop.users, rng)
    return {"user_id": user_id, "org_id": org_id, "since": pop.anchor - dt.timedelta(days=30)}


# "The last 30 days" of the dataset (its anchor date), passed as a parameter: now() would
# drift away from a dataset seeded on another day.
SCENARIO = Scenario(
    name="my_recent_activity",
    kind="read",
    description="A user's own activity in the last 30 days, newest first",
    queries={"*": Query('SELECT action, "timestamp" FROM user_activity_log WHERE user_id = $1 AND "timestamp" >= $2 '
                        'ORDER BY "timestamp" DESC LIMIT 100', ("user_id", "since"))},
    params=params,
)
