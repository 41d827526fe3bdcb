from scenarios.base import Query, Scenario


def params(pop, rng):
    kb_id, org_id, vector = pop.pick(pop.query_vectors, rng)  # an embedding of the seed's own distribution
    return {"user_id": pop.user_of(org_id, rng), "org_id": org_id, "kb_id": kb_id, "embedding": vector,
            "title": f"Benchmark note {int(rng.integers(1_000_000_000))}",
            "content": "A document written by the benchmark's write scenario, with its embedding."}


# The same INSERT everywhere; what differs is what each variant maintains per row: baseline
# one IVFFlat index (lists = 100), review two IVFFlat indexes (its rows/1000 one beside the
# old one) and its composite, hardened one HNSW graph, its policy and composite FK.
SCENARIO = Scenario(
    name="insert_document",
    kind="write",
    description="A member adds one document with its embedding (vector index maintenance: IVFFlat, the review's "
                "second IVFFlat, HNSW)",
    queries={"*": Query("INSERT INTO documents (organization_id, knowledge_base_id, title, content, embedding_vector) "
                        "VALUES ($1, $2, $3, $4, $5) RETURNING id",
                        ("org_id", "kb_id", "title", "content", "embedding"))},
    params=params,
)
