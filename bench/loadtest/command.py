"""`bench run load`: Locust step load against each variant in turn, judged at the SLO.

For each variant (same steps, same warm-up, same measured seconds, fresh processes, so
no variant inherits another's warm pool or cache of identities) this starts Locust:
headless, `--workers 0` as one process, `--workers N` as a master plus N worker
processes on this machine (`--master` / `--worker`, `--expect-workers N`). The master
runs the step shape (shape.py), which writes each finished step to
<run dir>/locust/<variant>.steps.json; Locust's own CSVs (<variant>_stats.csv,
_stats_history.csv, _failures.csv, _exceptions.csv) and each process's log go beside
it. Then the `load` section of results.json gets the steps, each variant's capacity,
the tenant-check findings and the `concurrency` verdicts (each variant vs baseline).

Every process is started here, in its own session, watched while it runs and ended
here: a variant that overruns its time budget is stopped and reported as timed out; a
worker that dies is reported by its exit code and by the master (which ends the ramp).
Exit status: 0 when every variant ran to its end (completed, or stopped by the SLO);
1 when a process failed, a worker was lost, a variant timed out, a response held rows
of another tenant that tenancy.KNOWN_LEAKS does not list, or requests failed unexpectedly
(pool timeouts apart) at the SLO's failure ratio or more (what was measured is written
first); Ctrl+C / SIGTERM write what was measured, end the processes and exit 130.

Workers on other machines: see `bench run load --help` (--remote-workers, --bind) and
docs/load.md. `--ui` starts Locust's web UI instead (interactive, nothing recorded here).
`--max-rate` prints the load generator's ceiling on a trivial point query.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import click

from bench.config import PROJECT_ROOT
from bench.loadtest import options as opts
from bench.loadtest import steps as stepping
from bench.loadtest.connections import connection_headroom, pool_budget
from bench.options import only_option, out_options
from bench.report.data import concurrency_text

LOCUSTFILE = PROJECT_ROOT / "scenarios" / "locustfile.py"
STEPFILE = PROJECT_ROOT / "bench" / "loadtest" / "stepfile.py"
MAXRATEFILE = PROJECT_ROOT / "bench" / "loadtest" / "maxrate.py"
STARTUP_SECONDS = 60.0  # imports, identities loaded in every worker, workers connecting
GRACE_SECONDS = 30.0
STOP_SECONDS = 10.0
PROBLEM_STATUSES = ("worker lost", "timed out", "interrupted", "crashed", "no result")
MAX_RATE_USERS_PER_WORKER = 10  # = the default pool size: no user waits for a connection


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


# ---- one Locust run ------------------------------------------------------------------------
@dataclass
class Process:
    role: str  # "local", "master", "worker-1", ...
    popen: subprocess.Popen
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid


@dataclass
class Launch:
    """The processes of one Locust run, started in their own sessions and always ended."""

    variant: str
    processes: list[Process] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)
    began: float = field(default_factory=time.monotonic)

    def spawn(self, role: str, args: list[str], env: dict, log: Path) -> Process:
        handle = log.open("w")
        popen = subprocess.Popen([sys.executable, "-m", "locust", *args], stdout=handle, stderr=subprocess.STDOUT,
                                 env=env, cwd=PROJECT_ROOT, start_new_session=True)
        handle.close()
        process = Process(role, popen, log)
        self.processes.append(process)
        return process

    @property
    def main(self) -> Process:
        return self.processes[0]

    @property
    def workers(self) -> list[Process]:
        return [p for p in self.processes if p.role.startswith("worker")]

    def watch(self) -> None:
        """Record workers that die (non-zero exit: killed, crashed) while the main process
        still runs. A worker told to quit by its master exits 0; one that quits on its own
        while the shape runs is caught by the master's own count (shape.py)."""
        if self.main.popen.poll() is not None:
            return
        for p in self.workers:
            if p.popen.poll() not in (None, 0) and not any(e.get("pid") == p.pid for e in self.events):
                self.events.append({"at_s": round(time.monotonic() - self.began, 1), "event": "worker exited",
                                    "worker": p.role, "pid": p.pid, "exit_code": p.popen.returncode})

    def stop(self) -> None:
        """End every process still running: SIGTERM to its session, SIGKILL after STOP_SECONDS."""
        for p in self.processes:
            if p.popen.poll() is None:
                _signal(p.popen, signal.SIGTERM)
        deadline = time.monotonic() + STOP_SECONDS
        for p in self.processes:
            try:
                p.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal(p.popen, signal.SIGKILL)
                p.popen.wait(timeout=STOP_SECONDS)

    def exit_codes(self) -> list[dict]:
        return [{"role": p.role, "pid": p.pid, "exit_code": p.popen.returncode, "log": p.log.name}
                for p in self.processes]


def _signal(popen: subprocess.Popen, sig) -> None:
    try:
        os.killpg(popen.pid, sig)  # the process's own session (start_new_session): it and its children
    except (ProcessLookupError, PermissionError):
        pass


def time_budget(values: dict) -> float:
    """Seconds one variant's run may take before its processes are stopped: the plan,
    a second of shape ticks per step, startup and a grace period."""
    planned = stepping.planned_seconds(values["steps"], values["step_seconds"], values["warmup_seconds"])
    return planned + 2.0 * len(values["steps"]) + STARTUP_SECONDS + GRACE_SECONDS


def run_variant(dsn: str, variant: str, values: dict, workers: int, folder: Path, *, locustfiles=(LOCUSTFILE,),
                user_classes: tuple[str, ...] = (), remote_workers: int = 0, bind: str = "127.0.0.1",
                observer=None, progress=None) -> dict:
    """Run the step load on one variant; return the shape's record plus what the
    processes did. `observer(event, launch, steps)` is called on "started" and after
    each finished step (tests use it to kill a worker)."""
    folder.mkdir(parents=True, exist_ok=True)
    steps_file = folder / f"{variant}.steps.json"
    steps_file.unlink(missing_ok=True)
    run_values = {**values, "variant": variant, "results_file": str(steps_file)}
    bench_args = opts.locust_args(run_values)
    env = {**os.environ, "BENCH_DSN": dsn, "PYTHONPATH": os.pathsep.join(
        p for p in (str(PROJECT_ROOT), os.environ.get("PYTHONPATH")) if p)}
    files = ",".join(str(f) for f in (*locustfiles, STEPFILE))
    common = ["--exit-code-on-error", "0", "--only-summary", "--stop-timeout", "3",  # users finish their request
              "--csv", str(folder / variant), "--csv-full-history"]
    launch = Launch(variant)
    expected = workers + remote_workers
    budget = time_budget(values)
    status, seen = None, 0
    try:
        if expected == 0:
            launch.spawn("local", ["-f", files, "--headless", *common, *bench_args, *user_classes], env,
                         folder / f"{variant}.local.log")
        else:
            port = free_port(bind if bind != "0.0.0.0" else "127.0.0.1")
            launch.spawn("master", ["-f", files, "--headless", "--master", "--master-bind-host", bind,
                                    "--master-bind-port", str(port), "--expect-workers", str(expected),
                                    "--expect-workers-max-wait", str(int(STARTUP_SECONDS)), *common, *bench_args,
                                    *user_classes], env, folder / f"{variant}.master.log")
            worker_files = ",".join(str(f) for f in locustfiles)
            for i in range(1, workers + 1):
                launch.spawn(f"worker-{i}", ["-f", worker_files, "--worker", "--master-host", "127.0.0.1",
                                             "--master-port", str(port), *bench_args, *user_classes], env,
                             folder / f"{variant}.worker-{i}.log")
            if remote_workers and progress:
                progress(f"{variant}: master listening on {bind}:{port}, waiting for {remote_workers} remote "
                         f"worker(s): locust -f scenarios/locustfile.py --worker --master-host <this host> "
                         f"--master-port {port}")
        if observer:
            observer("started", launch, [])
        while launch.main.popen.poll() is None:
            if time.monotonic() - launch.began > budget:
                status = "timed out"
                launch.events.append({"at_s": round(time.monotonic() - launch.began, 1), "event": "timed out",
                                      "budget_s": round(budget, 1)})
                break
            launch.watch()
            done = _read(steps_file).get("steps", [])
            for record in done[seen:]:
                if progress:
                    progress(_step_line(record))
            if len(done) > seen and observer:
                observer("step", launch, done)
            seen = len(done)
            time.sleep(0.25)
        launch.watch()
    except KeyboardInterrupt:  # Ctrl+C or SIGTERM: stop, keep what was measured, then re-raise in run_load
        status = "interrupted"
        launch.events.append({"at_s": round(time.monotonic() - launch.began, 1), "event": "interrupted"})
    finally:
        launch.stop()
    shaped = _read(steps_file)
    for record in shaped.get("steps", [])[seen:]:
        if progress:
            progress(_step_line(record))
    status = status or _status(shaped, launch)
    return {"variant": variant, "status": status, "stop_reason": shaped.get("stop_reason"),
            "plan": list(values["steps"]), "steps": shaped.get("steps", []),
            "events": shaped.get("events", []) + launch.events, "whole": shaped.get("whole", {}),
            "processes": launch.exit_codes(), "workers": workers, "remote_workers": remote_workers,
            "seconds": round(time.monotonic() - launch.began, 1)}


def _status(shaped: dict, launch: Launch) -> str:
    if not shaped:
        return "no result"
    state = shaped.get("status")
    crashed = [p for p in launch.processes if p.popen.returncode not in (0, None, -signal.SIGTERM)]
    if state == "worker lost" or any(e["event"] == "worker exited" for e in launch.events):
        return "worker lost"
    if state == "running":
        return "crashed" if crashed else "interrupted"
    return state


def _read(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def _step_line(r: dict) -> str:
    held = "held" if r["judgement"]["held"] else "BREACH: " + "; ".join(r["judgement"]["reasons"])
    p95 = "-" if r.get("p95_ms") is None else f"{r['p95_ms']:.0f}"
    return (f"{r['variant']}: {r['users']:>5} users  p95 {p95:>5} ms  {r.get('rps') or 0:7.1f} req/s  "
            f"errors {r['failure_ratio']:.1%}  {held}")


# ---- the results section -------------------------------------------------------------------
def tenancy_findings(run: dict) -> list[dict]:
    """Per scenario of one variant: requests with cross-tenant rows (whole run, warm-ups too)."""
    from bench.loadtest import tenancy

    out = []
    for scenario, counts in sorted(run.get("whole", {}).get("counts", {}).items()):
        known = tenancy.KNOWN_LEAKS.get((scenario, run["variant"]))
        out.append({"variant": run["variant"], "scenario": scenario, "known": known, "requests": sum(
            counts.get(k, 0) for k in ("ok", "error", "known", "leak")), "checked": counts.get("checked", 0),
            "unchecked": counts.get("unchecked", 0), "rows_checked": counts.get("rows_checked", 0),
            "cross_tenant_requests": counts.get("leak", 0), "cross_tenant_rows": counts.get("foreign_rows", 0),
            "unverified_rows": counts.get("unverified", 0)})
    return out


def build_section(runs: list[dict], config: dict, previous: dict | None = None) -> dict:
    """The `load` section from each variant's run (merged over a previous section's
    variants that were not run again) with capacities and `concurrency` verdicts."""
    from bench import verdicts

    earlier = [{**r, "steps": [s for s in (previous or {}).get("steps", []) if s["variant"] == r["variant"]]}
               for r in (previous or {}).get("runs", [])]  # the section keeps steps once, at its top level
    by_variant = {r["variant"]: r for r in earlier}
    by_variant.update({r["variant"]: r for r in runs})
    order = [r["variant"] for r in (previous or {}).get("runs", []) if r["variant"] not in {x["variant"] for x in runs}]
    order += [r["variant"] for r in runs]
    merged = [by_variant[v] for v in order]
    limit = stepping.slo()
    capacity, all_steps, findings = {}, [], []
    for run in merged:
        run["steps"] = stepping.annotate(run["steps"])
        capacity[run["variant"]] = {**stepping.capacity(run["steps"], tuple(run["plan"])), "status": run["status"]}
        all_steps += run["steps"]
        findings += tenancy_findings(run)
    factor = float(verdicts.targets()["concurrency"]["factor"])
    out_verdicts = []
    base = by_variant.get("baseline")
    for run in merged:
        if run["variant"] == "baseline":
            continue
        if base is None or not base["steps"] or not run["steps"]:
            out_verdicts.append(verdicts.verdict_record("concurrency", run["variant"], verdicts.NOT_MEASURED, {},
                                                        "baseline and the variant must both be load-tested"))
            continue
        problems = [f"{r['variant']}: {r['status']}" for r in (run, base) if r["status"] in PROBLEM_STATUSES]
        if run["plan"] != base["plan"]:
            problems.append("the variant and baseline ran different steps")
        leaks = sum(f["cross_tenant_requests"] for f in findings if f["variant"] == run["variant"])
        record = stepping.concurrency_verdict(run["variant"], capacity[run["variant"]], capacity["baseline"], factor,
                                              problems)
        if leaks:
            record["note"] += f"; {leaks} requests returned rows of another tenant (security failures)"
        out_verdicts.append(record)
    return {"config": config, "slo_ms": limit.p95_ms,
            "slo": {"p95_ms": limit.p95_ms, "max_failure_ratio": limit.max_failure_ratio},
            "capacity_rule": "largest step held with every smaller step held (p95 < slo and unexpected failures "
                             "< limit); at_least when no tested step breached",
            "runs": [{k: v for k, v in r.items() if k != "steps"} for r in merged], "steps": all_steps,
            "capacity": capacity,
            "security": {"cross_tenant": findings,
                         "cross_tenant_requests": {r["variant"]: sum(f["cross_tenant_requests"] for f in findings
                                                                      if f["variant"] == r["variant"])
                                                   for r in merged},
                         "not_checked": _unchecked()},
            "bottlenecks": [{"variant": s["variant"], "users": s["users"], "bottleneck": s["bottleneck"],
                             "pool_wait_share": s["pool"]["wait_share"],
                             "service_mean_ms": s["pool"]["service_mean_ms"],
                             "client_cpu_max_percent": s["client"]["cpu_max_percent"],
                             "machine_cpu_percent": (s.get("machine") or {}).get("cpu_percent"),
                             "server_cpu_percent": s["server"].get("cpu_percent")}
                            for s in all_steps if s.get("bottleneck")],
            "verdicts": out_verdicts}


def _unchecked() -> dict:
    from bench.loadtest import tenancy

    return dict(tenancy.UNCHECKED)


# ---- the command ---------------------------------------------------------------------------
@click.command("load")
@opts.click_options
@click.option("--workers", type=click.IntRange(0, 64), default=0, show_default=True,
              help="Local Locust worker processes under a local master (0: one process, no master).")
@click.option("--remote-workers", type=click.IntRange(0, 1000), default=0, show_default=True,
              help="Also wait for this many workers started on other machines (see docs/load.md).")
@click.option("--bind", default="127.0.0.1", show_default=True, metavar="HOST",
              help="Address the master listens on (0.0.0.0 for remote workers).")
@click.option("--ui", is_flag=True, help="Open Locust's web UI with our scenarios instead (interactive, not recorded).")
@click.option("--web-port", type=click.IntRange(1, 65535), default=8089, show_default=True, help="Port of --ui.")
@click.option("--max-rate", "max_rate", is_flag=True,
              help="Benchmark the load generator: requests/s of 1 and 2 worker processes on a point query.")
@click.option("--max-rate-seconds", type=click.FloatRange(1, 600), default=8.0, show_default=True,
              help="Measured seconds of each --max-rate run.")
@out_options
@only_option
@click.pass_obj
def load_cmd(settings, workers, remote_workers, bind, ui, web_port, max_rate, max_rate_seconds, out_dir, run_dir,
             only, **given) -> None:
    """Locust step load on every variant: capacity at p95 < 100 ms and < 1% errors, and the 10x claim."""
    values = opts.resolve(given)
    with _terminate_as_interrupt():  # SIGTERM/SIGHUP too end the Locust processes we started
        if ui:
            _run_ui(settings, values, workers, list(only), bind, web_port)
            return
        if max_rate:
            _run_max_rate(settings, values, max_rate_seconds)
            return
        code, _directory, _section = run_load(settings, values, workers, list(only), out_dir, run_dir,
                                              remote_workers=remote_workers, bind=bind)
    if code:
        sys.exit(code)


@contextmanager
def _terminate_as_interrupt():
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


def run_load(settings, values: dict, workers: int, only: list[str], out_dir=None, run_dir=None, *,
             remote_workers: int = 0, bind: str = "127.0.0.1", observer=None) -> tuple[int, Path, dict]:
    from bench import cli as base
    from bench import results
    from bench.fs import check_run_output

    check_run_output(out_dir, run_dir)  # before measuring: a write failing after it loses the figures
    chosen = base._seeded_variants(settings, only)
    with base._connection(settings) as (conn, dsn):
        directory = base.open_run(settings, conn, dsn, chosen, out_dir, run_dir)
        headroom = connection_headroom(conn)
        server_pid = base._postmaster_pid(settings)
    processes = max(workers, 1) + remote_workers
    values = {**values, "pool_size": pool_budget(values["pool_size"], processes, headroom)}
    previous = results.load(directory).get("load")
    folder = directory / "locust"
    config = {"steps": list(values["steps"]), "step_seconds": values["step_seconds"],
              "warmup_seconds": values["warmup_seconds"], "think_seconds": list(values["think"]),
              "seed": values["seed"], "workers": workers, "remote_workers": remote_workers,
              "pool_size_per_process": values["pool_size"], "pool_timeout_s": values["pool_timeout"],
              "connections": headroom, "personas": _personas(), "locust_csv_dir": "locust",
              "cpu_layout": _layout(server_pid)}
    base.err.print(f"load: {len(chosen)} variant(s), steps {','.join(map(str, values['steps']))} users, "
                   f"{values['warmup_seconds']:g} s warm-up + {values['step_seconds']:g} s per step, "
                   f"{workers or 'no'} worker process(es), pool {values['pool_size']} per process", highlight=False)
    runs = []
    for variant in chosen:
        runs.append(run_variant(dsn, variant.name, values, workers, folder, remote_workers=remote_workers, bind=bind,
                                observer=observer, progress=lambda line: base.err.print(line, highlight=False,
                                                                                        markup=False)))
        if runs[-1]["status"] == "interrupted":
            break
    section = build_section(runs, config, previous)
    path = results.add_section(directory, "load", section, section["verdicts"])
    print_section(section, base.out)
    base.out.print(f"results: {path}; Locust CSVs and logs: {folder}", soft_wrap=True)
    problems = [r for r in runs if r["status"] in PROBLEM_STATUSES]
    for r in problems:
        base.err.print(f"bench: error: {r['variant']}: {r['status']} "
                       f"({'; '.join(e['event'] for e in r['events']) or 'see the logs'})", markup=False)
    ran = {r["variant"] for r in runs}
    leaks = [f for f in section["security"]["cross_tenant"]
             if f["variant"] in ran and f["cross_tenant_requests"] and not f["known"]]
    for f in leaks:
        base.err.print(f"bench: error: security failure: {f['variant']} {f['scenario']} returned "
                       f"{f['cross_tenant_rows']} rows of another tenant", markup=False)
    failed = unexpected_failures(section, ran)
    if failed:
        base.err.print(f"bench: error: {failure_line(failed, section['slo']['max_failure_ratio'])} "
                       f"(see the steps' samples in {path})", soft_wrap=True, markup=False)
    if runs[-1]["status"] == "interrupted":
        raise KeyboardInterrupt  # after writing what was measured
    return (1 if problems or leaks or failed else 0), directory, section


def unexpected_failures(section: dict, variants: set[str]) -> list[dict]:
    """Variants whose requests failed unexpectedly at or above the SLO's failure ratio over
    their measured steps. Pool timeouts are left out: under overload they are how a step
    breaches (a capacity figure); a failing query is a fault at any load."""
    out = []
    for variant in sorted(variants):
        mine = [s for s in section["steps"] if s["variant"] == variant]
        requests = sum(_outcomes(s) for s in mine)
        failed = sum(max(0, s["errors"] - (s["pool"].get("timeouts") or 0)) for s in mine)
        if requests and failed / requests >= section["slo"]["max_failure_ratio"]:
            out.append({"variant": variant, "failed": failed, "requests": requests})
    return out


def _outcomes(step: dict) -> int:
    """Requests of a step with an outcome (ok, unexpected, known defect, cross-tenant)."""
    return sum(sc.get(k, 0) for sc in step["scenarios"] for k in ("ok", "error", "known", "leak"))


def failure_line(failed: list[dict], limit: float) -> str:
    parts = [f"{f['variant']} {f['failed']:,} of {f['requests']:,} ({f['failed'] / f['requests']:.1%})" for f in failed]
    return f"requests failed unexpectedly under load: {', '.join(parts)}; the SLO allows < {limit:.0%}"


def _personas() -> list[dict]:
    from bench.loadtest import personas
    from scenarios import all_scenarios

    catalog = all_scenarios()
    return [{"name": p.name, "weight": p.weight, "roles": list(p.roles), "tasks": p.tasks(catalog)}
            for p in personas.PERSONAS]


def _layout(server_pid) -> dict:
    from bench.runner import cpu_layout

    return cpu_layout(server_pid)


def print_section(section: dict, console) -> None:
    from rich.table import Table

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
def _run_ui(settings, values: dict, workers: int, only: list[str], bind: str, web_port: int) -> None:
    from bench import cli as base

    chosen = base._seeded_variants(settings, only)
    with base._connection(settings) as (_conn, dsn):
        pass
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
        base.out.print(f"Locust web UI: http://{bind}:{web_port} (variant {variant}; change it in the UI's custom "
                       f"parameters). Logs: {folder}/bench-load-ui*.log. Ctrl+C to stop.")
        launch.main.popen.wait()
    except KeyboardInterrupt:
        base.out.print("stopping the web UI and its workers")
    finally:
        launch.stop()


def _run_max_rate(settings, values: dict, seconds: float) -> list[dict]:
    """The load generator's ceiling, 1 then 2 worker processes, no think time: a trivial
    point query (the harness's own overhead), then the persona mix on the last variant
    (a full request: identity transaction, parameters, tenant check)."""
    import tempfile

    from rich.table import Table

    from bench import cli as base

    with base._connection(settings) as (conn, dsn):
        headroom = connection_headroom(conn)
    chosen = base._seeded_variants(settings, [])
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
    base.out.print(table)
    base.out.print(f"cpu: {os.cpu_count()} cores shared by the server, the master and the workers; point query = "
                   "one primary-key SELECT, autocommit, through the same pool, timing and events as scenarios")
    return rows
