"""Synthetic embeddings checked against real ones at the same size (issue 20).

Three kinds of data of N documents and Q held-out queries: real all-MiniLM-L6-v2
embeddings of the real corpus (seed/real_embeddings.py), the seeder's default generator
and its fitted profile (seed/embeddings.py), the synthetic ones drawn through the
seeder's own code path (seed/tables.py) with the seed's config. For each:

- recall@10 against exact search, and latency, of IVFFlat (lists=100, a probes sweep)
  and HNSW (m=16, ef_construction=64, an ef_search sweep), on one client, in a scratch
  table of its own (public.bench_calibrate, marked by its comment; one of that name the
  harness did not create is refused) dropped afterwards;
- the geometry: the mean cosine of each query's 1st..10th nearest document, the relative
  contrast (mean distance to every document / distance to the nearest), the hubness
  (skewness of how often each document is among the other documents' 10 nearest) and the
  mean cosine of a query to any document (anisotropy).

`fit` searches the Profile's parameters: a grid judged on the geometry alone (numpy,
seconds), then the closest candidates measured in PostgreSQL against the real curves.
Goal (the issue): recall within 0.05 at every setting of both sweeps, the 1st-neighbour
cosine within 0.05.

Needs: pgvector (ivfflat, hnsw); the real embeddings cached, or the optional extra
`real-embeddings` to embed them.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, replace

import numpy as np
import psycopg
from pgvector.psycopg import register_vector

from bench.core import ownership
from seed.config import SeedConfig
from seed.embeddings import Profile
from seed.plan import Plan
from seed.tables import TABLES, Context, query_vectors
from seed.vectors import embedding_model

K = 10
TABLE = "public.bench_calibrate"
IVF_LISTS = 100
PROBES = (1, 2, 4, 8, 16, 32)
EF_SEARCH = (10, 20, 40, 80, 160)
GOAL_RECALL = 0.05
GOAL_COSINE = 0.05
WARMUP = 50


@dataclass(frozen=True)
class Data:
    name: str
    documents: np.ndarray  # float32 (n, dim), unit
    queries: np.ndarray  # float32 (q, dim), unit


# ---- data -----------------------------------------------------------------------------------
def synthetic(config: SeedConfig, n_queries: int, name: str | None = None, profile: Profile | None = None) -> Data:
    """The documents' and queries' vectors as `bench seed` would draw them for `config`
    (or with `profile` instead of the config's generator)."""
    from seed.embeddings import FittedModel
    from seed.pools import Pools

    plan = Plan(config.seed, config.counts)
    n_docs = config.counts["documents"]
    model = (FittedModel.for_documents(config.seed, config.dim, n_docs, profile) if profile is not None
             else embedding_model(config))
    ctx = Context(config.seed, plan, Pools.build(config.seed), model, config.anchor_time, b"")
    spec = TABLES["documents"]
    vectors = np.concatenate([spec.make(ctx, lo, min(n_docs, lo + spec.chunk))["embedding_vector"]
                              for lo in range(0, n_docs, spec.chunk)])
    return Data(name or config.embeddings, vectors, query_vectors(ctx, n_queries)[2])


def real(store, n_documents: int, n_queries: int, console=None) -> tuple[Data, dict]:
    from seed.real_embeddings import MODEL, real_set

    found = real_set(store, n_documents, n_queries, console)
    return Data(f"real:{MODEL}", found.document_vectors, found.query_vectors), found.embedded


# ---- geometry -------------------------------------------------------------------------------
def exact(documents: np.ndarray, queries: np.ndarray, k: int = K) -> tuple[np.ndarray, np.ndarray]:
    """(ids, cosines) of each query's k nearest documents, nearest first."""
    sims = queries @ documents.T
    top = np.argpartition(-sims, k, axis=1)[:, :k]
    order = np.take_along_axis(sims, top, axis=1).argsort(axis=1)[:, ::-1]
    ids = np.take_along_axis(top, order, axis=1)
    return ids, np.take_along_axis(sims, ids, axis=1)


def knn_documents(documents: np.ndarray, k: int = K, chunk: int = 2000) -> np.ndarray:
    """Each document's k nearest other documents (ids)."""
    out = np.empty((len(documents), k), dtype=np.int64)
    for lo in range(0, len(documents), chunk):
        sims = documents[lo:lo + chunk] @ documents.T
        sims[np.arange(len(sims)), np.arange(lo, lo + len(sims))] = -np.inf
        out[lo:lo + chunk] = np.argpartition(-sims, k, axis=1)[:, :k]
    return out


def geometry(data: Data, k: int = K) -> dict:
    from scipy.stats import skew

    _ids, cos = exact(data.documents, data.queries, k)
    sims = data.queries @ data.documents.T
    distance = np.sqrt(np.maximum(0.0, 2 - 2 * sims))
    nearest = np.sqrt(np.maximum(1e-12, 2 - 2 * cos[:, 0]))
    occurrences = np.bincount(knn_documents(data.documents, k).ravel(), minlength=len(data.documents))
    return {"nn_cosine": [float(c) for c in cos.mean(axis=0)],
            "relative_contrast": float(np.mean(distance.mean(axis=1) / nearest)),
            "hubness": float(skew(occurrences)),
            "mean_cosine": float(sims.mean())}


# ---- index sweeps ---------------------------------------------------------------------------
def sweeps(conn: psycopg.Connection, data: Data, tick=None) -> list[dict]:
    """recall@10 and latency of every setting of both sweeps, in a scratch table."""
    ownership.refuse_foreign_table(conn, TABLE)
    truth, _ = exact(data.documents, data.queries)
    register_vector(conn)
    dim = data.documents.shape[1]
    conn.execute(f"DROP TABLE IF EXISTS {TABLE}")
    conn.execute(f"CREATE TABLE {TABLE} (id int, v vector({dim}))")
    ownership.mark_table(conn, TABLE)
    try:
        with conn.cursor().copy(f"COPY {TABLE} (id, v) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(["int4", "vector"])
            for row in enumerate(data.documents):
                copy.write_row(row)
        conn.execute(f"VACUUM ANALYZE {TABLE}")
        points = []
        for index, ddl, guc, values in (
                ("ivfflat", f"ivfflat (v vector_cosine_ops) WITH (lists = {IVF_LISTS})", "ivfflat.probes", PROBES),
                ("hnsw", "hnsw (v vector_cosine_ops) WITH (m = 16, ef_construction = 64)", "hnsw.ef_search",
                 EF_SEARCH)):
            if not values:
                continue
            conn.execute("DROP INDEX IF EXISTS public.bench_calibrate_v")
            began = time.perf_counter()
            conn.execute(f"CREATE INDEX bench_calibrate_v ON {TABLE} USING {ddl}")
            build_s = time.perf_counter() - began
            _search(conn, guc, values[0], data.queries[:WARMUP])  # unrecorded: caches
            for value in values:
                found, latencies = _search(conn, guc, value, data.queries)
                points.append({"index": index, "setting": f"{guc.split('.')[1]}={value}", "value": value,
                               "recall": _recall(found, truth), "p50_ms": float(np.median(latencies)),
                               "mean_ms": float(np.mean(latencies)), "build_s": build_s})
                if tick:
                    tick()
        return points
    finally:
        conn.execute(f"DROP TABLE IF EXISTS {TABLE}")


def _search(conn, guc: str, value: int, queries: np.ndarray) -> tuple[list[list[int]], list[float]]:
    found, latencies = [], []
    with conn.transaction():
        conn.execute("SELECT set_config(%s, %s, true)", (guc, str(value)))
        conn.execute("SET LOCAL enable_seqscan = off")  # the index, not an exact scan
        for q in queries:
            t0 = time.perf_counter()
            rows = conn.execute(f"SELECT id FROM {TABLE} ORDER BY v <=> %s LIMIT {K}", (q,)).fetchall()
            latencies.append((time.perf_counter() - t0) * 1000)
            found.append([r[0] for r in rows])
    return found, latencies


def _recall(found: list[list[int]], truth: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(t.tolist())) / len(t) for f, t in zip(found, truth)]))


N_POINTS = len(PROBES) + len(EF_SEARCH)


# ---- judging a synthetic kind against the real one -------------------------------------------------
def gaps(real_points: list[dict], real_geometry: dict, points: list[dict], geo: dict) -> dict:
    """How far a synthetic kind is from the real one, and whether it meets the goal."""
    recall_gap = max(abs(a["recall"] - b["recall"]) for a, b in zip(real_points, points))
    cosine_gap = abs(real_geometry["nn_cosine"][0] - geo["nn_cosine"][0])
    return {"max_recall_gap": recall_gap, "nn_cosine_gap": cosine_gap,
            "profile_gap": max(abs(a - b) for a, b in zip(real_geometry["nn_cosine"], geo["nn_cosine"])),
            "meets_goal": recall_gap <= GOAL_RECALL and cosine_gap <= GOAL_COSINE}


def measure(conn: psycopg.Connection, data: Data, tick=None) -> dict:
    return {"name": data.name, "documents": len(data.documents), "queries": len(data.queries),
            "geometry": geometry(data), "points": sweeps(conn, data, tick)}


# ---- fitting ---------------------------------------------------------------------------------
def geometry_distance(real_geometry: dict, geo: dict) -> float:
    """How unlike the real geometry: the NN cosine profile first, then hubness, contrast."""
    profile = max(abs(a - b) for a, b in zip(real_geometry["nn_cosine"], geo["nn_cosine"]))
    return (profile + 0.02 * abs(real_geometry["hubness"] - geo["hubness"])
            + 0.05 * abs(real_geometry["relative_contrast"] - geo["relative_contrast"])
            + 0.5 * abs(real_geometry["mean_cosine"] - geo["mean_cosine"]))


def fit(conn: psycopg.Connection, real_result: dict, config: SeedConfig, n_queries: int, grid: dict[str, list],
        base: Profile, verify: int = 3, progress=None) -> list[dict]:
    """Candidates of `grid` (field -> values, over `base`), the `verify` closest in
    geometry then measured in PostgreSQL; sorted best first by the largest recall gap."""
    names = list(grid)
    scored = []
    for values in itertools.product(*(grid[n] for n in names)):
        profile = replace(base, **dict(zip(names, values)))
        data = synthetic(config, n_queries, "candidate", profile)
        geo = geometry(data)
        scored.append((geometry_distance(real_result["geometry"], geo), profile, geo))
        if progress:
            progress(f"fit: {profile} geometry distance {scored[-1][0]:.3f}")
    scored.sort(key=lambda s: s[0])
    measured = []
    for distance, profile, geo in scored[:verify]:
        data = synthetic(config, n_queries, "candidate", profile)
        points = sweeps(conn, data)
        judged = gaps(real_result["points"], real_result["geometry"], points, geo)
        measured.append({"profile": profile.as_dict(), "geometry_distance": distance, "geometry": geo,
                         "points": points, **judged})
        if progress:
            progress(f"fit: {profile} max recall gap {judged['max_recall_gap']:.3f}")
    measured.sort(key=lambda m: (m["max_recall_gap"], m["nn_cosine_gap"]))
    return measured
