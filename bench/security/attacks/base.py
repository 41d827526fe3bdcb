"""The framework every attack family uses: the registry (`@attack`, `ATTACKS`), the actors,
the `Target` an attack gets, how one statement of the attacking user is tried (`attempt`),
and running attacks inside a rolled-back transaction (`run`, `run_all`)."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable
from uuid import UUID

import psycopg

from bench.core import schema as schemas
from bench.core.errors import BenchError
from bench.core.identity import AUTHENTICATED, as_user
from bench.core.schema import Variant

# SQLSTATEs that mean "the database refused the user": the defence (or a missing object).
# Anything else raised by an attack's SQL is a bug in the attack and propagates.
REFUSALS = ("42501", "42883", "42P01", "55000", "P0001")


@dataclass(frozen=True)
class Finding:
    attack: str
    variant: str
    succeeded: bool
    evidence: str
    applicable: bool = True


@dataclass(frozen=True)
class Attack:
    id: str
    description: str
    defect: str
    kind: str  # "user": done as an API user; "storage": inspection as superuser; "functional"
    run: Callable[["Target"], tuple[bool, str]]


class NotApplicable(Exception):
    """The variant lacks what the attack targets (e.g. baseline has no audit_log)."""


# Every attack, in registration order: the order the families are imported (FAMILIES in
# __init__.py), then the order of the functions in each family file.
ATTACKS: dict[str, Attack] = {}


def attack(id: str, description: str, defect: str, kind: str = "user"):
    def register(fn):
        if id in ATTACKS:
            raise ValueError(f"attack {id!r} registered twice")
        ATTACKS[id] = Attack(id, description, defect, kind, fn)
        return fn

    return register


# ---- actors ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Actors:
    org_a: UUID
    org_b: UUID  # the victim organisation: the one with the most rows to leak
    a_owner: UUID  # org A's owner: the strongest attacker short of the back office
    a_member: UUID  # an ordinary member of org A
    b_owner: UUID  # does innocent writes in org B (they create the audit rows)
    b_colleague: UUID  # another user of org B
    b_capability: UUID | None  # a live capability of org B
    viewer: UUID | None  # a project 'viewer' ...
    viewer_project: UUID | None  # ... of a project with dashboards they do not own


def pick_actors(conn: psycopg.Connection, variant: str) -> Actors:
    v = ident(variant)
    orgs = conn.execute(
        f"""SELECT o.id FROM {v}.organizations o
            ORDER BY (SELECT count(*) > 0 FROM {v}.mcp_integrations m WHERE m.organization_id = o.id) DESC,
                     (SELECT count(*) FROM {v}.projects p WHERE p.organization_id = o.id) DESC, o.id""").fetchall()
    users = {}
    for (org,) in orgs:
        users[org] = conn.execute(
            f"""SELECT id, role FROM {v}.users WHERE organization_id = %s
                ORDER BY CASE role WHEN 'owner' THEN 0 WHEN 'admin' THEN 1 ELSE 2 END, id""", (org,)).fetchall()
    candidates = [o for (o,) in orgs if len(users[o]) >= 2]
    if len(candidates) < 2:
        raise BenchError(f"{variant}: attacks need two organisations with two users each; seed data first")
    org_b, org_a = candidates[0], candidates[1]
    member = next((u for u, r in users[org_a] if r == "member"), users[org_a][-1][0])
    live = " AND deleted_at IS NULL" if has_column(conn, variant, "capabilities", "deleted_at") else ""
    cap = conn.execute(f"SELECT id FROM {v}.capabilities WHERE organization_id = %s AND status <> 'archived'{live} "
                       "ORDER BY id LIMIT 1", (org_b,)).fetchone()
    viewer = conn.execute(
        f"""SELECT pm.user_id, pm.project_id FROM {v}.project_members pm
            JOIN {v}.projects p ON p.id = pm.project_id AND p.owner_id IS DISTINCT FROM pm.user_id
            JOIN {v}.dashboards d ON d.project_id = pm.project_id AND d.owner_id IS DISTINCT FROM pm.user_id
            WHERE pm.role = 'viewer' GROUP BY 1, 2 ORDER BY count(*) DESC, 1, 2 LIMIT 1""").fetchone()
    return Actors(org_a=org_a, org_b=org_b, a_owner=users[org_a][0][0], a_member=member,
                  b_owner=users[org_b][0][0], b_colleague=users[org_b][-1][0],
                  b_capability=cap[0] if cap else None,
                  viewer=viewer[0] if viewer else None, viewer_project=viewer[1] if viewer else None)


# ---- the context an attack runs in ---------------------------------------------------------
@dataclass
class Attempt:
    rows: list | None
    rowcount: int
    error: psycopg.Error | None

    @property
    def refused(self) -> bool:
        return self.error is not None

    @property
    def why(self) -> str:
        e = self.error
        return f"{(e.diag.message_primary or str(e)).strip()[:90]} ({e.sqlstate})" if e else "allowed"

    def scalar(self):
        return self.rows[0][0] if self.rows else None


def attempt(conn: psycopg.Connection, sql: str, params=()) -> Attempt:
    """Run one statement of the attacking user in a savepoint: a refusal is an outcome,
    and leaves the request usable for the next statement."""
    try:
        with conn.transaction():
            cur = conn.execute(sql, params)
            return Attempt(cur.fetchall() if cur.description else None, cur.rowcount, None)
    except psycopg.Error as exc:
        if not (exc.sqlstate in REFUSALS or (exc.sqlstate or "").startswith("23")):
            raise
        return Attempt(None, 0, exc)


@contextmanager
def sandbox(conn: psycopg.Connection):
    """A transaction (or savepoint) that is always rolled back."""
    with conn.transaction(force_rollback=True):
        yield conn


@contextmanager
def request(conn: psycopg.Connection, variant: Variant, user_id, role: str | None = None):
    """An API request (bench.core.identity.as_user) inside a sandbox; afterwards the connection
    is the superuser again (the request's SET LOCALs would outlive its savepoint)."""
    with as_user(conn, variant, user_id, role):
        yield conn
    conn.execute("RESET ROLE")
    conn.execute("SELECT set_config('request.jwt.claims', '', true)")


@dataclass
class Target:
    conn: psycopg.Connection
    variant: Variant
    actors: Actors

    def sql(self, text: str) -> str:
        return text.replace("{v}", ident(self.variant.name))

    def one(self, text: str, params=()):
        """A scalar read as the superuser (never inside a request)."""
        return self.conn.execute(self.sql(text), params).fetchone()[0]

    def has(self, table: str, column: str | None = None) -> bool:
        if column:
            return has_column(self.conn, self.variant.name, table, column)
        return self.one("SELECT to_regclass(%s) IS NOT NULL", (f"{ident(self.variant.name)}.{ident(table)}",))

    def user(self, user_id, role: str = AUTHENTICATED):
        """A request as this user; on baseline too (the API path, not the app's)."""
        return request(self.conn, self.variant, user_id, role)


# ---- running ---------------------------------------------------------------------------
def run(conn: psycopg.Connection, variant: Variant | str, attack_id: str, actors: Actors | None = None) -> Finding:
    v = _variant(variant)
    a = ATTACKS[attack_id]
    _check_bypass(conn)
    actors = actors or pick_actors(conn, v.name)
    with sandbox(conn):
        try:
            succeeded, evidence = a.run(Target(conn, v, actors))
        except NotApplicable as why:
            return Finding(a.id, v.name, False, f"not applicable: {why}", applicable=False)
    if a.kind == "user" and not v.rls:
        evidence = f"[no RLS] {evidence}"
    return Finding(a.id, v.name, bool(succeeded), evidence)


def run_all(conn: psycopg.Connection, variant: Variant | str) -> list[Finding]:
    """Every registered attack against `variant`, in registration order."""
    v = _variant(variant)
    _check_bypass(conn)
    actors = pick_actors(conn, v.name)
    return [run(conn, v, attack_id, actors) for attack_id in ATTACKS]


def table(findings: list[Finding]) -> str:
    """A markdown table: attack x variant -> outcome and evidence."""
    lines = ["| attack | variant | succeeded | evidence |", "| --- | --- | --- | --- |"]
    lines += [f"| {f.attack} | {f.variant} | {'n/a' if not f.applicable else 'YES' if f.succeeded else 'no'} "
              f"| {f.evidence} |" for f in findings]
    return "\n".join(lines)


# ---- helpers the families share ----------------------------------------------------------
def ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def has_column(conn, schema: str, table: str, column: str) -> bool:
    return conn.execute(
        "SELECT EXISTS (SELECT 1 FROM information_schema.columns "
        "WHERE table_schema = %s AND table_name = %s AND column_name = %s)", (schema, table, column)).fetchone()[0]


def summary(counts: dict, limit: int = 4) -> str:
    top = sorted(counts.items(), key=lambda kv: -kv[1])[:limit]
    more = f", +{len(counts) - limit} more" if len(counts) > limit else ""
    return ", ".join(f"{k} {n}" for k, n in top) + more


def _variant(variant: Variant | str) -> Variant:
    return variant if isinstance(variant, Variant) else schemas.select([variant])[0]


def _check_bypass(conn) -> None:
    if not conn.execute("SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user").fetchone()[0]:
        raise BenchError("attacks need a connection as a superuser or BYPASSRLS role (it picks the actors)")
