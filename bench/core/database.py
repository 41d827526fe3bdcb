"""Connecting to the server under test and checking it can run the benchmark.

`connect(dsn)` is the one way the harness opens an administrative connection: it fails
within CONNECT_TIMEOUT_S with a one-line BenchError that names the fault (unreachable,
wrong password, missing database, missing pgvector) and never contains the password.
Needs: PostgreSQL >= MIN_SERVER, the `vector` extension >= MIN_PGVECTOR available;
`pg_stat_statements` is used when the server preloads it.
"""

from __future__ import annotations

import psycopg

from bench.core import dsn as dsns
from bench.core.errors import BenchError

CONNECT_TIMEOUT_S = 5
MIN_SERVER = 150000  # server_version_num
MIN_PGVECTOR = (0, 8, 0)  # iterative index scans, halfvec, binary quantization
PGVECTOR_HELP = (
    "install pgvector >= 0.8 on that server (Debian/Ubuntu: postgresql-NN-pgvector from "
    "apt.postgresql.org; Supabase/RDS: enable the `vector` extension), or unset BENCH_DSN "
    "to use the embedded server, which ships it"
)


def connect(dsn: str, **kwargs) -> psycopg.Connection:
    """Open an autocommit connection, turning driver faults into one-line BenchErrors."""
    try:
        return psycopg.connect(dsn, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S, **kwargs)
    except psycopg.OperationalError as exc:
        raise BenchError(_explain_connect_failure(dsn, exc) + dsns.hint(dsn)) from None
    except (psycopg.ProgrammingError, UnicodeDecodeError) as exc:  # a DSN psycopg cannot parse
        reason = dsns.redact(_first_line(exc), dsn)
        if isinstance(exc, UnicodeDecodeError):  # psycopg's own message quotes codec names
            reason = "a value is not UTF-8 once percent-decoded"
        raise BenchError(f"invalid DSN {dsns.mask(dsn)}: {reason}{dsns.hint(dsn)}") from None


def check_server(conn: psycopg.Connection, dsn: str) -> dict:
    """Check version and pgvector; create the extensions we need. Returns versions."""
    where = dsns.describe(dsn)
    server_num = int(conn.execute("SHOW server_version_num").fetchone()[0])
    server = conn.execute("SHOW server_version").fetchone()[0]
    if server_num < MIN_SERVER:
        raise BenchError(f"{where} runs PostgreSQL {server}; the harness needs 15 or newer")
    row = conn.execute(
        "SELECT default_version, installed_version FROM pg_available_extensions WHERE name = 'vector'"
    ).fetchone()
    if row is None:
        raise BenchError(f"{where} (PostgreSQL {server}) has no pgvector extension; {PGVECTOR_HELP}")
    if row[1] is None:
        try:
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        except psycopg.Error as exc:
            raise BenchError(f"pgvector is available on {where} but cannot be created: {_first_line(exc)}") from None
    pgvector = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()[0]
    if _version_tuple(pgvector) < MIN_PGVECTOR:
        raise BenchError(f"{where} has pgvector {pgvector}; the harness needs 0.8 or newer: {PGVECTOR_HELP}")
    stat_statements = _ensure_pg_stat_statements(conn)
    return {"server": server, "server_version_num": server_num, "pgvector": pgvector,
            "pg_stat_statements": stat_statements}


def _ensure_pg_stat_statements(conn: psycopg.Connection) -> bool:
    """Create pg_stat_statements if we may and report whether it works. Probed by use,
    not by SHOW shared_preload_libraries, which ordinary roles may not read."""
    try:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        conn.execute("SELECT 1 FROM pg_stat_statements LIMIT 0")
    except psycopg.Error:
        return False
    return True


def _explain_connect_failure(dsn: str, exc: psycopg.OperationalError) -> str:
    where = dsns.describe(dsn)
    text = str(exc)
    sqlstate = getattr(exc, "sqlstate", None)
    if sqlstate == "28P01" or "password authentication failed" in text:
        return f"authentication failed at {where}: wrong user or password in the DSN"
    if sqlstate == "3D000" or "does not exist" in text and "database" in text:
        return f"database missing at {where}: {dsns.redact(_reason(text), dsn)}"
    if "timeout" in text.lower():
        return f"cannot reach PostgreSQL at {where}: no answer within {CONNECT_TIMEOUT_S} s"
    return f"cannot reach PostgreSQL at {where}: {dsns.redact(_reason(text), dsn)}"


def _reason(text: str) -> str:
    """libpq's messages are 'connection to server at ... failed: REASON'; keep REASON."""
    line = _first_line(text)
    return line.rsplit("failed: ", 1)[-1] if "failed: " in line else line


def _first_line(exc) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def _version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split(".") if part.isdigit())
