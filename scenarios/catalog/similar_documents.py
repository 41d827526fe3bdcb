from scenarios.base import Query, Scenario


def params(pop, rng):
    kb_id, org_id, vector = pop.pick(pop.query_vectors, rng)
    return {"user_id": pop.user_of(org_id, rng), "org_id": org_id, "kb_id": kb_id, "embedding": vector}


# Each variant with its own index at its default search setting (baseline/review:
# ivfflat probes=1, as the review leaves it). Recall is NOT held equal here: the vector
# benchmark (`bench run vector`) compares at matched recall; this is the app's latency.
SEARCH = ("SELECT id, title FROM documents WHERE knowledge_base_id = $1 {extra}"
          "ORDER BY embedding_vector <=> $2 LIMIT 10")
SCENARIO = Scenario(
    name="similar_documents",
    kind="vector",
    description="Top-10 documents most similar to a query, within one knowledge base",
    queries={
        "baseline": Query(SEARCH.format(extra="AND organization_id = $3 "), ("kb_id", "embedding", "org_id")),
        "review": Query(SEARCH.format(extra=""), ("kb_id", "embedding")),
        "hardened": Query(SEARCH.format(extra="AND deleted_at IS NULL "), ("kb_id", "embedding"),
                          settings=(("hnsw.ef_search", "40"), ("hnsw.iterative_scan", "relaxed_order"))),
    },
    params=params,
)
