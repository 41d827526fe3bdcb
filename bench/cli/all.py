"""`bench all` (what `make bench` runs): start the server, seed, run every benchmark, report."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import click
from rich.table import Table

from bench import session as sessions
from bench.benchmarks import REGISTRY
from bench.cli.run import execute
from bench.cli.seed import data_path, print_seed, scale_option
from bench.core import contention, environment, fs, speed
from bench.core import schema as schemas
from bench.judge import results as results_file
from bench.judge.text import human_bytes
from bench.session import Session


@click.command("all")
@scale_option("Scale to seed and measure.")
@click.option("--baseline", metavar="NAME", envvar="BENCH_BASELINE",
              help="Release gate: compare the run with baseline NAME (bench baseline list) and exit 1 when a "
                   "verdict got worse or a regression beyond --threshold is found (or BENCH_BASELINE).")
@click.option("--report-only", is_flag=True, help="With --baseline: write and print the comparison, never fail on it.")
@click.option("--threshold", type=click.FloatRange(0, 10), default=0.10, show_default=True,
              help="With --baseline: the worsening (fraction) that counts as a regression.")
@click.option("--force", is_flag=True,
              help="With --baseline: show the comparison with a baseline measured differently (then not gated).")
@click.pass_obj
def run_all(session: Session, scale: str, baseline: str | None, report_only: bool, threshold: float,
            force: bool) -> None:
    """What `make bench` runs: start the server, seed the default scale, measure, judge.

    Each benchmark runs with the options `bench run NAME` has without flags; set one with
    BENCH_<NAME>_<OPTION>, e.g. BENCH_LATENCY_ROUNDS=2 or BENCH_VECTOR_QUERIES=50.
    With --baseline NAME the run is then compared with that stored run (compare.md and
    compare.json in the run directory) and gates the release."""
    from bench.report import render
    from seed.config import make_config
    from seed.run import seed_database

    seed_config = make_config(scale)  # usage mistakes (BENCH_LOAD_* too) before a server starts
    if baseline:
        check_baseline(baseline, scale, force)  # a missing, corrupt or other-scale baseline: before measuring
    included = [name for name, b in REGISTRY.items() if b.in_all]  # as `bench run NAME` without flags
    options = {name: sessions.parse_defaults(REGISTRY[name]) for name in included}
    fs.check_run_output(None, None)  # reports dir: before seeding and measuring
    with session.connection() as (conn, dsn):
        print_environment(session, environment.capture(conn, dsn, session.server))
        recorded = conn.execute("SELECT to_regclass('bench_meta.seed_run')").fetchone()[0] and conn.execute(
            "SELECT config FROM bench_meta.seed_run WHERE id = 1").fetchone()
        resume = bool(recorded) and recorded[0]["scale"] == scale  # finish (or keep) the same seed
        if recorded and resume:
            seed_config = make_config(scale, anchor=recorded[0]["anchor"])
        began = time.perf_counter()
        report = seed_database(conn, dsn, schemas.variants(), seed_config, workers=min(2, os.cpu_count() or 1),
                               resume=resume, console=session.err, data_path=data_path(session))
        seed_seconds = time.perf_counter() - began
        print_seed(session, report, seed_seconds)  # the total includes post-data, as `bench seed`
    code, directory = execute(session, included, options, [])
    results_file.add_section(Path(directory), "seed", report.as_section(seed_seconds), [])
    print_other_work(session, results_file.load(Path(directory)))
    paths = render(directory)  # a failed run still gets its report
    session.out.print(f"report: {paths['report.html']}", soft_wrap=True)
    session.out.print(f"summary: {paths['summary.md']}", soft_wrap=True)
    if baseline:
        from bench.cli.baseline import gate_run

        directory = Path(directory)
        gated = gate_run(baseline, directory, threshold, force, report_only, str(directory / "compare.json"),
                         str(directory / "compare.md"),
                         echo=lambda text, nl=True: session.out.print(text, end="\n" if nl else "", soft_wrap=True,
                                                                      markup=False, highlight=False))
        session.out.print(f"comparison: {directory / 'compare.md'}", soft_wrap=True)
        code = code or gated
    if code:
        sys.exit(code)


def check_baseline(name: str, scale: str, force: bool) -> None:
    """The baseline loads, and measured the scale about to be measured (exit 2 otherwise,
    unless forced); the rest of its identity is checked against the finished run."""
    from bench.core.errors import UsageError
    from bench.report import baseline

    results, _ = baseline.load(name)
    measured = (results.get("dataset") or {}).get("scale")
    if measured != scale and not force:
        raise UsageError(f"baseline {name} measured scale {measured}, this run measures {scale}: not comparable "
                         "(--force shows the comparison anyway, without gating)")


def print_other_work(session: Session, data: dict) -> None:
    """How much of the machine other work took while each benchmark measured, and whether
    that makes the run a busy machine's (contention.busy_notes)."""
    shares = contention.judged_sections(data)
    if shares:
        session.out.print("other work on the machine while measuring (share of all CPUs): "
                          + ", ".join(f"{name} {other['other_cpu_percent']:g}% of {other['seconds']:g} s"
                                      for name, other in shares.items()), soft_wrap=True)
    for note in contention.busy_notes(data):
        session.out.print(f"machine busy: {note}: its figures are a slower machine's", soft_wrap=True, markup=False)


def print_environment(session: Session, env: dict) -> None:
    server, machine, harness = env["server"], env["machine"], env["harness"]
    table = Table(title="Environment", show_header=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    table.add_row("server", f"PostgreSQL {server['server']} at {server['where']}")
    table.add_row("pgvector", server["pgvector"])
    table.add_row("pg_stat_statements", "yes" if server["pg_stat_statements"] else "no (not preloaded)")
    for name, value in server["settings"].items():
        table.add_row(f"  {name}", value)
    table.add_row("cpu", f"{machine['cpu_count']} x {machine['cpu_model']}")
    table.add_row("memory", human_bytes(machine["memory_bytes"]))
    if machine.get("load_average"):
        table.add_row("load average", " / ".join(map(str, machine["load_average"])) + " (1 / 5 / 15 min)")
    if machine.get("cpu_busy_percent") is not None:
        table.add_row("CPU in use", f"{machine['cpu_busy_percent']:g}% (the second before the run)")
    if machine.get("speed_probe"):
        table.add_row("speed probe", speed.text(machine["speed_probe"]) + " (a fixed workload: bench compare "
                                     "reads a change beyond 10% as the machine's)")
    table.add_row("python", machine["python"])
    commit = harness["git_commit"] or "unknown"
    table.add_row("harness", f"{harness['version']} @ {commit[:12]}{' (dirty)' if harness['git_dirty'] else ''}")
    session.out.print(table)
