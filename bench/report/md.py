"""Markdown pieces shared by summary.md's tables (GitHub-flavoured: cells escape '|')."""

from __future__ import annotations


def escape(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def table(rows: list[dict]) -> list[str]:
    """Lines of a table whose columns are the rows' keys in first-seen order ([] for no rows)."""
    if not rows:
        return []
    columns = list(dict.fromkeys(k for r in rows for k in r))
    return (["| " + " | ".join(escape(c) for c in columns) + " |", "|" + " --- |" * len(columns)]
            + ["| " + " | ".join(escape(r.get(c, "")) for c in columns) + " |" for r in rows])
