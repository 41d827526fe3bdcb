"""The latency runner on a real tiny dataset: every scenario runs on every variant it
applies to, results.json is valid, broken SQL fails the run after writing it, and a
dropped index shows as a measurable slowdown."""

from __future__ import annotations

import asyncio
import json

import numpy as np
import psycopg
import pytest

from bench import cli
from bench.core import schema as schemas
from bench.judge import results, stats
from bench.latency import runner
from bench.latency import section as latency
from scenarios import Query, Scenario, all_scenarios
from scenarios.population import load as load_population
from seed import checks
from tests.conftest import seed_tiny


def test_an_eviction_during_a_batch_makes_its_counts_incomplete():
    """An entry evicted mid-batch and created afresh can end above its old count, so its
    delta looks whole: the server's eviction count (pg_stat_statements_info.dealloc) marks
    the cell's counts incomplete."""
    counters = {"calls": 3, "total_exec_ms": 1.0, "rows": 3, "shared_blks_hit": 0, "shared_blks_read": 0}
    steady, evicting = runner.Cell(), runner.Cell()
    steady.add_statements(runner.Snapshot({}, 4), runner.Snapshot({7: counters}, 4))
    evicting.add_statements(runner.Snapshot({}, 4), runner.Snapshot({7: counters}, 5))
    assert steady.statement_totals(7)["calls"] == 3 and not steady.statement_totals(7)["incomplete"]
    assert evicting.statement_totals(7)["incomplete"]
    unknown = runner.Cell()  # no pg_stat_statements_info (PostgreSQL < 14): the deltas alone decide
    unknown.add_statements(runner.Snapshot({}, None), runner.Snapshot({7: counters}, None))
    assert not unknown.statement_totals(7)["incomplete"]


def test_a_statement_counted_under_two_queryids_is_one_statement():
    """A statement re-analysed after a plan invalidation can get a second queryid with the
    same text: the cell's totals join every queryid with the plan's text, and only those."""
    def counters(calls: int) -> dict:
        return {"calls": calls, "total_exec_ms": 1.0, "rows": calls, "shared_blks_hit": 0, "shared_blks_read": 0}

    texts = {1: "INSERT INTO t SELECT $1", 2: "INSERT INTO t SELECT $1", 3: "ROLLBACK"}
    cell = runner.Cell()
    first = runner.Snapshot({1: counters(4), 3: counters(4)}, 0, texts)
    cell.add_statements(runner.Snapshot({}, 0), first)
    cell.add_statements(first, runner.Snapshot({1: counters(5), 2: counters(3), 3: counters(8)}, 0, texts))
    totals = cell.statement_totals(1)
    assert (totals["calls"], totals["calls_per_batch"], totals["query_ids"]) == (8, [4, 4], [1, 2])
    assert cell.statement_totals(2)["calls"] == 8  # whichever of the two the plan reports
    assert cell.statement_totals(3)["calls"] == 8 and cell.statement_totals(3)["query_ids"] == [3]


def test_calls_are_counted_whole_across_a_plan_invalidation(tiny_dsn):
    """On the real server: hardened's insert_dashboard, prepared by asyncpg (parameter types
    inferred), is re-analysed after ANALYZE invalidates its plan, and PostgreSQL 18 files the
    later calls under another queryid (seen three times in CI as a shortfall of calls). The
    cell still counts every request."""
    scenario, hardened = all_scenarios()["insert_dashboard"], schemas.select(["hardened"])[0]
    with psycopg.connect(tiny_dsn) as conn:
        population = load_population(conn, "hardened")

    async def measure() -> runner.Cell:
        conn, admin = await runner._connect(tiny_dsn, 2)
        try:
            requests = runner.requests_for(scenario, hardened, population, np.random.default_rng(7), 40)
            cell, before = runner.Cell(), await runner.statements(admin)
            await runner.closed_loop([conn], requests[:20], cell)  # enough for the plan cache's generic plan
            middle = await runner.statements(admin)
            cell.add_statements(before, middle)
            await admin.execute("ANALYZE hardened.dashboard_data_sources")  # as autovacuum does, at any time
            await runner.closed_loop([conn], requests[20:], cell)
            cell.add_statements(middle, await runner.statements(admin))
            cell.plan = await runner.explain(admin, scenario, hardened, population, 7)
            return cell
        finally:
            await runner._close([conn, admin])

    cell = asyncio.run(measure())
    assert cell.errors == 0, cell.error_samples
    totals = cell.statement_totals(cell.plan["query_id"])
    assert totals["calls"] == 40 and totals["calls_per_batch"] == [20, 20], totals
    assert len(totals["query_ids"]) == 2, (  # the case this test is for; if it fails, the split no longer happens
        "the statement kept one queryid across the invalidation", totals)


def test_catalog_is_complete_and_valid():
    catalog = all_scenarios()
    assert len(catalog) >= 12
    assert {s.kind for s in catalog.values()} >= {"read", "write", "vector"}
    for scenario in catalog.values():
        assert scenario.query_for(schemas.select(["hardened"])[0]), scenario.name  # hardened answers everything


def test_placeholders_must_match_args():
    broken = Scenario("x", "read", "", {"*": Query("SELECT $1, $2", ("only_one",))}, params=lambda p, r: {})
    with pytest.raises(ValueError, match="placeholders"):
        broken.validate()


def test_tiny_run_covers_every_scenario_and_writes_results(tiny_dsn, tmp_path, capsys):
    seeded = _checksums(tiny_dsn)
    # pg_stat_statements is the whole server's: the entries of earlier tests' databases could
    # fill pg_stat_statements.max and evict this run's mid-batch, and the counts below would
    # then be (rightly) incomplete. This throwaway server starts the run with room. (CI once
    # counted 9 of 12 calls here, marked complete; whether eviction was the cause is not known.)
    with psycopg.connect(tiny_dsn, autocommit=True) as conn:
        conn.execute("SELECT pg_stat_statements_reset()")
    with pytest.raises(SystemExit) as done:
        cli.main(["--dsn", tiny_dsn, "run", "latency", "--rounds", "2", "--requests", "6", "--warmup", "2",
                  "--out", str(tmp_path)])
    assert done.value.code == 0, capsys.readouterr().err
    (run_dir,) = tmp_path.iterdir()
    data = results.load(run_dir)
    assert data["schema_version"] == results.SCHEMA_VERSION and data["dataset"]["scale"] == "tiny"
    assert "password" not in json.dumps(data["environment"]).lower()
    cells = {(r["scenario"], r["variant"]): r for r in data["latency"]["results"]}
    tracked = data["environment"]["server"]["pg_stat_statements"]
    for name, scenario in all_scenarios().items():
        for variant in schemas.variants():
            cell = cells[(name, variant.name)]
            if not scenario.query_for(variant):
                assert cell["applicable"] is False
                continue
            assert cell["latency"]["count"] + cell["errors"] == 12, (name, variant.name)
            if not cell["expected_failure"]:
                assert cell["errors"] == 0, (name, variant.name, cell["error_samples"])
                assert "error" not in cell["explain"], cell["explain"]
                assert cell["explain"]["plan"]
                if tracked:  # this cell's own calls, not those of another variant running the same SQL text
                    counted = cell["pg_stat_statements"]
                    # the batches and rows first: pytest cuts a long message short (a shortfall seen
                    # three times in CI was a second queryid: test_calls_are_counted_whole_...)
                    assert counted["calls"] == 12 and not counted["incomplete"], (
                        name, variant.name, counted["calls_per_batch"], counted["rows"], counted["incomplete"])
                    assert counted["calls_per_batch"] == [6, 6], (name, variant.name, counted)  # 6 requests a batch
    assert latency.unexpected_errors(data["latency"]["results"]) == 0
    assert _checksums(tiny_dsn) == seeded  # the writes above succeeded and were rolled back
    claims = {(v["claim"], v["variant"]) for v in data["verdicts"]}
    assert ("query_speedup", "hardened") in claims and ("storage", "hardened") in claims
    for v in data["verdicts"]:  # two rounds are too few to confirm or refute a timing claim
        if v["claim"] in ("query_speedup", "avg_latency"):
            assert v["verdict"] in ("inconclusive", "not measured")


def _checksums(dsn: str) -> dict:
    with psycopg.connect(dsn) as conn:
        return {v.name: checks.checksums(conn, v.name) for v in schemas.variants()}


def test_broken_sql_is_counted_and_fails_the_run(tiny_dsn, tmp_path, monkeypatch, capsys):
    good = all_scenarios()["my_projects"]
    broken = Scenario("broken", "read", "a typo", {"*": Query("SELECT id FROM projectz WHERE id = $1", ("user_id",))},
                      params=good.params)
    monkeypatch.setattr("scenarios.all_scenarios", lambda: {"my_projects": good, "broken": broken})
    with pytest.raises(SystemExit) as done:
        cli.main(["--dsn", tiny_dsn, "run", "latency", "--rounds", "1", "--requests", "4", "--warmup", "0",
                  "--out", str(tmp_path)])
    assert done.value.code == 1
    assert "requests failed unexpectedly" in capsys.readouterr().err
    data = results.load(next(tmp_path.iterdir()))  # what was measured is kept
    cells = {(r["scenario"], r["variant"]): r for r in data["latency"]["results"]}
    assert cells[("broken", "hardened")]["errors"] == 4
    assert "projectz" in cells[("broken", "hardened")]["error_samples"][0]
    assert cells[("my_projects", "hardened")]["errors"] == 0


def _median_rounds(dsn: str, scenario: Scenario, variant) -> list[float]:
    with psycopg.connect(dsn) as conn:
        population = load_population(conn, variant.name)
    config = runner.LatencyConfig(rounds=6, requests=30, concurrency=1, warmup=10)
    cells = asyncio.run(runner.measure(dsn, [variant], [scenario], population, config))
    return cells[(scenario.name, variant.name)].round_medians_ms


def test_dropping_an_index_is_measurably_slower(db_dsn):
    seed_tiny(db_dsn, only=["hardened"], rows=["user_activity_log=400000"])
    hardened = schemas.select(["hardened"])[0]
    scenario = all_scenarios()["my_recent_activity"]
    with_index = _median_rounds(db_dsn, scenario, hardened)
    with psycopg.connect(db_dsn, autocommit=True) as conn:
        # both indexes that serve it: with only one dropped the other takes over, and how much
        # slower that is depends on which tenant's user was drawn
        conn.execute("DROP INDEX hardened.user_activity_log_user_ts_idx, hardened.user_activity_log_org_ts_idx")
        conn.execute("ANALYZE hardened.user_activity_log")
    without = _median_rounds(db_dsn, scenario, hardened)
    ratio = stats.bootstrap_ratio(np.array(without), np.array(with_index))
    assert ratio.low > 1.5, ratio  # the harness sees the difference, beyond noise
