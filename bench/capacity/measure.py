"""What one size of a capacity sweep records: seeding time and index builds, bytes per
table and per index, each scenario's latency (the latency runner, fewer rounds), the
largest tenant's size and its project scenarios' latency, and the vector scenario's
recall@10 at its own settings. Reads a seeded database; seeds nothing."""

from __future__ import annotations

import re

import numpy as np
import psycopg

from bench.core import identity
from bench.core.errors import BenchError
from bench.core.schema import Variant
from bench.latency import section as latency
from bench.latency.runner import LatencyConfig
from bench.storage import section as storage
from seed.plan import Plan


def latency_cells(dsn: str, variants: list[Variant], scenarios: list, population, config: LatencyConfig,
                  tick=None) -> list[dict]:
    """Each (scenario, variant)'s latency at this size, without the histograms and plans a
    latency section keeps (a sweep stores many sizes): the median a fit uses (mean of the
    round medians, as the latency verdicts read it), its rounds, and the tails."""
    return [_cell(r) for r in latency.run(dsn, variants, scenarios, population, config, tick)["results"]]


def tenant_scenarios(scenarios: list) -> list:
    """The scenarios about projects (their SQL reads or writes `projects`): what "1M+
    projects per organization" would slow down."""
    return [s for s in scenarios if any(re.search(r"\bprojects\b", q.sql) for q in s.queries.values())]


def largest_organization(conn: psycopg.Connection, variant: str) -> tuple[object, int]:
    """The organization with the most projects in the database, and their count."""
    row = conn.execute(f'SELECT organization_id, count(*) FROM "{variant}".projects GROUP BY 1 '
                       "ORDER BY 2 DESC, 1 LIMIT 1").fetchone()
    if row is None:
        raise BenchError("capacity: the seeded data has no project")
    return row[0], int(row[1])


def tenant_latency(dsn: str, conn: psycopg.Connection, variants: list[Variant], scenarios: list, population,
                   config: LatencyConfig, tick=None) -> dict:
    """The project scenarios' latency with every request made by (and about) the largest
    tenant, so a fit can follow latency against the tenant's size. A scenario with nothing
    to draw from that tenant is left out, with why."""
    org, projects = largest_organization(conn, variants[0].name)
    population = population.of_organization(org)
    chosen, skipped = [], {}
    for scenario in tenant_scenarios(scenarios):
        try:
            scenario.params(population, np.random.default_rng(0))
            chosen.append(scenario)
        except BenchError as exc:
            skipped[scenario.name] = str(exc)
    cells = latency_cells(dsn, variants, chosen, population, config, tick) if chosen else []
    return {"organization": str(org), "projects": projects, "cells": cells, "skipped": skipped}


def vector_recall(conn: psycopg.Connection, variants: list[Variant], scenarios: list, population, queries: int,
                  seed: int) -> list[dict]:
    """recall@10 of each vector scenario on each variant at the scenario's own settings (the
    app's index and search setting, as the latency is measured), against exact search of the
    same query (index scans off) as the same user: `queries` draws from the seeded query
    vectors, the same draws on every variant."""
    out = []
    for scenario in (s for s in scenarios if s.kind == "vector"):
        for variant in variants:
            query = scenario.query_for(variant)
            if query is None or variant.name in scenario.expected_failures:
                continue
            rng = np.random.default_rng([seed, 77])
            found = truth = 0
            for _ in range(queries):
                params = scenario.params(population, rng)
                ann, exact = _search_twice(conn, variant, query, params)
                found, truth = found + len(set(ann) & set(exact)), truth + len(exact)
            out.append({"scenario": scenario.name, "variant": variant.name, "queries": queries, "neighbours": truth,
                        "found": found, "recall": found / truth if truth else None,
                        "settings": dict(query.settings)})
    return out


def _search_twice(conn: psycopg.Connection, variant: Variant, query, params: dict) -> tuple[list, list]:
    """The query's ids through its index, then exact (no index scan), in one transaction."""
    setup = identity.request_setup(variant, params.get("user_id"), settings=query.settings)
    with conn.transaction():
        conn.execute(setup.psycopg_sql, setup.values)
        ann = [r[0] for r in conn.execute(query.psycopg_sql(), params).fetchall()]
        conn.execute("SET LOCAL enable_indexscan = off")
        conn.execute("SET LOCAL enable_bitmapscan = off")
        exact = [r[0] for r in conn.execute(query.psycopg_sql(), params).fetchall()]
    return ann, exact


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
