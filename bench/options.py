"""Click options shared by several commands (one definition each), importable by command
modules without importing bench.cli (which imports them)."""

from __future__ import annotations

import click


def out_options(f):
    """Where a `bench run X` writes: a new run dir under --out, or into --run-dir."""
    f = click.option("--run-dir", metavar="DIR", help="Add this section to an existing run directory.")(f)
    return click.option("--out", "out_dir", metavar="DIR",
                        help="Where new run directories go (default: reports/, or BENCH_REPORTS_DIR).")(f)


def only_option(f):
    return click.option("--only", "only", multiple=True, metavar="VARIANT",
                        help="Limit to this variant (repeatable). Default: all of schema/.")(f)
