"""Exit codes and messages as the README promises: a usage mistake exits 2 with one line
`bench: error: ...` before any server is started or any data is touched; a load run
whose requests fail unexpectedly exits 1 after writing what it measured."""

from __future__ import annotations

import json

import psycopg
import pytest

from bench.core.server import EmbeddedServer
from bench.loadtest.locust import unexpected_failures
from tests.conftest import free_port

pytestmark = pytest.mark.faults  # issue 14's fault-injection suite: `pytest -m faults`

# (arguments, what the line must say). Run against an unreachable server: a check that
# came after connecting would fail there instead, with exit 1.
MISTAKES = [
    (["seed", "--scale", "huge"], "'huge' is not one of"),
    (["seed", "--rows", "documents"], "--rows takes table=N"),
    (["seed", "--rows", "widgets=5"], "unknown table 'widgets'"),
    (["seed", "--rows", "documents=-1"], "whole number"),
    (["seed", "--rows", "organizations=0"], "at least 1"),
    (["seed", "--rows", "project_members=5"], "derived"),
    (["seed", "--anchor", "yesterday"], "--anchor"),
    (["seed", "--workers", "0"], "--workers"),
    (["seed", "--only", "nosuch"], "unknown variant nosuch"),
    (["schema", "apply", "--only", "nosuch"], "unknown variant nosuch"),
    (["schema", "drop"], "--force"),
    (["run", "latency", "--scenario", "nosuch"], "unknown scenario nosuch"),
    (["run", "latency", "--rounds", "0"], "--rounds"),
    (["run", "latency", "--requests", "0"], "--requests"),
    (["run", "overhead", "--seconds", "0"], "--seconds"),
    (["run", "vector", "--config", "nosuch"], "unknown vector config nosuch"),
    (["run", "vector", "--source", "nosuch"], "unknown variant nosuch"),
    (["run", "load", "--only", "nosuch"], "unknown variant nosuch"),
    (["run", "load", "--steps", "10,abc"], "--steps"),
    (["run", "load", "--steps", "0"], "--steps"),
    (["run", "load", "--think", "abc"], "--think"),
    (["run", "load", "--think", "-1"], "got '-1'"),
    (["run", "load", "--step-seconds", "0"], "--step-seconds"),
    (["run", "load", "--step-seconds", "-2"], "--step-seconds"),
    (["run", "load", "--warmup-seconds", "-1"], "--warmup-seconds"),
    (["run", "load", "--pool-timeout", "0"], "--pool-timeout"),
    (["run", "load", "--seed", "abc"], "--seed"),
    (["--port", "abc", "db", "status"], "port must be a number"),
    (["report", "/nonexistent/run"], "does not exist"),
    (["compare", "/nonexistent/a", "/nonexistent/b"], "does not exist"),
]

# Environment variables are options too: the same mistakes, the same exit.
ENV_MISTAKES = [
    ({"BENCH_PORT": "abc"}, ["db", "status"], "BENCH_PORT"),
    ({"BENCH_PORT": "0"}, ["db", "status"], "between 1 and 65535"),
    ({"BENCH_LOAD_STEP_SECONDS": "0"}, ["run", "load"], "BENCH_LOAD_STEP_SECONDS"),
    ({"BENCH_LOAD_THINK": "-1"}, ["run", "load"], "BENCH_LOAD_THINK"),
    ({"BENCH_LATENCY_ROUNDS": "x"}, ["all"], "BENCH_LATENCY_ROUNDS"),  # bench all's options by environment
    ({"BENCH_VECTOR_QUERIES": "3"}, ["all"], "BENCH_VECTOR_QUERIES"),
]

# Mistakes of commands that start the embedded server when it is not running.
BEFORE_ANY_SERVER = [
    ({}, ["all", "--scale", "huge"], "'huge' is not one of"),
    ({}, ["seed", "--scale", "huge"], "'huge' is not one of"),
    ({}, ["seed", "--rows", "documents=x"], "whole number"),
    ({}, ["run", "latency", "--scenario", "nosuch"], "unknown scenario"),
    ({}, ["run", "load", "--step-seconds", "0"], "--step-seconds"),
    ({"BENCH_LOAD_THINK": "-1"}, ["all"], "BENCH_LOAD_THINK"),
]


def assert_usage_error(done, says: str) -> None:
    lines = done.stderr.splitlines()
    assert done.returncode == 2, done.stderr
    assert len(lines) == 1 and lines[0].startswith("bench: error: "), done.stderr
    assert says in lines[0] and "Traceback" not in done.stderr


@pytest.fixture(scope="module")
def dead_dsn() -> str:
    return f"postgresql://nobody@127.0.0.1:{free_port()}/none"  # nothing listens there


@pytest.mark.parametrize("args, says", MISTAKES, ids=[" ".join(a) for a, _ in MISTAKES])
def test_a_bad_option_is_a_one_line_usage_error(run_bench, dead_dsn, args, says):
    assert_usage_error(run_bench(*args, env={"BENCH_DSN": dead_dsn}), says)


@pytest.mark.parametrize("env, args, says", ENV_MISTAKES, ids=[f"{k}={v}" for e, _, _ in ENV_MISTAKES for k, v in e.items()])
def test_a_bad_environment_variable_is_a_usage_error(run_bench, dead_dsn, env, args, says):
    assert_usage_error(run_bench(*args, env={"BENCH_DSN": dead_dsn, **env}), says)


@pytest.mark.parametrize("env, args, says", BEFORE_ANY_SERVER, ids=[" ".join(a) for _, a, _ in BEFORE_ANY_SERVER])
def test_a_usage_error_starts_no_server(run_bench, tmp_path, env, args, says):
    home, port = tmp_path / "home", free_port()
    try:
        done = run_bench(*args, env={"BENCH_DATA_DIR": str(home), "BENCH_PORT": str(port), **env})
    finally:
        if home.exists():  # the check came too late: stop what it started before failing
            EmbeddedServer(home, port).stop()
    assert_usage_error(done, says)
    assert not home.exists(), "the data dir was created: validation came after starting the server"


# ---- a load run whose requests fail ---------------------------------------------------------
def step(variant: str, ok: int, errors: int, timeouts: int = 0, known: int = 0) -> dict:
    return {"variant": variant, "errors": errors, "pool": {"timeouts": timeouts},
            "scenarios": [{"scenario": "s", "ok": ok, "error": errors, "known": known, "leak": 0}]}


def section(*steps: dict) -> dict:
    return {"slo": {"p95_ms": 100.0, "max_failure_ratio": 0.01}, "steps": list(steps)}


def test_failures_at_the_slo_ratio_are_a_fault_and_pool_timeouts_a_capacity_figure():
    quarter = section(step("hardened", ok=300, errors=100), step("hardened", ok=600, errors=0))
    assert unexpected_failures(quarter, {"hardened"}) == [{"variant": "hardened", "failed": 100, "requests": 1000}]
    assert unexpected_failures(section(step("hardened", ok=995, errors=5)), {"hardened"}) == []  # 0.5% < 1%
    overload = section(step("hardened", ok=100, errors=0), step("hardened", ok=500, errors=400, timeouts=400))
    assert unexpected_failures(overload, {"hardened"}) == []
    known = section(step("review", ok=10, errors=0, known=990))  # the variant's declared defect
    assert unexpected_failures(known, {"review"}) == []
    assert unexpected_failures(quarter, {"baseline"}) == []  # only the variants run now


LOAD = ["run", "load", "--only", "hardened", "--workers", "0", "--steps", "4", "--step-seconds", "2",
        "--warmup-seconds", "1", "--think", "0.02-0.05", "--pool-size", "2"]


def test_a_load_run_with_failing_requests_exits_1_after_writing_its_results(run_bench, tiny_dsn, tmp_path):
    with psycopg.connect(tiny_dsn, autocommit=True) as conn:  # a deploy that lost a grant
        conn.execute("REVOKE SELECT ON hardened.documents, hardened.capabilities FROM authenticated")
    done = run_bench(*LOAD, "--out", str(tmp_path / "out"), env={"BENCH_DSN": tiny_dsn}, timeout=180)
    assert done.returncode == 1, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("bench: error:")]
    assert len(errors) == 1 and "requests failed unexpectedly" in errors[0], done.stderr
    [results] = (tmp_path / "out").glob("*/results.json")
    steps = json.loads(results.read_text())["load"]["steps"]
    failed = sum(s["errors"] for s in steps)
    assert failed and f"hardened {failed:,} of" in errors[0]


@pytest.mark.parametrize("variable", ["BENCH_LATENCY_SCENARIO", "BENCH_LATENCY_SCENARIO_NAMES"])
def test_bench_all_options_are_named_after_their_flags_and_their_parameters(monkeypatch, variable):
    """`--scenario` is BENCH_LATENCY_SCENARIO (the flag), and BENCH_LATENCY_SCENARIO_NAMES (its
    parameter) keeps working; a multiple option takes space-separated values."""
    from bench import session as sessions
    from bench.benchmarks import REGISTRY

    monkeypatch.setenv(variable, "documents_by_kb my_projects")
    options = sessions.parse_defaults(REGISTRY["latency"])
    assert [s.name for s in options.scenarios] == ["documents_by_kb", "my_projects"]
