"""`bench compare OLD NEW`: per scenario, variant and figure (p50, p95, p99, req/s) the
change between two runs, whether it is a regression, an improvement, no change beyond the
threshold, or undecidable, and the smallest change the pair of runs could detect there
(the MDE), as Markdown; the regressions are returned so CI can gate a release.

Each figure is tested on its own replicates (per run: the mean of its rounds, when a cell
has several runs; per round otherwise; p50: round medians; p95/p99: round p95/p99, stored
or read from per-round HDR histograms; req/s: round means): a t-test on their logs whose
variance is moderated (Smyth 2004, as limma does): with 3 runs a side a figure's own
spread rests on 4 degrees of freedom, so it borrows the spread of the same metric in every
other cell (stats.variance_prior) and their degrees of freedom, which lets a comparison of
160 figures see a 30% change; a cell noisier than the others keeps its own spread.
Benjamini-Hochberg over every tested figure keeps the expected share of false flags at
ALPHA (with no true change anywhere, the chance of any false flag). A figure not flagged
is "unchanged" only when the test would have caught a change of the threshold's size with
POWER; otherwise it is undecidable and says what it could detect. Runs that measured
something else (dataset, generator, load shape) are refused with a UsageError unless
forced. See docs/decisions.md, "bench compare: power and multiple comparisons".

A shift shared by nearly every figure (a slower machine state, or a change that touches
every query) is said as one, with the figures worse than it and the runs' speed probes
(common_shift); the gate still counts every regression: see docs/decisions.md, "bench
compare under machine drift".
"""

from __future__ import annotations

import functools
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import stats as st

from bench.core import contention, environment, speed
from bench.core.errors import BenchError, UsageError
from bench.judge import stats
from bench.judge import text as txt
from bench.report import data as d

DEFAULT_THRESHOLD = 0.10
ALPHA = 0.05  # false discovery rate; with no true change, the chance that any figure is flagged
POWER = 0.80  # for the minimum detectable effect
MC_DRAWS = 20_000  # simulated pairs of runs per MDE: its power is then within about 1 point
DATASET_IDENTITY = (("scale", "scale"), ("seed", "seed"), ("dim", "dim"), ("generator", "generator version"),
                    ("difficulty", "difficulty"))
LOAD_IDENTITY = ("mode", "concurrency")  # of the latency config: how the requests were sent

REGRESSION, IMPROVEMENT, UNDECIDABLE, UNCHANGED = "regression", "improvement", "undecidable", "unchanged"


# ---- the test of one figure ------------------------------------------------------------------------
@dataclass(frozen=True)
class LogTest:
    """A t-test on the logs of one figure's per-round latencies in two runs (Welch's, or
    moderated when se and df are set)."""
    log_ratio: float  # mean log(new) - mean log(old): > 0 is slower
    p: float  # two-sided
    spread: tuple[float, float]  # sd of the log rounds, old and new
    rounds: tuple[int, int]
    se: float | None = None  # moderated tests: the standard error of log_ratio ...
    df: float | None = None  # ... and its degrees of freedom (own + the prior's)

    @property
    def ratio(self) -> float:
        return math.exp(self.log_ratio)


def welch(old, new) -> LogTest | None:
    """None with fewer than 2 positive rounds on a side (no spread, no test)."""
    a = np.log([x for x in old or [] if x and x > 0])
    b = np.log([x for x in new or [] if x and x > 0])
    if len(a) < 2 or len(b) < 2:
        return None
    diff = float(b.mean() - a.mean())
    spread, rounds = (float(a.std(ddof=1)), float(b.std(ddof=1))), (len(a), len(b))
    if spread == (0.0, 0.0):  # no spread on either side: the difference is exact
        return LogTest(diff, 0.0 if diff else 1.0, spread, rounds)
    return LogTest(diff, float(st.ttest_ind(b, a, equal_var=False).pvalue), spread, rounds)


def _logs(values) -> np.ndarray:
    return np.log([x for x in ([] if values is None else values) if x and x > 0])


def moderated(pairs: list[tuple[list | None, list | None]]) -> list[LogTest | None]:
    """One test per (old, new) series of the same metric: the pooled variance of the two
    sides' logs, shrunk toward the prior fitted on all of them where that makes it larger
    (a quiet figure gains degrees of freedom, not a smaller spread; a figure noisier than
    the prior keeps its own); None where a side has fewer than 2 positive replicates."""
    logs = [(_logs(a), _logs(b)) for a, b in pairs]
    usable = [len(a) >= 2 and len(b) >= 2 for a, b in logs]
    own = [(((len(a) - 1) * a.var(ddof=1) + (len(b) - 1) * b.var(ddof=1)) / (len(a) + len(b) - 2),
            len(a) + len(b) - 2) if ok else (0.0, 0) for (a, b), ok in zip(logs, usable)]
    prior = stats.variance_prior([v for v, _ in own], [df for _, df in own])
    tests: list[LogTest | None] = [None] * len(pairs)
    rows = [i for i, ok in enumerate(usable) if ok]
    diff, se, df = np.zeros(len(rows)), np.zeros(len(rows)), np.zeros(len(rows))
    for j, i in enumerate(rows):
        a, b = logs[i]
        variance, own_df = own[i]
        shrunk, more_df = prior.posterior(variance, own_df)
        if shrunk >= variance:  # a noisy figure keeps its own spread (and df): borrowing never hides noise
            variance, own_df = shrunk, more_df
        diff[j], se[j], df[j] = b.mean() - a.mean(), math.sqrt(variance * (1 / len(a) + 1 / len(b))), own_df
    p = two_sided_t(diff, se, df)
    for j, i in enumerate(rows):
        a, b = logs[i]
        tests[i] = LogTest(float(diff[j]), float(p[j]), (float(a.std(ddof=1)), float(b.std(ddof=1))),
                           (len(a), len(b)), float(se[j]), float(df[j]))
    return tests


def two_sided_t(diff: np.ndarray, se: np.ndarray, df: np.ndarray) -> np.ndarray:
    """Two-sided p-values of t = diff / se; with no spread (se 0) a difference is certain."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(se > 0, 2 * st.t.sf(np.abs(diff) / se, df), np.where(diff != 0, 0.0, 1.0))


def detectable_log_ratio(test: LogTest, alpha: float, power: float = POWER, draws: int = MC_DRAWS) -> float:
    """The smallest true slowdown (log ratio) that Welch's two-sided test at `alpha` flags
    with `power`, if the rounds spread as observed. Welch's power has no closed form (the
    noncentral t with the observed df overstates it: 67% instead of 80% at 5 rounds and
    alpha 0.05/80), so it is simulated: a draw flags a shift delta when delta exceeds
    crit(df) * se - noise of that draw, whatever delta is, so the MDE is the `power`
    quantile of that bound. The seed is fixed: the same runs give the same MDE."""
    if test.se is not None:  # moderated: se rests on df degrees of freedom
        return float((st.t.isf(alpha / 2, test.df) + st.t.ppf(power, test.df)) * test.se)
    if test.spread == (0.0, 0.0):
        return 0.0
    (sd_a, sd_b), (n_a, n_b) = test.spread, test.rounds
    mean_a, var_a, mean_b, var_b = _standard_draws(n_a, n_b, draws)
    va, vb = sd_a ** 2 * var_a / n_a, sd_b ** 2 * var_b / n_b
    df = (va + vb) ** 2 / (va ** 2 / (n_a - 1) + vb ** 2 / (n_b - 1))
    bound = st.t.isf(alpha / 2, df) * np.sqrt(va + vb) - (sd_b * mean_b - sd_a * mean_a)
    return float(np.quantile(bound, power))


@functools.lru_cache(maxsize=8)
def _standard_draws(n_a: int, n_b: int, draws: int) -> tuple[np.ndarray, ...]:
    """Means and variances of `draws` standard normal samples of n_a and n_b rounds
    (scaled by each figure's spread: one set of draws serves every figure)."""
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((draws, n_a)), rng.standard_normal((draws, n_b))
    return a.mean(axis=1), a.var(axis=1, ddof=1), b.mean(axis=1), b.var(axis=1, ddof=1)


def benjamini_hochberg(pvalues: list[float], alpha: float = ALPHA) -> np.ndarray:
    """Which hypotheses the Benjamini-Hochberg step-up procedure rejects (false discovery
    rate <= alpha): a uniform slowdown makes many small p-values, and each lowers the bar
    for the others, where Holm would test every figure near alpha / m."""
    p = np.asarray(pvalues, float)
    order = np.argsort(p)
    passed = np.nonzero(p[order] <= alpha * np.arange(1, len(p) + 1) / len(p))[0]
    rejected = np.zeros(len(p), bool)
    if len(passed):
        rejected[order[:passed[-1] + 1]] = True
    return rejected


def holm(pvalues: list[float], alpha: float = ALPHA) -> np.ndarray:
    """Which hypotheses Holm's step-down procedure rejects (family-wise error <= alpha)."""
    p = np.asarray(pvalues, float)
    order = np.argsort(p)
    adjusted = np.maximum.accumulate(p[order] * (len(p) - np.arange(len(p))))
    rejected = np.zeros(len(p), bool)
    rejected[order] = adjusted <= alpha
    return rejected


# ---- figures and cells -----------------------------------------------------------------------------
@dataclass
class Figure:
    """One metric of one cell in both runs, its test and its decision."""
    metric: d.Metric
    old: float | None
    new: float | None
    test: LogTest | None = None
    missing: str = ""  # why there is no test
    status: str = ""
    detectable: float | None = None  # MDE as a worsening fraction (like the threshold)
    series: tuple = (None, None)  # the replicates tested, old and new

    @property
    def change(self) -> float | None:
        """Whole-run figure (HDR summary) new/old - 1."""
        return None if self.old is None or self.new is None or not self.old else self.new / self.old - 1

    @property
    def tested_change(self) -> float:
        """Change of the figure per the rounds' geometric means (the series are latencies)."""
        return 1 / self.test.ratio - 1 if self.metric.higher_is_better else self.test.ratio - 1

    def worsening(self, log_ratio: float) -> float:
        """A slowdown of the rounds by exp(log_ratio), as a fraction of this figure."""
        return 1 - math.exp(-log_ratio) if self.metric.higher_is_better else math.exp(log_ratio) - 1


@dataclass
class CellChange:
    scenario: str
    variant: str
    old: dict
    new: dict
    figures: dict[str, Figure] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)  # regressions that are not timings

    def with_status(self, status: str) -> list[Figure]:
        return [f for f in self.figures.values() if f.status == status]

    @property
    def regressions(self) -> list[str]:
        return self.failures + [f"{f.metric.label} {f.tested_change:+.0%}" for f in self.with_status(REGRESSION)]


def round_series(cell: dict, metric: d.Metric) -> tuple[list[float] | None, str]:
    """A figure's own values per replicate, or why there are none: per run (the mean of
    its rounds) when the cell has several runs, since rounds of one run share its
    connections and planner statistics; per round otherwise. The registry's first series
    is the metric's own; later ones (p95 from round medians) are stand-ins that would let
    a slower tail pass with a flat median, so they are not used."""
    own = metric.rounds[0]
    values = None
    if cell.get(own):
        values = cell[own]
    elif (percentile := _percentile(metric.key)) is not None and cell.get("round_hdr"):
        values = [hdr_percentile(h, percentile) for h in cell["round_hdr"]]
    if values is None:
        return None, "no per-round values"
    runs = cell.get("round_runs")
    if runs and len(runs) == len(values) and len(set(runs)) > 1:
        return stats.run_means(values, runs).tolist(), ""
    return values, ""


@functools.lru_cache(maxsize=16_384)
def hdr_percentile(encoded: str, percentile: float) -> float:
    """A percentile (ms) of an encoded HDR histogram; cached, as decoding and walking a
    histogram is most of a comparison's time and the same runs are often compared again."""
    return stats.value_at_percentile(stats.decode(encoded), percentile) / 1000


def _percentile(key: str) -> float | None:
    """95.0 for "p95_ms", 99.9 for "p99_9_ms"; None for other keys."""
    if not (key.startswith("p") and key.endswith("_ms")):
        return None
    try:
        return float(key[1:-3].replace("_", "."))
    except ValueError:
        return None


def cell_change(scenario: str, variant: str, old: dict, new: dict) -> CellChange:
    """The figures of a cell with their tests (decided later, over all cells at once)."""
    change = CellChange(scenario, variant, old, new)
    old_errors = old.get("errors", 0) if not old.get("expected_failure") else 0
    new_errors = new.get("errors", 0) if not new.get("expected_failure") else 0
    if new_errors and not old_errors:
        change.failures.append(f"{new_errors} failed requests (none before)")
    if not d.measured(old) or not d.measured(new):
        if d.measured(old):
            change.failures.append("every request fails")
        return change
    for metric in d.METRICS:
        figure = Figure(metric, old["latency"].get(metric.key), new["latency"].get(metric.key))
        before, why_old = round_series(old, metric)
        after, why_new = round_series(new, metric)
        figure.series = (before, after)
        if not (before and after):
            figure.missing = why_old or why_new or "fewer than 2 rounds"
        change.figures[metric.key] = figure
    return change


def moderate(figures: list[Figure]) -> None:
    """Test every figure with values on both sides, moderated, the prior fitted per metric
    (a p99 spreads more than a p50)."""
    by_metric: dict[str, list[Figure]] = {}
    for figure in figures:
        if not figure.missing:
            by_metric.setdefault(figure.metric.key, []).append(figure)
    for group in by_metric.values():
        for figure, test in zip(group, moderated([f.series for f in group])):
            figure.test = test
            if test is None:
                figure.missing = "fewer than 2 rounds"


def decide(figures: list[Figure], threshold: float, alpha: float = ALPHA) -> None:
    """Set every figure's status and MDE. The strictest level alpha/m is where the MDE is
    computed: a figure with p <= alpha/m is rejected by Benjamini-Hochberg whatever the
    others do, so the MDE is a promise, not a hope."""
    tested = [f for f in figures if f.test is not None]
    rejected = benjamini_hochberg([f.test.p for f in tested], alpha) if tested else []
    strictest = alpha / max(1, len(tested))
    for figure in figures:
        if figure.test is None:
            figure.status = UNDECIDABLE
    for figure, reject in zip(tested, rejected):
        worse = figure.worsening(figure.test.log_ratio)
        figure.detectable = figure.worsening(detectable_log_ratio(figure.test, strictest))
        if reject and worse > threshold:
            figure.status = REGRESSION
        elif reject and -worse > threshold:
            figure.status = IMPROVEMENT
        elif figure.detectable > threshold:
            figure.status = UNDECIDABLE
        else:
            figure.status = UNCHANGED


# ---- a shift shared by every figure ----------------------------------------------------------------
# Figures that moved together, by at least half the threshold and this share of them in one
# direction, are reported as one shift: a slower machine state moves every figure (consecutive
# runs of one commit: 221 of 232 figures slower, median +23%, docs/decisions.md
# "bench compare under machine drift"), and so does a change that slows every query.
SHIFT_SHARE = 0.8
MIN_SHIFT_FIGURES = 20  # fewer figures than this are not "every figure"
# Speed probe changes beyond this are another machine state (the idle probe's sd: 2.6% CPU, 4.7%
# memory). Within it nothing is proven: reruns of one commit moved 16-23% with the probe
# within 10% (docs/decisions.md, "bench compare under machine drift").
PROBE_NOISE = 0.10


@dataclass(frozen=True)
class CommonShift:
    """The median change of every tested figure, and the figures worse than it by more than
    the threshold (the same moderated test, centred on the shift; Benjamini-Hochberg)."""
    log_ratio: float  # > 0 is slower
    same_way: int
    tested: int
    beyond: list[tuple[CellChange, Figure, float]]  # (cell, figure, worsening beyond the shift)
    probe: dict[str, float] | None  # speed probe change per part, None when a run has none

    @property
    def change(self) -> float:
        return math.expm1(self.log_ratio)


def common_shift(comparison: Comparison, alpha: float = ALPHA) -> CommonShift | None:
    """The shift every figure shares, or None when the figures did not move together."""
    pairs = [(x, f) for x in comparison.changes for f in x.figures.values()
             if f.test is not None and f.test.se is not None]
    if len(pairs) < MIN_SHIFT_FIGURES:
        return None
    logs = np.array([f.test.log_ratio for _, f in pairs])
    centre = float(np.median(logs))
    same_way = int(np.sum(np.sign(logs) == np.sign(centre)))
    if abs(math.expm1(centre)) < comparison.threshold / 2 or same_way < SHIFT_SHARE * len(pairs):
        return None
    p = two_sided_t(logs - centre, np.array([f.test.se for _, f in pairs]), np.array([f.test.df for _, f in pairs]))
    beyond = [(x, f, f.worsening(lr - centre)) for (x, f), lr, reject in zip(pairs, logs, benjamini_hochberg(p, alpha))
              if reject and f.worsening(lr - centre) > comparison.threshold]
    probes = [((r.get("environment") or {}).get("machine") or {}).get("speed_probe")
              for r in (comparison.old, comparison.new)]
    return CommonShift(centre, same_way, len(pairs), beyond, speed.change(*probes))


def shift_text(shift: CommonShift, threshold: float) -> str:
    direction = "slower" if shift.log_ratio > 0 else "faster"
    text = (f"**Every figure moved together**: median {txt.fmt_change(shift.change)} ({shift.same_way} of "
            f"{shift.tested} figures {direction}). A slower or faster machine state does this (consecutive runs of "
            "one commit moved -17% and +23%), and so does a change that affects every query. ")
    if shift.probe is None:
        text += "No speed probe in one of the runs (recorded from 2026-12-04): which it was cannot be told. "
    else:
        moved = {k: v for k, v in shift.probe.items() if abs(v) > PROBE_NOISE}
        probe = ", ".join(f"{k.removesuffix('_ms')} {txt.fmt_change(v)}" for k, v in shift.probe.items())
        text += (f"Speed probe {probe}: the machine's speed changed between the runs, so this shift is likely the "
                 "machine's. " if moved else
                 f"Speed probe {probe} (within ±{PROBE_NOISE:.0%}): no sign of another machine state at the start, but "
                 "reruns of one commit have moved 16-23% with a probe as steady, so it may still be the machine's. ")
    text += "Rerun both on one machine state (scripts/pr-compare.sh alternates them). "
    if shift.beyond:
        text += f"Worse than the shared shift by more than {threshold:.0%}: " + "; ".join(
            f"{x.scenario} on {x.variant} ({f.metric.label} {txt.fmt_change(w)})" for x, f, w in shift.beyond)
    else:
        text += f"No figure is worse than the shared shift by more than {threshold:.0%}."
    return text


# ---- comparable runs -------------------------------------------------------------------------------
def check_comparable(old: dict, new: dict, force: bool) -> list[str]:
    """What makes two runs measure different things: refused (one line, exit 2) unless
    forced; with force, returned as notes."""
    differences = []  # (another schema_version is refused by results.load: it cannot be read at all)
    a, b = old.get("dataset") or {}, new.get("dataset") or {}
    for key, label in DATASET_IDENTITY:
        if a.get(key) != b.get(key):
            differences.append(f"{label} {a.get(key, 'unknown')} vs {b.get(key, 'unknown')}")
    counts = [f"{t} {(a.get('counts') or {}).get(t, 0)} vs {(b.get('counts') or {}).get(t, 0)}"
              for t in dict.fromkeys([*(a.get("counts") or {}), *(b.get("counts") or {})])
              if (a.get("counts") or {}).get(t) != (b.get("counts") or {}).get(t)]
    if counts:
        differences.append("row counts (" + ", ".join(counts) + ")")
    a, b = _latency_config(old), _latency_config(new)
    differences += [f"{key} {a.get(key, 'unknown')} vs {b.get(key, 'unknown')}"
                    for key in LOAD_IDENTITY if a.get(key) != b.get(key)]
    if differences and not force:
        raise UsageError(f"runs differ in {', '.join(differences)}: their figures are not comparable "
                         "(add --force to compare anyway)")
    return differences


def _latency_config(results: dict) -> dict:
    return (results.get("latency") or {}).get("config") or {}


# ---- the comparison --------------------------------------------------------------------------------
@dataclass
class Comparison:
    old: dict
    new: dict
    threshold: float
    changes: list[CellChange]
    forced: list[str]
    only: list[str]  # cells in one run only

    @functools.cached_property
    def shift(self) -> CommonShift | None:
        """The shift every figure shares (common_shift), computed once for every text that says it."""
        return common_shift(self)

    def figures(self, status: str | None = None) -> list[Figure]:
        return [f for c in self.changes for f in c.figures.values() if status is None or f.status == status]

    @property
    def tested(self) -> int:
        return sum(1 for f in self.figures() if f.test is not None)

    def regressions(self) -> list[dict]:
        """One record per cell with a regression (a figure or new failures)."""
        return [{"scenario": c.scenario, "variant": c.variant, "what": c.regressions,
                 "figures": {k: _record(f) for k, f in c.figures.items()}}
                for c in self.changes if c.regressions]


def _record(figure: Figure) -> dict:
    test = figure.test
    return {"old": figure.old, "new": figure.new, "change": figure.change, "status": figure.status,
            "tested_change": figure.tested_change if test else None, "p": test.p if test else None,
            "detectable": figure.detectable, "missing": figure.missing or None}


def check_threshold(threshold: float) -> None:
    if not threshold >= 0:
        raise UsageError(f"threshold must be a fraction >= 0 (e.g. 0.10 for 10%), not {threshold}")


def judge(old: Path | str, new: Path | str, threshold: float = DEFAULT_THRESHOLD,
          force: bool = False) -> Comparison:
    """Load, check and compare two runs; every figure decided."""
    check_threshold(threshold)
    a, a_file = d.load(old)
    b, b_file = d.load(new)
    forced = check_comparable(a, b, force)
    for results, file in ((a, a_file), (b, b_file)):
        if not d.latency_cells(results):
            raise BenchError(f"{file} has no latency results: nothing to compare")
    keys = list(dict.fromkeys((c["scenario"], c["variant"]) for c in d.latency_cells(a) + d.latency_cells(b)))
    changes, only = [], []
    for scenario, variant in keys:
        before, after = d.cell(a, scenario, variant), d.cell(b, scenario, variant)
        if before is None or after is None:
            only.append(f"{scenario} on {variant} ({'new' if before is None else 'old'} run only)")
        elif before.get("applicable", True) or after.get("applicable", True):
            changes.append(cell_change(scenario, variant, before, after))
    comparison = Comparison(a, b, threshold, changes, forced, only)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")  # scipy's precision warnings for near-identical rounds
        moderate(comparison.figures())
        decide(comparison.figures(), threshold)
    return comparison


def compare(old: Path | str, new: Path | str, threshold: float = DEFAULT_THRESHOLD,
            force: bool = False) -> tuple[str, list[dict]]:
    """Markdown comparing two runs, and the regressions (one record per flagged cell)."""
    comparison = judge(old, new, threshold, force)
    return markdown(comparison), comparison.regressions()


# ---- Markdown --------------------------------------------------------------------------------------
def _figure_cell(figure: Figure | None) -> str:
    if figure is None or (figure.old is None and figure.new is None):
        return "–"
    fmt = txt.fmt_rate if figure.metric.higher_is_better else txt.fmt_ms
    text = f"{fmt(figure.old)} → {fmt(figure.new)}"
    if figure.change is not None:
        text += f" ({txt.fmt_change(figure.change)})"
    mark = {REGRESSION: " 🔴", IMPROVEMENT: " 🟢", UNDECIDABLE: " ❔"}.get(figure.status, "")
    detectable = f" · MDE {_mde_text(figure.detectable)}" if figure.detectable is not None else ""
    return text + detectable + mark


MDE_SHOWN = 10.0  # beyond 1,000% an MDE only says "these rounds cannot tell"; its digits mean nothing


def _mde_text(fraction: float) -> str:
    return f"{MDE_SHOWN:,.0%}+" if fraction > MDE_SHOWN else f"{fraction:,.0%}"


def _status(change: CellChange) -> str:
    if not d.measured(change.old) or not d.measured(change.new):
        return ("🔴 **regression**: " + ", ".join(change.failures)) if change.failures else \
            "n/a (no successful request)"
    parts = []
    if change.regressions:
        parts.append("🔴 **regression**: " + ", ".join(change.regressions))
    if change.with_status(IMPROVEMENT):
        parts.append("🟢 improvement: " + ", ".join(f"{f.metric.label} {f.tested_change:+.0%}"
                                                   for f in change.with_status(IMPROVEMENT)))
    tested = [f for f in change.with_status(UNDECIDABLE) if f.test is not None]
    untested = [f for f in change.with_status(UNDECIDABLE) if f.test is None]
    if tested:
        parts.append("❔ undecidable: " + ", ".join(
            f"{f.metric.label} {f.tested_change:+.0%} (could detect ≥ {_mde_text(f.detectable)})" for f in tested))
    for why in dict.fromkeys(f.missing for f in untested):
        parts.append("❔ untested: " + ", ".join(f.metric.label for f in untested if f.missing == why) + f" ({why})")
    return " · ".join(parts)


def headline(comparison: Comparison) -> list[str]:
    c, threshold = comparison, comparison.threshold
    failures = sum(len(x.failures) for x in c.changes)  # new failed requests: regressions that are not figures
    undecidable = c.figures(UNDECIDABLE)
    untested = sum(1 for f in undecidable if f.test is None)
    lines = [f"**{len(c.figures(REGRESSION)) + failures} regressions · {len(c.figures(IMPROVEMENT))} improvements · "
             f"{len(undecidable)} undecidable · {len(c.figures(UNCHANGED))} unchanged** "
             f"(of {len(c.figures())} figures, threshold {threshold:.0%})"]
    flagged = [x for x in c.changes if x.regressions]
    if flagged:
        lines.append(f"Regressions beyond {threshold:.0%}: " + "; ".join(
            f"{x.scenario} on {x.variant} ({', '.join(x.regressions)})" for x in flagged))
    if c.shift:
        lines.append(shift_text(c.shift, threshold))
    if undecidable:
        lines.append(f"Undecidable: {len(undecidable)} figures could not have shown a {threshold:.0%} change "
                     f"({len(undecidable) - untested} need more rounds, {untested} have no per-round values).")
    return lines


def markdown(comparison: Comparison) -> str:
    c = comparison
    old, new = c.old, c.new
    lines = [f"### bench compare: `{old.get('run_id', '?')}` → `{new.get('run_id', '?')}`", "",
             f"{d.run_label(new)} · threshold {c.threshold:.0%}", ""]
    lines += [line for item in headline(c) for line in (item, "")]
    lines += ["| scenario | variant | p50 ms | p95 ms | p99 ms | req/s | |",
              "| --- | --- | ---: | ---: | ---: | ---: | --- |"]
    for x in c.changes:
        lines.append(f"| {x.scenario} | {x.variant} | " + " | ".join(
            _figure_cell(x.figures.get(m.key)) for m in d.METRICS) + f" | {_status(x)} |")
    lines += ["", _caption(c)]
    notes = [f"compared despite different {x} (--force)" for x in c.forced]
    notes += [f"only in one run: {x}" for x in c.only]
    notes += _environment_notes(old, new)
    if notes:
        lines += ["", "Notes:", *[f"- {n}" for n in notes]]
    return "\n".join(lines) + "\n"


def _caption(c: Comparison) -> str:
    return (f"_Figures: whole-run HDR values, old → new. Each is tested on its own per-round values (p50: round "
            f"medians; p95/p99: round p95/p99, when the run stores them or per-round HDR histograms; req/s: round "
            f"means; per run when a run has several) with a moderated t-test on their logs (a figure quieter than "
            f"the same metric's cells borrows their spread's degrees of freedom, never a smaller spread); "
            f"Benjamini-Hochberg over the {c.tested} tested figures keeps the expected share of false flags among "
            f"the flagged at {ALPHA:.0%}. 🔴/🟢: the test rejects and the figure is worse/better by more than the "
            f"threshold (change of the rounds' geometric means). MDE: the smallest change the test detects with "
            f"{POWER:.0%} power at the strictest level ({ALPHA:.0%}/{c.tested}, where a figure is flagged whatever "
            f"the others do), from the figure's spread and degrees of freedom. ❔ undecidable: not flagged and MDE "
            f"above the threshold, or no per-round values: \"no change\" cannot be claimed. Unmarked figures could "
            f"have shown a {c.threshold:.0%} change and did not._")


def busy_note(old: dict, new: dict) -> str | None:
    """Runs measured while other work used the machine (in the second before a run, or over
    a benchmark: contention.busy_notes) measured a slower machine: two busy runs of one
    commit flagged nothing against each other, and 20-36 cells against a quieter run
    (2026-12-02)."""
    notes = [contention.busy_notes(r) for r in (old, new)]
    if not any(notes):
        return None
    shown = ["; ".join(n) if n else _quiet_text(r) for n, r in zip(notes, (old, new))]
    return (f"machine busy: {shown[0]} → {shown[1]} (a busy machine is a slower machine: "
            "compare runs made on a quiet one)")


def _quiet_text(results: dict) -> str:
    machine = (results.get("environment") or {}).get("machine")
    return f"not busy ({environment.start_load_text(machine)} at the start)" if machine else "unknown"


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
                        ("Python", ("environment", "machine", "python")),
                        ("harness commit", ("environment", "harness", "git_commit"))):
        a, b = get(old, *path), get(new, *path)
        if a != b:
            if label == "harness commit":
                a, b = (str(x)[:10] if x else x for x in (a, b))
            out.append(f"{label}: {a} → {b}")
    busy = busy_note(old, new)
    if busy:
        out.append(busy)
    a, b = _latency_config(old), _latency_config(new)
    changed = [f"{k} {a.get(k)} → {b.get(k)}" for k in dict.fromkeys(list(a) + list(b))
               if a.get(k) != b.get(k) and k not in LOAD_IDENTITY]
    if changed:
        out.append("latency config: " + ", ".join(changed))
    return out
