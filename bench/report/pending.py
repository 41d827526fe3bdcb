"""Renders if present: the `vector` section (issue 7: recall and latency per index
configuration and search setting, matched-recall comparison) and the `load` section
(issue 8: Locust steps per variant, capacity at the SLO).

Those sections were being written while this module was; their exact layout is not
fixed yet. Everything that reads them is here, in small functions that accept the key
names the issues suggest (and a few alternatives) and skip what they do not recognise,
so that adapting to the final layout means editing the accessors below, not the charts
or the page. A run without these sections renders nothing here.
"""

from __future__ import annotations

import json
import math

import numpy as np

from bench.report import data as d
from bench.report import style
from bench.report.registry import chart

SLO_MS = 100.0  # the concurrency claim's p95 limit (DESIGN.md); a load section's own slo_ms wins
MAX_PANELS = 3


# ---- accessors: adjust these to the final layouts -----------------------------------------
def _first(record: dict, *keys):
    for key in keys:
        if isinstance(record, dict) and record.get(key) is not None:
            return record[key]
    return None


def _number(record: dict, *keys) -> float | None:
    value = _first(record, *keys)
    if isinstance(value, dict):  # e.g. {"at_10": 0.95} or {"10": 0.95}
        value = _first(value, "at_10", "10", "k10", "value", "estimate")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def _records(section, *keys) -> list[dict]:
    """A list of records under one of `keys`; a dict keyed by name becomes records with
    that name under "name"."""
    value = _first(section, *keys) if isinstance(section, dict) else None
    if isinstance(value, dict):
        value = [{"name": k, **v} if isinstance(v, dict) else {"name": k, "value": v} for k, v in value.items()]
    return [r for r in value if isinstance(r, dict)] if isinstance(value, list) else []


def vector_points(section: dict) -> list[dict]:
    """Recall@10 and throughput per index configuration and search setting:
    [{"label", "recall", "qps", "clients"}]."""
    out = []
    rows = []
    for r in _records(section, "pareto", "points", "sweeps", "sweep", "results", "measurements"):
        per_clients = r.get("throughput") if isinstance(r.get("throughput"), list) else None
        rows += [{**r, **t} for t in per_clients if isinstance(t, dict)] if per_clients else [r]
    for r in rows:
        recall = _number(r, "recall_at_10", "recall@10", "recall10", "recall")
        qps = _number(r, "throughput_rps", "qps", "rps", "throughput") or _number(r.get("latency") or {},
                                                                                    "throughput_rps")
        if recall is None or qps is None:
            continue
        config = str(_first(r, "configuration", "config", "index", "name") or "?")
        variant = _first(r, "variant", "schema")
        label = config if not variant or str(variant) in config else f"{variant}: {config}"
        out.append({"label": label, "recall": recall, "qps": qps, "clients": _number(r, "clients", "concurrency")})
    return out


def load_steps(section: dict) -> list[dict]:
    """Per variant and step: [{"variant", "users", "p95_ms", "rps", "failure_ratio"}]."""
    rows = _records(section, "steps", "results")
    if not rows:  # {"variants": {"baseline": {"steps": [...]}, ...}} or [{"variant", "steps"}]
        for entry in _records(section, "variants", "per_variant", "schemas"):
            name = _first(entry, "variant", "name", "schema")
            rows += [{"variant": name, **s} for s in _records(entry, "steps", "results")]
    out = []
    for r in rows:
        users = _number(r, "users", "user_count", "step")
        p95 = _number(r, "p95_ms", "p95", "response_time_p95_ms") or _number(r.get("latency") or {}, "p95_ms")
        rps = _number(r, "rps", "throughput_rps", "requests_per_s", "req_s", "throughput")
        if users is None or (p95 is None and rps is None):
            continue
        failures = _number(r, "failure_ratio", "fail_ratio", "error_ratio")
        out.append({"variant": str(_first(r, "variant", "schema") or "?"), "users": users, "p95_ms": p95,
                    "rps": rps, "failure_ratio": failures})
    return out


def load_capacity(section: dict) -> dict[str, float]:
    """Largest step each variant holds within the SLO: {variant: users}."""
    value = _first(section, "capacity", "capacities")
    if isinstance(value, dict):
        return {str(k): (_number(v, "users", "capacity_users", "capacity") if isinstance(v, dict) else v)
                for k, v in value.items() if v is not None}
    return {str(_first(r, "variant", "name")): _number(r, "users", "capacity_users", "capacity")
            for r in _records(section, "capacity", "capacities")}


def slo_ms(section: dict) -> float:
    return _number(section, "slo_ms", "slo_p95_ms") or SLO_MS


def tables(name: str, section: dict) -> list[tuple[str, list[dict]]]:
    """(title, records) to show as tables in the page for a section of these kinds."""
    if name == "vector":
        wanted = [("Comparisons at matched recall", ("comparisons",)),
                  ("Cheapest setting per recall target", ("matched", "matched_recall")),
                  ("Index configurations (build time, size)", ("indexes", "configurations", "builds")),
                  ("Filtered search", ("filtered", "filtered_search")),
                  ("Filtered search as a user under RLS", ("rls",)),
                  ("Recall and latency per setting", ("sweeps", "points", "sweep", "results", "measurements"))]
    elif name == "load":
        wanted = [("Capacity at the SLO", ("capacity", "capacities")),
                  ("Steps", ("steps", "results"))]
    else:
        return []
    out = []
    for title, keys in wanted:
        rows = [flatten(r) for r in _records(section, *keys)]
        if rows:
            out.append((title, rows))
    if name == "load" and not any(t == "Steps" for t, _ in out) and load_steps(section):
        out.append(("Steps", load_steps(section)))
    return out


RAW_KEYS = {"hdr", "explain", "plan", "error_samples", "round_medians_ms", "round_means_ms", "sql", "ddl"}


def flatten(record: dict, prefix: str = "") -> dict:
    """One level of nesting as "a.b" columns; lists as compact JSON; raw data (histograms,
    plans, per-round series) left to results.json."""
    out = {}
    for key, value in record.items():
        if key in RAW_KEYS:
            continue
        name = f"{prefix}{key}"
        if isinstance(value, dict) and not prefix:
            out.update(flatten(value, name + "."))
        elif isinstance(value, (dict, list)):
            out[name] = json.dumps(value, default=str)[:120]
        else:
            out[name] = value
    return out


# ---- charts ----------------------------------------------------------------------------------
def pareto_front(points: list[dict]) -> list[dict]:
    """Points no other point beats on both recall and throughput, by recall ascending."""
    front, best = [], -math.inf
    for p in sorted(points, key=lambda p: (-p["recall"], -p["qps"])):
        if p["qps"] > best:
            front.append(p)
            best = p["qps"]
    return front[::-1]


def _panels(points: list[dict]) -> list:
    levels = sorted({p["clients"] for p in points if p["clients"] is not None})
    return (levels or [None])[:MAX_PANELS]


@chart("vector_pareto", "Vector search: recall vs throughput",
       "Recall@10 against exact search and queries per second for each index configuration and search setting "
       "(faint points); lines join each configuration's Pareto front. Right and up is better.",
       order=40, needs="vector", height=lambda data: 5.2,
       applies=lambda data: bool(vector_points(data["vector"])))
def vector_pareto(fig, data):
    points = vector_points(data["vector"])
    labels = list(dict.fromkeys(p["label"] for p in points))
    colours = {label: style.SERIES_COLOURS[i % len(style.SERIES_COLOURS)] for i, label in enumerate(labels)}
    panels = _panels(points)
    axes = fig.subplots(1, len(panels), squeeze=False, sharey=True)[0]
    for ax, level in zip(axes, panels):
        mine = [p for p in points if level is None or p["clients"] == level]
        for label in labels:
            group = [p for p in mine if p["label"] == label]
            if not group:
                continue
            ax.scatter([p["recall"] for p in group], [p["qps"] for p in group], s=12, alpha=0.35,
                       color=colours[label])
            front = pareto_front(group)
            ax.plot([p["recall"] for p in front], [p["qps"] for p in front], marker="o", markersize=3.5,
                    linewidth=1.6, color=colours[label], label=label)
        ax.set_yscale("log")
        style.plain_log_ticks(ax.yaxis)
        ax.set_xlabel("recall@10 (fraction of the exact top 10 found)")
        ax.set_title(f"{level:g} client{'s' if level != 1 else ''}" if level is not None else "")
    axes[0].set_ylabel("throughput (queries/s, log scale)")
    handles, names = axes[0].get_legend_handles_labels()
    fig.legend(handles, names, loc="outside right upper")
    style.title(fig, "Vector search: recall vs throughput per index configuration")


@chart("load_curves", "Load curves",
       "Locust step load per variant: p95 latency (left, log scale, dashed line the SLO) and requests per second "
       "(right) against concurrent users; a hollow marker is a step that breached the SLO or had >= 1% failures.",
       order=50, needs="load", height=lambda data: 4.6, applies=lambda data: bool(load_steps(data["load"])))
def load_curves(fig, data):
    section = data["load"]
    steps = load_steps(section)
    limit = slo_ms(section)
    order = d.variant_order(data)
    variants = list(dict.fromkeys(s["variant"] for s in steps))
    latency_ax, rate_ax = fig.subplots(1, 2)
    capacity = load_capacity(section)
    for v in variants:
        mine = sorted((s for s in steps if s["variant"] == v), key=lambda s: s["users"])
        colour = style.variant_colour(v, order)
        label = v + (f" (capacity {capacity[v]:g} users)" if capacity.get(v) else "")
        users = [s["users"] for s in mine]
        ok = [bool(s["p95_ms"] is not None and s["p95_ms"] < limit and (s["failure_ratio"] or 0) < 0.01)
              for s in mine]
        for ax, key in ((latency_ax, "p95_ms"), (rate_ax, "rps")):
            ys = [s[key] if s[key] is not None else np.nan for s in mine]
            ax.plot(users, ys, color=colour, linewidth=1.6, label=label if ax is latency_ax else None)
            ax.scatter([u for u, good in zip(users, ok) if good], [y for y, good in zip(ys, ok) if good],
                       color=colour, s=18, zorder=3)
            ax.scatter([u for u, good in zip(users, ok) if not good], [y for y, good in zip(ys, ok) if not good],
                       facecolors="white", edgecolors=colour, s=22, zorder=3)
    latency_ax.axhline(limit, color="#cf222e", linestyle="--", linewidth=1.2, label=f"SLO p95 {limit:g} ms")
    latency_ax.set_yscale("log")
    latency_ax.set_ylabel("p95 latency (ms, log scale)")
    rate_ax.set_ylabel("throughput (requests/s)")
    style.plain_log_ticks(latency_ax.yaxis)
    for ax in (latency_ax, rate_ax):
        ax.set_xscale("log")
        style.plain_log_ticks(ax.xaxis)
        ax.set_xlabel("concurrent users (log scale)")
    latency_ax.legend(loc="upper left")
    style.title(fig, "Load: p95 latency and throughput as users grow")
