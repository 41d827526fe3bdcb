"""Requests as Supabase's API makes them: one transaction per request, in which PostgREST
switches to the user's role and publishes the JWT claims that `auth.uid()` reads.

`request_setup()` is the single definition of those statements; `as_user()` runs them
for psycopg (tests, seeding, Locust), and the asyncpg runner executes the same list.
The role switch matters: the harness connects as a superuser, which bypasses RLS, so a
request that skipped `SET LOCAL ROLE` would measure a schema without its security.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from uuid import UUID

import psycopg

from bench.schema import Variant

ANON, AUTHENTICATED, SERVICE = "anon", "authenticated", "service_role"


def claims(user_id: UUID | str | None, role: str) -> str:
    body = {"role": role}
    if user_id is not None:
        body["sub"] = str(user_id)
    return json.dumps(body)


def request_setup(variant: Variant, user_id: UUID | str | None, role: str | None = None) -> list[tuple[str, tuple]]:
    """The statements that open a request on `variant` (run inside its transaction).

    Role: `authenticated` for a signed-in user on an RLS variant, the variant's
    `request_role` otherwise (baseline: the app's backend role with explicit filters).
    """
    role = role or (AUTHENTICATED if variant.rls and user_id is not None else variant.request_role)
    if role == AUTHENTICATED and user_id is None:
        role = ANON
    return [
        (f'SET LOCAL search_path = "{variant.name}", public', ()),
        (f'SET LOCAL ROLE "{role}"', ()),
        ("SELECT set_config('request.jwt.claims', %s, true)", (claims(user_id, role),)),
    ]


@contextmanager
def as_user(conn: psycopg.Connection, variant: Variant, user_id: UUID | str | None, role: str | None = None):
    """A request on `variant` as `user_id` (None: anonymous), in its own transaction."""
    with conn.transaction():
        for sql, params in request_setup(variant, user_id, role):
            conn.execute(sql, params)
        yield conn
