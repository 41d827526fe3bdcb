"""The read gain and the write cost side by side, per variant (issue 18): so that the
review's "60-80% faster" is never shown without what its changes cost on writes.

Rows (the same in report.html and summary.md): the median change of the read scenarios
against baseline, the median change of the write scenarios, each write scenario's median
latency and change (or the declared finding that makes it fail), the materialized view's
refresh time (bench run maintenance), and what the seed recorded: the post-data build time
(indexes, FKs, RLS, the view) and the bytes of indexes. Reads results.json only.
"""

from __future__ import annotations

import html
import statistics

from bench.judge import text as txt
from bench.report import data as d
from bench.report import md

READ_KINDS = ("read", "mixed")  # vector search is judged at matched recall (bench run vector)
TITLE = "Read gain and write cost, side by side"


Row = tuple[str, dict[str, str]]  # (label, {variant: text})


def rows(data: dict, per_scenario: bool = True) -> tuple[list[str], list[Row]]:
    """(variants, rows); no rows without a latency section. Without `per_scenario`, only the
    medians and the maintenance rows (summary.md: each scenario is in its latency table)."""
    variants = [v for v in d.variant_order(data) if any(c["variant"] == v for c in d.latency_cells(data))]
    if not variants:
        return [], []
    described = d.scenarios(data)
    reads = [s["name"] for s in described if s.get("kind") in READ_KINDS]
    writes = [s for s in described if s.get("kind") == "write"]
    out = [(f"reads: median change over {len(reads)} read scenarios", _median_change(data, reads, variants)),
           (f"writes: median change over {len(writes)} write scenarios",
            _median_change(data, [s["name"] for s in writes], variants)),
           ("writes failing by a declared finding", _findings(data, [s["name"] for s in writes], variants))]
    for s in writes if per_scenario else ():
        label = f"{s['name']} p50 ms" + ("" if s.get("in_claims", True) else " (write bill)")
        out.append((label, {v: _write_cell(data, s["name"], v) for v in variants}))
    out += _maintenance(data, variants)
    return variants, out


def _findings(data: dict, names: list[str], variants: list[str]) -> dict[str, str]:
    out = {}
    for v in variants:
        failing = [n for n in names if (c := d.cell(data, n, v)) and c.get("expected_failure") and not d.measured(c)]
        out[v] = ", ".join(failing) or "none"
    return out


def _change(data: dict, scenario: str, variant: str) -> float | None:
    comp = d.comparison(data, scenario, variant)
    return comp["median_ratio"]["estimate"] - 1 if comp and comp.get("comparable") else None


def _median_change(data: dict, names: list[str], variants: list[str]) -> dict[str, str]:
    out = {}
    for v in variants:
        if v == d.REFERENCE:
            out[v] = "reference"
            continue
        changes = [c for c in (_change(data, n, v) for n in names) if c is not None]
        out[v] = f"{txt.fmt_change(statistics.median(changes))} ({len(changes)} compared)" if changes else "–"
    return out


def _write_cell(data: dict, scenario: str, variant: str) -> str:
    c = d.cell(data, scenario, variant)
    if c is None or not c.get("applicable", True):
        return "n/a"
    if not d.measured(c):
        return "fails: declared finding" if c.get("expected_failure") else f"fails ({c.get('errors', 0)} errors)"
    iv = d.median_interval(c)
    text = txt.fmt_ms(iv.estimate if iv else c["latency"].get("p50_ms"))
    comp = d.comparison(data, scenario, variant)
    if comp and comp.get("comparable"):
        r = comp["median_ratio"]
        text += (f" ({txt.fmt_change(r['estimate'] - 1)} [{txt.fmt_change(r['low'] - 1)}, "
                 f"{txt.fmt_change(r['high'] - 1)}])")
    return text


def _maintenance(data: dict, variants: list[str]) -> list[tuple[str, dict[str, str]]]:
    out = []
    refreshes = (data.get("maintenance") or {}).get("refreshes") or []
    for mode in ("concurrently", "plain"):
        mine = {r["variant"]: r for r in refreshes if r["mode"] == mode}
        if mine:
            label = f"MV refresh {'CONCURRENTLY' if mode == 'concurrently' else '(plain)'}, mean ms [95%]"
            out.append((label, {v: _refresh_cell(mine.get(v)) for v in variants}))
    post = (data.get("seed") or {}).get("post_data_seconds") or {}
    if post:
        out.append(("post-data build at seed, s (indexes, FKs, RLS, view)",
                    {v: f"{post[v]:.1f}" if v in post else "–" for v in variants}))
    totals = (data.get("storage") or {}).get("totals") or {}
    if totals:
        out.append(("index bytes (seeded)", {v: txt.human_bytes((totals.get(v) or {}).get("index_bytes"))
                                             for v in variants}))
    return out


def _refresh_cell(record: dict | None) -> str:
    if record is None:
        return "no view (live aggregate)"
    if not record["ok"]:  # the known refusal, shortened; any other error as it was
        return "refused: no unique index (plain refresh only, blocks readers)" if record.get("known") else \
            f"fails: {record.get('error', '')}"
    m = record["mean_ms"]
    return f"{txt.fmt_ms(m['estimate'])} [{txt.fmt_ms(m['low'])}, {txt.fmt_ms(m['high'])}] (n={record['count']})"


def _notes(data: dict) -> list[str]:
    notes = ["change = median latency vs baseline (negative is faster), 95% interval over runs; writes rolled back"]
    staleness = (data.get("maintenance") or {}).get("staleness")
    if staleness:
        notes.append(staleness)
    return notes


def html_table(data: dict) -> str:
    variants, table = rows(data)
    if not table:
        return ""
    head = "".join(f'<th class="num">{html.escape(v)}</th>' for v in variants)
    body = "".join(f"<tr><td>{html.escape(label)}</td>"
                   + "".join(f'<td class="num">{html.escape(cells.get(v, "–"))}</td>' for v in variants) + "</tr>"
                   for label, cells in table)
    notes = "".join(f'<p class="note">{html.escape(n)}</p>' for n in _notes(data))
    return (f'<h3 id="balance">{TITLE}</h3><div class="scroll"><table><thead><tr><th></th>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table></div>{notes}")


def markdown(data: dict) -> list[str]:
    """The medians and maintenance rows, one line per variant (each write scenario's own
    figure is in summary.md's latency table)."""
    variants, table = rows(data, per_scenario=False)
    if not table:
        return []
    lines = ["", f"**{TITLE}** ({'; '.join(_notes(data)[:1])})", "",
             "| variant | " + " | ".join(md.escape(label) for label, _ in table) + " |", "| --- |" + " --- |" * len(table)]
    lines += ["| " + md.escape(v) + " | " + " | ".join(md.escape(cells.get(v, "–")) for _, cells in table) + " |"
              for v in variants]
    staleness = _notes(data)[1:]
    return lines + (["", *(f"_{note}_" for note in staleness)] if staleness else [])
