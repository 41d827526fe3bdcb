"""The step load, on Locust's master (or a single local process): a LoadTestShape that
ramps through the planned user counts, measures each step in its own window and writes
what it measured to BENCH_LOAD_RESULTS_FILE (JSON, rewritten atomically after each step,
so a run cut short still leaves its finished steps).

A step = warm-up (spawn the users within RAMP_SECONDS, then let them settle; not
measured) + a measured window. The master opens and closes the window in every load
process (client.WINDOW_OPEN, a Locust custom message; in a single local process, a call);
each process records every request completing inside it (HDR histograms of response,
pool wait and service time, outcome counts, its CPU time, its pool's counters) and sends
them back when it closes (client.WINDOW_DATA). The step's requests, throughput, p95 and
its interval (steps.p95_interval) come from those; Locust's own statistics over the same
seconds are kept beside them. From the server: connections of the load
(pg_stat_activity, sampled every second) and pg_stat_statements deltas of the API roles'
statements. CPU: this machine's, the load generator's (busiest process; its CPUs when
pinned) and the server's when it runs here. Then steps.judge() decides whether the step
held, breached or is undecided, and steps.should_stop() whether the ramp goes on.

A worker that goes missing (killed, crashed, partitioned) ends the ramp: the step in
progress is marked incomplete and the run's status says "worker lost". It is never
averaged over.

Locust finds it through bench/loadtest/stepfile.py: `locust -f bench/loadtest/locustfile.py,bench/loadtest/stepfile.py`.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import psutil
import psycopg
from locust import LoadTestShape, events
from locust.runners import MasterRunner
from locust.stats import calculate_response_time_percentile, diff_response_time_dicts

from bench.core import contention
from bench.judge import stats
from bench.loadtest import client, steps
from bench.loadtest import options as opts

log = logging.getLogger("bench.load")

RAMP_SECONDS = 1.0
RAMP_GRACE_SECONDS = 10.0  # extra wait for slow spawning before a step is measured anyway
COLLECT_SECONDS = 10.0  # how long the master waits for the workers' figures of a closed window
API_ROLES = ("authenticated", "anon", "service_role")
TOP_STATEMENTS = 5


# ---- what the workers report, merged ------------------------------------------------------
class Window:
    """Figures of several load processes merged: a step's windows (client.StepWindow),
    or the whole run's periodic reports."""

    def __init__(self):
        self.response, self.wait, self.service = stats.new_histogram(), stats.new_histogram(), stats.new_histogram()
        self.counts = defaultdict(lambda: defaultdict(int))
        self.samples = defaultdict(list)
        self.pool = defaultdict(int)
        self.pool_sizes = {}
        self.cpu = {}  # pid -> (cpu seconds, wall seconds) of its window

    def add(self, data: dict) -> None:
        for key in ("response", "wait", "service"):
            if key in data:
                getattr(self, key).add(stats.decode(data[key]))
        for scenario, counts in data.get("counts", {}).items():
            for k, n in counts.items():
                self.counts[scenario][k] += n
        for kind, texts in data.get("samples", {}).items():
            mine = self.samples[kind]
            mine.extend(t for t in texts if t not in mine and len(mine) < client.MAX_SAMPLES)
        pool = data.get("pool") or {}
        for k in client.POOL_COUNTERS:
            self.pool[k] += pool.get(k, 0)
        if pool:
            self.pool_sizes[pool.get("pid")] = pool.get("size")
        cpu = data.get("cpu")
        if cpu:
            self.cpu[cpu["pid"]] = (cpu["seconds"], cpu["wall"])

    def cpu_max_percent(self) -> float | None:
        """The busiest load process's CPU over its window (% of one core)."""
        rates = [seconds / wall * 100 for seconds, wall in self.cpu.values() if wall > 0.5]
        return max(rates, default=None)

    def cpu_total_percent(self) -> float:
        """All load processes' CPU together (% of one core)."""
        return sum(seconds / wall * 100 for seconds, wall in self.cpu.values() if wall > 0.5)

    def totals(self) -> dict:
        out = defaultdict(int)
        for counts in self.counts.values():
            for k, n in counts.items():
                out[k] += n
        return dict(out)


class Aggregator:
    """The whole run's counts (workers' periodic reports) and each step's windows
    (workers' replies when the shape closes a window), by step number and worker."""

    def __init__(self):
        self.whole = Window()
        self.replies: dict[int, dict[str, dict]] = defaultdict(dict)

    def add(self, data: dict) -> None:
        self.whole.add(data)

    def drain_local(self) -> None:
        """Single-process mode: pull this process's recorder (workers push theirs)."""
        runtime = client.Runtime.instance
        if runtime is not None:
            self.add(runtime.report())


AGGREGATOR = Aggregator()


@events.worker_report.add_listener
def _on_worker_report(client_id, data, **_kw):
    if "bench" in data:
        AGGREGATOR.add(data["bench"])


@events.init.add_listener
def _on_init(environment, **_kw):
    if isinstance(environment.runner, MasterRunner):
        environment.runner.register_message(client.WINDOW_DATA, _on_window_data)


def _on_window_data(environment, msg, **_kw):
    """A worker's figures of a closed window (Locust custom message: it reaches the master
    from any machine, where per-worker files would need a shared filesystem)."""
    AGGREGATOR.replies[msg.data["number"]][msg.node_id] = msg.data


# ---- Locust statistics: differences between snapshots -------------------------------------
def snapshot(request_stats) -> dict:
    entries = {key: (e.num_requests, e.num_failures, dict(e.response_times), e.total_response_time)
               for key, e in request_stats.entries.items()}
    t = request_stats.total
    entries[None] = (t.num_requests, t.num_failures, dict(t.response_times), t.total_response_time)
    return entries


def _delta(before, after, seconds: float) -> dict:
    n0, f0, rt0, s0 = before or (0, 0, {}, 0)
    n1, f1, rt1, s1 = after
    n, times = n1 - n0, diff_response_time_dicts(rt1, rt0)
    out = {"requests": n, "failures": f1 - f0, "rps": n / seconds if seconds else None}
    if n:
        out.update({f"p{p}_ms": float(calculate_response_time_percentile(times, n, p / 100)) for p in (50, 95, 99)})
        out["mean_ms"] = (s1 - s0) / n
    else:
        out.update(p50_ms=None, p95_ms=None, p99_ms=None, mean_ms=None)
    return out


def _due(elapsed: float, seconds: float) -> bool:
    """Whether a deadline is met at this tick (steps.TICK_SLACK_SECONDS early counts as met)."""
    return elapsed >= seconds - steps.TICK_SLACK_SECONDS


def _ms(histogram, percentile) -> float | None:
    return stats.value_at_percentile(histogram, percentile) / 1000 if histogram.get_total_count() else None


# ---- CPU: this machine, and the server when it runs here ------------------------------------
def cpu_set_times(cpus: list[int]) -> list[tuple[float, float]]:
    """(busy, total) CPU seconds of each of these CPUs."""
    if not cpus:
        return []
    per_cpu = psutil.cpu_times(percpu=True)
    return [contention.busy_total(per_cpu[c]) for c in cpus if c < len(per_cpu)]


def busy_percent(before: list[tuple[float, float]], after: list[tuple[float, float]]) -> float | None:
    """% busy of a set of CPUs between two readings (None without readings)."""
    busy = sum(a[0] - b[0] for a, b in zip(after, before))
    total = sum(a[1] - b[1] for a, b in zip(after, before))
    return busy / total * 100 if before and total > 0 else None


def own_cpu_seconds() -> float:
    t = psutil.Process().cpu_times()
    return t.user + t.system


def tree_cpu(process: psutil.Process | None) -> dict[int, float]:
    """CPU seconds of a process and its children, by pid ({} when unknown)."""
    if process is None:
        return {}
    out = {}
    try:
        for p in [process, *process.children(recursive=True)]:
            try:
                t = p.cpu_times()
                out[p.pid] = t.user + t.system
            except psutil.Error:
                continue
    except psutil.Error:
        return {}
    return out


def cpu_percent(before: dict[int, float], after: dict[int, float], seconds: float) -> float | None:
    """CPU of a process tree over a window, % of ONE core (pids present at both ends)."""
    if not before or not after or seconds <= 0:
        return None
    return sum(after[p] - before[p] for p in after.keys() & before.keys()) / seconds * 100


# ---- the server's side ----------------------------------------------------------------------
class Server:
    def __init__(self, dsn: str | None):
        self.conn = None
        self.postmaster: psutil.Process | None = None
        if dsn:
            try:
                self.conn = psycopg.connect(dsn, autocommit=True, application_name="bench-load-sampler")
            except psycopg.Error as exc:
                log.warning("server-side sampling disabled: %s", str(exc).splitlines()[0])
        self.statements_ok = True
        # None when the server runs elsewhere: then server CPU is not measured and
        # bottlenecks are judged without it
        self.postmaster = contention.local_postmaster(self.conn) if self.conn is not None else None

    def activity(self) -> dict | None:
        if self.conn is None:
            return None
        row = self.conn.execute(
            "SELECT count(*) FILTER (WHERE state = 'active'), "
            "count(*) FILTER (WHERE state LIKE 'idle in transaction%%'), "
            "count(*) FILTER (WHERE wait_event_type = 'Lock'), count(*) FROM pg_stat_activity "
            "WHERE application_name = %s", (client.APPLICATION,)).fetchone()
        return {"active": row[0], "idle_in_transaction": row[1], "lock_waits": row[2], "connections": row[3]}

    def statements(self) -> dict:
        if self.conn is None or not self.statements_ok:
            return {}
        try:
            rows = self.conn.execute(
                # summed over the API roles: pg_stat_statements keeps a row per (user, queryid)
                "SELECT s.queryid, sum(s.calls)::bigint, sum(s.total_exec_time), sum(s.rows)::bigint, "
                "sum(s.shared_blks_read)::bigint, left(min(s.query), 200) "
                "FROM pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid "
                "WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) "
                "AND r.rolname = ANY(%s) GROUP BY s.queryid", (list(API_ROLES),)).fetchall()
        except psycopg.Error:
            self.statements_ok = False
            return {}
        return {q: (c, t, r, b, text) for q, c, t, r, b, text in rows}

    @staticmethod
    def statement_delta(before: dict, after: dict, seconds: float) -> dict | None:
        if not after:
            return None
        deltas = []
        for q, (c, t, r, b, text) in after.items():
            c0, t0, r0, b0, _ = before.get(q, (0, 0.0, 0, 0, ""))
            if c - c0 > 0:
                deltas.append({"calls": c - c0, "exec_ms": t - t0, "rows": r - r0, "blocks_read": b - b0,
                               "query": text})
        calls, exec_ms = sum(d["calls"] for d in deltas), sum(d["exec_ms"] for d in deltas)
        top = sorted(deltas, key=lambda d: -d["exec_ms"])[:TOP_STATEMENTS]
        for d in top:
            d["mean_exec_ms"] = d["exec_ms"] / d["calls"]
        return {"calls": calls, "exec_ms": exec_ms, "mean_exec_ms": exec_ms / calls if calls else None,
                "db_seconds_per_second": exec_ms / 1000 / seconds if seconds else None, "top": top}


# ---- the shape ------------------------------------------------------------------------------
class StepLoadShape(LoadTestShape):
    """Ramp through the planned steps; measure, judge, stop early on a clear failure.
    Phases of a step: "ramp" (warm-up), "measure" (the window is open in every load
    process), "collect" (closed; waiting for each process's figures)."""

    def __init__(self):
        super().__init__()
        self.ready = False

    def _setup(self) -> None:
        values = opts.from_locust(self.runner.environment.parsed_options)
        self.values = values
        self.variant = values["variant"]
        self.plan = values["steps"]
        self.users = steps.start_step(self.plan, values["start_users"])
        self.previous_users = 0
        self.slo = steps.slo()
        self.results_file = values["results_file"]
        self.client_cpus = list(values["client_cpus"] or ())
        self.server = Server(values["dsn"])
        self.phase, self.t_step = "ramp", self.get_run_time()
        self.number = 0  # the current window's number, 1-based
        self.records: list[dict] = []
        self.events: list[dict] = []
        self.status, self.stop_reason = "running", None
        self.distributed = isinstance(self.runner, MasterRunner)
        self.expected_workers = getattr(self.runner.environment.parsed_options, "expect_workers", 0) \
            if self.distributed else 0
        self.lost = False
        self.ready = True
        self._write()

    # users and spawn rate of the current step
    def _target(self) -> tuple[int, float]:
        return self.users, max(1.0, abs(self.users - self.previous_users) / RAMP_SECONDS)

    def tick(self):
        if not self.ready:
            self._setup()
        if self.status != "running":
            return None
        t = self.get_run_time()
        if self._worker_lost(t):
            return self._finish("worker lost", f"a worker went missing at {t:.0f} s")
        if not self.distributed:
            AGGREGATOR.drain_local()
        users, rate = self._target()
        if self.phase == "ramp":
            waited = t - self.t_step
            reached = self.runner.user_count >= users
            if _due(waited, self.values["warmup_seconds"]) and (
                    reached or _due(waited, self.values["warmup_seconds"] + RAMP_GRACE_SECONDS)):
                self._begin_window()
            return users, rate
        if self.phase == "measure":
            self._sample()
            if self._window_open(time.perf_counter() - self.w_began):
                return users, rate
            self._close_window()
        missing = self._missing_replies()
        if missing and time.perf_counter() - self.collect_began < COLLECT_SECONDS:
            return users, rate  # the users keep their load while the figures travel
        record = self._end_window(users, f"the figures of {len(missing)} load process(es) did not arrive"
                                  if missing else None)
        following, reason = steps.next_step(self.plan, self.values["start_users"], self.records)
        if reason:
            return self._finish("stopped", reason)
        if following is None:
            return self._finish("completed", None)
        self.previous_users, self.users = self.users, following
        self.phase, self.t_step = "ramp", t  # the warm-up counts from this tick, not from the end of its work
        log.info("step %d: %d users, p95 %s ms, %.0f req/s", len(self.records), record["users"],
                 record["p95_ms"], record["rps"] or 0)
        return self._target()

    def _worker_lost(self, t: float) -> bool:
        if not self.distributed or self.lost:
            return self.lost
        alive = [c for c in self.runner.clients.values() if c.state != "missing"]
        if len(alive) < self.expected_workers:
            self.lost = True
            self.events.append({"at_s": round(t, 1), "event": "worker lost",
                                "workers": len(alive), "expected": self.expected_workers,
                                "step_users": self.users})
            if self.phase == "measure":
                self._close_window()
            if self.phase == "collect":
                self._end_window(self.users, incomplete="a worker went missing during the step")
        return self.lost

    # ---- a step's window ------------------------------------------------------------------
    def _begin_window(self) -> None:
        self.phase = "measure"
        self.number += 1
        if not self.distributed:
            AGGREGATOR.drain_local()
        self.before = snapshot(self.runner.stats)
        self.pss_before = self.server.statements()
        self.activity = []
        self.cpu_before = self._cpu_readings()
        if self.distributed:
            self.runner.send_message(client.WINDOW_OPEN, {"number": self.number, "open": True})
        elif client.Runtime.instance is not None:
            client.Runtime.instance.open_window(self.number)
        self.w_began = time.perf_counter()
        self.extended_from = None  # seconds into the window when it was kept open for an undecided p95
        self.live = None  # the p95 interval of Locust's live counts when the window was last checked

    def _window_open(self, elapsed: float) -> bool:
        """Open for step_seconds, then until step_requests requests (a p95 bound needs them:
        at 5 users with a second of think time, 4 s give about 20) or step_max_seconds;
        then up to step_extend_seconds more while the live p95 interval straddles the SLO
        (a step near it is decided by more requests, not left undecided)."""
        if not _due(elapsed, self.values["step_seconds"]):
            return True
        counted = self.runner.stats.total.num_requests - self.before[None][0]
        if counted < self.values["step_requests"] and not _due(elapsed, self.values["step_max_seconds"]):
            return True
        if _due(elapsed, self.values["step_max_seconds"] + self.values["step_extend_seconds"]):
            return False
        live = diff_response_time_dicts(self.runner.stats.total.response_times, self.before[None][2])
        self.live = steps.live_interval(live)
        if not steps.straddles(self.live, self.slo):
            return False
        if self.extended_from is None:
            self.extended_from = elapsed
        return True

    def _close_window(self) -> None:
        self.w_seconds = time.perf_counter() - self.w_began
        self.after = snapshot(self.runner.stats)
        self.cpu_after = self._cpu_readings()
        if self.distributed:
            self.awaited = {cid for cid, c in self.runner.clients.items() if c.state != "missing"}
            self.runner.send_message(client.WINDOW_OPEN, {"number": self.number, "open": False})
        else:
            runtime = client.Runtime.instance
            self.awaited = {"local"}
            data = runtime.close_window(self.number) if runtime is not None else None
            AGGREGATOR.replies[self.number]["local"] = data or {"number": self.number}
        self.collect_began = time.perf_counter()
        self.phase = "collect"

    def _missing_replies(self) -> set:
        return self.awaited - set(AGGREGATOR.replies.get(self.number, {}))

    def _cpu_readings(self) -> dict:
        """CPU counters read at both ends of a window."""
        return {"machine": contention.machine_cpu(), "server": tree_cpu(self.server.postmaster),
                "load_cpus": cpu_set_times(self.client_cpus), "own": own_cpu_seconds()}

    def _sample(self) -> None:
        try:
            a = self.server.activity()
        except psycopg.Error:
            a = None
        if a:
            self.activity.append(a)

    def _end_window(self, users: int, incomplete: str | None = None) -> dict:
        seconds = self.w_seconds
        window = Window()
        for data in AGGREGATOR.replies.pop(self.number, {}).values():
            window.add(data)
        if self.distributed:  # the master runs on the load generator's CPUs too
            window.cpu[os.getpid()] = (self.cpu_after["own"] - self.cpu_before["own"], seconds)
        counts = window.totals()
        outcomes = sum(counts.get(k, 0) for k in client.OUTCOMES)
        failures = sum(counts.get(k, 0) for k in ("error", "known", "leak"))
        interval = steps.p95_interval(window.response)
        record = {
            "variant": self.variant, "step": len(self.records) + 1, "users": users,
            "users_running": self.runner.user_count, "seconds": round(seconds, 3),
            "extended_s": round(seconds - self.extended_from, 3) if self.extended_from is not None else 0.0,
            "live_p95_interval": self.live,
            # every request completed inside the window, from the load processes' HDR histograms
            "requests": outcomes, "failures": failures, "rps": outcomes / seconds if seconds else None,
            "p50_ms": _ms(window.response, 50), "p95_ms": interval["p95_ms"], "p99_ms": _ms(window.response, 99),
            "mean_ms": stats.mean_stddev(window.response)[0] / 1000 if outcomes else None,
            "p95_interval": {k: interval[k] for k in ("low_ms", "high_ms", "confidence", "ranks")},
            "failure_ratio": counts.get("error", 0) / outcomes if outcomes else 0.0,
            "errors": counts.get("error", 0), "known_failures": counts.get("known", 0),
            "cross_tenant_failures": counts.get("leak", 0),
            # Locust's own statistics over the same seconds (rounded buckets, edges at its report interval)
            "locust": _delta(self.before.get(None), self.after[None], seconds),
            "pool": self._pool(window), "server": self._server(seconds), "client": self._client(window, seconds),
            "machine": self._machine(), "scenarios": self._scenarios(window, seconds),
            "samples": dict(window.samples),
        }
        record["locust"]["locust_failure_ratio"] = (record["locust"]["failures"] / record["locust"]["requests"]
                                                    if record["locust"]["requests"] else 0.0)
        if incomplete:
            record["incomplete"] = incomplete
        record["judgement"] = steps.judge(record, self.slo)
        self.records.append(record)
        self.phase = "done"
        self._write()
        return record

    def _scenarios(self, window: Window, seconds: float) -> list[dict]:
        out = []
        for key, entry in sorted(self.after.items(), key=lambda kv: str(kv[0])):
            if key is None:
                continue
            name, _method = key
            mine = window.counts.get(name, {})
            out.append({"scenario": name, **_delta(self.before.get(key), entry, seconds),
                        **{k: mine.get(k, 0) for k in client.OUTCOMES}})
        return out

    @staticmethod
    def _pool(window: Window) -> dict:
        wait_mean, resp_mean, service_mean = (stats.mean_stddev(h)[0] / 1000 if h.get_total_count() else None
                                              for h in (window.wait, window.response, window.service))
        share = wait_mean / resp_mean if wait_mean is not None and resp_mean else None
        return {"size_per_process": max(window.pool_sizes.values(), default=None),
                "processes": len(window.pool_sizes), "wait_mean_ms": wait_mean, "wait_p95_ms": _ms(window.wait, 95),
                "service_mean_ms": service_mean,
                "service_p95_ms": _ms(window.service, 95), "wait_share": share,
                "queued_ratio": (window.pool["requests_queued"] / window.pool["requests_num"]
                                 if window.pool.get("requests_num") else None),
                "timeouts": window.pool.get("requests_errors", 0),
                "wait_dominates": bool(share is not None and share > steps.POOL_BOUND_SHARE)}

    def _server(self, seconds: float) -> dict:
        act = self.activity
        server_cpu = cpu_percent(self.cpu_before["server"], self.cpu_after["server"], seconds)
        return {"active_mean": sum(a["active"] for a in act) / len(act) if act else None,
                "active_max": max((a["active"] for a in act), default=None),
                "connections_max": max((a["connections"] for a in act), default=None),
                "idle_in_transaction_max": max((a["idle_in_transaction"] for a in act), default=None),
                "lock_waits_max": max((a["lock_waits"] for a in act), default=None),
                "statements": Server.statement_delta(self.pss_before, self.server.statements(), seconds),
                # % of all this machine's cores, when the server runs here (else None)
                "cpu_percent": server_cpu / (psutil.cpu_count() or 1) if server_cpu is not None else None}

    def _client(self, window: Window, seconds: float) -> dict:
        """The load generator's CPU: its busiest process (% of one core) and, when pinned,
        how busy its CPUs were (% of them). Either near full: the generator, not the
        server, set the pace, and a breach there is not the server's (steps.judge)."""
        cpu_max = window.cpu_max_percent()
        share = window.cpu_total_percent() / len(self.client_cpus) if self.client_cpus and window.cpu else None
        bound = [f"a load process at {cpu_max:.0f}% of a core"] if cpu_max is not None and \
            cpu_max >= steps.CLIENT_BOUND_CPU else []
        if share is not None and share >= steps.CLIENT_BOUND_CPU:
            bound.append(f"the load processes used {share:.0f}% of CPUs {self.client_cpus}")
        return {"cpu_max_percent": cpu_max, "cpus": self.client_cpus or None, "cpus_share_percent": share,
                # everything on the generator's CPUs (other work on the box too): recorded, not judged
                "cpus_busy_percent": busy_percent(self.cpu_before["load_cpus"], self.cpu_after["load_cpus"]),
                "processes": len(window.cpu), "bound": bool(bound), "why": "; ".join(bound) or None}

    def _machine(self) -> dict:
        busy = busy_percent([self.cpu_before["machine"]], [self.cpu_after["machine"]])
        return {"cpu_percent": busy, "cores": psutil.cpu_count() or 1}

    def _finish(self, status: str, reason: str | None):
        self.status, self.stop_reason = status, reason
        if not self.distributed:
            AGGREGATOR.drain_local()
        self._write()
        return None

    def _write(self) -> None:
        if not self.results_file:
            return
        whole = AGGREGATOR.whole
        data = {"variant": self.variant, "status": self.status, "stop_reason": self.stop_reason,
                "plan": list(self.plan), "slo": {"p95_ms": self.slo.p95_ms,
                                                  "max_failure_ratio": self.slo.max_failure_ratio},
                "distributed": self.distributed, "expected_workers": self.expected_workers,
                "steps": self.records, "events": self.events,
                "whole": {"counts": {k: dict(v) for k, v in whole.counts.items()}, "samples": dict(whole.samples),
                          "pool_sizes": list(whole.pool_sizes.values())},
                "written_at": time.time()}
        path = Path(self.results_file)
        fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".steps-", suffix=".json")
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=1, default=str)
        os.replace(temp, path)


@events.quitting.add_listener
def _on_quitting(environment, **_kw):
    """A run that ends before the shape finished (Ctrl+C, all workers gone) says so."""
    shape = environment.shape_class
    if isinstance(shape, StepLoadShape) and shape.ready and shape.status == "running":
        shape._finish("interrupted", "Locust quit before the last step")
