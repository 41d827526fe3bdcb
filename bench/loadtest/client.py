"""What runs inside a Locust process that simulates users (a worker, or a single local
process): one psycopg_pool ConnectionPool, the seeded identities, timed requests under
RLS, Locust's request events, and the per-process figures sent to the master.

A request (one scenario call of one simulated user) is what PostgREST would do for it:
take a pooled connection, open a transaction with bench.core.identity's single setup
statement (role, JWT claims, search_path, the query's settings), run the scenario's SQL
for the variant, commit (roll back a write scenario, so that every run measures the
seeded data), give the connection back. Three times are taken with
time.perf_counter(): waiting for the pool, the transaction itself (service), and both
(the response time Locust records, in float milliseconds). The pool wait and the
service time also go into HDR histograms that the master merges per step, so a step can
say whether the pool or the database dominated.

Locust's request event: request_type = the variant, name = the scenario (a fixed, low-
cardinality set; never SQL), response_length = rows returned, exception = the failure.
Failures are classified for the step load: `error` (unexpected: driver errors, pool
timeouts, a write that changed nothing), `known` (the scenario declares the variant's
defect, e.g. update_project on review), `leak` (rows of another tenant, see tenancy.py).

Each simulated user plays one seeded user for its whole life: `Session` restricts the
population (scenarios/population.py) to that user and their organisation, so every
scenario's own parameter generator, unchanged, draws only data the user owns or belongs
to. A persona's identity is drawn among users who can run all its scenarios.

Environment: BENCH_DSN (or --bench-dsn) of a superuser; BENCH_LOAD_POOLER_DSN when the
requests go through a transaction pooler (then they prepare no statements); the other
options in options.py.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
import time
from collections import defaultdict

import numpy as np
import psutil
import psycopg
from locust import User, task
from locust.runners import MasterRunner, WorkerRunner
from pgvector.psycopg import register_vector
from psycopg_pool import ConnectionPool, PoolTimeout

from bench.core import identity
from bench.core import schema as schemas
from bench.core.errors import BenchError
from bench.judge import stats
from bench.loadtest import options as opts
from bench.loadtest import personas, tenancy
from bench.loadtest.connections import connection_headroom, pool_budget
from scenarios import all_scenarios
from scenarios.population import Population
from scenarios.population import load as load_population

log = logging.getLogger("bench.load")

ELIGIBILITY_SAMPLE = 2000  # seeded users examined per persona for eligibility
MAX_SAMPLES = 5
APPLICATION = "bench-load"  # application_name of pooled connections (pg_stat_activity)


class NoRows(Exception):
    """A write that changed nothing: RLS or a missing policy silently refused it."""


# ---- per-process figures for the master ---------------------------------------------------
OUTCOMES = ("ok", "error", "known", "leak")


class Recorder:
    """What this process measured since the last report (or within a step's window): HDR
    histograms (us) of response, pool wait and service time, outcome counts per scenario,
    tenant-check counts, samples."""

    def __init__(self):
        self.lock = threading.Lock()
        self._fresh()

    def _fresh(self):
        self.response, self.wait, self.service = stats.new_histogram(), stats.new_histogram(), stats.new_histogram()
        self.counts = defaultdict(lambda: defaultdict(int))  # scenario -> outcome/check counter -> n
        self.samples = defaultdict(list)  # kind -> [message]

    def sample(self, kind: str, text: str) -> None:
        if text not in self.samples[kind] and len(self.samples[kind]) < MAX_SAMPLES:
            self.samples[kind].append(text)

    def add(self, name, total, waited, served, outcome, exc, verdict) -> None:
        """One request (times in seconds); the caller holds the lock."""
        stats.record(self.response, total * 1e6)
        if served:  # a pool timeout has no service time
            stats.record(self.wait, waited * 1e6)
            stats.record(self.service, served * 1e6)
        counts = self.counts[name]
        counts[outcome] += 1
        if verdict is not None:
            counts["checked" if verdict.checked else "unchecked"] += 1
            counts["rows_checked"] += verdict.rows
            counts["unverified"] += verdict.unverified
            counts["foreign_rows"] += len(verdict.foreign or ())
        if exc is not None:
            self.sample(outcome, f"{name}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")

    def drain(self) -> dict:
        with self.lock:
            out = {"response": stats.encode(self.response), "wait": stats.encode(self.wait),
                   "service": stats.encode(self.service), "counts": {k: dict(v) for k, v in self.counts.items()},
                   "samples": dict(self.samples)}
            self._fresh()
        return out


POOL_COUNTERS = ("requests_num", "requests_queued", "requests_wait_ms", "requests_errors", "usage_ms")
WINDOW_OPEN, WINDOW_DATA = "bench_window_open", "bench_window_data"  # Locust custom messages


@dataclasses.dataclass
class StepWindow:
    """A step being measured in this process (its own Recorder, so that report() to the
    master every few seconds does not blur the step's edges)."""
    number: int
    began: float
    cpu_before: float
    pool_before: dict
    figures: Recorder = dataclasses.field(default_factory=Recorder)


# ---- identities -------------------------------------------------------------------------
def _group(rows, key):
    out = defaultdict(list)
    for row in rows:
        out[key(row)].append(row)
    return out


@dataclasses.dataclass
class Directory:
    """The population indexed by user and organisation, to cut per-user views."""
    population: Population

    def __post_init__(self):
        p = self.population
        self.memberships = _group(p.memberships, lambda r: r[0])
        self.owned = _group(p.owned_projects, lambda r: r[1])
        self.drafts = _group(p.draft_capabilities, lambda r: r[2])
        self.kb_filters = _group(p.kb_filters, lambda r: r[1])
        self.audited = _group(p.audited_records, lambda r: r[1])
        self.vectors = _group(p.query_vectors, lambda r: r[1])

    def view(self, user: tuple) -> Population:
        """The population as one user sees it: only their own and their organisation's."""
        user_id, org_id, _role = user
        p = self.population
        return dataclasses.replace(
            p, users=[user], users_by_org={org_id: [user_id]}, memberships=self.memberships.get(user_id, []),
            owned_projects=self.owned.get(user_id, []), kb_filters=self.kb_filters.get(org_id, []),
            draft_capabilities=self.drafts.get(user_id, []), audited_records=self.audited.get(org_id, []),
            query_vectors=self.vectors.get(org_id, []))


def runnable(scenario, view: Population) -> bool:
    """Whether the scenario's parameter generator finds data for this user."""
    try:
        scenario.params(view, np.random.default_rng(0))
    except (BenchError, KeyError, IndexError, ValueError):
        return False
    return True


class VariantState:
    """Everything a process needs to run users on one variant."""

    def __init__(self, variant: schemas.Variant, population: Population, seed: int):
        self.variant = variant
        self.catalog = all_scenarios()
        self.queries = {}
        for name, scenario in self.catalog.items():
            query = scenario.query_for(variant)
            if query is not None:  # the comment keeps each variant's statements apart in caches and logs
                self.queries[name] = (query, f"/* {variant.name}.{name} */ {query.psycopg_sql()}")
        self.directory = Directory(population)
        self.eligible = {p.name: self._eligible(p, seed) for p in personas.PERSONAS}

    def _eligible(self, persona: personas.Persona, seed: int) -> list[tuple]:
        """(user, runnable scenarios) for users who can play the persona: all of its
        applicable scenarios if any sampled user can, else those who can run the most."""
        wanted = [n for n in persona.tasks(self.catalog) if n in self.queries]
        users = [u for u in self.directory.population.users if not persona.roles or u[2] in persona.roles]
        rng = np.random.default_rng([seed, 7, len(persona.name)])
        sample = [users[i] for i in rng.permutation(len(users))[:ELIGIBILITY_SAMPLE]]
        scored = []
        for user in sample:
            view = self.directory.view(user)
            scored.append((user, [n for n in wanted if runnable(self.catalog[n], view)]))
        best = max((len(r) for _, r in scored), default=0)
        return [(u, r) for u, r in scored if len(r) == best and best]


class Runtime:
    """One per process that simulates users: the pool, the checker, the recorder."""

    instance: "Runtime | None" = None

    def __init__(self, environment, values: dict, pool_size: int):
        self.environment = environment
        self.dsn = values["dsn"]  # pinned at process start: the master's forwarded value does not replace it
        self.seed = values["seed"]
        self.pool_timeout = values["pool_timeout"]
        self.recorder = Recorder()
        self.window: StepWindow | None = None  # the step the master is measuring, if any
        self.checker = tenancy.TenantChecker(self.dsn)
        self.states: dict[str, VariantState] = {}
        self.lock = threading.Lock()
        self.users_started = 0
        # through a transaction pooler each transaction may get another server connection:
        # a statement prepared on one would be missing on the next (PgBouncer < 1.21, Supavisor)
        self.pooled = bool(values.get("pooler_dsn"))
        kwargs = {"autocommit": True, "application_name": APPLICATION}
        if self.pooled:
            kwargs["prepare_threshold"] = None
        self.pool = ConnectionPool(values["pooler_dsn"] if self.pooled else self.dsn, min_size=pool_size,
                                   max_size=pool_size, open=False, name="bench-load", timeout=self.pool_timeout,
                                   kwargs=kwargs, configure=register_vector)
        self.pool.open(wait=True, timeout=60)
        self.pool_size = pool_size
        self.process = psutil.Process()

    @classmethod
    def start(cls, environment, preload: bool = True) -> "Runtime":
        values = opts.from_locust(environment.parsed_options)
        if not values["dsn"]:
            raise BenchError("no DSN: set BENCH_DSN (or --bench-dsn) to the server under test")
        with psycopg.connect(values["dsn"], autocommit=True, connect_timeout=10) as conn:
            headroom = connection_headroom(conn)
        size = pool_budget(values["pool_size"], 1, headroom)
        if values["pool_size"] and size < values["pool_size"]:
            log.warning("pool shrunk from %d to %d connections to respect max_connections %d",
                        values["pool_size"], size, headroom["max_connections"])
        cls.instance = cls(environment, values, size)
        if preload:  # load identities before the first step's clock starts
            cls.instance.state(values["variant"])
        return cls.instance

    def state(self, variant_name: str) -> VariantState:
        with self.lock:
            if variant_name not in self.states:
                variant = schemas.select([variant_name])[0]
                began = time.perf_counter()
                with psycopg.connect(self.dsn, autocommit=True) as conn:
                    population = load_population(conn, variant.name)
                self.states[variant_name] = VariantState(variant, population, self.seed)
                log.info("identities for %s ready in %.1f s", variant_name, time.perf_counter() - began)
            return self.states[variant_name]

    def report(self) -> dict:
        """Figures since the last report, for the whole run's counts (tenant check,
        samples, pool size); a step's own figures come from its window (open_window)."""
        return {**self.recorder.drain(), "pool": {"size": self.pool_size, "pid": os.getpid()}}

    def cpu_seconds(self) -> float:
        cpu = self.process.cpu_times()
        return cpu.user + cpu.system

    def open_window(self, number: int) -> None:
        """Start recording step `number` apart: every request that completes until
        close_window goes into it, with this process's CPU time and pool counters."""
        window = StepWindow(number, time.perf_counter(), self.cpu_seconds(), self.pool.get_stats())
        with self.recorder.lock:
            self.window = window

    def close_window(self, number: int) -> dict | None:
        """The figures of step `number` (None if it was not open here: a worker that
        joined mid-step), encoded for the master."""
        with self.recorder.lock:
            window, self.window = self.window, None
        if window is None or window.number != number:
            return None
        seconds = time.perf_counter() - window.began
        pool_after = self.pool.get_stats()
        pool = {k: pool_after.get(k, 0) - window.pool_before.get(k, 0) for k in POOL_COUNTERS}
        return {"number": number, **window.figures.drain(),
                "pool": {**pool, "size": self.pool_size, "pid": os.getpid()},
                "cpu": {"pid": os.getpid(), "seconds": self.cpu_seconds() - window.cpu_before, "wall": seconds}}

    def close(self) -> None:
        self.pool.close(timeout=5)
        self.checker.close()

    # ---- one request -------------------------------------------------------------------
    def request(self, session: "Session", name: str) -> None:
        """One scenario call as the session's user; timed, checked, reported."""
        state = session.state
        scenario = state.catalog[name]
        query, sql = state.queries[name]
        params = scenario.params(session.view, session.rng)
        setup = identity.request_setup(state.variant, params.get("user_id") if scenario.as_user else None,
                                       settings=query.settings)
        values = {arg: params[arg] for arg in query.args}

        def transaction(conn):  # a write is rolled back: the dataset stays as seeded (as bench.latency.runner)
            with conn.transaction(force_rollback=scenario.kind == "write"):
                conn.execute(setup.psycopg_sql, setup.values)
                cur = conn.execute(sql, values)
                return ([c.name for c in cur.description], cur.fetchall()) if cur.description else (None, [])

        columns, rows, exc, waited, served, total = self.timed(transaction)
        if exc is None and scenario.kind == "write" and not rows:
            exc = NoRows("the write changed no row (refused by RLS or a missing policy)")
        outcome, verdict = "ok", None
        if exc is None:  # the tenant check, after the clock stopped
            try:
                verdict = self.checker.check(state.variant.name, name, columns, rows, session.org_id)
            except psycopg.Error as error:  # the checker's own connection failed: say so, do not pass
                verdict = tenancy.Verdict(checked=False)
                self.recorder.sample("checker", f"{type(error).__name__}: {error}".splitlines()[0])
            if verdict.foreign:
                exc = tenancy.CrossTenantRows(tenancy.OWNED_ROWS[name].table, verdict.foreign, session.org_id)
                outcome = "leak"
        elif state.variant.name in scenario.expected_failures:
            outcome = "known"
        else:
            outcome = "error"
        self.record(state.variant.name, name, total, waited, served, outcome, exc, verdict, len(rows))

    def timed(self, work):
        """Run work(conn) on a pooled connection: (columns, rows, exception, pool wait s,
        service s, total s), each time from time.perf_counter()."""
        columns, rows, exc, waited, served = None, [], None, 0.0, 0.0
        began = time.perf_counter()
        try:
            conn = self.pool.getconn()
            got = time.perf_counter()
            waited = got - began
            try:
                columns, rows = work(conn)
            finally:
                self.pool.putconn(conn)
                served = time.perf_counter() - got
        except (psycopg.Error, PoolTimeout) as error:
            exc = error
        return columns, rows, exc, waited, served, time.perf_counter() - began

    def record(self, variant, name, total, waited, served, outcome, exc, verdict, nrows) -> None:
        with self.recorder.lock:
            targets = [self.recorder] + ([self.window.figures] if self.window is not None else [])
            for rec in targets:
                rec.add(name, total, waited, served, outcome, exc, verdict)
        self.environment.events.request.fire(
            request_type=variant, name=name, response_time=total * 1000.0, response_length=nrows, exception=exc,
            context={"pool_wait_ms": waited * 1000.0, "service_ms": served * 1000.0, "outcome": outcome})


class Session:
    """One simulated user: a seeded identity, its view of the data, its scenario mix."""

    def __init__(self, runtime: Runtime, variant_name: str, persona: personas.Persona, think: tuple[float, float]):
        self.state = runtime.state(variant_name)
        with runtime.lock:
            runtime.users_started += 1
            number = runtime.users_started
        worker = getattr(runtime.environment.runner, "worker_index", 0) or 0
        self.rng = np.random.default_rng([runtime.seed, worker, number])
        eligible = self.state.eligible[persona.name]
        if not eligible:
            raise BenchError(f"no seeded user can play {persona.name} on {variant_name}; seed a larger scale")
        user, names = eligible[int(self.rng.integers(len(eligible)))]
        self.user_id, self.org_id, self.role = user
        self.view = self.state.directory.view(user)
        weights = persona.tasks(self.state.catalog)
        self.names = names
        self.weights = np.array([weights[n] for n in names], float)
        self.weights /= self.weights.sum()
        self.think = think

    def next_scenario(self) -> str:
        return self.names[int(self.rng.choice(len(self.names), p=self.weights))]

    def wait(self) -> float:
        low, high = self.think
        return low if high == low else float(self.rng.uniform(low, high))


# ---- Locust users -------------------------------------------------------------------------
class PersonaUser(User):
    """A simulated user of one persona (subclasses are generated from personas.PERSONAS)."""

    abstract = True
    persona: personas.Persona

    def on_start(self) -> None:
        runtime = Runtime.instance
        if runtime is None:
            raise BenchError("the load runtime did not start (see the process log)")
        values = opts.from_locust(self.environment.parsed_options)
        self.runtime = runtime
        self.session = Session(runtime, values["variant"], self.persona, values["think"])

    def wait_time(self) -> float:
        return self.session.wait() if hasattr(self, "session") else 0.0

    @task
    def act(self) -> None:
        self.runtime.request(self.session, self.session.next_scenario())


def user_classes() -> dict[str, type]:
    """One Locust user class per persona: Viewer, Editor, Searcher, Admin."""
    out = {}
    for persona in personas.PERSONAS:
        name = persona.name.capitalize()
        out[name] = type(name, (PersonaUser,), {"persona": persona, "weight": persona.weight,
                                                "__doc__": persona.description, "__module__": __name__})
    return out


# ---- process wiring -----------------------------------------------------------------------
def on_init(environment, **_kwargs) -> None:
    """Locust's init event: user-simulating processes start their runtime; a master only
    aggregates (shape.py). Workers send their figures with each stats report."""
    if isinstance(environment.runner, MasterRunner):
        return
    runtime = Runtime.start(environment)
    serve_master(environment, runtime)

    def test_start(environment, **_kw):  # the master may name another variant than our own flag did
        runtime.state(opts.from_locust(environment.parsed_options)["variant"])

    def quitting(**_kw):
        runtime.close()
    environment.events.test_start.add_listener(test_start)
    environment.events.quitting.add_listener(quitting)


def serve_master(environment, runtime: Runtime) -> None:
    """On a worker: send this process's figures with each stats report, and open and
    close each step's window when the master says (Locust custom messages)."""
    if not isinstance(environment.runner, WorkerRunner):
        return

    def report(client_id, data, **_kw):
        data["bench"] = runtime.report()
    environment.events.report_to_master.add_listener(report)

    def window(environment, msg, **_kw):
        number, opened = msg.data["number"], msg.data["open"]
        if opened:
            runtime.open_window(number)
        else:
            environment.runner.send_message(WINDOW_DATA, runtime.close_window(number) or {"number": number})
    environment.runner.register_message(WINDOW_OPEN, window)
