"""How far the concurrency ratio moves between runs: the figure behind targets.toml's
[concurrency] between_run_log_sd.

    .venv/bin/python scripts/concurrency_spread.py RUN/results.json RUN/results.json ...

Give it the results of several `make bench` (or `bench run load`) runs of one commit or of
commits whose load test is the same, each on a fresh data directory, ideally at different
times (the machine's state moves the capacities; a verdict must not). Per run and variant
it prints each side's SLO crossing (bench.loadtest.steps.crossing) and the ratio to
baseline's; then the standard deviation of the log ratio between runs, pooled over the
variants (each variant around its own mean). Ratios with an open side (a variant that held
every step, a baseline that held none) are left out. Writes nothing.
"""

from __future__ import annotations

import json
import math
import sys

import numpy as np

from bench.judge import stats
from bench.loadtest import steps as stepping


def log_ratios(results: dict) -> dict[str, float]:
    """{variant: log(crossing / baseline's crossing)} of one run, where both are bounded."""
    by_variant: dict[str, list[dict]] = {}
    for step in results["load"]["steps"]:
        by_variant.setdefault(step["variant"], []).append(step)
    limit = stepping.Slo(**results["load"]["slo"])
    crossing = {}
    for variant, series in by_variant.items():
        cap = stepping.capacity(series, limit=limit)
        if cap["slo_crossing"] and not cap["at_least"] and cap["slo_crossing"]["estimate"]:
            crossing[variant] = cap["slo_crossing"]["estimate"]
    base = crossing.pop("baseline", None)
    return {v: math.log(c / base) for v, c in crossing.items()} if base else {}


def main(paths: list[str]) -> int:
    if len(paths) < 2:
        print("usage: concurrency_spread.py RUN/results.json RUN/results.json [...] (two runs or more)")
        return 2
    per_variant: dict[str, list[float]] = {}
    for path in paths:
        ratios = log_ratios(json.load(open(path)))
        print(path, "  ".join(f"{v} {math.exp(r):.1f}x" for v, r in sorted(ratios.items())) or "no bounded ratio")
        for variant, value in ratios.items():
            per_variant.setdefault(variant, []).append(value)
    groups = []
    for variant, values in sorted(per_variant.items()):
        if len(values) < 2:
            continue
        groups.append(values)
        print(f"{variant}: {len(values)} runs, log ratio sd {np.std(values, ddof=1):.3f}, "
              f"geometric mean {math.exp(np.mean(values)):.1f}x")
    if not groups:
        print("no variant has a bounded ratio in two runs")
        return 1
    pooled = stats.pooled_sd(groups)
    print(f"pooled between-run sd of the log ratio: {pooled:.3f} ({sum(map(len, groups))} ratios, {len(groups)} "
          f"variants); 95% factor x/{math.exp(1.96 * pooled):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
