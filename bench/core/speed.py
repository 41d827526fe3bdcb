"""A fixed workload timed when a run begins, so `bench compare` can say whether the
machine's speed changed between two runs.

Consecutive runs of one commit on this 2-core box moved every latency figure together by
16-23% (docs/decisions.md, "bench compare under machine drift"): the host's speed changes
between states, and the figures of one run cannot see it. This workload does not depend on
the harness, the schema or the server, so a change in its time is the machine's. Two
parts: a pure-Python loop (CPU) and random reads over 64 MiB (memory latency, as an HNSW
build or an index scan reads). In the first runs with it the memory part moved with the
figures at about half their size and the CPU part not at all, so a steady probe does not
clear a shift."""

from __future__ import annotations

import statistics
import time

import numpy as np

REPEATS = 5  # the median of 5: one preempted repetition does not move it
LOOP_N = 600_000  # about 25 ms of CPython on this machine
MEMORY_WORDS = 1 << 23  # 64 MiB of int64: beyond any L2/L3 of this class of machine
MEMORY_READS = 1 << 21


def probe() -> dict:
    """Median milliseconds of each part over REPEATS (the loop's time also depends on the
    Python running it: machine() records that, and compare names a change of it)."""
    words = np.arange(MEMORY_WORDS, dtype=np.int64)
    order = np.random.default_rng(0).integers(0, MEMORY_WORDS, MEMORY_READS)
    cpu, memory = [], []
    for _ in range(REPEATS):
        cpu.append(_timed(_loop))
        memory.append(_timed(lambda: int(words[order].sum())))
    return {"cpu_ms": round(statistics.median(cpu), 3), "memory_ms": round(statistics.median(memory), 3),
            "repeats": REPEATS}


def _loop() -> int:
    return sum(i * i % 7 for i in range(LOOP_N))


def _timed(work) -> float:
    began = time.perf_counter()
    work()
    return (time.perf_counter() - began) * 1000


def text(probe: dict) -> str:
    return f"CPU {probe['cpu_ms']:.1f} ms, memory {probe['memory_ms']:.1f} ms (median of {probe['repeats']})"


def change(old: dict | None, new: dict | None) -> dict[str, float] | None:
    """new/old - 1 per part, for runs that both recorded the probe; None otherwise."""
    if not old or not new:
        return None
    parts = {k: new[k] / old[k] - 1 for k in ("cpu_ms", "memory_ms") if old.get(k) and new.get(k)}
    return parts or None
