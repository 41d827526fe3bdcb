"""The three variants side by side on the tiny dataset: the app's queries return the same
rows in each (RLS variants as the user, baseline as the app role with the tenant filter
in SQL), except where the review's broken policy changes the answer; hardened's activity
log prunes partitions; its materialized view refreshes concurrently, the review's not."""

from __future__ import annotations

import datetime as dt
import json

import psycopg
import pytest
from psycopg import errors

from bench.core import schema as schemas
from bench.core.identity import SERVICE, as_user
from bench.security.attacks import pick_actors, request, sandbox

VARIANTS = {v.name: v for v in schemas.variants()}
RLS = ("review", "hardened")

# name -> SQL per variant ("rls": review and hardened, as the user, no tenant filter of
# their own; "baseline": as service_role, the tenant filter written in SQL).
QUERIES = {
    "projects_of_my_org_by_status": {
        "rls": "SELECT id FROM projects WHERE status = %(status)s",
        "baseline": "SELECT id FROM projects WHERE organization_id = %(org)s AND status = %(status)s",
    },
    "projects_i_own_or_belong_to": {
        "rls": "SELECT id FROM projects WHERE owner_id = %(me)s "
               "OR id IN (SELECT project_id FROM project_members WHERE user_id = %(me)s)",
        "baseline": "SELECT id FROM projects WHERE organization_id = %(org)s AND (owner_id = %(me)s "
                    "OR id IN (SELECT project_id FROM project_members WHERE user_id = %(me)s))",
    },
    "dashboards_of_my_project": {
        "rls": "SELECT id FROM dashboards WHERE project_id = %(project)s",
        "baseline": "SELECT d.id FROM dashboards d WHERE d.project_id = %(project)s AND d.organization_id = %(org)s "
                    "AND (d.owner_id = %(me)s OR EXISTS (SELECT 1 FROM project_members pm "
                    "WHERE pm.project_id = d.project_id AND pm.user_id = %(me)s))",
    },
    "marketplace_by_category": {
        "rls": "SELECT id FROM capabilities WHERE status = 'published' AND approval_status = 'approved' "
               "AND deleted_at IS NULL AND category = %(category)s",
        "baseline": "SELECT id FROM capabilities WHERE status = 'published' AND approval_status = 'approved' "
                    "AND category = %(category)s",  # a public listing: no tenant filter, no soft delete column
    },
    "documents_of_a_knowledge_base_by_type_and_language": {
        "rls": "SELECT id FROM documents WHERE knowledge_base_id = %(kb)s AND document_type = %(type)s "
               "AND language = %(language)s",
        "baseline": "SELECT id FROM documents WHERE organization_id = %(org)s AND knowledge_base_id = %(kb)s "
                    "AND document_type = %(type)s AND language = %(language)s",
    },
    "my_activity_last_30_days": {
        "rls": "SELECT id FROM user_activity_log WHERE user_id = %(me)s "
               "AND \"timestamp\" >= %(anchor)s - interval '30 days' AND \"timestamp\" < %(anchor)s",
        "baseline": "SELECT id FROM user_activity_log WHERE organization_id = %(org)s AND user_id = %(me)s "
                    "AND \"timestamp\" >= %(anchor)s - interval '30 days' AND \"timestamp\" < %(anchor)s",
    },
}


@pytest.fixture(scope="module")
def conn(shared_tiny_dsn):
    with psycopg.connect(shared_tiny_dsn, autocommit=True) as c:
        yield c


def anchor(conn) -> dt.datetime:
    text = conn.execute("SELECT config->>'anchor' FROM bench_meta.seed_run").fetchone()[0]
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.timezone.utc)


@pytest.fixture(scope="module")
def people(conn) -> list[dict]:
    """Up to three users of different organisations, each an editor or admin of a project
    with dashboards, with recent activity, with the parameters of their app queries."""
    at = anchor(conn)
    rows = conn.execute(
        """SELECT DISTINCT ON (u.organization_id) u.id, u.organization_id, pm.project_id
           FROM baseline.users u
           JOIN baseline.project_members pm ON pm.user_id = u.id AND pm.role IN ('editor', 'admin')
           WHERE EXISTS (SELECT 1 FROM baseline.dashboards d WHERE d.project_id = pm.project_id AND d.owner_id <> u.id)
             AND EXISTS (SELECT 1 FROM baseline.user_activity_log a WHERE a.user_id = u.id
                         AND a."timestamp" >= %s::timestamptz - interval '30 days')
             AND EXISTS (SELECT 1 FROM baseline.knowledge_bases k WHERE k.organization_id = u.organization_id)
           ORDER BY u.organization_id, u.id, pm.project_id""", (at,)).fetchall()
    assert len(rows) >= 2, "the tiny data should have such users in several organisations"
    out = []
    for me, org, project in rows[:3]:
        kb, doc_type, language = conn.execute(
            """SELECT knowledge_base_id, document_type, language FROM baseline.documents WHERE organization_id = %s
               GROUP BY 1, 2, 3 ORDER BY count(*) DESC, 1, 2, 3 LIMIT 1""", (org,)).fetchone()
        out.append({"me": me, "org": org, "project": project, "status": "active", "category": "analytics",
                    "kb": kb, "type": doc_type, "language": language, "anchor": at})
    return out


def answer(conn, variant: str, query: str, params: dict) -> list:
    sql = QUERIES[query]["baseline" if variant == "baseline" else "rls"]
    with as_user(conn, VARIANTS[variant], params["me"]) as c:  # baseline: service_role; RLS: authenticated
        role = c.execute("SELECT current_user").fetchone()[0]
        assert role == ("service_role" if variant == "baseline" else "authenticated")
        return sorted(r[0] for r in c.execute(sql, params).fetchall())


@pytest.mark.parametrize("query", list(QUERIES))
def test_every_variant_answers_the_same(conn, people, query):
    for params in people:
        answers = {v: answer(conn, v, query, params) for v in VARIANTS}
        assert answers["baseline"], (query, "choose parameters with a non-empty answer")
        assert answers["review"] == answers["baseline"], query
        assert answers["hardened"] == answers["baseline"], query


def test_tenant_filter_matters_on_baseline_but_not_under_rls(conn, people):
    """Control: without its tenant filter, baseline's query answers for every org, so the
    equality above really comes from RLS on the other variants."""
    params = people[0]
    with as_user(conn, VARIANTS["baseline"], params["me"]) as c:
        everyone = c.execute(QUERIES["projects_of_my_org_by_status"]["rls"], params).fetchall()
    assert len(everyone) > len(answer(conn, "hardened", "projects_of_my_org_by_status", params))


def test_viewers_lose_their_dashboards_on_review_only(conn):
    """The review's FOR ALL policy limited to owner/admin/editor: a known defect."""
    actors = pick_actors(conn, "baseline")
    params = {"me": actors.viewer, "project": actors.viewer_project,
              "org": conn.execute("SELECT organization_id FROM baseline.users WHERE id = %s",
                                  (actors.viewer,)).fetchone()[0]}
    answers = {v: answer(conn, v, "dashboards_of_my_project", params) for v in VARIANTS}
    assert answers["hardened"] == answers["baseline"] and answers["baseline"]
    assert set(answers["review"]) < set(answers["hardened"])  # strictly fewer: the defect


# ---- partitions ---------------------------------------------------------------------------
def scanned(plan) -> set[str]:
    found, stack = set(), [plan]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if "Relation Name" in node:
                found.add(node["Relation Name"])
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


def removed(plan) -> int:
    text = json.dumps(plan)
    return sum(int(part.split(",")[0].split("}")[0]) for part in text.split('"Subplans Removed": ')[1:])


def test_a_time_range_query_prunes_activity_partitions(conn):
    partitions = {r[0] for r in conn.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = 'hardened.user_activity_log'::regclass").fetchall()}
    assert len(partitions) > 3
    at = anchor(conn)
    owner = conn.execute("SELECT id FROM hardened.users WHERE role = 'owner' ORDER BY id LIMIT 1").fetchone()[0]
    query = ("SELECT count(*) FROM user_activity_log WHERE \"timestamp\" >= {lo} AND \"timestamp\" < {hi}")
    with request(conn, VARIANTS["hardened"], owner) as c:  # as the app runs it, RLS included
        literal = query.format(lo=f"'{at - dt.timedelta(days=30)}'::timestamptz", hi=f"'{at}'::timestamptz")
        plan = c.execute(f"EXPLAIN (FORMAT JSON) {literal}").fetchone()[0]
        c.execute(f"PREPARE recent(timestamptz, timestamptz) AS {query.format(lo='$1', hi='$2')}")
        try:
            c.execute("SET LOCAL plan_cache_mode = force_generic_plan")  # parameters: pruned at executor start
            generic = c.execute(f"EXPLAIN (FORMAT JSON) EXECUTE recent('{at - dt.timedelta(days=30)}', '{at}')"
                                ).fetchone()[0]
        finally:
            c.execute("DEALLOCATE recent")
    assert 1 <= len(scanned(plan) & partitions) <= 2 < len(partitions)
    assert removed(generic) >= len(partitions) - 2
    assert removed(plan) == 0  # planning-time pruning: the others never entered the plan


# ---- materialized view ----------------------------------------------------------------------
def test_hardened_stats_refresh_concurrently_and_follow_the_data(tiny_dsn):
    with psycopg.connect(tiny_dsn, autocommit=True) as conn:
        cap, category, owner = conn.execute(
            "SELECT id, category, owner_id FROM hardened.capabilities WHERE status = 'published' "
            "AND deleted_at IS NULL ORDER BY id LIMIT 1").fetchone()
        total = "SELECT total_capabilities FROM hardened.mv_capability_stats WHERE category = %s"
        before = conn.execute(total, (category,)).fetchone()[0]
        with as_user(conn, VARIANTS["hardened"], owner) as c:
            assert c.execute("SELECT soft_delete_capability(%s)", (cap,)).fetchone()[0] is True
        assert conn.execute(total, (category,)).fetchone()[0] == before  # not refreshed yet
        conn.execute("REFRESH MATERIALIZED VIEW CONCURRENTLY hardened.mv_capability_stats")
        assert conn.execute(total, (category,)).fetchone()[0] == before - 1
        with as_user(conn, VARIANTS["hardened"], None, role=SERVICE) as c:  # the scheduled job's path
            c.execute("SELECT refresh_capability_stats()")
        with pytest.raises(errors.InsufficientPrivilege):
            with as_user(conn, VARIANTS["hardened"], owner) as c:  # not an API call
                c.execute("SELECT refresh_capability_stats()")


def test_review_stats_refresh_fails(conn):
    """Recorded, as the review wrote it: no unique index, so CONCURRENTLY is refused."""
    with pytest.raises(errors.ObjectNotInPrerequisiteState, match="concurrently"):
        with sandbox(conn), request(conn, VARIANTS["review"], None, role=SERVICE) as c:
            c.execute("SELECT refresh_capability_stats()")
    with pytest.raises(errors.ObjectNotInPrerequisiteState):
        with sandbox(conn):
            conn.execute("REFRESH MATERIALIZED VIEW CONCURRENTLY review.mv_capability_stats")
