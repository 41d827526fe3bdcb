"""What the harness created, so that it drops only that (issue 14).

Pointed at someone's real database (--dsn), the harness must never take over or drop an
object it did not make. Schemas it creates in the target database are recorded in
`bench_meta.owned` (kind, name, oid, how, created_at) and carry the comment MARKER. The
harness calls a schema its own when it is recorded and still is the same object: same
oid, or still marked (a dump and restore changes oids; a variant's SQL may set its own
comment). A schema dropped and re-created by someone else under the same name keeps a
stale record but matches neither. Scratch
databases and scratch tables live and die within one command, so their marker alone
(COMMENT ON DATABASE / TABLE) is the record. A colliding name without the record is
refused before any change.

Before a schema is dropped, `dependents` lists the objects of other schemas that a
`DROP SCHEMA ... CASCADE` would take with it (pg_depend), so none goes unannounced.
Roles and extensions are never dropped by the harness.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from bench.core.errors import BenchError

MARKER = "created by pgvector-bench"
META = "bench_meta"

OWNED_DDL = """
CREATE TABLE IF NOT EXISTS bench_meta.owned (
    kind       text NOT NULL,
    name       text NOT NULL,
    oid        oid NOT NULL,  -- the object recorded, not a later one of the same name
    how        text NOT NULL DEFAULT 'created',  -- or 'adopted': made by an earlier harness version
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kind, name)
)
"""


def foreign(kind: str, name: str) -> BenchError:
    return BenchError(f'{kind} "{name}" exists and was not created by the harness; rename or drop it yourself')


# ---- schemas in the target database ------------------------------------------------------
def schema_exists(conn: psycopg.Connection, name: str) -> bool:
    return conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (name,)).fetchone() is not None


def owns_schema(conn: psycopg.Connection, name: str) -> bool:
    """True if the schema exists, is recorded as the harness's and still carries the marker."""
    if not conn.execute("SELECT to_regclass('bench_meta.owned')").fetchone()[0]:
        return False
    return conn.execute(
        """SELECT 1 FROM bench_meta.owned o JOIN pg_namespace n ON n.nspname = o.name
           WHERE o.kind = 'schema' AND o.name = %s
             AND (n.oid = o.oid OR obj_description(n.oid, 'pg_namespace') = %s)""",
        (name, MARKER)).fetchone() is not None


def refuse_foreign_schema(conn: psycopg.Connection, name: str) -> None:
    """Raise unless the schema is absent or the harness's own."""
    if schema_exists(conn, name) and not owns_schema(conn, name):
        raise foreign("schema", name)


def record_schema(conn: psycopg.Connection, name: str, how: str = "created") -> None:
    """Mark an existing schema as the harness's (record and comment)."""
    conn.execute(sql.SQL("COMMENT ON SCHEMA {} IS {}").format(sql.Identifier(name), sql.Literal(MARKER)))
    conn.execute("INSERT INTO bench_meta.owned (kind, name, oid, how) VALUES ('schema', %s, "
                 "(SELECT oid FROM pg_namespace WHERE nspname = %s), %s) "
                 "ON CONFLICT (kind, name) DO UPDATE SET oid = EXCLUDED.oid, how = EXCLUDED.how, created_at = now()",
                 (name, name, how))


def create_schema(conn: psycopg.Connection, name: str) -> None:
    """CREATE SCHEMA (fails if the name is taken) and record it."""
    conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
    record_schema(conn, name)


def forget_schema(conn: psycopg.Connection, name: str) -> None:
    if conn.execute("SELECT to_regclass('bench_meta.owned')").fetchone()[0]:
        conn.execute("DELETE FROM bench_meta.owned WHERE kind = 'schema' AND name = %s", (name,))


def adopt(conn: psycopg.Connection, name: str) -> None:
    """Record a schema an earlier harness version made (before this record existed): only
    if it exists and was never recorded, so one recreated by someone else stays foreign."""
    if schema_exists(conn, name) and not conn.execute(
            "SELECT 1 FROM bench_meta.owned WHERE kind = 'schema' AND name = %s", (name,)).fetchone():
        record_schema(conn, name, how="adopted")


def ensure_meta(conn: psycopg.Connection) -> None:
    """bench_meta with its ownership record.

    A bench_meta without the marker but with bench_meta.applied was made by a harness
    from before this record existed: adopted. Any other bench_meta is refused."""
    if not schema_exists(conn, META):
        with conn.transaction():
            conn.execute(f"CREATE SCHEMA {META}")
            conn.execute(OWNED_DDL)
            record_schema(conn, META)
        return
    marked = conn.execute("SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname = %s",
                          (META,)).fetchone()[0] == MARKER
    if marked and conn.execute("SELECT to_regclass('bench_meta.owned')").fetchone()[0]:
        return
    if not (marked or conn.execute("SELECT to_regclass('bench_meta.applied')").fetchone()[0]):
        raise foreign("schema", META)
    with conn.transaction():
        conn.execute(OWNED_DDL)
        record_schema(conn, META, how="created" if marked else "adopted")


# ---- dependents ----------------------------------------------------------------------------
# Everything a DROP SCHEMA ... CASCADE of the schemas would remove: objects depending on
# them, transitively; an object reached that is an internal part of another (a view's
# rewrite rule, a foreign key's triggers) takes its owner too, as PostgreSQL does.
DEPENDENTS_SQL = """
WITH RECURSIVE reached(classid, objid, objsubid) AS (
    SELECT 'pg_namespace'::regclass::oid, oid, 0 FROM pg_namespace WHERE nspname = ANY(%(names)s)
  UNION
    SELECT step.* FROM reached r CROSS JOIN LATERAL (
        SELECT d.classid, d.objid, d.objsubid FROM pg_depend d
        WHERE d.refclassid = r.classid AND d.refobjid = r.objid AND r.objsubid IN (0, d.refobjsubid)
          AND d.deptype IN ('n', 'a', 'i')
        UNION ALL
        SELECT d.refclassid, d.refobjid, 0 FROM pg_depend d
        WHERE d.classid = r.classid AND d.objid = r.objid AND d.deptype = 'i') step
), homed AS (
    SELECT r.classid, r.objid, r.objsubid, CASE r.classid
        WHEN 'pg_namespace'::regclass THEN r.objid
        WHEN 'pg_class'::regclass THEN (SELECT relnamespace FROM pg_class WHERE oid = r.objid)
        WHEN 'pg_proc'::regclass THEN (SELECT pronamespace FROM pg_proc WHERE oid = r.objid)
        WHEN 'pg_type'::regclass THEN (SELECT typnamespace FROM pg_type WHERE oid = r.objid)
        WHEN 'pg_constraint'::regclass THEN (SELECT connamespace FROM pg_constraint WHERE oid = r.objid)
        WHEN 'pg_rewrite'::regclass THEN (SELECT c.relnamespace FROM pg_rewrite w JOIN pg_class c ON c.oid = w.ev_class
                                          WHERE w.oid = r.objid)
        WHEN 'pg_trigger'::regclass THEN (SELECT c.relnamespace FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
                                          WHERE t.oid = r.objid)
        WHEN 'pg_policy'::regclass THEN (SELECT c.relnamespace FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid
                                         WHERE p.oid = r.objid)
        WHEN 'pg_attrdef'::regclass THEN (SELECT c.relnamespace FROM pg_attrdef a JOIN pg_class c ON c.oid = a.adrelid
                                          WHERE a.oid = r.objid)
        ELSE (SELECT oid FROM pg_namespace WHERE nspname = (pg_identify_object(r.classid, r.objid, 0)).schema)
      END AS home
    FROM reached r
)
SELECT DISTINCT o.type || ' ' || o.identity
FROM homed h CROSS JOIN LATERAL pg_identify_object(h.classid, h.objid, h.objsubid) o
WHERE (h.home IS NULL OR h.home NOT IN (SELECT oid FROM pg_namespace WHERE nspname = ANY(%(names)s)))
  AND h.home IS DISTINCT FROM 'pg_toast'::regnamespace  -- TOAST storage of the schemas' own tables
  AND NOT EXISTS (SELECT 1 FROM pg_depend d  -- an internal part: its owner is listed
                  WHERE d.classid = h.classid AND d.objid = h.objid AND d.deptype = 'i')
ORDER BY 1
"""


def dependents(conn: psycopg.Connection, names: list[str]) -> list[str]:
    """Objects outside the schemas `names` that dropping them with CASCADE would remove,
    e.g. ['view public.doc_titles', 'table constraint notes_org_fkey on public.notes']."""
    return [row[0] for row in conn.execute(DEPENDENTS_SQL, {"names": names}).fetchall()]


def refuse_dependents(what: str, found: list[str], force_dependents: bool) -> None:
    if found and not force_dependents:
        raise BenchError(f"dropping {what} would also drop {len(found)} object(s) the harness did not create: "
                         f"{'; '.join(found)}; drop or change them yourself, or add --force-dependents")


# ---- scratch databases (outside the target database) and scratch tables ----------------------
def create_scratch_database(admin: psycopg.Connection, name: str) -> None:
    """CREATE DATABASE marked as the harness's; an earlier one of ours (an interrupted run)
    is replaced, anyone else's refused."""
    row = admin.execute("SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
                        (name,)).fetchone()
    if row and row[0] != MARKER:
        raise foreign("database", name)
    ident = sql.Identifier(name)
    if row:
        admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(ident))
    admin.execute(sql.SQL("CREATE DATABASE {}").format(ident))
    admin.execute(sql.SQL("COMMENT ON DATABASE {} IS {}").format(ident, sql.Literal(MARKER)))


def drop_scratch_database(admin: psycopg.Connection, name: str) -> None:
    """Drop the scratch database if it carries the harness's marker (else leave it)."""
    row = admin.execute("SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
                        (name,)).fetchone()
    if row and row[0] == MARKER:
        admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def refuse_foreign_table(conn: psycopg.Connection, qualified: str) -> None:
    """Raise if the table exists without the harness's marker."""
    oid = conn.execute("SELECT to_regclass(%s)::oid", (qualified,)).fetchone()[0]
    if oid and conn.execute("SELECT obj_description(%s, 'pg_class')", (oid,)).fetchone()[0] != MARKER:
        raise foreign("table", qualified)


def mark_table(conn: psycopg.Connection, qualified: str) -> None:
    conn.execute(sql.SQL("COMMENT ON TABLE {} IS {}").format(
        sql.Identifier(*qualified.split(".")), sql.Literal(MARKER)))
