"""Locust runs for the load benchmark (bench/loadtest/benchmark.py): start, watch and end
the processes of one variant's run, and assemble the `load` section.

For each variant (same steps, same warm-up, same measured seconds, fresh processes, so
no variant inherits another's warm pool or cache of identities) this starts Locust:
headless, `--workers 0` as one process, `--workers N` as a master plus N worker
processes on this machine (`--master` / `--worker`, `--expect-workers N`). The master
runs the step shape (shape.py), which writes each finished step to
<run dir>/locust/<variant>.steps.json; Locust's own CSVs (<variant>_stats.csv,
_stats_history.csv, _failures.csv, _exceptions.csv) and each process's log go beside
it. Then the `load` section of results.json gets the steps, each variant's capacity,
the tenant-check findings and the `concurrency` verdicts (each variant vs the reference).

Every process is started here, in its own session, watched while it runs and ended
here: a variant that overruns its time budget is stopped and reported as timed out; a
worker that dies is reported by its exit code and by the master (which ends the ramp).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.core import cpus as cpu_placement
from bench.core.config import PROJECT_ROOT
from bench.core.schema import REFERENCE
from bench.loadtest import options as opts
from bench.loadtest import steps as stepping

LOCUSTFILE = PROJECT_ROOT / "bench" / "loadtest" / "locustfile.py"
STEPFILE = PROJECT_ROOT / "bench" / "loadtest" / "stepfile.py"
MAXRATEFILE = PROJECT_ROOT / "bench" / "loadtest" / "maxrate.py"
STARTUP_SECONDS = 60.0  # imports, identities loaded in every worker, workers connecting
GRACE_SECONDS = 30.0
STOP_SECONDS = 10.0
PROBLEM_STATUSES = ("worker lost", "timed out", "interrupted", "crashed", "no result", "pooler lost",
                    "pooler failed")
POOLER_ENV = "BENCH_LOAD_POOLER_DSN"  # options.py's pooler_dsn: set only for a run through a pooler
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

    def spawn(self, role: str, args: list[str], env: dict, log: Path, cpus: list[int] | None = None) -> Process:
        """Start a Locust process; pinned to `cpus` at once (it has not connected or
        spawned a user yet: it is still importing)."""
        handle = log.open("w")
        popen = subprocess.Popen([sys.executable, "-m", "locust", *args], stdout=handle, stderr=subprocess.STDOUT,
                                 env=env, cwd=PROJECT_ROOT, start_new_session=True)
        handle.close()
        if cpus:
            cpu_placement.pin(popen.pid, cpus)
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
    planned = stepping.planned_seconds(values["steps"], values["step_seconds"], values["warmup_seconds"],
                                       (values.get("step_max_seconds") or 0.0)
                                       + (values.get("step_extend_seconds") or 0.0))
    return planned + 2.0 * len(values["steps"]) + STARTUP_SECONDS + GRACE_SECONDS


def run_variant(dsn: str, variant: str, values: dict, workers: int, folder: Path, *, locustfiles=(LOCUSTFILE,),
                user_classes: tuple[str, ...] = (), remote_workers: int = 0, bind: str = "127.0.0.1",
                observer=None, progress=None, load_cpus: list[int] | None = None, pooler_dsn: str | None = None,
                watch=None) -> dict:
    """Run the step load on one variant; return the shape's record plus what the
    processes did. `observer(event, launch, steps)` is called on "started" and after
    each finished step (tests use it to kill a worker). `load_cpus`: pin every local
    Locust process there (the server runs on the other CPUs). `pooler_dsn`: the simulated
    users' requests go through this transaction pooler (BENCH_DSN still serves identities,
    the tenant check and server sampling). `watch()`: polled while the run goes, returns a
    line when something the run depends on died (the harness's PgBouncer): recorded as a
    "pooler lost" event; the ramp goes on, so the requests that fail are counted as the
    step's failures (they end it: a clear breach), and the status says "pooler lost"."""
    folder.mkdir(parents=True, exist_ok=True)
    steps_file = folder / f"{variant}.steps.json"
    steps_file.unlink(missing_ok=True)
    run_values = {**values, "variant": variant, "results_file": str(steps_file),
                  "client_cpus": tuple(load_cpus) if load_cpus else None}
    bench_args = opts.locust_args(run_values)
    env = {**{k: v for k, v in os.environ.items() if k != POOLER_ENV}, "BENCH_DSN": dsn,
           "PYTHONPATH": os.pathsep.join(p for p in (str(PROJECT_ROOT), os.environ.get("PYTHONPATH")) if p)}
    if pooler_dsn:
        env[POOLER_ENV] = pooler_dsn
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
                         folder / f"{variant}.local.log", load_cpus)
        else:
            port = free_port(bind if bind != "0.0.0.0" else "127.0.0.1")
            launch.spawn("master", ["-f", files, "--headless", "--master", "--master-bind-host", bind,
                                    "--master-bind-port", str(port), "--expect-workers", str(expected),
                                    "--expect-workers-max-wait", str(int(STARTUP_SECONDS)), *common, *bench_args,
                                    *user_classes], env, folder / f"{variant}.master.log", load_cpus)
            worker_files = ",".join(str(f) for f in locustfiles)
            for i in range(1, workers + 1):
                launch.spawn(f"worker-{i}", ["-f", worker_files, "--worker", "--master-host", "127.0.0.1",
                                             "--master-port", str(port), *bench_args, *user_classes], env,
                             folder / f"{variant}.worker-{i}.log", load_cpus)
            if remote_workers and progress:
                progress(f"{variant}: master listening on {bind}:{port}, waiting for {remote_workers} remote "
                         f"worker(s): locust -f bench/loadtest/locustfile.py --worker --master-host <this host> "
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
            lost = watch() if watch else None
            if lost and not any(e["event"] == "pooler lost" for e in launch.events):
                launch.events.append({"at_s": round(time.monotonic() - launch.began, 1), "event": "pooler lost",
                                      "detail": lost})
                if progress:
                    progress(f"{variant}: {lost}; requests through it now fail")
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
            # in order of users: a ramp that stepped down measured a lower step later (its `step` says when)
            "plan": list(values["steps"]), "start_users": values["start_users"],
            "steps": sorted(shaped.get("steps", []), key=lambda step: step["users"]),
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
    if any(e["event"] == "pooler lost" for e in launch.events) and state != "running":
        return "pooler lost"
    if state == "running":
        return "crashed" if crashed else "interrupted"
    return state


def _read(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def _step_line(r: dict) -> str:
    judged = r["judgement"]
    held = "held" if judged["held"] else f"{stepping.state(judged).upper()}: " + "; ".join(judged["reasons"])
    p95 = "-" if r.get("p95_ms") is None else f"{r['p95_ms']:.0f}"
    generator = r.get("client") or {}
    cpu = generator.get("cpus_share_percent") or generator.get("cpu_max_percent")  # our own processes' CPU
    return (f"{r['variant']}: {r['users']:>5} users  {r.get('requests') or 0:>6} requests  p95 {p95:>5} ms  "
            f"{r.get('rps') or 0:7.1f} req/s  errors {r['failure_ratio']:.1%}  load CPU "
            f"{'-' if cpu is None else f'{cpu:.0f}%'}  {held}")


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
    from bench.judge import verdicts

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
        capacity[run["variant"]] = {**stepping.capacity(run["steps"], tuple(run["plan"]), limit),
                                    "status": run["status"]}
        all_steps += run["steps"]
        findings += tenancy_findings(run)
    claim = stepping.concurrency_claim()
    out_verdicts = []
    base = by_variant.get(REFERENCE)
    think = tuple(config["think_seconds"]) if config.get("think_seconds") else None
    for run in merged:
        problems = [f"{run['variant']}: {run['status']}"] if run["status"] in PROBLEM_STATUSES else []
        out_verdicts.append(stepping.simultaneous_users_verdict(run["variant"], capacity[run["variant"]], think,
                                                                problems))
        if run["variant"] == REFERENCE:
            continue
        if base is None or not base["steps"] or not run["steps"]:
            out_verdicts.append(verdicts.verdict_record("concurrency", run["variant"], verdicts.NOT_MEASURED, {},
                                                        "baseline and the variant must both be load-tested"))
            continue
        problems = [f"{r['variant']}: {r['status']}" for r in (run, base) if r["status"] in PROBLEM_STATUSES]
        if run["plan"] != base["plan"]:
            problems.append("the variant and baseline ran different steps")
        leaks = sum(f["cross_tenant_requests"] for f in findings if f["variant"] == run["variant"])
        record = stepping.concurrency_verdict(run["variant"], capacity[run["variant"]], capacity[REFERENCE], claim,
                                              problems)
        if leaks:
            record["note"] += f"; {leaks} requests returned rows of another tenant (security failures)"
        out_verdicts.append(record)
    return {"config": config, "slo_ms": limit.p95_ms,
            "slo": {"p95_ms": limit.p95_ms, "max_failure_ratio": limit.max_failure_ratio},
            "capacity_rule": "[largest step held, first step breached): held = the p95 interval's upper bound "
                             "below the slo and unexpected failures < limit; breached = its lower bound at or above "
                             "the slo (or failures); otherwise undecided, and a load generator that was saturated "
                             "cannot breach; at_least when no tested step breached or was undecided. The verdict's "
                             "ratio uses slo_crossing: where p95 reaches the slo between the last step held and the "
                             "first breach (log-log), read at the p95 figures and at their interval's ends, widened by "
                             "targets.toml's between-run spread",
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


def personas_record() -> list[dict]:
    from bench.loadtest import personas
    from scenarios import all_scenarios

    catalog = all_scenarios()
    return [{"name": p.name, "weight": p.weight, "roles": list(p.roles), "tasks": p.tasks(catalog)}
            for p in personas.PERSONAS]


