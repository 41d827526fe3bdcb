"""`bench capacity` (make bench-capacity): seed and measure several sizes, fit how each
cost grows, validate the fits on the largest size held out, project to `full`.

Named `capacity`, not `plan` (the report already has query *plans*) nor `run capacity`
(not a benchmark of one seeded dataset: it seeds each size itself, so `bench all` must
never run it)."""

from __future__ import annotations

import os
from pathlib import Path

import click
from rich.table import Table

from bench.core.options import out_options, with_options
from bench.judge.text import figure_text, human_bytes
from bench.session import Session


def _sizes(_ctx, _param, value: str):
    from bench.capacity import sizes

    return sizes.parse(value)  # a UsageError (exit 2) before any server starts


def _capacity(session: Session, **values) -> None:
    """Measure every variant at several sizes, fit latency and bytes against rows,
    validate on the largest size held out, and project to full (10M documents).

    Each size is seeded into the database in turn: the variants the harness created are
    dropped and seeded again at the next size (nothing else is touched). Sizes measured
    before are kept when run again with --run-dir DIR or --resume."""
    from bench.capacity import sweep
    from bench.cli.seed import data_path
    from bench.core import fs
    from bench.core.config import reports_dir
    from bench.latency.runner import LatencyConfig
    from scenarios import select as select_scenarios

    latency = LatencyConfig(rounds=values["rounds"], runs=min(values["runs"], values["rounds"]),
                            requests=values["requests"], concurrency=values["users"], warmup=values["warmup"])
    options = sweep.SweepOptions(values["sizes"], latency, select_scenarios(list(values["scenario_names"])),
                                 workers=values["workers"], seed=values["seed_value"],
                                 recall_queries=values["recall_queries"])
    run_dir = values["run_dir"]
    if values["resume"] and not run_dir:
        run_dir = str(sweep.latest_run(Path(values["out_dir"]) if values["out_dir"] else reports_dir()))
    fs.check_run_output(values["out_dir"], run_dir)
    directory = sweep.run(session, options, data_path(session), values["out_dir"], run_dir)
    show(session, directory)
    from bench.report import render

    paths = render(directory)
    session.out.print(f"report: {paths['report.html']}", soft_wrap=True)
    session.out.print(f"summary: {paths['summary.md']}", soft_wrap=True)


capacity_cmd = click.command("capacity")(click.pass_obj(with_options(_capacity, [
    click.option("--sizes", default="tiny,10K,30K,small,medium", show_default=True, callback=_sizes,
                 help="Sizes to measure, smallest first: scales (tiny, small, medium, full) or numbers of documents "
                      "(30K, 1.5M; the other tables interpolated between the scales around it). The largest is "
                      "held out to validate the fits on the others."),
    click.option("--rounds", type=click.IntRange(1, 1000), default=3, show_default=True,
                 help="Latency rounds per size (make bench: 6)."),
    click.option("--runs", type=click.IntRange(1, 100), default=1, show_default=True,
                 help="Independent latency runs per size (make bench: 3)."),
    click.option("--requests", type=click.IntRange(1, 10**6), default=30, show_default=True,
                 help="Requests per scenario, variant and round."),
    click.option("--warmup", type=click.IntRange(0, 10**6), default=10, show_default=True,
                 help="Unrecorded requests per scenario and variant first."),
    click.option("--users", type=click.IntRange(min=1), default=4, show_default=True,
                 help="Simultaneous users: connections the latency runner keeps busy (closed loop)."),
    click.option("--scenario", "scenario_names", multiple=True, metavar="NAME", help="Only these scenarios."),
    click.option("--workers", type=click.IntRange(min=1), default=min(2, os.cpu_count() or 1), show_default=True,
                 help="Seeder processes."),
    click.option("--recall-queries", type=click.IntRange(0, 10**4), default=20, show_default=True,
                 help="Queries per variant and size behind the vector scenario's recall@10 (each is also searched "
                      "exactly, a scan of every document; 0: no recall)."),
    click.option("--seed", "seed_value", type=int, default=1, show_default=True, help="Random seed of the dataset."),
    click.option("--resume", is_flag=True, help="Continue the latest capacity run under --out (or the reports dir): "
                                                "complete sizes are kept, an interrupted one is measured again."),
    out_options,
])))


def show(session: Session, directory: Path) -> None:
    from bench.judge import results

    section = results.load(directory)["capacity"]
    session.out.print(sizes_table(section))
    analysis = section.get("analysis") or {}
    if analysis.get("why_not"):
        session.out.print(f"no fits: {analysis['why_not']}")
        return
    session.out.print(validation_table(analysis))
    summary = (analysis.get("validation") or {}).get("kinds") or {}
    for kind, k in summary.items():
        if k.get("series"):
            goal = f" (goal <= {k['goal']:.0%}: {'met' if k['meets_goal'] else 'missed'})" if k.get("goal") else ""
            session.out.print(f"{kind}: median |error| at {analysis['validation']['held_out']} "
                              f"{k['median_abs_error']:.1%} over {k['series']} series{goal}; 95% intervals covered "
                              f"{k['interval_coverage']:.0%}")
    data = results.load(directory)
    for v in data.get("verdicts") or []:
        if v["claim"] in ("vector_at_scale", "tenant_at_scale"):
            session.out.print(f"{v['claim_text']} ({v['variant']}): {v['verdict'].upper()}: {figure_text(v)}; "
                              f"{v['note']}", soft_wrap=True)
    if (analysis.get("sizing") or {}).get("rows"):
        _print_sizing(analysis["sizing"], session.out)


def sizes_table(section: dict) -> Table:
    table = Table(title="Capacity sweep: sizes measured")
    for column in ("size", "documents", "status", "seed s", "post-data s", "database", "largest tenant", "wall s"):
        table.add_column(column, justify="left" if column in ("size", "status") else "right")
    for s in section.get("sizes", []):
        seed = s.get("seed") or {}
        post = seed.get("post_data_seconds") or {}
        tenant = s.get("largest_tenant") or {}
        table.add_row(s["label"], f"{s['counts']['documents']:,}", s.get("status", ""),
                      f"{seed.get('total_seconds', 0):.0f}", " / ".join(f"{v:.0f}" for v in post.values()),
                      human_bytes(s.get("database_bytes")), f"{tenant.get('projects', 0):,} projects",
                      f"{s.get('wall_seconds') or 0:.0f}")
    return table


def validation_table(analysis: dict) -> Table:
    held = (analysis.get("validation") or {}).get("held_out")
    table = Table(title=f"Held-out validation: latency at {held} predicted from the smaller sizes; projection to "
                        f"{analysis['target']['label']} (fitted on every size)")
    for column in ("scenario", "variant", "model", "predicted", "measured", "error", "projection (95% PI)"):
        table.add_column(column, justify="left" if column in ("scenario", "variant", "model") else "right")
    for s in analysis.get("series", []):
        if s["kind"] != "latency":
            continue
        v, p = s.get("validation") or {}, s.get("projection")
        if "error" in v:
            cells = [v["model"], f"{v['predicted']:.2f}", f"{v['measured']:.2f}", f"{v['error']:+.0%}"]
        else:
            cells = ["", "", "", v.get("why_not", s.get("why_not", ""))[:40]]
        projected = (f"{p['estimate']:.1f} [{p['low']:.1f}, {p['high']:.1f}] ms ({s['fit']['model']})" if p
                     else f"not projected: {s.get('why_not', '')}"[:60])
        table.add_row(s["scenario"], s["variant"], *cells, projected)
    return table


def _documents(_ctx, _param, value: str | None) -> int | None:
    from bench.capacity import sizes

    return None if value is None else sizes.count_of(value, "--documents")


@click.command("sizing")
@click.argument("run_dir", metavar="[RUN_DIR]", required=False, type=click.Path(exists=True, file_okay=False))
@click.option("--documents", callback=_documents, metavar="N",
              help="Documents to size for (10M, 25M, 3.5M; default: the sweep's target, full).")
@click.option("--users", type=click.IntRange(min=1), default=None,
              help="Simultaneous users to size the cores for (default: the review's 10K).")
@click.option("--cores", type=click.IntRange(min=1), default=None,
              help="Cores of the box the build hours are for (default: 16).")
@click.option("--think", type=click.FloatRange(0, 3600), default=None, metavar="SECONDS",
              help="Mean seconds between a user's requests (default: 17.5, the 5-30 s of the 10K-users claim).")
@click.option("--throughput", "throughput_dir", type=click.Path(exists=True, file_okay=False), metavar="DIR",
              help="A run with a throughput section (bench run throughput) for the cores (default: RUN_DIR's own).")
@click.option("--markdown", "markdown_path", type=click.Path(dir_okay=False), metavar="PATH",
              help="Also write the table as Markdown to PATH.")
@click.option("--out", "out_dir", metavar="DIR", help="Where to look for the latest capacity run (default: reports/).")
def sizing_cmd(run_dir: str | None, documents: int | None, users: int | None, cores: int | None,
               think: float | None, throughput_dir: str | None, markdown_path: str | None, out_dir: str | None) -> None:
    """Disk, memory, build time and cores for a target, from a capacity run's fits (no server).

    RUN_DIR is a `bench capacity` run (default: the latest under reports/). Every figure is a
    projection with its 95% interval and the assumptions printed under it."""
    from bench.capacity import analysis, sizing, sweep
    from bench.core.config import reports_dir
    from bench.core.errors import UsageError
    from bench.judge import results, verdicts

    directory = Path(run_dir) if run_dir else sweep.latest_run(Path(out_dir) if out_dir else reports_dir())
    data = results.load(directory)
    section = data.get("capacity")
    if not section or not (section.get("analysis") or {}).get("series"):
        raise UsageError(f"{directory}: no capacity fits (run bench capacity with at least 3 sizes)")
    source = results.load(Path(throughput_dir)) if throughput_dir else data
    seed = analysis.seed_of(section)
    claim = verdicts.targets()["simultaneous_users"]
    target = sizing.Target(documents or section["analysis"]["target"]["documents"], users or claim["users"],
                           cores or sizing.BUILD_CORES, think if think is not None else sum(claim["think_s"]) / 2)
    rows = sizing.target_rows(target.documents, seed)
    try:
        table = sizing.sizing(section["analysis"], target, rows, source.get("throughput"),
                              ((source.get("dataset") or {}).get("counts") or {}).get("documents"),
                              analysis.parallel_workers(section))
    except sizing.SizingError as exc:
        raise UsageError(f"{directory}: {exc}") from None
    _print_sizing(table, click.get_current_context().obj.out)
    if markdown_path:
        _write_markdown(Path(markdown_path), table)


def _print_sizing(table: dict, console) -> None:
    from bench.report.charts_capacity import sizing_rows, sizing_users

    rows = sizing_rows(table)
    target = table["target"]
    out = Table(title=f"Sizing: {target['documents']:,} documents, {sizing_users(table)} (projections, fitted on "
                      f"{', '.join(table['fitted_on'] or [])})")
    for column in rows[0]:
        out.add_column(column)
    for row in rows:
        out.add_row(*row.values())
    console.print(out)
    for line in table["assumptions"]:
        console.print(f"- {line}", soft_wrap=True)


def _write_markdown(path: Path, table: dict) -> None:
    from bench.report.charts_capacity import sizing_note, sizing_rows, sizing_users
    from bench.report.md import escape, table as md_table

    target = table["target"]
    lines = [f"**Sizing: {target['documents']:,} documents, {sizing_users(table)}** (projections)", "",
             *md_table(sizing_rows(table)), "", escape(sizing_note(table)), ""]
    temp = path.with_name(f".{path.name}.tmp")
    temp.write_text("\n".join(lines), encoding="utf-8")
    temp.replace(path)
