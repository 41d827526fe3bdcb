"""`bench all` (what `make bench` runs): start the server, seed, run every benchmark, report."""

from __future__ import annotations

import os
import sys
import time

import click
from rich.table import Table

from bench import session as sessions
from bench.benchmarks import REGISTRY
from bench.cli.run import execute
from bench.cli.seed import data_path, print_seed, scale_option
from bench.core import environment, fs
from bench.core import schema as schemas
from bench.judge.text import human_bytes
from bench.session import Session


@click.command("all")
@scale_option("Scale to seed and measure.")
@click.pass_obj
def run_all(session: Session, scale: str) -> None:
    """What `make bench` runs: start the server, seed the default scale, measure, judge.

    Each benchmark runs with the options `bench run NAME` has without flags; set one with
    BENCH_<NAME>_<OPTION>, e.g. BENCH_LATENCY_ROUNDS=2 or BENCH_VECTOR_QUERIES=50."""
    from bench.report import render
    from seed.config import make_config
    from seed.run import seed_database

    seed_config = make_config(scale)  # usage mistakes (BENCH_LOAD_* too) before a server starts
    options = {name: sessions.parse_defaults(b) for name, b in REGISTRY.items()}  # as `bench run NAME` without flags
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
        print_seed(session, report, time.perf_counter() - began)  # the total includes post-data, as `bench seed`
    code, directory = execute(session, list(REGISTRY), options, [])
    paths = render(directory)  # a failed run still gets its report
    session.out.print(f"report: {paths['report.html']}", soft_wrap=True)
    session.out.print(f"summary: {paths['summary.md']}", soft_wrap=True)
    if code:
        sys.exit(code)


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
    table.add_row("python", machine["python"])
    commit = harness["git_commit"] or "unknown"
    table.add_row("harness", f"{harness['version']} @ {commit[:12]}{' (dirty)' if harness['git_dirty'] else ''}")
    session.out.print(table)
