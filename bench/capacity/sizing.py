"""Sizing for a target (`full`, or `bench sizing --documents N --users N`): per variant the
disk, the memory that keeps the vector indexes cached, the maintenance_work_mem an HNSW
build needs to stay in memory, the hours its post-data step (indexes, constraints) takes,
and the server cores for the users. One table to take to a budget meeting, its assumptions
listed beside it. Pure: reads a capacity analysis (and a throughput section for cores).

Every figure is a projection of the sweep's growth fits to the target's rows (their 95%
prediction intervals), refitted here when the target is not the sweep's own."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from bench.capacity import fits
from bench.capacity import sizes as size_specs

UTILISATION = 0.7  # cores sized for at most 70% busy at the target: queueing stays short
BUILD_CORES = 16  # the box the report's build hours are for (bench sizing --cores for another)
VECTOR_METHODS = ("hnsw", "ivfflat")
ASSUMPTIONS = (
    "every figure is a projection of growth fits over the sizes measured; the 95% prediction intervals cover "
    "noise and curve uncertainty, not a change of regime beyond the largest size measured",
    "disk: tables, their TOAST and indexes summed over the variant's tables (bounds summed: wider than a joint "
    "interval); no WAL, backups, replicas or bloat from updates, so add headroom",
    "memory for the vector indexes: their projected bytes, to fit in shared_buffers plus the OS page cache; "
    "a search that reads them from disk is far slower than the latency measured here",
    "maintenance_work_mem: pgvector builds an HNSW graph in memory until it no longer fits (then it warns and "
    "the build slows by an order of magnitude); the graph is taken as the size of the finished index",
    "build hours: the post-data step measured on this machine (indexes one after another, the parallel workers "
    "recorded); at K cores it assumes perfect parallel scaling of each build, an optimistic bound",
    f"cores: users / (their mean think time + 0.1 s response) requests per second × the server CPU time per request "
    f"measured by bench run throughput × the variant's median projected latency growth to the target, at "
    f"{UTILISATION:.0%} utilisation (the table shows the CPU ms per request × the growth)",
)


class SizingError(ValueError):
    """A target the fits cannot support; one line for the CLI."""


@dataclass(frozen=True)
class Target:
    documents: int
    users: int
    cores: int  # of the box the build hours are for
    think_s: float  # mean seconds between a user's requests


def target_rows(documents: int, seed: int = 1) -> dict[str, int]:
    """Rows per table at `documents`: the scales' interpolation up to `full`, every table in
    proportion beyond it (rows per document held at full's)."""
    from seed.plan import Plan

    top = size_specs.target()
    if documents <= top.documents:
        counts = size_specs.interpolated(documents, f"{documents}").counts
    else:
        counts = {t: math.ceil(n * documents / top.documents) for t, n in top.counts.items()}
    plan = Plan(seed, counts)
    rows = dict(counts)
    for table in ("project_members", "dashboard_data_sources"):
        rows[table] = plan.total(table)
    return rows


def project(series: dict, x_target: float) -> dict | None:
    """The series' projection at x_target: the stored one when it is there, else refitted."""
    stored = series.get("projection")
    if stored and stored["x"] == x_target:
        return stored
    if not series.get("fit"):
        return None
    x = np.array([m["x"] for m in series["measured"]], float)
    y = np.array([m["value"] for m in series["measured"]], float)
    fitted = fits.fit(x, y)
    estimate, low, high = fits.prediction_interval(fitted, x, y, [x_target])[0]
    return {"x": x_target, "estimate": float(estimate), "low": float(low), "high": float(high)}


def _sum(projections: list[dict]) -> dict | None:
    if not projections:
        return None
    return {k: float(sum(p[k] for p in projections)) for k in ("estimate", "low", "high")}


def _x_target(series: dict, rows: dict[str, int]) -> float:
    return float(rows.get(series.get("x_table", "documents"), rows["documents"]))


def sizing(analysis: dict, target: Target, rows: dict[str, int], throughput: dict | None = None,
           throughput_documents: int | None = None, workers: int | None = None) -> dict:
    """The table: one row per variant, with what each figure assumes."""
    if not analysis.get("series"):
        raise SizingError(f"no growth fits in this run: {analysis.get('why_not', 'no sizes measured')}")
    variants = analysis.get("variants") or sorted({s["variant"] for s in analysis["series"]})
    out = {"target": {"documents": target.documents, "users": target.users, "cores": target.cores,
                      "think_s": target.think_s},
           "fitted_on": analysis.get("sizes"), "utilisation": UTILISATION, "assumptions": list(ASSUMPTIONS),
           "rows": [_row(analysis, v, target, rows, throughput, throughput_documents, workers) for v in variants]}
    if throughput is None:
        out["cores_why_not"] = "no throughput section (bench run throughput --run-dir THIS_RUN, or --throughput RUN)"
    return out


def _row(analysis: dict, variant: str, target: Target, rows: dict[str, int], throughput: dict | None,
         throughput_documents: int | None, workers: int | None) -> dict:
    mine = [s for s in analysis["series"] if s["variant"] == variant]
    tables = [project(s, _x_target(s, rows)) for s in mine if s["kind"] == "bytes" and s.get("what") == "table"]
    vector = [(s, project(s, _x_target(s, rows))) for s in mine
              if s["kind"] == "bytes" and s.get("what") == "index" and s.get("method") in VECTOR_METHODS]
    hnsw = [p for s, p in vector if p and s["method"] == "hnsw"]
    build = next((project(s, rows["documents"]) for s in mine if s["kind"] == "seconds"), None)
    row = {"variant": variant, "disk_bytes": _sum([p for p in tables if p]),
           "unprojected_tables": sum(1 for p in tables if p is None),
           "vector_index_bytes": _sum([p for _, p in vector if p]),
           "hnsw_build_memory_bytes": max((p["high"] for p in hnsw), default=None),
           "build_hours": None if build is None else {k: build[k] / 3600 for k in ("estimate", "low", "high")}}
    if build is not None and workers is not None:
        speedup = max(1.0, min(target.cores, 64) / (workers + 1))
        row["build_hours_at_cores"] = {k: v / speedup for k, v in row["build_hours"].items()}
    if throughput is not None:
        row["cores"] = _cores(analysis, variant, target, rows, throughput, throughput_documents)
    return row


def _cores(analysis: dict, variant: str, target: Target, rows: dict[str, int], throughput: dict,
           throughput_documents: int | None) -> dict:
    model = next((m for m in throughput.get("models", []) if m["variant"] == variant), None)
    cpu_ms = ((model or {}).get("demand") or {}).get("server_cpu_ms_per_request")
    if not cpu_ms:
        return {"why_not": f"no server CPU time per request for {variant} in the throughput section"}
    think_s = target.think_s
    growth = latency_growth(analysis, variant, throughput_documents, rows["documents"])
    rate = target.users / (think_s + 0.1)  # response time at most the 100 ms SLO
    cores = rate * cpu_ms / 1000 * growth["factor"] / UTILISATION
    return {"estimate": cores, "cores": math.ceil(cores), "requests_per_s": rate, "cpu_ms_per_request": cpu_ms,
            "think_s": think_s, "growth": growth}


def latency_growth(analysis: dict, variant: str, from_documents: int | None, to_documents: int) -> dict:
    """How much more a request costs at the target than where the CPU time was measured:
    the median over the variant's latency fits of fitted(to) / fitted(from)."""
    if not from_documents:
        return {"factor": 1.0, "why": "the throughput run's size is unknown: CPU time per request taken as is"}
    ratios = []
    for s in analysis["series"]:
        if s["kind"] == "latency" and s["variant"] == variant and s.get("fit"):
            fitted = fits.Fit(**s["fit"])
            before, after = fitted.predict(np.array([from_documents, to_documents], float))
            if before > 0:
                ratios.append(after / before)
    if not ratios:
        return {"factor": 1.0, "why": "no latency fit for this variant: CPU time per request taken as is"}
    return {"factor": float(np.median(ratios)), "series": len(ratios), "from_documents": from_documents}
