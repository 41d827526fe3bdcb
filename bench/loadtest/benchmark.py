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

Pooling: `--pooler` also measures every variant through a PgBouncer started here
(bench/core/pooler.py: transaction mode, its own port, `--pooler-pool-size` server
connections), `--pooler-dsn` through your own pooler (Supabase's Supavisor): each variant
runs direct, then pooled, with the same steps. The direct figures and the `concurrency`
verdicts stay where they were (`runs`, `steps`, `capacity`, `verdicts`: the claim is about
the schema, judged on the direct path); the pooled run goes under `pooled` (same shape, no
verdicts) and `paths` sets the two capacities side by side per variant. A PgBouncer that
dies mid-run: the requests that fail count as failures, what was measured is written, the
run's status is "pooler lost" (exit 1).
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
from bench.core import dsn as dsns
from bench.core import pooler as pgbouncer
from bench.core.errors import BenchError, UsageError
from bench.core.options import with_options
from bench.judge.text import concurrency_text
from bench.loadtest import options as opts
from bench.loadtest import steps as stepping
from bench.loadtest.connections import connection_headroom, pool_budget
from bench.loadtest.locust import (
    LOCUSTFILE,
    MAX_RATE_USERS_PER_WORKER,
    MAXRATEFILE,
    POOLER_ENV,
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
    pooler: bool = False  # also measure through a PgBouncer started here
    pooler_dsn: str | None = None  # also measure through this pooler (the user's)
    pooler_pool_size: int = 0  # server connections of our PgBouncer (0: what the direct path holds)
    observer: object = None  # tests: called on each Locust event (see locust.run_variant)


class Load:
    name = "load"
    summary = "Locust step load on every variant: capacity at p95 < 100 ms and < 1% errors, and the 10x claim."
    partial_unit = None
    in_all = True

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
            click.option("--pooler", is_flag=True,
                         help="Also measure each variant through PgBouncer (started here, transaction mode), "
                              "side by side with direct (apt-get install pgbouncer)."),
            click.option("--pooler-dsn", default=None, metavar="DSN",
                         help="Also measure each variant through your own transaction pooler (e.g. Supabase's "
                              "Supavisor), side by side with direct."),
            click.option("--pooler-pool-size", type=click.IntRange(0, 10000), default=0, show_default=True,
                         help="Server connections of --pooler's PgBouncer (0: as many as the direct path's load "
                              "processes pool together)."),
        ]))

    def options(self, values: dict) -> LoadOptions:
        own = {k: values.pop(k) for k in ("workers", "remote_workers", "bind", "ui", "web_port", "max_rate",
                                          "max_rate_seconds", "pooler", "pooler_dsn", "pooler_pool_size")}
        if own["pooler"] and own["pooler_dsn"]:
            raise UsageError("--pooler starts PgBouncer here, --pooler-dsn is your own pooler: give one of them")
        if own["pooler_dsn"] and dsns.parse(own["pooler_dsn"]) is None:
            raise UsageError(f"--pooler-dsn: not a DSN libpq reads: {dsns.mask(own['pooler_dsn'])}"
                             f"{dsns.hint(own['pooler_dsn'])}")
        if own["pooler"] and not own["max_rate"]:  # --ui --pooler runs one too
            pgbouncer.require()  # one line saying how to install it, exit 2, before any server starts
        return LoadOptions(values=opts.resolve(values), **own)

    def instead(self, session: Session, options: LoadOptions, only: list[str]) -> bool:
        """The modes that record nothing: Locust's web UI, the load generator's ceiling."""
        if not (options.ui or options.max_rate):
            return False
        with terminate_as_interrupt():
            if options.ui:
                _run_ui(session, options, only)
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
        config = {"steps": list(values["steps"]), "start_users": values["start_users"],
                  "step_seconds": values["step_seconds"],
                  "step_requests": values["step_requests"], "step_max_seconds": values["step_max_seconds"],
                  "step_extend_seconds": values["step_extend_seconds"],
                  "warmup_seconds": values["warmup_seconds"], "think_seconds": list(values["think"]),
                  "seed": values["seed"], "workers": workers, "remote_workers": options.remote_workers,
                  "pool_size_per_process": values["pool_size"], "pool_timeout_s": values["pool_timeout"],
                  "connections": headroom, "personas": personas_record(), "locust_csv_dir": "locust"}
        pooled = options.pooler or bool(options.pooler_dsn)
        server_pool = options.pooler_pool_size or values["pool_size"] * processes
        first = stepping.start_step(values["steps"], values["start_users"])
        run.session.note(f"load: {len(run.variants)} variant(s), steps {','.join(map(str, values['steps']))} users "
                         f"from {first} (lower ones only when {first} does not hold), "
                         f"{values['warmup_seconds']:g} s warm-up + {values['step_seconds']:g} s per step "
                         f"(up to {values['step_max_seconds']:g} s until {values['step_requests']} requests, "
                         f"{values['step_extend_seconds']:g} s more while p95 straddles the SLO), "
                         f"{workers or 'no'} worker process(es), pool {values['pool_size']} per process"
                         + (f"; each variant direct, then through {_pooler_label(options, server_pool)}"
                            if pooled else ""))
        runs, pooled_runs = [], []
        # pinned before the first Locust process connects: the backends it opens inherit the server's CPUs
        with terminate_as_interrupt(), cpus.pinned_split(run.session.postmaster_pid()) as layout:
            config["cpu_layout"] = {**layout, "runner_cpus": sorted(os.sched_getaffinity(0))}
            run.session.note(layout_line(layout))
            for variant in run.variants:
                runs.append({**run_variant(run.dsn, variant.name, values, workers, folder,
                                           remote_workers=options.remote_workers, bind=options.bind,
                                           observer=options.observer, progress=run.session.note,
                                           load_cpus=layout["load_cpus"]), "path": "direct"})
                if runs[-1]["status"] == "interrupted":
                    break
                if pooled:
                    pooled_runs.append(_pooled_run(run, options, variant.name, values, folder / "pooled", layout,
                                                   server_pool))
                    if pooled_runs[-1]["status"] in ("interrupted", "pooler lost", "pooler failed"):
                        break  # a lost pooler: the next variants would measure nothing through it
        section = build_section(runs, config, previous)
        if pooled_runs or (previous or {}).get("pooled"):
            section["pooled"] = pooled_section(pooled_runs, {**config, "locust_csv_dir": "locust/pooled"},
                                               (previous or {}).get("pooled"))
            section["paths"] = compare_paths(section)
        if "interrupted" in (runs[-1]["status"], (pooled_runs or [{}])[-1].get("status")):
            run.save(section)
            raise KeyboardInterrupt  # after writing what was measured
        return section

    def show(self, section: dict, session: Session) -> None:
        print_section(section, session.out)
        layout = section["config"].get("cpu_layout") or {}
        if "reason" in layout:
            session.out.print(layout_line(layout))
        if section.get("pooled"):
            print_paths(section, session.out)
        session.out.print(f"Locust CSVs and logs: {section['config']['locust_csv_dir']}/ in the run directory"
                          + (" (pooled: locust/pooled/, PgBouncer: pooler/)" if section.get("pooled") else ""))

    def merge_kept(self, kept: dict, new: dict) -> dict:
        """measure() already built the section over the kept variants' runs (build_section's
        `previous`): nothing more to merge."""
        return new

    def problems(self, section: dict, file: Path) -> list[str]:
        lines = []
        for label, part in (("", section), (" (pooled)", section.get("pooled"))):
            if not part:
                continue
            lines += [f"{r['variant']}{label}: {r['status']} ("
                      f"{'; '.join(e.get('detail') or e['event'] for e in r['events']) or 'see the logs'})"
                      for r in part["runs"] if r["status"] in PROBLEM_STATUSES]
            ran = {r["variant"] for r in part["runs"]}
            lines += [f"security failure{label}: {f['variant']} {f['scenario']} returned {f['cross_tenant_rows']} "
                      "rows of another tenant" for f in part["security"]["cross_tenant"]
                      if f["variant"] in ran and f["cross_tenant_requests"] and not f["known"]]
            failed = unexpected_failures(part, ran)
            if failed:
                lines.append(f"{failure_line(failed, section['slo']['max_failure_ratio'])}{label} "
                             f"(see the steps' samples in {file})")
        return lines


LOAD = Load()


def _pooler_label(options: LoadOptions, server_pool: int) -> str:
    if options.pooler_dsn:
        return f"your pooler {dsns.mask(options.pooler_dsn)}"
    return f"PgBouncer (transaction mode, {server_pool} server connections)"


def _pooled_run(run: Run, options: LoadOptions, variant: str, values: dict, folder: Path, layout: dict,
                server_pool: int) -> dict:
    """One variant's step load through the pooler: the user's (--pooler-dsn), or a
    PgBouncer of its own started here in front of the server (pinned with the server)."""
    common = dict(remote_workers=options.remote_workers, bind=options.bind, observer=options.observer,
                  progress=run.session.note, load_cpus=layout["load_cpus"])
    if options.pooler_dsn:
        result = run_variant(run.dsn, variant, values, options.workers, folder, pooler_dsn=options.pooler_dsn,
                             **common)
        record = {"kind": "given", "managed": False, "target": dsns.mask(options.pooler_dsn),
                  "prepared_statements": "off in clients (a transaction pooler)"}
    else:
        bouncer = pgbouncer.PgBouncer(run.dsn, run.directory / "pooler", name=variant, pool_size=server_pool,
                                      cpus=layout["server_cpus"] if layout["pinned"] else None)
        try:
            bouncer.start()
        except BenchError as exc:  # the direct runs so far are kept; this one measured nothing
            return {"variant": variant, "status": "pooler failed", "stop_reason": None, "plan": list(values["steps"]),
                    "steps": [], "events": [{"at_s": 0.0, "event": "pooler failed", "detail": str(exc)}],
                    "whole": {}, "processes": [], "workers": options.workers,
                    "remote_workers": options.remote_workers, "seconds": 0.0, "path": "pooled",
                    "pooler": {"kind": "pgbouncer", "managed": True, "log": bouncer.log.name}}
        with bouncer:
            run.session.note(f"{variant}: PgBouncer {bouncer.masked} in front of {dsns.describe(run.dsn)}, "
                             f"{server_pool} server connections, log pooler/{bouncer.log.name}")
            result = run_variant(run.dsn, variant, values, options.workers, folder, pooler_dsn=bouncer.dsn,
                                 watch=bouncer.lost, **common)
            record = bouncer.record()
    return {**result, "path": "pooled", "pooler": record}


def pooled_section(runs: list[dict], config: dict, previous: dict | None) -> dict:
    """The pooled path's runs, steps, capacities and tenant findings (build_section's shape),
    without verdicts: the concurrency claim is judged on the direct path."""
    if not runs:
        return previous
    part = build_section(runs, config, previous)
    part.pop("verdicts")
    for step in part["steps"]:
        step["path"] = "pooled"
    part["note"] = "the same step load through a transaction pooler; no verdicts here (the claim is judged direct)"
    return part


def compare_paths(section: dict) -> list[dict]:
    """Per variant, the capacity direct and through the pooler, side by side."""
    def cap(c: dict | None) -> dict | None:
        if not c:
            return None
        return {k: c[k] for k in ("users", "at_least", "first_breach", "undecided", "status", "top_tested")}

    pooled = section["pooled"]
    variants = list(section["capacity"]) + [v for v in pooled["capacity"] if v not in section["capacity"]]
    target = {r["variant"]: (r.get("pooler") or {}).get("target") for r in pooled["runs"]}
    return [{"variant": v, "direct": cap(section["capacity"].get(v)), "pooled": cap(pooled["capacity"].get(v)),
             "pooler": target.get(v)} for v in variants]


def print_paths(section: dict, console: Console) -> None:
    print_section({**section["pooled"], "verdicts": [], "slo": section["slo"]}, console, title="through the pooler")
    table = Table(title="Capacity at the SLO, direct vs through the pooler (users held; first breach)")
    for column in ("variant", "direct", "pooled", "pooler"):
        table.add_column(column)
    for row in section["paths"]:
        table.add_row(row["variant"], _capacity_text(row["direct"]), _capacity_text(row["pooled"]),
                      row["pooler"] or "-")
    console.print(table)


def _capacity_text(cap: dict | None) -> str:
    if not cap:
        return "-"
    text = (">= " if cap["at_least"] else "") + str(cap["users"])
    if cap["first_breach"]:
        text += f" (breach {cap['first_breach']})"
    if cap["undecided"]:
        text += f" (undecided {','.join(map(str, cap['undecided']))})"
    return text + ("" if cap["status"] in ("completed", "stopped") else f" [{cap['status']}]")


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


def print_section(section: dict, console: Console, title: str = "") -> None:
    """The steps, capacities and verdicts, tenant findings and bottlenecks; with a `title`
    (the pooled path) the capacity table is left to print_paths."""
    table = Table(title=f"Step load{' ' + title if title else ''}: p95 < {section['slo']['p95_ms']:g} ms and "
                        f"unexpected failures < {section['slo']['max_failure_ratio']:.0%} (known defects and "
                        "cross-tenant rows apart)")
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
    caps = Table(title="Capacity (users held at the SLO), the concurrency claim and the 10K-users claim")
    for column in ("variant", "status", "capacity", "first breach", "verdict", "vs baseline [bounds]", "note",
                   "10K+ users"):
        caps.add_column(column)
    concurrency = {v["variant"]: v for v in section["verdicts"] if v["claim"] == "concurrency"}
    simultaneous = {v["variant"]: v for v in section["verdicts"] if v["claim"] == "simultaneous_users"}
    for variant, cap in section["capacity"].items():
        v, users = concurrency.get(variant), simultaneous.get(variant)
        fig = (v or {}).get("figure") or {}
        ratio = concurrency_text(fig) if fig else "-"
        caps.add_row(variant, cap["status"], (">= " if cap["at_least"] else "") + str(cap["users"]),
                     str(cap["first_breach"] or "-"), v["verdict"] if v else "(reference)", ratio,
                     v["note"] if v else "", f"{users['verdict']}: {users['note']}" if users else "-")
    if not title:
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
def ui_host(variant: str, target: str, path: str) -> str:
    """What Locust's web UI shows in its Host field: the variant and the masked target (a
    Host set, so the UI starts without its "no host attribute set" notice). Our users
    never read it: they connect with BENCH_DSN / BENCH_LOAD_POOLER_DSN."""
    return f"{variant} ({path}) @ {target}"


@contextmanager
def _ui_target(session: Session, options: LoadOptions, dsn: str):
    """(pooler DSN or None, masked target, path) for --ui: direct, your pooler, or a
    PgBouncer started here for as long as the UI runs."""
    if options.pooler_dsn:
        yield options.pooler_dsn, f"{dsns.mask(options.pooler_dsn)}", "through your pooler"
    elif options.pooler:
        folder = Path(tempfile.mkdtemp(prefix="bench-load-ui-pooler-"))
        with pgbouncer.PgBouncer(dsn, folder, name="ui", pool_size=options.pooler_pool_size or 10) as bouncer:
            session.note(f"PgBouncer {bouncer.masked} in front of {dsns.describe(dsn)}, log {bouncer.log}")
            yield bouncer.dsn, bouncer.masked, "through PgBouncer"
    else:
        yield None, dsns.mask(dsn), "direct"


def _run_ui(session: Session, options: LoadOptions, only: list[str]) -> None:
    values, workers, bind, web_port = options.values, options.workers, options.bind, options.web_port
    chosen = session.seeded_variants(only)
    dsn = session.target_dsn()
    variant = chosen[-1].name if not only else chosen[0].name
    args = opts.locust_args({**values, "variant": variant, "results_file": None})
    launch = Launch(variant)
    folder = Path(os.environ.get("TMPDIR", "/tmp"))
    try:
        with _ui_target(session, options, dsn) as (pooler_dsn, target, path):
            env = {**{k: v for k, v in os.environ.items() if k != POOLER_ENV}, "BENCH_DSN": dsn}
            if pooler_dsn:
                env[POOLER_ENV] = pooler_dsn
            host = ["--host", ui_host(variant, target, path)]
            if workers == 0:
                launch.spawn("local", ["-f", str(LOCUSTFILE), "--web-host", bind, "--web-port", str(web_port), *host,
                                       *args], env, folder / "bench-load-ui.log")
            else:
                port = free_port()
                launch.spawn("master", ["-f", str(LOCUSTFILE), "--master", "--master-bind-host", "127.0.0.1",
                                        "--master-bind-port", str(port), "--web-host", bind, "--web-port",
                                        str(web_port), *host, *args], env, folder / "bench-load-ui.log")
                for i in range(1, workers + 1):
                    launch.spawn(f"worker-{i}", ["-f", str(LOCUSTFILE), "--worker", "--master-port", str(port),
                                                 *args], env, folder / f"bench-load-ui-worker-{i}.log")
            session.out.print(f"Locust web UI: http://{bind}:{web_port} (variant {variant}, {path}: {target}; change "
                              f"the variant in the UI's custom parameters). Logs: {folder}/bench-load-ui*.log. Ctrl+C "
                              "to stop.", soft_wrap=True, highlight=False, markup=False)
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
