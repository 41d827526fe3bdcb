"""Connections are a real limit: how many each load process may pool.

The server has `max_connections` slots, some reserved for superusers; other clients
already hold some. Every process that simulates users pools `pool_size` connections and
holds one more for the tenant check; the master holds one for sampling. All of them
together must fit, with CONNECTION_MARGIN left for an administrator.
"""

from __future__ import annotations

import psycopg

from bench.core.errors import BenchError

DEFAULT_POOL = 10  # per worker process: a PostgREST-sized pool (its db-pool default)
CONNECTION_MARGIN = 5  # left free for an administrator, the sampler and the harness


def connection_headroom(conn: psycopg.Connection) -> dict:
    """max_connections minus reserved slots and the client connections open now."""
    row = conn.execute(
        "SELECT current_setting('max_connections')::int, current_setting('superuser_reserved_connections')::int, "
        "coalesce(current_setting('reserved_connections', true), '0')::int, "
        "(SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')").fetchone()
    max_conn, su_reserved, reserved, used = row
    return {"max_connections": max_conn, "reserved": su_reserved + reserved, "in_use": used,
            "free": max_conn - su_reserved - reserved - used}


def pool_budget(requested: int, processes: int, headroom: dict) -> int:
    """Connections per process: the requested size (0: DEFAULT_POOL), shrunk so that all
    processes together (each also holding one tenant-check connection) fit in the free
    slots with CONNECTION_MARGIN to spare. Raises when not even one connection each fits."""
    want = requested or DEFAULT_POOL
    fits = (headroom["free"] - CONNECTION_MARGIN) // max(processes, 1) - 1
    if fits < 1:
        raise BenchError(f"max_connections {headroom['max_connections']} leaves no room for {processes} load "
                         f"process(es) ({headroom['in_use']} connections in use); raise it or use fewer workers")
    return min(want, fits)
