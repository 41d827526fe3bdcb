"""Other work on the machine during a benchmark (bench/core/contention.py), measured for
real: a process outside the harness's tree is counted as other work, the harness's own
children (exited ones too, as Locust's processes are by the end of a load test) are not."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import psutil

from bench.core import contention

BURN_S = 2.0  # CPU seconds each burner spends, however long the machine makes it take
BURN = f"import time\nt = time.process_time()\nwhile time.process_time() - t < {BURN_S}: pass\n"


def cpu_seconds(share: dict, key: str) -> float:
    return share[key] / 100 * share["cpus"] * share["seconds"]


def test_a_process_outside_the_harness_is_other_work():
    # `sh -c 'python ... & echo $!'` exits at once: the burner is orphaned, no longer our descendant
    before = contention.mark(None)
    started = subprocess.run(["sh", "-c", f'"{sys.executable}" -c "$0" >/dev/null & echo $!', BURN],
                             check=True, capture_output=True, text=True)
    burner = int(started.stdout.split()[0])
    deadline = time.monotonic() + 60
    while psutil.pid_exists(burner) and time.monotonic() < deadline:
        time.sleep(0.1)
    share = contention.other_work(before, contention.mark(None))
    assert cpu_seconds(share, "other_cpu_percent") >= 0.8 * BURN_S, share
    assert share["cpus"] == psutil.cpu_count() and share["server_cpu_percent"] == 0


def test_the_harness_and_its_children_that_have_exited_are_not_other_work():
    before = contention.mark(None)
    subprocess.run([sys.executable, "-c", BURN], check=True)  # a child, reaped before the mark
    share = contention.other_work(before, contention.mark(None))
    assert cpu_seconds(share, "harness_cpu_percent") >= 0.95 * BURN_S, share


def test_the_server_tree_counts_its_backends(db_dsn):
    """The server's share: its postmaster found from the connection, a backend's query
    counted as the server's, not as the harness's or other work."""
    import psycopg

    with psycopg.connect(db_dsn, autocommit=True) as conn:
        postmaster = contention.local_postmaster(conn)
        assert postmaster is not None and "postgres" in postmaster.name() and postmaster.pid != os.getpid()
        before = contention.mark(postmaster)
        conn.execute("SELECT count(*) FROM generate_series(1, 5000000)").fetchone()
        share = contention.other_work(before, contention.mark(postmaster))
    server_s = share["server_cpu_percent"] / 100 * share["cpus"] * share["seconds"]
    assert server_s >= 0.1 and share["server_cpu_percent"] > share["harness_cpu_percent"], share
