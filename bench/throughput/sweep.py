"""The closed-loop concurrency sweep behind the throughput model: `bench run throughput`.

N connections (1, 2, 4 ... 64) each send the next request as soon as the last returns (no
think time), for a fixed window after a warm-up. Requests are the latency runner's
(bench.latency.runner.requests_for: one transaction as the scenario's Supabase user under
RLS, writes rolled back), drawn from the load test's scenario mix (the personas of
bench/loadtest/personas.py, weighted by their share of users), so the model's users-at-SLO
and Locust's measured capacity describe the same work.

Repetition: the sweep makes `windows` passes over the levels (ascending, then descending,
...), and inside each level measures every variant in a rotated order. So the windows of
one N are minutes apart (drift of a shared machine lands in the interval, not in one N's
figure), and every variant meets the same machine state. The connections are opened once
(after the server is pinned: backends inherit the postmaster's CPUs) and the first N serve
level N; each connection sets its variant's identity per transaction, as the latency runner.

Per window: requests completed in the window (throughput), their latencies (HDR), errors,
the client's CPU (this process: one asyncio thread, saturated near one core), the server's
CPU (the postmaster's process tree via psutil) and pg_stat_statements' execution time.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import time
from dataclasses import dataclass, field

import asyncpg
import numpy as np
import psutil

from bench.core import cpus
from bench.judge import stats
from bench.latency import runner

CLIENT_SATURATED = 0.9  # of one core: the client's one asyncio thread was the limit (as a Locust process at 90%)
POOL_REQUESTS = 4000  # requests built per variant, cycled through
PGSS_SQL = """SELECT coalesce(sum(calls), 0)::bigint, coalesce(sum(total_exec_time), 0)::float8 FROM pg_stat_statements
    WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())"""


@dataclass(frozen=True)
class SweepConfig:
    connections: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64)
    windows: int = 3  # passes over the levels: windows per N and variant
    window_seconds: float = 5.0
    warmup_seconds: float = 1.0  # before every window (the level's connections reach steady state)
    seed: int = 1

    def planned_seconds(self, variants: int) -> float:
        return self.windows * len(self.connections) * variants * (self.window_seconds + self.warmup_seconds)


@dataclass
class Window:
    variant: str
    n: int
    index: int  # the pass it belongs to
    seconds: float = 0.0
    completed: int = 0
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    histogram: object = field(default_factory=stats.new_histogram)
    client_cpu_s: float = 0.0
    server_cpu_s: float | None = None
    pgss: tuple[int, float] | None = None  # (calls, exec ms) during the window
    cpu_busy: dict = field(default_factory=dict)  # CPU number -> busy share in the window (the whole machine)

    def record(self) -> dict:
        lat = stats.summary(self.histogram, self.seconds)
        requests = self.completed + self.errors
        return {"variant": self.variant, "n": self.n, "window": self.index, "seconds": round(self.seconds, 4),
                "completed": self.completed, "errors": self.errors, "error_samples": self.error_samples,
                "x_rps": self.completed / self.seconds if self.seconds else None,
                "p50_ms": lat.get("p50_ms"), "p95_ms": lat.get("p95_ms"), "p99_ms": lat.get("p99_ms"),
                "mean_ms": lat.get("mean_ms"),
                "client_cpu": self.client_cpu_s / self.seconds if self.seconds else None,
                "client_saturated": bool(self.seconds and self.client_cpu_s / self.seconds >= CLIENT_SATURATED),
                "server_cpu_s": self.server_cpu_s,
                "server_cpu_ms_per_request": (1000 * self.server_cpu_s / requests
                                              if self.server_cpu_s is not None and requests else None),
                "pgss_exec_ms_per_request": (self.pgss[1] / requests if self.pgss and requests else None),
                "cpu_busy": self.cpu_busy, "hdr": stats.encode(self.histogram)}


def scenario_mix(scenarios: list, variant) -> tuple[dict[str, float], list[str]]:
    """{scenario: share of requests} as the load test's users send them (persona share x the
    persona's task weight), over the scenarios given that apply to the variant; and the
    scenarios left out because they are declared to fail on it (a defect, not throughput)."""
    from bench.loadtest.personas import PERSONAS
    from scenarios import all_scenarios

    catalog = all_scenarios()
    chosen = {s.name for s in scenarios}
    users = sum(p.weight for p in PERSONAS)
    shares: dict[str, float] = {}
    for persona in PERSONAS:
        tasks = persona.tasks(catalog)
        total = sum(tasks.values())
        for name, weight in tasks.items():
            shares[name] = shares.get(name, 0.0) + persona.weight / users * weight / total
    failing = sorted(s.name for s in scenarios if variant.name in s.expected_failures)
    kept = {name: share for name, share in shares.items()
            if name in chosen and name not in failing and catalog[name].query_for(variant)}
    total = sum(kept.values())
    return {name: share / total for name, share in sorted(kept.items())}, failing


def request_pool(scenarios: list, variant, population, mix: dict[str, float], seed: int,
                 size: int = POOL_REQUESTS) -> list[runner.Request]:
    """`size` requests in a random order that follows the mix; the same draws for every
    variant with the same mix (seeded by scenario, not by variant)."""
    by_name = {s.name: s for s in scenarios}
    names = list(mix)
    order = np.random.default_rng([seed, 0]).choice(len(names), size=size, p=[mix[n] for n in names])
    built = {}
    for i, name in enumerate(names):
        count = int((order == i).sum())
        rng = np.random.default_rng([seed, 1 + sorted(by_name).index(name)])
        built[name] = iter(runner.requests_for(by_name[name], variant, population, rng, count))
    return [next(built[names[i]]) for i in order]


# ---- measuring ---------------------------------------------------------------------------
REAPED = -1  # the key of the postmaster's reaped children (parallel workers, backends that ended)


def _tree_cpu(pid: int | None) -> dict[int, float]:
    """CPU seconds (user + system) of the server's processes by pid, and under REAPED those
    of its children that ended (a parallel query's workers live inside one request: alive at
    neither snapshot, their CPU shows only there); {} without a server pid."""
    if not pid:
        return {}
    out = {}
    try:
        processes = cpus.process_tree(pid)
    except psutil.Error:
        return {}
    for p in processes:
        try:
            t = p.cpu_times()
            out[p.pid] = t.user + t.system
            if p.pid == pid:
                out[REAPED] = t.children_user + t.children_system
        except psutil.Error:
            continue
    return out


def _server_cpu(before: dict[int, float], pid: int | None) -> float | None:
    """CPU seconds the server's processes used since `before` (processes alive at both ends)."""
    if not before:
        return None
    after = _tree_cpu(pid)
    return sum(after[p] - before[p] for p in before if p in after)


def _busy(before, after) -> dict:
    """Each CPU's busy share between two psutil.cpu_times(percpu=True) snapshots."""
    out = {}
    for number, (a, b) in enumerate(zip(before, after)):
        total = sum(b) - sum(a)
        idle = (b.idle + getattr(b, "iowait", 0)) - (a.idle + getattr(a, "iowait", 0))
        out[str(number)] = round(1 - idle / total, 3) if total > 0 else None
    return out


async def _pgss(admin) -> tuple[int, float] | None:
    if admin is None:
        return None
    try:
        calls, exec_ms = await admin.fetchrow(PGSS_SQL)
    except asyncpg.PostgresError as exc:
        if runner.lost(exc):
            raise
        return None
    return int(calls), float(exec_ms)


async def measure_window(conns: list, pool: list[runner.Request], window: Window, config: SweepConfig,
                         server_pid: int | None, admin) -> Window:
    """Warm-up, then the window: the first `window.n` connections in a closed loop over
    the pool; completions inside the window count (in-flight ones at its end do not)."""
    requests = itertools.cycle(pool)
    began = time.perf_counter()
    opens, closes = began + config.warmup_seconds, began + config.warmup_seconds + config.window_seconds
    marks: dict = {}

    async def worker(conn):
        while True:
            start = time.perf_counter()
            if start >= closes:
                return
            try:
                await runner.execute(conn, next(requests))
                ok, message = True, None
            except (asyncpg.PostgresError, runner.NoRows) as exc:
                ok, message = False, runner._message(exc)
            end = time.perf_counter()
            if opens <= end <= closes:
                if ok:
                    window.completed += 1
                    stats.record(window.histogram, (end - start) * 1e6)
                else:
                    window.errors += 1
                    if message not in window.error_samples and len(window.error_samples) < runner.MAX_ERROR_SAMPLES:
                        window.error_samples.append(message)

    async def clock():
        await asyncio.sleep(max(0.0, opens - time.perf_counter()))
        marks["open"] = (time.perf_counter(), time.process_time(), _tree_cpu(server_pid),
                         psutil.cpu_times(percpu=True), await _pgss(admin))
        await asyncio.sleep(max(0.0, closes - time.perf_counter()))
        marks["close"] = (time.perf_counter(), time.process_time(), _server_cpu(marks["open"][2], server_pid),
                          psutil.cpu_times(percpu=True), await _pgss(admin))

    outcomes = await asyncio.gather(clock(), *(worker(c) for c in conns[:window.n]), return_exceptions=True)
    runner._raise_first(outcomes)
    (t0, c0, _, busy0, pg0), (t1, c1, server_s, busy1, pg1) = marks["open"], marks["close"]
    window.seconds, window.client_cpu_s, window.server_cpu_s = t1 - t0, c1 - c0, server_s
    window.cpu_busy = _busy(busy0, busy1)
    if pg0 and pg1:
        window.pgss = (pg1[0] - pg0[0], pg1[1] - pg0[1])
    return window


async def sweep(dsn: str, variants: list, pools: dict[str, list[runner.Request]], config: SweepConfig,
                server_pid: int | None, progress=None) -> list[Window]:
    """Every pass, level and variant (see the module's docstring); the windows in order."""
    levels = sorted(config.connections)
    conns = await runner._connect(dsn, max(levels))
    admin = (await runner._connect(dsn, 1))[0]
    try:
        if await _pgss(admin) is None:
            await admin.close()
            admin = None
        await runner.analyze(conns[0], variants)
        windows = []
        for index in range(config.windows):
            order = levels if index % 2 == 0 else levels[::-1]
            for step, n in enumerate(order):
                rotation = (index * len(levels) + step) % len(variants)
                for variant in variants[rotation:] + variants[:rotation]:
                    window = Window(variant.name, n, index)
                    windows.append(await measure_window(conns, pools[variant.name], window, config, server_pid,
                                                        admin))
                    if progress:
                        progress()
        return windows
    finally:
        await runner._close(conns + ([admin] if admin else []))


def client_cpus_pinned(layout: dict):
    """Pin this process (the client) to the load CPUs of a pinned split; returns a function
    that gives it its CPUs back."""
    if not layout.get("pinned"):
        return lambda: None
    original = os.sched_getaffinity(0)
    os.sched_setaffinity(0, layout["load_cpus"])
    return lambda: os.sched_setaffinity(0, original)
