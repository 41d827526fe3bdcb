"""`bench seed` end to end: plan, disk check, pre-data, load, post-data, vacuum, sizes."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from rich.console import Console

from bench import schema, secrets
from bench.errors import BenchError
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


def seed_database(conn: psycopg.Connection, dsn: str, variants: list[schema.Variant], config: SeedConfig, *,
                  workers: int, resume: bool, console: Console, data_path: Path | None) -> SeedReport:
    if workers < 1:
        raise BenchError(f"--workers must be at least 1, got {workers}")
    plan = Plan(config.seed, config.counts)
    loader.check_disk(data_path, loader.estimate_bytes(config, plan, len(variants)), config.scale)
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
    if secrets.key_is_ephemeral() and chunks:
        console.print(f"seed: {secrets.KEY_ENV} is not set; secrets are encrypted with a throwaway key",
                      style="yellow", soft_wrap=True)
    totals = {t: sum(plan.total(t) for v in unindexed if t in tables_of[v]) for t in TABLES}
    began = time.perf_counter()
    with LoadProgress(console, totals) as progress:
        if chunks:
            with loader.ChunkLoader(dsn, config, workers=workers, key=secrets.key()) as chunk_loader:
                chunk_loader.run(chunks, progress)
    report.load_seconds = time.perf_counter() - began
    report.rows_loaded = sum(progress.done.values())
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
