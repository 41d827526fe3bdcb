"""Does the embedding generator behave like real sentence embeddings? Measures recall@10
of the two reference indexes on freshly generated documents (the seeder's own code
path) against exact search, over a few builds of each (pgvector's builds are random), so
a test can keep the default generator within the fit goal of what real embeddings give
(REAL_RECALL). Works in a scratch table of its own (public.bench_calibration, marked by
its comment; one of that name the harness did not create is refused) and drops it
afterwards.
"""

from __future__ import annotations

import numpy as np
import psycopg
from pgvector.psycopg import register_vector

from bench.core import ownership
from seed.config import SeedConfig
from seed.plan import Plan
from seed.pools import Pools
from seed.tables import TABLES, Context, query_vectors
from seed.vectors import embedding_model

K = 10
# recall@10 of real all-MiniLM-L6-v2 embeddings of the docstring corpus at 88,000 documents
# (500 held-out queries, pgvector 0.8.6): the mean of 12 builds in three runs of `bench
# calibrate --documents 88000 --queries 500` (2026-12-04/05; probes=1 0.545-0.581,
# ef_search=40 0.971-0.977). docs/decisions.md, "Synthetic embeddings checked against real ones".
REAL_DOCUMENTS = 88_000
REAL_RECALL = {"ivfflat_lists100_probes1": 0.563, "hnsw_m16_ef40": 0.974}
TABLE = "public.bench_calibration"
INDEXES = {
    "ivfflat_lists100_probes1": ("ivfflat (v vector_cosine_ops) WITH (lists = 100)", "SET LOCAL ivfflat.probes = 1"),
    "hnsw_m16_ef40": ("hnsw (v vector_cosine_ops) WITH (m = 16, ef_construction = 64)", "SET LOCAL hnsw.ef_search = 40"),
}


def exact_top_k(vectors: np.ndarray, queries: np.ndarray, k: int = K) -> np.ndarray:
    """Indices of the k most cosine-similar vectors per query (inputs are unit vectors)."""
    sims = queries @ vectors.T
    top = np.argpartition(-sims, k, axis=1)[:, :k]
    order = np.take_along_axis(sims, top, axis=1).argsort(axis=1)[:, ::-1]
    return np.take_along_axis(top, order, axis=1)


def recall(found: list[set], truth: np.ndarray) -> float:
    return float(np.mean([len(f & set(t.tolist())) / len(t) for f, t in zip(found, truth)]))


def measure(conn: psycopg.Connection, config: SeedConfig, n_queries: int = 200,
            builds: int = 1) -> dict[str, list[float]]:
    """Each reference index's recall@10, one figure per build."""
    ownership.refuse_foreign_table(conn, TABLE)  # before any work; a leftover of ours carries the marker
    plan = Plan(config.seed, config.counts)
    ctx = Context(config.seed, plan, Pools.build(config.seed), embedding_model(config), config.anchor_time, b"")
    spec, n_docs = TABLES["documents"], config.counts["documents"]
    vectors = np.concatenate([spec.make(ctx, lo, min(n_docs, lo + spec.chunk))["embedding_vector"]
                              for lo in range(0, n_docs, spec.chunk)])
    queries = query_vectors(ctx, n_queries)[2]
    truth = exact_top_k(vectors, queries)
    register_vector(conn)
    conn.execute(f"DROP TABLE IF EXISTS {TABLE}; CREATE TABLE {TABLE} (id int, v vector({config.dim}))")
    ownership.mark_table(conn, TABLE)
    try:
        with conn.cursor().copy("COPY public.bench_calibration (id, v) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(["int4", "vector"])
            for row in enumerate(vectors):
                copy.write_row(row)
        return {name: [_index_recall(conn, ddl, setting, queries, truth) for _ in range(builds)]
                for name, (ddl, setting) in INDEXES.items()}
    finally:
        conn.execute(f"DROP TABLE IF EXISTS {TABLE}")


def _index_recall(conn, ddl: str, setting: str, queries: np.ndarray, truth: np.ndarray) -> float:
    conn.execute("DROP INDEX IF EXISTS public.bench_calibration_v")
    conn.execute(f"CREATE INDEX bench_calibration_v ON public.bench_calibration USING {ddl}")
    found = []
    with conn.transaction():
        conn.execute(setting)
        conn.execute("SET LOCAL enable_seqscan = off")  # the index, not an exact scan
        for q in queries:
            rows = conn.execute("SELECT id FROM public.bench_calibration ORDER BY v <=> %s LIMIT %s", (q, K)).fetchall()
            found.append({r[0] for r in rows})
    return recall(found, truth)
