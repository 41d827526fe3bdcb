"""Timing vector searches with asyncpg: index builds, sweeps, filtered search.

One index exists at a time on the scratch table. Its sweep: a pre-pass (unrecorded,
also the warm-up) walks the settings cheapest first and stops at the first that reaches
the highest target recall, since costlier settings only add work (the comparison
interpolates between that setting and the one before it, bench/vector/matched.py);
then `rounds` rounds, each running one batch of the held-out queries under every kept
setting (rotating their order round by round), one client, closed loop, so every
setting sees every query once and round r uses the same batch for every configuration
(paired rounds). Then throughput with N concurrent clients per setting. Only the awaited
call is timed (time.perf_counter_ns); every latency goes into an HDR histogram.

Filtered search runs the app's query shape (top-k within one filter value) with
pgvector 0.8's iterative index scans off / strict_order / relaxed_order; on RLS
variants as a signed-in user through bench.core.identity (one transaction per request, as
the latency runner), where the policy is (part of) the filter.

Needs: pgvector >= 0.8 (iterative scans, halfvec, binary_quantize), asyncpg.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from dataclasses import dataclass, field

import numpy as np
import psycopg

from bench.core import identity
from bench.core.schema import Variant
from bench.judge import stats
from bench.latency import runner
from bench.vector.configs import IndexConfig, Setting
from bench.vector.dataset import TABLE, FilterCase, Queries
from bench.vector.truth import Neighbours, recall_at_k

SEQSCAN_OFF = (("enable_seqscan", "off"),)  # measure the index, not an exact scan


# ---- index builds ------------------------------------------------------------------------------
def index_name(config: IndexConfig) -> str:
    return f"bv_{config.name}"[:63]


def build_index(conn: psycopg.Connection, config: IndexConfig, dim: int, rows: int, build_settings: dict,
                predicate: str = "") -> dict:
    """CREATE INDEX on the scratch table with the build settings set for it; time, size,
    the settings the server really used, and pgvector's notices (e.g. the HNSW graph
    outgrowing maintenance_work_mem)."""
    name = index_name(config)
    ddl = config.index_ddl(TABLE, name, dim, rows, predicate)
    notices: list[str] = []
    handler = lambda diag: notices.append(diag.message_primary or "")  # noqa: E731
    conn.execute(f"DROP INDEX IF EXISTS bench_vector.{name}")
    conn.add_notice_handler(handler)
    try:
        with conn.transaction():
            for setting, value in build_settings.items():
                conn.execute("SELECT set_config(%s, %s, true)", (setting, str(value)))
            used = dict(conn.execute("SELECT name, current_setting(name) FROM pg_settings WHERE name = ANY(%s)",
                                     (["maintenance_work_mem", "max_parallel_maintenance_workers", "work_mem"],)))
            began = time.perf_counter()
            conn.execute(ddl)
        seconds = time.perf_counter() - began
    finally:
        conn.remove_notice_handler(handler)
    size = conn.execute("SELECT pg_relation_size(%s::regclass)", (f"bench_vector.{name}",)).fetchone()[0]
    prewarmed = _prewarm(conn, f"bench_vector.{name}")
    return {"config": config.name, "index": name, "ddl": ddl, "build_s": seconds, "size_bytes": size,
            "settings": used, "notices": notices, "prewarmed": prewarmed}


def _prewarm(conn: psycopg.Connection, relation: str) -> bool:
    """Load the index into shared buffers when pg_prewarm is installed (else the
    unrecorded pre-pass warms what the queries touch)."""
    try:
        if not conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_prewarm'").fetchone():
            return False
        conn.execute("SELECT pg_prewarm(%s::regclass), pg_prewarm(%s::regclass)", (relation, TABLE))
        return True
    except psycopg.Error:
        return False


def drop_index(conn: psycopg.Connection, config: IndexConfig) -> None:
    conn.execute(f"DROP INDEX IF EXISTS bench_vector.{index_name(config)}")


# ---- requests ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Job:
    sql: str
    args: tuple
    setup: identity.Setup | None = None  # a request as a user: in its own transaction


async def _fetch_ids(conn, job: Job) -> list:
    if job.setup is None:
        rows = await conn.fetch(job.sql, *job.args)
    else:
        async with conn.transaction():
            await conn.execute(job.setup.sql, *job.setup.values)
            rows = await conn.fetch(job.sql, *job.args)
    return [r[0] for r in rows]


async def serial(conn, jobs: list[Job], cell: runner.Cell) -> tuple[list, list[float]]:
    """One client: each job after the last; ids per job (None on error), latencies (us)."""
    found, latencies = [], []
    for job in jobs:
        began = time.perf_counter_ns()
        try:
            ids = await _fetch_ids(conn, job)
        except Exception as exc:  # asyncpg errors: counted, never dropped
            cell.add_error(runner._message(exc))
            found.append(None)
            continue
        latency = (time.perf_counter_ns() - began) / 1000
        latencies.append(latency)
        stats.record(cell.histogram, latency)
        cell.rows += len(ids)
        found.append(ids)
    return found, latencies


async def concurrent(conns: list, jobs: list[Job], cell: runner.Cell) -> float:
    """Closed loop over len(conns) clients; returns the wall time."""
    pending = iter(jobs)

    async def worker(conn):
        for job in pending:
            began = time.perf_counter_ns()
            try:
                await _fetch_ids(conn, job)
            except Exception as exc:
                cell.add_error(runner._message(exc))
                continue
            stats.record(cell.histogram, (time.perf_counter_ns() - began) / 1000)

    began = time.perf_counter()
    await asyncio.gather(*(worker(c) for c in conns))
    return time.perf_counter() - began


async def set_session(conns: list, gucs) -> None:
    for conn in conns:
        for name, value in gucs:
            await conn.execute("SELECT set_config($1, $2, false)", name, str(value))


# ---- one index's sweep -----------------------------------------------------------------------------
@dataclass
class SweepPlan:
    config: IndexConfig
    sql: str
    settings: list[Setting]
    batches: list[np.ndarray]  # query positions per round
    prepass: list[int]
    stop_recall: float  # the pre-pass stops at the first setting reaching this
    clients: list[int]
    throughput_queries: int
    k: int


@dataclass
class SweepResult:
    points: list[dict]
    prepass: list[dict]
    pruned_after: str | None  # the last setting kept, when the pre-pass cut the sweep
    seconds: float = 0.0
    found: dict = field(default_factory=dict)
    extended: list = field(default_factory=list)  # settings measured after the rounds (pre-pass fell short)


def _jobs(plan: SweepPlan, setting: Setting, queries: Queries, positions) -> list[Job]:
    return [Job(plan.sql, (queries.vectors[i], *setting.query_args)) for i in positions]


async def sweep(dsn: str, plan: SweepPlan, queries: Queries, truth: list[Neighbours]) -> SweepResult:
    began = time.perf_counter()
    conns = await runner._connect(dsn, max(plan.clients + [1]))
    try:
        await set_session(conns, SEQSCAN_OFF)
        main = conns[0]
        # pre-pass: warm-up, and where the sweep can stop
        kept, prepass = [], []
        for setting in plan.settings:
            kept.append(setting)
            await set_session([main], setting.gucs)
            scratch = runner.Cell()
            found, _ = await serial(main, _jobs(plan, setting, queries, plan.prepass), scratch)
            rec = _mean_recall(found, [truth[i] for i in plan.prepass], plan.k)
            prepass.append({"setting": setting.label, "recall": rec, "queries": len(plan.prepass)})
            if rec is None:  # every query failed: the rounds will count the errors
                break
            if rec >= plan.stop_recall:
                break
        # rounds: every kept setting runs round r's batch, in rotating order
        cells = {s.label: runner.Cell() for s in plan.settings}
        found_all = {s.label: [None] * len(queries) for s in plan.settings}
        await _rounds(main, plan, kept, queries, cells, found_all)
        # the pre-pass saw a subset: if no kept setting reaches the top target on all
        # queries, measure the next settings (same batches) until one does
        extended = []
        while len(kept) < len(plan.settings):
            full = [_mean_recall(found_all[s.label], truth, plan.k) for s in kept]
            if any(r is None for r in full) or any(r >= plan.stop_recall for r in full):
                break
            more = plan.settings[len(kept)]
            kept.append(more)
            extended.append(more.label)
            await _rounds(main, plan, [more], queries, cells, found_all)
        pruned = kept[-1].label if len(kept) < len(plan.settings) else None
        # throughput at N clients
        many = {}
        subset = list(range(min(plan.throughput_queries, len(queries))))
        for n in (c for c in plan.clients if c > 1):
            for setting in kept:
                await set_session(conns[:n], setting.gucs)
                cell = runner.Cell()
                cell.seconds = await concurrent(conns[:n], _jobs(plan, setting, queries, subset), cell)
                many[(setting.label, n)] = cell
        points = []
        for setting in kept:
            cell = cells[setting.label]
            found = found_all[setting.label]
            throughput = [_throughput(cell, 1)] + [_throughput(many[(setting.label, n)], n)
                                                   for n in plan.clients if n > 1]
            points.append({
                "config": plan.config.name, "setting": setting.label, "param": setting.param, "value": setting.value,
                "recall": _mean_recall(found, truth, plan.k), "queries": sum(f is not None for f in found),
                "latency": stats.summary(cell.histogram, cell.seconds), "hdr": stats.encode(cell.histogram),
                "round_medians_ms": cell.round_medians_ms, "round_means_ms": cell.round_means_ms,
                "throughput": throughput, "errors": cell.errors + sum(many[(setting.label, n)].errors
                                                                      for n in plan.clients if n > 1),
                "error_samples": cell.error_samples,
            })
        return SweepResult(points, prepass, pruned, time.perf_counter() - began, found_all, extended)
    finally:
        for conn in conns:
            await conn.close()


async def _rounds(conn, plan: SweepPlan, settings: list[Setting], queries: Queries, cells: dict, found_all: dict):
    """Round r runs batch r under every setting, in an order rotating by round."""
    for r, batch in enumerate(plan.batches):
        order = settings[r % len(settings):] + settings[:r % len(settings)]
        for setting in order:
            await set_session([conn], setting.gucs)
            cell = cells[setting.label]
            t0 = time.perf_counter()
            found, latencies = await serial(conn, _jobs(plan, setting, queries, batch), cell)
            cell.seconds += time.perf_counter() - t0
            for pos, ids in zip(batch, found):
                found_all[setting.label][pos] = ids
            if latencies:
                cell.round_medians_ms.append(float(np.median(latencies)) / 1000)
                cell.round_means_ms.append(float(np.mean(latencies)) / 1000)


def _throughput(cell: runner.Cell, clients: int) -> dict:
    summary = stats.summary(cell.histogram, cell.seconds)
    return {"clients": clients, "throughput_rps": summary.get("throughput_rps"), "p50_ms": summary.get("p50_ms"),
            "p99_ms": summary.get("p99_ms"), "count": summary.get("count", 0), "errors": cell.errors}


def _mean_recall(found: list, truth: list[Neighbours], k: int) -> float | None:
    """Mean recall over the queries that returned (None when every one failed)."""
    pairs = [(f, t.ids) for f, t in zip(found, truth) if f is not None]
    if not pairs:
        return None
    return float(recall_at_k([f for f, _ in pairs], [t for _, t in pairs], k).mean())


# ---- the interleaved phase ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Arm:
    """One (configuration, setting) of the interleaved comparison; its index exists."""
    config: str
    setting: Setting
    sql: str

    @property
    def key(self) -> tuple[str, str]:
        return (self.config, self.setting.label)


async def interleaved(dsn: str, arms: list[Arm], queries: Queries, batches: list[np.ndarray],
                      truth: list[Neighbours], k: int, warmup: int = 20,
                      passes: int = 1) -> dict[tuple[str, str], dict]:
    """Round r runs batch r under every arm, in an order rotating by round, so that
    machine noise and cache state hit every configuration alike (one client). With
    `passes` > 1 the rounds run again (the rotation shifted by one per pass) and round r's
    figures are the mean over passes: timing noise dominates a round's ratio (about three
    quarters of its variance, docs/decisions.md), and this averages it where it arises."""
    conns = await runner._connect(dsn, 1)
    main = conns[0]
    try:
        await set_session([main], SEQSCAN_OFF)
        for arm in arms:  # unrecorded: the last sweep's index may have pushed the others out of cache
            await set_session([main], arm.setting.gucs)
            await serial(main, [Job(arm.sql, (queries.vectors[i], *arm.setting.query_args))
                                for i in range(min(warmup, len(queries)))], runner.Cell())
        cells = {arm.key: runner.Cell() for arm in arms}
        found = {arm.key: [None] * len(queries) for arm in arms}
        for turn, batch in [(r + p, b) for p in range(passes) for r, b in enumerate(batches)]:
            turn %= len(arms)
            for arm in arms[turn:] + arms[:turn]:
                await set_session([main], arm.setting.gucs)
                cell = cells[arm.key]
                t0 = time.perf_counter()
                got, latencies = await serial(main, [Job(arm.sql, (queries.vectors[i], *arm.setting.query_args))
                                                     for i in batch], cell)
                cell.seconds += time.perf_counter() - t0
                for pos, ids in zip(batch, got):
                    found[arm.key][pos] = ids
                if latencies:
                    cell.round_medians_ms.append(float(np.median(latencies)) / 1000)
                    cell.round_means_ms.append(float(np.mean(latencies)) / 1000)
    finally:
        await main.close()
    return {key: {"config": key[0], "setting": key[1], "recall": _mean_recall(found[key], truth, k),
                  "latency": stats.summary(cell.histogram, cell.seconds), "hdr": stats.encode(cell.histogram),
                  "round_medians_ms": _per_batch(cell.round_medians_ms, len(batches)),
                  "round_means_ms": _per_batch(cell.round_means_ms, len(batches)), "passes": passes,
                  "errors": cell.errors, "error_samples": cell.error_samples}
            for key, cell in cells.items()}


def _per_batch(values: list[float], batches: int) -> list[float]:
    """Per-round figures of several passes (pass-major) as one mean per query batch; as
    they are when a batch lost a round to errors (then the rounds no longer pair up)."""
    if not values or len(values) % batches:
        return values
    return np.asarray(values, float).reshape(-1, batches).mean(axis=0).tolist()


# ---- filtered search ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class FilteredRun:
    """One filter case under one iterative-scan mode: its jobs and what to check."""
    label: dict  # what the record says about it (config, setting, mode, ...)
    case: FilterCase
    jobs: list[Job]
    truth: list[Neighbours]
    to_scratch_id: dict | None = None  # RLS: returned uuids -> scratch ids
    orgs: dict | None = None  # scratch id -> organization (leak check)
    user_orgs: list[str] | None = None
    gucs: tuple = ()  # session settings for the run (scratch table); RLS sets them per request


async def filtered(dsn: str, runs: list[FilteredRun], k: int) -> list[dict]:
    """Each run once, one client, in order; recall, short results, leaks, latency."""
    conns = await runner._connect(dsn, 1)
    conn = conns[0]
    out = []
    try:
        for run in runs:
            await set_session([conn], run.gucs)
            cell = runner.Cell()
            t0 = time.perf_counter()
            found, _ = await serial(conn, run.jobs, cell)
            cell.seconds = time.perf_counter() - t0
            out.append(_filtered_record(run, found, cell, k))
    finally:
        await conn.close()
    return out


def _filtered_record(run: FilteredRun, found: list, cell: runner.Cell, k: int) -> dict:
    ok = [(i, f) for i, f in enumerate(found) if f is not None]
    leaks = 0
    if run.to_scratch_id is not None:
        converted = []
        for i, f in ok:
            ids = [run.to_scratch_id.get(str(u), -1) for u in f]
            leaks += sum(1 for d in ids if run.orgs.get(d) != run.user_orgs[i])
            converted.append((i, ids))
        ok = converted
    wanted = [min(k, len(run.truth[i].ids)) for i, _ in ok]
    counts = [len(f) for _, f in ok]
    rec = recall_at_k([f for _, f in ok], [run.truth[i].ids for i, _ in ok], k) if ok else np.array([])
    return {**run.label, **run.case.describe(), "queries": len(found),
            "recall": float(rec.mean()) if len(rec) else None,
            "short_share": float(np.mean([c < w for c, w in zip(counts, wanted)])) if ok else None,
            "empty_share": float(np.mean([c == 0 for c in counts])) if ok else None,
            "mean_rows": float(np.mean(counts)) if ok else None, "leaks": leaks,
            "latency": stats.summary(cell.histogram, cell.seconds), "errors": cell.errors,
            "error_samples": cell.error_samples}


def scratch_runs(config: IndexConfig, setting: Setting, sql: str, cases: list[FilterCase], queries: Queries,
                 truth: dict, modes: tuple[str, ...]) -> list[FilteredRun]:
    runs = []
    for case in cases:
        for mode in modes:
            gucs = SEQSCAN_OFF + setting.gucs + config.iterative_gucs(mode)
            tag = f"/* vector {config.name} {case.column} {case.selectivity} */ "
            jobs = [Job(tag + sql, (queries.vectors[q], v, *setting.query_args))
                    for q, v in zip(case.query_index, case.values)]
            runs.append(FilteredRun({"table": TABLE, "config": config.name, "setting": setting.label, "mode": mode,
                                     "as_user": False},
                                    case, jobs, [truth[(case.column, v, int(queries.ids[q]))]
                                                 for q, v in zip(case.query_index, case.values)], gucs=gucs))
    return runs


RLS_SQL = {  # as the app sends them on an RLS variant: the policy adds the tenant filter
    "knowledge_base_id": "SELECT id::text FROM documents WHERE knowledge_base_id = $2::uuid{live} "
                         "ORDER BY embedding_vector <=> $1 LIMIT {k}",
    "organization_id": "SELECT id::text FROM documents{where_live} ORDER BY embedding_vector <=> $1 LIMIT {k}",
}


def rls_sql(column: str, k: int, soft_delete: bool) -> str:
    return RLS_SQL[column].format(k=k, live=" AND deleted_at IS NULL" if soft_delete else "",
                                  where_live=" WHERE deleted_at IS NULL" if soft_delete else "")


def rls_runs(variant: Variant, cases: list[FilterCase], queries: Queries, truth: dict, users_by_org: dict,
             settings: tuple, modes: tuple[str, ...], k: int, soft_delete: bool, to_scratch_id: dict,
             orgs: dict) -> list[FilteredRun]:
    runs = []
    for case in cases:
        tag = f"/* vector rls {variant.name} {case.column} {case.selectivity} */ "
        sql = tag + rls_sql(case.column, k, soft_delete)
        for mode in modes:
            gucs = settings + (("hnsw.iterative_scan", mode),)
            jobs, user_orgs = [], []
            for n, (q, value, org) in enumerate(zip(case.query_index, case.values, case.orgs)):
                members = users_by_org.get(org) or [None]
                user = members[n % len(members)]
                args = (queries.vectors[q], value) if case.column == "knowledge_base_id" else (queries.vectors[q],)
                jobs.append(Job(sql, args, identity.request_setup(variant, user, settings=gucs)))
                user_orgs.append(org)
            runs.append(FilteredRun({"table": f"{variant.name}.documents", "variant": variant.name,
                                     "setting": ", ".join(f"{a}={b}" for a, b in settings), "mode": mode,
                                     "as_user": True},
                                    case, jobs, [truth[(case.column, v, int(queries.ids[q]))]
                                                 for q, v in zip(case.query_index, case.values)],
                                    to_scratch_id, orgs, user_orgs))
    return runs


# ---- plans ------------------------------------------------------------------------------------------
def plan_summary(conn: psycopg.Connection, job: Job, gucs=()) -> dict:
    """EXPLAIN (ANALYZE, BUFFERS) of one job (as its user, rolled back): which index or
    scan answered, rows the filter removed, execution time."""
    sql = re.sub(r"\$(\d+)", r"%(p\1)s", job.sql)
    params = {f"p{i + 1}": _plain(a) for i, a in enumerate(job.args)}
    try:
        with conn.transaction(force_rollback=True):
            if job.setup is not None:
                conn.execute(job.setup.psycopg_sql, job.setup.values)
            for name, value in gucs:
                conn.execute("SELECT set_config(%s, %s, true)", (name, str(value)))
            plan = conn.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql, params).fetchone()[0]
    except psycopg.Error as exc:
        return {"error": runner._message(exc)}
    top = plan[0] if isinstance(plan, list) else json.loads(plan)[0]
    nodes = list(_walk(top["Plan"]))
    scans = [n for n in nodes if "Scan" in n.get("Node Type", "")]
    index = next((n["Index Name"] for n in nodes if n.get("Index Name")), None)
    method = None
    if index:
        row = conn.execute("SELECT am.amname FROM pg_class c JOIN pg_am am ON am.oid = c.relam "
                           "WHERE c.relname = %s AND c.relkind = 'i' LIMIT 1", (index,)).fetchone()
        method = row[0] if row else None
    return {"scan": scans[0]["Node Type"] if scans else top["Plan"]["Node Type"], "index": index,
            "index_method": method, "sorted": any(n.get("Node Type") in ("Sort", "Incremental Sort") for n in nodes),
            "rows_removed_by_filter": sum(n.get("Rows Removed by Filter", 0) for n in nodes),
            "execution_ms": top.get("Execution Time")}


def _walk(node: dict):
    yield node
    for child in node.get("Plans", []):
        yield from _walk(child)


def _plain(value):
    from pgvector import Vector

    return Vector(value) if isinstance(value, np.ndarray) else value
