"""`bench seed` end to end: lock, pre-data, disk check, load, post-data, vacuum, sizes.

One seed per database at a time (an advisory lock); SIGTERM stops it like Ctrl-C, with
its workers, keeping the chunks loaded so far for --resume.
"""

from __future__ import annotations

import signal
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from rich.console import Console

from bench.core import crypto as secrets
from bench.core import schema
from bench.core.errors import BenchError
from seed import loader
from seed.config import SeedConfig
from seed.plan import Plan
from seed.progress import LoadProgress
from seed.tables import TABLES


@dataclass
class SeedReport:
    config: dict
    load_seconds: float = 0.0
    rows_loaded: int = 0
    post_data_seconds: dict[str, float] = field(default_factory=dict)
    vacuum_seconds: float = 0.0
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    storage: dict[str, list[dict]] = field(default_factory=dict)

    def as_section(self, total_seconds: float) -> dict:
        """The run's `seed` section (what `bench compare` reads as seeding throughput). A
        seed kept from an earlier run loads nothing: its rate is None, not a measured 0."""
        loaded = self.rows_loaded > 0 and self.load_seconds > 0
        return {"scale": self.config.get("scale"), "rows_loaded": self.rows_loaded,
                "load_seconds": round(self.load_seconds, 3),
                "rows_per_s": round(self.rows_loaded / self.load_seconds, 1) if loaded else None,
                "post_data_seconds": {k: round(v, 3) for k, v in self.post_data_seconds.items()},
                "vacuum_seconds": round(self.vacuum_seconds, 3), "total_seconds": round(total_seconds, 3),
                "kept_from_earlier": not loaded}


# pg_try_advisory_lock(int4, int4) key of `bench seed`: 'benc', 'seed'.
SEED_LOCK = (0x62656E63, 0x73656564)


class Stopped(KeyboardInterrupt):
    """SIGTERM, raised as an interrupt: psycopg cancels the running statement on a
    KeyboardInterrupt, and the loader stops its workers on any exception."""

    signal_name = "SIGTERM"  # as bench.judge.results.Interrupted, which bench.cli raises


def seed_database(conn: psycopg.Connection, dsn: str, variants: list[schema.Variant], config: SeedConfig, *,
                  workers: int, resume: bool, console: Console, data_path: Path | None) -> SeedReport:
    if workers < 1:
        raise BenchError(f"--workers must be at least 1, got {workers}")
    try:
        with _seed_lock(conn), _sigterm_interrupts():
            return _seed(conn, dsn, variants, config, workers=workers, resume=resume, console=console,
                         data_path=data_path)
    except KeyboardInterrupt as exc:
        signum = signal.Signals[getattr(exc, "signal_name", "SIGINT")]
        raise BenchError(f"seed stopped by {signum.name}; the chunks loaded so far are kept: "
                         "`bench seed --resume` finishes it", exit_code=128 + signum) from None


@contextmanager
def _seed_lock(conn: psycopg.Connection):
    """One seed per database: two would load the same chunks (a duplicate-key error at
    best). A session-level advisory lock goes with its session, so a seeder killed with -9
    or cut off from the server never leaves a stale lock behind."""
    key = f"{SEED_LOCK[0]}, {SEED_LOCK[1]}"
    if not conn.execute(f"SELECT pg_try_advisory_lock({key})").fetchone()[0]:
        database, pid = conn.execute(
            "SELECT current_database(), (SELECT pid FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
            "WHERE d.datname = current_database() AND l.locktype = 'advisory' AND l.granted "
            "AND l.classid::bigint = %s AND l.objid::bigint = %s AND l.objsubid = 2 LIMIT 1)", SEED_LOCK).fetchone()
        raise BenchError(f"another bench seed is running on {database} (pid {pid}); wait for it to finish")
    try:
        yield
    finally:
        if not conn.closed and conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE:
            conn.execute(f"SELECT pg_advisory_unlock({key})")  # else the session's end releases it


@contextmanager
def _sigterm_interrupts():
    """SIGTERM (kill, CI timeouts, systemd) unwinds like Ctrl-C instead of killing us
    mid-way without a word and leaving the workers behind."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(_signum, _frame):
        raise Stopped()

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _seed(conn: psycopg.Connection, dsn: str, variants: list[schema.Variant], config: SeedConfig, *,
          workers: int, resume: bool, console: Console, data_path: Path | None) -> SeedReport:
    plan = Plan(config.seed, config.counts)
    schema.refuse_foreign(conn, variants)  # every check before the first CREATE
    for variant in variants:
        existing = schema.dimension(conn, variant)
        if existing is not None and existing != config.dim:
            raise BenchError(f"variant {variant.name} was created with dim {existing}; seed with --dim {existing} "
                             f"or drop it first")
        schema.apply(conn, variant, dim=config.dim)
    recorded = loader.prepare(conn, config, resume=resume)
    if recorded != config.as_dict():  # resuming on a later day keeps the recorded anchor
        config = SeedConfig(**recorded)
    report = SeedReport(config=config.as_dict())
    names = [v.name for v in variants]
    tables_of = loader.tables_by_variant(conn, names)
    unindexed = [n for n in names if not schema.applied(conn).get((n, "post"))]
    _refuse_indexed_but_empty(conn, [n for n in names if n not in unindexed])
    chunks = loader.pending_chunks(conn, plan, unindexed, tables_of, resume=resume)
    need = loader.remaining_bytes(config, plan, chunks, {n: tables_of[n] for n in unindexed})
    loader.check_disk(data_path, need, config.scale)
    totals = {t: sum(plan.total(t) for v in unindexed if t in tables_of[v]) for t in TABLES}
    _load(dsn, config, chunks, totals, workers=workers, console=console, report=report)
    loader.store_query_vectors(conn, config)
    for variant in variants:
        report.counts[variant.name] = loader.verify_counts(conn, plan, variant.name, tables_of[variant.name])
        began = time.perf_counter()
        if schema.index(conn, variant):
            report.post_data_seconds[variant.name] = time.perf_counter() - began
    began = time.perf_counter()
    for variant in variants:  # every variant alike: fresh statistics and visibility maps
        loader.vacuum_analyze(conn, variant.name, tables_of[variant.name])
    report.vacuum_seconds = time.perf_counter() - began
    for variant in variants:
        # A variant complete before this call keeps the sizes measured when it was seeded: a
        # run's rolled-back writes leave index pages that VACUUM does not return (one
        # `make bench` grew baseline's indexes 172.5 -> 201.1 MiB), by different amounts per
        # variant, and the storage claim is about the same rows as loaded.
        kept = variant.name not in unindexed and loader.recorded_storage(conn, variant.name)
        report.storage[variant.name] = kept or loader.measure_storage(conn, variant.name)
    return report


def _load(dsn: str, config: SeedConfig, chunks: list[loader.Chunk], totals: dict[str, int], *, workers: int,
          console: Console, report: SeedReport) -> None:
    if secrets.key_is_ephemeral() and chunks:
        console.print(f"seed: {secrets.KEY_ENV} is not set; secrets are encrypted with a throwaway key",
                      style="yellow", soft_wrap=True)
    began = time.perf_counter()
    with LoadProgress(console, totals) as progress:
        if chunks:
            with loader.ChunkLoader(dsn, config, workers=workers, key=secrets.key()) as chunk_loader:
                chunk_loader.run(chunks, progress)
    report.load_seconds = time.perf_counter() - began
    report.rows_loaded = sum(progress.done.values())


def _refuse_indexed_but_empty(conn: psycopg.Connection, indexed: list[str]) -> None:
    """Post-data (indexes, triggers, policies) built before any row was loaded: loading now
    would fire the audit triggers and maintain every index row by row, so the variant would
    hold other data than its siblings."""
    seeded = {v for (v,) in conn.execute("SELECT DISTINCT variant FROM bench_meta.seed_progress")}
    empty = [n for n in indexed if n not in seeded]
    if empty:
        only = " ".join(f"--only {n}" for n in empty)
        raise BenchError(f"{', '.join(empty)}: post-data was built before any data was loaded (`bench schema index` "
                         f"runs after seeding); `bench schema drop {only} --force`, then seed again")
