"""From the sizes a sweep measured: growth fits per series (each scenario's latency on
each variant, each table's and index's bytes, index build and seeding seconds), the
held-out validation (fit on the smaller sizes, predict the largest measured one) and
the projections to `full` with 95% prediction intervals (fitted on every size).
Pure: reads the section's records, returns dicts for results.json."""

from __future__ import annotations

import numpy as np

from bench.capacity import fits, sizing
from bench.capacity import sizes as size_specs
from bench.capacity.measure import largest_tenant
from bench.judge import verdicts

# Median |error| at the held-out size (issue 16's goals; None: reported, no goal).
GOALS = {"latency": 0.25, "bytes": 0.10, "seconds": None, "tenant_latency": None, "recall_miss": None}
CURVE_POINTS = 24
LATENCY_LIMIT_MS = 100.0  # the review's "<100 ms average query time"
TENANT_AXIS = "tenant_projects"  # x of the largest tenant's series: its projects
AXIS_NAMES = {"documents": "documents", TENANT_AXIS: "projects of the largest tenant"}


def analyse(section: dict) -> dict:
    complete = [s for s in section.get("sizes", []) if s.get("status") == "complete"]
    complete.sort(key=lambda s: s["counts"]["documents"])
    target = size_specs.target()
    out = {"target": {"label": target.label, "documents": target.documents},
           "sizes": [s["label"] for s in complete], "level": fits.LEVEL,
           "criterion": "smallest leave-one-out RMS of log(predicted / measured); ties to the simpler model",
           "interval": "95% prediction interval of one measurement at the target: parametric residual bootstrap "
                       "(log scale, noise level drawn from its chi-square); covers noise and curve uncertainty, "
                       "not a change of regime beyond the measured sizes",
           "series": [], "validation": None}
    if len(complete) < 3:
        out["why_not"] = f"{len(complete)} complete sizes; the fits need at least 3"
        return out
    target_rows = _target_rows(target, section)
    series = list(_series(complete))
    out["series"] = [_analyse_series(s, complete, target_rows) for s in series]
    out["vector_scenarios"] = sorted({c["scenario"] for s in complete for c in s.get("latency", [])
                                      if c.get("kind") == "vector"})
    out["recall_measured"] = {}  # per scenario/variant, each size's recall as measured (smallest first)
    for s in complete:
        for r in s.get("recall") or []:
            if r.get("neighbours"):
                out["recall_measured"].setdefault(f"{r['scenario']}/{r['variant']}", []).append(
                    {"size": s["label"], "found": r["found"], "neighbours": r["neighbours"], "recall": r["recall"]})
    out["variants"] = list(dict.fromkeys(c["variant"] for s in complete for c in s.get("latency", [])))
    out["validation"] = _validation_summary(out["series"], complete)
    out["largest_tenant"] = {s["label"]: s.get("largest_tenant") for s in complete}
    out["target"]["largest_tenant"] = largest_tenant(seed_of(section), target.counts)
    return out


def seed_of(section: dict) -> int:
    return (section.get("config") or {}).get("seed", 1)


def _target_rows(target, section: dict) -> dict[str, int]:
    """Rows per table at the target (derived tables from the seed's plan), and the tenant
    size the review's "1M+ projects per organization" names."""
    rows = sizing.target_rows(target.documents, seed_of(section))
    rows[TENANT_AXIS] = verdicts.targets()["tenant_at_scale"]["projects"]
    return rows


def full_sizing(section: dict, throughput: dict | None = None, throughput_documents: int | None = None) -> dict:
    """The sizing table at the sweep's target for the review's 10K users, build hours for a
    box of sizing.BUILD_CORES (bench sizing asks for any other target)."""
    analysis = section["analysis"]
    users = verdicts.targets()["simultaneous_users"]
    target = sizing.Target(analysis["target"]["documents"], users["users"], sizing.BUILD_CORES,
                           sum(users["think_s"]) / 2)
    workers = parallel_workers(section)
    try:
        return sizing.sizing(analysis, target, _target_rows(size_specs.target(), section), throughput,
                             throughput_documents, workers)
    except sizing.SizingError as exc:
        return {"why_not": str(exc)}


def parallel_workers(section: dict) -> int | None:
    """max_parallel_maintenance_workers of the largest size measured (the builds' speed-up)."""
    settings = [(s.get("settings") or {}).get("max_parallel_maintenance_workers") for s in section.get("sizes", [])]
    found = [int(v) for v in settings if v is not None and str(v).isdigit()]
    return found[-1] if found else None


def _series(sizes: list[dict]):
    """(kind, key, unit, {label: (x-table, value, failed-why)}) for every series."""
    latency: dict[tuple, dict] = {}
    for s in sizes:
        for c in s.get("latency", []):
            if not c.get("applicable"):
                continue
            latency.setdefault((c["scenario"], c["variant"]), {})[s["label"]] = _latency_point(c, "documents")
    for (scenario, variant), points in latency.items():
        yield {"kind": "latency", "scenario": scenario, "variant": variant, "unit": "ms", "points": points}
    yield from _tenant_series(sizes)
    yield from _recall_series(sizes)
    tables: dict[tuple, dict] = {}
    for s in sizes:
        for t in s.get("storage", []):
            x = t["relation"] if t.get("rows") else "documents"
            tables.setdefault((t["variant"], t["relation"]), {})[s["label"]] = (x, t["total_bytes"], None, t.get("rows"))
    for (variant, relation), points in tables.items():
        yield {"kind": "bytes", "what": "table", "variant": variant, "relation": relation, "unit": "bytes",
               "points": points}
    table_indexes: dict[tuple, dict] = {}
    for s in sizes:  # a table's indexes together (bench_meta.storage), for runs without per-index sizes
        for t in s.get("storage", []):
            if t.get("index_bytes"):
                x = t["relation"] if t.get("rows") else "documents"
                table_indexes.setdefault((t["variant"], t["relation"]), {})[s["label"]] = (
                    x, t["index_bytes"], None, t.get("rows"))
    for (variant, relation), points in table_indexes.items():
        yield {"kind": "bytes", "what": "indexes of a table", "variant": variant, "relation": relation,
               "unit": "bytes", "points": points}
    indexes: dict[tuple, dict] = {}
    for s in sizes:
        rows_of = {(t["variant"], t["relation"]): t.get("rows") for t in s.get("storage", [])}
        for i in s.get("indexes", []):
            n = rows_of.get((i["variant"], i["relation"]))
            x = i["relation"] if n else "documents"
            indexes.setdefault((i["variant"], i["index"]), {})[s["label"]] = (
                x, i["bytes"], None if i["bytes"] > 0 else "empty", n, i["relation"], i.get("method"))
    for (variant, index), points in indexes.items():
        first = next(iter(points.values()))
        yield {"kind": "bytes", "what": "index", "variant": variant, "relation": first[4], "index": index,
               "method": first[5], "unit": "bytes", "points": points}
    builds: dict[str, dict] = {}
    for s in sizes:
        for variant, seconds in ((s.get("seed") or {}).get("post_data_seconds") or {}).items():
            builds.setdefault(variant, {})[s["label"]] = ("documents", seconds, None if seconds else "kept")
    for variant, points in builds.items():
        yield {"kind": "seconds", "what": "post-data (indexes, constraints, policies)", "variant": variant,
               "unit": "s", "points": points}


def _latency_point(cell: dict, x_table: str, x: int | None = None) -> tuple:
    why = None
    if cell.get("expected_failure"):
        why = "fails on this variant (a declared finding)"
    elif cell.get("errors"):
        why = f"{cell['errors']} requests failed"
    elif not cell.get("median_ms"):
        why = "no successful request"
    return (x_table, cell.get("median_ms"), why, x)


def _tenant_series(sizes: list[dict]):
    """Each project scenario's latency for the largest tenant, against that tenant's projects."""
    points: dict[tuple, dict] = {}
    for s in sizes:
        tenant = s.get("tenant") or {}
        for c in tenant.get("cells", []):
            if c.get("applicable"):
                points.setdefault((c["scenario"], c["variant"]), {})[s["label"]] = _latency_point(
                    c, TENANT_AXIS, tenant["projects"])
    for (scenario, variant), p in points.items():
        yield {"kind": "tenant_latency", "scenario": scenario, "variant": variant, "unit": "ms", "points": p}


def _recall_series(sizes: list[dict]):
    """The vector scenario's miss rate (1 - recall@10) at its own settings, against documents:
    a cost that grows, so the same growth models fit it. (misses + 0.5) / (neighbours + 1)
    keeps a size with no miss positive (a continuity correction)."""
    points: dict[tuple, dict] = {}
    for s in sizes:
        for r in s.get("recall") or []:
            if r.get("neighbours"):
                miss = (r["neighbours"] - r["found"] + 0.5) / (r["neighbours"] + 1)
                points.setdefault((r["scenario"], r["variant"]), {})[s["label"]] = ("documents", miss, None)
    for (scenario, variant), p in points.items():
        yield {"kind": "recall_miss", "scenario": scenario, "variant": variant, "unit": "share", "points": p}


def _x(size: dict, point: tuple) -> float:
    table = point[0]
    if table == "documents":
        return float(size["counts"]["documents"])
    return float(point[3]) if len(point) > 3 and point[3] else float(size["counts"].get(table, 0))


def _analyse_series(series: dict, sizes: list[dict], target_rows: dict[str, int]) -> dict:
    points = series.pop("points")
    used = [(s, points[s["label"]]) for s in sizes if s["label"] in points]
    out = {**series, "measured": [{"size": s["label"], "x": _x(s, p), "value": p[1], "failed": p[2]}
                                  for s, p in used]}
    failed = [f"{s['label']}: {p[2]}" for s, p in used if p[2]]
    if failed:
        out["fit"] = None
        out["why_not"] = "; ".join(failed)
        return out
    x = np.array([m["x"] for m in out["measured"]])
    y = np.array([m["value"] for m in out["measured"]], dtype=float)
    axis = used[0][1][0]
    target_x = float(target_rows.get(axis, target_rows["documents"]))
    out["axis"], out["x_table"] = AXIS_NAMES.get(axis, "rows of " + axis), axis
    out["validation"] = _held_out(x, y, [m["size"] for m in out["measured"]])
    try:
        fitted = fits.fit(x, y)
    except fits.FitError as exc:
        out["fit"], out["why_not"] = None, str(exc)
        return out
    out["fit"] = fitted.as_dict()
    estimate, low, high = fits.prediction_interval(fitted, x, y, [target_x])[0]
    out["projection"] = {"x": target_x, "estimate": float(estimate), "low": float(low), "high": float(high),
                         "fitted_on": [m["size"] for m in out["measured"]]}
    if series["kind"] in ("latency", "tenant_latency"):
        grid = np.geomspace(x.min(), target_x, CURVE_POINTS)
        band = fits.prediction_interval(fitted, x, y, grid)
        out["curve"] = {"x": grid.tolist(), "estimate": band[:, 0].tolist(), "low": band[:, 1].tolist(),
                        "high": band[:, 2].tolist()}
    return out


def _held_out(x: np.ndarray, y: np.ndarray, labels: list[str]) -> dict:
    """Fit on every size but the largest, predict the largest."""
    if len(x) < 4:
        return {"why_not": f"{len(x)} sizes; holding one out leaves {len(x) - 1}, a fit needs 3"}
    try:
        fitted = fits.fit(x[:-1], y[:-1])
    except fits.FitError as exc:
        return {"why_not": str(exc)}
    estimate, low, high = fits.prediction_interval(fitted, x[:-1], y[:-1], [x[-1]])[0]
    return {"held_out": labels[-1], "fitted_on": labels[:-1], "model": fitted.model, "predicted": float(estimate),
            "low": float(low), "high": float(high), "measured": float(y[-1]),
            "error": fits.relative_error(float(estimate), float(y[-1])),
            "covered": bool(low <= y[-1] <= high)}


def _validation_summary(series: list[dict], sizes: list[dict]) -> dict:
    out = {"held_out": sizes[-1]["label"], "fitted_on": [s["label"] for s in sizes[:-1]], "kinds": {}}
    for kind, goal in GOALS.items():
        errors = [abs(s["validation"]["error"]) for s in series
                  if s["kind"] == kind and (s.get("validation") or {}).get("error") is not None]
        covered = [s["validation"]["covered"] for s in series
                   if s["kind"] == kind and (s.get("validation") or {}).get("error") is not None]
        failed = sum(1 for s in series if s["kind"] == kind and s.get("validation", {}).get("why_not"))
        if not errors:
            out["kinds"][kind] = {"series": 0, "not_validated": failed}
            continue
        median = float(np.median(errors))
        out["kinds"][kind] = {"series": len(errors), "median_abs_error": median, "goal": goal,
                              "meets_goal": None if goal is None else median <= goal,
                              "interval_coverage": float(np.mean(covered)), "not_validated": failed}
    return out
