"""The vector benchmark's dataset: a scratch copy of one variant's documents, the
held-out queries, and the filtered-search cases.

`bench_vector.documents (id, doc_id, knowledge_base_id, organization_id, embedding)` is
built once per dataset from one seeded variant (they hold the same logical rows) and
reused while the dataset stays the same (its key is in the table's comment), so one
index build serves a whole sweep and the variants' own tables and indexes stay
untouched. Its `id` is an integer (the documents' rank by uuid), which keeps ground
truth compact; `doc_id` maps back to the variants' uuids.

Needs: a seeded database (bench_meta.seed_run, bench_meta.query_vectors). The
`bench_vector` schema is the harness's own (bench/core/ownership.py): one of that name it did
not create is refused, never written to or dropped.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass

import numpy as np
import psycopg
from pgvector.psycopg import register_vector
from psycopg import sql

from bench.core import ownership
from bench.core.errors import BenchError
from bench.vector.configs import Selectivity

SCHEMA = "bench_vector"
TABLE = f"{SCHEMA}.documents"


def dataset_config(conn: psycopg.Connection) -> dict:
    row = None
    if conn.execute("SELECT to_regclass('bench_meta.seed_run')").fetchone()[0]:
        row = conn.execute("SELECT config FROM bench_meta.seed_run WHERE id = 1").fetchone()
    if not row:
        raise BenchError("the database holds no seeded data; run `bench seed` first")
    return row[0]


def dataset_key(config: dict) -> str:
    """What decides the vectors (the anchor date does not)."""
    wanted = {k: config.get(k) for k in ("seed", "dim", "difficulty", "counts", "generator")}
    return hashlib.sha256(json.dumps(wanted, sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Scratch:
    key: str
    source: str
    rows: int
    dim: int
    built: bool  # False: reused from an earlier run
    seconds: float

    def as_dict(self) -> dict:
        return {"table": TABLE, "key": self.key, "source_variant": self.source, "rows": self.rows, "dim": self.dim,
                "built_now": self.built, "build_s": self.seconds}


def ensure_scratch(conn: psycopg.Connection, source: str, key: str, dim: int) -> Scratch:
    """The scratch copy of `source`.documents for dataset `key` (built when missing or stale)."""
    try:
        return _ensure_scratch(conn, source, key, dim)
    except psycopg.Error as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise BenchError(f"cannot build the scratch table {TABLE} from {source}.documents: {first}") from None


def _ensure_scratch(conn: psycopg.Connection, source: str, key: str, dim: int) -> Scratch:
    if scratch_owned(conn) is None:
        ownership.ensure_meta(conn)
        with conn.transaction():
            ownership.create_schema(conn, SCHEMA)
    comment = conn.execute("SELECT obj_description(to_regclass(%s), 'pg_class')", (TABLE,)).fetchone()[0]
    if comment:
        meta = json.loads(comment)
        if meta.get("key") == key:
            rows = conn.execute(f"SELECT count(*) FROM {TABLE}").fetchone()[0]
            return Scratch(key, meta["source"], rows, dim, False, 0.0)
    began = time.perf_counter()
    with conn.transaction():
        conn.execute(f"DROP TABLE IF EXISTS {TABLE}")
        conn.execute(f"""CREATE TABLE {TABLE} (
                           id integer NOT NULL, doc_id uuid NOT NULL, knowledge_base_id uuid NOT NULL,
                           organization_id uuid NOT NULL, embedding vector({dim}) NOT NULL)""")
        conn.execute(f"""INSERT INTO {TABLE}
                         SELECT (row_number() OVER (ORDER BY id))::int, id, knowledge_base_id, organization_id,
                                embedding_vector
                         FROM "{source}".documents WHERE embedding_vector IS NOT NULL""")
        conn.execute(sql.SQL("COMMENT ON TABLE {} IS {}").format(
            sql.Identifier(SCHEMA, "documents"), sql.Literal(json.dumps({"key": key, "source": source}))))
        if conn.execute("SELECT to_regclass('bench_meta.vector_truth')").fetchone()[0]:
            # ground truth of another dataset is useless now
            conn.execute("DELETE FROM bench_meta.vector_truth WHERE dataset NOT LIKE %s", (f"{key}%",))
    conn.execute(f"VACUUM (ANALYZE) {TABLE}")
    rows = conn.execute(f"SELECT count(*) FROM {TABLE}").fetchone()[0]
    return Scratch(key, source, rows, dim, True, time.perf_counter() - began)


def scratch_owned(conn: psycopg.Connection) -> bool | None:
    """None if there is no bench_vector schema, True if it is the harness's; refused if
    someone else's. One made by an earlier harness version (only the scratch table, with
    its dataset comment, in a database with bench_meta.applied) is adopted."""
    if not ownership.schema_exists(conn, SCHEMA):
        return None
    if ownership.owns_schema(conn, SCHEMA):
        return True
    if _legacy_scratch(conn):
        ownership.ensure_meta(conn)
        ownership.adopt(conn, SCHEMA)  # not if it was recorded: then someone else recreated it
        if ownership.owns_schema(conn, SCHEMA):
            return True
    raise ownership.foreign("schema", SCHEMA)


def _legacy_scratch(conn: psycopg.Connection) -> bool:
    if not conn.execute("SELECT to_regclass('bench_meta.applied')").fetchone()[0]:
        return False
    others = conn.execute(
        """SELECT (SELECT count(*) FROM pg_class WHERE relnamespace = %(ns)s::regnamespace
                   AND relkind NOT IN ('i', 'I') AND relname <> 'documents')
                + (SELECT count(*) FROM pg_proc WHERE pronamespace = %(ns)s::regnamespace)""",
        {"ns": SCHEMA}).fetchone()[0]
    comment = conn.execute("SELECT obj_description(to_regclass(%s), 'pg_class')", (TABLE,)).fetchone()[0] or ""
    return others == 0 and comment.startswith('{"key"')


def scratch_dependents(conn: psycopg.Connection) -> list[str]:
    """Objects of other schemas that dropping the scratch schema would remove."""
    return ownership.dependents(conn, [SCHEMA]) if _scratch_is_ours(conn) else []


def drop_scratch(conn: psycopg.Connection, *, force_dependents: bool = False) -> bool:
    """Delete the scratch copy and its cached ground truth; False if there was none of
    the harness's (a bench_vector schema someone else made is left alone)."""
    ours = _scratch_is_ours(conn)
    if ours:
        ownership.refuse_dependents(f'"{SCHEMA}"', ownership.dependents(conn, [SCHEMA]), force_dependents)
    with conn.transaction():
        if ours:
            conn.execute(f"DROP SCHEMA {SCHEMA} CASCADE")  # dependents outside were checked above
            ownership.forget_schema(conn, SCHEMA)
        if conn.execute("SELECT to_regclass('bench_meta.vector_truth')").fetchone()[0]:
            conn.execute("DROP TABLE bench_meta.vector_truth")
            ours = True
    return ours


def _scratch_is_ours(conn: psycopg.Connection) -> bool:
    try:
        return bool(scratch_owned(conn))
    except BenchError:  # someone else's: never dropped
        return False


def drop_indexes(conn: psycopg.Connection) -> None:
    """Indexes left behind by an interrupted run (one index at a time, always)."""
    for (name,) in conn.execute("SELECT indexname FROM pg_indexes WHERE schemaname = %s AND tablename = 'documents'",
                                (SCHEMA,)).fetchall():
        conn.execute(f'DROP INDEX IF EXISTS {SCHEMA}."{name}"')


# ---- queries ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Queries:
    ids: np.ndarray  # bench_meta.query_vectors.id
    kb: list[str]
    org: list[str]
    vectors: np.ndarray  # float32 (n, dim)

    def __len__(self) -> int:
        return len(self.ids)


def load_queries(conn: psycopg.Connection, limit: int | None = None) -> Queries:
    register_vector(conn)
    rows = conn.execute("SELECT id, knowledge_base_id::text, organization_id::text, embedding "
                        "FROM bench_meta.query_vectors ORDER BY id LIMIT %s", (limit,)).fetchall()
    if not rows:
        raise BenchError("no held-out queries in bench_meta.query_vectors; seed again (`bench seed`)")
    return Queries(np.array([r[0] for r in rows]), [r[1] for r in rows], [r[2] for r in rows],
                   np.stack([np.asarray(r[3].to_numpy(), dtype=np.float32) for r in rows]))


# ---- filtered-search cases ------------------------------------------------------------------
@dataclass(frozen=True)
class FilterCase:
    """One selectivity of one filter column: each query paired with a filter value."""
    column: str
    selectivity: str
    query_index: list[int]  # positions in Queries
    values: list[str]  # the filter value (uuid text) per query
    sizes: list[int]  # rows of that value
    orgs: list[str]  # the tenant owning the value (itself for organization_id)
    candidates: int  # filter values in this selectivity
    rows_range: tuple[int, int]  # smallest and largest candidate
    total_rows: int

    def describe(self) -> dict:
        return {"column": self.column, "selectivity": self.selectivity, "queries": len(self.values),
                "filter_values": self.candidates, "rows_min": self.rows_range[0], "rows_max": self.rows_range[1],
                "share_min": self.rows_range[0] / self.total_rows, "share_max": self.rows_range[1] / self.total_rows,
                "distinct_values_used": len(set(self.values))}


def filter_cases(conn: psycopg.Connection, column: str, selectivities: tuple[Selectivity, ...], queries: Queries,
                 n_queries: int, k: int) -> list[FilterCase]:
    """Filter values with at least k rows, ranked by size; for each selectivity, n_queries
    (held-out query, filter value) pairs: its values in turn, each with the query most
    similar to its documents' centroid (a user asking their own knowledge base about
    what it holds)."""
    if column not in ("knowledge_base_id", "organization_id"):
        raise BenchError(f"unknown filter column {column}")
    register_vector(conn)
    rows = conn.execute(f"""SELECT {column}::text, min(organization_id::text), count(*), avg(embedding)
                            FROM {TABLE} GROUP BY 1 HAVING count(*) >= %s ORDER BY 3 DESC, 1""", (k,)).fetchall()
    total = conn.execute(f"SELECT count(*) FROM {TABLE}").fetchone()[0]
    if not rows:
        return []
    values = [r[0] for r in rows]
    orgs = [r[1] for r in rows]
    sizes = np.array([r[2] for r in rows])
    centroids = np.stack([np.asarray(r[3].to_numpy(), dtype=np.float32) for r in rows])
    centroids /= np.linalg.norm(centroids, axis=1, keepdims=True)
    n = len(values)
    sims = queries.vectors @ centroids.T  # (queries, values)
    out = []
    for s in selectivities:
        lo = min(int(np.floor(s.ranks[0] * n)), n - 1)
        hi = max(lo + 1, int(np.ceil(s.ranks[1] * n)))
        members = np.arange(lo, min(hi, n))
        pairs = _pair(sims[:, members], n_queries)
        out.append(FilterCase(column, s.name, [q for q, _ in pairs], [values[members[m]] for _, m in pairs],
                              [int(sizes[members[m]]) for _, m in pairs], [orgs[members[m]] for _, m in pairs],
                              len(members), (int(sizes[members].min()), int(sizes[members].max())), total))
    return out


def _pair(sims: np.ndarray, n: int) -> list[tuple[int, int]]:
    """(query, member) pairs: members taken in turn (spread evenly when there are more
    than n), each with its most similar query not used yet; at most n pairs."""
    n_queries, n_members = sims.shape
    n = min(n, n_queries)
    if n_members > n:
        order = np.unique(np.linspace(0, n_members - 1, n).round().astype(int))
    else:
        order = np.arange(n_members)
    used = np.zeros(n_queries, dtype=bool)
    pairs = []
    while len(pairs) < n:
        for m in order:
            if len(pairs) == n:
                break
            ranked = np.argsort(-sims[:, m], kind="stable")
            q = int(next(i for i in ranked if not used[i]))
            used[q] = True
            pairs.append((q, int(m)))
    return sorted(pairs)


def doc_orgs(conn: psycopg.Connection) -> tuple[dict[str, int], dict[int, str]]:
    """uuid (text) -> scratch id, and scratch id -> organization (text)."""
    ids, orgs = {}, {}
    for i, doc, org in conn.execute(f"SELECT id, doc_id::text, organization_id::text FROM {TABLE}"):
        ids[doc] = i
        orgs[i] = org
    return ids, orgs
