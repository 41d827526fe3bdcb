"""Baselines (bench/report/baseline.py, `bench baseline`) and the release gate on the real
tiny run: a stored baseline keeps what the comparison reads (the same p-values and MDEs
as the full run, without HDR blobs); bad input is one line and overwrites nothing; a
baseline of another machine, scale or configuration is refused for gating (exit 2) and
shown with --force; the gate exits 1 for a run that regressed and 0 for one that did not."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bench import cli
from bench.report import baseline, gate
from tests.report_support import scale_cell, write

TINY = Path(__file__).parent / "fixtures" / "tiny_run" / "results.json"
STEADY = ("my_projects", "baseline")


@pytest.fixture
def store(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("BENCH_BASELINES_DIR", str(tmp_path / "baselines"))
    monkeypatch.setenv("BENCH_REPORTS_DIR", str(tmp_path / "reports"))
    run = tmp_path / "reports" / "20261202T144422Z-15c0"
    run.mkdir(parents=True)
    shutil.copy(TINY, run / "results.json")
    return run


def bench(*args: str, capsys=None) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as done:
        cli.main(list(args))
    out, err = capsys.readouterr() if capsys else ("", "")
    return done.value.code, out, err


def test_a_baseline_keeps_what_compare_reads_and_drops_the_blobs(store, capsys):
    code, out, _ = bench("baseline", "save", "v1", capsys=capsys)  # default: the newest run
    assert code == 0 and out.startswith("baseline v1: ")
    saved = baseline.directory() / "v1" / "results.json"
    assert saved.stat().st_size < TINY.stat().st_size / 2
    assert "HISTF" not in saved.read_text()  # no encoded HDR histogram left
    full, kept = gate.review(TINY, TINY), gate.review(saved, TINY)
    pairs = list(zip(full.latency.figures(), kept.latency.figures()))
    assert len(pairs) == 160
    for a, b in pairs:  # p95/p99 tested on the same per-round values, read from the HDR histograms once
        assert (a.status, a.test.p, a.detectable) == (b.status, b.test.p, b.detectable)
    assert [i.record() for i in full.items["vector"]] == [i.record() for i in kept.items["vector"]]
    code, out, _ = bench("baseline", "list", capsys=capsys)
    assert code == 0 and out.startswith("v1: run 20261202T144422Z-15c0, scale tiny, 2 x AMD EPYC")
    code, out, _ = bench("baseline", "show", "v1", capsys=capsys)
    assert code == 0 and "security on hardened: confirmed (0 of 24 attacks succeed)" in out


def test_the_gate_fails_a_regressed_run_and_passes_an_unchanged_one(store, tmp_path, capsys):
    assert bench("baseline", "save", "v1", str(store), capsys=capsys)[0] == 0
    code, out, _ = bench("baseline", "compare", "v1", str(store), capsys=capsys)
    assert code == 0 and out.rstrip().endswith("gate: passed against baseline v1")
    slower = write(tmp_path / "slower", scale_cell(json.loads(TINY.read_text()), *STEADY, 2.0)).parent
    code, out, _ = bench("baseline", "compare", "v1", str(slower), "--json", str(tmp_path / "c.json"), capsys=capsys)
    assert code == 1 and "gate: FAILED against baseline v1" in out and "❌ **gate fails" in out
    assert json.loads((tmp_path / "c.json").read_text())["gate"]["failed"] is True
    code, out, _ = bench("baseline", "compare", "v1", str(slower), "--report-only", capsys=capsys)
    assert code == 0 and "gate: report only" in out


@pytest.mark.parametrize("edit, said", [
    (lambda r: r["environment"]["machine"].update(cpu_count=64), "machine cpu_count 2 vs 64"),
    (lambda r: r["dataset"].update(scale="small"), "scale tiny vs small"),
    (lambda r: r["latency"]["config"].update(requests=50), "latency requests 10 vs 50"),
    (lambda r: r["environment"]["server"]["settings"].update(shared_buffers="8GB"),
     "server setting shared_buffers 2GB vs 8GB"),
], ids=["machine", "scale", "config", "server"])
def test_a_baseline_measured_differently_is_refused_for_gating(store, tmp_path, capsys, edit, said):
    assert bench("baseline", "save", "v1", str(store), capsys=capsys)[0] == 0
    other = json.loads(TINY.read_text())
    edit(other)
    run = write(tmp_path / "other", other).parent
    code, out, err = bench("baseline", "compare", "v1", str(run), capsys=capsys)
    assert code == 2 and out == "" and err.count("\n") == 1
    assert err.startswith("bench: error: baseline v1 was measured differently") and said in err and "--force" in err
    code, out, _ = bench("baseline", "compare", "v1", str(run), "--force", capsys=capsys)
    assert code == 0 and "gate: not applied" in out and gate.MARKER in out


def test_bad_input_is_one_line_and_overwrites_nothing(store, tmp_path, capsys):
    assert bench("baseline", "save", "v1", str(store), capsys=capsys)[0] == 0
    saved = baseline.directory() / "v1" / "results.json"
    before = saved.read_bytes()
    other = write(tmp_path / "other", {**json.loads(TINY.read_text()), "run_id": "other"}).parent
    cases = [
        (("baseline", "save", "v1", str(other)), 2, "baseline v1 exists"),
        (("baseline", "save", "../up", str(store)), 2, "baseline name '../up' must be"),
        (("baseline", "compare", "nope", str(store)), 1, "no baseline nope in"),
        (("baseline", "show", "nope"), 1, "no baseline nope in"),
        (("all", "--baseline", "nope", "--scale", "tiny"), 1, "no baseline nope in"),  # before any server starts
        (("all", "--baseline", "v1", "--scale", "small"), 2, "baseline v1 measured scale tiny"),
    ]
    for args, exit_code, said in cases:
        code, out, err = bench(*args, capsys=capsys)
        assert (code, err.count("\n")) == (exit_code, 1), (args, out, err)
        assert err.startswith("bench: error: ") and said in err, (args, err)
        assert "Traceback" not in out + err
    assert saved.read_bytes() == before  # nothing overwritten
    corrupt = baseline.directory() / "broken" / "results.json"
    corrupt.parent.mkdir()
    corrupt.write_text('{"schema_version": 1, "run_id": ')
    code, _, err = bench("baseline", "compare", "broken", str(store), capsys=capsys)
    assert code == 1 and "is not valid JSON" in err and err.count("\n") == 1
    future = baseline.directory() / "future" / "results.json"
    future.parent.mkdir()
    future.write_text(json.dumps({**json.loads(before), "schema_version": 2}))
    code, _, err = bench("baseline", "compare", "future", str(store), capsys=capsys)
    assert code == 1 and "has schema_version 2; this harness reads 1" in err
    code, out, _ = bench("baseline", "list", capsys=capsys)
    assert code == 0 and "broken: not valid JSON" in out and "future: run" in out
    assert bench("baseline", "save", "v1", str(other), "--replace", capsys=capsys)[0] == 0
    assert saved.read_bytes() != before


def test_an_interrupted_run_is_no_baseline(store, tmp_path, capsys):
    cut = json.loads(TINY.read_text())
    cut["latency"]["interrupted"] = {"reason": "SIGINT", "rounds_completed": 2, "rounds_planned": 5}
    run = write(tmp_path / "cut", cut).parent
    code, _, err = bench("baseline", "save", "cut", str(run), capsys=capsys)
    assert code == 1 and "is an interrupted run" in err
    assert not (baseline.directory() / "cut").exists()


@pytest.mark.e2e
@pytest.mark.timeout(900)
def test_bench_all_ends_with_the_comparison(run_bench, tmp_path):
    """`bench all --baseline NAME` measures, then compares: here with a baseline measured with
    other options (the tiny fixture), refused for gating and shown with --force (exit 0,
    compare.md and compare.json in the run directory)."""
    from tests.conftest import free_port
    from tests.test_cli import SHORT_LOAD, SHORT_RUNS

    env = {"BENCH_PORT": str(free_port()), "BENCH_DATA_DIR": str(tmp_path / "home"),
           "BENCH_BASELINES_DIR": str(tmp_path / "baselines"), **SHORT_LOAD, **SHORT_RUNS}
    try:
        saved = run_bench("baseline", "save", "fixture", str(TINY.parent), env=env)
        assert saved.returncode == 0, saved.stderr
        done = run_bench("all", "--scale", "tiny", "--baseline", "fixture", "--force", env=env, timeout=840)
        assert done.returncode == 0, done.stderr[-3000:]
        assert "gate: not applied: baseline fixture was measured differently" in done.stdout
        assert "latency requests 10 vs" in done.stdout and "Traceback" not in done.stderr
        (run,) = [p for p in (tmp_path / "reports").iterdir() if (p / "compare.md").exists()]
        assert (run / "compare.md").read_text().startswith(gate.MARKER)
        assert json.loads((run / "compare.json").read_text())["old"] == "20261202T144422Z-15c0"
    finally:
        run_bench("db", "stop", env=env)
