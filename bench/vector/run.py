"""`bench run vector` end to end: dataset, ground truth, one index at a time (build,
sweep, filtered search, drop), filtered search as a user under RLS on the variants'
own tables, then the matched-recall comparison, verdicts and Pareto points; returns the
results.json `vector` section.

Needs: a seeded database; writes only bench_vector.* and bench_meta.vector_truth.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict, dataclass, field, replace

import numpy as np
import psycopg

from bench.core.errors import BenchError
from bench.core.schema import Variant
from bench.vector import configs as catalog_mod
from bench.vector import dataset, matched, measure, truth
from bench.vector.configs import Catalog, IndexConfig
from seed import config as seed_config


@dataclass(frozen=True)
class VectorOptions:
    configs: tuple[str, ...] = ()  # names from configs.toml; () = the defaults
    targets: tuple[float, ...] = ()  # () = configs.toml's
    queries: int | None = None  # held-out queries used (None: all stored)
    clients: tuple[int, ...] = (1, 4)
    rounds: int = 10
    filtered_queries: int | None = None  # per selectivity (None: configs.toml's)
    filtered: bool = True
    rls: bool = True
    source: str | None = None  # the variant whose documents are copied (None: the first seeded)
    builds: int | None = None  # builds of each compared index (None: configs.toml's)
    # per setting at N clients (the Pareto chart; no verdict reads it). 200 took 19 s of a 101 s
    # vector phase in a make bench run of 2026-12-04, 100 take half
    throughput_queries: int = 100
    prepass_queries: int = 100


def configs_to_measure(options: VectorOptions) -> int:
    """Index builds the progress counts: each configuration once, the compared ones again
    for every later build."""
    catalog = catalog_mod.load()
    chosen = catalog.named(list(options.configs))
    return len(chosen) + (_builds(options, catalog) - 1) * len(_replicated(chosen, catalog.reference().name))


def _builds(options: VectorOptions, catalog: Catalog) -> int:
    return options.builds or catalog.builds


def _replicated(chosen: list[IndexConfig], reference: str) -> list[IndexConfig]:
    """The configurations built more than once: the reference and those a verdict rests on
    (when the reference is measured at all)."""
    if reference not in {c.name for c in chosen}:
        return []
    return [c for c in chosen if c.name == reference or c.verdict]


@dataclass
class Timer:
    phases: dict = field(default_factory=dict)

    def add(self, name: str, seconds: float) -> None:
        self.phases[name] = self.phases.get(name, 0.0) + seconds


def run(conn: psycopg.Connection, dsn: str, variants: list[Variant], options: VectorOptions, note=print,
        catalog: Catalog | None = None, index_done=lambda: None) -> dict:
    """The vector section. `index_done()` is called once per index configuration measured
    (progress: `configs_to_measure(options)` of them)."""
    began = time.perf_counter()
    timer = Timer()
    catalog = catalog or catalog_mod.load()
    chosen = catalog.named(list(options.configs))
    targets = sorted(set(options.targets or catalog.targets) | {catalog.verdict_target})
    k = catalog.k
    if options.rounds < 1 or any(c < 1 for c in options.clients):
        raise BenchError("rounds and clients must be at least 1")

    # ---- dataset, queries, filter cases, ground truth
    ds_config = dataset.dataset_config(conn)
    key = dataset.dataset_key(ds_config)
    dim = int(ds_config["dim"])
    source = options.source or variants[0].name
    t0 = time.perf_counter()
    scratch = dataset.ensure_scratch(conn, source, key, dim)
    dataset.drop_indexes(conn)
    timer.add("scratch_table", time.perf_counter() - t0)
    if scratch.rows < k:
        raise BenchError(f"the dataset has {scratch.rows} documents; recall@{k} needs at least {k}")
    note(f"vector: {scratch.rows:,} documents x {dim} dims from {scratch.source} in {dataset.TABLE}"
         + (f" (copied in {scratch.seconds:.1f} s)" if scratch.built else " (reused)"))
    queries = dataset.load_queries(conn, options.queries)
    n_filtered = options.filtered_queries or catalog.filtered_queries
    kb_cases = dataset.filter_cases(conn, "knowledge_base_id", catalog.selectivities, queries, n_filtered, k) \
        if options.filtered or options.rls else []
    rls_variants, rls_skipped = _rls_variants(conn, variants) if options.rls else ([], [])
    org_cases = dataset.filter_cases(conn, "organization_id", catalog.selectivities, queries, n_filtered, k) \
        if rls_variants else []
    requests = [truth.Request(int(qid), vec) for qid, vec in zip(queries.ids, queries.vectors)]
    for case in kb_cases + org_cases:
        requests += [truth.Request(int(queries.ids[q]), queries.vectors[q], case.column, v)
                     for q, v in zip(case.query_index, case.values)]
    t0 = time.perf_counter()
    found_truth, truth_info = truth.ground_truth(conn, f"{key}:k{catalog.truth_k}", dataset.TABLE, requests,
                                                 catalog.truth_k, progress=note)
    timer.add("ground_truth", time.perf_counter() - t0)
    truth_map = {r.key: n for r, n in zip(requests, found_truth)}
    plain_truth = found_truth[:len(queries)]

    # ---- one index at a time (the compared ones kept, within a budget, for the interleaved phase)
    batches = [b for b in np.array_split(np.arange(len(queries)), options.rounds) if len(b)]
    prepass = list(range(min(options.prepass_queries, len(queries))))
    context = SweepContext(dim, scratch.rows, catalog.build_settings, queries, plain_truth, batches, prepass,
                           max(targets), sorted(set(options.clients) | {1}), options.throughput_queries, k, timer, note)
    reference = catalog.reference().name
    built: dict[tuple, str] = {}
    indexes, points_by_config, filtered_rows = [], {}, []
    kept: dict[str, tuple[IndexConfig, str]] = {}  # config -> (config, its search SQL), indexes still present
    kept_bytes = 0
    try:
        for number, config in enumerate(chosen, start=1):
            bkey = config.build_key(scratch.rows)
            if bkey in built:  # the same index (e.g. lists = rows/1000 = 100 at 100K rows): measured once
                first = built[bkey]
                differ = catalog_mod.differs_from(config, next(c for c in chosen if c.name == first), scratch.rows)
                points_by_config[config.name] = [{**p, "config": config.name, "same_index_as": first}
                                                 for p in points_by_config.get(first, [])]
                indexes.append({"config": config.name, "same_index_as": first, "differ_from_rows": differ,
                                **config.describe(scratch.rows)})
                filtered_rows += [{**r, "config": config.name, "same_index_as": first}
                                  for r in filtered_rows if r.get("config") == first and not r.get("same_index_as")]
                note(f"vector: {config.name} is the same index as {first} at {scratch.rows:,} rows; measured once"
                     + (f" (they differ from {differ:,} rows)" if differ else ""))
                index_done()
                continue
            built[bkey] = config.name
            predicate = f"id <> -{number}"  # true for every row: lets kept indexes coexist (configs.index_ddl)
            keep = False
            try:
                info, sql, result = _build_and_sweep(conn, dsn, config, predicate, context)
                points_by_config[config.name] = result.points
                if options.filtered and kb_cases:
                    setting = _filter_setting(config, result.points, catalog.filtered_setting_target)
                    t0 = time.perf_counter()
                    where = f"{predicate} AND knowledge_base_id = $2::uuid"
                    filtered_sql = config.storage.search_sql(dataset.TABLE, dim, k, where)
                    runs = measure.scratch_runs(config, setting, filtered_sql, kb_cases, queries, truth_map,
                                                config.iterative)
                    rows = asyncio.run(measure.filtered(dsn, runs, k))
                    for run_, row in zip(runs, rows):
                        row["plan"] = measure.plan_summary(conn, run_.jobs[0], run_.gucs)
                    filtered_rows += rows
                    timer.add("filtered", time.perf_counter() - t0)
                compared = config.name == reference or config.verdict or config.keep
                keep = compared and kept_bytes + info["size_bytes"] <= catalog.interleave_max_bytes \
                    and (config.name == reference or reference in kept)
                info["kept_for_interleaved_phase"] = keep
                indexes.append(info)
                index_done()
            finally:
                if keep:
                    kept[config.name] = (config, sql)
                    kept_bytes += info["size_bytes"]
                else:
                    measure.drop_index(conn, config)

        # ---- later builds of the compared indexes: HNSW's random levels and IVFFlat's k-means
        # sample make every build a little different (matched.combine_builds pools or checks them)
        replica_of: dict[str, tuple[str, int]] = {}  # replica name -> (configuration, build number)
        if reference in kept:
            for build in range(2, _builds(options, catalog) + 1):
                for config in _replicated(chosen, reference):
                    if config.name not in kept:  # measured under another name, or over the size budget
                        index_done()
                        continue
                    replica = replace(config, name=f"{config.name}_b{build}", default=False, verdict=False, keep=True)
                    number += 1
                    try:
                        info, sql, result = _build_and_sweep(conn, dsn, replica, f"id <> -{number}", context,
                                                             clients=[1])
                    except BaseException:
                        measure.drop_index(conn, replica)
                        raise
                    if kept_bytes + info["size_bytes"] > catalog.interleave_max_bytes:
                        measure.drop_index(conn, replica)
                        note(f"vector: {replica.name} dropped: the kept indexes would pass interleave_max_mib")
                        index_done()
                        continue
                    kept_bytes += info["size_bytes"]
                    indexes.append({**info, "replica_of": config.name, "build_number": build,
                                    "kept_for_interleaved_phase": True})
                    points_by_config[replica.name] = [{**p, "replica_of": config.name, "build_number": build}
                                                      for p in result.points]
                    kept[replica.name] = (replica, sql)
                    replica_of[replica.name] = (config.name, build)
                    index_done()

        # ---- interleaved phase: the kept indexes at the settings that bracket the verdict's recall,
        # round-robin (the other levels are compared from their sweeps, and say so: at the small
        # scale the IVFFlat settings of every level cost a third of the vector phase)
        interleaved_results: dict[tuple[str, str], dict] = {}
        arms = []
        for name, (config, sql) in kept.items():
            pair = matched.bracket(points_by_config[name], catalog.verdict_target) or ()
            labels = {p["setting"] for p in pair if p}
            arms += [measure.Arm(name, s, sql) for s in config.settings() if s.label in labels]
        if len(kept) > 1 and arms:
            note(f"vector: interleaved rounds over {len(arms)} (index, setting) pairs of {', '.join(kept)}")
            t0 = time.perf_counter()
            interleaved_results = asyncio.run(measure.interleaved(dsn, arms, queries,
                                                                     batches[:catalog.interleave_rounds], plain_truth,
                                                                     k, passes=catalog.interleave_passes))
            timer.add("interleaved", time.perf_counter() - t0)
            for config in chosen:  # the same index under another name (e.g. the review's rule at 100K rows)
                first = built.get(config.build_key(scratch.rows))
                if first != config.name and first in kept:
                    interleaved_results.update({(config.name, s): {**r, "config": config.name, "same_index_as": first}
                                                for (c, s), r in list(interleaved_results.items()) if c == first})
    finally:
        for config, _sql in kept.values():
            measure.drop_index(conn, config)

    # ---- as a user under RLS, on the variants' own tables and indexes
    rls_rows = []
    if rls_variants:
        t0 = time.perf_counter()
        to_id, orgs = dataset.doc_orgs(conn)
        for variant in rls_variants:
            note(f"vector: filtered search as users under RLS on {variant.name}")
            users = {}
            for uid, org in conn.execute(f'SELECT id::text, organization_id::text FROM "{variant.name}".users '
                                         "ORDER BY id").fetchall():
                users.setdefault(org, []).append(uid)
            soft = bool(conn.execute("SELECT 1 FROM information_schema.columns WHERE table_schema = %s AND "
                                     "table_name = 'documents' AND column_name = 'deleted_at'",
                                     (variant.name,)).fetchone())
            runs = measure.rls_runs(variant, kb_cases + org_cases, queries, truth_map, users, catalog.rls_settings,
                                    catalog.rls_iterative, k, soft, to_id, orgs)
            rows = asyncio.run(measure.filtered(dsn, runs, k))
            for run_, row in zip(runs, rows):
                row["plan"] = measure.plan_summary(conn, run_.jobs[0])
            rls_rows += rows
        timer.add("rls", time.perf_counter() - t0)

    # ---- matched recall, verdicts, Pareto
    variants_of = {c.name: c.variant for c in chosen}
    variants_of.update({replica: variants_of[config] for replica, (config, _b) in replica_of.items()})
    matches = matched.matched(points_by_config, variants_of, targets)
    for m in matches:
        again = interleaved_results.get((m["config"], m.get("setting")))
        m["interleaved_p50_ms"] = again["latency"].get("p50_ms") if again else None
    same = same_as_reference(chosen, catalog.reference(), scratch.rows)
    first_builds = {name: points for name, points in points_by_config.items() if name not in replica_of}
    comparisons = matched.compare(first_builds, variants_of, reference, targets, interleaved_results, same)
    later = _later_build_comparisons(replica_of, points_by_config, interleaved_results, variants_of, reference,
                                     targets, same)
    judged = {c.variant: c.name for c in chosen if c.verdict and c.name != reference}
    verdict_list = matched.verdict_records(comparisons, judged, catalog.verdict_target, list(later.values()))
    all_points = [p for ps in points_by_config.values() for p in ps]
    timer.add("total", time.perf_counter() - began)
    return {
        "options": {**asdict(options), "targets": targets, "verdict_target": catalog.verdict_target, "k": k,
                    "truth_k": catalog.truth_k, "configs": [c.name for c in chosen],
                    "filtered_setting_target": catalog.filtered_setting_target,
                    "rls_settings": dict(catalog.rls_settings),
                    "interleave_rounds": min(catalog.interleave_rounds, len(batches)),
                    "interleave_passes": catalog.interleave_passes},
        "method": ("recall@k against exact brute-force neighbours; latency of the query alone (scratch table) or of "
                   "the whole request (BEGIN, identity, query, COMMIT; RLS rows). Sweeps: one index at a time, rounds "
                   "rotate the settings. Comparisons: the compared indexes are kept (within interleave_max_mib) and "
                   "their matched settings measured again in interleaved rounds (the first interleave_rounds query "
                   "batches, the same batch for every setting in a round); a "
                   "comparison from sweeps alone says interleaved = false"),
        "dataset": {**scratch.as_dict(), "seed_config": ds_config, "queries": len(queries),
                    "ground_truth": truth_info},
        "build_settings": catalog.build_settings,
        "indexes": indexes,
        "sweeps": all_points,
        "matched": matches,
        "interleaved": list(interleaved_results.values()),
        "comparisons": comparisons,
        "builds": {"per_index": _builds(options, catalog), "replicated": sorted({c for c, _b in replica_of.values()}),
                   "comparisons": {str(b): rows for b, rows in later.items()}},
        "filter_cases": [c.describe() for c in kb_cases + org_cases],
        "filtered": filtered_rows,
        "rls": rls_rows,
        "rls_skipped": rls_skipped,
        "pareto": matched.pareto(all_points),
        "seconds": timer.phases,
        "verdicts": verdict_list,
    }


@dataclass(frozen=True)
class SweepContext:
    """What every index build and sweep of one run shares."""
    dim: int
    rows: int
    build_settings: dict
    queries: dataset.Queries
    truth: list
    batches: list
    prepass: list[int]
    stop_recall: float
    clients: list[int]
    throughput_queries: int
    k: int
    timer: Timer
    note: object


def _build_and_sweep(conn: psycopg.Connection, dsn: str, config: IndexConfig, predicate: str, ctx: SweepContext,
                     clients: list[int] | None = None) -> tuple[dict, str, measure.SweepResult]:
    """Build one index on the scratch table and sweep its search setting: (index record,
    its search SQL, the sweep). The caller keeps or drops the index."""
    sql = config.storage.search_sql(dataset.TABLE, ctx.dim, ctx.k, where=predicate)
    ctx.note(f"vector: building {config.name} ({config.method}, {config.storage.name}, "
             f"{_params(config.resolved_build(ctx.rows))})")
    t0 = time.perf_counter()
    info = measure.build_index(conn, config, ctx.dim, ctx.rows, ctx.build_settings, predicate)
    ctx.timer.add("index_builds", time.perf_counter() - t0)
    first_setting = config.settings()[0]
    info.update(config.describe(ctx.rows), plan=measure.plan_summary(
        conn, measure.Job(sql, (ctx.queries.vectors[0], *first_setting.query_args)),
        measure.SEQSCAN_OFF + first_setting.gucs))
    ctx.note(f"vector: built {config.name} in {info['build_s']:.1f} s, "
             f"{info['size_bytes'] / 2**20:.0f} MiB; sweeping {config.sweep_param}")
    plan = measure.SweepPlan(config, sql, config.settings(), ctx.batches, ctx.prepass, ctx.stop_recall,
                             clients or ctx.clients, ctx.throughput_queries, ctx.k)
    result = asyncio.run(measure.sweep(dsn, plan, ctx.queries, ctx.truth))
    ctx.timer.add("sweeps", result.seconds)
    info.update(prepass=result.prepass, sweep_stopped_after=result.pruned_after,
                measured_after_rounds=result.extended, sweep_s=result.seconds)
    return info, sql, result


def _later_build_comparisons(replica_of: dict[str, tuple[str, int]], points_by_config: dict, interleaved: dict,
                             variants_of: dict, reference: str, targets: list[float], same: dict) -> dict[int, list]:
    """Build b of every replicated index against build b of the reference, as matched.compare
    does for the first builds (the replicas under their configurations' names)."""
    out = {}
    for build in sorted({b for _c, b in replica_of.values()}):
        names = {config: replica for replica, (config, b) in replica_of.items() if b == build}
        if reference not in names:
            continue
        points = {config: [{**p, "config": config} for p in points_by_config[replica]]
                  for config, replica in names.items()}
        again = {(config, setting): {**r, "config": config} for config, replica in names.items()
                 for (name, setting), r in interleaved.items() if name == replica}
        out[build] = [{**c, "build_number": build}
                      for c in matched.compare(points, variants_of, reference, targets, again, same)]
    return out


def same_as_reference(chosen: list[IndexConfig], reference: IndexConfig, rows: int) -> dict[str, dict]:
    """The configurations that build the reference's own index at `rows` (not measurable
    against it), each with where the two differ, named scales included."""
    scales = {name: counts["documents"] for name, counts in seed_config.scales().items() if "documents" in counts}
    found = {c.name: catalog_mod.same_index(c, reference, rows, scales) for c in chosen if c.name != reference.name}
    return {name: same for name, same in found.items() if same}


def _rls_variants(conn: psycopg.Connection, variants: list[Variant]) -> tuple[list[Variant], list[dict]]:
    """Variants whose documents table enforces row-level security (the policy is the
    tenant filter); the others are listed with the reason."""
    chosen, skipped = [], []
    for v in variants:
        row = conn.execute("SELECT c.relrowsecurity FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                           "WHERE n.nspname = %s AND c.relname = 'documents'", (v.name,)).fetchone()
        if v.rls and row and row[0]:
            chosen.append(v)
        else:
            skipped.append({"variant": v.name, "reason": "documents has no row-level security: requests carry the "
                            "tenant filter themselves" if row else "no documents table"})
    return chosen, skipped


def _params(build: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in build.items())


def _filter_setting(config: IndexConfig, points: list[dict], target: float):
    """The configuration's cheapest setting at the filter target (else its last measured)."""
    chosen = matched.select(points, target) or points[-1]
    return next(s for s in config.settings() if s.label == chosen["setting"])


def errors(section: dict) -> int:
    """Failed queries anywhere in the section (counted, never dropped)."""
    return (sum(p.get("errors", 0) for p in section["sweeps"] if not p.get("same_index_as"))
            + sum(r.get("errors", 0) for r in section["filtered"] if not r.get("same_index_as"))
            + sum(r.get("errors", 0) for r in section["interleaved"] if not r.get("same_index_as"))
            + sum(r.get("errors", 0) for r in section["rls"]))


def leaks(section: dict) -> int:
    return sum(r.get("leaks", 0) for r in section["rls"])
