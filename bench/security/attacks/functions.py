"""SECURITY DEFINER functions: an API user calls the schema's functions to act beyond their rights."""

from __future__ import annotations

from bench.security.attacks.base import NotApplicable, Target, attack, attempt, ident


@attack("soft_delete.other_org", "a user of org A archives org B's capability via soft_delete_capability()",
        "#18 SECURITY DEFINER, EXECUTE to PUBLIC, no ownership check")
def soft_delete_other(t: Target) -> tuple[bool, str]:
    if not t.one("SELECT to_regprocedure(%s) IS NOT NULL", (f"{ident(t.variant.name)}.soft_delete_capability(uuid)",)):
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
    fn = f"{ident(t.variant.name)}.refresh_capability_stats()"
    if not t.one("SELECT to_regprocedure(%s) IS NOT NULL", (fn,)):
        raise NotApplicable("no refresh_capability_stats()")
    may = t.one("SELECT has_function_privilege('authenticated', %s, 'EXECUTE')", (fn,))
    with t.user(t.actors.a_member) as c:
        r = attempt(c, "SELECT refresh_capability_stats()")
    if not r.refused:
        return True, "a user refreshed the materialized view"
    grant = "EXECUTE granted to authenticated" if may else "no EXECUTE for authenticated"
    return False, f"{grant}; call failed: {r.why}"
