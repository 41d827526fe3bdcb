"""Functional defects: policies that lock legitimate users out (reported with the findings,
not counted as attacks by the verdict)."""

from __future__ import annotations

from bench.security.attacks.base import NotApplicable, Target, attack, attempt


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
