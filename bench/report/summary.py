"""summary.md: the verdicts and key figures of a run, compact enough for a PR comment."""

from __future__ import annotations

from bench.judge import text as txt
from bench.report import balance, calibration, charts_capacity, charts_throughput
from bench.report import data as d
from bench.report.md import escape as md_escape
from bench.report.md import table as md_table

ICONS = {"confirmed": "✅", "refuted": "❌", "inconclusive": "⚠️", "not measured": "➖", "not measurable": "🟰"}


def markdown(data: dict) -> str:
    lines = [f"### pgvector-bench `{data.get('run_id', '?')}`: the review's claims, measured", "",
             *_interrupted(data), _context(data), "", "| claim | variant | verdict | measured (95% interval) |",
             "| --- | --- | --- | --- |"]
    for r in d.verdict_rows(data):
        lines.append(f"| {md_escape(r['claim_text'])} | {md_escape(r['variant'])} | "
                     f"{ICONS.get(r['verdict'], '')} {md_escape(r['verdict'])} | {md_escape(txt.figure_text(r))} |")
    lines += _every_scenario(data)
    lines += balance.markdown(data)  # the write cost beside the read claims
    key = key_figures(data)
    if key:
        lines += ["", *key]
    lines += throughput_lines(data)
    lines += capacity_lines(data)
    lines += calibration.lines(data)
    lines += ["", "_Confirmed only when the whole 95% interval meets the claim. Full report: `report.html` in the "
                  "run directory._"]
    return "\n".join(lines) + "\n"


def _every_scenario(data: dict) -> list[str]:
    """Under the verdicts: how many scenarios meet each aggregate claim on their own, and
    which are slower than baseline (per-scenario marks in the latency table below)."""
    lines = [f"- {md_escape(r['claim_text'])}, {md_escape(r['variant'])}: {md_escape(txt.aggregate_line(r))}"
             for r in d.verdict_rows(data) if txt.aggregate_line(r)]
    if not lines:
        return []
    return ["", "**Every scenario counts** (each scenario's own 95% interval against the claim):", *lines]


def _speedup_marks(data: dict) -> dict[tuple[str, str], str]:
    """(scenario, variant) -> whether it meets the query_speedup claim on its own."""
    records, rows = d.scenario_table(data, "query_speedup")
    marks = {}
    for name, cells in rows:
        for row, v in zip(cells, records):
            if row:
                flags = "".join(f", {f}" for f in txt.scenario_flags(row))
                marks[(name, v["variant"])] = f" {ICONS.get(row['verdict'], '')}{flags}"
    return marks


def _interrupted(data: dict) -> list[str]:
    """First, before any figure: what was cut short, why, and what was kept."""
    items = d.interruptions(data)
    if not items:
        return []
    return [f"> ⚠️ **Interrupted run**: {md_escape('; '.join(d.interruption_text(i) for i in items))}.", ""]


def _context(data: dict) -> str:
    env = data.get("environment") or {}
    server = env.get("server") or {}
    machine = env.get("machine") or {}
    parts = [d.run_label(data)]
    if server:
        parts.append(f"PostgreSQL {server.get('server')}, pgvector {server.get('pgvector')}")
    if machine.get("cpu_count"):
        parts.append(f"{machine['cpu_count']} CPUs")
    config = (data.get("latency") or {}).get("config") or {}
    if config.get("rounds"):
        measured = d.rounds_measured(data)
        rounds = f"{config['rounds']}" if measured == config["rounds"] else f"{measured} of {config['rounds']}"
        parts.append(f"{rounds} rounds x {config.get('requests')} requests")
    commit = (env.get("harness") or {}).get("git_commit")
    if commit:
        parts.append(f"commit {commit[:10]}")
    return " · ".join(parts)


def key_figures(data: dict) -> list[str]:
    """Median latency (mean of round medians, ms) per scenario and variant, and the change
    of each variant against baseline with its 95% interval."""
    cells = d.latency_cells(data)
    if not cells:
        return []
    variants = [v for v in d.variant_order(data) if any(c["variant"] == v for c in cells)]
    head = "| scenario | " + " | ".join(f"{v} p50 ms" for v in variants) + " |"
    lines = ["**Median latency per scenario** (ms; change vs baseline with its 95% interval, negative is faster; "
             "✅ / ❌ / ⚠️: meets / misses / may meet the query improvement claim on its own)",
             "", head, "| --- |" + " ---: |" * len(variants)]
    marks = _speedup_marks(data)
    for s in d.scenarios(data):
        row = []
        for v in variants:
            c = d.cell(data, s["name"], v)
            if c is None or not c.get("applicable", True):
                row.append("n/a")
                continue
            if not d.measured(c):
                row.append(f"fails ({c.get('errors', 0)} errors)")
                continue
            iv = d.median_interval(c)
            text = txt.fmt_ms(iv.estimate if iv else c["latency"].get("p50_ms"))
            comp = d.comparison(data, s["name"], v)
            if comp and comp.get("comparable"):
                r = comp["median_ratio"]
                text += (f" ({txt.fmt_change(r['estimate'] - 1)} [{txt.fmt_change(r['low'] - 1)}, "
                         f"{txt.fmt_change(r['high'] - 1)}]){marks.get((s['name'], v), '')}")
            elif c.get("errors"):
                text += f", {c['errors']} errors"
            row.append(text)
        lines.append(f"| {md_escape(s['name'])} | " + " | ".join(md_escape(x) for x in row) + " |")
    totals = (data.get("storage") or {}).get("totals") or {}
    if totals:
        sizes = [f"{v} {txt.human_bytes(totals[v].get('total_bytes'))}" for v in d.variant_order(data)
                 if isinstance(totals.get(v), dict)]
        lines += ["", "**Storage** (all relations): " + ", ".join(sizes)]
    findings = (data.get("security") or {}).get("findings") or []
    if findings:
        counts = []
        for v in d.variant_order(data):
            mine = [f for f in findings if f["variant"] == v and f.get("applicable", True)
                    and f.get("kind") != "functional"]
            if mine:
                counts.append(f"{v} {sum(1 for f in mine if f.get('succeeded'))} of {len(mine)}")
        lines += ["", "**Attacks that succeed**: " + ", ".join(counts)]
    return lines


def throughput_lines(data: dict) -> list[str]:
    """The USL parameters per variant and users at the SLO by the model next to Locust's
    measured capacity (the throughput section; nothing without it)."""
    section = data.get("throughput")
    if not section:
        return []
    lines = []
    for title, rows in (("**Throughput model (USL)**, 95% intervals over windows", charts_throughput.parameter_rows(
            section)), ("**Users at p95 < SLO**: the model (users = N + X·Z) next to Locust's step load",
                        charts_throughput.users_rows(section, data.get("load")))):
        if rows:
            lines += ["", title, "", *md_table(rows)]
    return lines


def capacity_lines(data: dict) -> list[str]:
    """The capacity sweep: the held-out validation of latency and the projections to full
    (labelled as projections, with the sizes they were fitted on); nothing without it."""
    section = data.get("capacity")
    if not section:
        return []
    lines = ["", "**Capacity sweep** (`bench capacity`): " + "; ".join(
        f"{r['size']} {r['wall s']} s" for r in charts_capacity.size_rows(section)) + " (wall time per size)"]
    tables = charts_capacity.tables(section)
    for title, rows, note in tables[1:3] + [t for t in tables if t[0].startswith("Sizing")]:
        lines += ["", f"**{md_escape(title)}**", "", *([md_escape(note), ""] if note else []), *md_table(rows)]
    return lines
