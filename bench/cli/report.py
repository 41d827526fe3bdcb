"""The `bench report` and `bench compare` commands (registered in bench/cli/__init__.py with
`cli.add_command(report_cmd)` and `cli.add_command(compare_cmd)`). Faults are BenchError
(one line, printed by the CLI); neither command needs a database."""

from __future__ import annotations

import click

from bench.core.errors import BenchError


@click.command("report")
@click.argument("run_dir", metavar="RUN_DIR", type=click.Path(exists=True))
@click.option("--allow-interrupted", is_flag=True,
              help="Exit 0 for a run cut short (by a signal or a lost server) too; the report says so either way.")
def report_cmd(run_dir: str, allow_interrupted: bool) -> None:
    """Render charts/*.png, report.html and summary.md from RUN_DIR/results.json.
    Exits 1 after writing them when the run was interrupted, unless --allow-interrupted."""
    from pathlib import Path

    from bench.core.fs import check_writable
    from bench.report import data, render

    check_writable(run_dir if Path(run_dir).is_dir() else Path(run_dir).parent, "report directory")
    paths = render(run_dir)
    for name in sorted(paths, key=lambda n: (n.startswith("charts/"), n)):  # the page and summary first
        click.echo(f"{name}: {paths[name]}")
    stopped = data.interruptions(data.load(run_dir)[0])
    if stopped and not allow_interrupted:  # a CI gate must not pass a partial run as a whole one
        what = "; ".join(f"{i['section']} ({i['reason']}, {i['kept']} kept)" for i in stopped)
        raise BenchError(f"the run was interrupted: {what}; report written, --allow-interrupted to accept it")


def _default_threshold() -> float:
    """compare's own default, read when the command runs (compare loads scipy: slow to import)."""
    from bench.report.compare import DEFAULT_THRESHOLD

    return DEFAULT_THRESHOLD


@click.command("compare")
@click.argument("old", metavar="OLD", type=click.Path(exists=True))
@click.argument("new", metavar="NEW", type=click.Path(exists=True))
@click.option("--threshold", type=click.FloatRange(0, 10), default=lambda: _default_threshold(), show_default="0.1",
              help="Flag a figure that worsens by more than this fraction (0.10 = 10%); a figure whose "
                   "smallest detectable change exceeds it is reported undecidable.")
@click.option("--fail-on-regression", is_flag=True, help="Exit 1 when any regression is flagged (CI gate).")
@click.option("--force", is_flag=True,
              help="Compare runs of a different scale, seed, dim, generator version, difficulty, row counts, "
                   "mode or concurrency anyway (refused with exit 2 otherwise).")
@click.pass_context
def compare_cmd(ctx: click.Context, old: str, new: str, threshold: float, fail_on_regression: bool,
                force: bool) -> None:
    """Change in p50/p95/p99 and throughput per scenario and variant between two runs
    (results.json files or run dirs), as Markdown: regressions and improvements beyond
    --threshold (Holm over every figure), the smallest change each figure could detect,
    and the figures these runs cannot decide."""
    from bench.report import compare

    markdown, regressions = compare(old, new, threshold=threshold, force=force)
    click.echo(markdown, nl=False)
    if regressions and fail_on_regression:
        ctx.exit(1)
