"""Make tests/fixtures/tiny_run/results.json with the harness itself: a tiny run holding
every section (latency, storage, security, vector, load), the report tests' real input.

    .venv/bin/python scripts/make_report_fixture.py            # own embedded server, then stopped
    .venv/bin/python scripts/make_report_fixture.py --dsn DSN  # a server you run (a database it may seed)

Run it again whenever a section's layout changes (tests/test_report_fixture.py says so when
the fixture and the code disagree). It seeds the tiny scale, runs each benchmark with few
rounds into one run directory (`--run-dir`), and keeps only that run's results.json,
minus the blobs no renderer reads. 4.5 minutes on 2 cores shared with other work
(latency 111 s, vector 54 s, load 58 s of it).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "fixtures" / "tiny_run" / "results.json"
ANCHOR = "2026-11-01"  # the dataset's 'today': the same rows on every run of this script

LOAD_ENV = {"BENCH_LOAD_STEPS": "2,4", "BENCH_LOAD_STEP_SECONDS": "3", "BENCH_LOAD_WARMUP_SECONDS": "1",
            "BENCH_LOAD_STEP_EXTEND_SECONDS": "0"}
BENCHMARKS = (  # (name, flags): few rounds, but the 5 a verdict needs (targets.toml min_rounds)
    ("security", ()),
    ("vector", ("--queries", "20", "--rounds", "5", "--clients", "2", "--filtered-queries", "4")),
    ("load", ()),
)
LATENCY = ("--rounds", "5", "--requests", "10", "--warmup", "2")
# HDR histograms no renderer reads: the vector and load sections' (the latency cells' stay:
# the percentile spectra chart decodes them).
SLIMMED_SECTIONS, DROPPED_KEYS = ("vector", "load"), {"hdr"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bench(env: dict, *args: str) -> str:
    """Run `bench ARGS` as a user would; stop with its own words if it fails."""
    began = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "bench", *args], cwd=ROOT, env=env, capture_output=True, text=True)
    print(f"bench {' '.join(args[:2])}: exit {done.returncode} in {time.monotonic() - began:.0f} s", flush=True)
    if done.returncode != 0:
        sys.exit(f"make_report_fixture: `bench {' '.join(args)}` failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    return done.stdout


def measure(env: dict, out: Path) -> Path:
    """Seed, then every benchmark into one run directory; returns it."""
    bench(env, "seed", "--scale", "tiny", "--anchor", ANCHOR)
    bench(env, "run", "latency", *LATENCY, "--out", str(out))
    (run_dir,) = [p for p in out.iterdir() if p.is_dir()]
    for name, flags in BENCHMARKS:
        bench(env, "run", name, *flags, "--run-dir", str(run_dir))
    return run_dir


def slim(value):
    """The results without DROPPED_KEYS, at any depth."""
    if isinstance(value, dict):
        return {k: slim(v) for k, v in value.items() if k not in DROPPED_KEYS}
    if isinstance(value, list):
        return [slim(v) for v in value]
    return value


def write_fixture(run_dir: Path, target: Path) -> Path:
    data = json.loads((run_dir / "results.json").read_text())
    data.update({name: slim(data[name]) for name in SLIMMED_SECTIONS if name in data})
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(data, separators=(",", ":")) + "\n")  # compact: a quarter smaller than indented
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dsn", help="server to use (default: start an embedded one, stopped afterwards)")
    parser.add_argument("--out", type=Path, default=FIXTURE, help=f"where to write (default: {FIXTURE})")
    args = parser.parse_args(argv)
    env = {k: v for k, v in os.environ.items() if not k.startswith("BENCH_")}  # none of the user's settings
    env.update(LOAD_ENV)
    home = Path(tempfile.gettempdir()) / f"bench-fixture-db-{uuid.uuid4().hex[:8]}"  # bench creates it
    if args.dsn:
        env["BENCH_DSN"] = args.dsn
    else:
        env.update(BENCH_DATA_DIR=str(home), BENCH_PORT=str(free_port()))
        bench(env, "db", "start")
    work = Path(tempfile.mkdtemp(prefix="bench-fixture-"))
    try:
        run_dir = measure(env, work / "reports")
        target = write_fixture(run_dir, args.out)
        print(f"wrote {target} ({target.stat().st_size / 1024:.0f} KiB) from {run_dir}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if not args.dsn:  # the server this script started, and its data
            bench(env, "db", "stop")
            shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
