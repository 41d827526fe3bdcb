"""Which CPUs the harness and the server under test may run on (recorded in every run)."""

from __future__ import annotations

import os

import psutil


def cpu_layout(server_pid: int | None) -> dict:
    """Where the runner and server may run. Not pinned (see docs/decisions.md): the
    interleaved rounds spread placement noise over every variant alike."""
    layout = {"runner_cpus": sorted(os.sched_getaffinity(0)), "pinned": False, "cpu_count": os.cpu_count()}
    if server_pid:
        try:
            layout["server_cpus"] = sorted(psutil.Process(server_pid).cpu_affinity())
        except (psutil.Error, AttributeError):
            layout["server_cpus"] = None
    return layout
