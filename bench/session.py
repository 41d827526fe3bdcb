"""The session a command works in, and the sequence every benchmark runs through.

A `Session` (the server under test, its checked connection, the seeded variants, where
output goes) is built once by the CLI and passed down; nothing below the CLI imports the
CLI. `measure()` is the one sequence every benchmark shares: seeded variants, a checked
connection, the run directory, the measurement, its section saved in results.json. A
`Benchmark` (bench/benchmarks.py lists them) only says what it measures and how it reads.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import click
from rich.console import Console

from bench.core import config
from bench.core.errors import BenchError, ConnectionLost, UsageError
from bench.core.progress import progress

if TYPE_CHECKING:  # psycopg and the rest load when a command connects: `bench --help` stays fast
    import psycopg

    from bench.core.schema import Variant
    from bench.core.server import EmbeddedServer


def consoles() -> tuple[Console, Console]:
    """(stdout, stderr). Logs (CI, files) get a wide page so tables keep one row per line."""
    return (Console(highlight=False, width=None if sys.stdout.isatty() else 150),
            Console(stderr=True, highlight=False))


@dataclass
class Session:
    settings: config.Settings
    out: Console
    err: Console
    _dsn: str | None = field(default=None, repr=False)
    server: dict | None = field(default=None, repr=False)  # what the last check found (versions, pgvector)

    @classmethod
    def start(cls, settings: config.Settings) -> Session:
        return cls(settings, *consoles())

    def note(self, message: str) -> None:
        """One plain line on stderr (progress and notes; never markup)."""
        self.err.print(message, highlight=False, markup=False, soft_wrap=True)

    def embedded(self, action: str) -> EmbeddedServer:
        from bench.core.server import EmbeddedServer

        if not self.settings.embedded:
            raise BenchError(f"`bench db {action}` manages the embedded server; with --dsn/BENCH_DSN the server is "
                             "yours to manage")
        return EmbeddedServer(self.settings.data_dir, self.settings.port)

    def target_dsn(self) -> str:
        """The DSN to benchmark: the given one, or the embedded server's (started if needed)."""
        if self._dsn:
            return self._dsn
        if not self.settings.embedded:
            self._dsn = self.settings.dsn
            return self._dsn
        from bench.core.server import EmbeddedServer

        server = EmbeddedServer(self.settings.data_dir, self.settings.port)
        result = server.start()
        if not result.already_running:
            self.note(f"embedded server started on port {result.port} in {result.seconds:.2f} s")
        self._dsn = server.dsn()
        return self._dsn

    @contextmanager
    def connection(self) -> Iterator[tuple[psycopg.Connection, str]]:
        """A checked admin connection to the server under test, and its DSN."""
        from bench.core import database

        dsn = self.target_dsn()
        with database.connect(dsn) as conn:
            self.server = database.check_server(conn, dsn)
            yield conn, dsn

    def check(self) -> dict:
        """Connect once and check the server (versions, pgvector)."""
        with self.connection():
            return self.server

    def seeded_variants(self, only: list[str]) -> list[Variant]:
        from bench.core import schema as schemas

        chosen = schemas.select(only)
        with self.connection() as (conn, _dsn):
            state = schemas.applied(conn)
        missing = [v.name for v in chosen if (v.name, "post") not in state]
        if missing:
            raise BenchError(f"variant {', '.join(missing)} is not seeded; run `bench seed` first")
        return chosen

    def progress(self, label: str, total: int, unit: str = "steps"):
        """A progress bar (terminal) or periodic lines (logs) on stderr; yields tick()."""
        return progress(self.err, label, total, unit)

    def postmaster_pid(self) -> int | None:
        if not self.settings.embedded:
            return None
        from bench.core.server import EmbeddedServer

        info = EmbeddedServer(self.settings.data_dir, self.settings.port).postmaster()
        return info["pid"] if info else None

    def cpu_layout(self) -> dict:
        from bench.core import cpus

        return cpus.cpu_layout(self.postmaster_pid())

    def open_run(self, conn, dsn: str, variants: list[Variant], out_dir: str | None, run_dir: str | None) -> Path:
        """The run directory a benchmark writes its section into: the given --run-dir
        (adding to it), or a new one under --out (default reports/)."""
        from bench.judge import results

        if run_dir:
            results.load(Path(run_dir))  # must exist and be valid
            return Path(run_dir)
        header = results.header(conn, dsn, variants, self.cpu_layout())
        return results.start(Path(out_dir) if out_dir else config.reports_dir(), header)


@dataclass
class Run:
    """What a benchmark measures in: the session, the open connection, the variants
    chosen and the run directory its section goes to."""

    session: Session
    conn: psycopg.Connection
    dsn: str
    variants: list[Variant]
    directory: Path
    section_name: str

    # The section of other variants an earlier `--only` run left in this run directory, and
    # the benchmark's merge of it with this run's (docs/decisions.md, "--only runs merge").
    kept: dict | None = None
    merge: Callable[[dict, dict], dict] | None = None

    def save(self, section: dict) -> Path:
        """Save a section now (partial results while it runs; the final one at the end),
        merged with the kept variants' section when there is one."""
        from bench.judge import results

        section = self.merged(section)
        return results.add_section(self.directory, self.section_name, section, section.get("verdicts", []))

    def merged(self, section: dict) -> dict:
        """The section merged with the kept one, once (a merged section carries MERGED)."""
        if self.kept is None or self.merge is None or MERGED in section:
            return section
        return self.merge(self.kept, section)

    @property
    def file(self) -> Path:
        from bench.judge import results

        return self.directory / results.FILE_NAME


class Benchmark(Protocol):
    """One benchmark: `bench run NAME` and a section NAME in results.json."""

    name: str
    summary: str  # the command's help
    partial_unit: str | None  # what its partial results count ("rounds"), None if it saves none
    in_all: bool  # `bench all` runs it (False: only `bench run NAME`, e.g. too long for make bench)

    def click_options(self, command: Callable) -> Callable:
        """Decorate the command with the benchmark's own options."""

    def options(self, values: dict) -> Any:
        """The options object from parsed values (UsageError on a bad one, before any server starts)."""

    def measure(self, run: Run, options: Any) -> dict:
        """Measure on run.variants and return the section (verdicts under "verdicts")."""

    def show(self, section: dict, session: Session) -> None:
        """Print the section's tables and notes (not its verdicts: the CLI prints those)."""

    def problems(self, section: dict, file: Path) -> list[str]:
        """Faults of the run worth exit 1, one line each (without 'bench: error: ')."""

    # Optional: `merge_kept(kept, new) -> section`, the section of variants measured by an
    # earlier `--only` run of the same dataset combined with this run's, verdicts recomputed.
    # A benchmark without it refuses to replace other variants' figures (kept_section).


MERGED = "merged_from_earlier_run"  # {variants, config}: what a merged section took from the kept one


def section_variants(section: dict) -> set[str]:
    """The variants a section holds figures for (any top-level list of records naming one)."""
    return {item["variant"] for value in section.values() if isinstance(value, list)
            for item in value if isinstance(item, dict) and isinstance(item.get("variant"), str)}


def kept_section(benchmark: Benchmark, directory: Path, conn, dsn: str, chosen: list[Variant]) -> dict | None:
    """The section of other variants already in `directory` that this run's section must be
    merged with, or None. Refused in one line, before measuring: a dataset other than the
    one seeded now, or a benchmark whose sections cannot merge (its figures would be lost)."""
    from bench.judge import results

    data = results.load(directory)
    kept = data.get(benchmark.name)
    others = section_variants(kept or {}) - {v.name for v in chosen}
    if not others:
        return None
    if not hasattr(benchmark, "merge_kept"):
        raise UsageError(f"{directory}: its {benchmark.name} section holds {', '.join(sorted(others))}, which this run "
                         f"would replace; {benchmark.name} sections do not merge across --only runs (use another "
                         "run directory)")
    now = results.dataset(conn) or {}  # not header(): that captures the machine too (a 1 s CPU sample)
    if _without_anchor(data.get("dataset")) != _without_anchor(now):
        raise UsageError(f"{directory}: its {benchmark.name} figures of {', '.join(sorted(others))} are of another "
                         "dataset than the one seeded now; merging them would compare different data")
    return kept


def _without_anchor(dataset: dict | None) -> dict:
    """A dataset's identity: its config without the seeding time (two seeds of one config
    hold the same rows, their dates shifted alike)."""
    return {k: v for k, v in (dataset or {}).items() if k != "anchor"}


def measure(session: Session, benchmark: Benchmark, options: Any, only: list[str], out_dir: str | None = None,
            run_dir: str | None = None, before: Callable[[Run], None] | None = None) -> tuple[dict, Run]:
    """The sequence every benchmark shares: check the output before measuring (a write failing
    afterwards would lose the figures), the seeded variants, a checked connection, the run
    directory, then the measurement, its section saved whether it completes or is stopped."""
    from bench.core import contention, fs

    fs.check_run_output(out_dir, run_dir)
    chosen = session.seeded_variants(only)
    with session.connection() as (conn, dsn):
        directory = session.open_run(conn, dsn, chosen, out_dir, run_dir)
        run = Run(session, conn, dsn, chosen, directory, benchmark.name)
        if run_dir:
            run.kept = kept_section(benchmark, directory, conn, dsn, chosen)
            run.merge = getattr(benchmark, "merge_kept", None)
        if before:
            before(run)
        postmaster = contention.local_postmaster(conn)
        began = contention.mark(postmaster)
        with keeping_partial(run, benchmark.partial_unit):
            section = benchmark.measure(run, options)
        section = {**section, "other_work": contention.other_work(began, contention.mark(postmaster))}
    section = run.merged(section)
    run.save(section)
    return section, run


@contextmanager
def keeping_partial(run: Run, unit: str | None):
    """Once a section has saved its partial results, a signal or a lost connection ends
    the command with one line naming them (the CLI prints it)."""
    from bench.judge import results

    try:
        yield
    except (KeyboardInterrupt, ConnectionLost) as exc:
        if isinstance(exc, KeyboardInterrupt):
            raise results.Stopped(results.stop_reason(exc), run.file) from None
        mark = results.interrupted_sections(results.load(run.directory)).get(run.section_name) or {}
        done = f"{mark.get(f'{unit}_completed', 0)} of {mark.get(f'{unit}_planned', '?')} {unit}"
        raise BenchError(f"lost the connection to the server after {done}; partial results in {run.file}") from None


def parse_defaults(benchmark: Benchmark) -> Any:
    """The options a `bench run NAME` without flags would use (what `bench all` measures),
    parsed by the same click options so the two can never differ; an option may be set by
    BENCH_<NAME>_<OPTION> (e.g. BENCH_LATENCY_ROUNDS=2), checked like the flag."""
    command = click.command(benchmark.name)(benchmark.click_options(lambda **values: values))
    prefix = f"BENCH_{benchmark.name.upper()}"
    for param in command.params:
        if isinstance(param, click.Option) and not param.envvar:
            param.envvar = _option_envvars(prefix, param)
    try:
        with command.make_context(benchmark.name, [], resilient_parsing=False) as ctx:
            return benchmark.options(dict(ctx.params))
    except click.BadParameter as exc:  # only the environment can be wrong here: say which variable
        from bench.core.errors import UsageError

        envvar = exc.param.envvar if exc.param else None
        set_ones = [n for n in envvar or () if n in os.environ]
        raise UsageError(f"{set_ones[0] if set_ones else prefix}: {exc.format_message()}") from None


def _option_envvars(prefix: str, param: click.Option) -> list[str]:
    """BENCH_<NAME>_<OPTION> from the option's flag (--scenario: BENCH_LATENCY_SCENARIO), and
    from its parameter name where that differs (BENCH_LATENCY_SCENARIO_NAMES), as before."""
    flag = max(param.opts, key=len).lstrip("-").replace("-", "_").upper()
    names = [f"{prefix}_{flag}"]
    if param.name and param.name.upper() != flag:
        names.append(f"{prefix}_{param.name.upper()}")
    return names
