"""How much of the machine other work took while a benchmark measured.

A run's figures are this machine's only while nothing else competes for its CPUs. The
one-second CPU sample before a run (environment.machine) misses work that starts or
peaks later: a `make bench` begun beside a `make test` sampled 3.5% and was not flagged,
then compared as 42 latency regressions (2026-12-04). So every benchmark section also
records, over its whole measurement, the CPU time of the machine that was neither the
harness's (this process and its descendants, exited ones included) nor the server's (its
postmaster, live backends and the backends it has reaped): `other_work`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import psutil
import psycopg

from bench.core import environment

# Other work on at least this share of all CPUs, over a benchmark's measurement, makes the
# run "busy": on 2 CPUs, 0.4 of a core (docs/decisions.md has what idle and shared runs measured).
OTHER_BUSY_PERCENT = 20.0
# Measurements shorter than this are not judged: the kernel counts CPU time in ticks of 10 ms,
# and `make bench`'s storage section (0.0 s) read 68.6% other work from a few of them.
MIN_JUDGED_SECONDS = 5.0


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of this machine, all cores."""
    return busy_total(psutil.cpu_times())


def busy_total(times) -> tuple[float, float]:
    """(busy, total) seconds of a psutil.cpu_times() reading (one CPU's or all)."""
    idle = times.idle + getattr(times, "iowait", 0.0)
    total = sum(times)
    return total - idle, total


def tree_seconds(process: psutil.Process | None) -> float:
    """CPU seconds of a process and every descendant: the live ones' own, and what the OS
    adds to a parent for each child it has waited for (a postmaster's ended backends)."""
    if process is None:
        return 0.0
    total = 0.0
    try:
        members = [process, *process.children(recursive=True)]
    except psutil.Error:
        return 0.0
    for member in members:
        try:
            t = member.cpu_times()
        except psutil.Error:
            continue  # ended between the listing and the reading: its parent counts it once reaped
        total += t.user + t.system + t.children_user + t.children_system
    return total


def local_postmaster(conn) -> psutil.Process | None:
    """The server's postmaster when it runs on this machine (its data directory's
    postmaster.pid names a live postgres process here), else None."""
    try:
        folder = conn.execute("SELECT current_setting('data_directory')").fetchone()[0]
        pid = int((Path(folder) / "postmaster.pid").read_text().split()[0])
        process = psutil.Process(pid)
        return process if "postgres" in process.name() else None
    except (psycopg.Error, OSError, ValueError, IndexError, psutil.Error):  # elsewhere, or not readable here
        return None


@dataclass(frozen=True)
class CpuMark:
    wall_s: float
    machine_busy_s: float
    harness_s: float
    server_s: float


def mark(postmaster: psutil.Process | None) -> CpuMark:
    return CpuMark(time.monotonic(), machine_cpu()[0], tree_seconds(psutil.Process()), tree_seconds(postmaster))


def other_work(before: CpuMark, after: CpuMark) -> dict:
    """Shares of all CPUs over the wall time between two marks: the harness's, the
    server's (0 when it runs elsewhere) and everything else's."""
    seconds, cpus = after.wall_s - before.wall_s, psutil.cpu_count() or 1
    capacity = seconds * cpus
    if capacity <= 0:
        return {}
    harness = after.harness_s - before.harness_s
    server = after.server_s - before.server_s
    other = max(0.0, after.machine_busy_s - before.machine_busy_s - harness - server)

    def share(seconds: float) -> float:
        return round(100 * seconds / capacity, 1)

    return {"seconds": round(seconds, 1), "cpus": cpus,
            "harness_cpu_percent": share(harness), "server_cpu_percent": share(server),
            "other_cpu_percent": share(other)}


def busy_notes(results: dict) -> list[str]:
    """Why a run's figures may be a slower machine's: other work on half the CPUs in the
    second before it (environment.started_busy), or on OTHER_BUSY_PERCENT during a benchmark."""
    notes = []
    machine = (results.get("environment") or {}).get("machine") or {}
    if environment.started_busy(machine):
        notes.append(f"at the start: {environment.start_load_text(machine)}")
    for name, other in judged_sections(results).items():
        if other["other_cpu_percent"] >= OTHER_BUSY_PERCENT:
            notes.append(f"during {name}: other work used {other['other_cpu_percent']:g}% of the "
                         f"{other.get('cpus', '?')} CPUs")
    return notes


def judged_sections(results: dict) -> dict[str, dict]:
    """{section: its other_work} for the sections that measured long enough to be judged."""
    return {name: section["other_work"] for name, section in results.items()
            if isinstance(section, dict) and (section.get("other_work") or {}).get("other_cpu_percent") is not None
            and section["other_work"].get("seconds", 0) >= MIN_JUDGED_SECONDS}
