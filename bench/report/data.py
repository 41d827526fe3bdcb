"""Reading a results.json for reports and `bench compare`: load and check it (one-line
BenchError for a file the renderers cannot read), pick out cells, order variants, and
format figures the same way in charts, HTML, Markdown and compare.

Reports only read results (STYLE: results are data, never edited by analysis).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from bench import results as results_file
from bench import stats, verdicts
from bench.errors import BenchError

REFERENCE = "baseline"


# ---- loading ------------------------------------------------------------------------
def load(path: Path | str) -> tuple[dict, Path]:
    """The results of a run (a results.json or the run dir holding one) and its file."""
    path = Path(path)
    file = path / results_file.FILE_NAME if path.is_dir() else path
    data = results_file.load(path)  # missing, not JSON, no or wrong schema_version: one line
    check(data, file)
    return data, file


def check(data: dict, file: Path) -> None:
    """The shapes the renderers rely on; anything else is a malformed file (one line)."""
    def bad(where: str, what: str) -> BenchError:
        return BenchError(f"{file} is malformed: {where} {what}")

    for key in ("variants", "verdicts"):
        if key in data and not isinstance(data[key], list):
            raise bad(key, "is not a list")
    for i, v in enumerate(data.get("verdicts") or []):
        if not isinstance(v, dict) or not {"claim", "variant", "verdict"} <= v.keys():
            raise bad(f"verdicts[{i}]", "lacks claim, variant or verdict")
    for key in ("environment", "dataset", "latency", "storage", "security", "vector", "load"):
        if data.get(key) is not None and not isinstance(data[key], dict):
            raise bad(key, "is not an object")
    latency = data.get("latency")
    if latency:
        if not isinstance(latency.get("results"), list):
            raise bad("latency.results", "is missing or not a list")
        for i, cell in enumerate(latency["results"]):
            if not isinstance(cell, dict) or not {"scenario", "variant"} <= cell.keys():
                raise bad(f"latency.results[{i}]", "lacks scenario or variant")
            if cell.get("applicable", True) and not isinstance(cell.get("latency"), dict):
                raise bad(f"latency.results[{i}].latency", "is missing")
    storage = data.get("storage")
    if storage and not isinstance(storage.get("tables", []), list):
        raise bad("storage.tables", "is not a list")
    security = data.get("security")
    if security and not isinstance(security.get("findings", []), list):
        raise bad("security.findings", "is not a list")


# ---- picking ------------------------------------------------------------------------
def variant_order(data: dict) -> list[str]:
    """Variants in the order the run lists them, then any others its sections mention."""
    names = [v["name"] for v in data.get("variants") or [] if isinstance(v, dict) and "name" in v]
    seen = [c["variant"] for c in latency_cells(data)]
    seen += [t.get("variant") for t in (data.get("storage") or {}).get("tables", [])]
    seen += [f.get("variant") for f in (data.get("security") or {}).get("findings", [])]
    seen += [v["variant"] for v in data.get("verdicts") or []]
    return list(dict.fromkeys(n for n in names + seen if n))


def latency_cells(data: dict) -> list[dict]:
    return list((data.get("latency") or {}).get("results") or [])


def scenarios(data: dict) -> list[dict]:
    """The latency section's scenarios (name, kind, description), in the run's order."""
    latency = data.get("latency") or {}
    described = {s["name"]: s for s in latency.get("scenarios") or [] if isinstance(s, dict) and "name" in s}
    names = list(dict.fromkeys(list(described) + [c["scenario"] for c in latency_cells(data)]))
    return [described.get(n, {"name": n, "kind": ""}) for n in names]


def cell(data: dict, scenario: str, variant: str) -> dict | None:
    for c in latency_cells(data):
        if c["scenario"] == scenario and c["variant"] == variant:
            return c
    return None


def measured(c: dict | None) -> bool:
    """A cell with at least one successful request."""
    return bool(c and c.get("applicable", True) and (c.get("latency") or {}).get("count"))


def comparison(data: dict, scenario: str, variant: str) -> dict | None:
    for c in (data.get("latency") or {}).get("comparisons") or []:
        if c.get("scenario") == scenario and c.get("variant") == variant:
            return c
    return None


def median_interval(c: dict) -> stats.Interval | None:
    """Median latency of a cell as the mean of its round medians, with the 95% bootstrap
    interval over rounds (rounds are the unit of replication, see bench.stats)."""
    rounds = c.get("round_medians_ms") or []
    if not rounds:
        return None
    return stats.bootstrap_mean(rounds)


CLAIM_SECTION = {"avg_latency": "latency", "query_speedup": "latency", "storage": "storage",
                 "security": "security", "vector_speedup": "vector", "concurrency": "load"}
SECTION_TITLES = {"latency": "latency", "security": "security", "vector": "vector search", "load": "load"}


def interruptions(data: dict) -> list[dict]:
    """Sections cut short by a signal or a fault: [{"section", "reason", "kept"}], where
    kept says how much was measured ("1 of 6 rounds"). A load run stopped by Ctrl+C says
    so in its runs' status rather than with an `interrupted` mark."""
    marks = results_file.interrupted_sections(data)
    out = [{"section": name, "reason": mark.get("reason") or "unknown", "kept": kept_text(mark)}
           for name, mark in marks.items()]
    runs = (data.get("load") or {}).get("runs") or []
    if "load" not in marks and any(isinstance(r, dict) and r.get("status") == "interrupted" for r in runs):
        done = sum(1 for r in runs if isinstance(r, dict) and r.get("status") != "interrupted")
        out.append({"section": "load", "reason": "interrupted", "kept": f"{done} of {len(runs)} variants complete"})
    return out


def kept_text(mark: dict) -> str:
    """"1 of 6 rounds" from {"rounds_completed": 1, "rounds_planned": 6} (any unit)."""
    parts = [f"{mark[key]} of {mark.get(key[:-len('completed')] + 'planned', '?')} {key[:-len('_completed')]}"
             for key in mark if key.endswith("_completed")]
    return ", ".join(parts) or "how much is unknown"


def interruption_text(item: dict) -> str:
    title = SECTION_TITLES.get(item["section"], item["section"])
    return f"{title} stopped ({item['reason']}) after {item['kept']}; its figures rest on those only"


def rounds_measured(data: dict) -> int | None:
    """Latency rounds behind the figures: the completed ones of an interrupted run."""
    latency = data.get("latency") or {}
    mark = latency.get("interrupted")
    if isinstance(mark, dict) and "rounds_completed" in mark:
        return mark["rounds_completed"]
    return (latency.get("config") or {}).get("rounds")


def claims() -> list[tuple[str, dict]]:
    """The review's claims in targets.toml order."""
    return [(k, v) for k, v in verdicts.targets().items() if isinstance(v, dict) and "claim" in v]


def run_label(data: dict) -> str:
    ds = data.get("dataset") or {}
    parts = [f"scale {ds['scale']}" if ds.get("scale") else "scale unknown"]
    parts += [f"{k} {ds[k]}" for k in ("seed", "dim") if ds.get(k) is not None]
    return ", ".join(parts)


# ---- metrics (one registry for tables, charts and compare) ------------------------------
@dataclass(frozen=True)
class Metric:
    key: str  # in a cell's "latency" summary
    label: str
    unit: str
    higher_is_better: bool
    rounds: tuple[str, ...]  # per-round series that replicate it, first present wins (compare's significance)
    description: str


METRICS = (
    Metric("p50_ms", "p50", "ms", False, ("round_medians_ms",), "median latency per request"),
    Metric("p95_ms", "p95", "ms", False, ("round_p95_ms", "round_medians_ms"), "95th percentile latency"),
    Metric("p99_ms", "p99", "ms", False, ("round_p99_ms", "round_medians_ms"), "99th percentile latency"),
    Metric("throughput_rps", "req/s", "req/s", True, ("round_means_ms",), "requests per second (closed loop)"),
)


# ---- formatting ----------------------------------------------------------------------
def fmt_ms(value) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def fmt_rate(value) -> str:
    return "–" if value is None else f"{value:,.0f}"


def fmt_pct(value, signed: bool = True) -> str:
    if value is None or not math.isfinite(value):
        return "–"
    return f"{value:+.1%}" if signed else f"{value:.1%}"


def fmt_change(value) -> str:
    """A relative change in whole percent (+12%, -3%, 0%)."""
    if value is None or not math.isfinite(value):
        return "–"
    return "0%" if abs(value) < 0.005 else f"{value:+.0%}"


def human_bytes(n) -> str:
    if n is None:
        return "–"
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(size) < 1024 or unit == "TiB":
            return f"{int(size)} B" if unit == "B" else f"{size:,.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


FIGURE_UNITS = {"avg_latency": "ms", "concurrency": "x"}  # other claims' figures are fractions


def _interval_text(fig: dict, unit: str) -> str:
    def one(x):
        if x is None or not math.isfinite(x):
            return "∞" if x is not None and x > 0 else "–∞" if x is not None else "–"
        if unit == "ms":
            return fmt_ms(x)
        if unit == "x":
            return f"{x:.2f}×"
        return f"{x:+.1%}"

    text = one(fig["estimate"]) + (" ms" if unit == "ms" else "")
    if "low" in fig and "high" in fig:
        text += f" [{one(fig['low'])}, {one(fig['high'])}]"
    return text


def figure_text(verdict: dict, short: bool = False) -> str:
    """The measured figure of a verdict, with its 95% interval where it has one (`short`:
    without the byte counts behind a storage figure)."""
    fig = verdict.get("figure") or {}
    claim = verdict.get("claim")
    if not fig:
        return "–"
    if claim == "security" and "attacks" in fig:
        return f"{fig.get('successful_attacks', '?')} of {fig['attacks']} attacks succeed"
    if claim == "storage" and "variant_bytes" in fig:
        if short:
            mine, base = fig["variant_bytes"] / 2**20, fig["baseline_bytes"] / 2**20
            return f"{fig['estimate']:+.1%} ({mine:,.0f} vs {base:,.0f} MiB)"
        return (f"{fig['estimate']:+.1%} ({human_bytes(fig['variant_bytes'])} vs "
                f"{human_bytes(fig['baseline_bytes'])} on baseline)")
    if claim == "concurrency" and "capacity_users" in fig:
        return concurrency_text(fig)
    if claim == "query_speedup" and "speed_ratio" in fig and not short:  # both readings of "X% faster"
        return f"{_interval_text(fig, '%')} less time = {speed_text(fig['speed_ratio'])} as fast"
    if claim == "vector_speedup" and {"same_index_as", "cannot_reach_recall", "bound"} & fig.keys():
        return vector_text(fig, short)
    if "estimate" in fig and isinstance(fig["estimate"], (int, float)):
        return _interval_text(fig, FIGURE_UNITS.get(claim, "%"))
    return ", ".join(f"{k} {v}" for k, v in fig.items() if not isinstance(v, (dict, list)))


def concurrency_text(fig: dict) -> str:
    """Both capacities and the bounds of their ratio. The estimate is missing when
    baseline held no step, and the upper bound when a side's breach is untested (∞)."""
    def users(count, at_least):
        return ("≥ " if at_least else "") + f"{count:,}"

    def times(x):
        return "∞" if x is None else f"{x:.1f}×"

    estimate = fig.get("estimate")
    ratio = ("" if estimate is None else ("≥ " if fig.get("capacity_at_least") else "") + times(estimate) + " ")
    return (f"{users(fig['capacity_users'], fig.get('capacity_at_least'))} vs "
            f"{users(fig['baseline_capacity_users'], fig.get('baseline_at_least'))} users, "
            f"ratio {ratio}[{times(fig['low'])}, {times(fig.get('high'))}]")


BOUND_SIGN = {"lower": "≥ ", "upper": "≤ "}  # the improvement is at least / at most the figure


def vector_text(fig: dict, short: bool = False) -> str:
    """What happened when a vector verdict has no plain figure: the same index as the
    reference at this size (and from which size they differ), a side that cannot reach
    the target recall (its best instead), or an improvement that is only a bound.
    `short` fits a chart cell: the note keeps the rest."""
    if "same_index_as" in fig:
        if short:
            return f"same index at {fig['rows']:,} rows"
        differ = fig.get("differ_from_rows")
        return (f"same index as {fig['same_index_as']} at {fig['rows']:,} rows; "
                + (f"they differ from {differ:,} rows" if differ else "the same at every size"))
    if "cannot_reach_recall" in fig:
        if short:
            who = "" if fig.get("side") == "variant" else "reference "
            return f"{who}cannot reach {fig['cannot_reach_recall']:.2f} (best {fig['best_recall']:.3f})"
        who = "" if fig.get("side") == "variant" else f"the reference {fig.get('config')} "
        return (f"{who}cannot reach recall {fig['cannot_reach_recall']:.2f} "
                f"(best {fig['best_recall']:.3f} at {fig['best_setting']})")
    text = BOUND_SIGN.get(fig["bound"], "") + _interval_text(fig, "%")
    return text + (" (bounds nothing)" if fig["bound"] == "none" else "")


# ---- aggregate claims: the per-scenario verdicts behind them -------------------------------
def fmt_times(x) -> str:
    """A speed ratio t_baseline / t_variant: 4.81×, 25.3×, 170×."""
    if x is None or not math.isfinite(x):
        return "–" if x is None else "∞" if x > 0 else "0×"
    if x <= 0:
        return "0×"
    return f"{x:,.0f}×" if x >= 100 else f"{x:.1f}×" if x >= 10 else f"{x:.2f}×"


def speed_text(ratio: dict) -> str:
    return f"{fmt_times(ratio['estimate'])} [{fmt_times(ratio['low'])}, {fmt_times(ratio['high'])}]"


def aggregate_line(verdict: dict) -> str:
    """How many scenarios meet an aggregate claim on their own, which are slower than
    baseline beyond noise, which gain far beyond the claim ('' for other claims)."""
    share = verdict.get("share")
    if not share:
        return ""
    unsure = f" ({share['inconclusive']} inconclusive)" if share["inconclusive"] else ""
    parts = [f"{share['meets']} of {share['of']} scenarios meet it{unsure}",
             "regressions: " + (", ".join(verdict.get("regressions") or []) or "none")]
    far = verdicts.far_beyond_speed(verdict["claim"]) if verdict.get("far_beyond") else None
    if far:
        parts.append(f"far beyond the claim (≥ {far:.0f}× as fast): {', '.join(verdict['far_beyond'])}")
    return "; ".join(parts)


def scenario_table(data: dict, claim: str) -> tuple[list[dict], list[tuple[str, list[dict | None]]]]:
    """An aggregate claim's verdicts that carry per-scenario records (in variant order), and
    per scenario each one's record (None: not in that variant's set)."""
    order = variant_order(data)
    records = sorted((v for v in data.get("verdicts") or [] if v["claim"] == claim and v.get("scenarios")),
                     key=lambda v: order.index(v["variant"]) if v["variant"] in order else len(order))
    names = list(dict.fromkeys(r["scenario"] for v in records for r in v["scenarios"]))
    return records, [(n, [next((r for r in v["scenarios"] if r["scenario"] == n), None) for v in records])
                     for n in names]


def scenario_text(claim: str, row: dict) -> str:
    """One scenario's figure: time reduction and speed ratio, or mean latency, with intervals."""
    if claim == "query_speedup":
        c = row["change"]
        return (f"{fmt_pct(c['estimate'])} [{fmt_pct(c['low'])}, {fmt_pct(c['high'])}] = "
                f"{speed_text(row['speed_ratio'])}")
    m = row["mean_ms"]
    return f"{fmt_ms(m['estimate'])} ms [{fmt_ms(m['low'])}, {fmt_ms(m['high'])}]"


def scenario_flags(row: dict) -> list[str]:
    """What the reader must see beside a scenario's verdict."""
    return (["slower beyond noise"] if row.get("regression") else []) + (["far beyond"] if row.get("far_beyond")
                                                                          else [])


def figure_kind(verdict: dict) -> str:
    """What the figure is: how the reader should read a number like +79%."""
    claim = verdict.get("claim")
    return {"avg_latency": "mean latency", "query_speedup": "improvement vs baseline",
            "vector_speedup": "improvement at matched recall", "storage": "reduction vs baseline",
            "concurrency": "capacity vs baseline", "security": ""}.get(claim, "")


def verdict_rows(data: dict) -> list[dict]:
    """One row per claim and variant, in targets order; claims without a verdict get one
    row 'not measured' (the run did not include that benchmark)."""
    order = variant_order(data)
    given = data.get("verdicts") or []
    stopped = {i["section"] for i in interruptions(data)}
    rows = []
    for claim_id, claim in claims():
        mine = sorted((v for v in given if v["claim"] == claim_id),
                      key=lambda v: (v["variant"] == REFERENCE, order.index(v["variant"])
                                     if v["variant"] in order else len(order)))
        if not mine:
            cut = CLAIM_SECTION.get(claim_id) in stopped
            mine = [{"claim": claim_id, "claim_text": claim["claim"], "metric": claim.get("metric", ""),
                     "variant": "–", "verdict": verdicts.NOT_MEASURED, "figure": {},
                     "note": "interrupted before it was judged" if cut else "not run in this run"}]
        rows += [{**v, "claim_text": v.get("claim_text") or claim["claim"]} for v in mine]
    known = {c for c, _ in claims()}
    rows += [v for v in given if v["claim"] not in known]  # claims added later to results
    return rows
