"""How far the vector verdict's figure moves between index builds: the figure behind
targets.toml's [vector_speedup] between_build_log_sd.

    .venv/bin/python scripts/vector_build_spread.py RUN/results.json RUN/results.json ...

Give it the results of `make bench` (or `bench run vector`) runs made with two builds or
more of each compared index (`BENCH_VECTOR_BUILDS=2`, `--builds 2`), on the same generator
and scale. Per run and variant it prints each build's latency ratio variant / reference at
the verdict's recall (the geometric mean over its query batches, as the comparison
computes it); then the standard deviation of the log ratio between builds of one run,
pooled over runs and variants (each run's builds around their own mean). It contains each
build's own batch and timing noise as well as the build's: widening a one-build interval
by it counts that noise twice, on the safe side. Writes nothing.
"""

from __future__ import annotations

import json
import math
import sys

import numpy as np

from bench.judge import stats


def build_log_ratios(results: dict) -> dict[str, list[float]]:
    """{variant: [mean log ratio of build 1, build 2, ...]} at the run's verdict target."""
    vector = results["vector"]
    target = vector["options"]["verdict_target"]
    later = (vector.get("builds") or {}).get("comparisons") or {}
    by_build = [vector["comparisons"]] + [later[k] for k in sorted(later, key=int)]
    out: dict[str, list[float]] = {}
    for comparisons in by_build:
        for c in comparisons:
            if c["target"] == target and c.get("comparable") and c.get("round_log_ratios"):
                out.setdefault(c["variant"], []).append(float(np.mean(c["round_log_ratios"])))
    return {variant: values for variant, values in out.items() if len(values) >= 2}


def main(paths: list[str]) -> int:
    if not paths:
        print("usage: vector_build_spread.py RUN/results.json [...] (runs with two builds or more)")
        return 2
    groups = []
    for path in paths:
        for variant, values in sorted(build_log_ratios(json.load(open(path))).items()):
            groups.append(values)
            print(f"{path} {variant}: builds " + ", ".join(f"{math.exp(v):.4f}" for v in values)
                  + f" (improvement {', '.join(f'{1 - math.exp(v):+.1%}' for v in values)})")
    if not groups:
        print("no run has two builds of a compared index")
        return 1
    pooled = stats.pooled_sd(groups)
    print(f"pooled between-build sd of the log ratio: {pooled:.3f} ({sum(map(len, groups))} builds in {len(groups)} "
          f"runs x variants); 95% factor x/{math.exp(1.96 * pooled):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
