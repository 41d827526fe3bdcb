"""What a result was measured on: captured from the machine and the server, never typed.

Goes into results.json and the report's environment section, so two runs can be told
apart (and `bench compare` can refuse to compare unlike runs).
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import psutil

from bench.core import dsn as dsns
from bench.core import speed
from bench.core.config import PROJECT_ROOT

# Server settings that change benchmark results; the server's real values are recorded.
RECORDED_SETTINGS = (
    "shared_buffers", "effective_cache_size", "work_mem", "maintenance_work_mem", "max_connections",
    "shared_preload_libraries", "synchronous_commit", "fsync", "jit", "max_wal_size",
    "max_parallel_workers_per_gather", "max_parallel_maintenance_workers", "random_page_cost",
    "huge_pages", "lc_collate", "server_encoding",
)


def capture(conn, dsn: str, versions: dict) -> dict:
    rows = conn.execute(
        "SELECT name, current_setting(name) FROM pg_settings WHERE name = ANY(%s) ORDER BY name",
        (list(RECORDED_SETTINGS),),
    ).fetchall()
    settings = dict(rows)
    return {
        "server": {"dsn": dsns.mask(dsn), "where": dsns.describe(dsn), **versions, "settings": settings},
        "machine": machine(),
        "harness": harness(),
    }


def machine() -> dict:
    memory = psutil.virtual_memory()
    return {
        "cpu_count": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "memory_bytes": memory.total,
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        # what else ran when the run began (1, 5, 15 minutes): absolute latencies of a busy
        # machine are not this machine's (the avg_latency claim moved with it, 2026-12-02)
        "load_average": [round(x, 2) for x in os.getloadavg()],
        # the share of all CPUs in use over the second before the run: unlike the load average
        # it does not remember the last minute, which after `bench all`'s own seeding read
        # 1.66-2.05 on 2 idle CPUs (three runs, 2026-12-03)
        "cpu_busy_percent": round(psutil.cpu_percent(interval=BUSY_SAMPLE_S), 1),
        # a fixed workload's time: bench compare reads a change of it as the machine's (speed.py)
        "speed_probe": speed.probe(),
    }


BUSY_SAMPLE_S = 1.0


def started_busy(machine: dict) -> bool:
    """Whether other work used at least half the CPUs when the run began: absolute latencies
    are then a slower machine's. Read from the CPU sample where recorded, else from the
    1-minute load average (runs recorded before the sample). False when neither is."""
    busy = machine.get("cpu_busy_percent")
    if busy is not None:
        return busy >= 50
    load = (machine.get("load_average") or [None])[0]
    return load is not None and load >= (machine.get("cpu_count") or 1) / 2


def start_load_text(machine: dict) -> str:
    """What the machine was doing when the run began, as the busy flag read it."""
    load = (machine.get("load_average") or [None])[0]
    cpus = machine.get("cpu_count") or "?"
    if machine.get("cpu_busy_percent") is not None:
        return f"{machine['cpu_busy_percent']:g}% of {cpus} CPUs in use" + (
            f" (load average {load:g})" if load is not None else "")
    return "unknown" if load is None else f"load average {load:g} on {cpus} CPUs"


def harness() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    try:
        tool_version = version("pgvector-bench")
    except PackageNotFoundError:
        tool_version = "unknown"
    return {"version": tool_version, **_git()}


def _git() -> dict:
    def git(*args):
        done = subprocess.run(["git", "-C", str(PROJECT_ROOT), *args], capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    dirty = git("status", "--porcelain", "--untracked-files=no")
    return {"git_commit": commit, "git_dirty": bool(dirty) if dirty is not None else None}


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"

