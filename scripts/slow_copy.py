"""Copy a run's results.json with every latency figure of its latency section made FACTOR
times slower, consistently: each cell's summary (p50 ... max, mean, stddev; throughput
divided), its per-round series (medians, means, and p95/p99 or per-round HDR histograms
when the run has them), its whole-run HDR histogram (every recorded value re-recorded
scaled), its pg_stat_statements times and EXPLAIN timings. Used by
scripts/compare_power.py and the compare tests to inject a known slowdown.

    .venv/bin/python scripts/slow_copy.py RUN_DIR OUT_DIR [--factor 1.3]

Only results.json is written (render a report from it with `bench report OUT_DIR`).
The vector and load sections, and the latency section's derived comparisons and verdicts,
are copied unchanged: `bench compare` reads only the latency cells.
The copy says what it is (`synthetic_slowdown`), so it cannot pass for a measured run.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path

from bench.judge import results as results_file
from bench.judge import stats

ROUND_SERIES = ("round_medians_ms", "round_means_ms", "round_p95_ms", "round_p99_ms")


def scaled_histogram(encoded: str, factor: float) -> str:
    """The HDR histogram with every recorded value multiplied by factor."""
    old, new = stats.decode(encoded), stats.new_histogram()
    for item in old.get_recorded_iterator():
        value = min(max(round(item.value_iterated_to * factor), stats.LOWEST_US), stats.HIGHEST_US)
        new.record_value(value, item.count_added_in_this_iter_step)
    return stats.encode(new)


def slow_cell(cell: dict, factor: float) -> None:
    """Make one latency cell `factor` times slower, in place."""
    summary = cell.get("latency") or {}
    for key in list(summary):
        if key.endswith("_ms") and summary[key] is not None:
            summary[key] *= factor
    if summary.get("throughput_rps"):
        summary["throughput_rps"] /= factor
    for key in ROUND_SERIES:
        if cell.get(key):
            cell[key] = [x * factor for x in cell[key]]
    if cell.get("hdr"):
        cell["hdr"] = scaled_histogram(cell["hdr"], factor)
    if cell.get("round_hdr"):
        cell["round_hdr"] = [scaled_histogram(h, factor) for h in cell["round_hdr"]]
    for part in ("pg_stat_statements", "explain"):
        block = cell.get(part)
        if isinstance(block, dict):  # top-level timings only; the plan tree is left as measured
            for key in [k for k in block if k.endswith("_ms") and isinstance(block[k], (int, float))]:
                block[key] *= factor


def slowed(results: dict, factor: float, scenario: str | None = None, variant: str | None = None) -> dict:
    """A copy of a run's results with its latency cells (or only the one named) slowed."""
    out = copy.deepcopy(results)
    cells = [c for c in (out.get("latency") or {}).get("results") or []
             if (scenario is None or c["scenario"] == scenario) and (variant is None or c["variant"] == variant)]
    if not cells:
        raise ValueError(f"no latency cell matches {scenario or 'any scenario'} on {variant or 'any variant'}")
    for cell in cells:
        slow_cell(cell, factor)
    out["run_id"] = f"{results.get('run_id', 'run')}-x{factor:g}"
    out["synthetic_slowdown"] = {"factor": factor, "of_run": results.get("run_id"),
                                 "cells": "all" if scenario is None and variant is None else f"{scenario} on {variant}"}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--factor", type=float, default=1.3, help="1.3 = every latency 30%% slower")
    args = parser.parse_args(argv)
    if not args.factor > 0:
        parser.error("--factor must be > 0")
    data = results_file.load(args.run_dir)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    target = args.out_dir / results_file.FILE_NAME
    target.write_text(json.dumps(slowed(data, args.factor), indent=1))
    print(target)
    return 0


if __name__ == "__main__":
    sys.exit(main())
