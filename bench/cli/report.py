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
@click.option("--fail-on-regression", is_flag=True,
              help="Exit 1 when a verdict got worse or any section flags a regression (CI gate).")
@click.option("--force", is_flag=True,
              help="Compare runs of a different scale, seed, dim, generator version, difficulty, row counts, "
                   "mode or concurrency anyway (refused with exit 2 otherwise).")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), metavar="PATH",
              help="Also write the comparison as JSON to PATH.")
@click.option("--markdown", "markdown_path", type=click.Path(dir_okay=False), metavar="PATH",
              help="Also write the Markdown to PATH (what the PR workflow posts).")
@click.pass_context
def compare_cmd(ctx: click.Context, old: str, new: str, threshold: float, fail_on_regression: bool,
                force: bool, json_path: str | None, markdown_path: str | None) -> None:
    """Compare two runs (results.json files or run dirs), as Markdown for a pull request:
    verdicts that flipped first, then latency (p50/p95/p99 and throughput per scenario and
    variant: Holm over every figure, the smallest change each could detect), vector search,
    load, storage, security and seeding, each with its noise."""
    from bench.report import gate

    review = gate.review(old, new, threshold=threshold, force=force)
    text = gate.markdown(review)
    write_outputs(review, text, json_path, markdown_path)
    click.echo(text, nl=False)
    if review.failed and fail_on_regression:
        ctx.exit(1)


def write_outputs(review, text: str, json_path: str | None, markdown_path: str | None) -> None:
    """The JSON and Markdown files of a comparison, each written whole (temp file + rename)."""
    from pathlib import Path

    from bench.core.fs import check_writable
    from bench.report import gate

    for path in (json_path, markdown_path):
        if path:
            check_writable(Path(path).resolve().parent, "output directory")
            Path(path).resolve().parent.mkdir(parents=True, exist_ok=True)
    if json_path:
        gate.write_json(review, json_path)
    if markdown_path:
        target = Path(markdown_path)
        temp = target.with_name(f".{target.name}.tmp")
        temp.write_text(text, encoding="utf-8")
        temp.replace(target)


@click.command("export")
@click.argument("run_dir", metavar="RUN_DIR", type=click.Path(exists=True))
@click.option("--format", "kind", type=click.Choice(["github", "bencher"]), required=True,
              help="github: github-action-benchmark's customSmallerIsBetter JSON; bencher: Bencher Metric Format.")
@click.option("--output", "-o", type=click.Path(dir_okay=False), metavar="PATH",
              help="Write to PATH (default: stdout).")
def export_cmd(run_dir: str, kind: str, output: str | None) -> None:
    """A run's figures as JSON for github-action-benchmark or Bencher (history in tools you already use)."""
    from pathlib import Path

    from bench.report.export import export

    text = export(run_dir, kind)
    if output:
        target = Path(output)
        temp = target.with_name(f".{target.name}.tmp")
        temp.write_text(text, encoding="utf-8")
        temp.replace(target)
        click.echo(f"{kind}: {target}")
    else:
        click.echo(text, nl=False)
