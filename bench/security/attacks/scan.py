"""The text scanner: where the seeded bearer tokens show up in plain text (any table, or the
rows an attacker reads). Used by the storage and audit families, and by tests/test_security.py."""

from __future__ import annotations

import json

import psycopg

from bench.core import crypto as secrets
from bench.security.attacks.base import has_column, ident

TOKEN_PREFIX = "sk_live_"
VECTOR_TYPES = ("vector", "halfvec", "sparsevec")


def find_text(conn: psycopg.Connection, schema: str, needles: list[str], tables: list[str] | None = None) -> dict:
    """{table: rows whose text holds any needle}, over every table (partitions and
    materialized views included) of `schema`, as the connection's role. Columns are read
    as text (bytea as its escaped bytes); vector columns are skipped (numbers only)."""
    rels = conn.execute(
        """SELECT c.relname, format('%%I.%%I', n.nspname, c.relname) FROM pg_class c
           JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = %s AND c.relkind IN ('r', 'm') ORDER BY 1""", (schema,)).fetchall()
    needles = minimal_needles(needles)
    found = {}
    for name, rel in rels:
        if tables is not None and name not in tables:
            continue
        cols = conn.execute(
            """SELECT a.attname, t.typname FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
               WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum""",
            (rel,)).fetchall()
        parts = [f"encode(r.{ident(c)}, 'escape')" if typ == "bytea" else f"r.{ident(c)}::text"
                 for c, typ in cols if typ not in VECTOR_TYPES]
        if not parts:
            continue
        n = conn.execute(
            f"""SELECT count(*) FROM (SELECT concat_ws(' ', {', '.join(parts)}) AS doc FROM {rel} r) s
                WHERE EXISTS (SELECT 1 FROM unnest(%s::text[]) AS x(needle) WHERE strpos(s.doc, x.needle) > 0)""",
            (list(needles),)).fetchone()[0]
        if n:
            found[name] = n
    return found


def minimal_needles(needles) -> list[str]:
    """The needles a "holds any of them" test needs: a needle that contains another one
    matches only where that one does. The token scan looks for hundreds of tokens that all
    start with `sk_live_`; scanning for the prefix alone finds the same rows, and a row
    costs one strpos instead of hundreds (the scan took ~3.5 min a variant at small scale)."""
    kept: list[str] = []
    for needle in sorted(set(needles), key=len):
        if needle and not any(k in needle for k in kept):
            kept.append(needle)
    return kept


def known_tokens(conn: psycopg.Connection, schema: str) -> list[str]:
    """The bearer tokens of mcp_integrations: plaintext where stored so, else decrypted."""
    v = ident(schema)
    if has_column(conn, schema, "mcp_integrations", "authentication"):
        rows = conn.execute(f"SELECT authentication->>'token' FROM {v}.mcp_integrations").fetchall()
        return sorted({r[0] for r in rows if r[0]})
    if not has_column(conn, schema, "mcp_integrations", "authentication_ciphertext"):
        return []
    tokens = set()
    for row_id, blob in conn.execute(f"SELECT id, authentication_ciphertext FROM {v}.mcp_integrations"):
        try:
            tokens.add(json.loads(secrets.decrypt(bytes(blob), row_id.bytes))["token"])
        except Exception:  # another key: the prefix still catches a plaintext copy
            continue
    return sorted(tokens)
