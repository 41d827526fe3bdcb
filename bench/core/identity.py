"""Requests as Supabase's API makes them: one transaction per request, opened by one
statement that switches to the user's role and publishes the JWT claims `auth.uid()`
reads (PostgREST does exactly this with set_config).

`request_setup()` is the single definition of that statement, for every driver: the
asyncpg runner, psycopg (tests, Locust) and EXPLAIN capture. The role switch matters:
the harness connects as a superuser, which bypasses RLS, so a request that skipped it
would measure a schema without its security.
"""

from __future__ import annotations

import json
import re
from contextlib import contextmanager
from dataclasses import dataclass
from uuid import UUID

import psycopg

from bench.core.schema import Variant

ANON, AUTHENTICATED, SERVICE = "anon", "authenticated", "service_role"


@dataclass(frozen=True)
class Setup:
    sql: str  # asyncpg placeholders ($1 ...)
    values: tuple

    @property
    def psycopg_sql(self) -> str:
        return re.sub(r"\$\d+", "%s", self.sql)


def claims(user_id: UUID | str | None, role: str) -> str:
    body = {"role": role}
    if user_id is not None:
        body["sub"] = str(user_id)
    return json.dumps(body)


def request_role(variant: Variant, user_id, role: str | None = None) -> str:
    """`authenticated` for a signed-in user on an RLS variant, `anon` without a user,
    else the variant's app role (baseline: service_role with explicit filters)."""
    role = role or (AUTHENTICATED if variant.rls and user_id is not None else variant.request_role)
    return ANON if role == AUTHENTICATED and user_id is None else role


def request_setup(variant: Variant, user_id: UUID | str | None, role: str | None = None,
                  settings: tuple[tuple[str, str], ...] = ()) -> Setup:
    """The statement that opens a request on `variant` (inside its transaction)."""
    role = request_role(variant, user_id, role)
    values = [f'"{variant.name}", public', role, claims(user_id, role)]
    calls = ["set_config('search_path', $1, true)", "set_config('role', $2, true)",
             "set_config('request.jwt.claims', $3, true)"]
    for name, value in settings:
        values += [name, value]
        calls.append(f"set_config(${len(values) - 1}, ${len(values)}, true)")
    return Setup("SELECT " + ", ".join(calls), tuple(values))


@contextmanager
def as_user(conn: psycopg.Connection, variant: Variant, user_id: UUID | str | None, role: str | None = None):
    """A request on `variant` as `user_id` (None: anonymous), in its own transaction."""
    setup = request_setup(variant, user_id, role)
    with conn.transaction():
        conn.execute(setup.psycopg_sql, setup.values)
        yield conn
