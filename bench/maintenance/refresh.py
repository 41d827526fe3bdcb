"""REFRESH MATERIALIZED VIEW mv_capability_stats, timed per variant that has the view.

Each refresh runs in its own transaction and is rolled back (the view's rows stay as
seeded, as the latency runner's writes do), after one unrecorded warm-up. Two modes:
CONCURRENTLY (readers keep reading the old rows; needs a unique index on the view) and
plain (locks the view against readers until it ends). A concurrent refresh refused for want
of a unique index is the schema's finding, not a fault of the run.
"""

from __future__ import annotations

import time

import psycopg

from bench.judge import stats

VIEW = "mv_capability_stats"
MODES = ("concurrently", "plain")
# How often a job might refresh: the view is that stale at worst, and one backend spends
# refresh time / interval of its time refreshing.
INTERVALS_S = (60, 300, 3600)
NO_UNIQUE_INDEX = "no unique index on the view: REFRESH ... CONCURRENTLY is refused (only a plain refresh, which " \
                  "blocks readers, can run)"


def section(conn: psycopg.Connection, variants: list[str], repeats: int) -> dict:
    records = []
    for variant in variants:
        if not _has_view(conn, variant):
            continue
        unique = _has_unique_index(conn, variant)
        rows = conn.execute(f'SELECT count(*) FROM "{variant}".{VIEW}').fetchone()[0]
        for mode in MODES:
            records.append({"variant": variant, "view": VIEW, "mode": mode, "rows": rows,
                            **_timed(conn, variant, mode, repeats, unique)})
    return {"config": {"repeats": repeats, "intervals_s": list(INTERVALS_S)}, "refreshes": records,
            "staleness": STALENESS, "verdicts": []}


STALENESS = ("capability_stats reads mv_capability_stats on the variants that have it: its rows are as old as the "
             "last refresh. A refresh every N seconds bounds the staleness at N seconds and costs one backend "
             "refresh time / N of its time (`duty` per N in results.json); baseline aggregates live on every request and is "
             "never stale.")


def _has_view(conn: psycopg.Connection, variant: str) -> bool:
    return bool(conn.execute("SELECT 1 FROM pg_matviews WHERE schemaname = %s AND matviewname = %s",
                             (variant, VIEW)).fetchone())


def _has_unique_index(conn: psycopg.Connection, variant: str) -> bool:
    return bool(conn.execute("SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n "
                             "ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = %s AND i.indisunique "
                             "AND i.indpred IS NULL AND i.indexprs IS NULL", (variant, VIEW)).fetchone())


def _timed(conn: psycopg.Connection, variant: str, mode: str, repeats: int, unique: bool) -> dict:
    """{ok, times_ms, count, median_ms, mean (95% interval)} or {ok: False, error, known}."""
    sql = f'REFRESH MATERIALIZED VIEW {"CONCURRENTLY " if mode == "concurrently" else ""}"{variant}".{VIEW}'
    times = []
    for attempt in range(repeats + 1):  # the first is a warm-up
        try:
            seconds = _once(conn, sql)
        except psycopg.DatabaseError as exc:  # e.g. a concurrent refresh without a unique index
            if conn.closed or (exc.sqlstate or "").startswith(("08", "57P")):  # the connection, not the refresh
                raise
            known = mode == "concurrently" and not unique
            return {"ok": False, "error": str(exc).splitlines()[0], "known": NO_UNIQUE_INDEX if known else None}
        if attempt:
            times.append(seconds * 1000)
    mean = stats.bootstrap_mean(times)
    return {"ok": True, "count": len(times), "times_ms": times, "median_ms": float(sorted(times)[len(times) // 2]),
            "mean_ms": mean.as_dict(),
            "duty": {str(s): mean.estimate / 1000 / s for s in INTERVALS_S}}


def _once(conn: psycopg.Connection, sql: str) -> float:
    with conn.transaction(force_rollback=True):
        began = time.perf_counter()
        conn.execute(sql)
        return time.perf_counter() - began


def faults(section: dict) -> list[str]:
    """Refreshes that failed for another reason than the schema's known lack of a unique index."""
    return [f"{r['variant']}: REFRESH {r['mode']} failed: {r['error']}" for r in section.get("refreshes", [])
            if not r["ok"] and not r.get("known")]
