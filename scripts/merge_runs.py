"""Pool several runs of the same commit into one results.json (bench/report/merge.py):
what scripts/pr-compare.sh does with the A B A B runs of each side before comparing.

    .venv/bin/python scripts/merge_runs.py OUT_DIR RUN_DIR [RUN_DIR ...]

Refuses (one line, exit 1) a missing or unreadable run, runs of different datasets, and an
OUT_DIR that already holds a results.json (nothing is overwritten).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere in the repo

from bench.core.errors import BenchError  # noqa: E402
from bench.judge import results as results_file  # noqa: E402
from bench.report.compare import check_comparable  # noqa: E402
from bench.report.merge import merge  # noqa: E402


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print("usage: scripts/merge_runs.py OUT_DIR RUN_DIR [RUN_DIR ...]", file=sys.stderr)
        return 2
    out, runs = Path(argv[0]), [Path(a) for a in argv[1:]]
    try:
        if (out / results_file.FILE_NAME).exists():
            raise BenchError(f"{out / results_file.FILE_NAME} exists: nothing is overwritten")
        loaded = [results_file.load(r) for r in runs]
        for other in loaded[1:]:
            check_comparable(loaded[0], other, force=False)
        merged = merge(loaded)
        merged.pop("schema_version", None)
        out.mkdir(parents=True, exist_ok=True)
        print(results_file.write(out, merged))
    except BenchError as exc:  # UsageError is one too
        print(f"merge_runs: error: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
