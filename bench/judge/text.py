"""How a verdict's figure reads: one definition for the terminal, charts, report.html,
summary.md and `bench compare`, so a figure never reads two ways."""

from __future__ import annotations

import math

from bench.judge import verdicts


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
    if claim == "simultaneous_users" and "capacity_users" in fig:
        held = ("≥ " if fig.get("capacity_at_least") else "") + f"{fig['capacity_users']:,}"
        breach = "" if fig.get("first_breach") is None else f", breach at {fig['first_breach']:,}"
        return f"{held} users held{breach} (target {fig['target_users']:,})"
    if claim in ("vector_at_scale", "tenant_at_scale") and fig.get("projected"):
        return projection_text(claim, fig)
    if claim == "query_speedup" and "speed_ratio" in fig and not short:  # both readings of "X% faster"
        return f"{_interval_text(fig, '%')} less time = {speed_text(fig['speed_ratio'])} as fast"
    if claim == "vector_speedup" and {"same_index_as", "cannot_reach_recall", "bound"} & fig.keys():
        return vector_text(fig, short)
    if "estimate" in fig and isinstance(fig["estimate"], (int, float)):
        return _interval_text(fig, FIGURE_UNITS.get(claim, "%"))
    return ", ".join(f"{k} {v}" for k, v in fig.items() if not isinstance(v, (dict, list)))


def projection_text(claim: str, fig: dict) -> str:
    """A scale target's projected figure, labelled as a projection."""
    p50 = f"{fig['estimate']:.1f} ms [{fig['low']:.1f}, {fig['high']:.1f}]"
    if claim == "tenant_at_scale":
        return (f"projected p50 of {fig['scenario']} (the slowest) {p50} at {fig['at_projects']:,} projects in one "
                "organization")
    text = f"projected p50 {p50} at {fig['at_documents']:,} documents"
    if "recall" in fig:
        at = f" at {fig['recall_at']}" if fig.get("recall_at") else " projected"
        text += f", recall@10 {fig['recall']:.2f} [{fig['recall_low']:.2f}, {fig['recall_high']:.2f}]{at}"
    return text


def concurrency_text(fig: dict) -> str:
    """Both capacities (steps held), where each crossed the SLO between its steps, and the
    ratio with its interval. The estimate is missing when baseline held no step, and the
    upper bound when a side's breach is untested (∞)."""
    def users(count, at_least):
        return ("≥ " if at_least else "") + f"{count:,}"

    def times(x):
        return "∞" if x is None else f"{x:.1f}×"

    estimate = fig.get("estimate")
    ratio = ("" if estimate is None else ("≥ " if fig.get("capacity_at_least") else "") + times(estimate) + " ")
    held = (f"{users(fig['capacity_users'], fig.get('capacity_at_least'))} vs "
            f"{users(fig['baseline_capacity_users'], fig.get('baseline_at_least'))} users")
    crossed = ""
    if fig.get("baseline_crossing_users") and fig.get("crossing_users") and not fig.get("capacity_at_least"):
        crossed = f" (SLO crossed at ~{fig['crossing_users']:,.0f} vs ~{fig['baseline_crossing_users']:,.0f})"
    return f"{held}{crossed}, ratio {ratio}[{times(fig['low'])}, {times(fig.get('high'))}]"


def capacity_text(capacity: dict) -> str:
    """A variant's capacity under step load: "≥ 200 users" (held every step tested),
    "100 users (breach at 200)", or with the steps that could not be decided."""
    if capacity["at_least"]:
        return f"≥ {capacity['users']:,} users"
    undecided = (f", undecided at {', '.join(map(str, capacity['undecided']))}" if capacity.get("undecided")
                 else "")
    breach = capacity.get("first_breach")
    return f"{capacity['users']:,} users (breach at {'-' if breach is None else f'{breach:,}'}{undecided})"


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
