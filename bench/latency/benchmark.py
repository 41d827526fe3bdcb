"""`bench run latency` as a Benchmark: options, the measurement, its table."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.table import Table

from bench.core.options import with_options
from bench.core.schema import REFERENCE

if TYPE_CHECKING:  # the measuring modules load when a command measures: `bench --help` stays fast
    from bench.session import Run, Session


@dataclass(frozen=True)
class LatencyOptions:
    config: Any  # bench.latency.runner.LatencyConfig
    scenarios: list  # scenarios.Scenario


class Latency:
    name = "latency"
    summary = "Latency of every scenario on every variant, with verdicts (avg_latency, query_speedup)."
    partial_unit = "rounds"
    in_all = True

    def click_options(self, command):
        return with_options(command, [
            click.option("--rounds", type=click.IntRange(1, 1000), default=6, show_default=True,
                         help="Interleaved rounds (A B C, B C A, ...) in all, spread over the runs; verdicts need "
                              "at least 5."),
            click.option("--runs", type=click.IntRange(1, 100), default=3, show_default=True,
                         help="Independent runs (new connections, fresh ANALYZE, warm-up each); intervals are over "
                              "runs when there are two or more."),
            click.option("--requests", type=click.IntRange(1, 10**7), default=60, show_default=True,
                         help="Requests per scenario, variant and round."),
            click.option("--concurrency", type=click.IntRange(1, 1000), default=4, show_default=True,
                         help="Connections."),
            click.option("--warmup", type=click.IntRange(0, 10**6), default=20, show_default=True,
                         help="Unrecorded requests per scenario and variant first."),
            click.option("--mode", type=click.Choice(["closed", "open"]), default="closed", show_default=True,
                         help="closed: next request when one returns; open: fixed arrival --rate."),
            click.option("--rate", type=click.FloatRange(0.1, 10**6), default=100.0, show_default=True,
                         help="Open loop: requests per second."),
            click.option("--scenario", "scenario_names", multiple=True, metavar="NAME", help="Only these scenarios."),
        ])

    def options(self, values: dict) -> LatencyOptions:
        from bench.latency.runner import LatencyConfig
        from scenarios import select as select_scenarios

        names = list(values.pop("scenario_names", ()))
        return LatencyOptions(LatencyConfig(**values), select_scenarios(names))

    def measure(self, run: Run, options: LatencyOptions) -> dict:
        from bench.latency import section as latency
        from scenarios.population import load as load_population

        population = load_population(run.conn, run.variants[0].name)
        total = options.config.rounds * sum(1 for s in options.scenarios for v in run.variants if s.query_for(v))
        with run.session.progress("latency", total, unit="batches") as tick:
            return latency.run(run.dsn, run.variants, options.scenarios, population, options.config, tick,
                               save=run.save)

    def show(self, section: dict, session: Session) -> None:
        from bench.latency import section as latency

        session.out.print(_table(section))
        for where in latency.surprises(section["results"]):
            session.note(f"bench: note: {where} was declared a known failure but succeeded")
        expected = sum(r.get("errors", 0) for r in section["results"] if r.get("expected_failure"))
        if expected:
            session.out.print(f"{expected} requests failed as the schema under test makes them fail "
                              "(findings, see the report)")

    def problems(self, section: dict, file: Path) -> list[str]:
        from bench.latency import section as latency

        errors = latency.unexpected_errors(section["results"])
        return [f"{errors} requests failed unexpectedly (see error_samples in {file})"] if errors else []

    def merge_kept(self, kept: dict, new: dict) -> dict:
        from bench.latency import section as latency

        return latency.merge_kept(kept, new)


def _table(section: dict) -> Table:
    table = Table(title="Latency (ms) per scenario and variant")
    for column in ("scenario", "variant", "p50", "p95", "p99", "mean", "req/s", "errors", f"vs {REFERENCE}"):
        table.add_column(column, justify="left" if column in ("scenario", "variant") else "right")
    gains = {(c["scenario"], c["variant"]): c for c in section["comparisons"]}
    for r in section["results"]:
        if not r.get("applicable"):
            table.add_row(r["scenario"], r["variant"], "n/a", "", "", "", "", "", "")
            continue
        lat = r["latency"]
        comp = gains.get((r["scenario"], r["variant"]))
        if comp and comp["comparable"]:
            g = comp["improvement"]
            versus = f"{g['estimate']:+.0%} [{g['low']:+.0%}, {g['high']:+.0%}]"
        else:
            versus = "" if r["variant"] == REFERENCE else "-"
        errors = f"{r['errors']} (known)" if r["errors"] and r.get("expected_failure") else str(r["errors"])
        if not lat.get("count"):
            table.add_row(r["scenario"], r["variant"], "-", "-", "-", "-", "-", errors, versus)
            continue
        table.add_row(r["scenario"], r["variant"], f"{lat['p50_ms']:.2f}", f"{lat['p95_ms']:.2f}",
                      f"{lat['p99_ms']:.2f}", f"{lat['mean_ms']:.2f}", f"{lat['throughput_rps']:.0f}",
                      errors, versus)
    return table


LATENCY = Latency()
