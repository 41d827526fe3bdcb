"""DSN handling: the one place that knows where a password hides in a connection string.

Every DSN shown to a person (terminal, log, report, results.json) goes through `mask()`;
any free text that might echo a DSN (a driver's error message) goes through `redact()`.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, unquote, urlsplit

from psycopg.conninfo import conninfo_to_dict

MASK = "****"

# user:password@ in a URL, and password=... in key/value form or a URL query string.
_URL_PASSWORD = re.compile(r"(?P<head>\w+://[^:/@\s]*:)(?P<pw>[^@\s]*)(?P<tail>@)")
_KV_PASSWORD = re.compile(r"(?P<head>\bpassword\s*=\s*)(?P<pw>'(?:[^'\\]|\\.)*'|[^\s&]+)", re.I)


def mask(dsn: str) -> str:
    """Return `dsn` with any password replaced by ****."""
    masked = _URL_PASSWORD.sub(lambda m: f"{m['head']}{MASK}{m['tail']}", dsn)
    return _KV_PASSWORD.sub(lambda m: f"{m['head']}{MASK}", masked)


def password_of(dsn: str) -> str | None:
    """The password a DSN carries, or None; used only to scrub it from text."""
    if "://" in dsn:
        parts = urlsplit(dsn)
        if parts.password:
            return unquote(parts.password)
        query = dict(parse_qsl(parts.query))
        return query.get("password")
    try:
        return conninfo_to_dict(dsn).get("password")
    except Exception:  # an unparsable DSN: fall back to the regex
        match = _KV_PASSWORD.search(dsn)
        return match["pw"].strip("'") if match else None


def redact(text: str, dsn: str | None) -> str:
    """Remove the DSN's password (and anything password-shaped) from free text."""
    text = mask(text)
    secret = password_of(dsn) if dsn else None
    if secret:
        text = text.replace(secret, MASK)
    return text


def describe(dsn: str) -> str:
    """A short, password-free label for a server: user@host:port/db."""
    try:
        params = conninfo_to_dict(dsn)
    except Exception:
        return mask(dsn)
    host = params.get("host") or "localhost"
    port = params.get("port") or "5432"
    return f"{params.get('user', '')}@{host}:{port}/{params.get('dbname', '')}".lstrip("@")


def asyncpg_kwargs(dsn: str) -> dict:
    """asyncpg takes only URL DSNs; libpq's key=value form (and its aliases) is turned
    into keyword arguments so that every DSN psycopg accepts works for the runner too."""
    params = conninfo_to_dict(dsn)
    kwargs = {"host": params.get("host") or params.get("hostaddr"), "user": params.get("user"),
              "password": params.get("password"), "database": params.get("dbname")}
    if params.get("port"):
        kwargs["port"] = int(params["port"])
    if params.get("sslmode") and params["sslmode"] not in ("disable", "allow", "prefer"):
        kwargs["ssl"] = params["sslmode"]
    if params.get("connect_timeout"):
        kwargs["timeout"] = float(params["connect_timeout"])
    return {k: v for k, v in kwargs.items() if v is not None}
