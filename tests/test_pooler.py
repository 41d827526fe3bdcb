"""PgBouncer in front of the real test server (bench/core/pooler.py) and `bench run load
--pooler`, for real: a real pgbouncer process (Debian's package), the real PostgreSQL of
conftest, real Locust. A test that needs pgbouncer skips only where the binary is absent
(CI installs it: .ci/run).

The identity test: many concurrent clients with distinct identities share a pool of 2
server connections in transaction mode; every request reports who the server thinks it
is and which organisations' rows it sees, and every bare statement between requests
reports the connection's own identity. With the harness's transaction-local identity
(bench.core.identity) no request ever sees another's; the negative control sets the same
identity at session level and the same check catches the leak.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import threading
from collections import defaultdict
from pathlib import Path

import psutil
import psycopg
import pytest

from bench import session as sessions
from bench.core import config, identity, pooler
from bench.core import dsn as dsns
from bench.core.errors import BenchError
from bench.core import schema as schemas
from bench.judge import results
from bench.loadtest import options as load_options
from bench.loadtest.benchmark import LOAD, LoadOptions
from tests.conftest import clone, drop

needs_pgbouncer = pytest.mark.skipif(pooler.binary() is None,
                                     reason="pgbouncer is not installed (apt-get install pgbouncer; CI installs it)")
SUPERUSER_ROLES = ("postgres",)


def test_pooler_without_pgbouncer_says_how_to_install_it_before_any_server_starts(run_bench, tmp_path):
    done = run_bench("run", "load", "--pooler", env={"BENCH_PGBOUNCER": str(tmp_path / "no-pgbouncer")})
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "apt-get install pgbouncer" in lines[0], done.stderr
    assert not (tmp_path / "home").exists()  # no embedded server was started (not even initdb)


def test_pooler_and_pooler_dsn_are_one_or_the_other(run_bench):
    done = run_bench("run", "load", "--pooler", "--pooler-dsn", "postgresql://u:secretpw@127.0.0.1:6543/db")
    assert done.returncode == 2 and "give one of them" in done.stderr
    assert "secretpw" not in done.stdout + done.stderr


# ---- identity through transaction pooling ---------------------------------------------------
PROBE = ("SELECT current_user, current_setting('request.jwt.claims', true), auth.uid(), pg_backend_pid(), "
         "(SELECT array_agg(DISTINCT organization_id::text) FROM projects), "
         "(SELECT array_agg(DISTINCT organization_id::text) FROM users)")
BARE = "SELECT current_user, current_setting('request.jwt.claims', true), pg_backend_pid()"


def session_level(setup: identity.Setup) -> identity.Setup:
    """The negative control: the same identity set for the whole session (is_local false)."""
    return identity.Setup(setup.sql.replace(", true)", ", false)"), setup.values)


def observe(dsn: str, users: list[tuple[str, str]], rounds: int, setup_of) -> list[dict]:
    """Each user on a connection of its own, concurrently: `rounds` times a request in a
    transaction (identity from setup_of, then PROBE) and a bare statement outside it."""
    variant = schemas.select(["hardened"])[0]
    seen, errors, start = [], [], threading.Barrier(len(users))

    def client(user_id: str, org_id: str) -> None:
        try:
            with psycopg.connect(dsn, autocommit=True, prepare_threshold=None) as conn:
                start.wait(timeout=30)
                for i in range(rounds):
                    setup = setup_of(identity.request_setup(variant, user_id))
                    with conn.transaction():
                        conn.execute(setup.psycopg_sql, setup.values)
                        row = conn.execute(PROBE).fetchone()
                    seen.append({"kind": "request", "user": user_id, "org": org_id, "round": i, "role": row[0],
                                 "claims": row[1], "uid": str(row[2]), "pid": row[3], "project_orgs": row[4] or [],
                                 "user_orgs": row[5] or []})
                    role, claims, pid = conn.execute(BARE).fetchone()
                    seen.append({"kind": "bare", "user": user_id, "round": i, "role": role, "claims": claims,
                                 "pid": pid})
        except Exception as exc:  # noqa: BLE001 - reported by the test, not swallowed
            errors.append(f"{user_id}: {type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=client, args=u) for u in users]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors[:3]
    return seen


def leaks(seen: list[dict]) -> list[dict]:
    """Every observation that shows an identity other than the sender's own."""
    out = []
    for s in seen:
        if s["kind"] == "request":
            claims = json.loads(s["claims"] or "{}")
            if (s["role"] != identity.AUTHENTICATED or claims.get("sub") != s["user"] or s["uid"] != s["user"]
                    or set(s["project_orgs"]) - {s["org"]} or set(s["user_orgs"]) != {s["org"]}):
                out.append(s)
        elif s["role"] not in SUPERUSER_ROLES or s["claims"] not in (None, ""):
            out.append(s)  # a bare statement must run as the connecting role, with no claims
    return out


def distinct_users(dsn: str, n: int) -> list[tuple[str, str]]:
    """n users of n different organisations (so a borrowed identity shows in the rows too)."""
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT DISTINCT ON (organization_id) id::text, organization_id::text "
                            "FROM hardened.users ORDER BY organization_id, id LIMIT %s", (n,)).fetchall()
    assert len(rows) == n, f"the tiny dataset has {len(rows)} organisations, the test wants {n}"
    return rows


@needs_pgbouncer
@pytest.mark.timeout(180)
def test_no_request_sees_another_users_identity_through_a_pool_of_two_server_connections(
        shared_tiny_dsn, tmp_path, no_leftovers):
    users = distinct_users(shared_tiny_dsn, 8)
    with pooler.PgBouncer(shared_tiny_dsn, tmp_path, name="isolation", pool_size=2) as bouncer:
        seen = observe(bouncer.dsn, users, 25, lambda setup: setup)
        negative = observe(bouncer.dsn, users, 25, session_level)  # same pooler, same clients, SET without LOCAL
    requests = [s for s in seen if s["kind"] == "request"]
    assert len(requests) == 8 * 25 and len(seen) == 2 * 8 * 25
    # the server connections really were shared among identities, so isolation was tested
    pids = {s["pid"] for s in seen}
    assert len(pids) <= 2, pids
    users_per_pid = defaultdict(set)
    for s in requests:
        users_per_pid[s["pid"]].add(s["user"])
    assert max(len(u) for u in users_per_pid.values()) >= 4, users_per_pid
    # rows were really seen under each identity (an empty view would check nothing)
    assert all(s["user_orgs"] == [s["org"]] for s in requests)
    assert leaks(seen) == []
    # the negative control: the same check catches a session-level identity leaking
    # through a reused server connection into other clients' statements
    caught = leaks(negative)
    assert caught, "a session-level SET through a transaction pooler must leak; the check missed it"
    assert any(s["kind"] == "bare" and s["role"] == identity.AUTHENTICATED for s in caught)
    assert any(s["kind"] == "bare" and s["claims"] and json.loads(s["claims"]).get("sub") != s["user"]
               for s in caught)


@needs_pgbouncer
@pytest.mark.timeout(60)
def test_the_auth_file_is_private_and_gone_after_stop_and_no_password_is_written_elsewhere(
        shared_tiny_dsn, tmp_path, no_leftovers):
    bouncer = pooler.PgBouncer(shared_tiny_dsn, tmp_path / "record", name="files", pool_size=1)
    with bouncer:
        password = psycopg.conninfo.conninfo_to_dict(bouncer.dsn)["password"]
        auth = bouncer.private / "users.txt"
        assert stat.S_IMODE(auth.stat().st_mode) == 0o600 and stat.S_IMODE(bouncer.private.stat().st_mode) == 0o700
        assert password in auth.read_text()
        assert bouncer.lost() is None
        with psycopg.connect(bouncer.dsn, autocommit=True, prepare_threshold=None) as conn:
            assert conn.execute("SELECT current_user").fetchone() == ("postgres",)
        record = bouncer.record()
    assert not bouncer.private.exists()
    assert record["pool_mode"] == "transaction" and record["pool_size"] == 1 and "****" in record["target"]
    written = [p for p in (tmp_path / "record").iterdir()]
    assert {p.name for p in written} == {"files.pgbouncer.ini", "files.pgbouncer.log"}
    for path in written:
        assert password not in path.read_text(), path
    assert password not in json.dumps(record)
    config_text = (tmp_path / "record" / "files.pgbouncer.ini").read_text()
    assert "pool_mode = transaction" in config_text and "default_pool_size = 1" in config_text
    assert "LOG process up" in (tmp_path / "record" / "files.pgbouncer.log").read_text()


@needs_pgbouncer
@pytest.mark.timeout(60)
def test_a_server_password_goes_only_to_the_auth_file(pg_server, shared_tiny_dsn, tmp_path, no_leftovers):
    """A DSN with a password (a role that must prove it): PgBouncer logs in with it, and it
    appears in no file the harness keeps, nor in what is shown."""
    secret = "pooler-S3cret-pw"
    with psycopg.connect(shared_tiny_dsn, autocommit=True) as conn:
        conn.execute("DROP ROLE IF EXISTS bench_pooler_test")
        conn.execute(f"CREATE ROLE bench_pooler_test LOGIN PASSWORD '{secret}'")
    try:
        params = psycopg.conninfo.conninfo_to_dict(shared_tiny_dsn)
        target = psycopg.conninfo.make_conninfo("", host="127.0.0.1", port=params["port"], dbname=params["dbname"],
                                                user="bench_pooler_test", password=secret)
        with pooler.PgBouncer(target, tmp_path, name="pw", pool_size=1) as bouncer:
            with psycopg.connect(bouncer.dsn, autocommit=True, prepare_threshold=None) as conn:
                assert conn.execute("SELECT current_user").fetchone()[0] == "bench_pooler_test"
            shown = bouncer.masked + json.dumps(bouncer.record())
        assert secret not in shown and dsns.MASK in shown
        for path in tmp_path.iterdir():
            assert secret not in path.read_text(), path
    finally:
        with psycopg.connect(shared_tiny_dsn, autocommit=True) as conn:
            conn.execute("DROP ROLE IF EXISTS bench_pooler_test")


# ---- bench run load --pooler ------------------------------------------------------------------
@pytest.fixture
def pooled_load_dsn(pg_server, tiny_template):
    """A copy of the tiny dataset of its own: the load writes (rolled back)."""
    name = clone(pg_server, tiny_template)
    yield pg_server.dsn(name)
    drop(pg_server, name)


@needs_pgbouncer
@pytest.mark.e2e  # about a minute: two Locust runs
@pytest.mark.timeout(300)
def test_load_direct_and_pooled_side_by_side_and_a_killed_pooler_fails_the_run(
        pooled_load_dsn, tmp_path, monkeypatch, no_leftovers):
    """`bench run load --pooler --only hardened`: the direct run as before, then the same
    steps through a PgBouncer of its own, which is SIGKILLed after the pooled run's first
    step: the next step's requests fail and are counted, what was measured is written,
    and the run is a problem (exit 1)."""
    passwords, privates, killed = [], [], []
    real_start = pooler.PgBouncer.start

    def start(self):  # remember the generated password, to look for it everywhere afterwards
        out = real_start(self)
        passwords.append(psycopg.conninfo.conninfo_to_dict(self.dsn)["password"])
        privates.append(self.private)
        return out
    monkeypatch.setattr(pooler.PgBouncer, "start", start)

    def observer(event, launch, done):
        bouncers = [p for p in psutil.Process().children() if p.name() == "pgbouncer"]
        if event == "step" and bouncers and not killed:  # the pooled run only: the direct one has none
            os.kill(bouncers[0].pid, signal.SIGKILL)
            killed.append(bouncers[0].pid)

    values = load_options.resolve({"bench_steps": "6,12", "bench_start_users": "1",
                                   "bench_step_seconds": "2", "bench_warmup_seconds": "1",
                                   "bench_step_requests": "30", "bench_step_max_seconds": "5", "bench_step_extend_seconds": "0",
                                   "bench_think": "0.05-0.1", "bench_pool_size": "3", "bench_pool_timeout": "2"})
    session = sessions.Session.start(config.resolve(dsn=pooled_load_dsn))
    options = LoadOptions(values, pooler=True, observer=observer)
    section, run = sessions.measure(session, LOAD, options, ["hardened"], str(tmp_path))
    problems = LOAD.problems(section, run.file)

    assert killed and passwords
    # the direct path: where and as it always was, with the verdicts
    (direct,) = section["runs"]
    assert direct["path"] == "direct" and direct["status"] == "completed", direct["events"]
    assert [s["users"] for s in section["steps"]] == [6, 12] and "hardened" in section["capacity"]
    assert "path" not in section["steps"][0] and section["verdicts"]
    # the pooled path: same shape, under "pooled"
    pooled = section["pooled"]
    (through,) = pooled["runs"]
    assert through["path"] == "pooled" and through["status"] == "pooler lost", through["events"]
    assert any(e["event"] == "pooler lost" and "signal 9" in e["detail"] for e in through["events"])
    assert through["pooler"]["kind"] == "pgbouncer" and through["pooler"]["pool_mode"] == "transaction"
    assert through["pooler"]["pool_size"] == 3  # auto: what the direct path's one process pools
    first, *rest = pooled["steps"]
    assert first["users"] == 6 and first["requests"] > 0 and first["failures"] == 0 and first["path"] == "pooled"
    assert rest and rest[0]["failures"] > 0 and not rest[0]["judgement"]["held"]  # failed requests, counted
    assert "verdicts" not in pooled
    (row,) = section["paths"]
    assert row["variant"] == "hardened" and row["direct"]["users"] == section["capacity"]["hardened"]["users"]
    assert row["pooled"] == {k: pooled["capacity"]["hardened"][k] for k in row["pooled"]}
    assert any("pooler lost" in line for line in problems)  # the CLI exits 1
    # written: results.json has both paths; PgBouncer's config and log are kept
    stored = results.load(run.directory)["load"]
    assert stored["pooled"]["runs"][0]["status"] == "pooler lost" and stored["paths"] == section["paths"]
    assert (run.directory / "pooler" / "hardened.pgbouncer.log").exists()
    assert (run.directory / "locust" / "pooled" / "hardened.steps.json").exists()
    # the password of the pooler's DSN appears in nothing the harness wrote
    for path in Path(run.directory).rglob("*"):
        if path.is_file():
            assert passwords[0] not in path.read_text(errors="replace"), path
    assert not [p for p in psutil.Process().children() if p.name() == "pgbouncer"]
    assert not privates[0].exists()  # the auth file went with its private directory


@needs_pgbouncer
@pytest.mark.timeout(60)
def test_a_pgbouncer_that_cannot_start_is_named_with_its_cause_and_cleaned_up(tmp_path, no_leftovers):
    """A real start failure (PgBouncer rejects a setting taken from the DSN): one error
    naming PgBouncer's own reason and its log; no process and no auth file left."""
    bouncer = pooler.PgBouncer("host=/tmp port=5432 dbname=bench user=postgres sslmode=bogus", tmp_path,
                               name="broken", pool_size=1)
    with pytest.raises(BenchError) as failed:
        bouncer.start()
    assert "PgBouncer exited at start" in str(failed.value) and "bogus" in str(failed.value)
    assert str(bouncer.log) in str(failed.value)
    assert not bouncer.private.exists() and bouncer.popen.poll() is not None and bouncer.lost() is None
