"""Stored baselines: a run's results.json kept under `benchmarks/baselines/NAME/` (committed,
so a release can be gated against the last one), holding only what a comparison reads.

    save(name, run_dir)    -> Path   refuses an existing name (replace=True to overwrite),
                                     an interrupted run, a bad name
    load(name)             -> (results, file)
    names()                -> [{"name", "run_id", "scale", "saved_from", "bytes"}]
    check_gateable(baseline, run, force) -> differences (UsageError, exit 2, unless forced)

What is kept: the header (environment, dataset, variants), the verdicts, every section's
figures and per-round series. What is dropped: HDR histograms, and the parts of the
vector and load sections no comparison reads (filtered and RLS search, Pareto fronts,
per-step scenario, pool, server and client detail). A latency cell's per-round
HDR histograms are replaced by the per-round percentiles `bench compare` reads from them
(round_p95_ms, round_p99_ms: the same values, tested the same way), its whole-run
histogram by its summary; the vector and load sections' histograms are read by no
comparison. EXPLAIN plan trees, error samples and load samples are dropped too.

The directory is BENCH_BASELINES_DIR, else benchmarks/baselines/ in the project.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from bench.core.config import PROJECT_ROOT, reports_dir
from bench.core.errors import BenchError, UsageError
from bench.judge import results as results_file
from bench.report.compare import _percentile, check_comparable, hdr_percentile
from bench.report import data as d

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
DROPPED = {"hdr", "round_hdr", "plan", "error_samples", "samples"}
# Parts of sections no comparison reads (bench/report/sections.py): dropped from a baseline.
SECTION_KEEPS = {
    "vector": {"options", "method", "dataset", "build_settings", "indexes", "sweeps", "matched", "verdicts", "seconds"},
    "load": {"config", "slo_ms", "slo", "capacity_rule", "capacity", "steps", "verdicts"},
}
STEP_DROPPED = {"scenarios", "locust", "pool", "server", "client", "machine"}
# What must match for a run to be gated against a baseline (besides the dataset's identity,
# compare.DATASET_IDENTITY and row counts): the machine and the measurement's configuration.
MACHINE = ("cpu_model", "cpu_count", "memory_bytes")
LATENCY_CONFIG = ("requests", "concurrency", "warmup", "mode", "rate", "seed")  # rounds and runs only change power
VECTOR_OPTIONS = ("configs", "targets", "queries", "k", "clients", "filtered", "rls", "filtered_queries")
LOAD_CONFIG = ("steps", "step_seconds", "warmup_seconds", "think_seconds", "seed", "workers", "pool_size_per_process")


def directory() -> Path:
    return Path(os.environ.get("BENCH_BASELINES_DIR") or PROJECT_ROOT / "benchmarks" / "baselines")


def check_name(name: str) -> str:
    if not NAME.match(name or ""):
        raise UsageError(f"baseline name {name!r} must be letters, digits, '.', '_' or '-' (at most 64, "
                         "not starting with '.' or '-')")
    return name


def latest_run(base: Path | None = None) -> Path:
    """The newest run directory (run ids sort by time) holding a results.json."""
    base = Path(base or reports_dir())
    runs = sorted(p for p in base.glob("*/" + results_file.FILE_NAME)) if base.is_dir() else []
    if not runs:
        raise BenchError(f"no run in {base} (give RUN_DIR, or run `make bench` first)")
    return runs[-1].parent


def slim(results: dict) -> dict:
    """What a comparison needs of a run: see the module docstring."""
    out = json.loads(json.dumps(results))  # a deep copy that is plain JSON
    for cell in d.latency_cells(out):
        for metric in d.METRICS:
            own = metric.rounds[0]
            percentile = _percentile(metric.key)
            if not cell.get(own) and percentile is not None and cell.get("round_hdr"):
                cell[own] = [hdr_percentile(h, percentile) for h in cell["round_hdr"]]
    for name, keep in SECTION_KEEPS.items():
        if isinstance(out.get(name), dict):
            out[name] = {k: v for k, v in out[name].items() if k in keep}
    for step in (out.get("load") or {}).get("steps") or []:
        for key in STEP_DROPPED:
            step.pop(key, None)
    return _without(out, DROPPED)


def _without(value, keys: set[str]):
    if isinstance(value, dict):
        return {k: _without(v, keys) for k, v in value.items() if k not in keys}
    if isinstance(value, list):
        return [_without(v, keys) for v in value]
    return value


def save(name: str, run_dir: Path | str | None = None, replace: bool = False) -> Path:
    """Store the run (default: the newest in the reports dir) as baseline NAME."""
    check_name(name)
    target = directory() / name
    if (target / results_file.FILE_NAME).exists() and not replace:
        raise UsageError(f"baseline {name} exists ({target}); --replace to overwrite it")
    run_dir = Path(run_dir) if run_dir else latest_run()
    results, file = d.load(run_dir)  # missing, corrupt, other schema_version: one line
    stopped = d.interruptions(results)
    if stopped:
        raise BenchError(f"{file} is an interrupted run ({stopped[0]['section']}: {stopped[0]['reason']}); "
                         "a baseline must be a whole run")
    if results.get("synthetic_slowdown"):
        raise BenchError(f"{file} is a synthetic copy (scripts/slow_copy.py), not a measured run")
    slimmed = slim(results)
    slimmed["baseline"] = {"name": name, "saved_from": results.get("run_id"), "dropped": sorted(DROPPED),
                           "added": "round_p95_ms and round_p99_ms of latency cells, read from their round_hdr"}
    target.mkdir(parents=True, exist_ok=True)
    slimmed.pop("schema_version", None)
    return results_file.write(target, slimmed)  # atomic: temp file + rename


def load(name: str) -> tuple[dict, Path]:
    check_name(name)
    file = directory() / name / results_file.FILE_NAME
    if not file.exists():
        known = ", ".join(b["name"] for b in names()) or "none"
        raise BenchError(f"no baseline {name} in {directory()} (baselines: {known})")
    return d.load(file)


def names() -> list[dict]:
    out = []
    base = directory()
    for file in sorted(base.glob("*/" + results_file.FILE_NAME)) if base.is_dir() else []:
        try:
            data = json.loads(file.read_text())
        except (OSError, ValueError):
            out.append({"name": file.parent.name, "error": "not valid JSON"})
            continue
        if not isinstance(data, dict):
            out.append({"name": file.parent.name, "error": "not a results file"})
            continue
        dataset = data.get("dataset") or {}
        machine = (data.get("environment") or {}).get("machine") or {}
        harness = (data.get("environment") or {}).get("harness") or {}
        out.append({"name": file.parent.name, "run_id": data.get("run_id"), "scale": dataset.get("scale"),
                    "schema_version": data.get("schema_version"),
                    "machine": f"{machine.get('cpu_count', '?')} x {machine.get('cpu_model', '?')}",
                    "commit": (harness.get("git_commit") or "")[:10], "bytes": file.stat().st_size})
    return out


def identity_differences(baseline: dict, run: dict) -> list[str]:
    """Machine and configuration differences (the dataset's are check_comparable's)."""
    out = []
    def get(results, *path):
        value = results
        for p in path:
            value = value.get(p) if isinstance(value, dict) else None
        return value
    for key in MACHINE:
        a, b = get(baseline, "environment", "machine", key), get(run, "environment", "machine", key)
        if a != b:
            out.append(f"machine {key} {a} vs {b}")
    for section, path, keys in (("latency", ("latency", "config"), LATENCY_CONFIG),
                                ("vector", ("vector", "options"), VECTOR_OPTIONS),
                                ("load", ("load", "config"), LOAD_CONFIG)):
        a, b = get(baseline, *path), get(run, *path)
        if a is None or b is None:
            continue  # a section missing on one side is said by the comparison itself
        out += [f"{section} {key} {a.get(key)} vs {b.get(key)}" for key in keys if a.get(key) != b.get(key)]
    a, b = get(baseline, "environment", "server", "settings") or {}, get(run, "environment", "server", "settings") or {}
    out += [f"server setting {k} {a.get(k)} vs {b.get(k)}" for k in dict.fromkeys([*a, *b]) if a.get(k) != b.get(k)]
    return out


def check_gateable(baseline: dict, run: dict, force: bool = False) -> list[str]:
    """Differences that make a baseline unfit to gate `run`: refused with one line (exit 2)
    unless forced; forced, they are returned (the comparison is then shown, not gated)."""
    differences = identity_differences(baseline, run)
    try:
        differences = check_comparable(baseline, run, force=False) + differences
    except UsageError as exc:
        dataset = str(exc).removeprefix("runs differ in ").split(": their figures")[0]
        differences = [dataset] + differences
    if differences and not force:
        name = (baseline.get("baseline") or {}).get("name", "the baseline")
        raise UsageError(f"baseline {name} was measured differently: {'; '.join(differences)} "
                         "(not used for gating; --force shows the comparison anyway)")
    return differences
