"""Click options shared by several commands (one definition each), importable by command
modules without importing bench.cli (which imports them).

Their callbacks check values while the command line is parsed, so that a usage mistake
exits 2 before any server is started or any data is touched."""

from __future__ import annotations

import os

import click


def with_options(command, options: list):
    """Decorate `command` with click options, listed in the order --help shows them."""
    for option in reversed(options):
        command = option(command)
    return command


def out_options(f):
    """Where a `bench run X` writes: a new run dir under --out, or into --run-dir."""
    f = click.option("--run-dir", metavar="DIR", help="Add this section to an existing run directory.")(f)
    return click.option("--out", "out_dir", metavar="DIR",
                        help="Where new run directories go (default: reports/, or BENCH_REPORTS_DIR).")(f)


def only_option(f):
    return click.option("--only", "only", multiple=True, metavar="VARIANT", callback=known_variants,
                        help="Limit to this variant (repeatable). Default: all of schema/.")(f)


def known_variants(_ctx, _param, names):
    """--only / --source names: an unknown variant is a UsageError (bench.core.schema.select)."""
    from bench.core import schema

    if names:
        schema.select([names] if isinstance(names, str) else list(names))
    return names


def port_value(_ctx, _param, value):
    """--port, else BENCH_PORT, checked as bench.core.config reads it; a bad one is a UsageError."""
    from bench.core import config
    from bench.core.errors import BenchError, UsageError

    raw = value if value is not None else os.environ.get("BENCH_PORT")
    if raw:
        try:
            config._port(raw)
        except BenchError as exc:
            raise UsageError(f"--port / BENCH_PORT: {exc}") from None
    return value
