"""Content checks of a seeded database: per-table checksums (determinism, and the same
logical rows in every variant) and orphan counts (referential integrity of the data
itself, also in baseline where no FK enforces it)."""

from __future__ import annotations

import psycopg

from seed.tables import TABLES


def table_checksum(conn: psycopg.Connection, variant: str, table: str, columns: list[str] | None = None) -> str:
    """md5 over the table's rows (or the given columns) in a stable order."""
    cols = ", ".join(f't."{c}"' for c in columns) if columns else "t.*"
    return conn.execute(
        f'SELECT md5(coalesce(string_agg(r, E\'\\n\' ORDER BY r), \'\')) '
        f'FROM (SELECT ROW({cols})::text AS r FROM "{variant}"."{table}" t) s'
    ).fetchone()[0]


def checksums(conn: psycopg.Connection, variant: str) -> dict[str, str]:
    present = {r[0] for r in conn.execute(
        "SELECT tablename FROM pg_tables WHERE schemaname = %s UNION "
        "SELECT relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relkind = 'p'", (variant, variant)).fetchall()}
    return {t: table_checksum(conn, variant, t) for t in TABLES if t in present}


# (child table, column, parent table): every non-null value must exist in the parent.
REFERENCES = [
    ("users", "organization_id", "organizations"),
    ("projects", "organization_id", "organizations"),
    ("projects", "owner_id", "users"),
    ("project_members", "project_id", "projects"),
    ("project_members", "user_id", "users"),
    ("dashboard_templates", "organization_id", "organizations"),
    ("datasets", "project_id", "projects"),
    ("dashboards", "project_id", "projects"),
    ("dashboards", "owner_id", "users"),
    ("dashboards", "template_id", "dashboard_templates"),
    ("capabilities", "organization_id", "organizations"),
    ("capabilities", "owner_id", "users"),
    ("knowledge_bases", "organization_id", "organizations"),
    ("knowledge_bases", "project_id", "projects"),
    ("documents", "knowledge_base_id", "knowledge_bases"),
    ("mcp_integrations", "organization_id", "organizations"),
    ("mcp_integrations", "project_id", "projects"),
    ("user_activity_log", "user_id", "users"),
]

# Tenant consistency: a row's organization_id equals its parent's.
SAME_TENANT = [
    ("projects", "owner_id", "users"),
    ("datasets", "project_id", "projects"),
    ("dashboards", "project_id", "projects"),
    ("knowledge_bases", "project_id", "projects"),
    ("documents", "knowledge_base_id", "knowledge_bases"),
    ("capabilities", "owner_id", "users"),
    ("user_activity_log", "user_id", "users"),
]


def orphans(conn: psycopg.Connection, variant: str) -> dict[str, int]:
    """Violations per check; all zero for a correct dataset."""
    found = {}
    for child, column, parent in REFERENCES:
        found[f"{child}.{column} -> {parent}"] = conn.execute(
            f'SELECT count(*) FROM "{variant}"."{child}" c WHERE c."{column}" IS NOT NULL '
            f'AND NOT EXISTS (SELECT 1 FROM "{variant}"."{parent}" p WHERE p.id = c."{column}")'
        ).fetchone()[0]
    for child, column, parent in SAME_TENANT:
        found[f"{child}.organization_id = {parent}'s"] = conn.execute(
            f'SELECT count(*) FROM "{variant}"."{child}" c JOIN "{variant}"."{parent}" p ON p.id = c."{column}" '
            f"WHERE p.organization_id IS DISTINCT FROM c.organization_id"
        ).fetchone()[0]
    found["project_members: member of another org"] = conn.execute(
        f'SELECT count(*) FROM "{variant}".project_members m JOIN "{variant}".projects p ON p.id = m.project_id '
        f'JOIN "{variant}".users u ON u.id = m.user_id WHERE u.organization_id <> p.organization_id'
    ).fetchone()[0]
    found["dashboards.data_sources -> datasets"] = conn.execute(
        f'SELECT count(*) FROM "{variant}".dashboards d, unnest(d.data_sources) s(id) '
        f'WHERE NOT EXISTS (SELECT 1 FROM "{variant}".datasets x WHERE x.id = s.id AND x.project_id = d.project_id)'
    ).fetchone()[0] if _has_column(conn, variant, "dashboards", "data_sources") else 0
    return found


def _has_column(conn, variant: str, table: str, column: str) -> bool:
    return bool(conn.execute(
        "SELECT 1 FROM information_schema.columns WHERE table_schema = %s AND table_name = %s AND column_name = %s",
        (variant, table, column)).fetchone())
