"""Attacks on a live schema variant: the measuring instrument of the review's security claim.

Each attack is one short function registered with `@attack(id, description, defect)`; the
defect is the review's mistake it probes (numbers refer to the statement table in
schema/README.md). `run_all(conn, variant)` runs every attack against one variant and
returns one `Finding` per attack: `succeeded` is True when the attack worked (a leak, an
escalation, a plaintext secret) or, for kind "functional", when the defect showed.
"not applicable" findings (the variant lacks the object) have `applicable=False`.

What it needs:
- `conn`: a psycopg connection to a database holding the variant with the seeded data
  loaded and its post-data built, as a role that bypasses RLS and may SET ROLE to anon /
  authenticated / service_role (the harness's superuser, like `postgres` on Supabase).
  That role only *picks the actors* (users of two organisations A and B, a viewer, ...)
  and observes outcomes; every attack action runs as an API user through
  `bench.core.identity.as_user`, never as the superuser or the owner, which bypass RLS.
- Every attack runs inside a transaction that is rolled back (`sandbox`), so the database
  is unchanged afterwards, whatever the attack did.
- The storage scan looks for the seeded bearer tokens: read from the plaintext column
  where there is one, otherwise decrypted with BENCH_ENCRYPTION_KEY (the seed's key);
  it always also looks for the token prefix `sk_live_`.

Baseline has no RLS by design (its app filters tenants in SQL as service_role); its
user-level attacks run as the API roles Supabase grants (anon / authenticated), to show
what such a schema exposes through the API, and their evidence says so ("[no RLS] ...").
"""

from __future__ import annotations

import json
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Callable
from uuid import UUID

import psycopg

from bench.core import crypto as secrets
from bench.core import schema as schemas
from bench.core.errors import BenchError
from bench.core.identity import ANON, AUTHENTICATED, as_user
from bench.core.schema import Variant

TOKEN_PREFIX = "sk_live_"
VECTOR_TYPES = ("vector", "halfvec", "sparsevec")
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
    v = _ident(variant)
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
    live = " AND deleted_at IS NULL" if _has_column(conn, variant, "capabilities", "deleted_at") else ""
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
        return text.replace("{v}", _ident(self.variant.name))

    def one(self, text: str, params=()):
        """A scalar read as the superuser (never inside a request)."""
        return self.conn.execute(self.sql(text), params).fetchone()[0]

    def has(self, table: str, column: str | None = None) -> bool:
        if column:
            return _has_column(self.conn, self.variant.name, table, column)
        return self.one("SELECT to_regclass(%s) IS NOT NULL", (f"{_ident(self.variant.name)}.{_ident(table)}",))

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


# ---- helpers ---------------------------------------------------------------------------
def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _variant(variant: Variant | str) -> Variant:
    return variant if isinstance(variant, Variant) else schemas.select([variant])[0]


def _has_column(conn, schema: str, table: str, column: str) -> bool:
    return conn.execute(
        "SELECT EXISTS (SELECT 1 FROM information_schema.columns "
        "WHERE table_schema = %s AND table_name = %s AND column_name = %s)", (schema, table, column)).fetchone()[0]


def _check_bypass(conn) -> None:
    if not conn.execute("SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user").fetchone()[0]:
        raise BenchError("attacks need a connection as a superuser or BYPASSRLS role (it picks the actors)")


def _b_ids(t: Target, table: str) -> list:
    """Ids of org B's rows of `table` (capabilities: those not in the public marketplace)."""
    where = "organization_id = %(b)s"
    if table == "organizations":
        where = "id = %(b)s"
    elif table == "project_members":
        where = "project_id IN (SELECT id FROM {v}.projects WHERE organization_id = %(b)s)"
    elif table == "capabilities":
        live = " AND deleted_at IS NULL" if t.has("capabilities", "deleted_at") else ""
        where += f" AND NOT (status = 'published' AND approval_status = 'approved'{live})"
    rows = t.conn.execute(t.sql(f"SELECT id FROM {{v}}.{_ident(table)} WHERE {where}"), {"b": t.actors.org_b})
    return [r[0] for r in rows.fetchall()]


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
        parts = [f"encode(r.{_ident(c)}, 'escape')" if typ == "bytea" else f"r.{_ident(c)}::text"
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
    v = _ident(schema)
    if _has_column(conn, schema, "mcp_integrations", "authentication"):
        rows = conn.execute(f"SELECT authentication->>'token' FROM {v}.mcp_integrations").fetchall()
        return sorted({r[0] for r in rows if r[0]})
    if not _has_column(conn, schema, "mcp_integrations", "authentication_ciphertext"):
        return []
    tokens = set()
    for row_id, blob in conn.execute(f"SELECT id, authentication_ciphertext FROM {v}.mcp_integrations"):
        try:
            tokens.add(json.loads(secrets.decrypt(bytes(blob), row_id.bytes))["token"])
        except Exception:  # another key: the prefix still catches a plaintext copy
            continue
    return sorted(tokens)


def _summary(counts: dict, limit: int = 4) -> str:
    top = sorted(counts.items(), key=lambda kv: -kv[1])[:limit]
    more = f", +{len(counts) - limit} more" if len(counts) > limit else ""
    return ", ".join(f"{k} {n}" for k, n in top) + more


# ---- cross-tenant reads ---------------------------------------------------------------
READ_TABLES = {
    "organizations": "#1-3: RLS enabled only on users/projects/dashboards",
    "users": "#1 users_own_data",
    "projects": "#2 org_member_access",
    "project_members": "#1-3: no RLS on project_members",
    "dashboards": "#3 project_member_access",
    "datasets": "#1-3: no RLS on datasets",
    "capabilities": "#1-3: no RLS on capabilities (drafts, pending, rejected items)",
    "knowledge_bases": "#1-3: no RLS on knowledge_bases",
    "documents": "#1-3: no RLS on documents",
    "mcp_integrations": "#1-3 and #5: no RLS on mcp_integrations",
    "user_activity_log": "#1-3 and #14: no RLS on user_activity_log",
}


def _cross_tenant_read(t: Target, table: str) -> tuple[bool, str]:
    if not t.has(table):
        raise NotApplicable(f"no {table} table")
    ids = _b_ids(t, table)
    if not ids:
        raise NotApplicable(f"org B has no {table} rows in the data")
    with t.user(t.actors.a_owner) as c:
        r = attempt(c, f"SELECT count(*) FROM {_ident(table)} WHERE id = ANY(%s)", (ids,))
    if r.refused:
        return False, f"refused: {r.why}"
    return r.scalar() > 0, f"owner of org A read {r.scalar()} of {len(ids)} rows of org B"


for _table, _defect in READ_TABLES.items():
    attack(f"cross_tenant_read.{_table}", f"a user of org A reads org B's {_table}", _defect)(
        partial(_cross_tenant_read, table=_table))


@attack("cross_tenant_read.activity_partitions", "a user reads org B's activity from the partitions directly",
        "#14-15: partitions are tables of their own; the parent's policies do not cover them")
def read_partitions(t: Target) -> tuple[bool, str]:
    parts = t.conn.execute(
        "SELECT format('%%I.%%I', n.nspname, c.relname) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE i.inhparent = to_regclass(%s) ORDER BY 1",
        (f"{_ident(t.variant.name)}.user_activity_log",)).fetchall()
    if not parts:
        raise NotApplicable("user_activity_log is not partitioned")
    seen, refused = 0, 0
    with t.user(t.actors.a_owner) as c:
        for (rel,) in parts:
            r = attempt(c, f"SELECT count(*) FROM {rel} WHERE organization_id = %s", (t.actors.org_b,))
            refused += r.refused
            seen += r.scalar() or 0
    return seen > 0, f"read {seen} rows of org B; {refused} of {len(parts)} partitions refused"


# ---- cross-tenant writes ----------------------------------------------------------------
# Leaves first, so that a cascade from a parent does not hide what the child statement did.
WRITE_TABLES = {"documents": "title", "dashboards": "name", "datasets": "name", "mcp_integrations": "name",
                "capabilities": "name", "user_activity_log": "action", "knowledge_bases": "name", "projects": "name"}


def _write_each(t: Target, statement: str) -> tuple[bool, str]:
    changed, blocked = {}, []
    targets = {table: _b_ids(t, table) for table in WRITE_TABLES if t.has(table)}
    with t.user(t.actors.a_owner) as c:
        for table, ids in targets.items():
            sql = statement.format(table=_ident(table), col=_ident(WRITE_TABLES[table]))
            r = attempt(c, sql, (ids,))
            if r.rowcount > 0:
                changed[table] = r.rowcount
            else:
                blocked.append(table)
    if not changed:
        return False, f"0 rows of org B in {len(blocked)} tables"
    rest = f"; 0 in {', '.join(blocked)}" if blocked else ""
    return True, f"changed org B rows: {_summary(changed)}{rest}"


@attack("cross_tenant_update", "the owner of org A updates org B's rows, table by table",
        "#1-3: RLS only on users/projects/dashboards; no write policies elsewhere")
def cross_tenant_update(t: Target) -> tuple[bool, str]:
    return _write_each(t, "UPDATE {table} SET {col} = {col} WHERE id = ANY(%s)")


@attack("cross_tenant_delete", "the owner of org A deletes org B's rows, table by table",
        "#1-3: RLS only on users/projects/dashboards; no write policies elsewhere")
def cross_tenant_delete(t: Target) -> tuple[bool, str]:
    return _write_each(t, "DELETE FROM {table} WHERE id = ANY(%s)")


@attack("cross_tenant_insert", "a user of org A creates a capability in org B's name",
        "#1-3: no RLS on capabilities")
def cross_tenant_insert(t: Target) -> tuple[bool, str]:
    with t.user(t.actors.a_owner) as c:
        r = attempt(c, "INSERT INTO capabilities (organization_id, owner_id, name, category) "
                       "VALUES (%s, %s, 'planted', 'analytics')", (t.actors.org_b, t.actors.a_owner))
    return (False, f"refused: {r.why}") if r.refused else (True, "inserted a capability into org B")


# ---- anonymous -------------------------------------------------------------------------
@attack("anonymous_read", "the anon role (no JWT) reads every API table",
        "#1-3: policies lack TO authenticated; most tables have no RLS at all")
def anonymous_read(t: Target) -> tuple[bool, str]:
    tables = [r[0] for r in t.conn.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relkind IN ('r', 'p') AND NOT c.relispartition ORDER BY 1",
        (t.variant.name,)).fetchall()]
    seen, refused = {}, 0
    with t.user(None, role=ANON) as c:
        for table in tables:
            r = attempt(c, f"SELECT count(*) FROM {_ident(table)}")
            refused += r.refused
            if r.scalar():
                seen[table] = r.scalar()
    if not seen:
        return False, f"0 rows in {len(tables)} tables ({refused} refused)"
    return True, f"anon read {sum(seen.values())} rows from {len(seen)} tables: {_summary(seen, 3)}"


# ---- escalation --------------------------------------------------------------------------
@attack("escalation.org_switch", "a member sets their users.organization_id to org B, then reads B's projects",
        "#1 users_own_data FOR ALL lets a user rewrite organization_id; #2 trusts it")
def org_switch(t: Target) -> tuple[bool, str]:
    me, b = t.actors.a_member, t.actors.org_b
    count = "SELECT count(*) FROM projects WHERE organization_id = %s"
    with t.user(me) as c:
        before = attempt(c, count, (b,)).scalar()
        r = attempt(c, "UPDATE users SET organization_id = %s WHERE id = %s", (b, me))
        if r.refused or r.rowcount != 1:
            return False, f"update refused: {r.why}" if r.refused else "update changed 0 rows"
        after = attempt(c, count, (b,)).scalar()
    return after > 0, f"moved self to org B; B's projects visible before {before}, after {after}"


@attack("escalation.role_promote", "a member promotes themselves to organisation owner",
        "#1 users_own_data FOR ALL has no column or WITH CHECK limits")
def role_promote(t: Target) -> tuple[bool, str]:
    me = t.actors.a_member
    with t.user(me) as c:
        r = attempt(c, "UPDATE users SET role = 'owner' WHERE id = %s", (me,))
        if r.refused:
            return False, f"refused: {r.why}"
    role = t.one("SELECT role FROM {v}.users WHERE id = %s", (me,))
    return role == "owner", f"update changed {r.rowcount} row(s); role now {role!r}"


# ---- functions -------------------------------------------------------------------------
@attack("soft_delete.other_org", "a user of org A archives org B's capability via soft_delete_capability()",
        "#18 SECURITY DEFINER, EXECUTE to PUBLIC, no ownership check")
def soft_delete_other(t: Target) -> tuple[bool, str]:
    if not t.one("SELECT to_regprocedure(%s) IS NOT NULL", (f"{_ident(t.variant.name)}.soft_delete_capability(uuid)",)):
        raise NotApplicable("no soft_delete_capability()")
    cap = t.actors.b_capability
    if cap is None:
        raise NotApplicable("org B has no live capability")
    with t.user(t.actors.a_member) as c:
        r = attempt(c, "SELECT soft_delete_capability(%s)", (cap,))
    status = t.one("SELECT status FROM {v}.capabilities WHERE id = %s", (cap,))
    if r.refused:
        return False, f"refused: {r.why}"
    returned = "" if r.scalar() in (None, "") else f" (returned {r.scalar()!r})"
    return status == "archived", f"call allowed{returned}; B's capability now {status!r}"


@attack("refresh_stats.as_user", "an API user runs refresh_capability_stats() (a full view rebuild)",
        "#24 SECURITY DEFINER, EXECUTE to PUBLIC")
def refresh_as_user(t: Target) -> tuple[bool, str]:
    fn = f"{_ident(t.variant.name)}.refresh_capability_stats()"
    if not t.one("SELECT to_regprocedure(%s) IS NOT NULL", (fn,)):
        raise NotApplicable("no refresh_capability_stats()")
    may = t.one("SELECT has_function_privilege('authenticated', %s, 'EXECUTE')", (fn,))
    with t.user(t.actors.a_member) as c:
        r = attempt(c, "SELECT refresh_capability_stats()")
    if not r.refused:
        return True, "a user refreshed the materialized view"
    grant = "EXECUTE granted to authenticated" if may else "no EXECUTE for authenticated"
    return False, f"{grant}; call failed: {r.why}"


# ---- audit log -----------------------------------------------------------------------------
def _victim_audit_rows(t: Target) -> list:
    """Org B's owner edits B's integrations and a capability (innocent app writes that
    audited tables log); returns the ids of the audit rows this wrote."""
    if not t.has("audit_log"):
        raise NotApplicable("no audit_log")
    b = t.actors.org_b
    with t.user(t.actors.b_owner) as c:
        c.execute("UPDATE mcp_integrations SET name = name WHERE organization_id = %s", (b,))
        c.execute("UPDATE capabilities SET name = name WHERE id = %s", (t.actors.b_capability,))
    ids = [r[0] for r in t.conn.execute(t.sql(
        "SELECT id FROM {v}.audit_log WHERE record_id IN (SELECT id FROM {v}.mcp_integrations WHERE organization_id = %s) "
        "OR record_id = %s"), (b, t.actors.b_capability)).fetchall()]
    if not ids:
        raise NotApplicable("writes to mcp_integrations/capabilities are not audited")
    return ids


@attack("cross_tenant_read.audit_log", "a user of org A reads org B's audit rows",
        "#21 audit_log has no RLS")
def audit_cross_tenant(t: Target) -> tuple[bool, str]:
    ids = _victim_audit_rows(t)
    with t.user(t.actors.a_owner) as c:
        r = attempt(c, "SELECT count(*) FROM audit_log WHERE id = ANY(%s)", (ids,))
    if r.refused:
        return False, f"refused: {r.why}"
    return r.scalar() > 0, f"owner of org A read {r.scalar()} of {len(ids)} audit rows of org B"


@attack("audit.secret_read", "after an integration is edited, a colleague reads its secret in audit_log",
        "#22 audit trigger copies to_jsonb(NEW), the plaintext authentication included")
def audit_secret(t: Target) -> tuple[bool, str]:
    ids = _victim_audit_rows(t)
    needles = known_tokens(t.conn, t.variant.name) + [TOKEN_PREFIX]
    with t.user(t.actors.b_colleague) as c:
        r = attempt(c, "SELECT coalesce(old_values::text, '') || ' ' || coalesce(new_values::text, '') "
                       "FROM audit_log WHERE id = ANY(%s)", (ids,))
    if r.refused:
        return False, f"refused: {r.why}"
    leaking = sum(any(n in text for n in needles) for (text,) in r.rows)
    return leaking > 0, f"colleague read {len(r.rows)} audit rows; {leaking} hold a bearer token"


@attack("audit.tamper", "a user deletes, rewrites or forges audit rows of their organisation",
        "#21 audit_log has no RLS and API roles keep INSERT/UPDATE/DELETE")
def audit_tamper(t: Target) -> tuple[bool, str]:
    ids = _victim_audit_rows(t)
    with t.user(t.actors.b_colleague) as c:
        upd = attempt(c, "UPDATE audit_log SET old_values = NULL WHERE id = ANY(%s)", (ids,))
        dele = attempt(c, "DELETE FROM audit_log WHERE id = ANY(%s)", (ids,))
        ins = attempt(c, "INSERT INTO audit_log (table_name, record_id, operation) VALUES ('projects', %s, 'DELETE')",
                      (uuid.uuid4(),))
    done = {"updated": upd.rowcount, "deleted": dele.rowcount, "forged": ins.rowcount}
    if not any(done.values()):
        return False, f"refused: {dele.why}"
    return True, ", ".join(f"{k} {n}" for k, n in done.items()) + " audit rows"


# ---- storage -------------------------------------------------------------------------------
@attack("storage.plaintext_secret", "the integrations' bearer tokens, as plain text, in any table",
        "#5-6 plaintext authentication kept; #22 audit copies it", kind="storage")
def plaintext_secret(t: Target) -> tuple[bool, str]:
    tokens = known_tokens(t.conn, t.variant.name)
    found = find_text(t.conn, t.variant.name, tokens + [TOKEN_PREFIX])
    if found:
        return True, f"plain text tokens in {_summary(found)} rows"
    return False, f"none of {len(tokens)} known tokens (nor '{TOKEN_PREFIX}') in any table"


# ---- functional ----------------------------------------------------------------------------
@attack("functional.viewer_hidden_dashboards", "a project viewer lists their project's dashboards",
        "#3 project_member_access FOR ALL limited to owner/admin/editor hides dashboards from viewers",
        kind="functional")
def viewer_hidden(t: Target) -> tuple[bool, str]:
    if t.actors.viewer is None:
        raise NotApplicable("no viewer of a project with others' dashboards in the data")
    project = t.actors.viewer_project
    total = t.one("SELECT count(*) FROM {v}.dashboards WHERE project_id = %s", (project,))
    with t.user(t.actors.viewer) as c:
        seen = attempt(c, "SELECT count(*) FROM dashboards WHERE project_id = %s", (project,)).scalar() or 0
    return seen < total, f"viewer sees {seen} of {total} dashboards of their project"


if __name__ == "__main__":  # python -m bench.security.attacks DSN [VARIANT ...]: print the findings table
    import sys

    with psycopg.connect(sys.argv[1], autocommit=True) as _conn:
        print(table([f for name in (sys.argv[2:] or [v.name for v in schemas.variants()])
                     for f in run_all(_conn, name)]))
