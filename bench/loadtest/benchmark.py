"""`bench run load` as a Benchmark: Locust step load against each variant in turn, judged
at the SLO (bench/loadtest/locust.py starts, watches and ends the Locust processes).

Exit status: 0 when every variant in the section ran to its end (completed, or stopped by
the SLO); 1 when a process failed, a worker was lost, a variant timed out, a response held
rows of another tenant that tenancy.KNOWN_LEAKS does not list, or requests failed
unexpectedly (pool timeouts apart) at the SLO's failure ratio or more (what was measured
is written first); Ctrl+C / SIGTERM write what was measured, end the processes and exit
130 / 143.

Workers on other machines: see `bench run load --help` (--remote-workers, --bind) and
docs/load.md. `--ui` starts Locust's web UI instead (interactive, nothing recorded here).
`--max-rate` prints the load generator's ceiling on a trivial point query.
"""

from __future__ import annotations

import os
import signal
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from bench.core import cpus
from bench.core.options import with_options
from bench.judge.text import concurrency_text
from bench.loadtest import options as opts
from bench.loadtest.connections import connection_headroom, pool_budget
from bench.loadtest.locust import (
    LOCUSTFILE,
    MAX_RATE_USERS_PER_WORKER,
    MAXRATEFILE,
    PROBLEM_STATUSES,
    Launch,
    build_section,
    failure_line,
    free_port,
    personas_record,
    run_variant,
    unexpected_failures,
)
from bench.session import Run, Session


@dataclass(frozen=True)
class LoadOptions:
    values: dict  # the step load's settings (bench/loadtest/options.py)
    workers: int = 0
    remote_workers: int = 0
    bind: str = "127.0.0.1"
    ui: bool = False
    web_port: int = 8089
    max_rate: bool = False
    max_rate_seconds: float = 8.0
    observer: object = None  # tests: called on each Locust event (see locust.run_variant)


class Load:
    name = "load"
    summary = "Locust step load on every variant: capacity at p95 < 100 ms and < 1% errors, and the 10x claim."
    partial_unit = None

    def click_options(self, command):
        return opts.click_options(with_options(command, [
            click.option("--workers", type=click.IntRange(0, 64), default=0, show_default=True,
                         help="Local Locust worker processes under a local master (0: one process, no master)."),
            click.option("--remote-workers", type=click.IntRange(0, 1000), default=0, show_default=True,
                         help="Also wait for this many workers started on other machines (see docs/load.md)."),
            click.option("--bind", default="127.0.0.1", show_default=True, metavar="HOST",
                         help="Address the master listens on (0.0.0.0 for remote workers)."),
            click.option("--ui", is_flag=True,
                         help="Open Locust's web UI with our scenarios instead (interactive, not recorded)."),
            click.option("--web-port", type=click.IntRange(1, 65535), default=8089, show_default=True,
                         help="Port of --ui."),
            click.option("--max-rate", "max_rate", is_flag=True,
                         help="Benchmark the load generator: requests/s of 1 and 2 worker processes on a point query."),
            click.option("--max-rate-seconds", type=click.FloatRange(1, 600), default=8.0, show_default=True,
                         help="Measured seconds of each --max-rate run."),
        ]))

    def options(self, values: dict) -> LoadOptions:
        own = {k: values.pop(k) for k in ("workers", "remote_workers", "bind", "ui", "web_port", "max_rate",
                                          "max_rate_seconds")}
        return LoadOptions(values=opts.resolve(values), **own)

    def instead(self, session: Session, options: LoadOptions, only: list[str]) -> bool:
        """The modes that record nothing: Locust's web UI, the load generator's ceiling."""
        if not (options.ui or options.max_rate):
            return False
        with terminate_as_interrupt():
            if options.ui:
                _run_ui(session, options.values, options.workers, only, options.bind, options.web_port)
            else:
                _run_max_rate(session, options.values, options.max_rate_seconds)
        return True

    def measure(self, run: Run, options: LoadOptions) -> dict:
        from bench.judge import results

        values, workers = options.values, options.workers
        headroom = connection_headroom(run.conn)
        processes = max(workers, 1) + options.remote_workers
        values = {**values, "pool_size": pool_budget(values["pool_size"], processes, headroom)}
        previous = results.load(run.directory).get("load")
        folder = run.directory / "locust"
        config = {"steps": list(values["steps"]), "step_seconds": values["step_seconds"],
                  "step_requests": values["step_requests"], "step_max_seconds": values["step_max_seconds"],
                  "warmup_seconds": values["warmup_seconds"], "think_seconds": list(values["think"]),
                  "seed": values["seed"], "workers": workers, "remote_workers": options.remote_workers,
                  "pool_size_per_process": values["pool_size"], "pool_timeout_s": values["pool_timeout"],
                  "connections": headroom, "personas": personas_record(), "locust_csv_dir": "locust"}
        run.session.note(f"load: {len(run.variants)} variant(s), steps {','.join(map(str, values['steps']))} users, "
                         f"{values['warmup_seconds']:g} s warm-up + {values['step_seconds']:g} s per step "
                         f"(up to {values['step_max_seconds']:g} s until {values['step_requests']} requests), "
                         f"{workers or 'no'} worker process(es), pool {values['pool_size']} per process")
        runs = []
        # pinned before the first Locust process connects: the backends it opens inherit the server's CPUs
        with terminate_as_interrupt(), cpus.pinned_split(run.session.postmaster_pid()) as layout:
            config["cpu_layout"] = {**layout, "runner_cpus": sorted(os.sched_getaffinity(0))}
            run.session.note(layout_line(layout))
            for variant in run.variants:
                runs.append(run_variant(run.dsn, variant.name, values, workers, folder,
                                        remote_workers=options.remote_workers, bind=options.bind, observer=options.observer,
                                        progress=run.session.note, load_cpus=layout["load_cpus"]))
                if runs[-1]["status"] == "interrupted":
                    break
        section = build_section(runs, config, previous)
        if runs[-1]["status"] == "interrupted":
            run.save(section)
            raise KeyboardInterrupt  # after writing what was measured
        return section

    def show(self, section: dict, session: Session) -> None:
        print_section(section, session.out)
        layout = section["config"].get("cpu_layout") or {}
        if "reason" in layout:
            session.out.print(layout_line(layout))
        session.out.print(f"Locust CSVs and logs: {section['config']['locust_csv_dir']}/ in the run directory")

    def problems(self, section: dict, file: Path) -> list[str]:
        lines = [f"{r['variant']}: {r['status']} ({'; '.join(e['event'] for e in r['events']) or 'see the logs'})"
                 for r in section["runs"] if r["status"] in PROBLEM_STATUSES]
        ran = {r["variant"] for r in section["runs"]}
        lines += [f"security failure: {f['variant']} {f['scenario']} returned {f['cross_tenant_rows']} rows of "
                  "another tenant" for f in section["security"]["cross_tenant"]
                  if f["variant"] in ran and f["cross_tenant_requests"] and not f["known"]]
        failed = unexpected_failures(section, ran)
        if failed:
            lines.append(f"{failure_line(failed, section['slo']['max_failure_ratio'])} "
                         f"(see the steps' samples in {file})")
        return lines


LOAD = Load()


def layout_line(layout: dict) -> str:
    if layout["pinned"]:
        return (f"cpu: server pinned to CPU {_cpus(layout['server_cpus'])}, load generator to CPU "
                f"{_cpus(layout['load_cpus'])} (the server gets CPU {_cpus(layout['server_cpus_before'])} back after)")
    return f"cpu: not pinned ({layout['reason']})"


def _cpus(numbers: list[int]) -> str:
    return ",".join(map(str, numbers))


@contextmanager
def terminate_as_interrupt():
    """Turn SIGTERM and SIGHUP into KeyboardInterrupt while Locust processes run, so that
    Launch.stop() (a `finally`) ends them instead of leaving them orphaned."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def print_section(section: dict, console: Console) -> None:
    table = Table(title=f"Step load: p95 < {section['slo']['p95_ms']:g} ms and unexpected failures < "
                        f"{section['slo']['max_failure_ratio']:.0%} (known defects and cross-tenant rows apart)")
    for column in ("variant", "users", "p50 ms", "p95 ms", "req/s", "failures", "known", "x-tenant", "pool wait",
                   "CPU server/box", "held"):
        table.add_column(column, justify="left" if column in ("variant", "held") else "right")
    for s in section["steps"]:
        share = s["pool"]["wait_share"]
        held = "yes" if s["judgement"]["held"] else "[red]no[/red]: " + "; ".join(s["judgement"]["reasons"])
        table.add_row(s["variant"], str(s["users"]), _num(s.get("p50_ms")), _num(s.get("p95_ms")), _num(s.get("rps")),
                      f"{s['failure_ratio']:.1%}", str(s["known_failures"]), str(s["cross_tenant_failures"]),
                      "-" if share is None else f"{share:.0%}" + (f" {s['bottleneck']}" if s["bottleneck"] else ""),
                      _cpu(s), held)
    console.print(table)
    caps = Table(title="Capacity (users held at the SLO) and the concurrency claim")
    for column in ("variant", "status", "capacity", "first breach", "verdict", "vs baseline [bounds]", "note"):
        caps.add_column(column)
    by_variant = {v["variant"]: v for v in section["verdicts"]}
    for variant, cap in section["capacity"].items():
        v = by_variant.get(variant)
        fig = (v or {}).get("figure") or {}
        ratio = concurrency_text(fig) if fig else "-"
        caps.add_row(variant, cap["status"], (">= " if cap["at_least"] else "") + str(cap["users"]),
                     str(cap["first_breach"] or "-"), v["verdict"] if v else "(reference)", ratio,
                     v["note"] if v else "")
    console.print(caps)
    leaks = [f for f in section["security"]["cross_tenant"] if f["cross_tenant_requests"]]
    for f in leaks:
        console.print(f"[red]security failure[/red]: {f['variant']} {f['scenario']}: {f['cross_tenant_requests']} "
                      f"requests returned {f['cross_tenant_rows']} rows of another tenant"
                      + (f" (known finding: {f['known']})" if f["known"] else " (NEW)"))
    if not leaks:
        checked = sum(f["rows_checked"] for f in section["security"]["cross_tenant"])
        console.print(f"tenant check: {checked:,} returned rows checked, none of another tenant")
    breached = {(s["variant"], s["users"]) for s in section["steps"] if not s["judgement"]["held"]}
    for s in section["bottlenecks"]:
        if s["bottleneck"] != "pool" and (s["variant"], s["users"]) not in breached:
            continue
        console.print(f"{s['bottleneck']}-bound: {s['variant']} at {s['users']} users: " + {
            "pool": f"requests waited {s['pool_wait_share']:.0%} of their time for a pooled connection while the "
                    "queries stayed fast: the pool is the limit (--pool-size)",
            "server": f"requests waited {s['pool_wait_share']:.0%} of their time at the pool because the queries "
                      f"slowed to {s['service_mean_ms']:.0f} ms: the server is saturated",
            "client": f"a Locust process at {s['client_cpu_max_percent']:.0f}% CPU: the load generator is the limit "
                      "(add --workers); a breach there is not the server's",
            "machine": f"queries slowed to {s['service_mean_ms']:.0f} ms on a machine {s['machine_cpu_percent']:.0f}% "
                       f"busy, the server using {s['server_cpu_percent']:.0f}%: CPU shared with the load generator "
                       "(or other work) starved the server; its breach bounds this machine, not the "
                       "server"}[s["bottleneck"]])


def _cpu(step: dict) -> str:
    server, box = step["server"].get("cpu_percent"), (step.get("machine") or {}).get("cpu_percent")
    return f"{'-' if server is None else f'{server:.0f}'}/{'-' if box is None else f'{box:.0f}'}%"


def _num(x) -> str:
    return "-" if x is None else f"{x:,.1f}" if x < 100 else f"{x:,.0f}"


# ---- --ui and --max-rate -------------------------------------------------------------------
def _run_ui(session: Session, values: dict, workers: int, only: list[str], bind: str, web_port: int) -> None:
    chosen = session.seeded_variants(only)
    dsn = session.target_dsn()
    variant = chosen[-1].name if not only else chosen[0].name
    env = {**os.environ, "BENCH_DSN": dsn}
    args = opts.locust_args({**values, "variant": variant, "results_file": None})
    launch = Launch(variant)
    folder = Path(os.environ.get("TMPDIR", "/tmp"))
    try:
        if workers == 0:
            launch.spawn("local", ["-f", str(LOCUSTFILE), "--web-host", bind, "--web-port", str(web_port), *args],
                         env, folder / "bench-load-ui.log")
        else:
            port = free_port()
            launch.spawn("master", ["-f", str(LOCUSTFILE), "--master", "--master-bind-host", "127.0.0.1",
                                    "--master-bind-port", str(port), "--web-host", bind, "--web-port", str(web_port),
                                    *args], env, folder / "bench-load-ui.log")
            for i in range(1, workers + 1):
                launch.spawn(f"worker-{i}", ["-f", str(LOCUSTFILE), "--worker", "--master-port", str(port), *args],
                             env, folder / f"bench-load-ui-worker-{i}.log")
        session.out.print(f"Locust web UI: http://{bind}:{web_port} (variant {variant}; change it in the UI's custom "
                       f"parameters). Logs: {folder}/bench-load-ui*.log. Ctrl+C to stop.")
        launch.main.popen.wait()
    except KeyboardInterrupt:
        session.out.print("stopping the web UI and its workers")
    finally:
        launch.stop()


def _run_max_rate(session: Session, values: dict, seconds: float) -> list[dict]:
    """The load generator's ceiling, 1 then 2 worker processes, no think time: a trivial
    point query (the harness's own overhead), then the persona mix on the last variant
    (a full request: identity transaction, parameters, tenant check)."""
    with session.connection() as (conn, dsn):
        headroom = connection_headroom(conn)
    chosen = session.seeded_variants([])
    kinds = (("point query", chosen[0].name, (MAXRATEFILE,), ("PointQuery",)),
             ("scenario mix", chosen[-1].name, (LOCUSTFILE,), ()))
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-maxrate-") as tmp:
        for label, variant, files, classes in kinds:
            for n in (1, 2):
                size = pool_budget(MAX_RATE_USERS_PER_WORKER, n, headroom)
                run = {**values, "steps": (size * n,), "step_seconds": seconds, "warmup_seconds": 2.0,
                       "think": (0.0, 0.0), "pool_size": size}
                result = run_variant(dsn, variant, run, n, Path(tmp) / f"{len(rows)}", locustfiles=files,
                                     user_classes=classes)
                step = (result["steps"] or [{}])[0]
                rows.append({"kind": label, "variant": variant, "workers": n, "users": size * n,
                             "status": result["status"], "rps": step.get("rps"), "p50_ms": step.get("p50_ms"),
                             "p95_ms": step.get("p95_ms"), "failures": step.get("failures"),
                             "cpu": (step.get("client") or {}).get("cpu_max_percent")})
    table = Table(title=f"Load generator ceiling: no think time, {seconds:g} s measured after 2 s warm-up "
                        "(target >= 1,000 req/s for one worker on the point query)")
    for column in ("request", "variant", "worker processes", "users", "req/s", "p50 ms", "p95 ms", "failures",
                   "busiest worker CPU %", "status"):
        table.add_column(column, justify="left" if column in ("request", "variant") else "right")
    for r in rows:
        table.add_row(r["kind"], r["variant"], str(r["workers"]), str(r["users"]), _num(r["rps"]), _num(r["p50_ms"]),
                      _num(r["p95_ms"]), str(r["failures"]), _num(r["cpu"]), r["status"])
    session.out.print(table)
    session.out.print(f"cpu: {os.cpu_count()} cores shared by the server, the master and the workers; point query = "
                   "one primary-key SELECT, autocommit, through the same pool, timing and events as scenarios")
    return rows
