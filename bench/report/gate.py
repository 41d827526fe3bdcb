"""The whole comparison of two runs, as `bench compare`, `bench baseline compare` and the
release gate (`bench all --baseline NAME`) show it: verdict flips first, then the latency
cells (bench/report/compare.py: moderated t, Benjamini-Hochberg, MDE, HDR tails), then
vector search, the step load, the throughput sweep, the view's refresh, storage, security
and seeding (bench/report/sections.py). Markdown fit for a pull-request comment (a short headline, every section in a collapsible <details>) and
JSON with the same content.

The gate fails when a claim's verdict got worse (confirmed → inconclusive or refuted,
inconclusive → refuted, or no longer judged) or when any section flags a regression.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from bench.report.compare import (
    ALPHA,
    DEFAULT_THRESHOLD,
    POWER,
    Comparison,
    _record,
    check_comparable,
    check_threshold,
    judge,
    shift_text,
)
from bench.report.compare import headline as latency_headline
from bench.report.compare import markdown as latency_markdown
from bench.report import data as d
from bench.report import sections as s

MARKER = "<!-- bench-compare -->"  # lets the PR workflow find and update its one comment
SECTIONS = ("work", "vector", "load", "throughput", "maintenance", "storage", "security", "seeding")
TITLES = {"work": "Work per request", "vector": "Vector search", "load": "Load", "throughput": "Throughput",
          "maintenance": "View maintenance", "storage": "Storage", "security": "Security", "seeding": "Seeding"}
NOT_IN_EITHER = "not in either run"
COMMENT_LIMIT = 60_000  # GitHub refuses comments over 65,536 characters


@dataclass
class Review:
    latency: Comparison | None
    old: dict
    new: dict
    threshold: float
    forced: list[str]
    flips: list[s.Flip]
    items: dict[str, list[s.Item]] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)  # section -> why it has no items

    def worse_verdicts(self) -> list[s.Flip]:
        return [f for f in self.flips if f.direction in (s.WORSE, s.GONE)]

    def section_regressions(self) -> list[s.Item]:
        return [i for items in self.items.values() for i in items if i.status == s.REGRESSION]

    def gate_failures(self) -> list[dict]:
        """What fails the release gate, one record each: worse verdicts, latency cells, other figures."""
        out = [{"section": "verdicts", "what": f"{f.claim} on {f.variant}: {f.old} → {f.new or 'not judged'}"}
               for f in self.worse_verdicts()]
        if self.latency is not None:
            out += [{"section": "latency", **r} for r in self.latency.regressions()]
        out += [{"section": i.section, "what": i.what, "old": i.old, "new": i.new, "change": i.change}
                for i in self.section_regressions()]
        return out

    @property
    def failed(self) -> bool:
        return bool(self.gate_failures())


def review(old: Path | str, new: Path | str, threshold: float = DEFAULT_THRESHOLD,
           force: bool = False) -> Review:
    """Load, check (refused unless forced, as bench compare) and compare two runs."""
    check_threshold(threshold)
    a, _ = d.load(old)
    b, _ = d.load(new)
    comparison = None
    if d.latency_cells(a) and d.latency_cells(b):
        comparison = judge(old, new, threshold, force)  # checks comparability too
        forced = comparison.forced
    else:
        forced = check_comparable(a, b, force)
    result = Review(comparison, a, b, threshold, forced, s.verdict_flips(a, b))
    result.items["work"] = s.work_items(a, b, threshold)
    result.items["vector"] = s.vector_items(a, b, threshold)
    result.items["load"] = s.load_items(a, b, threshold)
    result.items["throughput"] = s.throughput_items(a, b, threshold)
    result.items["maintenance"] = s.maintenance_items(a, b, threshold)
    result.items["storage"] = s.storage_items(a, b, threshold)
    result.items["security"] = s.security_items(a, b)
    result.items["seeding"], seeding_note = s.seeding_items(a, b, threshold)
    attacks = len({(f.get("variant"), f.get("attack")) for f in (a.get("security") or {}).get("findings") or []})
    if a.get("security") and b.get("security") and not result.items["security"]:
        result.notes["security"] = f"no attack changed its outcome ({attacks} compared)"
    for name in SECTIONS:
        if name == "seeding":
            if seeding_note:
                result.notes[name] = seeding_note
        elif name == "work":
            if not result.items["work"]:
                result.notes[name] = "no pg_stat_statements figures in both runs"
        elif not a.get(name) or not b.get(name):
            result.notes[name] = (NOT_IN_EITHER if not a.get(name) and not b.get(name) else
                                  "not in the old run" if not a.get(name) else "not in the new run")
    return result


# ---- Markdown ---------------------------------------------------------------------------------------
def _count(items: list[s.Item]) -> str:
    counts = {status: sum(1 for i in items if i.status == status)
              for status in (s.REGRESSION, s.IMPROVEMENT, s.UNDECIDABLE, s.CHANGED, s.GONE, s.NEW)}
    words = {s.REGRESSION: "regressions", s.IMPROVEMENT: "improvements", s.UNDECIDABLE: "undecidable",
             s.CHANGED: "changed (not gated: no noise estimate covers a rerun)", s.GONE: "gone", s.NEW: "new"}
    parts = [f"{n} {words[status][:-1] if n == 1 and words[status].endswith('s') else words[status]}"
             for status, n in counts.items() if n]
    return ", ".join(parts) or f"no change beyond the threshold ({len(items)} figure{'' if len(items) == 1 else 's'})"


def headline(r: Review) -> list[str]:
    failures = r.gate_failures()
    status = (f"❌ **gate fails: {len(failures)} " + ("regression" if len(failures) == 1 else "regressions")
              + "**" if failures else "✅ **gate passes**: no verdict got worse, no regression beyond "
              f"{r.threshold:.0%}")
    lines = [status, ""]
    worse = r.worse_verdicts()
    better = [f for f in r.flips if f.direction == s.BETTER]
    lines.append("- **Verdicts**: " + (
        "; ".join(f"🔴 {f.claim} on {f.variant} {f.old} → {f.new or 'not judged'}" for f in worse)
        if worse else "none got worse") + (f"; {len(better)} better" if better else ""))
    if r.latency is not None:
        lines.append("- **Latency**: " + latency_headline(r.latency)[0])
        if r.latency.shift:
            lines.append("  - " + shift_text(r.latency.shift, r.threshold))
    else:
        lines.append("- **Latency**: not in both runs")
    for name in SECTIONS:
        items = r.items.get(name) or []
        if r.notes.get(name) == NOT_IN_EITHER:  # e.g. throughput, which bench all does not run
            continue
        flagged = [i for i in items if i.status == s.REGRESSION]
        text = r.notes.get(name) or _count(items)
        if flagged:
            text += ": " + "; ".join(f"{i.what} {_change(i)}" for i in flagged[:5]) + (" …" if len(flagged) > 5 else "")
        lines.append(f"- **{TITLES[name]}**: {text}")
    return lines


def _change(item: s.Item) -> str:
    if item.section == "security":
        return ""
    return f"({s.value_text(item, item.old)} → {s.value_text(item, item.new)})"


def markdown(r: Review) -> str:
    old, new = r.old, r.new
    lines = [MARKER, f"### bench compare: `{old.get('run_id', '?')}` → `{new.get('run_id', '?')}`", "",
             f"{d.run_label(new)} · threshold {r.threshold:.0%}", "", *headline(r), ""]
    lines += _details(f"Verdicts ({len(r.flips)} claims × variants)", _verdict_table(r.flips))
    if r.latency is not None:
        body = latency_markdown(r.latency).splitlines()[4:]  # without its title and run label
        lines += _details(f"Latency: {latency_headline(r.latency)[0].replace('**', '')}", body)
    for name in SECTIONS:
        items = r.items.get(name) or []
        if not items:
            continue
        shown = [i for i in items if i.status not in (s.UNCHANGED, s.NOTED)]
        quiet = len(items) - len(shown)
        table = ["| figure | old → new | change | status | MDE | noise |", "| --- | --- | ---: | --- | ---: | --- |",
                 *[s.item_row(i) for i in shown]]
        if not shown:
            table = []
        if quiet:
            table += ["", f"_{quiet} {'more ' if shown else ''}figures within the threshold "
                          f"({sum(1 for i in items if i.status == s.NOTED)} of them single measurements with no "
                          f"noise estimate)._"]
        lines += _details(f"{TITLES[name]}: {_count(items)}", table)
    if r.forced:
        lines += ["", "Notes:", *[f"- compared despite different {x} (--force)" for x in r.forced]]
    text = "\n".join(lines) + "\n"
    if len(text) > COMMENT_LIMIT:
        text = text[:COMMENT_LIMIT].rsplit("\n", 1)[0]
        text += "\n\n</details>\n" * (text.count("<details>") - text.count("</details>"))
        text += "\n_(cut at 60,000 characters: the whole comparison is in the JSON (--json) and the report artifact)_\n"
    return text


def _details(summary: str, body: list[str]) -> list[str]:
    return ["<details>", f"<summary>{summary}</summary>", "", *body, "", "</details>", ""]


def _verdict_table(flips: list[s.Flip]) -> list[str]:
    if not flips:
        return ["No verdicts in either run."]
    rows = ["| claim | variant | old | new | |", "| --- | --- | --- | --- | --- |"]
    for f in flips:
        mark = {s.WORSE: "🔴 worse", s.BETTER: "🟢 better", s.GONE: "⚠️ no longer judged",
                s.NEW: "🆕 newly judged"}.get(f.direction, "")
        rows.append(f"| {f.claim} | {f.variant} | {f.old or '–'} {_paren(f.old_figure)} | "
                    f"{f.new or '–'} {_paren(f.new_figure)} | {mark} |")
    return rows


def _paren(text: str) -> str:
    return f"({text})" if text else ""


# ---- JSON -------------------------------------------------------------------------------------------
def as_json(r: Review) -> dict:
    comparison = r.latency
    lat = None
    if comparison is not None:
        lat = {"tested": comparison.tested, "alpha": ALPHA, "power": POWER,
               "counts": {status: len(comparison.figures(status)) for status in
                          (s.REGRESSION, s.IMPROVEMENT, s.UNDECIDABLE, s.UNCHANGED)},
               "cells": [{"scenario": c.scenario, "variant": c.variant, "regressions": c.regressions,
                          "figures": {k: _record(f) for k, f in c.figures.items()}}
                         for c in comparison.changes],
               "only_in_one_run": comparison.only}
    return {"old": r.old.get("run_id"), "new": r.new.get("run_id"), "threshold": r.threshold,
            "gate": {"failed": r.failed, "failures": r.gate_failures()},
            "forced": r.forced, "verdicts": [f.record() for f in r.flips], "latency": lat,
            **{name: {"items": [i.record() for i in r.items.get(name) or []], "note": r.notes.get(name)}
               for name in SECTIONS}}


def write_json(r: Review, path: Path | str) -> Path:
    path = Path(path)
    temp = path.with_name(f".{path.name}.tmp")
    temp.write_text(json.dumps(as_json(r), indent=1, default=_jsonable), encoding="utf-8")
    temp.replace(path)
    return path


def _jsonable(value):
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)
