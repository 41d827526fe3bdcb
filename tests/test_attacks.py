"""bench.security.attacks against the three seeded variants: every attack fails on hardened, the
review's known holes are detected (so the instrument really sees them), baseline's
exposure is reported and labelled, and running the attacks changes nothing."""

from __future__ import annotations

import os
from contextlib import contextmanager
from itertools import groupby

import psycopg
import pytest

from bench.core import crypto as secrets
from bench.security import attacks
from seed import checks
from tests.conftest import TEST_KEY

VARIANTS = ("baseline", "review", "hardened")

# What the review's SQL, as written, lets an API user do (schema/README.md).
REVIEW_SUCCEEDS = {
    "escalation.org_switch", "escalation.role_promote", "soft_delete.other_org",
    "cross_tenant_read.audit_log", "audit.secret_read", "audit.tamper", "storage.plaintext_secret",
    "functional.viewer_hidden_dashboards", "anonymous_read",
    "cross_tenant_update", "cross_tenant_delete", "cross_tenant_insert",
    # RLS is enabled only on users, projects and dashboards: every other table is open.
    *(f"cross_tenant_read.{t}" for t in ("organizations", "project_members", "datasets", "capabilities",
                                         "knowledge_bases", "documents", "mcp_integrations", "user_activity_log")),
}
# Where the review's policies do hold (without the escalation), and the refresh that
# anyone may call but that always fails (no unique index on the view).
REVIEW_HOLDS = {"cross_tenant_read.users", "cross_tenant_read.projects", "cross_tenant_read.dashboards",
                "refresh_stats.as_user"}
REVIEW_NOT_APPLICABLE = {"cross_tenant_read.activity_partitions"}  # its activity log is not partitioned
BASELINE_NOT_APPLICABLE = {"cross_tenant_read.activity_partitions", "soft_delete.other_org", "refresh_stats.as_user",
                           "cross_tenant_read.audit_log", "audit.secret_read", "audit.tamper"}


@contextmanager
def seed_key():
    """The seed's encryption key, for module-scoped fixtures (the autouse one is per test)."""
    old = os.environ.get(secrets.KEY_ENV)
    os.environ[secrets.KEY_ENV] = TEST_KEY
    secrets.key.cache_clear()
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(secrets.KEY_ENV, None)
        else:
            os.environ[secrets.KEY_ENV] = old
        secrets.key.cache_clear()


@pytest.fixture(scope="module")
def conn(shared_tiny_dsn):
    with psycopg.connect(shared_tiny_dsn, autocommit=True) as c:
        yield c


@pytest.fixture(scope="module")
def actors(conn):
    return attacks.pick_actors(conn, "hardened")  # the same logical rows, so the same ids everywhere


@pytest.fixture(scope="module")
def findings(conn, actors) -> dict[str, dict[str, attacks.Finding]]:
    with seed_key():
        return {v: {f.attack: f for f in attacks.run_all(conn, v)} for v in VARIANTS}


def test_actors_are_distinct_people_of_two_organisations(actors):
    assert actors.org_a != actors.org_b
    assert len({actors.a_owner, actors.a_member, actors.b_owner, actors.b_colleague}) == 4
    assert actors.b_capability is not None and actors.viewer is not None


@pytest.mark.parametrize("attack_id", list(attacks.ATTACKS))
def test_attack_fails_on_hardened(conn, actors, attack_id):
    finding = attacks.run(conn, "hardened", attack_id, actors)
    assert finding.applicable, finding.evidence  # hardened has every object the attacks target
    assert not finding.succeeded, finding.evidence


@pytest.mark.parametrize("attack_id", list(attacks.ATTACKS))
def test_review_findings_are_detected(findings, attack_id):
    finding = findings["review"][attack_id]
    if attack_id in REVIEW_NOT_APPLICABLE:
        assert not finding.applicable
    else:
        assert finding.applicable, finding.evidence
        assert finding.succeeded == (attack_id in REVIEW_SUCCEEDS), finding.evidence


def test_every_attack_has_an_expected_review_outcome():
    assert REVIEW_SUCCEEDS | REVIEW_HOLDS | REVIEW_NOT_APPLICABLE == set(attacks.ATTACKS)
    assert not (REVIEW_SUCCEEDS & REVIEW_HOLDS)


def test_attacks_register_family_by_family_in_families_order():
    # each attack lives in one family file of bench/security/attacks/, and they run family by family
    families = [getattr(a.run, "func", a.run).__module__ for a in attacks.ATTACKS.values()]
    assert [family for family, _ in groupby(families)] == [f"{attacks.__name__}.{f}" for f in attacks.FAMILIES]


def test_review_refresh_is_open_to_users_but_fails(findings):
    evidence = findings["review"]["refresh_stats.as_user"].evidence
    assert "EXECUTE granted to authenticated" in evidence and "(55000)" in evidence
    assert "(42501)" in findings["hardened"]["refresh_stats.as_user"].evidence


def test_review_escalation_turns_zero_into_all(findings):
    # before the switch the member saw none of org B's projects; after it, some
    assert "visible before 0, after " in findings["review"]["escalation.org_switch"].evidence
    assert "after 0" not in findings["review"]["escalation.org_switch"].evidence


def test_baseline_is_reported_and_labelled(findings):
    for attack_id, f in findings["baseline"].items():
        if attack_id in BASELINE_NOT_APPLICABLE:
            assert not f.applicable and f.evidence.startswith("not applicable:"), attack_id
            continue
        assert f.applicable, attack_id
        kind = attacks.ATTACKS[attack_id].kind
        if kind == "user":  # no RLS: every user-level attack works through the API grants
            assert f.succeeded and f.evidence.startswith("[no RLS] "), (attack_id, f.evidence)
    assert findings["baseline"]["storage.plaintext_secret"].succeeded
    assert not findings["baseline"]["functional.viewer_hidden_dashboards"].succeeded


def test_run_all_contract(findings):
    for variant in VARIANTS:
        assert list(findings[variant]) == list(attacks.ATTACKS)
        for f in findings[variant].values():
            assert f.variant == variant and f.evidence.strip()
    assert sum(f.succeeded for f in findings["review"].values()) >= 1
    assert [f for f in findings["hardened"].values() if f.succeeded] == []


def test_markdown_table_lists_every_finding(findings):
    rows = attacks.table(list(findings["review"].values())).splitlines()
    assert len(rows) == 2 + len(attacks.ATTACKS)
    assert any("escalation.org_switch | review | YES" in r for r in rows)


def snapshot(conn) -> dict:
    state = {v: checks.checksums(conn, v) for v in VARIANTS}
    for v in ("review", "hardened"):
        state[f"{v}.audit_log"] = conn.execute(f"SELECT count(*) FROM {v}.audit_log").fetchone()[0]
        state[f"{v}.mv"] = conn.execute(f"SELECT md5(string_agg(m::text, ',' ORDER BY category)) "
                                        f"FROM {v}.mv_capability_stats m").fetchone()[0]
    return state


def test_attacks_leave_the_database_unchanged(tiny_dsn):
    with psycopg.connect(tiny_dsn, autocommit=True) as conn:
        before = snapshot(conn)
        found = [f for v in VARIANTS for f in attacks.run_all(conn, v)]
        assert any(f.succeeded for f in found)  # they did write (archive, delete, escalate) ...
        assert snapshot(conn) == before  # ... and it was all rolled back
        assert conn.execute("SELECT current_user").fetchone()[0] != "authenticated"


def test_attacks_refuse_a_connection_that_is_subject_to_rls(conn):
    from bench.core.errors import BenchError

    with attacks.sandbox(conn):
        conn.execute("SET LOCAL ROLE authenticated")
        with pytest.raises(BenchError, match="superuser or BYPASSRLS"):
            attacks.run_all(conn, "hardened")
