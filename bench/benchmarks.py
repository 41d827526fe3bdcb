"""Every benchmark, in the order `bench all` runs them. A new benchmark is one package
(with a Benchmark, see bench/session.py) and one line here."""

from __future__ import annotations

from bench.latency.benchmark import LATENCY
from bench.loadtest.benchmark import LOAD
from bench.maintenance.benchmark import MAINTENANCE
from bench.security.benchmark import SECURITY
from bench.session import Benchmark
from bench.storage.benchmark import STORAGE
from bench.throughput.benchmark import THROUGHPUT
from bench.vector.benchmark import VECTOR

REGISTRY: dict[str, Benchmark] = {b.name: b for b in (LATENCY, STORAGE, SECURITY, VECTOR, LOAD, MAINTENANCE,
                                                      THROUGHPUT)}
# `bench run latency` measures the storage claim too, as it always has (both come from the seed).
ALSO_RUNS = {"latency": ("storage", "maintenance")}  # maintenance: the write bill beside the reads
