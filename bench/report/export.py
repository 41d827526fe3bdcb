"""A run's figures in the formats continuous-benchmarking tools read, so teams that track
benchmarks there can add this one:

- github-action-benchmark, tool `customSmallerIsBetter`: a JSON list of
  {"name", "unit", "value", "range"?, "extra"?} (range and extra are strings); every
  figure must be smaller-is-better, so throughput and capacity are left out;
- Bencher Metric Format (BMF, `bencher run --adapter json`): {benchmark name: {measure
  slug: {"value", "lower_value"?, "upper_value"?}}}; measure slugs are at most 64
  characters, values numbers.

Figures: latency p50/p95/p99 per scenario and variant (BMF also req/s), and the mean of
the round medians with its 95% interval (the range / lower and upper values); vector p50 at
each matched recall target; index build time and size; storage bytes per variant; load
capacity per variant (BMF only, bigger is better); successful attacks per variant.
"""

from __future__ import annotations

import json
from pathlib import Path

from bench.report import data as d

FORMATS = ("github", "bencher")


def figures(results: dict) -> list[dict]:
    """[{"benchmark", "measure", "unit", "value", "low"?, "high"?, "smaller_is_better", "extra"}]"""
    out = []
    for cell in d.latency_cells(results):
        if not d.measured(cell):
            continue
        name = f"latency/{cell['scenario']}/{cell['variant']}"
        summary = cell["latency"]
        interval = d.median_interval(cell)
        rounds = len(cell.get("round_medians_ms") or [])
        for metric in d.METRICS:
            value = summary.get(metric.key)
            if value is None:
                continue
            measure = "throughput" if metric.higher_is_better else metric.label
            entry = {"benchmark": name, "measure": measure, "unit": metric.unit,
                     "value": float(value), "smaller_is_better": not metric.higher_is_better,
                     "extra": f"{summary.get('count', '?')} requests, {rounds} rounds (whole-run HDR {metric.label})"}
            out.append(entry)
        if interval is not None:
            out.append({"benchmark": name, "measure": "round-median", "unit": "ms", "value": float(interval.estimate),
                        "low": float(interval.low), "high": float(interval.high), "smaller_is_better": True,
                        "extra": f"mean of {rounds} round medians; range: its 95% bootstrap interval over rounds"})
    vector = results.get("vector") or {}
    for m in vector.get("matched") or []:
        if m.get("reached") and m.get("p50_ms") is not None:
            out.append({"benchmark": f"vector/{m.get('config')}/recall-{m.get('target')}", "measure": "p50",
                        "unit": "ms", "value": float(m["p50_ms"]), "smaller_is_better": True,
                        "extra": f"{m.get('setting')}, recall {m.get('recall'):.3f}"})
    for index in vector.get("indexes") or []:
        for key, measure, unit in (("build_s", "build-time", "s"), ("size_bytes", "size", "bytes")):
            if index.get(key) is not None:
                out.append({"benchmark": f"vector/{index.get('config')}", "measure": measure, "unit": unit,
                            "value": float(index[key]), "smaller_is_better": True, "extra": "one build"})
    for variant, totals in ((results.get("storage") or {}).get("totals") or {}).items():
        if isinstance(totals, dict) and totals.get("total_bytes") is not None:
            out.append({"benchmark": f"storage/{variant}", "measure": "total", "unit": "bytes",
                        "value": float(totals["total_bytes"]), "smaller_is_better": True,
                        "extra": "exact bytes: heap, TOAST and indexes"})
    for variant, capacity in ((results.get("load") or {}).get("capacity") or {}).items():
        if isinstance(capacity, dict) and capacity.get("users") is not None:
            out.append({"benchmark": f"load/{variant}", "measure": "capacity", "unit": "users",
                        "value": float(capacity["users"]), "smaller_is_better": False,
                        "extra": "largest step held at the SLO"})
    findings = (results.get("security") or {}).get("findings") or []
    for variant in dict.fromkeys(f.get("variant") for f in findings):
        applicable = [f for f in findings if f.get("variant") == variant and f.get("applicable", True)]
        out.append({"benchmark": f"security/{variant}", "measure": "successful", "unit": "attacks",
                    "value": float(sum(1 for f in applicable if f.get("succeeded"))), "smaller_is_better": True,
                    "extra": f"of {len(applicable)} attacks"})
    return out


def github_action_benchmark(results: dict) -> list[dict]:
    """github-action-benchmark's customSmallerIsBetter input."""
    run = results.get("run_id", "?")
    out = []
    for f in figures(results):
        if not f["smaller_is_better"]:
            continue
        entry = {"name": f"{f['benchmark']} {f['measure']}", "unit": f["unit"], "value": f["value"]}
        if "low" in f:
            entry["range"] = f"± {(f['high'] - f['low']) / 2:.4g}"
        entry["extra"] = f"{f['extra']}; run {run}"
        out.append(entry)
    return out


def bencher_metric_format(results: dict) -> dict:
    """Bencher Metric Format: {benchmark: {measure slug: {value, lower_value?, upper_value?}}}."""
    out: dict[str, dict] = {}
    for f in figures(results):
        metric = {"value": f["value"]}
        if "low" in f:
            metric["lower_value"], metric["upper_value"] = f["low"], f["high"]
        slug = f"{f['measure']}-{f['unit']}".replace("/", "-per-").replace(" ", "-").lower()[:64]
        out.setdefault(f["benchmark"], {})[slug] = metric
    return out


def export(run: Path | str, kind: str) -> str:
    results, _ = d.load(run)
    if kind == "github":
        return json.dumps(github_action_benchmark(results), indent=1) + "\n"
    if kind == "bencher":
        return json.dumps(bencher_metric_format(results), indent=1) + "\n"
    from bench.core.errors import UsageError

    raise UsageError(f"unknown export format {kind!r} (one of {', '.join(FORMATS)})")
