"""`bench run overhead`: the runner's own cost, measured against pgbench on one server.

pgbench's built-in select-only script (`-S`: one `SELECT abalance FROM pgbench_accounts
WHERE aid = :aid` per transaction) and our asyncpg client on the same statement, at the
same concurrency, in the same scratch database (`<db>_overhead`, marked as the
harness's by its comment; one of that name it did not create is refused). Our side runs
in P processes (one asyncpg process runs out of CPU before pgbench does; `bench run
overhead --processes 1` shows by how much), so the ratio is ours / pgbench's throughput. A second figure shows a full
harness request (one transaction with the identity set_config), which is what scenarios
pay. Printed only.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import re
import subprocess
import time

import asyncpg
import numpy as np
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from bench.core import database, ownership
from bench.core import dsn as dsns
from bench.core.errors import BenchError
from bench.core.server import install_dir

SCRATCH_SUFFIX = "_overhead"
PGBENCH_SCALE = 10  # 1M accounts: pgbench's figures at a size that is not all in CPU cache
QUERY = "SELECT abalance FROM pgbench_accounts WHERE aid = $1"
SETUP = "SELECT set_config('search_path', 'public', true), set_config('request.jwt.claims', $1, true)"


def pgbench_binary() -> str:
    return str(install_dir() / "bin" / "pgbench")


def _pgbench(dsn: str, *args: str, timeout: float) -> str:
    done = subprocess.run([pgbench_binary(), *args, dsn], capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise BenchError(f"pgbench failed: {dsns.redact(done.stderr.strip().splitlines()[-1], dsn)}")
    return done.stdout


def pgbench_tps(dsn: str, clients: int, seconds: int) -> float:
    output = _pgbench(dsn, "-S", "-n", "-c", str(clients), "-j", str(clients), "-T", str(seconds), timeout=seconds + 60)
    match = re.search(r"tps = ([\d.]+) \(without initial connection time\)", output)
    if not match:
        raise BenchError("pgbench printed no tps line")
    return float(match[1])


async def _client(dsn: str, connections: int, seconds: float, full_request: bool, seed: int) -> int:
    conns = [await asyncpg.connect(**dsns.asyncpg_kwargs(dsn)) for _ in range(connections)]
    rng = np.random.default_rng(seed)
    accounts = PGBENCH_SCALE * 100_000
    deadline = time.perf_counter() + seconds
    done = 0

    async def worker(conn):
        nonlocal done
        ids = rng.integers(1, accounts + 1, 1_000_000).tolist()
        i = 0
        while time.perf_counter() < deadline:
            if full_request:
                async with conn.transaction():
                    await conn.execute(SETUP, '{"role": "service_role"}')
                    await conn.fetchval(QUERY, ids[i % len(ids)])
            else:
                await conn.fetchval(QUERY, ids[i % len(ids)])
            i += 1
            done += 1

    try:
        await asyncio.gather(*(worker(c) for c in conns))
    finally:
        for conn in conns:
            await conn.close()
    return done


def _process(args) -> int:
    dsn, connections, seconds, full_request, seed = args
    return asyncio.run(_client(dsn, connections, seconds, full_request, seed))


def ours_tps(dsn: str, clients: int, seconds: int, processes: int, full_request: bool) -> float:
    processes = max(1, min(processes, clients))
    shares = [clients // processes + (1 if i < clients % processes else 0) for i in range(processes)]
    jobs = [(dsn, n, seconds, full_request, i) for i, n in enumerate(shares)]
    if processes == 1:
        return _process(jobs[0]) / seconds
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        return sum(pool.map(_process, jobs)) / seconds


def run(admin_dsn: str, clients: list[int], seconds: int, processes: int) -> list[dict]:
    scratch = conninfo_to_dict(admin_dsn).get("dbname", "bench") + SCRATCH_SUFFIX
    with database.connect(admin_dsn) as admin:  # someone else's database of that name is refused
        ownership.create_scratch_database(admin, scratch)
    dsn = make_conninfo(admin_dsn, dbname=scratch)
    try:
        _pgbench(dsn, "-i", "-q", "-s", str(PGBENCH_SCALE), timeout=600)
        rows = []
        for c in clients:
            base = pgbench_tps(dsn, c, seconds)
            raw = ours_tps(dsn, c, seconds, processes, full_request=False)
            full = ours_tps(dsn, c, seconds, processes, full_request=True)
            rows.append({"clients": c, "processes": min(processes, c), "pgbench_tps": base, "ours_tps": raw,
                         "ratio": raw / base, "full_request_tps": full})
        return rows
    finally:
        with database.connect(admin_dsn) as admin:
            ownership.drop_scratch_database(admin, scratch)
