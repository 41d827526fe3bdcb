"""The `bench report` and `bench compare` commands (registered in bench/cli.py with
`cli.add_command(report_cmd)` and `cli.add_command(compare_cmd)`). Faults are BenchError
(one line, printed by the CLI); neither command needs a database."""

from __future__ import annotations

import click

from bench.report.compare import DEFAULT_THRESHOLD


@click.command("report")
@click.argument("run_dir", metavar="RUN_DIR", type=click.Path(file_okay=True, dir_okay=True))
def report_cmd(run_dir: str) -> None:
    """Render charts/*.png, report.html and summary.md from RUN_DIR/results.json."""
    from bench.report import render

    paths = render(run_dir)
    for name in sorted(paths, key=lambda n: (n.startswith("charts/"), n)):  # the page and summary first
        click.echo(f"{name}: {paths[name]}")


@click.command("compare")
@click.argument("old", metavar="OLD", type=click.Path())
@click.argument("new", metavar="NEW", type=click.Path())
@click.option("--threshold", type=click.FloatRange(0, 10), default=DEFAULT_THRESHOLD, show_default=True,
              help="Flag a figure that worsens by more than this fraction (0.10 = 10%).")
@click.option("--fail-on-regression", is_flag=True, help="Exit 1 when any regression is flagged (CI gate).")
@click.option("--force", is_flag=True, help="Compare runs of different datasets or result versions anyway.")
@click.pass_context
def compare_cmd(ctx: click.Context, old: str, new: str, threshold: float, fail_on_regression: bool,
                force: bool) -> None:
    """Change in p50/p95/p99 and throughput per scenario and variant between two runs
    (results.json files or run dirs), as Markdown; flags regressions beyond --threshold."""
    from bench.report import compare

    markdown, regressions = compare(old, new, threshold=threshold, force=force)
    click.echo(markdown, nl=False)
    if regressions and fail_on_regression:
        ctx.exit(1)
