"""Where the latency variance is: between rounds of one run, or between runs.

    .venv/bin/python scripts/variance_shares.py reports/<run>/results.json [more runs ...]

Reads the latency section of runs made with several runs (`bench run latency --runs R
--rounds R*k`) and, per cell, splits the variance of log round medians into a between-run
and a within-run (between-round) component (one-way random effects, method of moments),
then pools them over cells. The same for the log ratio variant / baseline of paired rounds,
which is what the per-scenario verdicts rest on. Given several run directories, it also
splits the variance of each comparison's log ratio between invocations (separate
processes, hours apart if they were) and within them. Prints a table; writes nothing.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from bench.judge import results


def components(values: list[float], runs: list[int]) -> tuple[float, float] | None:
    """(between-run, within-run) variance of `values` grouped by run (None if it cannot be split)."""
    groups = [np.asarray([v for v, r in zip(values, runs) if r == run]) for run in sorted(set(runs))]
    if len(groups) < 2 or any(len(g) < 2 for g in groups):
        return None
    k = np.mean([len(g) for g in groups])
    within = float(np.mean([g.var(ddof=1) for g in groups]))
    between = max(0.0, float(np.var([g.mean() for g in groups], ddof=1)) - within / k)
    return between, within


def cell_series(section: dict) -> list[tuple[str, list[float], list[int]]]:
    """(label, log round medians, runs) per measured cell, and per comparison the log ratio."""
    cells = {(r["scenario"], r["variant"]): r for r in section["results"] if r.get("round_runs")}
    out = [(f"{s}/{v}", list(np.log(c["round_medians_ms"])), c["round_runs"]) for (s, v), c in cells.items()
           if not c.get("errors")]
    for comp in section["comparisons"]:
        mine, base = cells.get((comp["scenario"], comp["variant"])), cells.get((comp["scenario"], "baseline"))
        if comp.get("comparable") and mine and base:
            ratio = np.log(np.asarray(mine["round_medians_ms"]) / np.asarray(base["round_medians_ms"]))
            out.append((f"ratio {comp['scenario']}/{comp['variant']}", list(ratio), mine["round_runs"]))
    return out


def pooled(rows: list[tuple[str, list[float], list[int]]], prefix: str) -> tuple[float, float, int]:
    parts = [components(v, r) for label, v, r in rows if label.startswith("ratio") == (prefix == "ratio")]
    parts = [p for p in parts if p]
    if not parts:
        return float("nan"), float("nan"), 0
    return float(np.mean([p[0] for p in parts])), float(np.mean([p[1] for p in parts])), len(parts)


def between_invocations(sections: list[dict]) -> tuple[float, float, int] | None:
    """Per comparison, the variance of its log ratio between invocations (each
    invocation's mean over its runs) and within them (between its runs), pooled."""
    per_comp: dict[str, list[list[float]]] = {}
    for section in sections:
        for label, values, runs in cell_series(section):
            if label.startswith("ratio"):
                means = [float(np.mean([v for v, r in zip(values, runs) if r == run])) for run in sorted(set(runs))]
                per_comp.setdefault(label, []).append(means)
    between, within = [], []
    for groups in per_comp.values():
        if len(groups) < 2 or any(len(g) < 2 for g in groups):
            continue
        k = np.mean([len(g) for g in groups])
        w = float(np.mean([np.var(g, ddof=1) for g in groups]))
        within.append(w)
        between.append(max(0.0, float(np.var([np.mean(g) for g in groups], ddof=1)) - w / k))
    return (float(np.mean(between)), float(np.mean(within)), len(between)) if between else None


def main(paths: list[str]) -> None:
    sections = [results.load(Path(p))["latency"] for p in paths]
    print("| what | between-run var | within-run var | runs' share | cells |")
    print("|---|---:|---:|---:|---:|")
    for prefix, what in (("", "log round median of a cell"), ("ratio", "log ratio variant/baseline")):
        b, w, n = np.mean([pooled(cell_series(s), prefix)[:2] for s in sections], axis=0).tolist() + [
            sum(pooled(cell_series(s), prefix)[2] for s in sections)]
        print(f"| {what} | {b:.5f} | {w:.5f} | {b / (b + w):.0%} | {n} |")
    across = between_invocations(sections)
    if across:
        b, w, n = across
        print(f"| log ratio: between invocations vs between runs of one | {b:.5f} | {w:.5f} | "
              f"{b / (b + w):.0%} | {n} |")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: variance_shares.py RESULTS [RESULTS ...]")
    main(sys.argv[1:])
