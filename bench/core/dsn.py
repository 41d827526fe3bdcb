"""DSN handling: the one place that knows where a password hides in a connection string.

Every DSN shown to a person (terminal, log, report, results.json) goes through `mask()`;
any free text that might echo a DSN (a driver's error message) goes through `redact()`.
Both find the password by parsing the DSN the way libpq does (libpq is the authority:
every result is checked against psycopg's `conninfo_to_dict`), never by searching text.
A DSN libpq rejects is never echoed: `mask()` shows only its scheme.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote, quote_plus, unquote

from psycopg.conninfo import conninfo_to_dict

MASK = "****"
_LABEL = "<unparsable DSN"
UNPARSABLE = _LABEL + ">"
URI_PREFIXES = ("postgresql://", "postgres://")  # libpq compares them case-sensitively
_SPACE = " \t\n\r\f\v"  # C isspace(), what libpq splits key=value pairs on
# libpq and psycopg quote a token they echo; the token itself may hold quotes, so hide
# all from a line's first quote to its last.
_QUOTED = re.compile(r"[\"'].*[\"']")
# Defence in depth for DSNs other than the one given (e.g. echoed by a subprocess).
_URL_USERINFO = re.compile(r"(\w+://[^\s:/@]*:)\S*@")
_KV_PASSWORD = re.compile(r"(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'?|\S+)", re.I)


@dataclass(frozen=True)
class _Value:
    key: str
    value: str  # as libpq reads it: unquoted, unescaped, percent-decoded
    start: int  # where the raw text of the value sits in the DSN
    end: int


def parse(dsn: str) -> dict | None:
    """libpq's reading of `dsn` (keyword -> value), or None when libpq rejects it."""
    try:
        return conninfo_to_dict(dsn)
    except Exception:  # psycopg raises ProgrammingError, but any failure means "unparsable"
        return None


def mask(dsn: str) -> str:
    """Return `dsn` with its password replaced by ****, or a safe label if it cannot be
    parsed. The result holds the password neither as libpq reads it nor as the writer
    meant it when an unencoded '@' or '/' in a URL makes libpq read something else."""
    if dsn.startswith(URI_PREFIXES):
        masked = _mask_uri(dsn, allow_guess=True)
    else:
        masked = _mask_kv(dsn)
    return masked if _is_safe(masked) else _label(dsn)


def redact(text: str, *sources: str | None) -> str:
    """Remove the password of each DSN in `sources`, in every form it could take, from
    free text such as a driver's error message."""
    sources = [d for d in sources if d]
    for dsn in sources:
        text = text.replace(dsn, mask(dsn))
        if parse(dsn) is None or _ambiguous_uri(dsn):  # libpq echoes fragments of such DSNs, quoted
            text = _QUOTED.sub(f'"{MASK}"', text)
    secrets = sorted(set().union(*map(_secrets, sources)), key=len, reverse=True)
    # What mask() and describe() show is safe: keep it whole, or a short password would
    # scrub "<unparsable DSN>" into "<un****rsable DSN>".
    shown = sorted({f(d) for d in sources for f in (mask, describe)} - {""}, key=len, reverse=True)
    parts = re.split("(" + "|".join(map(re.escape, shown)) + ")", text) if shown else [text]
    text = "".join(part if part in shown else _scrub(part, secrets) for part in parts)
    text = _URL_USERINFO.sub(lambda m: f"{m[1]}{MASK}@", text)
    return _KV_PASSWORD.sub(lambda m: f"{m[1]}{MASK}", text)


def _scrub(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, MASK)
    return text


def hint(dsn: str) -> str:
    """Advice for a URL whose password libpq reads wrongly or not at all."""
    if dsn.startswith(URI_PREFIXES) and (parse(dsn) is None or _ambiguous_uri(dsn)):
        return " (percent-encode the special characters of a password in a URL: @ / : ? # % & space)"
    return ""


def describe(dsn: str) -> str:
    """A short, password-free label for a server: user@host:port/db."""
    params = parse(mask(dsn))
    if params is None:
        return mask(dsn)
    host = params.get("host") or "localhost"
    port = params.get("port") or "5432"
    return f"{params.get('user', '')}@{host}:{port}/{params.get('dbname', '')}".lstrip("@")


# ---- URI form: postgresql://[user[:password]@][hosts][/dbname][?key=value&...] ----------
def _prefix(dsn: str) -> int:
    return next(len(p) for p in URI_PREFIXES if dsn.startswith(p))


def _userinfo_end(dsn: str) -> int | None:
    """Index of the '@' ending the userinfo, as libpq finds it: the first '@' or '/'
    after the scheme, if it is an '@'."""
    i = _prefix(dsn)
    while i < len(dsn) and dsn[i] not in "@/":
        i += 1
    return i if i < len(dsn) and dsn[i] == "@" else None


def _ambiguous_uri(dsn: str) -> bool:
    """An '@' past libpq's userinfo: most likely a password with an unencoded '@' or '/',
    which libpq spreads over host, port, dbname and query."""
    return dsn.startswith(URI_PREFIXES) and bool(_stray_ats(dsn))


def _stray_ats(dsn: str) -> list[int]:
    """Where an '@' sits past libpq's userinfo, outside a `password=` value libpq read."""
    end = _userinfo_end(dsn)
    read = [(v.start, v.end) for v in _uri_values(dsn) if v.key == "password"]
    return [i for i in range(_prefix(dsn) if end is None else end + 1, len(dsn))
            if dsn[i] == "@" and not any(start <= i < stop for start, stop in read)]


def _uri_values(dsn: str) -> list[_Value]:
    """The userinfo password and every query parameter, with their raw spans."""
    values = []
    end = _userinfo_end(dsn)
    if end is not None and ":" in dsn[_prefix(dsn):end]:
        start = dsn.index(":", _prefix(dsn)) + 1
        values.append(_Value("password", unquote(dsn[start:end]), start, end))
    query = dsn.find("?", _prefix(dsn) if end is None else end)
    pos = query + 1
    for piece in dsn[pos:].split("&") if query >= 0 else []:
        key, sep, value = piece.partition("=")
        if sep:
            values.append(_Value(unquote(key), unquote(value), pos + len(key) + 1, pos + len(piece)))
        pos += len(piece) + 1
    return values


def _mask_uri(dsn: str, *, allow_guess: bool) -> str:
    if parse(dsn) is None:
        return _label(dsn)
    if _ambiguous_uri(dsn):
        return _mask_uri(_guessed_uri(dsn), allow_guess=False) if allow_guess else _label(dsn)
    return _replace(dsn, [v for v in _uri_values(dsn) if v.key == "password"])


def _guessed_uri(dsn: str) -> str:
    """What the writer meant: userinfo up to the last stray '@', the user before its
    first ':'. Everything between them (the password, whatever it holds) becomes ****."""
    at = _stray_ats(dsn)[-1]
    head, tail = dsn[_prefix(dsn):at], dsn[at + 1:]
    user, colon, _password = head.partition(":")
    return f"{dsn[:_prefix(dsn)]}{quote(user, safe='%')}{colon and ':' + MASK}@{tail}"


def _guessed_password(dsn: str) -> str | None:
    """The password as written if libpq misreads it (else None): up to the last stray '@'."""
    ats = _stray_ats(dsn) if parse(dsn) is not None else [dsn.rfind("@")]
    head = dsn[_prefix(dsn):max(ats)] if ats and max(ats) >= _prefix(dsn) else ""
    return head.partition(":")[2] or None


# ---- key=value form ---------------------------------------------------------------------
def _kv_values(dsn: str) -> tuple[list[_Value], bool]:
    """libpq's conninfo_parse: `key = value`, the value bare (ends at whitespace) or in
    single quotes, backslash escaping the next character in both. Returns the pairs read
    and whether the whole string was read."""
    values, i = [], 0
    while True:
        i = _skip_space(dsn, i)
        if i == len(dsn):
            return values, True
        key_start = i
        while i < len(dsn) and dsn[i] != "=" and dsn[i] not in _SPACE:
            i += 1
        key, i = dsn[key_start:i], _skip_space(dsn, i)
        if i == len(dsn) or dsn[i] != "=":
            return values, False
        start = i = _skip_space(dsn, i + 1)
        value, i, ok = _kv_value(dsn, i)
        if not ok:
            return values, False
        values.append(_Value(key, value, start, i))


def _kv_value(dsn: str, i: int) -> tuple[str, int, bool]:
    quoted = i < len(dsn) and dsn[i] == "'"
    i += quoted
    chars = []
    while i < len(dsn):
        if dsn[i] == "\\":
            chars.append(dsn[i + 1:i + 2])
            i += 2
        elif quoted and dsn[i] == "'":
            return "".join(chars), i + 1, True
        elif not quoted and dsn[i] in _SPACE:
            return "".join(chars), i, True
        else:
            chars.append(dsn[i])
            i += 1
    return "".join(chars), min(i, len(dsn)), not quoted


def _skip_space(dsn: str, i: int) -> int:
    while i < len(dsn) and dsn[i] in _SPACE:
        i += 1
    return i


def _mask_kv(dsn: str) -> str:
    params = parse(dsn)
    values, complete = _kv_values(dsn)
    if params is None or not complete or _last(values, "password") != params.get("password"):
        return _label(dsn)  # libpq disagrees with our reading: show nothing
    # A dbname holding a whole DSN is expanded by some libpq entry points: mask it too.
    nested = [v for v in values if v.key == "dbname" and ("=" in v.value or v.value.startswith(URI_PREFIXES))]
    return _replace(dsn, [v for v in values if v.key == "password"], nested)


def _last(values: list[_Value], key: str) -> str | None:
    found = [v.value for v in values if v.key == key]
    return found[-1] if found else None


# ---- shared -------------------------------------------------------------------------------
def _replace(dsn: str, secrets: list[_Value], nested: list[_Value] = ()) -> str:
    """Replace each non-empty secret value's raw span by ****, each nested DSN by its mask."""
    spans = [(v.start, v.end, MASK) for v in secrets if v.end > v.start]
    spans += [(v.start, v.end, _kv_quote(mask(v.value))) for v in nested]
    for start, end, text in sorted(spans, reverse=True):
        dsn = dsn[:start] + text + dsn[end:]
    return dsn


def _kv_quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _is_safe(masked: str) -> bool:
    """libpq must read no password but **** in what we show."""
    if masked.startswith(_LABEL):
        return True
    params = parse(masked)
    return params is not None and params.get("password") in (None, MASK)


def _label(dsn: str) -> str:
    """What is shown of a DSN libpq rejects: its scheme at most, since a password with
    stray quotes, spaces or '%' may have landed anywhere."""
    scheme = next((p for p in URI_PREFIXES if dsn.startswith(p)), None)
    return f"{_LABEL}: {scheme}{MASK}>" if scheme else UNPARSABLE


def _secrets(dsn: str) -> set[str]:
    """Every string that is, or may be, the DSN's password, in every form it may be echoed."""
    if dsn.startswith(URI_PREFIXES):
        values = [v for v in _uri_values(dsn) if v.key == "password"]
        guessed = _guessed_password(dsn)
        extra = [guessed, unquote(guessed)] if guessed else []
    else:
        values, extra = [v for v in _kv_values(dsn)[0] if v.key == "password"], []
    raw = [dsn[v.start:v.end] for v in values] + [v.value for v in values] + extra
    params = parse(dsn) or {}
    raw += [params["password"]] if params.get("password") else []
    forms = {form for s in raw for form in (s, quote(s, safe=""), quote(s), quote_plus(s), _kv_quote(s))}
    return {s for s in forms if s and s not in (MASK, "''")}


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
