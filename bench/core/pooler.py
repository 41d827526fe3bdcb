"""PgBouncer in front of the server under test (Debian's `pgbouncer` package), started and
stopped by the harness like the embedded server, for `bench run load --pooler`.

What it needs: the `pgbouncer` binary on PATH or in /usr/sbin, or named by BENCH_PGBOUNCER
(`apt-get install pgbouncer`; `require()` says so in one line otherwise) and a DSN of the server it fronts (the embedded
server's unix socket, or any host). PgBouncer refuses to run as root: as root it runs as
the embedded server's system user (bench.core.server.SYSTEM_USER).

One pooler = one pgbouncer process on its own free port on 127.0.0.1, in transaction
mode (a server connection is lent for one transaction, then back in the pool), with
`pool_size` server connections for the database. Files:

    <private temp dir, 0700>/pgbouncer.ini   its configuration (no password)
    <private temp dir, 0700>/users.txt      the auth file, 0600: the one file that holds a
                                            password; removed with the directory on stop()
    <record dir>/<name>.pgbouncer.ini       a copy of the configuration, for the record
    <record dir>/<name>.pgbouncer.log       its log (stdout/stderr)

Clients authenticate to PgBouncer with SCRAM using the password of the server's DSN, or,
when the DSN has none (the embedded server trusts its superuser locally), a random one made
here; PgBouncer logs in to the server with the same password (or none where the server
trusts it). `dsn` (holds that password) is for the processes that connect through the
pooler, passed in their environment; `masked` is what is shown or recorded.

Transaction mode and session state: `server_reset_query` (DISCARD ALL) runs only when a
server connection leaves a session-mode pool (`server_reset_query_always = 0`, PgBouncer's
default); in transaction mode nothing resets a server connection between two clients'
transactions, so a request's identity must be transaction-local (SET LOCAL /
set_config(..., true), as bench.core.identity does): tests/test_pooler.py proves it, and
that a session-level SET would leak. PgBouncer 1.18 (Debian 12) does not carry
protocol-level prepared statements across server connections: clients must not prepare
(psycopg: prepare_threshold=None).
"""

from __future__ import annotations

import getpass
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from bench.core import dsn as dsns
from bench.core.errors import BenchError, UsageError

INSTALL_HINT = ("--pooler needs PgBouncer, which is not installed: `sudo apt-get install pgbouncer` "
                "(Debian/Ubuntu; see README.md), or give your own pooler with --pooler-dsn")
SEARCH_DIRS = ("/usr/sbin", "/usr/local/sbin", "/usr/bin", "/usr/local/bin")  # Debian puts it in /usr/sbin
POOL_MODE = "transaction"
MAX_CLIENT_CONN = 1000  # client connections PgBouncer accepts (each needs a file descriptor)
START_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 5.0


def binary() -> str | None:
    """The pgbouncer executable (BENCH_PGBOUNCER names another one), or None when it is
    not installed."""
    given = os.environ.get("BENCH_PGBOUNCER")
    if given:
        return given if Path(given).is_file() and os.access(given, os.X_OK) else None
    found = shutil.which("pgbouncer")
    if found:
        return found
    for folder in SEARCH_DIRS:
        path = Path(folder) / "pgbouncer"
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
    return None


def require() -> str:
    """The pgbouncer executable; a UsageError (one line, exit 2) saying how to install it."""
    found = binary()
    if found is None:
        raise UsageError(INSTALL_HINT)
    return found


def version(executable: str | None = None) -> str | None:
    executable = executable or binary()
    if executable is None:
        return None
    out = subprocess.run([executable, "--version"], capture_output=True, text=True, check=False)
    match = re.search(r"PgBouncer\s+(\S+)", out.stdout + out.stderr)
    return match.group(1) if match else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _quote(value: str) -> str:
    """A value in the auth file: double-quoted, a double quote doubled."""
    return '"' + value.replace('"', '""') + '"'


def _conn_value(value: str) -> str:
    """A libpq-style value in a [databases] line: single-quoted, quotes and backslashes escaped."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class PgBouncer:
    """A pgbouncer process of the harness: `start()`, `dsn` for clients, `lost()` while
    it should run, `stop()` (also as a context manager), `record()` for results.json."""

    def __init__(self, server_dsn: str, record_dir: Path, *, name: str = "pooler", pool_size: int = 10,
                 max_client_conn: int = MAX_CLIENT_CONN, cpus: list[int] | None = None) -> None:
        if pool_size < 1:
            raise UsageError(f"the pooler's pool size must be >= 1, got {pool_size}")
        self.executable = require()
        self.server_dsn = server_dsn
        self.record_dir = Path(record_dir)
        self.name = name
        self.pool_size = pool_size
        self.max_client_conn = max_client_conn
        self.cpus = cpus
        self.port: int | None = None
        self.popen: subprocess.Popen | None = None
        self.private: Path | None = None
        self.run_as = self._run_as()
        self._target = self._server_target(server_dsn)
        self._password = self._target.pop("password") or secrets.token_urlsafe(24)
        self.dsn: str | None = None  # holds the password: for clients' environments only
        self.started_at: float | None = None
        self.stopping = False

    # ---- files ------------------------------------------------------------------------
    @staticmethod
    def _run_as() -> str | None:
        if os.geteuid() != 0:
            return None
        from bench.core.server import SYSTEM_USER, _package_utils

        _package_utils().ensure_user_exists(SYSTEM_USER)
        return SYSTEM_USER

    @staticmethod
    def _server_target(server_dsn: str) -> dict:
        params = dsns.parse(server_dsn)
        if params is None:
            raise BenchError(f"the pooler cannot read the server's DSN {dsns.mask(server_dsn)}{dsns.hint(server_dsn)}")
        host = params.get("host") or params.get("hostaddr") or os.environ.get("PGHOST")
        if not host or "," in host:
            raise BenchError(f"the pooler needs the one host of the server in its DSN ({dsns.mask(server_dsn)})")
        user = params.get("user") or os.environ.get("PGUSER") or getpass.getuser()
        dbname = params.get("dbname") or user
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", dbname):  # a key of PgBouncer's [databases] is never quoted
            raise BenchError(f"the pooler fronts databases named with letters, digits, _ . - only, not {dbname!r}")
        return {"host": host, "port": params.get("port") or os.environ.get("PGPORT") or "5432",
                "dbname": dbname, "user": user,
                "sslmode": params.get("sslmode"), "password": params.get("password") or os.environ.get("PGPASSWORD")}

    def config_text(self) -> str:
        t = self._target
        server = f"host={_conn_value(t['host'])} port={t['port']} dbname={_conn_value(t['dbname'])}"
        lines = [
            "; written by bench (bench/core/pooler.py) for one run; no password here (see the auth file)",
            "[databases]",
            f"{t['dbname']} = {server}",
            "",
            "[pgbouncer]",
            "listen_addr = 127.0.0.1",
            f"listen_port = {self.port}",
            "unix_socket_dir =",
            "auth_type = scram-sha-256",
            f"auth_file = {self.private / 'users.txt'}",
            f"pool_mode = {POOL_MODE}",
            f"default_pool_size = {self.pool_size}",
            "min_pool_size = 0",
            "reserve_pool_size = 0",
            f"max_db_connections = {self.pool_size}",
            f"max_client_conn = {self.max_client_conn}",
            # transaction mode: nothing resets a server connection between two clients'
            # transactions (DISCARD ALL runs in session mode only); identity must be SET LOCAL
            "server_reset_query = DISCARD ALL",
            "server_reset_query_always = 0",
            "ignore_startup_parameters = extra_float_digits",
            "server_login_retry = 1",
            "query_wait_timeout = 120",
            "stats_period = 10",
        ]
        if t.get("sslmode"):
            lines.append(f"server_tls_sslmode = {t['sslmode']}")
        return "\n".join(lines) + "\n"

    def _write_private(self) -> None:
        self.private = Path(tempfile.mkdtemp(prefix="bench-pooler-"))  # 0700
        owner = None
        if self.run_as:
            import pwd

            pw = pwd.getpwnam(self.run_as)
            owner = (pw.pw_uid, pw.pw_gid)
            os.chown(self.private, *owner)
        auth = self.private / "users.txt"
        fd = os.open(auth, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(f"{_quote(self._target['user'])} {_quote(self._password)}\n")
        config = self.private / "pgbouncer.ini"
        fd = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(self.config_text())
        if owner:
            os.chown(auth, *owner)
            os.chown(config, *owner)

    @property
    def config_copy(self) -> Path:
        return self.record_dir / f"{self.name}.pgbouncer.ini"

    @property
    def log(self) -> Path:
        return self.record_dir / f"{self.name}.pgbouncer.log"

    # ---- lifecycle --------------------------------------------------------------------
    def start(self) -> PgBouncer:
        from psycopg.conninfo import make_conninfo

        self.record_dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self._write_private()
        self.config_copy.write_text(self.config_text())
        identity = {"user": self.run_as, "group": self.run_as, "extra_groups": []} if self.run_as else {}
        with self.log.open("w") as out:
            self.popen = subprocess.Popen([self.executable, str(self.private / "pgbouncer.ini")], stdout=out,
                                          stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd="/",
                                          start_new_session=True, **identity)
        self.dsn = make_conninfo("", host="127.0.0.1", port=self.port, dbname=self._target["dbname"],
                                 user=self._target["user"], password=self._password)
        try:
            if self.cpus:
                from bench.core import cpus as placement

                placement.pin(self.popen.pid, self.cpus)
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        self.started_at = time.time()
        return self

    def _wait_ready(self) -> None:
        """Until a client gets through to the server (one query through the pooler)."""
        import psycopg

        deadline = time.monotonic() + START_TIMEOUT_S
        last = "no answer"
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                raise BenchError(f"PgBouncer exited at start (code {self.popen.returncode}): {self._last_log_line()} "
                                 f"(log: {self.log})")
            try:
                with psycopg.connect(self.dsn, autocommit=True, connect_timeout=3, prepare_threshold=None) as conn:
                    conn.execute("SELECT 1")
                return
            except psycopg.Error as exc:
                last = dsns.redact(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__,
                                   self.dsn, self.server_dsn)
                time.sleep(0.1)
        raise BenchError(f"PgBouncer did not let a client through to {dsns.describe(self.server_dsn)} within "
                         f"{START_TIMEOUT_S:g} s: {last} (log: {self.log})")

    def _last_log_line(self) -> str:
        try:
            lines = [line for line in self.log.read_text().splitlines() if line.strip()]
        except OSError:
            lines = []
        errors = [line for line in lines if " ERROR " in line]  # the cause; FATAL only says it stopped
        picked = errors[-1] if errors else (lines[-1] if lines else None)
        return dsns.redact(picked, self.dsn, self.server_dsn) if picked else "no output"

    def lost(self) -> str | None:
        """None while the process runs; else what happened to it (for a run's events)."""
        if self.popen is None or self.stopping or self.popen.poll() is None:
            return None
        code = self.popen.returncode
        how = f"killed by signal {-code}" if code < 0 else f"exited with code {code}"
        return f"PgBouncer (pid {self.popen.pid}) {how}"

    def stop(self) -> None:
        """End the process (SIGTERM, SIGKILL after STOP_TIMEOUT_S) and remove the private
        directory with the auth file. Safe to call twice."""
        self.stopping = True
        if self.popen is not None and self.popen.poll() is None:
            try:
                os.killpg(self.popen.pid, signal.SIGTERM)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                self.popen.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.popen.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
                self.popen.wait(timeout=STOP_TIMEOUT_S)
        if self.private is not None:
            shutil.rmtree(self.private, ignore_errors=True)

    def __enter__(self) -> PgBouncer:
        return self if self.popen is not None else self.start()

    def __exit__(self, *_exc) -> None:
        self.stop()

    @property
    def masked(self) -> str:
        return dsns.mask(self.dsn) if self.dsn else ""

    def record(self) -> dict:
        """What results.json says about this pooler (no password)."""
        return {"kind": "pgbouncer", "managed": True, "version": version(self.executable), "pool_mode": POOL_MODE,
                "pool_size": self.pool_size, "max_client_conn": self.max_client_conn,
                "server_reset_query": "DISCARD ALL (session mode only: server_reset_query_always = 0)",
                "prepared_statements": "off in clients (PgBouncer 1.18 does not track them in transaction mode)",
                "target": self.masked, "server": dsns.describe(self.server_dsn), "cpus": self.cpus,
                "pid": self.popen.pid if self.popen else None, "run_as": self.run_as,
                "config": self.config_copy.name, "log": self.log.name}
