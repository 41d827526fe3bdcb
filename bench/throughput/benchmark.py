"""`bench run throughput` as a Benchmark: the closed-loop concurrency sweep (sweep.py), the
Universal Scalability Law fitted to it (usl.py), users at the SLO and the verdict on
"linear performance with user growth" (section.py).

Not part of `bench all` (`in_all = False`, read by bench/cli/all.py): at its defaults it
takes about 2 minutes per variant, and `make bench` has a 10-minute budget already.

Where the harness runs the embedded server, the server is pinned to its own CPUs and this
process (the client) to the others for the sweep, as the load test pins Locust
(bench/core/cpus.py); the layout is recorded in the section's config.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.table import Table

from bench.core.errors import UsageError
from bench.core.options import with_options

if TYPE_CHECKING:
    from bench.session import Run, Session

LEVELS = "1,2,4,8,16,32,64"
WINDOWS_FILE = "throughput-windows.json"


@dataclass(frozen=True)
class ThroughputOptions:
    config: object  # sweep.SweepConfig
    scenarios: list
    cores: int
    resamples: int


def connection_levels(text: str) -> tuple[int, ...]:
    """`1,2,4` -> increasing connection counts (at least 3: the USL has 3 parameters)."""
    try:
        values = tuple(int(x) for x in str(text).replace(" ", "").split(",") if x)
    except ValueError:
        values = ()
    if len(values) < 3 or any(v < 1 or v > 150 for v in values) or list(values) != sorted(set(values)):
        raise UsageError(f"--connections: give 3 or more increasing counts from 1 to 150 like {LEVELS}, got {text!r}")
    return values


class Throughput:
    name = "throughput"
    summary = ("Closed-loop concurrency sweep (1..64 connections), the USL fit with intervals, users at p95 < 100 ms "
               "and the 'linear performance with user growth' verdict. Not run by `bench all`.")
    partial_unit = None
    in_all = False  # `bench all` leaves it out: `bench run throughput` runs it

    def click_options(self, command):
        return with_options(command, [
            click.option("--connections", default=LEVELS, show_default=True, metavar="N,N,...",
                         help="Concurrent connections of each level, increasing (at least 3 levels)."),
            click.option("--windows", type=click.IntRange(2, 100), default=3, show_default=True,
                         help="Measured windows per level and variant (passes over the levels); the verdict needs "
                              "3 or more."),
            click.option("--window-seconds", type=click.FloatRange(0.5, 3600), default=5.0, show_default=True,
                         help="Length of each measured window."),
            click.option("--warmup-seconds", type=click.FloatRange(0, 3600), default=1.0, show_default=True,
                         help="Unmeasured seconds before each window."),
            click.option("--cores", type=click.IntRange(1, 1024), default=8, show_default=True,
                         help="Project users at the SLO to a server with this many cores."),
            click.option("--resamples", type=click.IntRange(100, 100_000), default=1000, show_default=True,
                         help="Bootstrap resamples of the USL fit."),
            click.option("--seed", type=int, default=1, show_default=True, help="Seed of the request parameters."),
            click.option("--scenario", "scenario_names", multiple=True, metavar="NAME", help="Only these scenarios."),
        ])

    def options(self, values: dict) -> ThroughputOptions:
        from bench.throughput.sweep import SweepConfig
        from scenarios import select as select_scenarios

        config = SweepConfig(connection_levels(values["connections"]), values["windows"], values["window_seconds"],
                             values["warmup_seconds"], values["seed"])
        return ThroughputOptions(config, select_scenarios(list(values.get("scenario_names") or ())),
                                 values["cores"], values["resamples"])

    def measure(self, run: Run, options: ThroughputOptions) -> dict:
        from bench.core import cpus
        from bench.judge import results
        from bench.latency.section import _run_until_sigterm
        from bench.throughput import section, sweep
        from scenarios.population import load as load_population

        config = options.config
        population = load_population(run.conn, run.variants[0].name)
        mixes = {v.name: sweep.scenario_mix(options.scenarios, v) for v in run.variants}
        pools = {v.name: sweep.request_pool(options.scenarios, v, population, mixes[v.name][0], config.seed)
                 for v in run.variants}
        load = results.load(run.directory).get("load")  # a Locust step load of the same run, if any
        think, think_source = think_seconds(load)
        run.session.note(f"throughput: {len(run.variants)} variant(s), connections {','.join(map(str, config.connections))}, "
                         f"{config.windows} windows of {config.window_seconds:g} s (+{config.warmup_seconds:g} s warm-up) "
                         f"per level, about {config.planned_seconds(len(run.variants)) / 60:.1f} min")
        pid = run.session.postmaster_pid()
        began = time.perf_counter()
        with cpus.pinned_split(pid) as layout:
            restore = sweep.client_cpus_pinned(layout)
            try:
                run.session.note(_layout_line(layout))
                total = config.windows * len(config.connections) * len(run.variants)
                with run.session.progress("throughput", total, unit="windows") as tick:
                    windows = _run_until_sigterm(sweep.sweep(run.dsn, run.variants, pools, config, pid, tick))
            finally:
                restore()
        if windows is None:
            raise KeyboardInterrupt("SIGTERM")
        cores_here = (len(layout["server_cpus"]) if layout["pinned"] else
                      len(layout["available_cpus"]) if pid else None)
        record = {"connections": list(config.connections), "windows": config.windows,
                  "window_seconds": config.window_seconds, "warmup_seconds": config.warmup_seconds,
                  "seed": config.seed, "think_s": think, "think_source": think_source, "cores_here": cores_here,
                  "cores": options.cores, "cpu_layout": {**layout, "client_cpus": layout.get("load_cpus")},
                  "mix": {v: m for v, (m, _) in mixes.items()}, "left_out": {v: f for v, (_, f) in mixes.items()},
                  "seconds": round(time.perf_counter() - began, 1)}
        records = [w.record() for w in windows]
        raw = run.directory / WINDOWS_FILE  # kept before the fit: a failing analysis never loses the measurement
        raw.write_text(json.dumps({"config": record, "windows": records}))
        record["windows_file"] = WINDOWS_FILE
        run.session.note(f"throughput: {len(records)} windows measured ({raw}); fitting the USL "
                         f"({options.resamples} bootstrap resamples per variant)")
        return section.build(records, [v.name for v in run.variants], record, load, options.resamples)

    def show(self, section: dict, session: Session) -> None:
        session.out.print(_levels_table(section))
        session.out.print(_model_table(section))
        layout = section["config"]["cpu_layout"]
        session.out.print(_layout_line(layout))
        saturated = [f"{r['variant']} N={r['n']}" for r in section["levels"] if r["client_saturated"]]
        if saturated:
            session.note(f"bench: note: the client saturated (>= 90% of a core) at {', '.join(saturated)}: left out "
                         "of the fit")

    def problems(self, section: dict, file: Path) -> list[str]:
        from bench.throughput.section import unexpected_errors

        errors = unexpected_errors(section)
        lines = [f"{errors} requests failed (see error_samples in {file})"] if errors else []
        return lines + [f"{m['variant']}: no USL fit ({m['why_no_fit']})" for m in section["models"]
                        if not m.get("fit")]


def think_seconds(load: dict | None) -> tuple[float, str]:
    """The mean think time of the users the model converts to: the run's own step load's
    when it has one (its Locust capacity is shown beside the model's, so both must mean the
    same users), else the load test's default. With where it came from."""
    think = ((load or {}).get("config") or {}).get("think_seconds")
    if think:
        return (think[0] + think[1]) / 2, f"this run's load test ({think[0]:g}-{think[1]:g} s), its mean"
    from bench.loadtest import options as load_options

    low, high = load_options.resolve({})["think"]
    return (low + high) / 2, "the load test's default think time (bench/loadtest/options.py: BENCH_LOAD_THINK), its mean"


def _layout_line(layout: dict) -> str:
    if layout.get("pinned"):
        return (f"cpu: server pinned to CPU {','.join(map(str, layout['server_cpus']))}, the client to CPU "
                f"{','.join(map(str, layout['load_cpus']))} (the server gets its CPUs back after)")
    return f"cpu: not pinned ({layout.get('reason')})"


def _num(x, digits: int = 1) -> str:
    return "-" if x is None else f"{x:,.{digits}f}"


def _levels_table(section: dict) -> Table:
    table = Table(title="Throughput per level (closed loop, no think time; X with its 95% t interval over windows)")
    for column in ("variant", "N", "X req/s", "p50 ms", "p95 ms", "p99 ms", "errors", "client CPU",
                   "server CPU ms/req", "pgss exec ms/req", "server cores busy", "its CPUs busy"):
        table.add_column(column, justify="left" if column == "variant" else "right")
    for r in section["levels"]:
        x, lat = r["x_rps"], r["latency"]
        table.add_row(r["variant"], str(r["n"]), f"{x['estimate']:,.0f} [{x['low']:,.0f}, {x['high']:,.0f}]",
                      _num(lat.get("p50_ms"), 2), _num(lat.get("p95_ms"), 2), _num(lat.get("p99_ms"), 2),
                      str(r["errors"]), f"{r['client_cpu_max']:.0%}" + (" SAT" if r["client_saturated"] else ""),
                      _num(r["server_cpu_ms_per_request"], 3), _num(r["pgss_exec_ms_per_request"], 3),
                      _num(r["server_cpu_cores"], 2),
                      "-" if r.get("server_cpus_busy") is None else f"{r['server_cpus_busy']:.0%}")
    return table


def _model_table(section: dict) -> Table:
    from bench.throughput.section import _bounds

    table = Table(title="USL fit (95% bootstrap intervals over windows) and users at p95 < "
                        f"{section['models'][0].get('slo', {}).get('p95_ms', 100):g} ms")
    for column in ("variant", "λ req/s", "σ", "κ", "N*", "R²", "D cpu ms", "N at SLO", "users (here)",
                   "users (K cores)", "Locust"):
        table.add_column(column, justify="left" if column == "variant" else "right")
    for m in section["models"]:
        if not m.get("fit"):
            table.add_row(m["variant"], "-", "-", "-", "-", "-", "-", "-", "-", "-", "-")
            continue
        f, slo = m["fit"], m["slo"]
        star = f["n_star"]["estimate"]
        users = slo["users"]
        iv = slo["users_interval"]
        here = "-" if users is None else (("≥ " if slo["at_least"] else "") + f"{users:,.0f}" + (
            f" [{iv['low']:,.0f}, {iv['high']:,.0f}]" if iv["low"] is not None else ""))
        proj = slo.get("projection")
        locust = slo.get("locust")
        table.add_row(m["variant"], _bounds(f["lambda"]), _bounds(f["sigma"]), _bounds(f["kappa"]),
                      "-" if star is None else f"{star:.0f}", f"{f['r2']:.3f}",
                      _num(m["demand"]["server_cpu_ms_per_request"], 3), _num(slo["n"], 1), here,
                      "-" if not proj else f"{proj['users']:,.0f} on {proj['cores']}",
                      "absent" if not locust else ("≥ " if locust["at_least"] else "") + str(locust["users"]))
    return table


THROUGHPUT = Throughput()
