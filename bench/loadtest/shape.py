"""The step load, on Locust's master (or a single local process): a LoadTestShape that
ramps through the planned user counts, measures each step in its own window and writes
what it measured to BENCH_LOAD_RESULTS_FILE (JSON, rewritten atomically after each step,
so a run cut short still leaves its finished steps).

A step = warm-up (spawn the users within RAMP_SECONDS, then let them settle; not
measured) + a measured window. For the window it records, from Locust's own statistics
(the same ones its CSV and web UI show), the difference between two snapshots: requests,
failures, p50/p95/p99 and throughput per scenario and in total; from the workers' reports
(client.Recorder): outcome counts (error / known / leak), pool wait and service time
percentiles; from the server: connections of the load (pg_stat_activity, sampled every
second: active, idle in transaction, waiting on a lock) and pg_stat_statements deltas of
the API roles' statements; CPU: this machine's, each load process's, and the server's
when it runs on this machine (its process tree). Then steps.judge() decides whether the step held and
steps.should_stop() whether the ramp goes on.

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

from bench.judge import stats
from bench.loadtest import client, steps
from bench.loadtest import options as opts

log = logging.getLogger("bench.load")

RAMP_SECONDS = 1.0
RAMP_GRACE_SECONDS = 10.0  # extra wait for slow spawning before a step is measured anyway
API_ROLES = ("authenticated", "anon", "service_role")
TOP_STATEMENTS = 5


# ---- what the workers report, merged ------------------------------------------------------
class Window:
    def __init__(self):
        self.response, self.wait, self.service = stats.new_histogram(), stats.new_histogram(), stats.new_histogram()
        self.counts = defaultdict(lambda: defaultdict(int))
        self.samples = defaultdict(list)
        self.pool = defaultdict(int)
        self.pool_sizes = {}
        self.cpu = {}  # pid -> [(wall time, cpu seconds) of the first report, of the last]

    def add(self, data: dict) -> None:
        for key in ("response", "wait", "service"):
            getattr(self, key).add(stats.decode(data[key]))
        for scenario, counts in data["counts"].items():
            for k, n in counts.items():
                self.counts[scenario][k] += n
        for kind, texts in data["samples"].items():
            mine = self.samples[kind]
            mine.extend(t for t in texts if t not in mine and len(mine) < client.MAX_SAMPLES)
        pool = data.get("pool") or {}
        for k, v in pool.items():
            if k.startswith("requests_") or k == "usage_ms":
                self.pool[k] += v
        if pool:
            self.pool_sizes[pool.get("pid")] = pool.get("size")
        cpu = data.get("cpu")
        if cpu:
            seen = self.cpu.setdefault(cpu["pid"], [(cpu["at"], cpu["seconds"])] * 2)
            seen[1] = (cpu["at"], cpu["seconds"])

    def cpu_percent(self) -> float | None:
        """The busiest load process's CPU over the window (% of one core)."""
        rates = [(b[1] - a[1]) / (b[0] - a[0]) * 100 for a, b in self.cpu.values() if b[0] - a[0] > 0.5]
        return max(rates, default=None)

    def totals(self) -> dict:
        out = defaultdict(int)
        for counts in self.counts.values():
            for k, n in counts.items():
                out[k] += n
        return dict(out)


class Aggregator:
    """Merges worker reports into the whole run and into the current step's window."""

    def __init__(self):
        self.whole = Window()
        self.window: Window | None = None

    def add(self, data: dict) -> None:
        self.whole.add(data)
        if self.window is not None:
            self.window.add(data)

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


def _ms(histogram, percentile) -> float | None:
    return histogram.get_value_at_percentile(percentile) / 1000 if histogram.get_total_count() else None


# ---- CPU: this machine, and the server when it runs here ------------------------------------
def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of this machine, all cores."""
    t = psutil.cpu_times()
    idle = t.idle + getattr(t, "iowait", 0.0)
    total = sum(t)
    return total - idle, total


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
        self.postmaster = self._local_postmaster()

    def _local_postmaster(self) -> psutil.Process | None:
        """The server's postmaster when it runs on this machine (its data directory's
        postmaster.pid names a live postgres process here), else None: then server CPU
        is not measured and bottlenecks are judged without it."""
        if self.conn is None:
            return None
        try:
            folder = self.conn.execute("SELECT current_setting('data_directory')").fetchone()[0]
            pid = int((Path(folder) / "postmaster.pid").read_text().split()[0])
            process = psutil.Process(pid)
            return process if "postgres" in process.name() else None
        except (psycopg.Error, OSError, ValueError, IndexError, psutil.Error):
            return None

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
    """Ramp through the planned steps; measure, judge, stop early on a clear failure."""

    def __init__(self):
        super().__init__()
        self.ready = False

    def _setup(self) -> None:
        values = opts.from_locust(self.runner.environment.parsed_options)
        self.values = values
        self.variant = values["variant"]
        self.plan = values["steps"]
        self.slo = steps.slo()
        self.results_file = values["results_file"]
        self.server = Server(values["dsn"])
        self.k, self.phase, self.t_step = 0, "ramp", self.get_run_time()
        self.records: list[dict] = []
        self.events: list[dict] = []
        self.status, self.stop_reason = "running", None
        self.distributed = isinstance(self.runner, MasterRunner)
        self.expected_workers = getattr(self.runner.environment.parsed_options, "expect_workers", 0) \
            if self.distributed else 0
        self.lost = False
        self.ready = True
        self._write()

    # users and spawn rate of step k
    def _target(self) -> tuple[int, float]:
        users = self.plan[self.k]
        before = self.plan[self.k - 1] if self.k else 0
        return users, max(1.0, abs(users - before) / RAMP_SECONDS)

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
            if waited >= self.values["warmup_seconds"] and (reached or waited >= self.values["warmup_seconds"]
                                                             + RAMP_GRACE_SECONDS):
                self._begin_window()
            return users, rate
        self._sample()
        if time.perf_counter() - self.w_began >= self.values["step_seconds"]:
            record = self._end_window(users)
            judged = [r["judgement"] for r in self.records]
            reason = steps.should_stop(judged)
            if reason:
                return self._finish("stopped", reason)
            if self.k + 1 >= len(self.plan):
                return self._finish("completed", None)
            self.k += 1
            self.phase, self.t_step = "ramp", t
            log.info("step %d: %d users, p95 %s ms, %.0f req/s", len(self.records), record["users"],
                     record["p95_ms"], record["rps"] or 0)
            return self._target()
        return users, rate

    def _worker_lost(self, t: float) -> bool:
        if not self.distributed or self.lost:
            return self.lost
        alive = [c for c in self.runner.clients.values() if c.state != "missing"]
        if len(alive) < self.expected_workers:
            self.lost = True
            self.events.append({"at_s": round(t, 1), "event": "worker lost",
                                "workers": len(alive), "expected": self.expected_workers,
                                "step_users": self.plan[self.k]})
            if self.phase == "measure":
                self._end_window(self.plan[self.k], incomplete="a worker went missing during the step")
        return self.lost

    def _begin_window(self) -> None:
        self.phase = "measure"
        if not self.distributed:
            AGGREGATOR.drain_local()
        self.before = snapshot(self.runner.stats)
        self.pss_before = self.server.statements()
        AGGREGATOR.window = Window()
        self.activity = []
        self.machine_before, self.server_before = machine_cpu(), tree_cpu(self.server.postmaster)
        self.w_began = time.perf_counter()

    def _sample(self) -> None:
        try:
            a = self.server.activity()
        except psycopg.Error:
            a = None
        if a:
            self.activity.append(a)

    def _end_window(self, users: int, incomplete: str | None = None) -> dict:
        if not self.distributed:
            AGGREGATOR.drain_local()
        seconds = time.perf_counter() - self.w_began
        after = snapshot(self.runner.stats)
        busy0, total0 = self.machine_before
        busy1, total1 = machine_cpu()
        cores = psutil.cpu_count() or 1
        machine = {"cpu_percent": (busy1 - busy0) / (total1 - total0) * 100 if total1 > total0 else None,
                   "cores": cores}
        server_cpu = cpu_percent(self.server_before, tree_cpu(self.server.postmaster), seconds)
        window, AGGREGATOR.window = AGGREGATOR.window or Window(), None
        total = _delta(self.before.get(None), after[None], seconds)
        counts = window.totals()
        outcomes = sum(counts.get(k, 0) for k in client.OUTCOMES)
        scenarios = []
        for key, entry in sorted(after.items(), key=lambda kv: str(kv[0])):
            if key is None:
                continue
            name, _method = key
            mine = window.counts.get(name, {})
            scenarios.append({"scenario": name, **_delta(self.before.get(key), entry, seconds),
                              **{k: mine.get(k, 0) for k in client.OUTCOMES}})
        wait_mean = window.wait.get_mean_value() / 1000 if window.wait.get_total_count() else None
        resp_mean = window.response.get_mean_value() / 1000 if window.response.get_total_count() else None
        share = wait_mean / resp_mean if wait_mean is not None and resp_mean else None
        pool = {"size_per_process": max(window.pool_sizes.values(), default=None),
                "processes": len(window.pool_sizes), "wait_mean_ms": wait_mean, "wait_p95_ms": _ms(window.wait, 95),
                "service_mean_ms": window.service.get_mean_value() / 1000 if window.service.get_total_count() else None,
                "service_p95_ms": _ms(window.service, 95), "wait_share": share,
                "queued_ratio": (window.pool["requests_queued"] / window.pool["requests_num"]
                                 if window.pool.get("requests_num") else None),
                "timeouts": window.pool.get("requests_errors", 0),
                "wait_dominates": bool(share is not None and share > steps.POOL_BOUND_SHARE)}
        act = self.activity
        server = {"active_mean": sum(a["active"] for a in act) / len(act) if act else None,
                  "active_max": max((a["active"] for a in act), default=None),
                  "connections_max": max((a["connections"] for a in act), default=None),
                  "idle_in_transaction_max": max((a["idle_in_transaction"] for a in act), default=None),
                  "lock_waits_max": max((a["lock_waits"] for a in act), default=None),
                  "statements": Server.statement_delta(self.pss_before, self.server.statements(), seconds),
                  # % of all this machine's cores, when the server runs here (else None)
                  "cpu_percent": server_cpu / cores if server_cpu is not None else None}
        cpu_max = window.cpu_percent()
        record = {
            "variant": self.variant, "step": len(self.records) + 1, "users": users,
            "users_running": self.runner.user_count, "seconds": round(seconds, 3), **total,
            "failure_ratio": counts.get("error", 0) / outcomes if outcomes else 0.0,
            "locust_failure_ratio": total["failures"] / total["requests"] if total["requests"] else 0.0,
            "errors": counts.get("error", 0), "known_failures": counts.get("known", 0),
            "cross_tenant_failures": counts.get("leak", 0),
            "response_p95_ms_hdr": _ms(window.response, 95),
            "pool": pool, "server": server,
            "client": {"cpu_max_percent": cpu_max,
                       "bound": bool(cpu_max is not None and cpu_max >= steps.CLIENT_BOUND_CPU)},
            "machine": machine,
            "scenarios": scenarios, "samples": dict(window.samples),
        }
        if incomplete:
            record["incomplete"] = incomplete
        record["judgement"] = steps.judge(record, self.slo)
        self.records.append(record)
        self._write()
        return record

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
