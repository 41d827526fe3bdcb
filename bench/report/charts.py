"""The charts of a run with latency, storage and security sections: one function each,
registered with `@chart` (see registry.py). Each draws from results.json only.

Needs: matplotlib (Agg). Latency intervals are the 95% bootstrap intervals over rounds
(bench.judge.stats); percentile spectra come from the cells' HDR histograms (bench.judge.stats.decode).
"""

from __future__ import annotations

import math
import textwrap

import numpy as np
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle

from bench.judge import stats, verdicts
from bench.judge import text as txt
from bench.report import data as d
from bench.report import style
from bench.report.registry import chart

SPECTRUM = (50, 75, 90, 95, 98, 99, 99.5, 99.9)
SPECTRUM_TICKS = (50, 90, 99, 99.9)
SPECTRUM_COLUMNS = 4


def _variants_with(data: dict, names) -> list[str]:
    names = set(names)
    return [v for v in d.variant_order(data) if v in names]


def _legend(fig, variants: list[str], order: list[str], extra=()):
    handles = [Line2D([], [], marker="o", linestyle="-", color=style.variant_colour(v, order), label=v)
               for v in variants]
    style.legend(fig, handles + list(extra))


# ---- verdicts ---------------------------------------------------------------------------
def _verdict_height(data: dict) -> float:
    return 1.0 + 0.62 * len(d.claims())


@chart("verdicts", "Verdicts per claim", "Each claim of the review per variant against baseline: the verdict "
       "and the measured figure with its 95% interval (confirmed only when the whole interval meets the claim).",
       order=10, needs=None, height=_verdict_height)
def verdict_table(fig, data):
    rows = d.verdict_rows(data)
    variants = [v for v in d.variant_order(data) if any(r["variant"] == v for r in rows)]
    variants = [v for v in variants if v != d.REFERENCE] + [v for v in variants if v == d.REFERENCE]
    claims = d.claims()
    ax = fig.add_subplot()
    ax.set_axis_off()
    label_w = 0.34
    col_w = (1 - label_w) / max(1, len(variants))
    n = len(claims)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, n + 0.8)
    ax.text(0.005, n + 0.4, "claim (as the review states it)", fontweight="bold", va="center")
    for j, v in enumerate(variants):
        ax.text(label_w + (j + 0.5) * col_w, n + 0.4, f"{v} vs baseline" if v != d.REFERENCE else v,
                fontweight="bold", ha="center", va="center")
    for i, (claim_id, claim) in enumerate(claims):
        y = n - 1 - i
        ax.text(0.005, y + 0.56, "\n".join(textwrap.wrap(claim["claim"], 44)), va="center", fontsize=9)
        kind = txt.figure_kind({"claim": claim_id})
        if kind:
            ax.text(0.005, y + 0.16, f"figure: {kind}", va="center", fontsize=7.5, color="#57606a")
        ax.axhline(y, color="#d0d7de", linewidth=0.6)
        if not any(r["claim"] == claim_id and r["variant"] in variants for r in rows):
            ax.text(label_w + (1 - label_w) / 2, y + 0.5, "not measured in this run", ha="center", va="center",
                    color="#8c959f", style="italic")
            continue
        for j, v in enumerate(variants):
            found = [r for r in rows if r["claim"] == claim_id and r["variant"] == v]
            x = label_w + j * col_w
            if not found:
                ax.text(x + col_w / 2, y + 0.5, "–", ha="center", va="center", color="#8c959f")
                continue
            r = found[0]
            strong, light = style.verdict_colours(r["verdict"])
            ax.add_patch(Rectangle((x + 0.006, y + 0.08), col_w - 0.012, 0.84, facecolor=light, edgecolor=strong,
                                   linewidth=0.8))
            ax.text(x + col_w / 2, y + 0.64, r["verdict"].upper(), ha="center", va="center", color=strong,
                    fontweight="bold", fontsize=9)
            ax.text(x + col_w / 2, y + 0.3, txt.figure_text(r, short=True), ha="center", va="center", fontsize=8,
                    color="#24292f")
    if not variants:
        ax.text(0.5, n / 2, "no verdicts in this run", ha="center", color="#57606a")
    style.title(fig, "Verdicts: the review's claims, measured")


# ---- latency per scenario ----------------------------------------------------------------
def _latency_variants(data: dict) -> list[str]:
    return _variants_with(data, [c["variant"] for c in d.latency_cells(data)])


def _latency_height(data: dict) -> float:
    per = 0.16 * max(3, len(_latency_variants(data))) + 0.06
    return 1.5 + per * len(d.scenarios(data))


@chart("latency_by_scenario", "Latency per scenario",
       "Median latency per request of each scenario on each variant: the mean of the round medians, whiskers "
       "the 95% bootstrap interval over rounds (log scale, ms). Cells whose requests failed are marked.",
       order=20, needs="latency", height=_latency_height, applies=lambda data: bool(d.latency_cells(data)))
def latency_by_scenario(fig, data):
    order = d.variant_order(data)
    variants = _latency_variants(data)
    scenarios = d.scenarios(data)
    ax = fig.add_subplot()
    n, k = len(scenarios), len(variants)
    step = 0.8 / max(1, k)
    lows, highs, marks = [], [], []
    for i, s in enumerate(scenarios):
        base_y = n - 1 - i
        for j, v in enumerate(variants):
            y = base_y + 0.4 - step * (j + 0.5)
            c = d.cell(data, s["name"], v)
            colour = style.variant_colour(v, order)
            if not d.measured(c):
                marks.append((y, c, colour))
                continue
            iv = d.median_interval(c)
            est = iv.estimate if iv else c["latency"]["p50_ms"]
            lo = iv.low if iv and math.isfinite(iv.low) else est
            hi = iv.high if iv and math.isfinite(iv.high) else est
            ax.errorbar([est], [y], xerr=[[est - lo], [hi - est]], fmt="o", color=colour, markersize=4.5,
                        elinewidth=1.6, capsize=2.5)
            ax.text(hi * 1.06, y, txt.fmt_ms(est), va="center", fontsize=7.5, color="#24292f")
            lows.append(max(lo, 1e-3))
            highs.append(hi)
    ax.set_xscale("log")
    if lows:
        ax.set_xlim(min(lows) / 1.6, max(highs) * 2.2)
    left = ax.get_xlim()[0]
    for y, c, colour in marks:
        if c is None or not c.get("applicable", True):
            ax.text(left * 1.08, y, "not applicable", va="center", fontsize=7.5, color="#8c959f")
        else:
            known = " (known defect)" if c.get("expected_failure") else ""
            ax.text(left * 1.08, y, f"✕ every request failed: {c.get('errors', 0)} errors{known}", va="center",
                    fontsize=7.5, color=style.FINDING_COLOURS["succeeds"][0])
    target = verdicts.targets()["avg_latency"]["max_ms"]
    if highs and max(highs) * 2.2 > target:
        ax.axvline(target, color="#cf222e", linestyle="--", linewidth=1)
        ax.text(target, n - 0.45, f" {target:g} ms", color="#cf222e", fontsize=8, va="bottom")
    ax.set_yticks([n - 1 - i for i in range(n)],
                  [f"{s['name']}\n({s.get('kind') or '?'})" for s in scenarios], fontsize=8)
    ax.set_ylim(-0.6, n - 0.4)
    for i in range(1, n):
        ax.axhline(i - 0.5, color="#eaeef2", linewidth=0.8)
    ax.grid(axis="y", visible=False)
    style.plain_log_ticks(ax.xaxis)
    ax.set_xlabel("median latency per request (ms, log scale); whiskers: 95% bootstrap interval over rounds")
    _legend(fig, variants, order)
    rounds = (data["latency"].get("config") or {}).get("rounds")
    style.title(fig, "Latency per scenario and variant" + (f" ({rounds} interleaved rounds)" if rounds else ""))


# ---- percentile spectra --------------------------------------------------------------------
def _spectrum_rows(data: dict) -> int:
    return max(1, math.ceil(len(d.scenarios(data)) / SPECTRUM_COLUMNS))


def _x(p: float) -> float:
    return -math.log10(1 - p / 100)


@chart("percentile_spectra", "Percentile spectra",
       "Latency at p50 to p99.9 of every request (HDR histograms), per scenario: both axes logarithmic. "
       "With N requests per cell, percentiles above 1 - 1/N are the slowest request.",
       order=30, needs="latency", height=lambda data: 1.0 + 2.15 * _spectrum_rows(data),
       applies=lambda data: any(c.get("hdr") for c in d.latency_cells(data)))
def percentile_spectra(fig, data):
    order = d.variant_order(data)
    variants = _latency_variants(data)
    scenarios = d.scenarios(data)
    rows = _spectrum_rows(data)
    axes = fig.subplots(rows, SPECTRUM_COLUMNS, squeeze=False)
    xs = [_x(p) for p in SPECTRUM]
    for index, ax in enumerate(axes.flat):
        if index >= len(scenarios):
            ax.set_axis_off()
            continue
        s = scenarios[index]
        drawn = False
        for v in variants:
            c = d.cell(data, s["name"], v)
            if not d.measured(c) or not c.get("hdr"):
                continue
            histogram = stats.decode(c["hdr"])
            ys = [v / 1000 for v in stats.percentiles(histogram, SPECTRUM).values()]
            ax.plot(xs, ys, marker="o", markersize=2.5, linewidth=1.4, color=style.variant_colour(v, order))
            drawn = True
        ax.set_title(s["name"], fontsize=9)
        ax.set_yscale("log")
        style.plain_log_ticks(ax.yaxis)
        ax.set_xticks([_x(p) for p in SPECTRUM_TICKS], [f"p{p:g}" for p in SPECTRUM_TICKS])
        ax.set_xlim(xs[0] - 0.1, xs[-1] + 0.1)
        if index % SPECTRUM_COLUMNS == 0:
            ax.set_ylabel("latency (ms)")
        if not drawn:
            ax.text(0.5, 0.5, "no successful request", transform=ax.transAxes, ha="center", color="#8c959f")
    fig.supxlabel("percentile of the cell's requests (spaced by log 1/(1 - p): the tail gets room)", fontsize=9)
    _legend(fig, variants, order)
    style.title(fig, "Percentile spectra per scenario (ms, log scale)")


# ---- storage -------------------------------------------------------------------------------
def _relations(data: dict) -> list[str]:
    tables = (data.get("storage") or {}).get("tables") or []
    totals: dict[str, int] = {}
    for t in tables:
        totals[t["relation"]] = max(totals.get(t["relation"], 0), t.get("total_bytes") or 0)
    return sorted(totals, key=lambda r: -totals[r])


def _storage_variants(data: dict) -> list[str]:
    return _variants_with(data, [t["variant"] for t in data["storage"].get("tables") or []])


def _storage_heights(data: dict) -> tuple[float, float]:
    """Inches of the totals panel and of the per-relation panel."""
    nv = max(1, len(_storage_variants(data)))
    return 0.45 + 0.32 * nv, 0.5 + (0.085 * max(3, nv) + 0.1) * len(_relations(data))


MIB = 1024 * 1024


@chart("storage", "Storage per table",
       "Bytes on disk of the same logical rows in each variant (pg_total_relation_size after VACUUM): on top the "
       "totals split into table (heap and TOAST) and indexes, below each relation with its indexes (log scale).",
       order=60, needs="storage", height=lambda data: 0.9 + sum(_storage_heights(data)),
       applies=lambda data: bool((data.get("storage") or {}).get("tables")))
def storage(fig, data):
    order = d.variant_order(data)
    tables = data["storage"]["tables"]
    variants = _storage_variants(data)
    relations = _relations(data)
    top, bottom = fig.subplots(2, 1, height_ratios=list(_storage_heights(data)))
    totals = {v: {"heap": sum(t.get("heap_bytes") or 0 for t in tables if t["variant"] == v),
                  "index": sum(t.get("index_bytes") or 0 for t in tables if t["variant"] == v),
                  "total": sum(t.get("total_bytes") or 0 for t in tables if t["variant"] == v)} for v in variants}
    base = totals.get(d.REFERENCE, {}).get("total")
    ys = np.arange(len(variants))[::-1]
    for y, v in zip(ys, variants):
        colour = style.variant_colour(v, order)
        heap, index, total = (totals[v][k] / MIB for k in ("heap", "index", "total"))
        top.barh(y, heap, color=colour, height=0.62)
        top.barh(y, index, left=heap, color=colour, alpha=0.45, height=0.62, hatch="//", edgecolor="white")
        label = f"  {total:,.0f} MiB" + (f" ({totals[v]['total'] / base - 1:+.1%} vs baseline)"
                                         if base and v != d.REFERENCE else "")
        top.text(max(total, heap + index), y, label, va="center", fontsize=8.5)
    top.set_yticks(ys, variants)
    top.set_xlabel("MiB on disk, all relations")
    top.set_xlim(0, max((t["total"] for t in totals.values()), default=1) / MIB * 1.6)
    top.grid(axis="y", visible=False)
    top.set_title("Total per variant", loc="left")
    top.legend(handles=[Patch(facecolor="#57606a", label="table + TOAST"),
                        Patch(facecolor="#57606a", alpha=0.45, hatch="//", edgecolor="white", label="indexes")],
               loc="upper right")
    n, k = len(relations), len(variants)
    step = 0.8 / max(1, k)
    values = [t["total_bytes"] / MIB for t in tables if t.get("total_bytes")]
    floor = min(values, default=1) / 2
    for i, relation in enumerate(relations):
        for j, v in enumerate(variants):
            y = n - 1 - i + 0.4 - step * (j + 0.5)
            size = sum(t.get("total_bytes") or 0 for t in tables if t["variant"] == v and t["relation"] == relation)
            if size:
                bottom.barh(y, size / MIB - floor, left=floor, height=step * 0.9,
                            color=style.variant_colour(v, order))
            else:
                bottom.text(floor * 1.1, y, "absent", va="center", fontsize=7, color="#8c959f")
    bottom.set_xscale("log")
    bottom.set_xlim(floor, max(values, default=1) * 1.5)
    style.plain_log_ticks(bottom.xaxis)
    bottom.set_yticks(range(n - 1, -1, -1), relations, fontsize=8)
    bottom.set_ylim(-0.6, n - 0.4)
    bottom.grid(axis="y", visible=False)
    bottom.set_xlabel("MiB on disk per relation, with its indexes and TOAST (log scale)")
    bottom.set_title("Per relation", loc="left")
    _legend(fig, variants, order)
    style.title(fig, "Storage of the same logical rows")


# ---- security ---------------------------------------------------------------------------------
def _attacks(data: dict) -> list[tuple[str, str]]:
    findings = (data.get("security") or {}).get("findings") or []
    kinds = {"user": 0, "storage": 1, "functional": 2}
    attacks = dict.fromkeys((f.get("kind", ""), f["attack"]) for f in findings)
    return sorted(attacks, key=lambda a: kinds.get(a[0], 1))


def finding_state(finding: dict | None) -> str:
    if not finding or not finding.get("applicable", True):
        return "n/a"
    if finding.get("kind") == "functional":
        return "defect" if finding.get("succeeded") else "ok"
    return "succeeds" if finding.get("succeeded") else "blocked"


@chart("security", "Security findings",
       "Every attack run as an API user against each live variant (rolled back): red where the attack "
       "succeeds, green where the schema stops it; amber rows are functional defects, not attacks.",
       order=70, needs="security", height=lambda data: 1.3 + 0.235 * len(_attacks(data)),
       applies=lambda data: bool(_attacks(data)))
def security(fig, data):
    findings = data["security"]["findings"]
    variants = _variants_with(data, [f["variant"] for f in findings])
    attacks = _attacks(data)
    ax = fig.add_subplot()
    ax.set_axis_off()
    label_w = 0.4
    col_w = (1 - label_w) / max(1, len(variants))
    n = len(attacks)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, n + 1.1)
    for j, v in enumerate(variants):
        mine = [f for f in findings
                if f["variant"] == v and f.get("applicable", True) and f.get("kind") != "functional"]
        won = sum(1 for f in mine if f.get("succeeded"))
        ax.text(label_w + (j + 0.5) * col_w, n + 0.55, f"{v}\n{won} of {len(mine)} attacks succeed",
                ha="center", va="center", fontweight="bold", fontsize=8.5)
    for i, (kind, attack) in enumerate(attacks):
        y = n - 1 - i
        ax.text(label_w - 0.01, y + 0.5, attack + ("  (functional)" if kind == "functional" else ""),
                ha="right", va="center", fontsize=8)
        for j, v in enumerate(variants):
            found = next((f for f in findings if f["variant"] == v and f["attack"] == attack), None)
            state = finding_state(found)
            strong, light = style.FINDING_COLOURS[state]
            x = label_w + j * col_w
            ax.add_patch(Rectangle((x + 0.004, y + 0.06), col_w - 0.008, 0.88, facecolor=light, edgecolor=strong,
                                   linewidth=0.6))
            ax.text(x + col_w / 2, y + 0.5, state, ha="center", va="center", color=strong, fontsize=8,
                    fontweight="bold" if state in ("succeeds", "defect") else "normal")
    style.title(fig, "Security: which attacks succeed on which variant")
