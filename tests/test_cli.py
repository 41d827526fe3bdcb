"""The CLI as a user meets it: the embedded server's lifecycle and every bad input,
each answered with one line and a non-zero exit, never a traceback or a password."""

from __future__ import annotations

import json
import socket
import time

import psycopg
import pytest

from tests.conftest import free_port


def assert_one_line_error(done, *, code=1, says: str = "", secret: str | None = None):
    lines = done.stderr.strip().splitlines()
    assert done.returncode == code, (done.returncode, done.stdout, done.stderr)
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("bench: error: "), lines[0]
    assert says.lower() in lines[0].lower(), lines[0]
    assert "Traceback" not in done.stdout + done.stderr
    if secret:
        assert secret not in done.stdout + done.stderr


def test_embedded_server_lifecycle(run_bench, tmp_path):
    env = {"BENCH_PORT": str(free_port()), "BENCH_DATA_DIR": str(tmp_path / "home")}
    try:
        started = run_bench("db", "start", env=env)
        assert started.returncode == 0, started.stderr
        assert "cold start" in started.stdout

        again = run_bench("db", "start", env=env)
        assert again.returncode == 0 and "already running" in again.stdout

        status = run_bench("db", "status", env=env)
        assert status.returncode == 0
        assert "yes (pid" in status.stdout and "PostgreSQL) 18" in status.stdout
        assert str(tmp_path / "home" / "pgdata") in status.stdout

        url = run_bench("db", "url", env=env).stdout.strip()
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()
            preload = conn.execute("SHOW shared_preload_libraries").fetchone()[0]
            assert "pg_stat_statements" in preload

        assert run_bench("db", "stop", env=env).returncode == 0
        stopped = run_bench("db", "status", env=env)
        assert stopped.returncode == 3 and "running   no" in stopped.stdout

        assert_one_line_error(run_bench("db", "stop", env=env), says="no embedded server is running")
    finally:
        run_bench("db", "stop", env=env)


# The plumbing of every step, not its figures: the load test's steps shortened to seconds.
SHORT_LOAD = {"BENCH_LOAD_STEPS": "5,10", "BENCH_LOAD_STEP_SECONDS": "1", "BENCH_LOAD_WARMUP_SECONDS": "0"}
SHORT_RUNS = {"BENCH_LATENCY_ROUNDS": "2", "BENCH_LATENCY_RUNS": "1", "BENCH_LATENCY_REQUESTS": "6",
              "BENCH_LATENCY_WARMUP": "2", "BENCH_LATENCY_SCENARIO_NAMES": "my_projects projects_by_status",
              "BENCH_VECTOR_ROUNDS": "2", "BENCH_VECTOR_QUERIES": "20", "BENCH_VECTOR_FILTERED_QUERIES": "4",
              "BENCH_VECTOR_CLIENTS": "1"}  # bench all's options by environment: plumbing, not figures


@pytest.mark.e2e
@pytest.mark.timeout(660)  # 2.5 min measured alone, 6 on a busy machine; the CLI's 600 s limit fires first
def test_bench_all_warm_starts_a_stopped_server_and_runs_everything(run_bench, tmp_path):
    env = {"BENCH_PORT": str(free_port()), "BENCH_DATA_DIR": str(tmp_path / "home")}
    try:
        assert run_bench("db", "start", env=env).returncode == 0
        assert run_bench("db", "stop", env=env).returncode == 0
        # `bench all` starts the stopped server again (a warm start), seeds, measures, judges.
        everything = run_bench("all", "--scale", "tiny", env={**env, **SHORT_LOAD, **SHORT_RUNS}, timeout=600)
        assert everything.returncode == 0, everything.stderr
        assert "pgvector" in everything.stdout and "shared_buffers" in everything.stdout
        assert f"embedded server started on port {env['BENCH_PORT']}" in everything.stderr
        assert "Verdicts" in everything.stdout and "results: " in everything.stdout
        assert "steps 5,10 users" in everything.stderr  # the load test ran, shortened
        assert "latency: 12/12 batches" in everything.stderr  # BENCH_LATENCY_*: 2 rounds x 6 cells
        (results,) = (tmp_path / "reports").glob("*/results.json")
        seed = json.loads(results.read_text())["seed"]  # the seeding throughput bench compare reads
        assert seed["scale"] == "tiny" and seed["rows_loaded"] > 0 and not seed["kept_from_earlier"]
        assert seed["rows_per_s"] == pytest.approx(seed["rows_loaded"] / seed["load_seconds"], rel=0.01)
    finally:
        run_bench("db", "stop", env=env)


def test_port_in_use_is_refused(run_bench):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = run_bench("db", "start", env={"BENCH_PORT": str(port)})
    assert_one_line_error(done, says=f"port {port}")


def test_data_dir_used_by_something_else_is_refused(run_bench, tmp_path):
    home = tmp_path / "taken"
    (home / "pgdata").mkdir(parents=True)
    (home / "pgdata" / "notes.txt").write_text("not a cluster")
    done = run_bench("db", "start", env={"BENCH_DATA_DIR": str(home), "BENCH_PORT": str(free_port())})
    assert_one_line_error(done, says="not a PostgreSQL cluster")
    assert (home / "pgdata" / "notes.txt").read_text() == "not a cluster"  # nothing lost


@pytest.mark.parametrize("args, says", [(["nope"], "No such command"), (["--bogus", "all"], "No such option"),
                                         (["db", "start", "--now"], "No such option"),
                                         (["--port", "http", "db", "start"], "port must be a number")])
def test_bad_usage_is_one_line(run_bench, args, says):
    done = run_bench(*args)
    assert_one_line_error(done, code=2, says=says)


def test_unreachable_dsn_fails_fast_without_password(run_bench):
    began = time.monotonic()
    done = run_bench("--dsn", f"postgresql://alice:TopSecret42@127.0.0.1:{free_port()}/app", "all")
    assert time.monotonic() - began < 15
    assert_one_line_error(done, says="cannot reach PostgreSQL", secret="TopSecret42")


def test_unknown_host_fails_fast(run_bench):
    done = run_bench("all", env={"BENCH_DSN": "postgresql://alice:TopSecret42@no-such-host.invalid/app"})
    assert_one_line_error(done, says="cannot reach PostgreSQL", secret="TopSecret42")


@pytest.fixture
def password_role(pg_server, db):
    if pg_server.embedded is None:
        pytest.skip("needs the embedded test server's TCP listener with password auth")
    role = "bench_pw_test"
    db.execute(f"DROP ROLE IF EXISTS {role}")
    db.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'Right-Horse-Battery'")
    yield role
    db.execute(f"DROP OWNED BY {role}")
    db.execute(f"DROP ROLE {role}")


def test_wrong_password_is_named_and_masked(run_bench, pg_server, password_role, db_dsn):
    dbname = psycopg.conninfo.conninfo_to_dict(db_dsn)["dbname"]
    dsn = pg_server.embedded.tcp_dsn(dbname, user=password_role, password="Wrong-Staple-99")
    assert_one_line_error(run_bench("--dsn", dsn, "all"), says="authentication failed", secret="Wrong-Staple-99")


def test_right_password_works_and_never_shows(run_bench, pg_server, password_role, db_dsn):
    dbname = psycopg.conninfo.conninfo_to_dict(db_dsn)["dbname"]
    dsn = pg_server.embedded.tcp_dsn(dbname, user=password_role, password="Right-Horse-Battery")
    done = run_bench("--dsn", dsn, "db", "status")
    assert done.returncode == 0, done.stderr
    assert "pgvector 0.8" in done.stdout
    assert "Right-Horse-Battery" not in done.stdout + done.stderr
    masked = run_bench("--dsn", dsn, "db", "url")
    assert "Right-Horse-Battery" not in masked.stdout and "****" in masked.stdout


def test_server_without_pgvector_is_named(run_bench, pg_server, db):
    # A real server state, not a mock: this database sees no extension files at all.
    name = "bench_no_pgvector"
    db.execute(f'DROP DATABASE IF EXISTS "{name}"')
    db.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
    db.execute(f"ALTER DATABASE \"{name}\" SET extension_control_path = '/nonexistent'")
    try:
        done = run_bench("--dsn", pg_server.dsn(name), "all")
        assert_one_line_error(done, says="has no pgvector extension")
        assert "install pgvector" in done.stderr
    finally:
        db.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def test_external_server_commands(run_bench, db_dsn):
    assert_one_line_error(run_bench("--dsn", db_dsn, "db", "start"), says="manages the embedded server")
    status = run_bench("--dsn", db_dsn, "db", "status")
    assert status.returncode == 0 and "pgvector 0.8" in status.stdout
