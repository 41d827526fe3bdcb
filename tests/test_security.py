"""The hardened variant's security, tested as an API user (never as the owner or a
superuser, which bypass RLS): tenant isolation on every RLS table, requests without a
valid user, the back office, constraint violations and their SQLSTATEs, soft delete,
audit rows per change without the secret, and a secret written through the app path
never stored in plain text."""

from __future__ import annotations

import json
import uuid

import psycopg
import pytest
from psycopg import errors

from bench.core import crypto as secrets
from bench.core import schema as schemas
from bench.core.identity import ANON, SERVICE, as_user
from bench.security.attacks import find_text, minimal_needles, pick_actors, request, sandbox
from tests.conftest import seed_tiny

HARDENED = schemas.select(["hardened"])[0]
REVIEW = schemas.select(["review"])[0]
MARKETPLACE = "status = 'published' AND approval_status = 'approved' AND deleted_at IS NULL"

# table -> (key column, org B's keys as SQL, a column an UPDATE may touch)
ISOLATED = {
    "organizations": ("id", "id = %(b)s", "name"),
    "users": ("id", "organization_id = %(b)s", "full_name"),
    "projects": ("id", "organization_id = %(b)s", "name"),
    "project_members": ("id", "project_id IN (SELECT id FROM hardened.projects WHERE organization_id = %(b)s)", "role"),
    "dashboard_templates": ("id", "organization_id = %(b)s", "name"),
    "datasets": ("id", "organization_id = %(b)s", "name"),
    "dashboards": ("id", "organization_id = %(b)s", "name"),
    "dashboard_data_sources": ("dashboard_id", "dashboard_id IN (SELECT id FROM hardened.dashboards "
                                               "WHERE organization_id = %(b)s)", "created_at"),
    # the marketplace (published, approved, live) is readable by every org by design
    "capabilities": ("id", f"organization_id = %(b)s AND NOT ({MARKETPLACE})", "name"),
    "knowledge_bases": ("id", "organization_id = %(b)s", "name"),
    "documents": ("id", "organization_id = %(b)s", "title"),
    "mcp_integrations": ("id", "organization_id = %(b)s", "name"),
    "user_activity_log": ("id", "organization_id = %(b)s", "action"),
    "audit_log": ("id", "organization_id = %(b)s", "operation"),
}


@pytest.fixture(scope="module")
def conn(shared_tiny_dsn):
    with psycopg.connect(shared_tiny_dsn, autocommit=True) as c:
        yield c


@pytest.fixture(scope="module")
def actors(conn):
    return pick_actors(conn, "hardened")


@pytest.fixture
def hardened_dsn(db_dsn):
    """A database of this test's own holding the tiny dataset in hardened only."""
    seed_tiny(db_dsn, only=["hardened"])
    return db_dsn


def api_tables(conn) -> list[str]:
    return [r[0] for r in conn.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'hardened' AND c.relkind IN ('r', 'p') AND NOT c.relispartition ORDER BY 1").fetchall()]


def make_audit_rows(conn, actors) -> None:
    """Org B's owner edits B's integrations: audit rows of org B (inside the caller's sandbox)."""
    with request(conn, HARDENED, actors.b_owner) as c:
        assert c.execute("UPDATE mcp_integrations SET name = name WHERE organization_id = %s",
                         (actors.org_b,)).rowcount > 0


# ---- tenant isolation ----------------------------------------------------------------
def test_isolation_covers_every_tenant_table(conn):
    assert set(api_tables(conn)) == set(ISOLATED)


@pytest.mark.parametrize("table", list(ISOLATED))
def test_org_a_cannot_see_or_change_org_b(conn, actors, table):
    key, where, column = ISOLATED[table]
    with sandbox(conn):
        if table == "audit_log":
            make_audit_rows(conn, actors)
        keys = [r[0] for r in conn.execute(f"SELECT {key} FROM hardened.{table} WHERE {where}",
                                           {"b": actors.org_b}).fetchall()]
        assert keys, f"org B has no {table} rows in the tiny data"
        count = f"SELECT count(*) FROM {table} WHERE {key} = ANY(%s)"
        with request(conn, HARDENED, actors.b_owner) as c:  # control: B's owner does see B's rows
            assert c.execute(count, (keys,)).fetchone()[0] > 0
        with request(conn, HARDENED, actors.a_owner) as c:
            assert c.execute(count, (keys,)).fetchone()[0] == 0
            for statement in (f"UPDATE {table} SET {column} = {column} WHERE {key} = ANY(%s)",
                              f"DELETE FROM {table} WHERE {key} = ANY(%s)"):
                try:
                    with c.transaction():
                        assert c.execute(statement, (keys,)).rowcount == 0, statement
                except errors.InsufficientPrivilege:  # no UPDATE/DELETE grant at all (audit_log): also 0
                    pass
        assert conn.execute(f"SELECT count(*) FROM hardened.{table} WHERE {key} = ANY(%s)",
                            (keys,)).fetchone()[0] == len(keys)  # nothing changed


def test_marketplace_is_the_only_cross_tenant_read(conn, actors):
    expected = {r[0] for r in conn.execute(
        f"SELECT id FROM hardened.capabilities WHERE organization_id = %s AND {MARKETPLACE}", (actors.org_b,))}
    assert expected
    with request(conn, HARDENED, actors.a_owner) as c:
        seen = {r[0] for r in c.execute("SELECT id FROM capabilities WHERE organization_id = %s", (actors.org_b,))}
    assert seen == expected


def counts(conn, tables, schema: str = "") -> dict:
    return {t: conn.execute(f"SELECT count(*) FROM {schema}{t}").fetchone()[0] for t in tables}


def test_requests_without_a_valid_user_see_nothing(conn):
    tables = api_tables(conn)
    with sandbox(conn):
        make_audit_rows(conn, pick_actors(conn, "hardened"))  # so that audit_log is not empty
        assert all(counts(conn, tables, "hardened.").values())
        with request(conn, HARDENED, None, role=ANON) as c:  # no JWT at all
            assert set(counts(c, tables).values()) == {0}
        with request(conn, HARDENED, uuid.uuid4()) as c:  # a signed token of a user who does not exist
            assert set(counts(c, tables).values()) == {0}
        with conn.transaction():  # role authenticated but no `sub` claim (a broken gateway)
            conn.execute("SET LOCAL search_path = hardened, public")
            conn.execute("SET LOCAL ROLE authenticated")
            conn.execute("""SELECT set_config('request.jwt.claims', '{"role": "authenticated"}', true)""")
            assert set(counts(conn, tables).values()) == {0}
        conn.execute("RESET ROLE")
        user, org = conn.execute("SELECT id, organization_id FROM hardened.users LIMIT 1").fetchone()
        with pytest.raises(errors.InsufficientPrivilege):  # and anon cannot write either
            with request(conn, HARDENED, None, role=ANON) as c:
                c.execute("INSERT INTO user_activity_log (user_id, organization_id, action) VALUES (%s, %s, 'login')",
                          (user, org))


def test_service_role_sees_everything(conn):
    tables = api_tables(conn)
    with sandbox(conn):
        make_audit_rows(conn, pick_actors(conn, "hardened"))
        everything = counts(conn, tables, "hardened.")
        assert all(everything.values())
        with request(conn, HARDENED, None, role=SERVICE) as c:
            assert counts(c, tables) == everything


# ---- constraints ------------------------------------------------------------------------
CIPHER = "decode(repeat('00', 28), 'hex')"
VIOLATIONS = [
    ("23503", "INSERT INTO projects (organization_id, name) VALUES (gen_random_uuid(), 'orphan')"),
    ("23503", "INSERT INTO dashboards (organization_id, project_id, name) "  # tenant pinned to its project's
              "SELECT %(a)s, id, 'cross' FROM projects WHERE organization_id = %(b)s LIMIT 1"),
    ("23503", "INSERT INTO dashboard_data_sources (dashboard_id, dataset_id) "
              "SELECT id, gen_random_uuid() FROM dashboards LIMIT 1"),
    ("23503", "UPDATE documents SET knowledge_base_id = gen_random_uuid() WHERE organization_id = %(a)s"),
    ("23514", "UPDATE users SET email = 'not an email' WHERE organization_id = %(a)s"),
    ("23514", "UPDATE projects SET status = 'deleted' WHERE organization_id = %(a)s"),
    ("23514", "UPDATE capabilities SET approval_status = 'maybe' WHERE organization_id = %(a)s"),
    ("23514", "UPDATE documents SET language = 'english' WHERE organization_id = %(a)s"),
    ("23514", f"INSERT INTO mcp_integrations (organization_id, name, url, authentication_ciphertext) "
              f"VALUES (%(a)s, 'x', 'ftp://files.example.com', {CIPHER})"),
    ("23514", "INSERT INTO mcp_integrations (organization_id, name, url, authentication_ciphertext) "
              "VALUES (%(a)s, 'x', 'https://mcp.example.com', '\\x00'::bytea)"),
    ("23502", "INSERT INTO projects (organization_id, name) VALUES (%(a)s, NULL)"),
    ("23502", "INSERT INTO mcp_integrations (organization_id, name, url) VALUES (%(a)s, 'x', 'https://mcp.example.com')"),
    ("23502", "INSERT INTO user_activity_log (organization_id, action) VALUES (%(a)s, 'login')"),
]


@pytest.mark.parametrize("sqlstate, statement", VIOLATIONS)
def test_violations_are_rejected_with_their_sqlstate(conn, actors, sqlstate, statement):
    expected = {"23503": errors.ForeignKeyViolation, "23514": errors.CheckViolation,
                "23502": errors.NotNullViolation}[sqlstate]
    with pytest.raises(expected) as caught:
        with sandbox(conn), request(conn, HARDENED, None, role=SERVICE) as c:  # the back office: no RLS, same rules
            c.execute(statement, {"a": actors.org_a, "b": actors.org_b})
    assert caught.value.sqlstate == sqlstate
    assert caught.value.diag.table_name


# ---- soft delete -------------------------------------------------------------------------
def test_seeded_soft_deleted_rows_are_invisible_to_live_row_queries(conn):
    org, deleted = conn.execute(
        "SELECT organization_id, array_agg(id) FROM hardened.projects WHERE deleted_at IS NOT NULL "
        "GROUP BY 1 ORDER BY count(*) DESC LIMIT 1").fetchone()
    member = conn.execute("SELECT id FROM hardened.users WHERE organization_id = %s AND role = 'member' "
                          "ORDER BY id LIMIT 1", (org,)).fetchone()[0]
    live = {r[0] for r in conn.execute("SELECT id FROM hardened.projects WHERE organization_id = %s "
                                       "AND deleted_at IS NULL", (org,))}
    with request(conn, HARDENED, member) as c:
        seen = {r[0] for r in c.execute("SELECT id FROM projects WHERE deleted_at IS NULL")}
        market = c.execute("SELECT count(*) FROM capabilities WHERE organization_id <> %s "
                           "AND deleted_at IS NOT NULL", (org,)).fetchone()[0]
    assert seen == live and not (seen & set(deleted))
    assert market == 0  # other orgs' archived items never reach the marketplace


def test_soft_delete_hides_a_capability_from_live_queries_and_the_marketplace(hardened_dsn):
    with psycopg.connect(hardened_dsn, autocommit=True) as conn:
        cap, org, owner = conn.execute(
            f"SELECT id, organization_id, owner_id FROM hardened.capabilities WHERE {MARKETPLACE} "
            "ORDER BY id LIMIT 1").fetchone()
        outsider = conn.execute("SELECT id FROM hardened.users WHERE organization_id <> %s ORDER BY id LIMIT 1",
                                (org,)).fetchone()[0]
        live = "SELECT count(*) FROM capabilities WHERE id = %s AND deleted_at IS NULL"
        with as_user(conn, HARDENED, outsider) as c:
            assert c.execute(live, (cap,)).fetchone()[0] == 1  # in the marketplace before
            assert c.execute("SELECT soft_delete_capability(%s)", (cap,)).fetchone()[0] is False
        with as_user(conn, HARDENED, owner) as c:
            assert c.execute("SELECT soft_delete_capability(%s)", (cap,)).fetchone()[0] is True
        with as_user(conn, HARDENED, owner) as c:
            assert c.execute(live, (cap,)).fetchone()[0] == 0
            assert c.execute("SELECT count(*) FROM capabilities WHERE id = %s", (cap,)).fetchone()[0] == 1  # own org
        with as_user(conn, HARDENED, outsider) as c:
            assert c.execute("SELECT count(*) FROM capabilities WHERE id = %s", (cap,)).fetchone()[0] == 0


# ---- audit ----------------------------------------------------------------------------
def audit_rows(conn, table, record_id) -> list:
    return conn.execute("SELECT operation, user_id, organization_id, old_values, new_values, changed_fields "
                        "FROM hardened.audit_log WHERE table_name = %s AND record_id = %s ORDER BY timestamp, operation",
                        (table, record_id)).fetchall()


def test_each_change_writes_one_audit_row_with_the_acting_user(hardened_dsn):
    with psycopg.connect(hardened_dsn, autocommit=True) as conn:
        actors = pick_actors(conn, "hardened")
        me, org, pid = actors.a_owner, actors.org_a, uuid.uuid4()
        steps = [("INSERT", "INSERT INTO projects (id, organization_id, owner_id, name) VALUES (%(id)s, %(org)s, %(me)s, 'Audited')"),
                 ("UPDATE", "UPDATE projects SET name = 'Audited twice' WHERE id = %(id)s"),
                 ("DELETE", "DELETE FROM projects WHERE id = %(id)s")]
        for n, (operation, sql) in enumerate(steps, start=1):
            with as_user(conn, HARDENED, me) as c:
                assert c.execute(sql, {"id": pid, "org": org, "me": me}).rowcount == 1
            rows = audit_rows(conn, "projects", pid)
            assert len(rows) == n
            assert [r[0] for r in rows].count(operation) == 1
            new = next(r for r in rows if r[0] == operation)
            assert new[1] == me and new[2] == org
        update = next(r for r in rows if r[0] == "UPDATE")
        assert "name" in update[5] and update[3]["name"] == "Audited" and update[4]["name"] == "Audited twice"


def test_a_secret_written_through_the_app_never_appears_in_plain_text(hardened_dsn):
    token = f"sk_live_{uuid.uuid4().hex}"
    with psycopg.connect(hardened_dsn, autocommit=True) as conn:
        actors = pick_actors(conn, "hardened")
        row_id = uuid.uuid4()
        blob = secrets.encrypt(json.dumps({"type": "bearer", "token": token}).encode(), row_id.bytes)
        with as_user(conn, HARDENED, actors.a_owner) as c:  # the app path: encrypt, then insert as the user
            c.execute("INSERT INTO mcp_integrations (id, organization_id, name, url, authentication_ciphertext) "
                      "VALUES (%s, %s, 'Vault MCP', 'https://mcp.example.com/vault', %s)", (row_id, actors.org_a, blob))
        with as_user(conn, HARDENED, actors.a_owner) as c:
            c.execute("UPDATE mcp_integrations SET name = 'Vault MCP 2', authentication_ciphertext = %s WHERE id = %s",
                      (secrets.encrypt(json.dumps({"token": token}).encode(), row_id.bytes), row_id))
        stored = conn.execute("SELECT authentication_ciphertext FROM hardened.mcp_integrations WHERE id = %s",
                              (row_id,)).fetchone()[0]
        assert json.loads(secrets.decrypt(bytes(stored), row_id.bytes))["token"] == token  # it is there, encrypted
        assert find_text(conn, "hardened", [token]) == {}
        ciphertexts = [blob.hex(), bytes(stored).hex()]
        assert find_text(conn, "hardened", [token, *ciphertexts], tables=["audit_log"]) == {}
        rows = audit_rows(conn, "mcp_integrations", row_id)
        assert [r[0] for r in rows] == ["INSERT", "UPDATE"] and {r[1] for r in rows} == {actors.a_owner}
        assert rows[1][3]["authentication_ciphertext"] == rows[1][4]["authentication_ciphertext"] == "[REDACTED]"
        assert "authentication_ciphertext" in rows[1][5]  # that it changed is logged, not what it is
        with as_user(conn, HARDENED, actors.a_owner) as c:
            c.execute("DELETE FROM mcp_integrations WHERE id = %s", (row_id,))
        assert len(audit_rows(conn, "mcp_integrations", row_id)) == 3
        assert find_text(conn, "hardened", [token, *ciphertexts], tables=["audit_log"]) == {}
        # control: the scanner is not blind; the token in an ordinary column is found
        with sandbox(conn):
            with request(conn, HARDENED, actors.a_owner) as c:
                c.execute("UPDATE projects SET description = %s WHERE owner_id = %s", (f"note {token}", actors.a_owner))
            assert "projects" in find_text(conn, "hardened", [token])


def test_the_same_app_write_leaks_the_secret_on_review(conn, actors):
    token = f"sk_live_{uuid.uuid4().hex}"
    with sandbox(conn):
        with request(conn, REVIEW, actors.a_owner) as c:
            c.execute("INSERT INTO mcp_integrations (organization_id, name, url, authentication) "
                      "VALUES (%s, 'Vault MCP', 'https://mcp.example.com/vault', %s)",
                      (actors.org_a, json.dumps({"type": "bearer", "token": token})))
        assert find_text(conn, "review", [token]) == {"mcp_integrations": 1, "audit_log": 1}


def test_the_text_scan_drops_needles_that_contain_another():
    # a row holding "sk_live_abc" holds "sk_live_": scanning for the prefix alone finds the same rows
    assert minimal_needles(["sk_live_abc", "sk_live_", "sk_live_def", "sk_live_"]) == ["sk_live_"]
    assert minimal_needles(["bet", "alphabet", "gamma", ""]) == ["bet", "gamma"]
    assert minimal_needles([]) == []
