"""The asyncpg latency runner: `bench run latency`.

The rounds are spread over independent runs (docs/decisions.md, "Repetition where the
variance is"): each run opens new connections (new backends: cold plan and catalog
caches), runs ANALYZE on every variant (fresh planner statistics: ANALYZE samples rows at
random, so plans can differ between deployments of the same data), warms up, then runs
its rounds. For each round, scenario and variant (the variant order rotates every round: A B C,
B C A, C A B, so cache state and machine noise hit every side alike), one batch of
requests with the same parameter sequence for every variant. Closed loop: C connections
each send the next request when the last one returns. Open loop: requests are due at a
fixed rate and latency counts from the *intended* start, so a stall that delays later
requests shows in their latency (no coordinated omission). Every request is one
transaction opened as the scenario's user (bench.core.identity); every latency goes into an
HDR histogram. A query of several statements (a `;` ending a line) runs them in order in
that transaction; the last one's rows are the request's. A heavy scenario's batches may be
smaller than --requests (scenarios/catalog: MAX_REQUESTS). After the rounds: EXPLAIN
(ANALYZE, BUFFERS) once per scenario and variant (writes rolled back) and
pg_stat_statements deltas per cell: snapshots between batches credit each batch's calls
to its own variant, because PostgreSQL 18 jumbles a table by name, not OID, so one SQL
text on two variants' schemas is one queryid. A cell's statement is every queryid with the
plan's statement text: a statement re-analysed after a plan invalidation can get a second
queryid (docs/decisions.md, "pg_stat_statements per cell").

Needs: a seeded database (bench seed), asyncpg, pgvector's asyncpg support.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from dataclasses import dataclass, field

import asyncpg
import numpy as np
from pgvector.asyncpg import register_vector as register_vector_asyncpg

from bench.core import dsn as dsns
from bench.core import identity
from bench.core.errors import BenchError, ConnectionLost
from bench.core.schema import Variant
from bench.judge import stats
from scenarios.base import Scenario
from scenarios.catalog import MAX_REQUESTS

MAX_ERROR_SAMPLES = 3


@dataclass(frozen=True)
class LatencyConfig:
    rounds: int = 6  # in all, spread over the runs
    runs: int = 3  # independent runs (new connections, ANALYZE, warm-up); at most `rounds`
    requests: int = 60  # per scenario, variant and round
    concurrency: int = 4
    warmup: int = 20  # unrecorded requests per scenario and variant before round 1
    mode: str = "closed"  # or "open"
    rate: float = 100.0  # requests per second in open mode
    seed: int = 1

    def run_of_round(self) -> list[int]:
        """The run each round belongs to: rounds spread as evenly as they go (7 over 3: 3, 2, 2)."""
        runs = max(1, min(self.runs, self.rounds))
        return [r for r in range(runs) for _ in range(self.rounds // runs + (r < self.rounds % runs))]


@dataclass
class Cell:
    """What one (scenario, variant) measured over the whole run."""
    histogram: object = field(default_factory=stats.new_histogram)
    round_medians_ms: list[float] = field(default_factory=list)
    round_means_ms: list[float] = field(default_factory=list)
    round_runs: list[int] = field(default_factory=list)  # the run of each round
    round_histograms: list = field(default_factory=list)  # one HDR per round: tails per round for bench compare
    seconds: float = 0.0
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    rows: int = 0
    statements: dict = field(default_factory=dict)  # queryid -> pg_stat_statements counters of this cell's batches
    evicted: set = field(default_factory=set)  # queryids whose entry pg_stat_statements dropped during a batch
    evictions: bool = False  # pg_stat_statements evicted entries (any) during one of this cell's batches
    batch_calls: list = field(default_factory=list)  # per batch: queryid -> calls counted in it
    texts: dict = field(default_factory=dict)  # queryid -> statement text, from its batches' snapshots
    plan: dict = field(default_factory=dict)  # EXPLAIN of one request, after the rounds

    def add_statements(self, before: Snapshot, after: Snapshot) -> None:
        if before.dealloc is not None and after.dealloc is not None and after.dealloc > before.dealloc:
            # an entry dropped and created afresh within the batch can end above its old count (or
            # have had none before): the deltas cannot tell, the server's eviction count can
            self.evictions = True
        counted = {}
        for query_id, now in after.counters.items():
            then = before.counters.get(query_id)
            delta = {k: now[k] - (then[k] if then else 0) for k in now}
            if delta["calls"] < 0:  # evicted (pg_stat_statements.max) and counted afresh: this batch's calls are lost
                self.evicted.add(query_id)
            elif delta["calls"] > 0:
                counted[query_id] = delta["calls"]
                total = self.statements.setdefault(query_id, dict.fromkeys(now, 0))
                for k, v in delta.items():
                    total[k] += v
        self.batch_calls.append(counted)
        self.texts.update(after.texts)

    def statement_totals(self, query_id) -> dict | None:
        """The counters of one statement over this cell's batches, with its mean: those of
        `query_id` and of every queryid with its text (a re-analysis after a plan
        invalidation can give the same statement another queryid: docs/decisions.md).
        `incomplete` when the server evicted an entry during a batch (the counts then miss calls)."""
        text = self.texts.get(query_id)
        ids = sorted(q for q in self.statements if q == query_id or (text is not None and self.texts.get(q) == text))
        if not ids:
            return None
        total = {k: sum(self.statements[q][k] for q in ids) for k in self.statements[ids[0]]}
        return {**total, "mean_exec_ms": total["total_exec_ms"] / total["calls"],
                "incomplete": any(q in self.evicted for q in ids) or self.evictions,
                # where a shortfall of calls against the requests sent happened (one batch or all)
                "calls_per_batch": [sum(batch.get(q, 0) for q in ids) for batch in self.batch_calls],
                "query_ids": ids}

    def add_error(self, message: str) -> None:
        self.errors += 1
        if message not in self.error_samples and len(self.error_samples) < MAX_ERROR_SAMPLES:
            self.error_samples.append(message)


class NoRows(Exception):
    """A write that changed nothing: RLS or a missing policy silently refused it."""


def lost(exc: BaseException) -> bool:
    """A fault of the connection rather than of the request: class 08 (connection
    exception), 57P* (the server shut down or terminated the backend), a dead socket.
    asyncpg's InternalClientError counts too: a backend terminated while its connection was
    idle can leave the protocol mid-state, and the next query fails with it (seen in CI)."""
    if isinstance(exc, (OSError, asyncpg.InterfaceError, asyncpg.InternalClientError)):
        return True
    return isinstance(exc, asyncpg.PostgresError) and (getattr(exc, "sqlstate", None) or "").startswith(("08", "57P"))


def _as_lost(exc: BaseException) -> ConnectionLost:
    return ConnectionLost(f"server connection lost: {_message(exc)}")


@dataclass(frozen=True)
class Request:
    setup: identity.Setup
    sql: str
    values: list
    is_write: bool  # must return a row; rolled back, so the dataset stays as seeded
    before: tuple = ()  # (sql, values) run first in the same transaction (a query of several statements)


STATEMENT_END = re.compile(r";\s*\n")


def split_statements(sql: str, values: list) -> list[tuple[str, list]]:
    """A query's statements (split at a `;` that ends a line), each with its own placeholders
    renumbered from $1: a prepared statement holds one statement. Several are needed where
    one statement cannot see its own writes (a policy checking a row inserted beside it)."""
    out = []
    for part in STATEMENT_END.split(sql.strip()):
        used = sorted({int(n) for n in re.findall(r"\$(\d+)", part)})
        number = {str(old): f"${new}" for new, old in enumerate(used, 1)}
        out.append((re.sub(r"\$(\d+)", lambda m, number=number: number[m[1]], part), [values[n - 1] for n in used]))
    return out


def capped(scenario: Scenario, n: int) -> int:
    """Requests per batch: n, or fewer for a scenario whose one request is heavy
    (scenarios/catalog: MAX_REQUESTS; each request of a batch insert already averages 100 rows)."""
    return min(n, MAX_REQUESTS.get(scenario.name, n))


def requests_for(scenario: Scenario, variant: Variant, population, rng: np.random.Generator, n: int) -> list[Request]:
    query = scenario.query_for(variant)
    out = []
    for _ in range(n):
        params = scenario.params(population, rng)
        user = params.get("user_id") if scenario.as_user else None
        setup = identity.request_setup(variant, user, settings=query.settings)
        # The comment gives each variant its own prepared statement: asyncpg caches by text, and a
        # plan prepared under another variant's search_path may not even have the same row type.
        *before, (sql, values) = [(f"/* {variant.name}.{scenario.name} */ {sql}", values)
                                  for sql, values in split_statements(query.sql, query.values(params))]
        out.append(Request(setup, sql, values, scenario.kind == "write", tuple(before)))
    return out


async def execute(conn: asyncpg.Connection, request: Request) -> int:
    """One request in its own transaction; a write is rolled back (docs/decisions.md:
    every run measures the seeded data, and runs can be compared). A lost connection
    raises ConnectionLost, never a request error."""
    try:
        return await _transaction(conn, request)
    except Exception as exc:
        if lost(exc):
            raise _as_lost(exc) from None
        raise


async def _transaction(conn: asyncpg.Connection, request: Request) -> int:
    transaction = conn.transaction()
    await transaction.start()
    try:
        await conn.execute(request.setup.sql, *request.setup.values)
        for sql, values in request.before:
            await conn.execute(sql, *values)
        rows = await conn.fetch(request.sql, *request.values)
    except BaseException:
        await transaction.rollback()
        raise
    await (transaction.rollback() if request.is_write else transaction.commit())
    if request.is_write and not rows:
        raise NoRows("the write changed no row (refused by RLS or a missing policy)")
    return len(rows)


async def closed_loop(conns: list, requests: list[Request], cell: Cell | None) -> list[float]:
    """Each connection sends its next request when the last returns; latencies in us."""
    pending = iter(requests)
    latencies: list[float] = []

    async def worker(conn):
        for request in pending:
            began = time.perf_counter_ns()
            try:
                rows = await execute(conn, request)
            except (asyncpg.PostgresError, NoRows) as exc:
                if cell:
                    cell.add_error(_message(exc))
                continue
            latencies.append((time.perf_counter_ns() - began) / 1000)
            if cell:
                cell.rows += rows

    _raise_first(await asyncio.gather(*(worker(conn) for conn in conns), return_exceptions=True))
    return latencies


async def open_loop(conns: list, requests: list[Request], rate: float, cell: Cell | None) -> list[float]:
    """Requests due every 1/rate s; latency from the intended start (queueing included)."""
    free: asyncio.Queue = asyncio.Queue()
    for conn in conns:
        free.put_nowait(conn)
    latencies: list[float] = []
    start, interval_ns = time.perf_counter_ns(), 1e9 / rate

    async def fire(request: Request, intended_ns: float):
        conn = await free.get()
        try:
            rows = await execute(conn, request)
            latencies.append((time.perf_counter_ns() - intended_ns) / 1000)
            if cell:
                cell.rows += rows
        except (asyncpg.PostgresError, NoRows) as exc:
            if cell:
                cell.add_error(_message(exc))
        finally:
            free.put_nowait(conn)

    tasks = []
    for i, request in enumerate(requests):
        intended = start + i * interval_ns
        delay = (intended - time.perf_counter_ns()) / 1e9
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(fire(request, intended)))
    _raise_first(await asyncio.gather(*tasks, return_exceptions=True))
    return latencies


def _raise_first(outcomes: list) -> None:
    """Every task has ended (none left to fail unobserved after the run); re-raise the first fault."""
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome


def _message(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return f"{type(exc).__name__}: {text}"


async def _connect(dsn: str, n: int) -> list[asyncpg.Connection]:
    async def one():
        conn = await asyncpg.connect(**dsns.asyncpg_kwargs(dsn))
        await register_vector_asyncpg(conn)
        return conn

    try:
        return [await one() for _ in range(n)]
    except (OSError, asyncpg.PostgresError) as exc:
        raise BenchError(f"the latency runner could not connect: {_message(exc)}") from None


def cells_for(scenarios: list[Scenario], variants: list[Variant]) -> dict[tuple[str, str], Cell]:
    """An empty cell per (scenario, variant) that has a query."""
    return {(s.name, v.name): Cell() for s in scenarios for v in variants if s.query_for(v)}


async def measure(dsn: str, variants: list[Variant], scenarios: list[Scenario], population, config: LatencyConfig,
                  progress=None, on_round=None) -> dict[tuple[str, str], Cell]:
    """The runs (each: connect, ANALYZE, warm-up, its rounds), then plans. `on_round(cells,
    rounds_done)` runs after each complete round (untimed), e.g. to save what is measured
    so far. A lost connection raises ConnectionLost."""
    cells = cells_for(scenarios, variants)
    run_of = config.run_of_round()
    try:
        for run in sorted(set(run_of)):
            await _one_run(dsn, cells, [n for n, r in enumerate(run_of) if r == run], run, variants, scenarios,
                           population, config, progress, on_round)
        conns = await _connect(dsn, 1)
        try:
            for scenario in scenarios:  # after the rounds, so no plan warms a cache for one side
                for variant in variants:
                    if (scenario.name, variant.name) in cells:
                        cells[(scenario.name, variant.name)].plan = await explain(conns[0], scenario, variant,
                                                                                  population, config.seed)
        finally:
            await _close(conns)
    except Exception as exc:
        if lost(exc):
            raise _as_lost(exc) from None
        raise
    return cells


async def _one_run(dsn: str, cells, round_numbers: list[int], run: int, variants, scenarios, population,
                   config: LatencyConfig, progress, on_round) -> None:
    conns = await _connect(dsn, config.concurrency)
    try:
        await analyze(conns[0], variants)
        await _warm_up(conns, cells, variants, scenarios, population, config)
        counters = await statements(conns[0])
        for round_no in round_numbers:
            counters = await _round(conns, cells, round_no, run, variants, scenarios, population, config, counters,
                                    progress)
            if on_round:
                on_round(cells, round_no + 1)
    finally:
        await _close(conns)


async def analyze(conn: asyncpg.Connection, variants: list[Variant]) -> None:
    """Fresh planner statistics for every variant's schema, as a new deployment gets."""
    for variant in variants:
        tables = await conn.fetch("SELECT quote_ident(schemaname) || '.' || quote_ident(relname) AS name "
                                  "FROM pg_stat_user_tables WHERE schemaname = $1 ORDER BY relname", variant.name)
        for row in tables:
            await conn.execute(f"ANALYZE {row['name']}")


async def _warm_up(conns, cells, variants, scenarios, population, config: LatencyConfig) -> None:
    """Unrecorded requests, every variant alike."""
    for s_index, scenario in enumerate(scenarios):
        for variant in variants:
            if (scenario.name, variant.name) in cells:
                rng = np.random.default_rng([config.seed, s_index, 10_000])
                warm = requests_for(scenario, variant, population, rng, capped(scenario, config.warmup))
                await closed_loop(conns, warm, None)


async def _round(conns, cells, round_no: int, run: int, variants, scenarios, population, config: LatencyConfig,
                 counters, progress):
    """One batch per scenario and variant, the variant order rotated; returns the latest
    pg_stat_statements snapshot."""
    order = variants[round_no % len(variants):] + variants[:round_no % len(variants)]
    for s_index, scenario in enumerate(scenarios):
        for variant in order:
            cell = cells.get((scenario.name, variant.name))
            if cell is None:
                continue
            rng = np.random.default_rng([config.seed, s_index, round_no])  # same sequence per variant
            batch = requests_for(scenario, variant, population, rng, capped(scenario, config.requests))
            began = time.perf_counter()
            if config.mode == "open":
                latencies = await open_loop(conns, batch, config.rate, cell)
            else:
                latencies = await closed_loop(conns, batch, cell)
            cell.seconds += time.perf_counter() - began
            if counters is not None:  # between batches, untimed
                previous, counters = counters, await statements(conns[0])
                cell.add_statements(previous, counters or NO_SNAPSHOT)
            this_round = stats.new_histogram()
            for value in latencies:
                stats.record(cell.histogram, value)
                stats.record(this_round, value)
            if latencies:
                cell.round_medians_ms.append(float(np.median(latencies)) / 1000)
                cell.round_means_ms.append(float(np.mean(latencies)) / 1000)
                cell.round_runs.append(run)
                cell.round_histograms.append(this_round)
            if progress:
                progress()
    return counters


async def _close(conns: list) -> None:
    """Close politely; a connection the server already dropped is just torn down."""
    for conn in conns:
        try:
            await asyncio.wait_for(conn.close(), 5)
        except (OSError, asyncio.TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
            conn.terminate()


# ---- after the rounds: plans and server-side statistics -------------------------------------
async def explain(conn: asyncpg.Connection, scenario: Scenario, variant: Variant, population, seed: int) -> dict:
    """EXPLAIN (ANALYZE, BUFFERS) of one request as its user, through the runner's driver
    and SQL: the server infers the parameter types as it did for the measured requests, so
    the plan's queryid is theirs (psycopg's typed parameters gave another). Rolled back."""
    query = scenario.query_for(variant)
    params = scenario.params(population, np.random.default_rng([seed, 99]))
    setup = identity.request_setup(variant, params.get("user_id") if scenario.as_user else None,
                                   settings=query.settings)
    transaction = conn.transaction()
    await transaction.start()
    try:
        await conn.execute(setup.sql, *setup.values)
        *before, (sql, values) = split_statements(query.sql, query.values(params))
        for earlier, earlier_values in before:  # the plan is the last statement's, as its rows are
            await conn.execute(earlier, *earlier_values)
        text = await conn.fetchval("EXPLAIN (ANALYZE, BUFFERS, VERBOSE, FORMAT JSON) " + sql, *values)
    except asyncpg.PostgresError as exc:
        if lost(exc):
            raise
        return {"error": _message(exc)}
    finally:
        if not conn.is_closed():
            await transaction.rollback()
    plan = json.loads(text) if isinstance(text, str) else text
    top, root = plan[0], plan[0]["Plan"]
    return {"query_id": top.get("Query Identifier"), "node": root.get("Node Type"),
            "execution_ms": top.get("Execution Time"), "planning_ms": top.get("Planning Time"),
            "shared_hit": root.get("Shared Hit Blocks"), "shared_read": root.get("Shared Read Blocks"),
            "plan": plan}


# Summed over the roles that ran a statement (pg_stat_statements keeps a row per user);
# the text is NULL where this role may not read another's.
STATEMENTS_SQL = """SELECT queryid, sum(calls)::bigint, sum(total_exec_time), sum(rows)::bigint,
    sum(shared_blks_hit)::bigint, sum(shared_blks_read)::bigint, min(query) FROM pg_stat_statements
    WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) GROUP BY queryid"""


DEALLOC_SQL = "SELECT dealloc FROM pg_stat_statements_info"  # entries evicted since the last reset


@dataclass(frozen=True)
class Snapshot:
    """pg_stat_statements counters and statement texts by queryid, and the entries it had
    evicted so far (None where pg_stat_statements_info is missing: before PostgreSQL 14)."""
    counters: dict[int, dict]
    dealloc: int | None
    texts: dict[int, str] = field(default_factory=dict)


NO_SNAPSHOT = Snapshot({}, None)


async def statements(conn: asyncpg.Connection) -> Snapshot | None:
    """pg_stat_statements counters by queryid (None when the extension is unavailable)."""
    try:
        rows = await conn.fetch(STATEMENTS_SQL)
    except asyncpg.PostgresError as exc:
        if lost(exc):
            raise
        return None
    try:
        dealloc = await conn.fetchval(DEALLOC_SQL)
    except asyncpg.PostgresError as exc:
        if lost(exc):
            raise
        dealloc = None
    return Snapshot({q: {"calls": c, "total_exec_ms": t, "rows": r, "shared_blks_hit": h, "shared_blks_read": rd}
                     for q, c, t, r, h, rd, _text in rows}, dealloc,
                    {q: text for q, *_counters, text in rows if text is not None})
