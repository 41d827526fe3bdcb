"""`bench run vector` as a Benchmark: recall and latency of every index configuration and
search setting, filtered search, the comparison at matched recall and the `vector_speedup`
verdict, written as the `vector` section of a run's results.json."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.table import Table

from bench.core.errors import BenchError, UsageError
from bench.core.options import known_variants, with_options
from bench.judge import text as txt
from bench.vector import configs

if TYPE_CHECKING:  # the measuring modules load when the command measures: `bench --help` stays fast
    from bench.session import Run, Session
    from bench.vector.run import VectorOptions


def known_configs(_ctx, _param, names: tuple[str, ...]) -> tuple[str, ...]:
    """--config names from configs.toml; an unknown one is a usage mistake (exit 2)."""
    if not names:
        return names
    catalog = configs.load()  # a broken configs.toml stays a fault (exit 1)
    try:
        catalog.named(list(names))
    except BenchError as exc:
        raise UsageError(str(exc)) from None
    return names


class Vector:
    name = "vector"
    summary = "Vector search at matched recall: index sweeps, filtered search, the vector_speedup verdict."
    partial_unit = None
    in_all = True

    def click_options(self, command):
        return with_options(command, [
            click.option("--config", "config_names", multiple=True, metavar="NAME", callback=known_configs,
                         help="Index configuration from bench/vector/configs.toml (repeatable). "
                              "Default: those marked default."),
            click.option("--target", "targets", multiple=True, type=click.FloatRange(0.01, 1.0), metavar="RECALL",
                         help="Target recall@10 for the matched-recall comparison (repeatable). "
                              "Default: configs.toml's (0.90 0.95); each sweep stops at the first setting reaching "
                              "the highest, so --target 0.99 (with the others) measures the high-recall end."),
            click.option("--queries", type=click.IntRange(10, 10**6), default=None,
                         help="Held-out queries to use. Default: all stored with the dataset (500 at the small scale)."),
            click.option("--clients", multiple=True, type=click.IntRange(1, 1000), default=(1, 4), show_default=True,
                         help="Concurrent clients for throughput (repeatable; 1 is always measured)."),
            click.option("--rounds", type=click.IntRange(1, 1000), default=10, show_default=True,
                         help="Rounds per sweep (each a batch of the queries under every setting); verdicts need 5."),
            click.option("--filtered-queries", type=click.IntRange(1, 10**5), default=None,
                         help="Queries per filter selectivity. Default: configs.toml's (25)."),
            click.option("--no-filtered", is_flag=True, help="Skip filtered search on the scratch table."),
            click.option("--no-rls", is_flag=True, help="Skip filtered search as users under RLS on the variants' tables."),
            click.option("--builds", type=click.IntRange(1, 10), default=None,
                         help="Builds of each compared index. Default: configs.toml's (1, its interval widened by "
                              "the spread between builds in targets.toml); 2 or more pool or check the builds."),
            click.option("--source", metavar="VARIANT", callback=known_variants,
                         help="Variant whose documents are copied (default: the first seeded)."),
        ])

    def options(self, values: dict) -> VectorOptions:
        from bench.vector.run import VectorOptions

        return VectorOptions(configs=tuple(values["config_names"]), targets=tuple(values["targets"]),
                             queries=values["queries"], clients=tuple(sorted(set(values["clients"]) | {1})),
                             rounds=values["rounds"], filtered_queries=values["filtered_queries"],
                             filtered=not values["no_filtered"], rls=not values["no_rls"], source=values["source"],
                             builds=values["builds"])

    def measure(self, run: Run, options: VectorOptions) -> dict:
        from bench.vector import run as vector_run

        if options.source and options.source not in {v.name for v in run.variants}:
            raise BenchError(f"--source {options.source} is not among the seeded variants chosen")
        with run.session.progress("vector", vector_run.configs_to_measure(options), "indexes") as index_done:
            return vector_run.run(run.conn, run.dsn, run.variants, options, note=run.session.note,
                                  index_done=index_done)

    def show(self, section: dict, session: Session) -> None:
        print_section(section, session.out)

    def merge_kept(self, kept: dict, new: dict) -> dict:
        """Nothing to take from an earlier --only run: every variant's index is built on a copy
        of one seeded variant's documents (the same rows in each), so the new section already
        measures them all."""
        return new

    def problems(self, section: dict, file: Path) -> list[str]:
        from bench.vector import run as vector_run

        lines = []
        failed, leaked = vector_run.errors(section), vector_run.leaks(section)
        if failed:
            lines.append(f"{failed} vector queries failed (see error_samples in {file})")
        if leaked:
            lines.append(f"{leaked} rows from another tenant came back under RLS (see `rls` in {file})")
        return lines


VECTOR = Vector()


# ---- printing ------------------------------------------------------------------------------------
def print_section(section: dict, out: Console) -> None:
    k = section["options"]["k"]
    clients = [c for c in section["options"]["clients"] if c > 1]
    table = Table(title=f"Vector search: recall@{k} and latency per configuration and setting "
                        f"({section['dataset']['rows']:,} docs x {section['dataset']['dim']}, "
                        f"{section['dataset']['queries']} queries, 1 client)")
    for column in ("config", "setting", f"recall@{k}", "p50 ms", "p95 ms", "p99 ms", "q/s 1 client",
                   *(f"q/s {n} clients" for n in clients)):
        table.add_column(column, justify="left" if column in ("config", "setting") else "right")
    for p in section["sweeps"]:
        if p.get("same_index_as"):
            continue
        lat = p["latency"]
        rates = {t["clients"]: t["throughput_rps"] for t in p["throughput"]}
        if not lat.get("count"):
            table.add_row(p["config"], p["setting"], "-", "-", "-", "-", "-", *("-" for _ in clients))
            continue
        table.add_row(p["config"], p["setting"], _num(p["recall"]), f"{lat['p50_ms']:.2f}", f"{lat['p95_ms']:.2f}",
                      f"{lat['p99_ms']:.2f}", _rate(rates.get(1)), *(_rate(rates.get(n)) for n in clients))
    out.print(table)
    same = [i for i in section["indexes"] if i.get("same_index_as")]
    for i in same:
        differ = f"; they differ from {i['differ_from_rows']:,} rows" if i.get("differ_from_rows") else ""
        out.print(f"{i['name']}: the same index as {i['same_index_as']} at this size ({i['build']}); "
                       f"its figures are that index's{differ}")

    builds = Table(title="Index builds (one at a time on the scratch table; the compared ones kept for the "
                         "interleaved phase, the others dropped after their sweep)")
    for column in ("config", "build", "build s", "size MiB", "maintenance_work_mem", "parallel workers",
                   "sweep stopped after", "kept", "notices"):
        builds.add_column(column, justify="right" if column in ("build s", "size MiB") else "left")
    for i in section["indexes"]:
        if i.get("same_index_as"):
            continue
        builds.add_row(i["config"], _params(i["build"]), f"{i['build_s']:.1f}", f"{i['size_bytes'] / 2**20:.0f}",
                       i["settings"].get("maintenance_work_mem", "?"),
                       i["settings"].get("max_parallel_maintenance_workers", "?"),
                       i.get("sweep_stopped_after") or "-", "yes" if i.get("kept_for_interleaved_phase") else "no",
                       "; ".join(i["notices"]) or "-")
    out.print(builds)

    gains = {(c["target"], c["config"]): c for c in section["comparisons"]}
    at = Table(title="Matched recall: each configuration's cheapest setting reaching the target")
    for column in ("target", "config", "setting", f"recall@{k}", "p50 ms sweep", "p50 ms interleaved",
                   "faster than reference (1 - median ratio, 95% CI)"):
        at.add_column(column, justify="left" if column in ("config", "setting") else "right")
    for m in section["matched"]:
        if not m["reached"]:
            at.add_row(f"{m['target']:.2f}", m["config"], "[red]cannot reach[/red]",
                       f"best {m['best_recall']:.3f}" if m.get("best_recall") is not None else "-", "-", "-",
                       f"best at {m.get('best_setting')} (highest measured)" if m.get("best_setting") else "-")
            continue
        comp = gains.get((m["target"], m["config"]))
        if comp and comp["comparable"]:
            g = comp["improvement"]
            sign = txt.BOUND_SIGN.get(comp.get("improvement_bound"), "")  # only a bound: see the verdict note
            versus = (f"{sign}{g['estimate']:+.0%} [{g['low']:+.0%}, {g['high']:+.0%}]"
                      + ("" if comp.get("interleaved") else " (from sweeps, not interleaved)"))
        elif comp:
            versus = comp["reason"]
        else:
            versus = "reference"
        at.add_row(f"{m['target']:.2f}", m["config"], m["setting"], f"{m['recall']:.3f}",
                   f"{m['p50_ms']:.2f}" if m.get("p50_ms") is not None else "-",
                   f"{m['interleaved_p50_ms']:.2f}" if m.get("interleaved_p50_ms") is not None else "-", versus)
    out.print(at)

    rows = [r for r in section["filtered"] + section["rls"] if not r.get("same_index_as")]
    if rows:
        filt = Table(title=f"Filtered top-{k} (one knowledge base / one tenant): recall, queries returning fewer "
                           f"than k rows, latency; RLS rows as signed-in users, whole request")
        for column in ("searched", "setting", "filter", "rows", "iterative", f"recall@{k}", "short", "empty",
                       "p50 ms", "p99 ms", "plan", "leaks"):
            filt.add_column(column, justify="left" if column in ("searched", "setting", "filter", "rows", "iterative",
                                                                 "plan") else "right")
        for r in rows:
            lat = r["latency"]
            where = f"{r['variant']} (RLS)" if r.get("as_user") else r["config"]
            setting = r["setting"].replace("hnsw.", "")
            filt.add_row(where, setting, f"{FILTER_NAMES.get(r['column'], r['column'])} {r['selectivity']}",
                         f"{r['rows_min']}-{r['rows_max']}", r["mode"].removesuffix("_order"), _num(r["recall"]),
                         _pct(r["short_share"]), _pct(r["empty_share"]), _ms(lat, "p50_ms"), _ms(lat, "p99_ms"),
                         _plan(r.get("plan", {})), str(r["leaks"]) if r.get("as_user") else "-")
        out.print(filt)
    for skipped in section.get("rls_skipped", []):
        out.print(f"not measured as users under RLS: {skipped['variant']} ({skipped['reason']})")
    secs = section["seconds"]
    out.print("vector: took " + f"{secs.get('total', 0):.0f} s (" + ", ".join(
        f"{name.replace('_', ' ')} {value:.0f} s" for name, value in secs.items() if name != "total") + ")")


FILTER_NAMES = {"knowledge_base_id": "kb", "organization_id": "tenant"}


def _plan(plan: dict) -> str:
    if plan.get("error"):
        return "error"
    method = plan.get("index_method")
    if method in ("hnsw", "ivfflat"):
        return method
    if method:
        return f"{method}{' + sort' if plan.get('sorted') else ''} (exact)"
    return plan.get("scan", "-")


def _rate(value) -> str:
    return f"{value:,.0f}" if value else "-"


def _params(build: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in build.items())


def _num(value) -> str:
    return "-" if value is None else f"{value:.3f}"


def _pct(value) -> str:
    return "-" if value is None else f"{value:.0%}"


def _ms(latency: dict, key: str) -> str:
    return f"{latency[key]:.2f}" if latency.get(key) is not None else "-"
