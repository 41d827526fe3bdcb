"""Loading the logical dataset into every variant: chunked binary COPY, resumable.

Flow of `bench seed`: estimate disk -> create tables (pre-data) -> load chunks with
binary COPY in W worker processes -> post-data (indexes, constraints, policies) ->
VACUUM ANALYZE every variant alike -> measure storage.

Each (variant, table, chunk) is one transaction holding the COPY *and* its row in
bench_meta.seed_progress, so after a crash (of the seeder or the server) a chunk is
either wholly there and recorded, or wholly absent; `--resume` loads what is absent.
A chunk is generated once and written to every variant that still lacks it, encoded
once per column layout (seed.copy_binary).
Needs: the variants' pre-data applied with the same dim; the `vector` type in `public`.
"""

from __future__ import annotations

import ctypes
import json
import multiprocessing
import os
import re
import shutil
import signal
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import psycopg

from bench.core.errors import BenchError
from seed import copy_binary
from seed.config import SeedConfig
from seed.plan import Plan
from seed.pools import Pools
from seed.tables import TABLES, Context, query_vectors
from seed.vectors import embedding_model

META_DDL = """
CREATE SCHEMA IF NOT EXISTS bench_meta;
CREATE TABLE IF NOT EXISTS bench_meta.seed_run (
    id integer PRIMARY KEY CHECK (id = 1),
    config jsonb NOT NULL,
    started_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS bench_meta.seed_progress (
    variant text NOT NULL,
    table_name text NOT NULL,
    chunk integer NOT NULL,
    rows integer NOT NULL,
    loaded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (variant, table_name, chunk)
);
CREATE TABLE IF NOT EXISTS bench_meta.storage (
    variant text NOT NULL,
    relation text NOT NULL,
    kind text NOT NULL,
    heap_bytes bigint NOT NULL,
    index_bytes bigint NOT NULL,
    total_bytes bigint NOT NULL,
    measured_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (variant, relation)
);
"""

# Rough bytes on disk per row (heap + TOAST + the indexes a variant adds), to refuse a
# scale that cannot fit before spending hours on it. Documents dominate: vector + text.
BYTES_PER_ROW = {"documents": 2600, "user_activity_log": 260}
DEFAULT_BYTES_PER_ROW = 450
INDEX_FACTOR = 1.5
PLAIN_PROGRESS_EVERY_S = 5.0
VOLATILE = re.compile(r"\b(now|random|gen_random_uuid|clock_timestamp|statement_timestamp|transaction_timestamp)\s*\(|"
                      r"CURRENT_TIMESTAMP|nextval", re.I)


@dataclass(frozen=True)
class Chunk:
    table: str
    number: int
    lo: int
    hi: int
    variants: tuple[str, ...]  # the variants that still lack this chunk


# ---- planning ------------------------------------------------------------------------
def estimate_bytes(config: SeedConfig, plan: Plan, n_variants: int) -> int:
    total = sum(plan.total(name) * _row_bytes(config, name) for name in TABLES)
    return int(total * INDEX_FACTOR * n_variants)


def _row_bytes(config: SeedConfig, table: str) -> int:
    if table == "documents":
        return 4 * config.dim + 1100
    return BYTES_PER_ROW.get(table, DEFAULT_BYTES_PER_ROW)


def remaining_bytes(config: SeedConfig, plan: Plan, chunks: list["Chunk"], unindexed: dict[str, set[str]]) -> int:
    """What the rest of a seed adds to the disk: the chunks still to load, the indexes of
    each variant whose post-data is not built (`unindexed`: variant -> its tables), and the
    temporary files of the largest index build (sorts spill; indexes are built one at a
    time, and a failed build frees its files). Rows already loaded are not counted: the
    free space already excludes them, so a --resume after a full disk in post-data asks
    only for its indexes."""
    share = INDEX_FACTOR - 1
    load = sum(_chunk_bytes(config, plan, c) * len(c.variants) for c in chunks)
    table_bytes = {t: plan.total(t) * _row_bytes(config, t) for t in TABLES}
    indexes = sum(table_bytes[t] for tables in unindexed.values() for t in tables) * share
    build_temp = max((table_bytes[t] for tables in unindexed.values() for t in tables), default=0) * share
    return int(load + indexes + build_temp)


def _chunk_bytes(config: SeedConfig, plan: Plan, chunk: "Chunk") -> float:
    driver = plan.counts[TABLES[chunk.table].driver]  # a chunk spans driver rows; tables scale with them
    return plan.total(chunk.table) * (chunk.hi - chunk.lo) / driver * _row_bytes(config, chunk.table)


def check_disk(path: Path | None, need: int, scale: str) -> None:
    """Stop before loading when the embedded server's disk cannot hold `need` more bytes
    (what the seed still adds: remaining_bytes)."""
    if path is None:
        return
    free = shutil.disk_usage(path if path.exists() else path.parent).free
    if need > free:
        raise BenchError(
            f"seeding scale {scale} needs about {need / 1e9:.1f} GB more on {path}, only {free / 1e9:.1f} GB free; "
            "use a smaller scale, seed one variant at a time (--only), or a bigger disk"
        )


def prepare(conn: psycopg.Connection, config: SeedConfig, *, resume: bool) -> dict:
    """Record the seed's config, or check it matches the one already recorded."""
    conn.execute(META_DDL)
    recorded = conn.execute("SELECT config FROM bench_meta.seed_run WHERE id = 1").fetchone()
    loaded = conn.execute("SELECT count(*) FROM bench_meta.seed_progress").fetchone()[0]
    wanted = config.as_dict()
    if recorded and loaded:
        old = recorded[0]
        if old.get("generator", 1) != wanted["generator"]:
            raise BenchError(
                f"this database holds data of seed generator {old.get('generator', 1)}, this harness writes "
                f"generator {wanted['generator']} (other rows and vectors); drop it first: `bench schema drop --force`"
            )
        if old != wanted and not (resume and _same_data(old, wanted)):
            raise BenchError(
                f"this database already holds seed {_label(old)}; asked for {_label(wanted)}. "
                "Drop it first (`bench schema drop --force`) or repeat the recorded settings"
            )
        return old
    conn.execute(
        "INSERT INTO bench_meta.seed_run (id, config) VALUES (1, %s) "
        "ON CONFLICT (id) DO UPDATE SET config = EXCLUDED.config, started_at = now()",
        (json.dumps(wanted),),
    )
    return wanted


def _same_data(old: dict, new: dict) -> bool:
    """--resume may run on a later day: everything but the anchor default must match."""
    return {k: v for k, v in old.items() if k != "anchor"} == {k: v for k, v in new.items() if k != "anchor"}


def _label(config: dict) -> str:
    return f"(scale {config['scale']}, seed {config['seed']}, dim {config['dim']}, difficulty {config['difficulty']})"


def pending_chunks(conn: psycopg.Connection, plan: Plan, variants: list[str], tables_of: dict[str, set[str]],
                   *, resume: bool) -> list[Chunk]:
    done = set(conn.execute("SELECT variant, table_name, chunk FROM bench_meta.seed_progress").fetchall())
    partial = {(v, t) for v, t, _c in done}
    if partial and not resume:
        touched = sorted({v for v, _t in partial if v in variants})
        missing = any((v, t.name, n) not in done for v in touched for t in TABLES.values() if t.name in tables_of[v]
                      for n in range(_n_chunks(plan, t)))
        if missing:
            raise BenchError(
                f"an earlier seed of {', '.join(touched)} stopped part-way; run again with --resume to finish it"
            )
    chunks = []
    for spec in TABLES.values():
        size = plan.counts[spec.driver]
        for number in range(_n_chunks(plan, spec)):
            lo, hi = number * spec.chunk, min(size, (number + 1) * spec.chunk)
            lacking = tuple(v for v in variants if spec.name in tables_of[v] and (v, spec.name, number) not in done)
            if lacking:
                chunks.append(Chunk(spec.name, number, lo, hi, lacking))
    return chunks


def _n_chunks(plan: Plan, spec) -> int:
    return -(-plan.counts[spec.driver] // spec.chunk)


# ---- the worker side ------------------------------------------------------------------
_worker: dict = {}


PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def die_with_parent(parent: int) -> None:
    """A worker outlives a parent killed with -9 (no handler runs there) and keeps loading,
    then blocks on its result queue holding a connection: have the kernel send it SIGTERM
    when the parent goes, and exit now if the parent is already gone (it died before the
    prctl). Ctrl-C reaches the whole process group: only the parent acts on it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(1)


def init_worker(dsn: str, config: SeedConfig, key: bytes, dims: dict[str, int], parent: int | None = None) -> None:
    if parent is not None:
        die_with_parent(parent)
    plan = Plan(config.seed, config.counts)
    ctx = Context(config.seed, plan, Pools.build(config.seed), embedding_model(config), config.anchor_time, key)
    conn = psycopg.connect(dsn, autocommit=True)
    # A crash loses at most uncommitted chunks, and the progress row goes with its chunk.
    conn.execute("SET synchronous_commit = off")
    _worker.update(ctx=ctx, conn=conn, columns={})


def load_chunk(chunk: Chunk) -> tuple[str, int, int]:
    """Generate one chunk and COPY it into each variant lacking it. Returns rows copied."""
    ctx, conn = _worker["ctx"], _worker["conn"]
    data = TABLES[chunk.table].make(ctx, chunk.lo, chunk.hi)
    n_rows = copy_binary.row_count(data)
    encoded: dict[tuple, tuple[list[str], bytes]] = {}  # variants of one column layout share the bytes
    for variant in chunk.variants:
        types = _target_columns(conn, variant, chunk.table, data)
        layout = tuple(types.items())
        if layout not in encoded:
            encoded[layout] = copy_binary.encode({name: data[name] for name in types}, types)
        try:
            _copy_chunk(conn, variant, chunk, *encoded[layout], n_rows)
        except psycopg.Error as exc:
            detail = (exc.diag.message_primary or str(exc)).strip()
            raise BenchError(f"loading {variant}.{chunk.table} chunk {chunk.number} failed: {detail}") from None
    return chunk.table, n_rows, len(chunk.variants)


def _copy_chunk(conn, variant: str, chunk: Chunk, names: list[str], payload: bytes, n_rows: int) -> None:
    columns = ", ".join(_q(n) for n in names)
    with conn.transaction():
        with conn.cursor().copy(f'COPY "{variant}"."{chunk.table}" ({columns}) FROM STDIN (FORMAT BINARY)') as copy:
            copy.write(payload)
        conn.execute(
            "INSERT INTO bench_meta.seed_progress (variant, table_name, chunk, rows) VALUES (%s, %s, %s, %s)",
            (variant, chunk.table, chunk.number, n_rows),
        )


def _target_columns(conn, variant: str, table: str, data: dict) -> dict[str, str]:
    """The generated columns this variant's table has -> their type names (cached).
    A domain is encoded as its base type, an enum as its label (text)."""
    key = (variant, table)
    if key not in _worker["columns"]:
        rows = conn.execute(
            """SELECT a.attname, CASE t.typtype WHEN 'd' THEN b.typname WHEN 'e' THEN 'text' ELSE t.typname END,
                      a.attnotnull AND NOT a.atthasdef, coalesce(pg_get_expr(d.adbin, d.adrelid), '')
               FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
               JOIN pg_namespace n ON n.oid = c.relnamespace
               JOIN pg_type t ON t.oid = a.atttypid LEFT JOIN pg_type b ON b.oid = t.typbasetype
               LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
               WHERE n.nspname = %s AND c.relname = %s AND a.attnum > 0
                 AND NOT a.attisdropped AND a.attgenerated = ''
               ORDER BY a.attnum""",
            (variant, table),
        ).fetchall()
        missing = [name for name, _oid, required, _d in rows if required and name not in data]
        if missing:
            raise BenchError(f"{variant}.{table} requires {', '.join(missing)}, which the seeder does not generate")
        # A column left to a volatile default would differ on every load: not a dataset.
        volatile = [name for name, _oid, _req, default in rows if name not in data and VOLATILE.search(default)]
        if volatile:
            raise BenchError(f"{variant}.{table}.{', '.join(volatile)} would take a volatile default (now(), random); "
                             "the seeder must generate it for a reproducible dataset")
        chosen = {name: kind for name, kind, _req, _d in rows if name in data}
        unknown = [f"{name} ({kind})" for name, kind in chosen.items() if kind not in copy_binary.SUPPORTED]
        if unknown:
            raise BenchError(f"{variant}.{table}: the seeder cannot encode the type of {', '.join(unknown)}")
        _worker["columns"][key] = chosen
    return _worker["columns"][key]


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# ---- the main side ----------------------------------------------------------------------
def tables_by_variant(conn: psycopg.Connection, variants: list[str]) -> dict[str, set[str]]:
    rows = conn.execute(
        """SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = ANY(%s) AND c.relkind IN ('r', 'p') AND NOT c.relispartition""",
        (variants,),
    ).fetchall()
    found = {v: set() for v in variants}
    for variant, table in rows:
        if table in TABLES:
            found[variant].add(table)
    return found


class ChunkLoader:
    """Runs chunks in W worker processes (inline when W == 1), kept for the whole seed:
    starting a worker (imports, Faker pools) costs about a second, once."""

    def __init__(self, dsn: str, config: SeedConfig, *, workers: int, key: bytes) -> None:
        self.args = (dsn, config, key, {})
        self.workers = workers
        self.pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> "ChunkLoader":
        if self.workers <= 1:
            init_worker(*self.args)
        else:
            context = multiprocessing.get_context("spawn")
            self.pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=context,
                                            initializer=init_worker, initargs=(*self.args, os.getpid()))
        return self

    def __exit__(self, exc_type, *_exc) -> None:
        if self.pool and exc_type is not None:
            self._terminate()
        elif self.pool:
            self.pool.shutdown(wait=True, cancel_futures=True)
        elif "conn" in _worker:
            _worker.pop("conn").close()

    def _terminate(self) -> None:
        """Stop the workers now (an error or a signal): waiting would let each finish its
        chunk. A killed worker's connection closes, and the server rolls back its chunk
        with the chunk's progress row, so --resume loads it again."""
        processes = list((self.pool._processes or {}).values())  # no public API before 3.14
        for process in processes:
            process.terminate()
        self.pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
                process.join()

    def warm_up(self) -> None:
        """Start every worker now, so that timing a table excludes process start-up."""
        if self.pool:
            list(self.pool.map(_ready, range(self.workers * 2)))

    def run(self, chunks: list[Chunk], progress) -> None:
        if not self.pool:
            for chunk in chunks:
                progress.advance(*load_chunk(chunk))
            return
        futures = [self.pool.submit(load_chunk, chunk) for chunk in chunks]
        try:
            for future in as_completed(futures):
                progress.advance(*future.result())
        except BrokenProcessPool:
            raise BenchError("a seeding worker died (killed, or out of memory); run again with --resume") from None
        except BaseException:
            for future in futures:
                future.cancel()
            raise


def _ready(_i: int) -> bool:
    time.sleep(0.05)  # long enough that every worker gets one
    return "ctx" in _worker


def store_query_vectors(conn: psycopg.Connection, config: SeedConfig) -> int:
    """The held-out query set, rewritten beside the data on every seed run (a few hundred
    rows): a set left over from another seed of this database would not match its documents."""
    n = config.counts.get("query_vectors", 0)
    plan = Plan(config.seed, config.counts)
    ctx = Context(config.seed, plan, None, embedding_model(config), config.anchor_time, b"")
    kbs, orgs, vectors = query_vectors(ctx, n)
    names, payload = copy_binary.encode(
        {"id": np.arange(n, dtype=np.int32), "knowledge_base_id": kbs, "organization_id": orgs, "embedding": vectors},
        {"id": "int4", "knowledge_base_id": "uuid", "organization_id": "uuid", "embedding": "vector"})
    with conn.transaction():
        conn.execute("DROP TABLE IF EXISTS bench_meta.query_vectors")  # its dimension may differ too
        conn.execute(
            f"""CREATE TABLE bench_meta.query_vectors (
                   id integer PRIMARY KEY, knowledge_base_id uuid NOT NULL,
                   organization_id uuid NOT NULL, embedding public.vector({config.dim}) NOT NULL)"""
        )
        with conn.cursor().copy(f"COPY bench_meta.query_vectors ({', '.join(names)}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.write(payload)
    return n


def verify_counts(conn: psycopg.Connection, plan: Plan, variant: str, tables: set[str]) -> dict[str, int]:
    """Exact row counts per table; a difference from the plan is an error, never a warning."""
    counts = {}
    for name in TABLES:
        if name not in tables:
            continue
        counts[name] = conn.execute(f'SELECT count(*) FROM "{variant}"."{name}"').fetchone()[0]
        if counts[name] != plan.total(name):
            raise BenchError(f"{variant}.{name} holds {counts[name]} rows, expected {plan.total(name)}: the data "
                             "changed since it was seeded; `bench schema drop --force`, then seed again")
    return counts


def vacuum_analyze(conn: psycopg.Connection, variant: str, tables: set[str]) -> None:
    for name in sorted(tables):
        conn.execute(f'VACUUM (ANALYZE) "{variant}"."{name}"')


def recorded_storage(conn: psycopg.Connection, variant: str) -> list[dict]:
    """The sizes measure_storage recorded for `variant` ([] if none)."""
    rows = conn.execute("SELECT relation, kind, heap_bytes, index_bytes, total_bytes FROM bench_meta.storage "
                        "WHERE variant = %s ORDER BY total_bytes DESC", (variant,)).fetchall()
    return [{"relation": r, "kind": k, "heap_bytes": h, "index_bytes": i, "total_bytes": t} for r, k, h, i, t in rows]


def measure_storage(conn: psycopg.Connection, variant: str) -> list[dict]:
    """Bytes per table (partitions summed) of one variant; stored in bench_meta.storage."""
    rows = conn.execute(
        """SELECT c.relname, CASE c.relkind WHEN 'm' THEN 'matview' ELSE 'table' END,
                  sum(pg_relation_size(t.relid) + coalesce(pg_relation_size(tc.reltoastrelid), 0)),
                  sum(pg_indexes_size(t.relid)),
                  sum(pg_total_relation_size(t.relid))
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           CROSS JOIN LATERAL (SELECT p.relid FROM pg_partition_tree(c.oid) p WHERE c.relkind = 'p'
                               UNION ALL SELECT c.oid WHERE c.relkind <> 'p') t
           JOIN pg_class tc ON tc.oid = t.relid
           WHERE n.nspname = %s AND c.relkind IN ('r', 'p', 'm') AND NOT c.relispartition
           GROUP BY c.relname, c.relkind ORDER BY 5 DESC""",
        (variant,),
    ).fetchall()
    records = [{"relation": r, "kind": k, "heap_bytes": int(h), "index_bytes": int(i), "total_bytes": int(t)}
               for r, k, h, i, t in rows]
    with conn.transaction():
        conn.execute("DELETE FROM bench_meta.storage WHERE variant = %s", (variant,))
        for rec in records:
            conn.execute(
                "INSERT INTO bench_meta.storage (variant, relation, kind, heap_bytes, index_bytes, total_bytes) "
                "VALUES (%s, %s, %s, %s, %s, %s)",
                (variant, rec["relation"], rec["kind"], rec["heap_bytes"], rec["index_bytes"], rec["total_bytes"]),
            )
    return records
