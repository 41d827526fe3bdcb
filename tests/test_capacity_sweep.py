"""`bench capacity`: the sizes it accepts, bad input refused in one line before a server
starts, and (e2e) a real sweep over three tiny sizes: measured, kept when run again, an
interrupted size measured again, reported."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.capacity import sizes
from bench.core.errors import UsageError
from seed.config import scales


def test_a_named_size_is_its_scale_and_a_number_lies_between_the_scales_around_it():
    tiny, small = scales()["tiny"], scales()["small"]
    parsed = sizes.parse("small, 30K ,tiny")
    assert [s.label for s in parsed] == ["tiny", "30K", "small"]
    assert parsed[0].counts == tiny and parsed[2].counts == small
    middle = parsed[1].counts
    assert middle["documents"] == 30_000
    for table in ("organizations", "projects", "users", "user_activity_log"):
        assert min(tiny[table], small[table]) <= middle[table] <= max(tiny[table], small[table]), table
    assert sizes.size_of("100K").counts == small  # a scale's own document count is that scale


@pytest.mark.parametrize("text, message", [
    ("tiny,small", "at least 3 sizes"),
    ("tiny,1K,small", "smaller than the smallest scale"),
    ("tiny,small,20M", "larger than the largest scale"),
    ("tiny,small,lots", "neither a scale"),
    ("tiny,100K,small", "given twice"),
])
def test_bad_sizes_are_usage_errors(text, message):
    with pytest.raises(UsageError, match=message):
        sizes.parse(text)


@pytest.mark.parametrize("args, message", [
    (["--sizes", "tiny,small"], "at least 3 sizes"),
    (["--sizes", "tiny;small"], "neither a scale"),
    (["--sizes", "500,tiny,small"], "smaller than the smallest scale"),
    (["--users", "0"], "--users"),
])
def test_bad_input_is_one_line_and_exit_2_before_any_server(run_bench, args, message):
    result = run_bench("capacity", *args, env={"BENCH_DSN": "postgresql://nobody@127.0.0.1:1/none"})
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bench: error:") and message in lines[0], result.stderr


@pytest.mark.parametrize("args, message", [
    (["--documents", "0"], "--documents"),
    (["--documents", "lots"], "--documents"),
    (["--users", "0"], "--users"),
])
def test_bad_sizing_input_is_one_line_and_exit_2(run_bench, args, message, tmp_path):
    result = run_bench("sizing", str(tmp_path), *args)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bench: error:") and message in lines[0], result.stderr


def test_sizing_a_run_without_a_capacity_sweep_is_refused_in_one_line(run_bench, tmp_path):
    (tmp_path / "results.json").write_text(json.dumps({"schema_version": 1, "run_id": "x", "verdicts": []}))
    result = run_bench("sizing", str(tmp_path))
    assert result.returncode == 2 and "no capacity fits" in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


SWEEP = ["--sizes", "tiny,4K,5K", "--rounds", "1", "--requests", "3", "--warmup", "0", "--users", "2",
         "--scenario", "my_projects", "--scenario", "similar_documents", "--workers", "1"]


TIMEOUT_S = 600  # three seeds, latency and a report: ~1.5 min on a busy 2-core machine


def _capacity(run_dir: Path) -> dict:
    return json.loads((run_dir / "results.json").read_text())["capacity"]


@pytest.mark.e2e
def test_a_sweep_measures_each_size_keeps_them_and_redoes_an_interrupted_one(run_bench, db_dsn, tmp_path):
    out = tmp_path / "runs"
    first = run_bench("--dsn", db_dsn, "capacity", *SWEEP, "--out", str(out), timeout=TIMEOUT_S)
    assert first.returncode == 0, first.stderr
    run_dir = next(out.iterdir())
    section = _capacity(run_dir)
    assert [s["label"] for s in section["sizes"]] == ["tiny", "4K", "5K"]
    assert all(s["status"] == "complete" for s in section["sizes"])
    five = section["sizes"][2]
    assert {t["relation"] for t in five["storage"]} >= {"documents", "projects"}
    assert any(i["method"] == "hnsw" for i in five["indexes"])  # index bytes, per index
    cells = {(c["scenario"], c["variant"]) for c in five["latency"] if c["median_ms"]}
    assert ("similar_documents", "baseline") in cells and ("my_projects", "hardened") in cells
    assert five["largest_tenant"]["projects"] > section["sizes"][0]["largest_tenant"]["projects"]
    # the largest tenant's project scenarios, and recall@10 of the vector scenario, per size
    assert five["tenant"]["projects"] > section["sizes"][0]["tenant"]["projects"]
    assert {(c["scenario"], c["variant"]) for c in five["tenant"]["cells"] if c["median_ms"]} >= {
        ("my_projects", "baseline"), ("my_projects", "hardened")}
    recall = {r["variant"]: r for r in five["recall"]}
    assert set(recall) == {"baseline", "review", "hardened"}
    assert all(r["neighbours"] > 0 and 0 <= r["found"] <= r["neighbours"] for r in recall.values())
    judged = {(v["claim"], v["variant"]): v for v in json.loads((run_dir / "results.json").read_text())["verdicts"]}
    assert judged[("vector_at_scale", "hardened")]["figure"]["projected"]
    assert judged[("tenant_at_scale", "hardened")]["figure"]["at_projects"] == 1_000_000
    sizing_rows = section["analysis"]["sizing"]["rows"]
    assert {r["variant"] for r in sizing_rows} == {"baseline", "review", "hardened"}
    assert all(r["disk_bytes"]["estimate"] > five["database_bytes"] / 3 for r in sizing_rows)
    asked = run_bench("sizing", str(run_dir), "--documents", "20M", "--users", "500",
                      "--markdown", str(tmp_path / "sizing.md"))
    assert asked.returncode == 0, asked.stderr
    assert "20,000,000 documents, 500 users" in asked.stdout
    assert "| hardened |" in (tmp_path / "sizing.md").read_text()
    series = section["analysis"]["series"]
    assert any(s["kind"] == "latency" and s.get("projection") for s in series)
    assert (run_dir / "charts" / "capacity_latency.png").exists()
    assert (run_dir / "charts" / "capacity_tenant.png").exists()
    assert "Capacity: growth with rows" in (run_dir / "report.html").read_text()
    assert "Capacity sweep" in (run_dir / "summary.md").read_text()

    # A size cut short (as a killed sweep leaves it) is measured again; the others are kept.
    data = json.loads((run_dir / "results.json").read_text())
    data["capacity"]["sizes"][1]["status"] = "measuring"
    (run_dir / "results.json").write_text(json.dumps(data))
    again = run_bench("--dsn", db_dsn, "capacity", *SWEEP, "--resume", "--out", str(out), timeout=TIMEOUT_S)
    assert again.returncode == 0, again.stderr
    assert "tiny kept" in again.stderr and "5K kept" in again.stderr and "4K kept" not in again.stderr
    redone = _capacity(run_dir)["sizes"]
    assert redone[0] == section["sizes"][0] and redone[2] == section["sizes"][2]
    assert redone[1]["status"] == "complete" and redone[1]["started_at"] >= section["sizes"][1]["started_at"]
