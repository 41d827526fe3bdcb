"""The `bench` command line: one entry point for every step (`python -m bench` too).

Every user-facing fault is a BenchError, printed as one line `bench: error: ...` with a
non-zero exit; usage mistakes exit 2. Printed DSNs are always masked.
"""

from __future__ import annotations

import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from bench import config, database, environment
from bench import schema as schemas
from bench.options import only_option, out_options, port_value, scale_option
from bench import dsn as dsns
from bench.errors import BenchError, UsageError
from bench.server import EmbeddedServer
from seed.embeddings import DEFAULT_DIFFICULTY

# Logs (CI, files) get a wide page so tables keep one row per line; terminals use their width.
out = Console(highlight=False, width=None if sys.stdout.isatty() else 150)
err = Console(stderr=True, highlight=False)

EXIT_NOT_RUNNING = 3  # as `pg_ctl status`


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--dsn", metavar="DSN", help="Server to benchmark (or BENCH_DSN). Default: the embedded server.")
@click.option("--data-dir", metavar="PATH", help="Embedded server home (or BENCH_DATA_DIR). Default: .bench/")
@click.option("--port", type=str, metavar="N", callback=port_value,
              help="Embedded server TCP port (or BENCH_PORT). Default: 54329.")
@click.pass_context
def cli(ctx: click.Context, dsn: str | None, data_dir: str | None, port: str | None) -> None:
    """Benchmark PostgreSQL + pgvector schema variants and judge a review's claims."""
    ctx.obj = config.resolve(dsn=dsn, data_dir=data_dir, port=port)


# ---- bench db ---------------------------------------------------------------------
@cli.group()
def db() -> None:
    """Manage the embedded PostgreSQL server (start, stop, status, url)."""


@db.command("start")
@click.pass_obj
def db_start(settings: config.Settings) -> None:
    """Start the embedded server (initialising it on first use); it runs until `bench db stop`."""
    server = _embedded(settings, "start")
    result = server.start()
    if result.already_running:
        out.print(f"already running on port {result.port} ({server.pgdata})")
    else:
        kind = "cold start (initdb)" if result.initialized else "warm start"
        out.print(f"started {server.version()} on port {result.port} in {result.seconds:.2f} s, {kind}")
    out.print(f"url: {dsns.mask(server.dsn())}")


@db.command("stop")
@click.pass_obj
def db_stop(settings: config.Settings) -> None:
    """Stop the embedded server."""
    server = _embedded(settings, "stop")
    server.stop()
    out.print(f"stopped ({server.pgdata})")


@db.command("status")
@click.pass_obj
def db_status(settings: config.Settings) -> int:
    """Say whether the server runs, its version, data dir and size (exit 3 if stopped)."""
    if not settings.embedded:
        info = _check(settings.dsn)
        out.print(f"external server {dsns.describe(settings.dsn)}: PostgreSQL {info['server']}, pgvector {info['pgvector']}")
        return 0
    server = EmbeddedServer(settings.data_dir, settings.port)
    table = Table(show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    info = server.postmaster()
    table.add_row("running", f"yes (pid {info['pid']}, port {info['port']})" if info else "no")
    table.add_row("version", server.version())
    table.add_row("data dir", str(server.pgdata))
    table.add_row("size", _human_bytes(server.size_bytes()) if server.pgdata.exists() else "not initialised")
    out.print(table)
    if info:
        out.print(f"url: {dsns.mask(server.dsn())}", soft_wrap=True)
    return 0 if info else EXIT_NOT_RUNNING


@db.command("url")
@click.pass_obj
def db_url(settings: config.Settings) -> None:
    """Print the DSN of the server under test (password masked)."""
    if settings.embedded:
        out.print(dsns.mask(EmbeddedServer(settings.data_dir, settings.port).dsn()), soft_wrap=True)
    else:
        out.print(dsns.mask(settings.dsn), soft_wrap=True)


# ---- bench schema -----------------------------------------------------------------
@cli.group()
def schema() -> None:
    """Create the schema variants (pre-data: tables; post-data: indexes, policies, ...)."""


@schema.command("apply")
@only_option
@click.option("--dim", type=click.IntRange(1, schemas.MAX_DIM), default=schemas.DEFAULT_DIM, show_default=True,
              help="Embedding dimension of documents.embedding_vector.")
@click.pass_obj
def schema_apply(settings: config.Settings, only: tuple[str, ...], dim: int) -> None:
    """Pre-data phase: create each variant's schema and tables (safe to re-run)."""
    chosen = schemas.select(list(only))
    with _connection(settings) as (conn, _dsn):
        schemas.refuse_foreign(conn, chosen)  # every check before the first CREATE
        for variant in chosen:
            created = schemas.apply(conn, variant, dim=dim)
            out.print(f"{variant.name}: {'tables created' if created else 'already applied'} (dim {dim})")


@schema.command("index")
@only_option
@click.pass_obj
def schema_index(settings: config.Settings, only: tuple[str, ...]) -> None:
    """Post-data phase: indexes, constraints, triggers, policies, views (after seeding)."""
    chosen = schemas.select(list(only))
    with _connection(settings) as (conn, _dsn):
        for variant in chosen:
            began = time.perf_counter()
            built = schemas.index(conn, variant)
            took = f" in {time.perf_counter() - began:.1f} s" if built else ""
            out.print(f"{variant.name}: {'post-data built' if built else 'already indexed'}{took}")


@schema.command("drop")
@only_option
@click.option("--force", is_flag=True, help="Confirm: the variant's schema and data are deleted.")
@click.option("--force-dependents", is_flag=True,
              help="Also drop objects of other schemas that depend on the variants (named in the output).")
@click.pass_obj
def schema_drop(settings: config.Settings, only: tuple[str, ...], force: bool, force_dependents: bool) -> None:
    """Drop variants the harness created (never other schemas); needs --force."""
    from bench import ownership

    if not force:
        raise UsageError("dropping deletes the variants' data; add --force to confirm")
    chosen = schemas.select(list(only))
    with _connection(settings) as (conn, _dsn):
        # Every check before the first drop: a refusal leaves everything as it was.
        found = {v.name: schemas.drop_dependents(conn, v) for v in chosen}
        found["bench_vector"] = _vector_scratch_dependents(conn, chosen)
        found = {name: objects for name, objects in found.items() if objects}
        ownership.refuse_dependents(" and ".join(f'"{name}"' for name in found),
                                    sorted({o for objects in found.values() for o in objects}), force_dependents)
        for variant in chosen:
            dropped = schemas.drop(conn, variant, force=force, force_dependents=force_dependents)
            out.print(f"{variant.name}: {'dropped' if dropped else 'not present'}")
            _print_dropped_dependents(found.get(variant.name, []) if dropped else [])
        _drop_vector_scratch_after_last_variant(conn, force_dependents, found.get("bench_vector", []))


def _print_dropped_dependents(objects: list[str]) -> None:
    for name in objects:
        out.print(f"  also dropped (--force-dependents): {name}")


def _remaining_variants(conn, leaving: list) -> list[str]:
    gone = {v.name for v in leaving}
    return [v for v, phase in schemas.applied(conn) if phase == "pre" and v not in gone | {schemas.SHARED}]


def _vector_scratch_dependents(conn, chosen: list) -> list[str]:
    """What dropping the vector scratch schema would take along, if it goes with `chosen`."""
    from bench.vector import dataset as vector_dataset

    return [] if _remaining_variants(conn, chosen) else vector_dataset.scratch_dependents(conn)


def _drop_vector_scratch_after_last_variant(conn, force_dependents: bool = False,
                                            dependents: list[str] | None = None) -> None:
    """The vector scratch copy is derived from the variants' documents: it goes with the
    last one, if the harness made it (a bench_vector schema of someone else stays)."""
    from bench import ownership
    from bench.vector import dataset as vector_dataset

    if _remaining_variants(conn, []):
        return
    if vector_dataset.drop_scratch(conn, force_dependents=force_dependents):
        out.print(f"{vector_dataset.SCHEMA}: dropped (the vector benchmark's scratch copy and ground truth)")
        _print_dropped_dependents(dependents or [])
    elif ownership.schema_exists(conn, vector_dataset.SCHEMA):
        out.print(f"{vector_dataset.SCHEMA}: not created by the harness; left alone")


@schema.command("status")
@click.pass_obj
def schema_status(settings: config.Settings) -> None:
    """Which variants exist and which phases have been applied."""
    with _connection(settings) as (conn, _dsn):
        state = schemas.applied(conn)
        sizes = {v.name: schemas.size_bytes(conn, v) for v in schemas.variants()}
    table = Table("variant", "tables (pre)", "indexes (post)", "dim", "size", "description")
    for variant in schemas.variants():
        pre, post = state.get((variant.name, "pre")), state.get((variant.name, "post"))
        table.add_row(variant.name, _when(pre), _when(post), str(pre["dim"]) if pre else "",
                      _human_bytes(sizes[variant.name]) if pre else "", variant.description)
    out.print(table)


def _when(record: dict | None) -> str:
    return record["applied_at"].strftime("%Y-%m-%d %H:%M") if record else "-"


# ---- bench seed -------------------------------------------------------------------
@cli.command("seed")
@scale_option("Row counts from seed/scales.toml.")
@click.option("--seed", "seed_value", type=int, default=1, show_default=True, help="Random seed of the dataset.")
@click.option("--dim", type=click.IntRange(1, schemas.MAX_DIM), default=schemas.DEFAULT_DIM, show_default=True,
              help="Embedding dimension.")
@click.option("--difficulty", type=click.FloatRange(0, 100), default=DEFAULT_DIFFICULTY, show_default=True,
              help="Isotropic noise in the embeddings: higher is harder for ANN indexes.")
@click.option("--workers", type=click.IntRange(min=1), default=min(2, os.cpu_count() or 1), show_default=True,
              help="Processes generating and loading chunks in parallel.")
@click.option("--resume", is_flag=True, help="Finish a seed that stopped part-way.")
@click.option("--rows", multiple=True, metavar="TABLE=N", help="Override a table's row count (repeatable).")
@click.option("--anchor", metavar="YYYY-MM-DD", help="The dataset's 'today' (default: today, UTC).")
@click.option("--benchmark", is_flag=True, help="Measure the seeder against the server's COPY limit instead.")
@only_option
@click.pass_obj
def seed_cmd(settings: config.Settings, scale, seed_value, dim, difficulty, workers, resume, rows, anchor, benchmark,
             only) -> None:
    """Load the same logical dataset into every variant, then build post-data objects."""
    from seed.config import make_config
    from seed.run import seed_database

    if benchmark:
        _seed_benchmark(settings, scale, workers)
        return

    seed_config = make_config(scale, rows, seed=seed_value, dim=dim, difficulty=difficulty, anchor=anchor)
    chosen = schemas.select(list(only))
    began = time.perf_counter()
    with _connection(settings) as (conn, dsn):
        data_path = settings.data_dir if settings.embedded else None
        report = seed_database(conn, dsn, chosen, seed_config, workers=workers, resume=resume, console=err,
                               data_path=data_path)
    _print_seed(report, time.perf_counter() - began)


def _seed_benchmark(settings: config.Settings, scale: str, workers: int) -> None:
    from seed import benchmark

    dsn = _target_dsn(settings)
    _check(dsn)
    result = benchmark.run(dsn, scale, workers, err)
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
    out.print(table)
    gen = result["server_side"]
    projects = next(f for f in result["tables"] if f.table == "projects")
    out.print(f"server-side INSERT ... SELECT generate_series: {gen['rows'] / gen['seconds']:,.0f} project rows/s; "
              f"client COPY limit {projects.rows / projects.limit_s:,.0f} rows/s "
              f"({gen['seconds'] / projects.limit_s:.1f}x faster), seeder {projects.rows / projects.seeder_s:,.0f} rows/s")
    growth = Table(title="Extrapolated load (3 variants, before post-data indexes)")
    for column in ("scale", "documents", "load time", "heap + TOAST + PK"):
        growth.add_column(column, justify="right")
    for row in benchmark.extrapolate(result):
        growth.add_row(row["scale"], f"{row['documents']:,}", f"{row['load_s'] / 60:,.1f} min",
                       _human_bytes(int(row["heap_bytes"])))
    out.print(growth)


def _print_seed(report, seconds: float) -> None:
    table = Table(title=f"Seed: scale {report.config['scale']}, seed {report.config['seed']}, "
                        f"dim {report.config['dim']}, difficulty {report.config['difficulty']}")
    for column in ("variant", "rows", "post-data", "tables", "indexes", "total"):
        table.add_column(column, justify="right" if column != "variant" else "left")
    for variant, records in report.storage.items():
        post = report.post_data_seconds.get(variant)
        table.add_row(variant, f"{sum(report.counts[variant].values()):,}", f"{post:.1f} s" if post else "done before",
                      _human_bytes(sum(r["heap_bytes"] for r in records)),
                      _human_bytes(sum(r["index_bytes"] for r in records)),
                      _human_bytes(sum(r["total_bytes"] for r in records)))
    out.print(table)
    rate = report.rows_loaded / report.load_seconds if report.load_seconds else 0
    out.print(f"loaded {report.rows_loaded:,} rows in {report.load_seconds:.1f} s ({rate:,.0f} rows/s); "
              f"vacuum+analyze {report.vacuum_seconds:.1f} s; total {seconds:.1f} s")


# ---- bench run --------------------------------------------------------------------
@cli.group("run")
def run_group() -> None:
    """Run a benchmark against the seeded variants and write reports/<run-id>/results.json."""


@run_group.command("latency")
@click.option("--rounds", type=click.IntRange(1, 1000), default=5, show_default=True,
              help="Interleaved rounds (A B C, B C A, ...); verdicts need at least 5.")
@click.option("--requests", type=click.IntRange(1, 10**7), default=60, show_default=True,
              help="Requests per scenario, variant and round.")
@click.option("--concurrency", type=click.IntRange(1, 1000), default=4, show_default=True, help="Connections.")
@click.option("--warmup", type=click.IntRange(0, 10**6), default=20, show_default=True,
              help="Unrecorded requests per scenario and variant first.")
@click.option("--mode", type=click.Choice(["closed", "open"]), default="closed", show_default=True,
              help="closed: next request when one returns; open: fixed arrival --rate.")
@click.option("--rate", type=click.FloatRange(0.1, 10**6), default=100.0, show_default=True,
              help="Open loop: requests per second.")
@click.option("--scenario", "scenario_names", multiple=True, metavar="NAME", help="Only these scenarios.")
@out_options
@only_option
@click.pass_obj
def run_latency_cmd(settings: config.Settings, rounds, requests, concurrency, warmup, mode, rate, scenario_names,
                    out_dir, run_dir, only) -> None:
    """Latency of every scenario on every variant, with verdicts (avg_latency, query_speedup, storage)."""
    from bench import fs
    from bench.runner import LatencyConfig

    fs.check_run_output(out_dir, run_dir)  # before measuring: a write failing after it loses the figures
    latency_config = LatencyConfig(rounds=rounds, requests=requests, concurrency=concurrency, warmup=warmup,
                                   mode=mode, rate=rate)
    code, _directory = _run_latency(settings, latency_config, list(only), list(scenario_names), out_dir, run_dir)
    if code:
        sys.exit(code)


def open_run(settings: config.Settings, conn, dsn: str, variants: list, out_dir: str | None,
             run_dir: str | None) -> Path:
    """The run directory a `bench run X` writes its section into: the given --run-dir
    (adding to it), or a new one under --out (default reports/)."""
    from bench import results
    from bench.runner import cpu_layout

    if run_dir:
        results.load(Path(run_dir))  # must exist and be valid
        return Path(run_dir)
    header = results.header(conn, dsn, variants, cpu_layout(_postmaster_pid(settings)))
    return results.start(Path(out_dir) if out_dir else results.reports_dir(), header)


@run_group.command("security")
@out_options
@only_option
@click.pass_obj
def run_security_cmd(settings: config.Settings, out_dir, run_dir, only) -> None:
    """Run every attack against each variant as API users (rolled back); judge the security claim."""
    _run_security(settings, list(only), out_dir, run_dir)


def _run_security(settings: config.Settings, only: list[str], out_dir=None, run_dir=None) -> Path:
    from bench import fs, results, security

    fs.check_run_output(out_dir, run_dir)
    chosen = _seeded_variants(settings, only)
    with _connection(settings) as (conn, dsn):
        directory = open_run(settings, conn, dsn, chosen, out_dir, run_dir)
        with _keeping_partial(directory, "security", "variants"):
            section = security.section(conn, chosen, note=lambda m: err.print(m, highlight=False, markup=False),
                                       save=lambda s: results.add_section(directory, "security", s, s["verdicts"]))
    path = directory / results.FILE_NAME
    table = Table(title="Security findings: attacks that succeed (as API users, rolled back)")
    table.add_column("attack")
    for v in chosen:
        table.add_column(v.name)
    for attack in dict.fromkeys(f["attack"] for f in section["findings"]):
        cells = {f["variant"]: f for f in section["findings"] if f["attack"] == attack}
        table.add_row(attack, *[_finding_cell(cells.get(v.name)) for v in chosen])
    out.print(table)
    _print_verdicts(section["verdicts"])
    out.print(f"results: {path}", soft_wrap=True)
    return directory


def _finding_cell(finding: dict | None) -> str:
    if not finding or not finding["applicable"]:
        return "n/a"
    return "[red]SUCCEEDS[/red]" if finding["succeeded"] else "[green]fails[/green]"


@run_group.command("overhead")
@click.option("--clients", multiple=True, type=click.IntRange(1, 1000), default=(1, 8), show_default=True,
              help="Concurrent connections (repeatable).")
@click.option("--seconds", type=click.IntRange(1, 3600), default=10, show_default=True, help="Per measurement.")
@click.option("--processes", type=click.IntRange(1, 64), default=os.cpu_count() or 1, show_default=True,
              help="Runner processes sharing the connections.")
@click.pass_obj
def run_overhead_cmd(settings: config.Settings, clients, seconds, processes) -> None:
    """The runner's throughput next to pgbench -S on the same point query (prints the ratio)."""
    from bench import overhead

    dsn = _target_dsn(settings)
    _check(dsn)
    rows = overhead.run(dsn, list(clients), seconds, processes)
    table = Table(title=f"Runner overhead vs pgbench -S (scale {overhead.PGBENCH_SCALE}, {seconds} s each)")
    for column in ("clients", "runner processes", "pgbench tps", "runner tps", "runner / pgbench",
                   "full request tps"):
        table.add_column(column, justify="right")
    for r in rows:
        table.add_row(str(r["clients"]), str(r["processes"]), f"{r['pgbench_tps']:,.0f}", f"{r['ours_tps']:,.0f}",
                      f"{r['ratio']:.2f}", f"{r['full_request_tps']:,.0f}")
    out.print(table)
    layout = cpu_layout_now(settings)
    out.print(f"cpu layout: runner cpus {layout['runner_cpus']}, server cpus {layout.get('server_cpus')}, not pinned; "
              "full request = BEGIN, identity set_config, query, COMMIT (what every scenario request pays)")


def cpu_layout_now(settings: config.Settings) -> dict:
    from bench.runner import cpu_layout

    return cpu_layout(_postmaster_pid(settings))


def _run_latency(settings: config.Settings, latency_config, only: list[str], scenario_names: list[str],
                 out_dir: str | None = None, run_dir: str | None = None) -> tuple[int, Path]:
    from bench import latency, results, storage
    from scenarios import select as select_scenarios
    from scenarios.population import load as load_population

    scenarios = select_scenarios(scenario_names)  # before _seeded_variants starts a server
    chosen = _seeded_variants(settings, only)
    with _connection(settings) as (conn, dsn):
        directory = open_run(settings, conn, dsn, chosen, out_dir, run_dir)
        population = load_population(conn, chosen[0].name)
        total = latency_config.rounds * sum(1 for s in scenarios for v in chosen if s.query_for(v))
        with _batches(total) as tick, _keeping_partial(directory, "latency", "rounds"):
            section = latency.run(dsn, chosen, scenarios, population, latency_config, tick,
                                  save=lambda s: results.add_section(directory, "latency", s, s["verdicts"]))
        stored = storage.section(conn, [v.name for v in chosen])
    results.add_section(directory, "storage", stored, stored["verdicts"])
    path = directory / results.FILE_NAME
    _print_latency(section, section["verdicts"] + stored["verdicts"])
    out.print(f"results: {path}", soft_wrap=True)
    for where in latency.surprises(section["results"]):
        err.print(f"bench: note: {where} was declared a known failure but succeeded", soft_wrap=True, markup=False)
    expected = sum(r.get("errors", 0) for r in section["results"] if r.get("expected_failure"))
    if expected:
        out.print(f"{expected} requests failed as the schema under test makes them fail (findings, see the report)")
    errors = latency.unexpected_errors(section["results"])
    if errors:
        err.print(f"bench: error: {errors} requests failed unexpectedly (see error_samples in {path})",
                  soft_wrap=True, markup=False)
        return 1, directory
    return 0, directory


@contextmanager
def _keeping_partial(directory: Path, name: str, unit: str):
    """Once a section has saved its partial results, a signal or a lost connection ends
    the command with one line naming them (see main)."""
    from bench import results
    from bench.runner import ConnectionLost

    try:
        yield
    except (KeyboardInterrupt, ConnectionLost) as exc:
        file = directory / results.FILE_NAME
        if isinstance(exc, KeyboardInterrupt):
            raise results.Stopped(results.stop_reason(exc), file) from None
        mark = results.interrupted_sections(results.load(directory)).get(name) or {}
        done = f"{mark.get(f'{unit}_completed', 0)} of {mark.get(f'{unit}_planned', '?')} {unit}"
        raise BenchError(f"lost the connection to the server after {done}; partial results in {file}") from None


def _seeded_variants(settings: config.Settings, only: list[str]) -> list:
    chosen = schemas.select(only)
    with _connection(settings) as (conn, _dsn):
        state = schemas.applied(conn)
    missing = [v.name for v in chosen if (v.name, "post") not in state]
    if missing:
        raise BenchError(f"variant {', '.join(missing)} is not seeded; run `bench seed` first")
    return chosen


def _postmaster_pid(settings: config.Settings) -> int | None:
    if not settings.embedded:
        return None
    info = EmbeddedServer(settings.data_dir, settings.port).postmaster()
    return info["pid"] if info else None


@contextmanager
def _batches(total: int):
    """A progress bar over batches on a terminal; a line every 10% otherwise."""
    from rich.progress import Progress

    if err.is_terminal:
        with Progress(console=err, transient=True) as progress:
            task = progress.add_task("latency", total=total)
            yield lambda: progress.advance(task)
        return
    done = [0]

    def tick():
        done[0] += 1
        if done[0] % max(1, total // 10) == 0 or done[0] == total:
            err.print(f"latency: {done[0]}/{total} batches", highlight=False)

    yield tick


def _print_latency(section: dict, all_verdicts: list[dict]) -> None:
    table = Table(title="Latency (ms) per scenario and variant")
    for column in ("scenario", "variant", "p50", "p95", "p99", "mean", "req/s", "errors", "vs baseline"):
        table.add_column(column, justify="left" if column in ("scenario", "variant") else "right")
    gains = {(c["scenario"], c["variant"]): c for c in section["comparisons"]}
    for r in section["results"]:
        if not r.get("applicable"):
            table.add_row(r["scenario"], r["variant"], "n/a", "", "", "", "", "", "")
            continue
        lat = r["latency"]
        comp = gains.get((r["scenario"], r["variant"]))
        if comp and comp["comparable"]:
            g = comp["improvement"]
            versus = f"{g['estimate']:+.0%} [{g['low']:+.0%}, {g['high']:+.0%}]"
        else:
            versus = "" if r["variant"] == "baseline" else "-"
        errors = f"{r['errors']} (known)" if r["errors"] and r.get("expected_failure") else str(r["errors"])
        if not lat.get("count"):
            table.add_row(r["scenario"], r["variant"], "-", "-", "-", "-", "-", errors, versus)
            continue
        table.add_row(r["scenario"], r["variant"], f"{lat['p50_ms']:.2f}", f"{lat['p95_ms']:.2f}",
                      f"{lat['p99_ms']:.2f}", f"{lat['mean_ms']:.2f}", f"{lat['throughput_rps']:.0f}",
                      errors, versus)
    out.print(table)
    _print_verdicts(all_verdicts)


def _print_verdicts(all_verdicts: list[dict]) -> None:
    from bench.report.data import aggregate_line, figure_text  # as report.html and summary.md give them

    table = Table(title="Verdicts (figure with its 95% interval)")
    for column in ("claim", "variant", "verdict", "measured", "note"):
        table.add_column(column)
    for v in all_verdicts:  # query_speedup in full: its speed ratio beside the time reduction
        table.add_row(v["claim_text"], v["variant"], v["verdict"],
                      figure_text(v, short=v["claim"] != "query_speedup"), v.get("note", ""))
    out.print(table)
    for v in all_verdicts:  # every scenario counts: the per-scenario verdicts behind an aggregate
        if aggregate_line(v):
            out.print(f"{v['claim_text']}, {v['variant']}: {aggregate_line(v)}", soft_wrap=True, highlight=False,
                      markup=False)


# ---- bench all --------------------------------------------------------------------
@cli.command("all")
@scale_option("Scale to seed and measure.")
@click.pass_obj
def run_all(settings: config.Settings, scale: str) -> None:
    """What `make bench` runs: start the server, seed the default scale, measure, judge."""
    from bench import fs
    from bench.loadtest import options as load_options
    from bench.runner import LatencyConfig
    from seed.config import make_config
    from seed.run import seed_database

    seed_config = make_config(scale)  # usage mistakes (BENCH_LOAD_* too) before a server starts
    load_values = load_options.resolve({})
    fs.check_run_output(None, None)  # reports dir: before seeding and measuring
    dsn = _target_dsn(settings)
    with database.connect(dsn) as conn:
        versions = database.check_server(conn, dsn)
        env = environment.capture(conn, dsn, versions)
        _print_environment(env)
        recorded = conn.execute("SELECT to_regclass('bench_meta.seed_run')").fetchone()[0] and conn.execute(
            "SELECT config FROM bench_meta.seed_run WHERE id = 1").fetchone()
        resume = bool(recorded) and recorded[0]["scale"] == scale  # finish (or keep) the same seed
        if recorded and resume:
            seed_config = make_config(scale, anchor=recorded[0]["anchor"])
        began = time.perf_counter()
        report = seed_database(conn, dsn, schemas.variants(), seed_config, workers=min(2, os.cpu_count() or 1),
                               resume=resume, console=err,
                               data_path=settings.data_dir if settings.embedded else None)
        _print_seed(report, time.perf_counter() - began)  # the total includes post-data, as `bench seed` prints it
    from bench.loadtest.command import run_load
    from bench.report import render
    from bench.vector.command import run_vector
    from bench.vector.run import VectorOptions

    code, directory = _run_latency(settings, LatencyConfig(), [], [])
    _run_security(settings, [], run_dir=str(directory))
    vector_code, _ = run_vector(settings, VectorOptions(), [], run_dir=str(directory))
    load_code, _, _ = run_load(settings, load_values, 0, [], run_dir=str(directory))
    paths = render(directory)  # a failed run still gets its report
    out.print(f"report: {paths['report.html']}", soft_wrap=True)
    out.print(f"summary: {paths['summary.md']}", soft_wrap=True)
    if code or vector_code or load_code:
        sys.exit(code or vector_code or load_code)


# ---- helpers ----------------------------------------------------------------------
def _embedded(settings: config.Settings, action: str) -> EmbeddedServer:
    if not settings.embedded:
        raise BenchError(f"`bench db {action}` manages the embedded server; with --dsn/BENCH_DSN the server is yours to manage")
    return EmbeddedServer(settings.data_dir, settings.port)


def _target_dsn(settings: config.Settings) -> str:
    """The DSN to benchmark: the given one, or the embedded server (started if needed)."""
    if not settings.embedded:
        return settings.dsn
    server = EmbeddedServer(settings.data_dir, settings.port)
    result = server.start()
    if not result.already_running:
        err.print(f"embedded server started on port {result.port} in {result.seconds:.2f} s")
    return server.dsn()


@contextmanager
def _connection(settings: config.Settings):
    """A checked admin connection to the server under test (embedded: started if needed)."""
    dsn = _target_dsn(settings)
    with database.connect(dsn) as conn:
        database.check_server(conn, dsn)
        yield conn, dsn


def _check(dsn: str) -> dict:
    with database.connect(dsn) as conn:
        return database.check_server(conn, dsn)


def _print_environment(env: dict) -> None:
    server, machine, harness = env["server"], env["machine"], env["harness"]
    table = Table(title="Environment", show_header=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    table.add_row("server", f"PostgreSQL {server['server']} at {server['where']}")
    table.add_row("pgvector", server["pgvector"])
    table.add_row("pg_stat_statements", "yes" if server["pg_stat_statements"] else "no (not preloaded)")
    for name, value in server["settings"].items():
        table.add_row(f"  {name}", value)
    table.add_row("cpu", f"{machine['cpu_count']} x {machine['cpu_model']}")
    table.add_row("memory", _human_bytes(machine["memory_bytes"]))
    table.add_row("python", machine["python"])
    commit = harness["git_commit"] or "unknown"
    table.add_row("harness", f"{harness['version']} @ {commit[:12]}{' (dirty)' if harness['git_dirty'] else ''}")
    out.print(table)


def _human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.1f} {unit}" if unit != "B" else f"{int(size)} B"
        size /= 1024
    raise AssertionError("unreachable")


def _dsn_in(argv: list[str]) -> list[str]:
    """Every DSN on the command line or in the environment, to scrub them all from errors
    (a usage error may come before we know which one is used)."""
    given = [argv[i + 1] for i, arg in enumerate(argv[:-1]) if arg == "--dsn"]
    given += [arg.split("=", 1)[1] for arg in argv if arg.startswith("--dsn=")]
    return given + [os.environ.get("BENCH_DSN", "")]  # redact() skips an empty one


EXIT_SIGNAL = {"SIGINT": 130, "SIGTERM": 143}  # 128 + the signal's number, as a shell reports it


def _terminated(_signum, _frame) -> None:
    """SIGTERM ends a run as Ctrl+C does: partial results saved, one line, no traceback."""
    from bench.results import Interrupted

    raise Interrupted("SIGTERM")


def _interrupted(exc: BaseException) -> int:
    name = getattr(exc, "signal_name", "SIGINT")
    partial = getattr(exc, "partial", None)
    err.print(f"bench: interrupted ({name})" + (f"; partial results in {partial}" if partial else ""),
              soft_wrap=True, markup=False, highlight=False)
    return EXIT_SIGNAL.get(name, 130)


def main(argv: list[str] | None = None) -> None:
    import signal

    from bench.results import Stopped

    argv = list(sys.argv[1:] if argv is None else argv)
    secret_sources = _dsn_in(argv)
    previous = signal.signal(signal.SIGTERM, _terminated)
    try:
        code = cli.main(args=argv, prog_name="bench", standalone_mode=False)
    except click.exceptions.NoArgsIsHelpError as exc:
        click.echo(exc.ctx.get_help() if exc.ctx else "usage: bench COMMAND", err=True)
        code = 2
    except click.UsageError as exc:
        hint = f" (see `{exc.ctx.command_path} --help`)" if exc.ctx else ""
        err.print(f"bench: error: {dsns.redact(exc.format_message(), *secret_sources)}{hint}", soft_wrap=True, markup=False)
        code = 2
    except BenchError as exc:
        err.print(f"bench: error: {dsns.redact(str(exc), *secret_sources)}", soft_wrap=True, markup=False)
        code = exc.exit_code
    except Stopped as exc:
        code = _interrupted(exc)
    except click.Abort as exc:  # click turns KeyboardInterrupt into Abort: the cause says which signal
        code = _interrupted(exc.__cause__ or exc)
    except KeyboardInterrupt as exc:
        code = _interrupted(exc)
    finally:
        signal.signal(signal.SIGTERM, previous)
    sys.exit(code if isinstance(code, int) else 0)



def _register_commands() -> None:
    """Commands that live in their own packages (they import this module lazily)."""
    from bench.report.command import compare_cmd, report_cmd
    from bench.loadtest.command import load_cmd
    from bench.vector.command import vector_cmd

    run_group.add_command(load_cmd)
    cli.add_command(report_cmd)
    cli.add_command(compare_cmd)
    run_group.add_command(vector_cmd)


_register_commands()


if __name__ == "__main__":
    main()
