"""`bench seed`: the same logical dataset into every variant, and the seeder's own benchmark."""

from __future__ import annotations

import os
import time
from pathlib import Path

import click
from rich.table import Table

from bench.core import schema as schemas
from bench.core.options import only_option
from bench.judge.text import human_bytes
from bench.session import Session
from seed.embeddings import DEFAULT_DIFFICULTY, TOPIC_DIFFICULTY


def scale_option(help_text: str):
    """--scale, one of seed/scales.toml's (a click.Choice: refused before anything starts)."""
    from seed.config import DEFAULT_SCALE, scales

    return click.option("--scale", type=click.Choice(list(scales())), default=DEFAULT_SCALE, show_default=True,
                        help=help_text)


def data_path(session: Session) -> Path | None:
    """The embedded server's home, whose disk the seeder checks for room (None: a server by DSN)."""
    return session.settings.data_dir if session.settings.embedded else None


@click.command("seed")
@scale_option("Row counts from seed/scales.toml.")
@click.option("--seed", "seed_value", type=int, default=1, show_default=True, help="Random seed of the dataset.")
@click.option("--dim", type=click.IntRange(1, schemas.MAX_DIM), default=schemas.DEFAULT_DIM, show_default=True,
              help="Embedding dimension.")
@click.option("--difficulty", type=click.FloatRange(0, 100),
              help=f"Isotropic noise in the embeddings: higher is harder for ANN indexes. Default: {DEFAULT_DIFFICULTY} "
                   f"({TOPIC_DIFFICULTY} with --generator topic); the default generator scales it up below "
                   f"88,000 documents (seed/embeddings.py difficulty_for).")
@click.option("--embeddings", "embeddings", type=click.Choice(["synthetic", "real"]), default="synthetic",
              show_default=True, help="Document and query vectors: the synthetic generator, or real all-MiniLM-L6-v2 "
                                      "embeddings of Python docstrings (cached; embedding needs the extra "
                                      "real-embeddings).")
@click.option("--generator", type=click.Choice(["default", "topic"]), default="default", show_default=True,
              help="Synthetic generator: the default (fitted to real embeddings, bench calibrate), or the topic "
                   "model that was the default before generator version 4.")
@click.option("--embeddings-dir", type=click.Path(file_okay=False), envvar="BENCH_EMBEDDINGS_DIR",
              help="Store of real embeddings and their corpus (or BENCH_EMBEDDINGS_DIR). Default: DATA_DIR/embeddings")
@click.option("--workers", type=click.IntRange(min=1), default=min(2, os.cpu_count() or 1), show_default=True,
              help="Processes generating and loading chunks in parallel.")
@click.option("--resume", is_flag=True, help="Finish a seed that stopped part-way.")
@click.option("--rows", multiple=True, metavar="TABLE=N", help="Override a table's row count (repeatable).")
@click.option("--anchor", metavar="YYYY-MM-DD", help="The dataset's 'today' (default: today, UTC).")
@click.option("--benchmark", is_flag=True, help="Measure the seeder against the server's COPY limit instead.")
@only_option
@click.pass_obj
def seed_cmd(session: Session, scale, seed_value, dim, difficulty, embeddings, generator, embeddings_dir, workers,
             resume, rows, anchor, benchmark, only) -> None:
    """Load the same logical dataset into every variant, then build post-data objects."""
    from seed.config import make_config
    from seed.run import seed_database

    if benchmark:
        _seed_benchmark(session, scale, workers)
        return

    source = vector_source(embeddings, generator)
    seed_config = make_config(scale, rows, seed=seed_value, dim=dim, difficulty=difficulty, anchor=anchor,
                              embeddings=source)
    if source.startswith("real:"):
        prepare_real(session, embeddings_dir, seed_config.counts)
    chosen = schemas.select(list(only))
    began = time.perf_counter()
    with session.connection() as (conn, dsn):
        report = seed_database(conn, dsn, chosen, seed_config, workers=workers, resume=resume, console=session.err,
                               data_path=data_path(session))
    print_seed(session, report, time.perf_counter() - began)


def vector_source(embeddings: str, generator: str) -> str:
    """SeedConfig.embeddings of --embeddings and --generator."""
    from bench.core.errors import UsageError
    from seed.config import DEFAULT_EMBEDDINGS, TOPIC_EMBEDDINGS
    from seed.real_embeddings import MODEL

    if embeddings == "real":
        if generator != "default":
            raise UsageError("--generator chooses a synthetic generator; it does not apply to --embeddings real")
        return f"real:{MODEL}"
    return TOPIC_EMBEDDINGS if generator == "topic" else DEFAULT_EMBEDDINGS


def embedding_store(session: Session, embeddings_dir: str | None):
    from seed.real_embeddings import Store, default_dir

    return Store(Path(embeddings_dir) if embeddings_dir else default_dir(session.settings.data_dir))


def prepare_real(session: Session, embeddings_dir: str | None, counts: dict[str, int]) -> None:
    """Every real vector the seed needs, in the store before loading (embedded now if
    missing); its workers find the store through BENCH_EMBEDDINGS_DIR."""
    from seed.real_embeddings import real_set

    store = embedding_store(session, embeddings_dir)
    real_set(store, counts["documents"], counts.get("query_vectors", 0), session.err)
    os.environ["BENCH_EMBEDDINGS_DIR"] = str(store.directory.resolve())


def _seed_benchmark(session: Session, scale: str, workers: int) -> None:
    from seed import benchmark

    session.check()
    result = benchmark.run(session.target_dsn(), scale, workers, session.err)
    table = Table(title=f"Seeder vs ingestion limit: scale {scale}, {workers} worker(s), one variant (baseline)",
                  caption=f"seeder: generation + binary COPY on {workers} connection(s); limit: the same rows, "
                          "pre-encoded, in one COPY on one connection. Goal: all >= 0.70 at scale small on 2 cores "
                          "(smaller scales are dominated by fixed costs)")
    for column in ("table", "rows", "MB", "seeder rows/s", "seeder MB/s", "limit rows/s", "seeder/limit"):
        table.add_column(column, justify="left" if column == "table" else "right")
    for f in result["tables"]:
        table.add_row(f.table, f"{f.rows:,}", f"{f.bytes / 1e6:.1f}", f"{f.rows / f.seeder_s:,.0f}",
                      f"{f.bytes / 1e6 / f.seeder_s:.1f}", f"{f.rows / f.limit_s:,.0f}", f"{f.ratio:.2f}")
    rows = sum(f.rows for f in result["tables"])
    seeder_s, limit_s = sum(f.seeder_s for f in result["tables"]), sum(f.limit_s for f in result["tables"])
    table.add_row("all", f"{rows:,}", f"{sum(f.bytes for f in result['tables']) / 1e6:.1f}", f"{rows / seeder_s:,.0f}",
                  "", f"{rows / limit_s:,.0f}", f"{limit_s / seeder_s:.2f}", style="bold")
    session.out.print(table)
    gen = result["server_side"]
    projects = next(f for f in result["tables"] if f.table == "projects")
    session.out.print(f"server-side INSERT ... SELECT generate_series: {gen['rows'] / gen['seconds']:,.0f} project rows/s; "
              f"client COPY limit {projects.rows / projects.limit_s:,.0f} rows/s "
              f"({gen['seconds'] / projects.limit_s:.1f}x faster), seeder {projects.rows / projects.seeder_s:,.0f} rows/s")
    growth = Table(title="Extrapolated load (3 variants, before post-data indexes)")
    for column in ("scale", "documents", "load time", "heap + TOAST + PK"):
        growth.add_column(column, justify="right")
    for row in benchmark.extrapolate(result):
        growth.add_row(row["scale"], f"{row['documents']:,}", f"{row['load_s'] / 60:,.1f} min",
                       human_bytes(int(row["heap_bytes"])))
    session.out.print(growth)


def print_seed(session: Session, report, seconds: float) -> None:
    source = report.config.get("embeddings")
    table = Table(title=f"Seed: scale {report.config['scale']}, seed {report.config['seed']}, "
                        f"dim {report.config['dim']}, difficulty {report.config['difficulty']}"
                        + (f", embeddings {source}" if source else ""))
    for column in ("variant", "rows", "post-data", "tables", "indexes", "total"):
        table.add_column(column, justify="right" if column != "variant" else "left")
    for variant, records in report.storage.items():
        post = report.post_data_seconds.get(variant)
        table.add_row(variant, f"{sum(report.counts[variant].values()):,}", f"{post:.1f} s" if post else "done before",
                      human_bytes(sum(r["heap_bytes"] for r in records)),
                      human_bytes(sum(r["index_bytes"] for r in records)),
                      human_bytes(sum(r["total_bytes"] for r in records)))
    session.out.print(table)
    rate = report.rows_loaded / report.load_seconds if report.load_seconds else 0
    session.out.print(f"loaded {report.rows_loaded:,} rows in {report.load_seconds:.1f} s ({rate:,.0f} rows/s); "
              f"vacuum+analyze {report.vacuum_seconds:.1f} s; total {seconds:.1f} s")
