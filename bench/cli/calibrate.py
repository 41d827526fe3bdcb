"""`bench calibrate`: synthetic embeddings against real ones at the same size
(bench/vector/calibrate.py), and optionally a search for the fitted profile."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import click
from rich.table import Table

from bench.cli.seed import embedding_store
from bench.session import Session


@click.command("calibrate")
@click.option("--documents", type=click.IntRange(min=100), default=19_500, show_default=True,
              help="Documents of each kind of data (real: the first of the corpus).")
@click.option("--queries", type=click.IntRange(min=10), default=500, show_default=True, help="Held-out queries.")
@click.option("--seed", "seed_value", type=int, default=1, show_default=True, help="Seed of the synthetic data.")
@click.option("--generator", "generators", type=click.Choice(["default", "topic"]), multiple=True,
              default=("default", "topic"), show_default=True,
              help="Synthetic generators to compare (repeatable): the default (the fitted profile), "
                   "the earlier topic model.")
@click.option("--builds", type=click.IntRange(min=1, max=20), default=3, show_default=True,
              help="Builds of each index per kind of data: the goal is judged with each gap's interval over them.")
@click.option("--fit", is_flag=True, help="Also search the fitted profile's parameters around the default's (minutes).")
@click.option("--embeddings-dir", type=click.Path(file_okay=False), envvar="BENCH_EMBEDDINGS_DIR",
              help="Store of real embeddings (or BENCH_EMBEDDINGS_DIR). Default: DATA_DIR/embeddings")
@click.option("--verdict/--no-verdict", default=True, show_default=True,
              help="Also judge the vector claim on each kind of data, as bench run vector does.")
@click.option("--out", "out_file", type=click.Path(dir_okay=False),
              help="Where to write the figures (JSON). Default: REPORTS_DIR/calibration-<time>.json")
@click.option("--run-dir", type=click.Path(file_okay=False, exists=True),
              help="Also add the figures to this run as its calibration section (shown by bench report).")
@click.pass_obj
def calibrate_cmd(session: Session, documents, queries, seed_value, generators, builds, fit, embeddings_dir, verdict,
                  out_file, run_dir) -> None:
    """Compare real and synthetic embeddings: recall and latency sweeps, geometry, and the
    vector verdict on each."""
    from bench.core import config as settings
    from bench.vector import calibrate as cal
    from seed.config import DEFAULT_EMBEDDINGS, TOPIC_EMBEDDINGS, make_config
    from seed.embeddings import FITTED

    store = embedding_store(session, embeddings_dir)
    real, embedded = cal.real(store, documents, queries, session.err)
    kinds = [real]
    for generator in dict.fromkeys(generators):
        source = TOPIC_EMBEDDINGS if generator == "topic" else DEFAULT_EMBEDDINGS
        config = make_config("small", [f"documents={documents}", f"query_vectors={queries}"], seed=seed_value,
                             anchor="2026-01-01", embeddings=source)
        kinds.append(cal.synthetic(config, queries, source))
    out = Path(out_file) if out_file else settings.reports_dir() / f"calibration-{dt.datetime.now():%Y%m%d-%H%M%S}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    results = []
    with session.connection() as (conn, _dsn):
        conn.execute("SET maintenance_work_mem = '1GB'")
        with session.progress("calibrate", cal.N_POINTS * len(kinds) * builds, "settings") as tick:
            for data in kinds:
                results.append(cal.measure(conn, data, tick, builds))
        for r in results[1:]:
            r.update(cal.gaps(results[0]["points"], results[0]["geometry"], r["points"], r["geometry"]))
        if verdict:
            for data, r in zip(kinds, results):
                session.err.print(f"calibrate: the vector verdict on {data.name} (one build of each judged index)",
                                  highlight=False)
                r["verdict"] = cal.verdict(conn, data)
        fitted = None
        if fit:
            config = make_config("small", [f"documents={documents}", f"query_vectors={queries}"], seed=seed_value,
                                 anchor="2026-01-01")
            fitted = cal.fit(conn, results[0], config, queries, FIT_GRID, FITTED, builds=builds,
                             progress=lambda line: session.err.print(line, highlight=False, soft_wrap=True))
    record = {"documents": documents, "queries": queries, "seed": seed_value, "builds": builds, "embedded": embedded,
              "corpus_documents": store_documents(store), "fitted_profile": FITTED.as_dict(), "kinds": results,
              "fit": fitted}
    if verdict:
        record["agreement"] = cal.agreement(results)
        record["rests_on"] = cal.rests_on(record)
    out.write_text(json.dumps(record, indent=1))
    if run_dir:
        from bench.judge import results as run_results

        run_results.add_section(Path(run_dir), "calibration", record, [])
    show(session, results)
    if verdict:
        show_agreement(session, record)
    if fitted:
        best = fitted[0]
        session.out.print(f"fit: best profile {best['profile']}: max recall gap {best['max_recall_gap']:.3f}, "
                          f"NN cosine gap {best['nn_cosine_gap']:.3f}, goal {best['goal']}",
                          soft_wrap=True, highlight=False)
    session.out.print(f"results: {out}", soft_wrap=True)


def store_documents(store) -> int | None:
    """Documents in the store's corpus: real data exists up to this size."""
    from seed.corpus import Corpus

    try:
        return len(Corpus.load(store.directory).split()[0])
    except (OSError, ValueError):
        return None


def show_agreement(session: Session, record: dict) -> None:
    from bench.report.calibration import verdict_rows

    table = Table(title=f"the vector verdict on real and synthetic data, {record['documents']:,} documents")
    rows = verdict_rows(record)
    for column in rows[0] if rows else ():
        table.add_column(column)
    for row in rows:
        table.add_row(*row.values())
    session.out.print(table)
    session.out.print(record["rests_on"], soft_wrap=True, highlight=False)


# Around the fitted profile's revision 4 (docs/decisions.md): the local rank lifts HNSW and
# IVFFlat together, tightness moves the cosine profile, difficulty_growth makes IVFFlat
# harder below 88,000 documents and leaves 88,000 and above alone.
FIT_GRID = {"local_rank": [10, 12, 14], "tightness": [1.6, 1.7, 1.8], "difficulty_growth": [-0.25, -0.339, -0.45]}


def show(session: Session, results: list[dict]) -> None:
    from bench.report.calibration import builds_note
    from bench.vector.calibrate import GOAL_COSINE, GOAL_RECALL

    real, others = results[0], results[1:]
    n = real["documents"]
    table = Table(title=f"recall@10 and p50 latency, {n:,} documents, {real['queries']} queries "
                        f"(goal: every synthetic recall within ±{GOAL_RECALL} of the real one)")
    table.add_column("index, setting")
    for r in results:
        table.add_column(f"{r['name']} recall", justify="right")
    for r in others:
        table.add_column("Δ", justify="right")
    for r in results:
        table.add_column(f"{r['name'].split(':')[-1]} p50 ms", justify="right")
    for i, point in enumerate(real["points"]):
        cells = [f"{point['index']} {point['setting']}"]
        cells += [f"{r['points'][i]['recall']:.3f}" for r in results]
        cells += [_delta(r["recall_gaps"][i], GOAL_RECALL) for r in others]
        cells += [f"{r['points'][i]['p50_ms']:.2f}" for r in results]
        table.add_row(*cells)
    session.out.print(table)
    geo = Table(title=f"geometry (goal: 1st-neighbour cosine within ±{GOAL_COSINE} of the real one)")
    geo.add_column("measure")
    for r in results:
        geo.add_column(r["name"], justify="right")
    for label, pick in (("cosine to the 1st nearest", lambda g: g["nn_cosine"][0]),
                        ("cosine to the 2nd nearest", lambda g: g["nn_cosine"][1]),
                        ("cosine to the 5th nearest", lambda g: g["nn_cosine"][4]),
                        ("cosine to the 10th nearest", lambda g: g["nn_cosine"][9]),
                        ("relative contrast", lambda g: g["relative_contrast"]),
                        ("hubness (skew of 10-occurrence)", lambda g: g["hubness"]),
                        ("mean cosine, query to any document", lambda g: g["mean_cosine"])):
        geo.add_row(label, *[f"{pick(r['geometry']):.3f}" for r in results])
    session.out.print(geo)
    for r in others:
        session.out.print(f"{r['name']}: largest recall gap {r['max_recall_gap']:.3f}, 1st-neighbour cosine gap "
                          f"{r['nn_cosine_gap']:.3f}: goal {r['goal'].upper()} ({builds_note(r.get('builds', 1))})",
                          highlight=False)


def _delta(gap: dict, goal: float) -> str:
    """The gap, ± its interval over the builds; bold where the goal is not met there."""
    from bench.report.calibration import gap_text
    from bench.vector.calibrate import reach

    text = gap_text(gap)
    return text if reach(gap)[1] <= goal else f"[bold]{text}[/bold]"
