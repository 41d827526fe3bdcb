"""`bench seed --benchmark`: how fast is the seeder, next to the server's ingestion limit?

In one scratch database on the server under test (`<db>_seedbench`, marked as the
harness's by its comment; one of that name it did not create is refused), per table of
the baseline variant:
  seeder  - generation + binary COPY, the seeder's own path (W workers)
  limit   - the same rows, already encoded (COPY ... TO STDOUT (FORMAT BINARY) into
            memory), loaded with one plain COPY FROM STDIN into an identical empty table
and, for reference, projects-like rows generated server-side by INSERT ... SELECT
generate_series. Prints rows/s, MB/s and ratios, then extrapolates load time and disk
to every scale from the measured per-row costs. Figures are printed, never asserted.
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from bench.core import crypto as secrets
from bench.core import database, ownership, schema
from bench.core.errors import BenchError
from seed import loader
from seed.config import SeedConfig, make_config, scales
from seed.plan import Plan
from seed.progress import LoadProgress
from seed.tables import TABLES

SCRATCH_SUFFIX = "_seedbench"
COPY_BLOCK = 1 << 20


@dataclass
class TableFigures:
    table: str
    rows: int
    bytes: int
    seeder_s: float
    limit_s: float

    @property
    def ratio(self) -> float:
        return self.limit_s / self.seeder_s if self.seeder_s else 0.0


def run(admin_dsn: str, scale: str, workers: int, console) -> dict:
    config = make_config(scale, anchor="2026-01-01")
    scratch = conninfo_to_dict(admin_dsn).get("dbname", "bench") + SCRATCH_SUFFIX
    with database.connect(admin_dsn) as admin:
        try:  # a database of that name the harness did not create is refused, never dropped
            ownership.create_scratch_database(admin, scratch)
        except psycopg.Error as exc:
            raise BenchError(f"the seeder benchmark needs CREATE DATABASE: {exc.diag.message_primary}") from None
    dsn = make_conninfo(admin_dsn, dbname=scratch)
    try:
        with database.connect(dsn) as conn:
            database.check_server(conn, dsn)
            return _measure(conn, dsn, config, workers, console)
    finally:
        with database.connect(admin_dsn) as admin:
            ownership.drop_scratch_database(admin, scratch)


def _measure(conn, dsn: str, config: SeedConfig, workers: int, console) -> dict:
    baseline = schema.select(["baseline"])[0]
    schema.apply(conn, baseline, dim=config.dim)
    loader.prepare(conn, config, resume=False)
    plan = Plan(config.seed, config.counts)
    tables_of = loader.tables_by_variant(conn, ["baseline"])
    conn.execute("CREATE SCHEMA limit_copy")
    figures = []
    with loader.ChunkLoader(dsn, config, workers=workers, key=secrets.key()) as chunk_loader:
        chunk_loader.warm_up()
        began = time.perf_counter()
        for name in TABLES:
            if name not in tables_of["baseline"]:
                continue
            chunks = [c for c in loader.pending_chunks(conn, plan, ["baseline"], tables_of, resume=True)
                      if c.table == name]
            start = time.perf_counter()
            with LoadProgress(console, {name: plan.total(name)}) as progress:
                chunk_loader.run(chunks, progress)
            seeder_s = time.perf_counter() - start
            figures.append(TableFigures(name, plan.total(name), _size(conn, f"baseline.{name}"), seeder_s,
                                        _limit_copy(conn, name)))
        whole_s = time.perf_counter() - began
    return {"config": config.as_dict(), "workers": workers, "tables": figures, "whole_seeder_s": whole_s,
            "server_side": _server_side_projects(conn, plan.total("projects"))}


def _limit_copy(conn, table: str) -> float:
    """Seconds for one plain COPY of the table's rows, pre-encoded, into an empty twin."""
    buffer = io.BytesIO()
    with conn.cursor().copy(f"COPY baseline.{table} TO STDOUT (FORMAT BINARY)") as copy:
        for block in copy:
            buffer.write(block)
    conn.execute(f"CREATE TABLE limit_copy.{table} (LIKE baseline.{table} INCLUDING ALL)")
    data = buffer.getvalue()
    start = time.perf_counter()
    with conn.transaction():
        with conn.cursor().copy(f"COPY limit_copy.{table} FROM STDIN (FORMAT BINARY)") as copy:
            for at in range(0, len(data), COPY_BLOCK):
                copy.write(data[at:at + COPY_BLOCK])
    return time.perf_counter() - start


def _server_side_projects(conn, n: int) -> dict:
    """The review-era habit: generate rows inside the server (gen_random_uuid, md5)."""
    conn.execute("CREATE TABLE limit_copy.projects_generated (LIKE baseline.projects INCLUDING ALL)")
    start = time.perf_counter()
    conn.execute(
        """INSERT INTO limit_copy.projects_generated
               (id, organization_id, owner_id, name, description, status, settings, created_at, updated_at)
           SELECT gen_random_uuid(), gen_random_uuid(), gen_random_uuid(), 'Project ' || g,
                  md5(g::text) || ' ' || md5((g + 1)::text), 'active', '{}', now() - g * interval '1 minute', now()
           FROM generate_series(1, %s) g""",
        (n,),
    )
    seconds = time.perf_counter() - start
    return {"rows": n, "seconds": seconds}


def _size(conn, relation: str) -> int:
    return conn.execute("SELECT pg_total_relation_size(%s::regclass)", (relation,)).fetchone()[0]


def extrapolate(result: dict, n_variants: int = 3) -> list[dict]:
    """Load time and disk per scale from the measured per-row costs (post-data excluded)."""
    per_row = {f.table: (f.seeder_s / f.rows if f.rows else 0.0, f.bytes / f.rows if f.rows else 0.0)
               for f in result["tables"]}
    out = []
    for scale, counts in scales().items():
        plan_rows = _plan_totals(counts)
        seconds = sum(plan_rows.get(t, 0) * cost for t, (cost, _b) in per_row.items()) * n_variants
        disk = sum(plan_rows.get(t, 0) * size for t, (_c, size) in per_row.items()) * n_variants
        out.append({"scale": scale, "documents": counts["documents"], "load_s": seconds, "heap_bytes": disk})
    return out


def _plan_totals(counts: dict) -> dict[str, int]:
    # derived tables scale with their parents: use the ratio of the plan's own totals
    plan = Plan(1, counts) if counts["projects"] <= 200_000 else None
    totals = dict(counts)
    if plan is not None:
        totals.update({t: plan.total(t) for t in ("project_members", "dashboard_data_sources")})
    else:  # a full plan is cheap too, but keep memory flat: members ~2.5/project, sources ~1.2/dashboard
        small = Plan(1, scales()["small"])
        totals["project_members"] = int(counts["projects"] * small.total("project_members") / small.counts["projects"])
        totals["dashboard_data_sources"] = int(
            counts["dashboards"] * small.total("dashboard_data_sources") / small.counts["dashboards"])
    return totals
