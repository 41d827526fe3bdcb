"""Test fixtures: a real PostgreSQL with pgvector, never a mock.

By default a throwaway embedded server starts once per test session in a temporary
directory on a free port. With BENCH_DSN set, tests use that server instead (it must let
the DSN's role CREATE DATABASE). Each test that asks for `db` / `db_dsn` gets a fresh
database cloned from a template that already has the extensions.
"""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from bench.core.server import EmbeddedServer

TEMPLATE = "bench_test_template"
CLI_TIMEOUT_S = 120


@dataclass
class TestServer:
    admin_dsn: str  # a DSN of the maintenance database, as superuser
    embedded: EmbeddedServer | None

    def dsn(self, database: str) -> str:
        return make_conninfo(self.admin_dsn, dbname=database)


def interruptible() -> None:
    """preexec_fn for a CLI the test will stop with SIGINT: a shell starts background jobs
    (a CI runner may too) with SIGINT ignored, and children inherit it, so restore the
    default a terminal gives; else the signal would silently do nothing."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def session_temp_root(factory: pytest.TempPathFactory) -> Path:
    """The run's own temporary directory: under pytest-xdist a worker's basetemp is a
    subdirectory of it (`.../pytest-N/popen-gw0`)."""
    base = factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def reachable(path: Path, factory: pytest.TempPathFactory) -> Path:
    """As root the embedded server runs as another user, which must traverse to its data
    dir, and pytest makes its temporary directories 0700. Open `path` and its parents up
    to pytest's own root for traversal (o+x, not read): they are the tests' directories,
    whereas bench itself never widens a parent (it refuses, naming it)."""
    if os.geteuid() != 0:
        return path
    top = session_temp_root(factory).parent  # /tmp/pytest-of-root
    if not path.is_relative_to(top):
        return path
    for directory in [path, *path.parents]:
        directory.chmod(stat.S_IMODE(directory.stat().st_mode) | stat.S_IXOTH)
        if directory == top:
            break
    return path


def without_fsync(admin_dsn: str) -> None:
    """The throwaway test server only: no test is about surviving an OS crash, and with
    fsync on, each clone's checkpoint and each seed's commits wait on the disk (a tiny
    clone took 2-4 s, 0.4 s without)."""
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute("ALTER SYSTEM SET fsync = off")
        conn.execute("SELECT pg_reload_conf()")


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory) -> TestServer:
    if os.environ.get("BENCH_DSN"):
        yield TestServer(admin_dsn=os.environ["BENCH_DSN"], embedded=None)
        return
    server = EmbeddedServer(reachable(tmp_path_factory.mktemp("pg"), tmp_path_factory), free_port())
    server.start()
    try:
        without_fsync(server.dsn("postgres"))
        yield TestServer(admin_dsn=server.dsn("postgres"), embedded=server)
    finally:
        server.stop()


@pytest.fixture(scope="session")
def template_db(pg_server) -> str:
    with psycopg.connect(pg_server.admin_dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{TEMPLATE}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{TEMPLATE}"')
    with psycopg.connect(pg_server.dsn(TEMPLATE), autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    return TEMPLATE


@pytest.fixture
def db_dsn(pg_server, template_db) -> str:
    """A fresh database of its own for one test, dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server.admin_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_db}"')
    yield pg_server.dsn(name)
    with psycopg.connect(pg_server.admin_dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def db(db_dsn):
    with psycopg.connect(db_dsn, autocommit=True) as conn:
        yield conn


@pytest.fixture
def run_bench(tmp_path, tmp_path_factory):
    """Run the real CLI in a subprocess, as a user would; isolated from the user's .bench."""
    reachable(tmp_path, tmp_path_factory)

    def run(*args: str, env: dict | None = None, timeout: float = CLI_TIMEOUT_S) -> subprocess.CompletedProcess:
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("BENCH_")}
        full_env.setdefault("BENCH_DATA_DIR", str(tmp_path / "home"))
        full_env.setdefault("BENCH_REPORTS_DIR", str(tmp_path / "reports"))
        full_env.update(env or {})
        return subprocess.run([sys.executable, "-m", "bench", *args], capture_output=True, text=True,
                              env=full_env, timeout=timeout, cwd=Path(__file__).parent.parent)

    return run


# ---- seeded databases ----------------------------------------------------------------
TEST_KEY = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="  # base64 of 32 test bytes, tests only


def seed_tiny(dsn: str, *, only: list[str] | None = None, workers: int = 1, **overrides):
    """Load the tiny scale (all variants, post-data built) into the database at `dsn`."""
    from rich.console import Console

    from bench.core import database
    from bench.core import schema as schemas
    from seed.config import make_config
    from seed.run import seed_database

    rows = overrides.pop("rows", ())
    config = make_config("tiny", rows, anchor="2026-11-01", **overrides)
    with database.connect(dsn) as conn:
        return seed_database(conn, dsn, schemas.select(only), config, workers=workers, resume=False,
                             console=Console(quiet=True), data_path=None)


@pytest.fixture(autouse=True)
def _encryption_key(monkeypatch):
    """A fixed key, so seeded ciphertext is reproducible and tests can decrypt it."""
    from bench.core import crypto as secrets

    monkeypatch.setenv(secrets.KEY_ENV, TEST_KEY)
    secrets.key.cache_clear()
    yield
    secrets.key.cache_clear()


TINY_TEMPLATE = "bench_tiny_template"


def clone(pg_server: TestServer, template: str, name: str | None = None) -> str:
    """A new database copied from `template` (a file copy: far faster than seeding again)."""
    name = name or f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server.admin_dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}" STRATEGY FILE_COPY')
    return name


def drop(pg_server: TestServer, name: str) -> None:
    with psycopg.connect(pg_server.admin_dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def tiny_template(pg_server, template_db) -> str:
    """The tiny dataset in every variant, seeded once per session into a template that no
    test connects to: tests get copies (`tiny_dsn`, `shared_tiny_dsn`)."""
    from bench.core import crypto as secrets

    clone(pg_server, template_db, TINY_TEMPLATE)
    old = os.environ.get(secrets.KEY_ENV)
    os.environ[secrets.KEY_ENV] = TEST_KEY
    secrets.key.cache_clear()
    try:
        seed_tiny(pg_server.dsn(TINY_TEMPLATE))
    finally:
        if old is None:
            os.environ.pop(secrets.KEY_ENV, None)
        else:
            os.environ[secrets.KEY_ENV] = old
        secrets.key.cache_clear()
    yield TINY_TEMPLATE
    drop(pg_server, TINY_TEMPLATE)


@pytest.fixture
def tiny_dsn(pg_server, tiny_template):
    """A database of its own holding the tiny dataset in every variant (may be modified)."""
    name = clone(pg_server, tiny_template)
    yield pg_server.dsn(name)
    drop(pg_server, name)


@pytest.fixture(scope="session")
def shared_tiny_dsn(pg_server, tiny_template):
    """One tiny dataset for read-only tests (do not modify it: use `tiny_dsn` for that)."""
    name = clone(pg_server, tiny_template, "bench_shared_tiny")
    yield pg_server.dsn(name)
    drop(pg_server, name)


@pytest.fixture
def no_leftovers():
    """After the test: no process we started (Locust, pgbouncer) may still run (ended here if one does)."""
    import psutil

    before = {p.pid for p in psutil.Process().children(recursive=True)}
    yield
    left = [p for p in psutil.Process().children(recursive=True) if p.pid not in before]
    for p in left:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    assert not left, f"processes left running: {[(p.pid, p.name()) for p in left]}"
