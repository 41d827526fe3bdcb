"""report.html: one self-contained page (charts as base64 data URIs, inline CSS, no
script, no external resource) for a release manager: the verdicts first, then the
details per benchmark, the environment, and the plans folded away."""

from __future__ import annotations

import base64
import html
import json
import math
import textwrap
from pathlib import Path

from bench.core import contention, speed
from bench.judge import text as txt
from bench.judge import verdicts
from bench.report import balance, calibration, charts_tables, charts_throughput, style
from bench.report import data as d
from bench.report.charts import finding_state
from bench.report.charts_capacity import tables as capacity_tables
from bench.report.registry import Chart

NOTE_CHARS = 90  # a verdict's note in the table (the whole note in its tooltip)
SECTIONS = (  # (results key, heading); charts go to the section they need
    ("latency", "Latency per scenario"),
    ("vector", "Vector search"),
    ("load", "Load and capacity"),
    ("throughput", "Throughput model (USL)"),
    ("storage", "Storage"),
    ("security", "Security"),
    ("capacity", "Capacity: growth with rows, projected to full"),
    ("calibration", "Real vs synthetic embeddings"),
)

CSS = """
:root { --fg: #1f2328; --muted: #59636e; --line: #d1d9e0; --soft: #f6f8fa; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--fg); background: #fff;
       font: 14px/1.45 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", "Liberation Sans", sans-serif; }
main { max-width: 1240px; margin: 0 auto; padding: 14px 24px 48px; }
header h1 { font-size: 21px; margin: 0 0 2px; }
header .meta { color: var(--muted); margin: 0; font-size: 13px; }
header .busy { color: #9a6700; font-weight: 600; }
nav { font-size: 13px; margin: 6px 0 0; }
nav a { color: #0969da; text-decoration: none; margin-right: 12px; }
h2 { font-size: 17px; margin: 26px 0 8px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
h3 { font-size: 14px; margin: 18px 0 6px; }
#verdicts h2 { margin-top: 12px; }
section.interrupted { border: 2px solid #cf222e; background: #ffebe9; border-radius: 6px; padding: 2px 14px 8px;
                      margin-top: 12px; }
section.interrupted h2 { color: #cf222e; border: 0; margin-top: 8px; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: var(--soft); font-weight: 600; white-space: nowrap; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
/* Verdict figures now carry two readings and intervals: wrap them, never push the table off screen. */
table.verdicts td.num, tr.scenarios td.num, tr.scenarios th.num { white-space: normal; }
td.claim { font-weight: 600; }
td.claim .note { font-weight: normal; }
table.verdicts td.claim { width: 34%; }
table.verdicts td { padding: 3px 8px; }
.verdict { display: inline-block; min-width: 112px; white-space: nowrap; text-align: center; padding: 1px 8px;
           border-radius: 10px; font-weight: 700; font-size: 12px; letter-spacing: .02em; border: 1px solid; }
.muted, .note { color: var(--muted); }
.note { font-size: 12px; }
.better { color: #1a7f37; } .worse { color: #cf222e; }
.state { font-weight: 600; font-size: 12px; padding: 0 6px; border-radius: 4px; }
ul.notes { margin: 8px 0 0; padding-left: 20px; }
ul.notes li { margin: 2px 0; }
ul.notes li.warn { color: #9a6700; }
figure { margin: 16px 0; }
figure img { display: block; max-width: 100%; height: auto; border: 1px solid var(--line); border-radius: 4px; }
figcaption { color: var(--muted); font-size: 12.5px; margin-top: 4px; }
details { margin: 6px 0; }
summary { cursor: pointer; }
details.plan > summary { font-weight: 600; }
pre { background: var(--soft); border: 1px solid var(--line); border-radius: 4px; padding: 8px; overflow: auto;
      max-height: 420px; font-size: 11.5px; }
code { font-size: 12.5px; }
.scroll { overflow-x: auto; }
table.records td { white-space: nowrap; max-width: 36em; overflow: hidden; text-overflow: ellipsis; }
"""


def esc(value) -> str:
    return html.escape("" if value is None else str(value))


def data_uri(png: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(png.read_bytes()).decode("ascii")


def page(data: dict, charts: list[tuple[Chart, Path]]) -> str:
    by_section: dict[str | None, list[tuple[Chart, Path]]] = {}
    for c, path in charts:
        by_section.setdefault(c.needs, []).append((c, path))
    present = [key for key, _ in SECTIONS if data.get(key)]
    parts = [header(data, present), interrupted_section(data), verdict_section(data, by_section.get(None, []))]
    for key, title in SECTIONS:
        if data.get(key):
            figures = "".join(figure(c, p) for c, p in by_section.get(key, []))  # look first, then read
            parts.append(f'<section id="{key}"><h2>{esc(title)}</h2>{figures}{SECTION_BODIES[key](data)}</section>')
    parts += [environment_section(data), plans_section(data)]
    title = f"pgvector-bench report {data.get('run_id', '')}"
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{esc(title)}</title><style>{CSS}</style></head>\n<body><main>\n"
            + "\n".join(parts) + "\n</main></body></html>\n")


def figure(c: Chart, png: Path) -> str:
    width, height = _png_size(png)
    return (f'<figure id="chart-{esc(c.name)}"><img src="{data_uri(png)}" alt="{esc(c.title)}" '
            f'width="{width}" height="{height}"><figcaption><b>{esc(c.title)}.</b> {esc(c.caption)}</figcaption>'
            "</figure>")


def _png_size(png: Path) -> tuple[int, int]:
    head = png.read_bytes()[16:24]
    return int.from_bytes(head[:4], "big"), int.from_bytes(head[4:], "big")


# ---- header and verdicts -------------------------------------------------------------------
def header(data: dict, sections: list[str]) -> str:
    env = data.get("environment") or {}
    server, machine, harness = env.get("server") or {}, env.get("machine") or {}, env.get("harness") or {}
    facts = [f"run <code>{esc(data.get('run_id', '?'))}</code>", esc(d.run_label(data))]
    if server:
        facts.append(f"PostgreSQL {esc(server.get('server'))}, pgvector {esc(server.get('pgvector'))}")
    if machine.get("cpu_count"):
        facts.append(f"{esc(machine['cpu_count'])} CPUs, {esc(txt.human_bytes(machine.get('memory_bytes')))}")
    busy = contention.busy_notes(data)
    if busy:
        facts.append(f'<span class="busy">machine busy: {esc("; ".join(busy))}</span>')
    if harness.get("git_commit"):
        dirty = " (dirty)" if harness.get("git_dirty") else ""
        facts.append(f"commit <code>{esc(harness['git_commit'][:10])}</code>{dirty}")
    links = ["verdicts"] + sections + ["environment"] + (["plans"] if "latency" in sections else [])
    nav = " ".join(f'<a href="#{k}">{esc(k.capitalize())}</a>' for k in links)
    return (f"<header><h1>Does the hardened schema beat the baseline? The review's claims, measured</h1>"
            f'<p class="meta">{" · ".join(facts)}</p><nav>{nav}</nav></header>')


def interrupted_section(data: dict) -> str:
    """A run cut short says so before any verdict: what stopped, why, what was kept."""
    items = d.interruptions(data)
    if not items:
        return ""
    rows = "".join(f"<li>{esc(d.interruption_text(i))}</li>" for i in items)
    return (f'<section id="interrupted" class="interrupted"><h2>Interrupted run</h2><ul>{rows}</ul>'
            '<p class="note">Every figure and verdict below comes from the measurements completed before the '
            "stop; a verdict needing more rounds says inconclusive.</p></section>")


def badge(verdict: str) -> str:
    strong, light = style.verdict_colours(verdict)
    colours = f"color:{strong};background:{light};border-color:{strong}"
    return f'<span class="verdict" style="{colours}">{esc(verdict)}</span>'


def verdict_section(data: dict, charts: list[tuple[Chart, Path]]) -> str:
    rows, unmeasured = _measured_claims(d.verdict_rows(data))
    body = []
    claim_rows: dict[str, int] = {}
    for r in rows:
        claim_rows[r["claim"]] = claim_rows.get(r["claim"], 0) + 1
    shown = set()
    for i, r in enumerate(rows):
        cells = []
        if r["claim"] not in shown:
            shown.add(r["claim"])
            span = claim_rows[r["claim"]]
            kind = txt.figure_kind(r)
            cells.append(f'<td class="claim" rowspan="{span}">{esc(r["claim_text"])}'
                         f'<div class="note">{esc(kind.capitalize() + ": " if kind else "")}'
                         f'{esc(r.get("metric", ""))}</div></td>')
        note = r.get("note", "")
        short = textwrap.shorten(note, NOTE_CHARS, placeholder=" …")
        cells += [f"<td>{esc(r['variant'])}</td>", f"<td>{badge(r['verdict'])}</td>",
                  f'<td class="num">{esc(txt.figure_text(r))}</td>',
                  '<td class="note"' + (f' title="{esc(note)}"' if short != note else "") + f">{esc(short)}</td>"]
        body.append("<tr>" + "".join(cells) + "</tr>")
        if i + 1 == len(rows) or rows[i + 1]["claim"] != r["claim"]:  # under the claim's last row
            body.append(scenario_details(data, r["claim"]))
    minimum = verdicts.targets().get("min_rounds")
    legend = ("confirmed: the whole 95% interval meets the claim; refuted: the whole interval misses it; "
              "inconclusive: the interval straddles it" + (f", or fewer than {minimum} rounds" if minimum else "")
              + "; not measured: this run did not include that benchmark; not measurable: the compared sides "
              "are the same thing at this scale (e.g. one index), so no difference can be measured. "
              "≥ / ≤ before a figure: only a bound of it (e.g. a vector index whose cheapest setting already "
              "overshoots the target recall).")
    charts_html = "".join(f"<details><summary>{esc(c.title)} as a chart (charts/{esc(c.name)}.png)</summary>"
                          f"{figure(c, p)}</details>" for c, p in charts)
    return (f'<section id="verdicts"><h2>Verdicts</h2><table class="verdicts"><thead><tr><th>Claim (as the review '
            f"states it)</th><th>Variant</th><th>Verdict</th><th class=\"num\">Measured (95% interval)</th>"
            f"<th>Note</th></tr></thead><tbody>{''.join(body)}</tbody></table>{unmeasured_line(unmeasured)}"
            f'<p class="note">{esc(legend)}</p>{notes(data)}{balance.html_table(data)}{charts_html}</section>')


def _measured_claims(rows: list[dict]) -> tuple[list[dict], list[dict]]:
    """(rows of the claims this run judged, the first row of each claim it did not measure
    at all): a claim measured by another command takes one line under the table, not rows
    that would push the measured ones off the first screen."""
    unmeasured = {r["claim"] for r in rows} - {r["claim"] for r in rows if r["verdict"] != verdicts.NOT_MEASURED}
    first = {}
    for r in rows:
        if r["claim"] in unmeasured:
            first.setdefault(r["claim"], r)
    return [r for r in rows if r["claim"] not in unmeasured], list(first.values())


def unmeasured_line(rows: list[dict]) -> str:
    if not rows:
        return ""
    items = "; ".join(f"<b>{esc(r['claim_text'])}</b> ({esc(r.get('note') or 'not measured')})" for r in rows)
    return f'<p class="note unmeasured">{badge(verdicts.NOT_MEASURED)} in this run: {items}.</p>'


def scenario_details(data: dict, claim: str) -> str:
    """An aggregate claim's per-scenario verdicts, in a row under the claim: each variant's
    figure per scenario with its interval and whether it meets the claim on its own."""
    records, rows = d.scenario_table(data, claim)
    if not records:
        return ""
    what = ("time less than baseline = speed ratio" if claim == "query_speedup" else "mean latency")
    head = "".join(f'<th class="num">{esc(v["variant"])}</th>' for v in records)
    body = "".join(f"<tr><td>{esc(name)}</td>" + "".join(_scenario_cell(claim, row, v, name)
                                                         for row, v in zip(cells, records)) + "</tr>"
                   for name, cells in rows)
    lines = "".join(f"<li><b>{esc(v['variant'])}</b>: {esc(txt.aggregate_line(v))}</li>" for v in records)
    opened = " open" if claim == "query_speedup" else ""
    return (f'<tr class="scenarios"><td colspan="5"><details{opened}><summary>Every scenario counts: '
            f"{esc(records[0]['claim_text'])} per scenario</summary><ul class=\"notes\">{lines}</ul>"
            f'<table><thead><tr><th>scenario ({esc(what)}, 95% interval)</th>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table></details></td></tr>")


def _scenario_cell(claim: str, row: dict | None, record: dict, name: str) -> str:
    if row is None:
        why = next((e["reason"] for e in record.get("excluded", []) if e["scenario"] == name), "not measured")
        return f'<td class="num muted">{esc(why)}</td>'
    strong, _ = style.verdict_colours(row["verdict"])
    flags = "".join(f' <span class="state worse">{esc(f)}</span>' for f in txt.scenario_flags(row))
    return (f'<td class="num">{esc(txt.scenario_text(claim, row))} <span class="state" style="color:{strong}">'
            f"{esc(verdicts.MEETS.get(row['verdict'], row['verdict']))}</span>{flags}</td>")


def notes(data: dict) -> str:
    """What a reader must know before trusting the figures (warnings first)."""
    warn, info = [], []
    cells = d.latency_cells(data)
    latency_variants = list(dict.fromkeys(c["variant"] for c in cells))
    if data.get("latency"):
        if len(latency_variants) < 2:
            warn.append(f"only {', '.join(latency_variants) or 'no variant'} measured: no side-by-side comparison")
        else:
            info.append(f"{', '.join(latency_variants)} measured side by side in interleaved rounds, "
                        "after the same warm-up")
        declared = set(d.variant_order(data))
        missing = [v for v in declared if v not in latency_variants]
        if missing and latency_variants:
            warn.append(f"not measured in this run's latency rounds: {', '.join(missing)}")
        rounds = d.rounds_measured(data)
        minimum = verdicts.targets().get("min_rounds", 0)
        if rounds is not None and rounds < minimum:
            warn.append(f"{rounds} rounds: fewer than the {minimum} a timing verdict needs (inconclusive by rule)")
    for c in cells:
        if c.get("errors") and c.get("expected_failure"):
            info.append(f"{c['scenario']} on {c['variant']}: {c['errors']} requests failed as the schema makes "
                        f"them fail ({c['expected_failure']})")
        elif c.get("errors"):
            sample = (c.get("error_samples") or [""])[0]
            warn.append(f"{c['scenario']} on {c['variant']}: {c['errors']} requests failed unexpectedly"
                        + (f": {sample}" if sample else ""))
    items = [f'<li class="warn">{esc(w)}</li>' for w in warn] + [f"<li>{esc(i)}</li>" for i in info]
    return f'<ul class="notes">{"".join(items)}</ul>' if items else ""


# ---- sections ----------------------------------------------------------------------------------
def _change_cell(comp: dict | None, variant: str) -> str:
    if variant == d.REFERENCE:
        return '<td class="num muted">reference</td>'
    if not comp or not comp.get("comparable"):
        return f'<td class="num muted">{esc((comp or {}).get("reason", "–"))}</td>'
    ratio = comp["median_ratio"]
    change = [ratio[k] - 1 for k in ("estimate", "low", "high")]
    css = "better" if change[2] < 0 else "worse" if change[1] > 0 else ""
    return (f'<td class="num {css}">{txt.fmt_change(change[0])} <span class="note">[{txt.fmt_change(change[1])}, '
            f"{txt.fmt_change(change[2])}]</span></td>")


def latency_body(data: dict) -> str:
    config = data["latency"].get("config") or {}
    intro = ""
    if config:
        rounds = d.rounds_measured(data)
        rounds_text = f"{rounds}" if rounds == config.get("rounds") else f"{rounds} of {config.get('rounds')} planned"
        intro = (f'<p class="note">{esc(rounds_text)} rounds of {esc(config.get("requests"))} requests per '
                 f'scenario and variant, {esc(config.get("concurrency"))} connections, {esc(config.get("mode"))} loop, '
                 f'warm-up {esc(config.get("warmup"))} requests. Latency in ms from HDR histograms of every request; '
                 f"change = median latency vs baseline (mean of round medians), 95% bootstrap interval over rounds; "
                 f"negative is faster.</p>")
    head = ("<tr><th>Scenario</th><th>Variant</th>" + "".join(f'<th class="num">{h}</th>' for h in
            ("p50", "p95", "p99", "p99.9", "mean", "req/s", "requests", "errors", "change vs baseline")) + "</tr>")
    order = [v for v in d.variant_order(data) if any(c["variant"] == v for c in d.latency_cells(data))]
    body = []
    for s in d.scenarios(data):
        rows = [(v, d.cell(data, s["name"], v)) for v in order]
        rows = [(v, c) for v, c in rows if c is not None]
        for i, (v, c) in enumerate(rows):
            first = (f'<td rowspan="{len(rows)}"><b>{esc(s["name"])}</b><div class="note">{esc(s.get("kind"))}'
                     f"</div></td>" if i == 0 else "")
            if not c.get("applicable", True):
                body.append(f'<tr>{first}<td>{esc(v)}</td><td class="num muted" colspan="9">not applicable</td></tr>')
                continue
            lat = c.get("latency") or {}
            errors = c.get("errors", 0)
            error_cell = (f'<td class="num {"worse" if errors else ""}">{errors}'
                          + (' <span class="note">(known)</span>' if errors and c.get("expected_failure") else "")
                          + "</td>")
            figures = [txt.fmt_ms(lat.get(k)) for k in ("p50_ms", "p95_ms", "p99_ms", "p99_9_ms", "mean_ms")]
            body.append(f"<tr>{first}<td>{esc(v)}</td>" + "".join(f'<td class="num">{f}</td>' for f in figures)
                        + f'<td class="num">{txt.fmt_rate(lat.get("throughput_rps"))}</td>'
                        f'<td class="num">{lat.get("count", 0):,}</td>{error_cell}'
                        + _change_cell(d.comparison(data, s["name"], v), v) + "</tr>")
    return f'{intro}<div class="scroll"><table><thead>{head}</thead><tbody>{"".join(body)}</tbody></table></div>'


def storage_body(data: dict) -> str:
    section = data["storage"]
    tables = section.get("tables") or []
    order = [v for v in d.variant_order(data) if any(t["variant"] == v for t in tables)]
    totals = section.get("totals") or {}
    base = (totals.get(d.REFERENCE) or {}).get("total_bytes")
    rows = []
    for v in order:
        t = totals.get(v) or {}
        change = (f"{t['total_bytes'] / base - 1:+.1%}" if base and v != d.REFERENCE and t.get("total_bytes")
                  else "reference" if v == d.REFERENCE else "–")
        rows.append(f"<tr><td>{esc(v)}</td>" + "".join(f'<td class="num">{txt.human_bytes(t.get(k))}</td>' for k in
                                                         ("heap_bytes", "index_bytes", "total_bytes"))
                    + f'<td class="num">{change}</td></tr>')
    per = []
    for relation in dict.fromkeys(t["relation"] for t in tables):
        sizes = {t["variant"]: t for t in tables if t["relation"] == relation}
        per.append(f"<tr><td>{esc(relation)}</td>" + "".join(
            f'<td class="num">{txt.human_bytes((sizes.get(v) or {}).get("total_bytes")) if v in sizes else "–"}</td>'
            for v in order) + "</tr>")
    return (f'<table><thead><tr><th>Variant</th><th class="num">table + TOAST</th><th class="num">indexes</th>'
            f'<th class="num">total</th><th class="num">vs baseline</th></tr></thead><tbody>{"".join(rows)}</tbody>'
            f"</table><details><summary>Per relation (total bytes with indexes and TOAST)</summary><table><thead>"
            f'<tr><th>Relation</th>{"".join(f"<th class=num>{esc(v)}</th>" for v in order)}</tr></thead>'
            f'<tbody>{"".join(per)}</tbody></table></details>')


def security_body(data: dict) -> str:
    findings = data["security"].get("findings") or []
    order = [v for v in d.variant_order(data) if any(f["variant"] == v for f in findings)]
    rows = []
    for attack in dict.fromkeys(f["attack"] for f in findings):
        mine = {f["variant"]: f for f in findings if f["attack"] == attack}
        some = next(iter(mine.values()))
        cells = []
        for v in order:
            state = finding_state(mine.get(v))
            strong, light = style.FINDING_COLOURS[state]
            evidence = (mine.get(v) or {}).get("evidence", "")
            cells.append(f'<td><span class="state" style="color:{strong};background:{light}">{esc(state)}</span>'
                         f'<div class="note">{esc(evidence)}</div></td>')
        rows.append(f'<tr><td><b>{esc(attack)}</b><div class="note">{esc(some.get("kind"))}: '
                    f'{esc(some.get("description"))}</div></td>{"".join(cells)}</tr>')
    return (f"<details><summary>Every attack with its evidence</summary><table><thead><tr><th>Attack</th>"
            f'{"".join(f"<th>{esc(v)}</th>" for v in order)}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
            f"</details>")


def record_table(rows: list[dict], limit: int = 300) -> str:
    """Any list of flat records as a table (sections whose layout this page does not know)."""
    columns = list(dict.fromkeys(k for r in rows for k in r))
    def cell(value):
        if isinstance(value, float):
            return f'<td class="num">{value:.4g}</td>' if math.isfinite(value) else '<td class="num">–</td>'
        if isinstance(value, int) and not isinstance(value, bool):
            return f'<td class="num">{value:,}</td>'
        return f"<td>{esc(textwrap.shorten(str(value), 160, placeholder=' …') if value is not None else '')}</td>"
    body = "".join("<tr>" + "".join(cell(r.get(c)) for c in columns) + "</tr>" for r in rows[:limit])
    more = f'<p class="note">{len(rows) - limit} more rows in results.json</p>' if len(rows) > limit else ""
    head = "".join(f"<th>{esc(c)}</th>" for c in columns)
    return (f'<div class="scroll"><table class="records"><thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table></div>{more}")


def records_body(key: str):
    """The vector and load sections as tables of their records (see charts_tables.py)."""
    def body(data: dict) -> str:
        parts = [f"<h3>{esc(title)}</h3>{record_table(rows)}" for title, rows in charts_tables.tables(key, data[key])]
        return "".join(parts) or '<p class="note">This section has no data this report knows how to show.</p>'
    return body


def throughput_body(data: dict) -> str:
    """The USL parameters per variant, and users at the SLO by the model next to Locust's."""
    section = data["throughput"]
    config = section.get("config") or {}
    layout = config.get("cpu_layout") or {}
    where = (f"server pinned to CPU {','.join(map(str, layout['server_cpus']))}, client to CPU "
             f"{','.join(map(str, layout['load_cpus']))}" if layout.get("pinned") else
             f"not pinned ({layout.get('reason')})")
    return (f"<h3>USL parameters (95% intervals: {esc(section.get('interval', ''))})</h3>"
            f"{record_table(charts_throughput.parameter_rows(section))}"
            "<h3>Users at the SLO: the model (interactive response time law, users = N + X·Z) next to Locust</h3>"
            f"{record_table(charts_throughput.users_rows(section, data.get('load')))}"
            f'<p class="note">{esc(where)}; {esc(config.get("windows"))} windows of {esc(config.get("window_seconds"))}'
            f" s per level; projections assume throughput at the SLO scales with cores (an upper estimate).</p>")


def capacity_body(data: dict) -> str:
    """The capacity sweep (bench capacity): sizes, held-out validation, projections."""
    return "".join(f"<h3>{esc(title)}</h3>" + (f'<p class="note">{esc(note)}</p>' if note else "")
                   + (record_table(rows) if rows else "") for title, rows, note in capacity_tables(data["capacity"]))


def calibration_body(data: dict) -> str:
    """bench calibrate: the vector verdict on real and synthetic data, recall, geometry."""
    return "".join(f"<h3>{esc(title)}</h3>{record_table(rows)}" + (f'<p class="note">{esc(note)}</p>' if note else "")
                   for title, rows, note in calibration.tables(data["calibration"]))


SECTION_BODIES = {"latency": latency_body, "vector": records_body("vector"), "load": records_body("load"),
                  "storage": storage_body, "security": security_body, "throughput": throughput_body,
                  "capacity": capacity_body, "calibration": calibration_body}


def environment_section(data: dict) -> str:
    env = data.get("environment") or {}
    rows = []
    server = env.get("server") or {}
    if server:
        rows += [("server", f"PostgreSQL {server.get('server')} at {server.get('where', '')}"),
                 ("pgvector", server.get("pgvector")),
                 ("pg_stat_statements", "yes" if server.get("pg_stat_statements") else "no")]
        rows += [(f"setting {k}", v) for k, v in (server.get("settings") or {}).items()]
    machine = env.get("machine") or {}
    if machine:
        rows += [("cpu", f"{machine.get('cpu_count')} x {machine.get('cpu_model')}"),
                 ("memory", txt.human_bytes(machine.get("memory_bytes"))), ("platform", machine.get("platform")),
                 ("python", machine.get("python"))]
        if machine.get("speed_probe"):
            rows.append(("speed probe", speed.text(machine["speed_probe"])))
    harness = env.get("harness") or {}
    if harness:
        rows.append(("harness", f"{harness.get('version')} @ {harness.get('git_commit') or 'unknown'}"
                     + (" (dirty)" if harness.get("git_dirty") else "")))
    layout = data.get("cpu_layout") or {}
    if layout:
        rows.append(("cpu layout", ", ".join(f"{k} {v}" for k, v in layout.items())))
    dataset = data.get("dataset") or {}
    for k, v in dataset.items():
        rows.append((f"dataset {k}", ", ".join(f"{t} {n:,}" for t, n in v.items()) if isinstance(v, dict) else v))
    config = (data.get("latency") or {}).get("config") or {}
    if config:
        rows.append(("latency config", ", ".join(f"{k} {v}" for k, v in config.items())))
    body = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in rows)
    return f'<section id="environment"><h2>Environment</h2><table class="env"><tbody>{body}</tbody></table></section>'


def plans_section(data: dict) -> str:
    scenario_sql = {s["name"]: s.get("sql") or {} for s in (data.get("latency") or {}).get("scenarios") or []
                    if isinstance(s, dict) and "name" in s}
    parts = []
    for s in d.scenarios(data):
        inner = []
        for v in d.variant_order(data):
            c = d.cell(data, s["name"], v)
            if not c or not c.get("applicable", True) or not c.get("explain"):  # none in an interrupted run
                continue
            plan = c["explain"]
            summary = (f"{v}: {plan.get('node', '?')}, execution {txt.fmt_ms(plan.get('execution_ms'))} ms, planning "
                       f"{txt.fmt_ms(plan.get('planning_ms'))} ms, buffers hit {plan.get('shared_hit', '–')} read "
                       f"{plan.get('shared_read', '–')}" if "error" not in plan else f"{v}: EXPLAIN failed")
            sql = scenario_sql.get(s["name"], {}).get(v) or scenario_sql.get(s["name"], {}).get("*")
            body = (f"<pre>{esc(sql)}</pre>" if sql else "") + (
                f"<pre>{esc(plan['error'])}</pre>" if "error" in plan else
                f"<pre>{esc(json.dumps(plan.get('plan'), indent=1))}</pre>")
            inner.append(f"<details><summary>{esc(summary)}</summary>{body}</details>")
        if inner:
            parts.append(f'<details class="plan"><summary>{esc(s["name"])}</summary>{"".join(inner)}</details>')
    if not parts:
        return ""
    return ('<section id="plans"><h2>Plans</h2><p class="note">EXPLAIN (ANALYZE, BUFFERS) of one request per '
            f'scenario and variant, as its user (writes rolled back).</p>{"".join(parts)}</section>')
