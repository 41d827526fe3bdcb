"""The pytest-benchmark suite in benchmarks/ (`make bench-micro`) executes: one pass of
every micro-benchmark with timing disabled (its own checks of each result still run).
Its timings are not part of `make test`'s pass or fail."""

from __future__ import annotations

import subprocess
import sys

from bench.core.config import PROJECT_ROOT


def test_the_micro_benchmarks_execute(tmp_path):
    done = subprocess.run([sys.executable, "-m", "pytest", "benchmarks", "-q", "-p", "no:cacheprovider",
                           "--benchmark-disable", f"--basetemp={tmp_path / 'bt'}"],
                          cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "6 passed" in done.stdout  # the embedding draw is measured for both generators


def test_make_bench_micro_compares_with_the_last_saved_run():
    makefile = (PROJECT_ROOT / "Makefile").read_text()
    recipe = makefile.split("\nbench-micro:")[1].split("\n\n")[0]
    for flag in ("--benchmark-autosave", "--benchmark-compare", "--benchmark-compare-fail=", "benchmarks"):
        assert flag in recipe
