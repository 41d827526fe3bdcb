from scenarios.base import Query, Scenario


def params(pop, rng):
    user_id, org_id, _role = pop.pick(pop.users, rng)
    return {"user_id": user_id, "org_id": org_id, "name": f"Benchmark Tool {int(rng.integers(1_000_000_000))}",
            "description": "A capability created by the benchmark's write scenario.",
            "category": pop.pick(pop.categories, rng)}


SCENARIO = Scenario(
    name="insert_capability",
    kind="write",
    description="A user publishes a new draft capability (audit trigger, FKs, CHECKs where present)",
    queries={"*": Query("INSERT INTO capabilities (organization_id, owner_id, name, description, category) "
                        "VALUES ($1, $2, $3, $4, $5) RETURNING id",
                        ("org_id", "user_id", "name", "description", "category"))},
    params=params,
)
