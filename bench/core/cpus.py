"""Which CPUs the harness and the server under test may run on (recorded in every run),
and the split the load test pins them to.

Latency benchmarks are not pinned (see docs/decisions.md): the interleaved rounds spread
placement noise over every variant alike. The load test is: its load generator, busy
with hundreds of simulated users, would otherwise take CPU from the server it measures,
so each step's capacity would depend on where the scheduler put them. `pinned_split`
puts the embedded server on one set of CPUs and hands the load generator the others,
and gives the server its CPUs back afterwards.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import psutil


def cpu_layout(server_pid: int | None) -> dict:
    """Where the runner and server may run (as they are now; nothing is changed)."""
    layout = {"runner_cpus": sorted(os.sched_getaffinity(0)), "pinned": False, "cpu_count": os.cpu_count()}
    if server_pid:
        try:
            layout["server_cpus"] = sorted(psutil.Process(server_pid).cpu_affinity())
        except (psutil.Error, AttributeError):
            layout["server_cpus"] = None
    return layout


def split(cpus: list[int]) -> tuple[list[int], list[int]] | None:
    """(server CPUs, load generator CPUs): the first half to the server, the rest to the
    generator (2 CPUs: server 0, generator 1); None when there is only one CPU."""
    ordered = sorted(cpus)
    if len(ordered) < 2:
        return None
    half = len(ordered) // 2
    return ordered[:half], ordered[half:]


def process_tree(pid: int) -> list[psutil.Process]:
    """A process and its children (a postmaster's backends and helpers)."""
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


def set_affinity(processes: list[psutil.Process], cpus: list[int]) -> None:
    """Pin each process to `cpus`; one that exited meanwhile is skipped (a backend ending)."""
    for p in processes:
        try:
            p.cpu_affinity(cpus)
        except psutil.NoSuchProcess:
            continue


def pin(pid: int, cpus: list[int]) -> None:
    """Pin one process (a load generator just started) to `cpus`."""
    psutil.Process(pid).cpu_affinity(cpus)


@contextmanager
def pinned_split(server_pid: int | None) -> Iterator[dict]:
    """Pin the server's postmaster and its current children to the server CPUs for the
    block (backends forked later inherit the postmaster's set, so pin before the load
    connects); yield the layout, whose `load_cpus` the caller pins its generators to
    (None: not pinned, `reason` says why). Every server process gets the postmaster's
    original CPUs back at the end, backends forked meanwhile included."""
    available = sorted(os.sched_getaffinity(0))
    layout = {"pinned": False, "cpu_count": os.cpu_count(), "available_cpus": available,
              "server_cpus": None, "load_cpus": None, "reason": None}
    halves = split(available)
    if server_pid is None:
        layout["reason"] = "external server (--dsn): its processes are not ours to pin"
    elif halves is None:
        layout["reason"] = f"only {len(available)} CPU available: nothing to split"
    if layout["reason"]:
        yield layout
        return
    server_cpus, load_cpus = halves
    try:
        original = psutil.Process(server_pid).cpu_affinity()
        set_affinity(process_tree(server_pid), server_cpus)
    except psutil.Error as exc:
        layout["reason"] = f"could not pin the server (pid {server_pid}): {exc}"
        yield layout
        return
    layout.update(pinned=True, server_pid=server_pid, server_cpus=server_cpus, load_cpus=load_cpus,
                  server_cpus_before=sorted(original))
    try:
        yield layout
    finally:
        try:
            set_affinity(process_tree(server_pid), original)
        except psutil.NoSuchProcess:
            pass  # the server stopped: nothing to give back
