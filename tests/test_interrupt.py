"""Keeping what was measured when a run stops early (issue 14): `bench run latency` as a
real subprocess against the throwaway server, stopped after its first complete round by
SIGINT, SIGTERM or pg_terminate_backend of its connections. Each stop must exit with its
own code and one line, leave the completed rounds in results.json marked interrupted,
and make `bench report` fail unless --allow-interrupted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psycopg
import pytest

from bench.core import schema as schemas
from bench.judge import results, verdicts
from bench.security import section as security
from tests.conftest import interruptible

pytestmark = pytest.mark.faults  # issue 14's fault-injection suite: `pytest -m faults`

ROOT = Path(__file__).parent.parent
ROUNDS, REQUESTS = 6, 10
POLL_S, WAIT_S = 0.05, 90


@pytest.fixture(scope="module")
def own_tiny(pg_server, shared_tiny_dsn):
    """A copy of the shared tiny dataset in a database of this module's own, so that
    terminating every backend on it touches only the runner of the test doing it."""
    name = f"t_int_{uuid.uuid4().hex[:10]}"
    source = psycopg.conninfo.conninfo_to_dict(shared_tiny_dsn)["dbname"]
    with psycopg.connect(pg_server.admin_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{source}"')
    yield pg_server.dsn(name)
    with psycopg.connect(pg_server.admin_dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def start_latency(dsn: str, out: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BENCH_")}
    env["BENCH_DATA_DIR"] = str(out / "home")
    return subprocess.Popen([sys.executable, "-m", "bench", "--dsn", dsn, "run", "latency", "--rounds", str(ROUNDS),
                             "--requests", str(REQUESTS), "--warmup", "2", "--concurrency", "2", "--out", str(out / "reports")],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=interruptible)


def wait_for_a_round(proc: subprocess.Popen, out: Path) -> Path:
    """The run dir once its results.json holds at least one complete latency round."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        for file in (out / "reports").glob("*/results.json"):
            mark = (json.loads(file.read_text()).get("latency") or {}).get("interrupted") or {}
            if mark.get("rounds_completed", 0) >= 1:
                return file.parent
        time.sleep(POLL_S)
    proc.kill()
    raise AssertionError(f"no complete round within {WAIT_S} s: {proc.communicate()}")


def finish(proc: subprocess.Popen) -> tuple[int, list[str]]:
    _, stderr = proc.communicate(timeout=60)
    return proc.returncode, stderr


def bench_lines(stderr: str) -> list[str]:
    """stderr without the progress lines (`latency: 41/246 batches`), blank lines kept."""
    return [line for line in stderr.splitlines() if not line.startswith("latency: ")]


def assert_partial(run_dir: Path, reason: str) -> dict:
    section = results.load(run_dir)["latency"]
    mark = section["interrupted"]
    assert mark["reason"].startswith(reason), mark
    assert mark["rounds_planned"] == ROUNDS and 1 <= mark["rounds_completed"] < ROUNDS, mark
    measured = [c for c in section["results"] if c.get("applicable") and not c.get("expected_failure")]
    assert measured and all(len(c["round_medians_ms"]) == mark["rounds_completed"] for c in measured)
    assert all(c["latency"]["count"] == REQUESTS * mark["rounds_completed"] for c in measured)
    return section


def stop_by_signal(dsn: str, tmp_path: Path, sig: int) -> tuple[int, str, Path]:
    proc = start_latency(dsn, tmp_path)
    run_dir = wait_for_a_round(proc, tmp_path)
    proc.send_signal(sig)
    code, stderr = finish(proc)
    return code, stderr, run_dir


@pytest.fixture(scope="module")
def sigint_run(own_tiny, tmp_path_factory) -> tuple[int, str, Path]:
    """One run stopped by SIGINT after its first round (its checks and its report's)."""
    return stop_by_signal(own_tiny, tmp_path_factory.mktemp("sigint"), signal.SIGINT)


@pytest.mark.timeout(180)
def test_sigint_keeps_completed_rounds(sigint_run):
    code, stderr, run_dir = sigint_run
    assert code == 130, stderr
    assert bench_lines(stderr) == [f"bench: interrupted (SIGINT); partial results in {run_dir / 'results.json'}"]
    assert "Traceback" not in stderr
    section = assert_partial(run_dir, "SIGINT")
    kept = section["interrupted"]["rounds_completed"]
    for v in section["verdicts"]:  # fewer rounds than planned: the verdicts say so, and claim no more
        assert f"only {kept} of {ROUNDS} rounds (run interrupted)" in v["note"], v
        if kept < verdicts.targets()["min_rounds"]:
            assert v["verdict"] in (verdicts.INCONCLUSIVE, verdicts.NOT_MEASURED), v


@pytest.mark.timeout(180)
def test_sigterm_is_handled_like_sigint(own_tiny, tmp_path):
    code, stderr, run_dir = stop_by_signal(own_tiny, tmp_path, signal.SIGTERM)
    assert code == 143, stderr
    assert bench_lines(stderr) == [f"bench: interrupted (SIGTERM); partial results in {run_dir / 'results.json'}"]
    assert "Traceback" not in stderr
    assert_partial(run_dir, "SIGTERM")


@pytest.mark.timeout(180)
def test_terminated_backends_end_the_run_with_one_line(own_tiny, tmp_path):
    proc = start_latency(own_tiny, tmp_path)
    run_dir = wait_for_a_round(proc, tmp_path)
    dbname = psycopg.conninfo.conninfo_to_dict(own_tiny)["dbname"]
    with psycopg.connect(own_tiny, autocommit=True) as conn:
        killed = conn.execute("SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
                              "WHERE datname = %s AND pid <> pg_backend_pid()", (dbname,)).fetchone()[0]
    assert killed >= 2  # the runner's connections (and its admin connection)
    code, stderr = finish(proc)
    assert code == 1, stderr
    lines = bench_lines(stderr)
    assert len(lines) == 1, "\n".join(lines)
    (line,) = lines
    assert line.startswith("bench: error: lost the connection to the server after "), line
    assert line.endswith(f" of {ROUNDS} rounds; partial results in {run_dir / 'results.json'}"), line
    assert "Traceback" not in stderr
    assert_partial(run_dir, "server connection lost: ")


@pytest.mark.timeout(240)
def test_report_of_an_interrupted_run_fails_unless_allowed(sigint_run, run_bench):
    run_dir = sigint_run[2]
    done = run_bench("report", str(run_dir))
    assert done.returncode == 1, done.stderr
    (line,) = bench_lines(done.stderr)
    assert line.startswith("bench: error: the run was interrupted: latency (SIGINT, ") and "--allow-interrupted" in line
    assert "report.html" in done.stdout  # written before the exit
    summary = (run_dir / "summary.md").read_text()
    head = "\n".join(summary.splitlines()[:4])
    assert "Interrupted" in head and "latency" in head and "SIGINT" in head and f"of {ROUNDS} rounds" in head, head
    page = (run_dir / "report.html").read_text()
    assert page.index('id="interrupted"') < page.index('id="verdicts"')  # on the first screen, before verdicts
    assert "SIGINT" in page[page.index('id="interrupted"'):page.index('id="verdicts"')]
    allowed = run_bench("report", "--allow-interrupted", str(run_dir))
    assert allowed.returncode == 0, allowed.stderr
    assert results.load(run_dir)["latency"]["interrupted"]["reason"] == "SIGINT"  # the report never edits results


@pytest.mark.timeout(120)
def test_security_keeps_the_variants_attacked_before_a_stop(shared_tiny_dsn):
    """In process: the progress note after the second variant raises KeyboardInterrupt,
    as Ctrl+C there would; what was saved holds the first variant only, judged alone."""
    saved, notes = [], []

    def note(message):
        notes.append(message)
        if len(notes) == 2:
            raise KeyboardInterrupt

    with psycopg.connect(shared_tiny_dsn, autocommit=True) as conn, pytest.raises(KeyboardInterrupt):
        security.section(conn, schemas.variants(), note=note, save=saved.append)
    last = saved[-1]
    first = schemas.variants()[0].name
    assert last["interrupted"] == {"reason": "SIGINT", "variants_completed": 1,
                                   "variants_planned": len(schemas.variants())}
    assert last["findings"] and {f["variant"] for f in last["findings"]} == {first}
    assert {v["variant"] for v in last["verdicts"]} <= {first}  # no verdict on a variant not attacked


def test_every_kind_of_interruption_is_named_first_in_the_summary():
    """Pure: the marks of latency and security, and load's own status of a stopped variant;
    a complete run (the golden one) has none."""
    from bench.report import data as report_data
    from bench.report import summary
    from tests.report_support import GOLDEN

    data = {"latency": {"results": [], "interrupted": {"reason": "SIGTERM", "rounds_completed": 2,
                                                       "rounds_planned": 6}},
            "security": {"findings": [], "interrupted": {"reason": "SIGINT", "variants_completed": 1,
                                                         "variants_planned": 3}},
            "load": {"runs": [{"variant": "baseline", "status": "completed"},
                              {"variant": "hardened", "status": "interrupted"}]}}
    assert [(i["section"], i["reason"], i["kept"]) for i in report_data.interruptions(data)] == [
        ("latency", "SIGTERM", "2 of 6 rounds"), ("security", "SIGINT", "1 of 3 variants"),
        ("load", "interrupted", "1 of 2 variants complete")]
    banner = summary.markdown(data).splitlines()[2]
    assert banner.startswith("> ⚠️ **Interrupted run**: latency stopped (SIGTERM) after 2 of 6 rounds"), banner
    assert "security stopped (SIGINT) after 1 of 3 variants" in banner and "load stopped" in banner
    assert report_data.interruptions(json.loads(GOLDEN.read_text())) == []
