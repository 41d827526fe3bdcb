"""`bench compare OLD NEW`: per scenario and variant, the change in p50/p95/p99 and
throughput between two runs, with a significance test over rounds, as Markdown; the
regressions beyond a threshold are returned so CI can gate a release.

A figure is a regression when it worsens by more than the threshold AND the rounds say
the cell really got slower: Welch's t interval on the log of the round medians (the
rounds of two runs are independent samples, so the paired bootstrap of bench.stats does
not apply) for the ratio new/old lies wholly above 1 (throughput: the round means). The
intervals are simultaneous over every cell compared (Bonferroni): with ~40 cells, plain
95% intervals would flag a re-run of the same data most of the time (measured: 15 of 28
pairs of real tiny re-runs; 0 of 28 with the correction). The results hold no per-round
p95/p99 (yet: `round_p95_ms` / `round_p99_ms` are used when a run has them), so the
tail figures' changes come from the HDR histograms and their significance from the round
medians: a tail that moves while every round median stays put is shown, not flagged.
Runs of different datasets (scale, seed, dim) or result schema versions are refused
unless forced.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bench.errors import BenchError
from bench.report import data as d

DEFAULT_THRESHOLD = 0.10
CONFIDENCE = 0.95
IDENTITY = ("scale", "seed", "dim")  # of the dataset; and the results' schema_version


@dataclass(frozen=True)
class RoundRatio:
    """Ratio new/old of a per-round series' geometric means, with its 95% interval."""
    estimate: float
    low: float
    high: float

    @property
    def slower(self) -> bool:
        return self.low > 1

    @property
    def faster(self) -> bool:
        return self.high < 1


@dataclass
class CellChange:
    scenario: str
    variant: str
    old: dict
    new: dict
    figures: dict = field(default_factory=dict)  # metric key -> (old, new, relative change)
    medians: RoundRatio | None = None
    means: RoundRatio | None = None
    regressions: list[str] = field(default_factory=list)
    noise: list[str] = field(default_factory=list)  # beyond the threshold, not significant
    faster: bool = False


def round_ratio(old: list[float], new: list[float], confidence: float = CONFIDENCE) -> RoundRatio | None:
    """Welch's t interval on log values: the ratio of geometric means new/old."""
    a = np.log([x for x in old or [] if x and x > 0])
    b = np.log([x for x in new or [] if x and x > 0])
    if len(a) < 2 or len(b) < 2:
        return None
    estimate = math.exp(b.mean() - a.mean())
    if a.var() == 0 and b.var() == 0:  # no spread at all: the difference is exact
        return RoundRatio(estimate, estimate, estimate)
    from scipy import stats as scipy_stats

    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        interval = scipy_stats.ttest_ind(b, a, equal_var=False).confidence_interval(confidence)
    return RoundRatio(estimate, math.exp(interval.low), math.exp(interval.high))


def check_comparable(old: dict, new: dict, force: bool) -> list[str]:
    """Differences that make two runs incomparable: refused (one line) unless forced;
    with force, returned as notes."""
    differences = []
    if old.get("schema_version") != new.get("schema_version"):
        differences.append(f"schema_version {old.get('schema_version')} vs {new.get('schema_version')}")
    a, b = old.get("dataset") or {}, new.get("dataset") or {}
    for key in IDENTITY:
        if a.get(key) != b.get(key):
            differences.append(f"{key} {a.get(key, 'unknown')} vs {b.get(key, 'unknown')}")
    if differences and not force:
        raise BenchError(f"runs differ in {', '.join(differences)}: their figures are not comparable "
                         "(add --force to compare anyway)")
    return differences


def _change(old, new) -> float | None:
    if old is None or new is None or not old:
        return None
    return new / old - 1


def simultaneous(cells: int) -> float:
    """Per-cell confidence so that all `cells` intervals hold together at CONFIDENCE."""
    return 1 - (1 - CONFIDENCE) / max(1, cells)


def compare_cell(scenario: str, variant: str, old: dict, new: dict, threshold: float,
                 confidence: float = CONFIDENCE) -> CellChange:
    change = CellChange(scenario, variant, old, new)
    old_errors = old.get("errors", 0) if not old.get("expected_failure") else 0
    new_errors = new.get("errors", 0) if not new.get("expected_failure") else 0
    if new_errors and not old_errors:
        change.regressions.append(f"{new_errors} failed requests (none before)")
    if not d.measured(old) or not d.measured(new):
        if d.measured(old) and not d.measured(new):
            change.regressions.append("every request fails")
        return change
    change.medians = round_ratio(old.get("round_medians_ms"), new.get("round_medians_ms"), confidence)
    change.means = round_ratio(old.get("round_means_ms"), new.get("round_means_ms"), confidence)
    for metric in d.METRICS:
        before, after = old["latency"].get(metric.key), new["latency"].get(metric.key)
        rel = _change(before, after)
        change.figures[metric.key] = (before, after, rel)
        if rel is None:
            continue
        worse = -rel if metric.higher_is_better else rel
        series = next((k for k in metric.rounds if old.get(k) and new.get(k)), None)
        evidence = {"round_medians_ms": change.medians, "round_means_ms": change.means}.get(series) or (
            round_ratio(old[series], new[series], confidence) if series else None)
        if worse > threshold:
            (change.regressions if evidence and evidence.slower else change.noise).append(
                f"{metric.label} {rel:+.0%}")
    p50 = change.figures.get("p50_ms", (None, None, None))[2]
    change.faster = bool(p50 is not None and p50 < -threshold and change.medians and change.medians.faster)
    return change


def compare(old: Path | str, new: Path | str, threshold: float = DEFAULT_THRESHOLD,
            force: bool = False) -> tuple[str, list[dict]]:
    """Markdown comparing two runs, and the regressions (one record per flagged cell)."""
    if not threshold >= 0:
        raise BenchError(f"threshold must be a fraction >= 0 (e.g. 0.10 for 10%), not {threshold}")
    a, a_file = d.load(old)
    b, b_file = d.load(new)
    forced = check_comparable(a, b, force)
    for results, file in ((a, a_file), (b, b_file)):
        if not d.latency_cells(results):
            raise BenchError(f"{file} has no latency results: nothing to compare")
    keys = list(dict.fromkeys((c["scenario"], c["variant"]) for c in d.latency_cells(a) + d.latency_cells(b)))
    pairs, only = [], []
    for scenario, variant in keys:
        before, after = d.cell(a, scenario, variant), d.cell(b, scenario, variant)
        if before is None or after is None:
            only.append(f"{scenario} on {variant} ({'new' if before is None else 'old'} run only)")
        elif before.get("applicable", True) or after.get("applicable", True):
            pairs.append((scenario, variant, before, after))
    tested = sum(1 for *_, before, after in pairs if d.measured(before) and d.measured(after))
    confidence = simultaneous(tested)
    changes = [compare_cell(s, v, before, after, threshold, confidence) for s, v, before, after in pairs]
    regressions = [{"scenario": c.scenario, "variant": c.variant, "what": c.regressions,
                    "figures": {k: {"old": o, "new": n, "change": r} for k, (o, n, r) in c.figures.items()},
                    "median_ratio": c.medians.__dict__ if c.medians else None}
                   for c in changes if c.regressions]
    return markdown(a, b, changes, regressions, threshold, forced, only, tested), regressions


# ---- Markdown ---------------------------------------------------------------------------------
def _figure_cell(change: CellChange, key: str) -> str:
    before, after, rel = change.figures.get(key, (None, None, None))
    fmt = d.fmt_rate if key == "throughput_rps" else d.fmt_ms
    if before is None and after is None:
        return "–"
    return f"{fmt(before)} → {fmt(after)}" + (f" ({d.fmt_change(rel)})" if rel is not None else "")


def _ratio_cell(ratio: RoundRatio | None) -> str:
    if ratio is None:
        return "–"
    return f"{d.fmt_change(ratio.estimate - 1)} [{d.fmt_change(ratio.low - 1)}, {d.fmt_change(ratio.high - 1)}]"


def _status(change: CellChange) -> str:
    if change.regressions:
        return "🔴 **regression**: " + ", ".join(change.regressions)
    if not d.measured(change.old) or not d.measured(change.new):
        return "n/a (no successful request)"
    if change.faster:
        return "🟢 faster"
    if change.noise:
        return "within noise: " + ", ".join(change.noise)
    return ""


def markdown(old: dict, new: dict, changes: list[CellChange], regressions: list[dict], threshold: float,
             forced: list[str], only: list[str], tested: int) -> str:
    lines = [f"### bench compare: `{old.get('run_id', '?')}` → `{new.get('run_id', '?')}`", "",
             f"{d.run_label(new)} · threshold {threshold:.0%}", ""]
    if regressions:
        lines.append(f"**{len(regressions)} regression{'s' if len(regressions) != 1 else ''} beyond "
                     f"{threshold:.0%}**: " + "; ".join(f"{r['scenario']} on {r['variant']} ({', '.join(r['what'])})"
                                                       for r in regressions))
    else:
        lines.append(f"**No regression beyond {threshold:.0%}.**")
    lines += ["", "| scenario | variant | p50 ms | p95 ms | p99 ms | req/s | round medians: change [95% CI*] | |",
              "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |"]
    for c in changes:
        lines.append(f"| {c.scenario} | {c.variant} | " + " | ".join(
            _figure_cell(c, m.key) for m in d.METRICS) + f" | {_ratio_cell(c.medians)} | {_status(c)} |")
    lines += ["", f"_A figure is flagged when it worsens beyond the threshold and the rounds agree: Welch's interval "
                  f"on the log round medians (throughput: round means) of new/old lies wholly above 1. *The "
                  f"intervals are simultaneous over the {tested} cells compared (Bonferroni), so a re-run of the "
                  f"same data flags nothing 95% of the time. p95/p99 changes come from the HDR histograms, their "
                  f"significance from the round medians._"]
    notes = [f"compared despite different {x} (--force)" for x in forced]
    notes += [f"only in one run: {x}" for x in only]
    notes += _environment_notes(old, new)
    if notes:
        lines += ["", "Notes:", *[f"- {n}" for n in notes]]
    return "\n".join(lines) + "\n"


def _environment_notes(old: dict, new: dict) -> list[str]:
    """What changed around the measurement (it may explain a difference)."""
    out = []
    def get(results, *path):
        value = results
        for p in path:
            value = (value or {}).get(p) if isinstance(value, dict) else None
        return value
    for label, path in (("PostgreSQL", ("environment", "server", "server")),
                        ("pgvector", ("environment", "server", "pgvector")),
                        ("CPU count", ("environment", "machine", "cpu_count")),
                        ("memory", ("environment", "machine", "memory_bytes")),
                        ("harness commit", ("environment", "harness", "git_commit"))):
        a, b = get(old, *path), get(new, *path)
        if a != b:
            if label == "harness commit":
                a, b = (str(x)[:10] if x else x for x in (a, b))
            out.append(f"{label}: {a} → {b}")
    a, b = get(old, "latency", "config") or {}, get(new, "latency", "config") or {}
    changed = [f"{k} {a.get(k)} → {b.get(k)}" for k in dict.fromkeys(list(a) + list(b)) if a.get(k) != b.get(k)]
    if changed:
        out.append("latency config: " + ", ".join(changed))
    return out
