"""`bench capacity`: seed each size in turn into the same database, measure it, and keep
every size in one run directory's `capacity` section; then fit how each cost grows.

Per size, smallest first: drop the variants the harness created (a seed holds one size:
only what the harness made is dropped, bench.core.ownership), seed the size with the
seeder (its disk check refuses a size that cannot fit, before loading), record seeding
and post-data (index build) times, bytes per table and index, each scenario's latency,
and the largest tenant. A size is saved when done ("complete"); re-run with the same run
directory (`--run-dir`, or `--resume` for the latest), complete sizes are kept and an
interrupted one is measured again (its seed resumed where it stopped, if it is the one
in the database).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import psycopg

from bench.capacity import analysis, measure, targets
from bench.capacity.sizes import Size
from bench.core import schema as schemas
from bench.core.errors import BenchError
from bench.judge import results
from bench.latency.runner import LatencyConfig
from bench.session import Session

SECTION = "capacity"
COMPLETE, MEASURING = "complete", "measuring"


@dataclass(frozen=True)
class SweepOptions:
    sizes: list[Size]
    latency: LatencyConfig
    scenarios: list  # scenarios.Scenario
    workers: int
    seed: int = 1
    dim: int = schemas.DEFAULT_DIM
    recall_queries: int = 20  # per variant and size: exact search of each is a scan of every document


def latest_run(base: Path) -> Path:
    """The newest run directory under `base` with a capacity section (for --resume)."""
    found = sorted(p.parent for p in base.glob(f"*/{results.FILE_NAME}") if _has_capacity(p.parent))
    if not found:
        raise BenchError(f"--resume: no run with a capacity section under {base}")
    return found[-1]


def _has_capacity(directory: Path) -> bool:
    try:
        return SECTION in results.load(directory)
    except BenchError:
        return False


def run(session: Session, options: SweepOptions, data_path: Path | None, out_dir: str | None,
        run_dir: str | None) -> Path:
    variants = schemas.variants()
    with session.connection() as (conn, dsn):
        check_disk_for_largest(conn, options, variants, data_path)
        directory = session.open_run(conn, dsn, variants, out_dir, run_dir)
    section = results.load(directory).get(SECTION) or {}
    section = {**section, "config": _config(options)}
    kept = {s["label"]: s for s in section.get("sizes", []) if s.get("status") == COMPLETE}
    records = []
    for size in options.sizes:
        old = kept.get(size.label)
        if old and old["counts"] == size.counts and (old.get("dataset") or {}).get("seed", 1) == options.seed:
            session.note(f"capacity: {size.label} kept from the earlier run of {directory.name}")
            records.append(old)
            continue
        record = _measure_saving(session, options, size, variants, data_path, directory, section, records)
        records.append(record)
        _save(directory, section, records)
    _save(directory, section, records, final=True)
    return directory


def _measure_saving(session: Session, options: SweepOptions, size: Size, variants: list, data_path: Path | None,
                    directory: Path, section: dict, records: list[dict]) -> dict:
    """measure_size, its record saved as it goes; if it is cut short (a signal, a full disk,
    a lost server), the fits of the sizes done are saved before the error goes on."""
    cut_short: list[dict] = []

    def save_partial(record: dict) -> None:
        cut_short[:] = [record]
        _save(directory, section, records + cut_short)

    try:
        return measure_size(session, options, size, variants, data_path, directory, save_partial)
    except BaseException:
        _save(directory, section, records + cut_short, final=True)
        raise


def _save(directory: Path, section: dict, records: list[dict], final: bool = False) -> dict:
    section = {**section, "sizes": sorted(records, key=lambda r: r["counts"]["documents"])}
    judged = []
    if final:
        section["analysis"] = analysis.analyse(section)
        judged = targets.scale_verdicts(section["analysis"], section["analysis"].get("variants") or [])
        if section["analysis"].get("series"):
            run = results.load(directory)
            section["analysis"]["sizing"] = analysis.full_sizing(
                section, run.get("throughput"), ((run.get("dataset") or {}).get("counts") or {}).get("documents"))
    results.add_section(directory, SECTION, section, judged)
    return section


def _config(options: SweepOptions) -> dict:
    return {"sizes": [s.label for s in options.sizes], "latency": asdict(options.latency),
            "scenarios": [s.name for s in options.scenarios], "workers": options.workers, "seed": options.seed,
            "dim": options.dim, "latency_statistic": "mean of the round medians (ms)",
            "recall_queries": options.recall_queries}


def check_disk_for_largest(conn: psycopg.Connection, options: SweepOptions, variants: list, data_path: Path | None):
    """Refuse before the first seed when the largest size cannot fit, as `bench seed`
    does (the seeder checks again before each size). The variants now in the database are
    dropped before it is seeded: their bytes count as free."""
    from seed import loader
    from seed.plan import Plan

    if data_path is None:
        return
    largest = options.sizes[-1]
    config = seed_config(options, largest)
    held = sum(schemas.size_bytes(conn, v) for v in variants)
    need = loader.estimate_bytes(config, Plan(config.seed, config.counts), len(variants)) - held
    loader.check_disk(data_path, need, f"{largest.label} (the sweep's largest size)")


def seed_config(options: SweepOptions, size: Size, anchor: str | None = None):
    from seed.config import make_config

    config = make_config(size.scale, size.overrides(), seed=options.seed, dim=options.dim, anchor=anchor)
    return dataclasses.replace(config, scale=size.label)  # recorded as the size's own name (30K, not tiny)


def measure_size(session: Session, options: SweepOptions, size: Size, variants: list, data_path: Path | None,
                 directory: Path, save_partial) -> dict:
    from scenarios.population import load as load_population

    began = time.perf_counter()
    record = {"label": size.label, "scale": size.scale, "counts": size.counts, "status": MEASURING,
              "started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
    save_partial(record)  # a size cut short says so, and is measured again
    session.note(f"capacity: {size.label} ({size.documents:,} documents): seeding")
    with session.connection() as (conn, dsn):
        report, seed_seconds = seed_size(session, conn, dsn, options, size, variants, data_path)
        _record_dataset(directory, report.config)
        names = [v.name for v in variants]
        record.update(dataset=report.config, latency_config=asdict(options.latency),
                      seed=report.as_section(seed_seconds), settings=measure.server_settings(conn),
                      storage=measure.relation_bytes(conn, names, report.counts),
                      indexes=measure.index_bytes(conn, names), database_bytes=measure.database_bytes(conn),
                      largest_tenant=measure.largest_tenant(options.seed, size.counts))
        session.note(f"capacity: {size.label}: latency ({options.latency.rounds} rounds)")
        total = options.latency.rounds * sum(1 for s in options.scenarios for v in variants if s.query_for(v))
        population = load_population(conn, variants[0].name)  # once per size: the latency, tenant and recall draws
        before = _load_average()
        with session.progress(f"latency {size.label}", total, unit="batches") as tick:
            record["latency"] = measure.latency_cells(dsn, variants, options.scenarios, population, options.latency,
                                                      tick)
        record["load_average"] = {"before_latency": before, "after_latency": _load_average()}  # a busy machine
        chosen = measure.tenant_scenarios(options.scenarios)
        if chosen:
            session.note(f"capacity: {size.label}: the largest tenant's project scenarios")
            total = options.latency.rounds * sum(1 for s in chosen for v in variants if s.query_for(v))
            with session.progress(f"tenant {size.label}", total, unit="batches") as tick:
                record["tenant"] = measure.tenant_latency(dsn, conn, variants, chosen, population, options.latency,
                                                          tick)
        if options.recall_queries and any(s.kind == "vector" for s in options.scenarios):
            session.note(f"capacity: {size.label}: recall@10 ({options.recall_queries} queries per variant)")
            record["recall"] = measure.vector_recall(conn, variants, options.scenarios, population,
                                                     options.recall_queries, options.seed)
    record.update(status=COMPLETE, wall_seconds=round(time.perf_counter() - began, 1))
    session.note(f"capacity: {size.label} done in {record['wall_seconds']:.0f} s")
    return record


def seed_size(session: Session, conn: psycopg.Connection, dsn: str, options: SweepOptions, size: Size,
              variants: list, data_path: Path | None):
    """Seed `size`: finish (or keep) it if it is the seed in the database, else drop the
    harness's variants and seed it afresh."""
    from seed.run import seed_database

    recorded = _recorded_seed(conn)
    wanted = seed_config(options, size)
    same = recorded is not None and _same_data(recorded, wanted.as_dict())
    if same:
        wanted = seed_config(options, size, anchor=recorded["anchor"])
    else:
        drop_variants(session, conn, variants)
    began = time.perf_counter()
    report = seed_database(conn, dsn, variants, wanted, workers=options.workers, resume=same, console=session.err,
                           data_path=data_path)
    return report, time.perf_counter() - began


def _recorded_seed(conn: psycopg.Connection) -> dict | None:
    if not conn.execute("SELECT to_regclass('bench_meta.seed_run')").fetchone()[0]:
        return None
    row = conn.execute("SELECT config FROM bench_meta.seed_run WHERE id = 1").fetchone()
    return row[0] if row else None


def _same_data(old: dict, new: dict) -> bool:
    return {k: v for k, v in old.items() if k != "anchor"} == {k: v for k, v in new.items() if k != "anchor"}


def drop_variants(session: Session, conn: psycopg.Connection, variants: list) -> None:
    """Only what the harness created (schemas.drop refuses others' objects and dependents)."""
    from bench.vector import dataset as vector_dataset

    for variant in variants:
        if schemas.drop(conn, variant, force=True):
            session.note(f"capacity: dropped {variant.name} (the previous size)")
    vector_dataset.drop_scratch(conn)  # derived from the documents just dropped


def _load_average() -> list[float] | None:
    """1, 5 and 15 minute load averages: latency at one size measured on a busier machine
    than the others bends the fits, and the report says so."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def _record_dataset(directory: Path, config: dict) -> None:
    """The run's header names the dataset of the largest size measured so far."""
    data = results.load(directory)
    data.pop("schema_version", None)
    data["dataset"] = config
    results.write(directory, data)
