"""Privilege escalation: a member rewrites their own users row to change organisation or role."""

from __future__ import annotations

from bench.security.attacks.base import Target, attack, attempt


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
