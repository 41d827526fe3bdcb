"""The write bill (issue 18) on a real tiny dataset: each write scenario runs on every
variant through the latency runner, is rolled back, fails only where it is declared to fail
and for the stated reason, stays out of the query claims and the load mix, and shows in
the report beside the read figures."""

from __future__ import annotations

import asyncio

import psycopg
import pytest

from bench.core import schema as schemas
from bench.latency import runner
from bench.latency import section as latency
from bench.loadtest import personas
from bench.report import balance, summary
from scenarios import all_scenarios
from scenarios.catalog import MAX_REQUESTS, WRITE_BILL
from scenarios.population import load as load_population
from seed import checks
from tests.conftest import clone, drop

# scenario -> what the declared failure on review says (the reason its declaration gives)
FINDINGS = {"insert_activity": "no partition of relation", "delete_template": "fk_dashboards_template",
            "delete_user": "audit_log_user_id_fkey"}
ROUNDS, REQUESTS = 2, 3
CLAIMED = "my_projects"  # a read of the claim set, measured beside the write bill


def test_the_write_bill_is_in_the_catalog_and_applies_everywhere():
    catalog = all_scenarios()
    assert WRITE_BILL <= set(catalog) and set(MAX_REQUESTS) <= set(catalog)
    for name in WRITE_BILL:
        scenario = catalog[name]
        assert scenario.kind == "write", name
        assert all(scenario.query_for(v) for v in schemas.variants()), name
        assert set(scenario.expected_failures) <= {"review"}, name  # the review's defects only
    assert {n for n in WRITE_BILL if catalog[n].expected_failures} == set(FINDINGS)


def test_the_load_mix_is_what_it_was_without_the_write_bill():
    catalog = all_scenarios()
    before = {n: s for n, s in catalog.items() if n not in WRITE_BILL}
    for persona in personas.PERSONAS:
        assert persona.tasks(catalog) == persona.tasks(before), persona.name
    assert set(personas.coverage(catalog)) == set(before)


def test_a_query_of_several_statements_is_split_with_its_own_placeholders():
    parts = runner.split_statements("INSERT INTO a VALUES ($1, $2, $6);\nINSERT INTO b SELECT $1, $7 RETURNING x",
                                    list("abcdefg"))
    assert parts == [("INSERT INTO a VALUES ($1, $2, $3)", ["a", "b", "f"]),
                     ("INSERT INTO b SELECT $1, $2 RETURNING x", ["a", "g"])]
    assert runner.split_statements("SELECT $2, $1", [1, 2]) == [("SELECT $2, $1", [1, 2])]


@pytest.fixture(scope="module")
def measured(pg_server, tiny_template):
    """The write bill measured once on a copy of the tiny dataset (every variant), with the
    row counts of every table before and after."""
    name = clone(pg_server, tiny_template)
    dsn = pg_server.dsn(name)
    try:
        variants = schemas.variants()
        scenarios = [s for n, s in all_scenarios().items() if n in WRITE_BILL | {CLAIMED}]
        with psycopg.connect(dsn) as conn:
            population = load_population(conn, variants[0].name)
            before = _rows(conn, variants)
        config = runner.LatencyConfig(rounds=ROUNDS, runs=1, requests=REQUESTS, concurrency=2, warmup=0)
        cells = asyncio.run(runner.measure(dsn, variants, scenarios, population, config))
        with psycopg.connect(dsn) as conn:
            after = _rows(conn, variants)
        yield {"cells": cells, "variants": variants, "scenarios": scenarios, "config": config,
               "before": before, "after": after}
    finally:
        drop(pg_server, name)


def _rows(conn: psycopg.Connection, variants) -> dict:
    """Row count of every table of every variant (audit_log and the junction table
    included), and the seeded tables' checksums."""
    out = {}
    for v in variants:
        for (table,) in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s", (v.name,)).fetchall():
            out[(v.name, table)] = conn.execute(f'SELECT count(*) FROM "{v.name}"."{table}"').fetchone()[0]
        out[v.name] = checks.checksums(conn, v.name)
    return out


@pytest.mark.e2e  # the module's measurement: ~25 s on a contended 2-CPU machine
def test_every_write_runs_on_every_variant_and_is_rolled_back(measured):
    assert measured["after"] == measured["before"]
    for scenario in measured["scenarios"]:
        for variant in measured["variants"]:
            if (scenario.name, variant.name) not in measured["cells"]:
                continue
            cell = measured["cells"][(scenario.name, variant.name)]
            if variant.name in scenario.expected_failures:
                continue
            assert cell.errors == 0, (scenario.name, variant.name, cell.error_samples)
            assert cell.histogram.get_total_count() == ROUNDS * REQUESTS, (scenario.name, variant.name)
            assert cell.plan.get("plan") and "error" not in cell.plan, (scenario.name, variant.name, cell.plan)


@pytest.mark.e2e
def test_declared_findings_fail_for_their_reason_and_only_on_review(measured):
    for name, reason in FINDINGS.items():
        cells = {v.name: measured["cells"][(name, v.name)] for v in measured["variants"]}
        assert cells["review"].errors == ROUNDS * REQUESTS and cells["review"].histogram.get_total_count() == 0
        assert all(reason in sample for sample in cells["review"].error_samples), cells["review"].error_samples
        assert cells["baseline"].errors == cells["hardened"].errors == 0, name


@pytest.mark.e2e
def test_the_write_bill_stays_out_of_the_query_claims_and_shows_beside_them(measured):
    section = latency.assemble(measured["cells"], measured["variants"], measured["scenarios"], measured["config"],
                               ROUNDS)
    assert {(v["claim"], v["variant"]) for v in section["verdicts"]} >= {("query_speedup", "hardened"),
                                                                          ("avg_latency", "review")}
    for record in section["verdicts"]:
        assert {r["scenario"] for r in record["scenarios"]} == {CLAIMED}, record
        assert {e["scenario"] for e in record["excluded"]} == WRITE_BILL
        assert {e["reason"] for e in record["excluded"]} == {latency.WRITE_BILL_REASON}
    assert not latency.unexpected_errors(section["results"])
    data = {"variants": [{"name": v.name} for v in measured["variants"]], "latency": section, "verdicts": []}
    variants, rows = balance.rows(data)
    assert variants == ["baseline", "review", "hardened"]
    table = dict(rows)
    assert table["delete_user p50 ms (write bill)"]["review"] == "fails: declared finding"
    assert table["delete_user p50 ms (write bill)"]["hardened"] != "fails: declared finding"
    assert "Read gain and write cost" in summary.markdown(data)
