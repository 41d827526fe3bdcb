from scenarios.base import Query, Scenario


def params(pop, rng):
    user_id, org_id, _role = pop.pick(pop.users, rng)
    return {"user_id": user_id, "org_id": org_id, "terms": pop.pick(pop.search_terms, rng)}


# baseline and review search the review's expression (review has a GIN index on exactly
# it); hardened searches its stored, indexed tsvector column.
EXPRESSION = ("SELECT id, name FROM capabilities WHERE status = 'published' AND "
              "to_tsvector('english', name || ' ' || description) @@ plainto_tsquery('english', $1) "
              "ORDER BY created_at DESC LIMIT 20")
SCENARIO = Scenario(
    name="capability_search",
    kind="read",
    description="Full-text search of published capabilities",
    queries={
        "*": Query(EXPRESSION, ("terms",)),
        "hardened": Query("SELECT id, name FROM capabilities WHERE status = 'published' AND deleted_at IS NULL AND "
                          "fts @@ plainto_tsquery('english', $1) ORDER BY created_at DESC LIMIT 20", ("terms",)),
    },
    params=params,
)
