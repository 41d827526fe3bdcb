"""Benchmark (not a test) of `bench compare`'s power on a real run: how many figures and
cells it flags, calls undecidable, or silently passes when every latency of the run is
made FACTOR slower (scripts/slow_copy.py), and what it flags when the run is compared
with itself and with other runs of the same commit (OTHER_RUN_DIR..., ideally independent
re-runs: they should flag no regression).

    .venv/bin/python scripts/compare_power.py RUN_DIR [OTHER_RUN_DIR ...] [--factor 1.3] [--threshold 0.1]

The goal (issue 19): for a 30% slowdown, >= 95% of figures flagged or undecidable and
none silently passed; 0 regressions between independent runs. A figure is silently
passed when it is not flagged although the comparison claims it could have seen a
threshold-sized change (status "unchanged", or an "improvement"). A cell (scenario x
variant) is flagged when any of its figures is, silently passed when none is flagged and
one is silently passed, undecidable otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere in the repo

from bench.judge import results as results_file  # noqa: E402
from bench.report.compare import DEFAULT_THRESHOLD, IMPROVEMENT, UNCHANGED, UNDECIDABLE, Comparison, judge  # noqa: E402
from scripts.slow_copy import slowed  # noqa: E402

SILENT = (UNCHANGED, IMPROVEMENT)


def figure_shares(comparison: Comparison) -> Counter:
    counts = Counter()
    for f in comparison.figures():
        if f.test is None:
            counts[f"untested ({f.missing})"] += 1
        else:
            counts["silently passed" if f.status in SILENT else f.status] += 1
    return counts


def status_counts(comparison: Comparison) -> Counter:
    return Counter(f"untested ({f.missing})" if f.test is None else f.status for f in comparison.figures())


def cell_shares(comparison: Comparison) -> Counter:
    counts = Counter()
    for change in comparison.changes:
        statuses = {f.status for f in change.figures.values()}
        if not statuses:
            continue  # not measured in either run
        counts["flagged" if change.regressions else "silently passed" if statuses & set(SILENT) else
               UNDECIDABLE] += 1
    return counts


def show(title: str, counts: Counter) -> None:
    total = sum(counts.values())
    print(f"  {title} ({total}): " + ", ".join(f"{k} {v} ({v / total:.0%})" for k, v in sorted(counts.items())))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("others", type=Path, nargs="*")
    parser.add_argument("--factor", type=float, default=1.3)
    parser.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD)
    args = parser.parse_args(argv)
    data = results_file.load(args.run_dir)
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / results_file.FILE_NAME
        copy.write_text(json.dumps(slowed(data, args.factor)))
        began = time.perf_counter()
        injected = judge(args.run_dir, copy, args.threshold)
        seconds = time.perf_counter() - began
    print(f"{data.get('run_id')}: every latency x{args.factor:g}, threshold {args.threshold:.0%} "
          f"(compare took {seconds:.1f} s)")
    show("figures", figure_shares(injected))
    show("cells", cell_shares(injected))
    print(f"{data.get('run_id')} compared with itself:")
    show("figures", status_counts(judge(args.run_dir, args.run_dir, args.threshold)))
    for other in args.others:
        pair = judge(args.run_dir, other, args.threshold)
        print(f"{data.get('run_id')} -> {pair.new.get('run_id')}: {len(pair.regressions())} cells flagged as regressions")
        show("figures", status_counts(pair))
    return 0


if __name__ == "__main__":
    sys.exit(main())
