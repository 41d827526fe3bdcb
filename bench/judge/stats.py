"""Latency statistics: HDR histograms (every request, microseconds) and confidence
intervals at the level where the variance is (docs/decisions.md, "Repetition where the
variance is"). Requests inside one round share cache state and machine noise, and rounds
inside one run share its connections and planner statistics, so the unit of replication
is the run when there are several (a t interval over run means), the round otherwise (a
bootstrap over rounds, which covers only the noise between rounds of one run). An
aggregate over scenarios also resamples the scenarios (hierarchical bootstrap): one
scenario must not carry a claim about queries in general.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from hdrh.histogram import HdrHistogram

LOWEST_US, HIGHEST_US, DIGITS = 1, 600_000_000, 3  # 1 us .. 10 min, 3 significant digits
PERCENTILES = (50, 90, 95, 99, 99.9)
BOOTSTRAP_RESAMPLES = 10_000
CONFIDENCE = 0.95


def new_histogram() -> HdrHistogram:
    return HdrHistogram(LOWEST_US, HIGHEST_US, DIGITS)


def record(histogram: HdrHistogram, latency_us: int) -> None:
    histogram.record_value(min(max(int(latency_us), LOWEST_US), HIGHEST_US))


def summary(histogram: HdrHistogram, seconds: float) -> dict:
    """p50 ... p99.9, max, mean, stddev (ms), count and throughput of a histogram."""
    count = histogram.get_total_count()
    if not count:
        return {"count": 0}
    values = percentiles(histogram, PERCENTILES)
    out = {f"p{str(p).replace('.', '_')}_ms": values[p] / 1000 for p in PERCENTILES}
    mean, stddev = mean_stddev(histogram)
    out.update(max_ms=histogram.get_max_value() / 1000, mean_ms=mean / 1000, stddev_ms=stddev / 1000, count=count,
               throughput_rps=count / seconds if seconds else None)
    return out


# hdrh's readouts walk all ~20,000 counts in Python, once per percentile, and its mean and
# stddev walk them again: 0.12 s per summary, 6 s per saved latency section. These read
# the counts once with numpy and give hdrh's values exactly (tests/test_hdr_readout.py).
def _recorded(histogram: HdrHistogram) -> tuple[np.ndarray, np.ndarray]:
    """The indexes that hold counts, and their counts."""
    counts = np.ctypeslib.as_array(histogram.counts)[:histogram.counts_len]
    where = np.flatnonzero(counts)
    return where, counts[where].astype(np.int64)


def percentiles(histogram: HdrHistogram, wanted) -> dict:
    """hdrh's get_value_at_percentile for each of `wanted` (us; 0 for an empty histogram)."""
    where, counts = _recorded(histogram)
    if not len(where):
        return {p: 0 for p in wanted}
    cumulative = np.cumsum(counts)
    out = {}
    for p in wanted:
        target = max(int(min(p, 100.0) * histogram.total_count / 100 + 0.5), 1)
        i = int(where[min(np.searchsorted(cumulative, target), len(where) - 1)])
        value = histogram.get_value_from_index(i)
        out[p] = histogram.get_highest_equivalent_value(value) if p else histogram.get_lowest_equivalent_value(value)
    return out


def value_at_percentile(histogram: HdrHistogram, percentile: float) -> int:
    return percentiles(histogram, [percentile])[percentile]


def mean_stddev(histogram: HdrHistogram) -> tuple[float, float]:
    """hdrh's get_mean_value and get_stddev (us): each bucket at its median equivalent value."""
    where, counts = _recorded(histogram)
    if not histogram.total_count or not len(where):
        return 0.0, 0.0
    middles = np.array([histogram._hdr_median_equiv_value(  # noqa: SLF001 (hdrh's own definition of a bucket's value)
        histogram.get_highest_equivalent_value(histogram.get_value_from_index(int(i)))) for i in where], dtype=float)
    mean = float(np.sum(counts * middles)) / histogram.total_count
    return mean, math.sqrt(float(np.sum(counts * (middles - mean) ** 2)) / histogram.total_count)


def encode(histogram: HdrHistogram) -> str:
    """Compressed HDR encoding (as HdrHistogram's other ports read it), for re-analysis."""
    raw = histogram.encode()
    return raw.decode() if isinstance(raw, bytes) else raw


def decode(text: str) -> HdrHistogram:
    return HdrHistogram.decode(text.encode())


@dataclass(frozen=True)
class Interval:
    estimate: float
    low: float
    high: float
    samples: int  # rounds behind it
    runs: int | None = None  # independent runs the interval rests on (None: rounds of one run)

    def as_dict(self) -> dict:
        out = {"estimate": self.estimate, "low": self.low, "high": self.high, "rounds": self.samples}
        return out if self.runs is None else {**out, "runs": self.runs}


def run_means(values, runs) -> np.ndarray:
    """The mean of each run's rounds, in run order (`runs`: the run of each value)."""
    values, runs = np.asarray(values, float), np.asarray(runs)
    return np.array([values[runs == r].mean() for r in sorted(set(runs.tolist()))])


def pooled_sd(groups: list[list[float]]) -> float:
    """Standard deviation within groups, pooled: each value around its own group's mean,
    N - groups degrees of freedom (groups of one value add nothing)."""
    kept = [np.asarray(g, float) for g in groups if len(g) >= 2]
    squares = sum(float(((g - g.mean()) ** 2).sum()) for g in kept)
    return math.sqrt(squares / (sum(len(g) for g in kept) - len(kept)))


def t_interval(values: np.ndarray) -> tuple[float, float, float]:
    """Mean and 95% t interval of independent values (n >= 2)."""
    from scipy.stats import t

    n = len(values)
    mean = float(values.mean())
    half = float(t.ppf(1 - (1 - CONFIDENCE) / 2, n - 1)) * float(values.std(ddof=1)) / np.sqrt(n)
    return mean, mean - half, mean + half


def ratio_over_runs(numerator, denominator, runs) -> Interval:
    """Ratio of a variant's to baseline's latency (per-round medians of both, paired
    rounds), judged over runs: each run's ratio of means, a t interval on their logs.
    With one run it falls back to the bootstrap over its rounds (bootstrap_ratio)."""
    runs = list(runs) if runs is not None and len(runs) == len(numerator) else [0] * len(numerator)
    count = len(set(runs))
    if count < 2:
        return bootstrap_ratio(numerator, denominator)
    logs = np.log(run_means(numerator, runs) / run_means(denominator, runs))
    mean, low, high = t_interval(logs)
    return Interval(float(np.exp(mean)), float(np.exp(low)), float(np.exp(high)), len(numerator), count)


def mean_over_runs(values, runs) -> Interval:
    """Mean latency judged over runs (t interval of run means); one run: bootstrap_mean."""
    runs = list(runs) if runs is not None and len(runs) == len(values) else [0] * len(values)
    count = len(set(runs))
    if count < 2:
        return bootstrap_mean(values)
    mean, low, high = t_interval(run_means(values, runs))
    return Interval(float(np.asarray(values, float).mean()), low, high, len(values), count)


@dataclass(frozen=True)
class CrossedInterval:
    """The mean of builds x rounds, its interval over rounds, and whether the builds differ."""
    estimate: float
    low: float
    high: float
    rounds: int
    builds_p: float  # F test of "the builds have one mean" against the round-to-round noise


def builds_by_rounds(values: np.ndarray) -> CrossedInterval:
    """`values`: builds x rounds, round r of every build on the same query batch (two-way
    crossed layout). The interval is a t over the build-averaged rounds: it covers the query
    batches and timing noise, the latter averaged over builds. It assumes the builds share
    one mean; `builds_p` (F = MS_builds / MS_residual) says how well that holds, and a
    caller must not use the interval when it does not."""
    from scipy.stats import f

    y = np.asarray(values, float)
    b, r = y.shape
    grand, build_means, round_means = y.mean(), y.mean(axis=1), y.mean(axis=0)
    _, low, high = t_interval(round_means)
    residual = y - build_means[:, None] - round_means[None, :] + grand
    ms_builds = r * float(((build_means - grand) ** 2).sum()) / (b - 1)
    ms_error = float((residual ** 2).sum()) / ((b - 1) * (r - 1))
    p = float(f.sf(ms_builds / ms_error, b - 1, (b - 1) * (r - 1))) if ms_error > 0 else float(ms_builds == 0)
    return CrossedInterval(float(grand), low, high, r, p)


def bootstrap_ratio(numerator: np.ndarray, denominator: np.ndarray, *, seed: int = 0) -> Interval:
    """CI of mean(numerator)/mean(denominator) over paired rounds (e.g. per-round medians
    of a variant and of baseline), by the percentile bootstrap."""
    num, den = np.asarray(numerator, float), np.asarray(denominator, float)
    n = len(num)
    estimate = num.mean() / den.mean()
    if n < 2:
        return Interval(estimate, float("-inf"), float("inf"), n)
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, n, (BOOTSTRAP_RESAMPLES, n))
    ratios = num[picks].mean(axis=1) / den[picks].mean(axis=1)
    alpha = (1 - CONFIDENCE) / 2
    return Interval(estimate, float(np.quantile(ratios, alpha)), float(np.quantile(ratios, 1 - alpha)), n)


def bootstrap_mean(values: np.ndarray, *, seed: int = 0) -> Interval:
    values = np.asarray(values, float)
    n = len(values)
    if n < 2:
        return Interval(float(values.mean()) if n else float("nan"), float("-inf"), float("inf"), n)
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, n, (BOOTSTRAP_RESAMPLES, n))].mean(axis=1)
    alpha = (1 - CONFIDENCE) / 2
    return Interval(float(values.mean()), float(np.quantile(means, alpha)), float(np.quantile(means, 1 - alpha)), n)


def hierarchical_means(series: np.ndarray, *, resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0):
    """Two-level resampling of `series` (scenarios x rounds x paired series): draw the
    scenarios with replacement, then rounds with replacement within each drawn scenario,
    the same rounds for its paired series (variant and baseline ran in the same round).
    Returns the drawn scenarios (resamples x S) and their round means (resamples x S x k)."""
    s, r, k = series.shape
    rng = np.random.default_rng(seed)
    scenarios = rng.integers(0, s, (resamples, s))
    total = np.zeros((resamples, s, k))
    for _ in range(r):  # one drawn round per pass: twice as fast as one gather and a mean over a short axis
        total += series[scenarios, rng.integers(0, r, (resamples, s))]
    return scenarios, total / r


def _t_bounds(estimate: float, boot: np.ndarray, scenarios: int) -> tuple[float, float]:
    """estimate -/+ t(S-1) x the bootstrap's standard error, widened by sqrt(S/(S-1)):
    a percentile interval over 5-12 scenarios covers well under 95% (a resample of S
    values has (S-1)/S of their variance, and the normal quantile ignores that the spread
    itself is estimated from S values)."""
    from scipy.stats import t

    se = float(boot.std(ddof=1)) * np.sqrt(scenarios / (scenarios - 1))
    half = float(t.ppf(1 - (1 - CONFIDENCE) / 2, scenarios - 1)) * se
    return estimate - half, estimate + half


def _paired(numerators: list, denominators: list) -> np.ndarray:
    """scenarios x rounds x 2, cut to the fewest rounds any series has."""
    n = min(len(x) for x in list(numerators) + list(denominators))
    return np.array([[np.asarray(a, float)[:n], np.asarray(b, float)[:n]]
                     for a, b in zip(numerators, denominators)]).transpose(0, 2, 1)


def hierarchical_geomean_ratio(numerators: list, denominators: list, *, seed: int = 0,
                               resamples: int = BOOTSTRAP_RESAMPLES, rounds: int | None = None,
                               runs: int | None = None) -> Interval:
    """The geometric mean over scenarios of mean(numerator) / mean(denominator) (e.g. per
    round medians of a variant and of baseline), with an interval covering the spread
    between scenarios (the catalog as a sample of the app's queries) and the noise between
    rounds: t interval on the log scale from a hierarchical bootstrap's standard error.
    Given per-run values instead of per-round ones, the inner level is the run; `rounds`
    and `runs` then say what the interval rests on."""
    series = _paired(numerators, denominators)
    s, n = series.shape[0], series.shape[1]
    logs = np.log(series[:, :, 0].mean(axis=1) / series[:, :, 1].mean(axis=1))
    estimate = float(logs.mean())
    if s < 2 or n < 2:
        return Interval(float(np.exp(estimate)), float("-inf"), float("inf"), rounds or n, runs)
    _, means = hierarchical_means(series, resamples=resamples, seed=seed)
    low, high = _t_bounds(estimate, np.log(means[..., 0] / means[..., 1]).mean(axis=1), s)
    return Interval(float(np.exp(estimate)), float(np.exp(low)), float(np.exp(high)), rounds or n, runs)


def hierarchical_weighted_mean(values: list, weights, *, seed: int = 0,
                               resamples: int = BOOTSTRAP_RESAMPLES, rounds: int | None = None,
                               runs: int | None = None) -> Interval:
    """The weighted mean over scenarios of each scenario's mean over rounds (e.g. per-round
    mean latency), with the same two-level interval as hierarchical_geomean_ratio on the
    linear scale; a drawn scenario brings its weight."""
    n = min(len(x) for x in values)
    series = np.array([np.asarray(x, float)[:n] for x in values])[:, :, None]
    w = np.asarray(weights, float)
    estimate = float(w @ series[:, :, 0].mean(axis=1) / w.sum())
    s = len(w)
    if s < 2 or n < 2:
        return Interval(estimate, float("-inf"), float("inf"), rounds or n, runs)
    picked, means = hierarchical_means(series, resamples=resamples, seed=seed)
    boot = (w[picked] * means[..., 0]).sum(axis=1) / w[picked].sum(axis=1)
    low, high = _t_bounds(estimate, boot, s)
    if series.min() > 0:  # a mean of positive times is positive: the symmetric t bound can run below 0
        low = max(low, 0.0)
    return Interval(estimate, low, high, rounds or n, runs)


# ---- many figures, few replicates: moderated t (bench compare) --------------------------------------
@dataclass(frozen=True)
class VariancePrior:
    """What the spreads of many figures say about the spread of any one of them: a scaled
    inverse chi-square prior with `df` degrees of freedom around `variance` (Smyth 2004,
    limma's fitFDist). df = 0: no prior (fewer than 3 spreads to learn from)."""
    df: float
    variance: float

    def posterior(self, variance: float, df: float) -> tuple[float, float]:
        """A figure's own variance on `df` shrunk toward the prior: (variance, df)."""
        if self.df <= 0:
            return variance, df
        if math.isinf(self.df):
            return self.variance, math.inf
        return (self.df * self.variance + df * variance) / (self.df + df), self.df + df


MAX_PRIOR_DF = 1e6  # beyond it the spreads look alike: the prior is the pooled variance


def variance_prior(variances, dfs) -> VariancePrior:
    """Fit the prior by moments of the log variances, as limma does: with 3 runs a side a
    figure's own variance rests on 4 degrees of freedom, too few to test 160 figures;
    borrowing the others' gives each test many more while a noisy figure keeps its own."""
    from scipy.special import digamma, polygamma

    v, d = np.asarray(variances, float), np.asarray(dfs, float)
    keep = (v > 0) & np.isfinite(v) & (d > 0)
    v, d = v[keep], d[keep]
    if len(v) < 3:
        return VariancePrior(0.0, 0.0)
    e = np.log(v) - digamma(d / 2) + np.log(d / 2)
    excess = float(e.var(ddof=1) - np.mean(polygamma(1, d / 2)))
    if excess <= 0:
        return VariancePrior(math.inf, float(np.exp(e.mean())))
    df = min(2 * _trigamma_inverse(excess), MAX_PRIOR_DF)
    return VariancePrior(df, float(np.exp(e.mean() + digamma(df / 2) - np.log(df / 2))))


def _trigamma_inverse(x: float) -> float:
    """y with trigamma(y) = x (limma's Newton iteration on 1/y, monotone convergence)."""
    from scipy.special import polygamma

    if x > 1e7:
        return 1 / math.sqrt(x)
    if x < 1e-6:
        return 1 / x
    y = 0.5 + 1 / x
    for _ in range(50):
        tri = float(polygamma(1, y))
        step = tri * (1 - tri / x) / float(polygamma(2, y))
        y += step
        if -step / y < 1e-8:
            break
    return y
