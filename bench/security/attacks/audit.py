"""The audit log: after org B's innocent writes, another tenant reads B's audit rows, a colleague
reads the secret the trigger copied, and a user deletes, rewrites or forges audit rows."""

from __future__ import annotations

import uuid

from bench.security.attacks.base import NotApplicable, Target, attack, attempt
from bench.security.attacks.scan import TOKEN_PREFIX, known_tokens


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
