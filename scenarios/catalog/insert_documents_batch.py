import numpy as np
from pgvector import Vector

from scenarios.base import Query, Scenario

BATCH = 100
NOISE = 0.05  # around seeded query vectors: near the data's clusters, yet no two alike


def params(pop, rng):
    kb_id, org_id, _vector = pop.pick(pop.query_vectors, rng)
    picks = [pop.pick(pop.query_vectors, rng)[2] for _ in range(BATCH)]
    vectors = np.stack(picks) + rng.normal(0.0, NOISE, size=(BATCH, len(picks[0]))).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    batch = int(rng.integers(1_000_000_000))
    return {"user_id": pop.user_of(org_id, rng), "org_id": org_id, "kb_id": kb_id,
            "titles": [f"Imported note {batch}-{i}" for i in range(BATCH)],
            "embeddings": [Vector(v) for v in vectors]}


# One statement, as an import (or PostgREST's bulk insert) sends it: 100 rows, so 100
# insertions into each vector index of the variant. The casts type $1 and $2 alike for every
# driver and EXPLAIN (untyped, EXPLAIN's query id missed the measured statement's on review
# and hardened, so the cell had no pg_stat_statements figures).
SCENARIO = Scenario(
    name="insert_documents_batch",
    kind="write",
    description=f"A member imports {BATCH} documents with their embeddings in one statement "
                f"(index maintenance x{BATCH})",
    queries={"*": Query("INSERT INTO documents (organization_id, knowledge_base_id, title, embedding_vector) "
                        "SELECT $1::uuid, $2::uuid, t.title, t.embedding "
                        "FROM unnest($3::text[], $4::vector[]) AS t(title, embedding) RETURNING id",
                        ("org_id", "kb_id", "titles", "embeddings"))},
    params=params,
)
