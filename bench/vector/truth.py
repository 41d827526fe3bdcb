"""Ground truth: the exact top-k neighbours (cosine distance) of each held-out query,
unfiltered or within one filter value (a knowledge base, a tenant), by brute force.

The documents are streamed from the database in chunks and every query keeps a running
top-k (numpy, float32 dot products of unit vectors), so memory stays at
O(queries x chunk) whatever the dataset size: 10M x 384 documents never sit in memory
at once. Results are cached in `bench_meta.vector_truth`, keyed by the dataset (seed,
counts, dimension, difficulty) and truth_k, so each (query, filter) is computed once
per dataset; later runs read them back. A test checks the result against PostgreSQL's
own sequential scan.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Iterable, Iterator, Sequence

import numpy as np
import psycopg
from pgvector.psycopg import register_vector

CHUNK_ROWS = 20_000
CACHE_DDL = """
CREATE SCHEMA IF NOT EXISTS bench_meta;
CREATE TABLE IF NOT EXISTS bench_meta.vector_truth (
    dataset       text NOT NULL,   -- dataset key and truth_k (bench.vector.dataset)
    filter_column text NOT NULL,   -- '' = unfiltered
    filter_value  text NOT NULL,   -- '' = unfiltered
    query_id      integer NOT NULL,
    ids           integer[] NOT NULL,  -- bench_vector.documents ids, nearest first
    distances     float8[] NOT NULL,
    PRIMARY KEY (dataset, filter_column, filter_value, query_id)
);
"""


@dataclass(frozen=True)
class Request:
    """The exact neighbours of one query, optionally only among rows where
    `filter_column` equals `filter_value`."""
    query_id: int
    vector: np.ndarray
    filter_column: str = ""
    filter_value: str = ""

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.filter_column, self.filter_value, self.query_id)


@dataclass(frozen=True)
class Neighbours:
    ids: np.ndarray  # int, nearest first (fewer than k when the filter keeps fewer rows)
    distances: np.ndarray


# ---- recall -------------------------------------------------------------------------------
def recall_at_k(found: Sequence[Sequence[int]], truth: Sequence[np.ndarray], k: int) -> np.ndarray:
    """Per query: |found[:k] & truth[:k]| / |truth[:k]| (truth may hold fewer than k rows
    under a filter; a query whose truth is empty counts as 1 when nothing is found)."""
    out = np.empty(len(found))
    for i, (f, t) in enumerate(zip(found, truth)):
        want = set(np.asarray(t)[:k].tolist())
        got = set(list(f)[:k])
        out[i] = len(got & want) / len(want) if want else float(not got)
    return out


# ---- brute force ----------------------------------------------------------------------------
class RunningTopK:
    """Top-k largest similarities per row, merged chunk by chunk."""

    def __init__(self, n: int, k: int):
        self.k = k
        self.sims = np.full((n, k), -np.inf, dtype=np.float64)
        self.ids = np.full((n, k), -1, dtype=np.int64)

    def push(self, rows: np.ndarray, sims: np.ndarray, ids: np.ndarray) -> None:
        """sims: (len(rows), c) similarities of these rows' queries to c documents `ids`
        (-inf where a filter excludes a document)."""
        if sims.shape[1] > self.k:
            part = np.argpartition(-sims, self.k - 1, axis=1)[:, :self.k]
            sims, cand = np.take_along_axis(sims, part, axis=1), ids[part]
        else:
            cand = np.broadcast_to(ids, sims.shape)
        both_s = np.concatenate([self.sims[rows], sims], axis=1)
        both_i = np.concatenate([self.ids[rows], cand], axis=1)
        keep = np.argpartition(-both_s, self.k - 1, axis=1)[:, :self.k]
        self.sims[rows] = np.take_along_axis(both_s, keep, axis=1)
        self.ids[rows] = np.take_along_axis(both_i, keep, axis=1)

    def result(self, row: int) -> Neighbours:
        order = np.argsort(-self.sims[row], kind="stable")
        sims, ids = self.sims[row][order], self.ids[row][order]
        valid = np.isfinite(sims)
        return Neighbours(ids[valid], 1.0 - sims[valid])


Chunk = tuple[np.ndarray, dict[str, list], np.ndarray]  # (ids, {column: values}, vectors)


def brute_force(chunks: Iterable[Chunk], requests: list[Request], k: int) -> dict[tuple, Neighbours]:
    """Exact neighbours of every request over the streamed chunks."""
    if not requests:
        return {}
    queries = np.stack([np.asarray(r.vector, dtype=np.float32) for r in requests])
    top = RunningTopK(len(requests), k)
    groups: dict[str, list[int]] = defaultdict(list)
    for i, r in enumerate(requests):
        groups[r.filter_column].append(i)
    groups = {col: np.array(rows) for col, rows in groups.items()}
    for ids, columns, vectors in chunks:
        if not len(ids):
            continue
        sims_all = queries @ vectors.T.astype(np.float32)  # (queries, chunk)
        for column, rows in groups.items():
            sims = sims_all[rows].astype(np.float64)
            if column:  # compare small integer codes, not strings
                wanted = [requests[i].filter_value for i in rows]
                code = {v: j for j, v in enumerate(dict.fromkeys(wanted))}
                values = np.fromiter((code.get(v, -1) for v in columns[column]), dtype=np.int64, count=len(ids))
                want = np.fromiter((code[v] for v in wanted), dtype=np.int64, count=len(rows))
                sims[values[None, :] != want[:, None]] = -np.inf
            top.push(rows, sims, np.asarray(ids, dtype=np.int64))
    return {r.key: top.result(i) for i, r in enumerate(requests)}


def stream(conn: psycopg.Connection, table: str, columns: list[str], chunk_rows: int = CHUNK_ROWS) -> Iterator[Chunk]:
    """(ids, {column: values as text}, float32 vectors) in chunks, by a server-side cursor."""
    register_vector(conn)
    extra = "".join(f", {c}::text" for c in columns)
    with conn.transaction():
        with conn.cursor(name="bench_vector_truth", binary=True) as cur:
            cur.itersize = chunk_rows
            cur.execute(f"SELECT id{extra}, embedding FROM {table}")
            while rows := cur.fetchmany(chunk_rows):
                ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
                cols = {c: [r[1 + j] for r in rows] for j, c in enumerate(columns)}
                vectors = np.stack([r[-1].to_numpy() for r in rows]).astype(np.float32)
                yield ids, cols, vectors


# ---- the cache ------------------------------------------------------------------------------
def ground_truth(conn: psycopg.Connection, dataset: str, table: str, requests: list[Request], k: int,
                 progress=None) -> tuple[list[Neighbours], dict]:
    """Neighbours per request (in order), from the cache or computed and stored. Returns
    them and what it took ({"cached": n, "computed": n, "seconds": s})."""
    import time

    conn.execute(CACHE_DDL)
    cached: dict[tuple, Neighbours] = {}
    wanted = {r.key for r in requests}
    for col, val, qid, ids, dists in conn.execute(
            "SELECT filter_column, filter_value, query_id, ids, distances FROM bench_meta.vector_truth "
            "WHERE dataset = %s", (dataset,)):
        if (col, val, qid) in wanted:
            cached[(col, val, qid)] = Neighbours(np.asarray(ids, dtype=np.int64), np.asarray(dists))
    missing = list({r.key: r for r in requests if r.key not in cached}.values())
    began = time.perf_counter()
    if missing:
        if progress:
            progress(f"ground truth: exact top-{k} of {len(missing)} (query, filter) pairs by brute force")
        columns = sorted({r.filter_column for r in missing if r.filter_column})
        computed = brute_force(stream(conn, table, columns), missing, k)
        with conn.transaction():
            with conn.cursor().copy("COPY bench_meta.vector_truth (dataset, filter_column, filter_value, query_id, "
                                    "ids, distances) FROM STDIN") as copy:
                for (col, val, qid), n in computed.items():
                    copy.write_row((dataset, col, val, qid, n.ids.tolist(), n.distances.tolist()))
        cached.update(computed)
    return [cached[r.key] for r in requests], {"cached": len(wanted) - len(missing), "computed": len(missing),
                                               "seconds": time.perf_counter() - began}
