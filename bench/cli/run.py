"""`bench run NAME`: one command per registered benchmark (bench/benchmarks.py), all run
through the same sequence (bench/session.py: measure), plus `bench run overhead`."""

from __future__ import annotations

import os
import sys

import click
from rich.table import Table

from bench import session as sessions
from bench.benchmarks import ALSO_RUNS, REGISTRY
from bench.core.options import only_option, out_options
from bench.judge.text import aggregate_line, figure_text
from bench.session import Benchmark, Session


@click.group("run")
def run_group() -> None:
    """Run a benchmark against the seeded variants and write reports/<run-id>/results.json."""


def execute(session: Session, names: list[str], options: dict, only: list[str], out_dir: str | None = None,
            run_dir: str | None = None):
    """Measure each named benchmark into one run directory, print its tables and verdicts,
    and say its faults; (exit code, run directory). The first one opens the run."""
    code, directory = 0, run_dir
    for name in names:
        benchmark = REGISTRY[name]
        section, run = sessions.measure(session, benchmark, options[name], only, out_dir, directory)
        directory = str(run.directory)
        code = report(session, benchmark, section, run.file) or code
    return code, directory


def report(session: Session, benchmark: Benchmark, section: dict, file) -> int:
    """Print a measured section (tables, verdicts, where it is) and its faults; 1 if any."""
    benchmark.show(section, session)
    print_verdicts(session, section.get("verdicts", []))
    session.out.print(f"results: {file}", soft_wrap=True)
    problems = benchmark.problems(section, file)
    for line in problems:
        session.err.print(f"bench: error: {line}", soft_wrap=True, markup=False)
    return 1 if problems else 0


def print_verdicts(session: Session, all_verdicts: list[dict]) -> None:
    if not all_verdicts:
        return
    table = Table(title="Verdicts (figure with its 95% interval)")
    for column in ("claim", "variant", "verdict", "measured", "note"):
        table.add_column(column)
    for v in all_verdicts:  # query_speedup in full: its speed ratio beside the time reduction
        table.add_row(v["claim_text"], v["variant"], v["verdict"],
                      figure_text(v, short=v["claim"] != "query_speedup"), v.get("note", ""))
    session.out.print(table)
    for v in all_verdicts:  # every scenario counts: the per-scenario verdicts behind an aggregate
        if aggregate_line(v):
            session.out.print(f"{v['claim_text']}, {v['variant']}: {aggregate_line(v)}", soft_wrap=True,
                              highlight=False, markup=False)


def _command(benchmark: Benchmark) -> click.Command:
    def run_benchmark(session: Session, out_dir, run_dir, only, **values) -> None:
        options = {benchmark.name: benchmark.options(values)}
        instead = getattr(benchmark, "instead", None)  # modes that measure nothing into a run (load --ui)
        if instead and instead(session, options[benchmark.name], list(only)):
            return
        for also in ALSO_RUNS.get(benchmark.name, ()):
            options[also] = sessions.parse_defaults(REGISTRY[also])
        code, _directory = execute(session, [benchmark.name, *ALSO_RUNS.get(benchmark.name, ())], options,
                                   list(only), out_dir, run_dir)
        if code:
            sys.exit(code)

    decorated = click.pass_obj(only_option(out_options(benchmark.click_options(run_benchmark))))
    return click.command(benchmark.name, help=benchmark.summary)(decorated)


for _benchmark in REGISTRY.values():
    run_group.add_command(_command(_benchmark))


@run_group.command("overhead")
@click.option("--clients", multiple=True, type=click.IntRange(1, 1000), default=(1, 8), show_default=True,
              help="Concurrent connections (repeatable).")
@click.option("--seconds", type=click.IntRange(1, 3600), default=10, show_default=True, help="Per measurement.")
@click.option("--processes", type=click.IntRange(1, 64), default=os.cpu_count() or 1, show_default=True,
              help="Runner processes sharing the connections.")
@click.pass_obj
def run_overhead_cmd(session: Session, clients, seconds, processes) -> None:
    """The runner's throughput next to pgbench -S on the same point query (prints the ratio)."""
    from bench.latency import overhead

    session.check()
    rows = overhead.run(session.target_dsn(), list(clients), seconds, processes)
    table = Table(title=f"Runner overhead vs pgbench -S (scale {overhead.PGBENCH_SCALE}, {seconds} s each)")
    for column in ("clients", "runner processes", "pgbench tps", "runner tps", "runner / pgbench",
                   "full request tps"):
        table.add_column(column, justify="right")
    for r in rows:
        table.add_row(str(r["clients"]), str(r["processes"]), f"{r['pgbench_tps']:,.0f}", f"{r['ours_tps']:,.0f}",
                      f"{r['ratio']:.2f}", f"{r['full_request_tps']:,.0f}")
    session.out.print(table)
    layout = session.cpu_layout()
    session.out.print(f"cpu layout: runner cpus {layout['runner_cpus']}, server cpus {layout.get('server_cpus')}, "
                      "not pinned; full request = BEGIN, identity set_config, query, COMMIT (what every scenario "
                      "request pays)")
