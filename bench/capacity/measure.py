"""What one size of a capacity sweep records: seeding time and index builds, bytes per
table and per index, each scenario's latency (the latency runner, fewer rounds), and the
largest tenant's size. Reads a seeded database; seeds nothing."""

from __future__ import annotations

import numpy as np
import psycopg

from bench.core.schema import Variant
from bench.latency import section as latency
from bench.latency.runner import LatencyConfig
from bench.storage import section as storage
from seed.plan import Plan


def latency_cells(dsn: str, conn: psycopg.Connection, variants: list[Variant], scenarios: list,
                  config: LatencyConfig, tick=None) -> list[dict]:
    """Each (scenario, variant)'s latency at this size, without the histograms and plans a
    latency section keeps (a sweep stores many sizes): the median a fit uses (mean of the
    round medians, as the latency verdicts read it), its rounds, and the tails."""
    from scenarios.population import load as load_population

    population = load_population(conn, variants[0].name)
    section = latency.run(dsn, variants, scenarios, population, config, tick)
    return [_cell(r) for r in section["results"]]


def _cell(record: dict) -> dict:
    out = {k: record.get(k) for k in ("scenario", "variant", "kind", "applicable", "expected_failure", "errors")}
    lat = record.get("latency") or {}
    medians = record.get("round_medians_ms") or []
    out.update(round_medians_ms=[round(m, 4) for m in medians],
               median_ms=round(float(np.mean(medians)), 4) if medians else None,
               p95_ms=lat.get("p95_ms"), mean_ms=lat.get("mean_ms"), count=lat.get("count", 0))
    return out


def relation_bytes(conn: psycopg.Connection, variants: list[str], counts: dict[str, dict[str, int]]) -> list[dict]:
    """Bytes per table of each variant as the seeder recorded them (bench run storage), with
    the table's rows."""
    tables = storage.section(conn, variants)["tables"]
    return [{**t, "rows": counts.get(t["variant"], {}).get(t["relation"])} for t in tables]


INDEX_BYTES = """
SELECT n.nspname, t.relname, i.relname, am.amname, sum(pg_relation_size(leaf.indexrelid))::bigint
FROM pg_index x
JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid
JOIN pg_namespace n ON n.oid = i.relnamespace JOIN pg_am am ON am.oid = i.relam
CROSS JOIN LATERAL (SELECT p.relid AS indexrelid FROM pg_partition_tree(i.oid) p WHERE i.relkind = 'I'
                    UNION ALL SELECT i.oid WHERE i.relkind <> 'I') leaf
WHERE n.nspname = ANY(%s) AND NOT i.relispartition
GROUP BY 1, 2, 3, 4 ORDER BY 1, 5 DESC"""


def index_bytes(conn: psycopg.Connection, variants: list[str]) -> list[dict]:
    """Bytes of every index (a partitioned index summed over its partitions), with its table."""
    rows = conn.execute(INDEX_BYTES, (variants,)).fetchall()
    return [{"variant": v, "relation": table, "index": index, "method": method, "bytes": int(size)}
            for v, table, index, method, size in rows]


def largest_tenant(seed: int, counts: dict[str, int]) -> dict:
    """The largest organization's projects and users (the seeder's Zipf tenants): what
    "1M+ projects per organization" is about. From the seed's plan, no query."""
    plan = Plan(seed, counts)
    projects, users = np.diff(plan.projects), np.diff(plan.users)
    biggest = int(np.argmax(projects))
    return {"organization": biggest, "projects": int(projects[biggest]), "users": int(users[biggest]),
            "median_projects": float(np.median(projects))}


def server_settings(conn: psycopg.Connection) -> dict:
    names = ("maintenance_work_mem", "max_parallel_maintenance_workers", "shared_buffers")
    return {name: conn.execute(f"SHOW {name}").fetchone()[0] for name in names}


def database_bytes(conn: psycopg.Connection) -> int:
    return int(conn.execute("SELECT pg_database_size(current_database())").fetchone()[0])
