"""`bench baseline save|list|show|compare`: stored runs to gate a release against
(bench/report/baseline.py keeps them under benchmarks/baselines/NAME/, committed).
No database needed. Faults are one line: a missing or corrupt baseline, another
schema_version, an existing name (nothing is overwritten without --replace)."""

from __future__ import annotations

import click


@click.group("baseline")
def baseline_group() -> None:
    """Stored runs to compare new runs with (benchmarks/baselines/NAME/)."""


@baseline_group.command("save")
@click.argument("name")
@click.argument("run_dir", metavar="[RUN_DIR]", required=False, type=click.Path(exists=True))
@click.option("--replace", is_flag=True, help="Overwrite an existing baseline of that name.")
def save_cmd(name: str, run_dir: str | None, replace: bool) -> None:
    """Store RUN_DIR (default: the newest run in the reports dir) as baseline NAME, without
    the HDR histograms no comparison reads."""
    from bench.core.fs import check_writable
    from bench.report import baseline

    baseline.check_name(name)
    check_writable(baseline.directory(), "baselines directory")
    path = baseline.save(name, run_dir, replace=replace)
    click.echo(f"baseline {name}: {path} ({path.stat().st_size:,} bytes)")


@baseline_group.command("list")
def list_cmd() -> None:
    """The stored baselines: name, run, scale, machine, harness commit, size."""
    from bench.report import baseline

    rows = baseline.names()
    if not rows:
        click.echo(f"no baselines in {baseline.directory()}")
        return
    for row in rows:
        if "error" in row:
            click.echo(f"{row['name']}: {row['error']}")
        else:
            click.echo(f"{row['name']}: run {row['run_id']}, scale {row['scale']}, {row['machine']}, "
                       f"commit {row['commit'] or 'unknown'}, {row['bytes']:,} bytes")


@baseline_group.command("show")
@click.argument("name")
def show_cmd(name: str) -> None:
    """What baseline NAME measured: where, on what, and its verdicts."""
    from bench.judge import text as txt
    from bench.report import baseline
    from bench.report import data as d

    results, file = baseline.load(name)
    click.echo(f"baseline {name}: {file}")
    click.echo(f"  run {results.get('run_id')} · {d.run_label(results)}")
    for v in results.get("verdicts") or []:
        try:
            figure = txt.figure_text(v, short=True)
        except (KeyError, TypeError, ValueError, ZeroDivisionError):
            figure = ""
        click.echo(f"  {v['claim']} on {v['variant']}: {v['verdict']}" + (f" ({figure})" if figure else ""))


@baseline_group.command("compare")
@click.argument("name")
@click.argument("run_dir", metavar="[RUN_DIR]", required=False, type=click.Path(exists=True))
@click.option("--threshold", type=click.FloatRange(0, 10), default=0.10, show_default=True,
              help="Flag a figure that worsens by more than this fraction.")
@click.option("--force", is_flag=True, help="Show the comparison with a baseline measured differently (not gated).")
@click.option("--report-only", is_flag=True, help="Exit 0 whatever the comparison finds.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), metavar="PATH", help="Also write JSON to PATH.")
@click.option("--markdown", "markdown_path", type=click.Path(dir_okay=False), metavar="PATH",
              help="Also write the Markdown to PATH.")
@click.pass_context
def compare_cmd(ctx: click.Context, name: str, run_dir: str | None, threshold: float, force: bool,
                report_only: bool, json_path: str | None, markdown_path: str | None) -> None:
    """Gate RUN_DIR (default: the newest run) against baseline NAME: exit 1 when a verdict got
    worse or a regression beyond --threshold is found; a baseline of another machine, scale,
    dataset or configuration is refused (exit 2) unless --force (then shown, never gated)."""
    from bench.report import baseline

    code = gate_run(name, run_dir or baseline.latest_run(), threshold, force, report_only, json_path, markdown_path)
    ctx.exit(code)


def gate_run(name: str, run_dir, threshold: float, force: bool, report_only: bool, json_path: str | None,
             markdown_path: str | None, echo=click.echo) -> int:
    """Compare a run with baseline NAME and say the gate's verdict; the exit code it asks for."""
    from bench.cli.report import write_outputs
    from bench.report import baseline, gate
    from bench.report import data as d

    old, old_file = baseline.load(name)
    new, _ = d.load(run_dir)
    differences = baseline.check_gateable(old, new, force)  # UsageError (exit 2) unless forced
    review = gate.review(old_file, run_dir, threshold=threshold, force=force)
    text = gate.markdown(review)
    write_outputs(review, text, json_path, markdown_path)
    echo(text, nl=False)
    if differences:
        echo(f"gate: not applied: baseline {name} was measured differently ({'; '.join(differences)})")
        return 0
    failures = review.gate_failures()
    if failures and not report_only:
        echo(f"gate: FAILED against baseline {name}: {_regressions(len(failures))} (--report-only to only report)")
        return 1
    echo(f"gate: {'passed' if not failures else 'report only, ' + _regressions(len(failures))} against baseline {name}")
    return 0


def _regressions(n: int) -> str:
    return f"{n} regression" + ("" if n == 1 else "s")
