"""Tenant isolation: a user of org A (or anon, with no JWT) reads, changes, deletes or
creates org B's rows, table by table: what RLS must stop."""

from __future__ import annotations

from functools import partial

from bench.core.identity import ANON
from bench.security.attacks.base import NotApplicable, Target, attack, attempt, ident, summary

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
    rows = t.conn.execute(t.sql(f"SELECT id FROM {{v}}.{ident(table)} WHERE {where} ORDER BY id"),
                          {"b": t.actors.org_b})
    return [r[0] for r in rows.fetchall()]


def _cross_tenant_read(t: Target, table: str) -> tuple[bool, str]:
    if not t.has(table):
        raise NotApplicable(f"no {table} table")
    ids = _b_ids(t, table)
    if not ids:
        raise NotApplicable(f"org B has no {table} rows in the data")
    with t.user(t.actors.a_owner) as c:
        r = attempt(c, f"SELECT count(*) FROM {ident(table)} WHERE id = ANY(%s)", (ids,))
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
        (f"{ident(t.variant.name)}.user_activity_log",)).fetchall()
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


WRITE_SAMPLE = 3  # rows of org B per table: enough to show the write goes through; all of them made
# the cascades of cross_tenant_delete scan unindexed child tables once per row (25 of baseline's 33 s)


def _write_each(t: Target, statement: str) -> tuple[bool, str]:
    changed, blocked = {}, []
    targets = {table: _b_ids(t, table)[:WRITE_SAMPLE] for table in WRITE_TABLES if t.has(table)}
    with t.user(t.actors.a_owner) as c:
        for table, ids in targets.items():
            sql = statement.format(table=ident(table), col=ident(WRITE_TABLES[table]))
            r = attempt(c, sql, (ids,))
            if r.rowcount > 0:
                changed[table] = r.rowcount
            else:
                blocked.append(table)
    if not changed:
        return False, f"0 rows of org B in {len(blocked)} tables"
    rest = f"; 0 in {', '.join(blocked)}" if blocked else ""
    return True, f"changed org B rows: {summary(changed)}{rest}"


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
            r = attempt(c, f"SELECT count(*) FROM {ident(table)}")
            refused += r.refused
            if r.scalar():
                seen[table] = r.scalar()
    if not seen:
        return False, f"0 rows in {len(tables)} tables ({refused} refused)"
    return True, f"anon read {sum(seen.values())} rows from {len(seen)} tables: {summary(seen, 3)}"
