"""Latency statistics: HDR histograms (every request, microseconds) and bootstrap
confidence intervals over rounds (numpy). A round is the unit of replication: the
requests inside one round share cache state and machine noise, so resampling single
requests would make intervals look tighter than the evidence allows.
"""

from __future__ import annotations

import base64
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
    out = {f"p{str(p).replace('.', '_')}_ms": histogram.get_value_at_percentile(p) / 1000 for p in PERCENTILES}
    out.update(max_ms=histogram.get_max_value() / 1000, mean_ms=histogram.get_mean_value() / 1000,
               stddev_ms=histogram.get_stddev() / 1000, count=count,
               throughput_rps=count / seconds if seconds else None)
    return out


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

    def as_dict(self) -> dict:
        return {"estimate": self.estimate, "low": self.low, "high": self.high, "rounds": self.samples}


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


def bootstrap_geomean_ratio(numerators: list[np.ndarray], denominators: list[np.ndarray], *, seed: int = 0) -> Interval:
    """Overall ratio across scenarios: the geometric mean of per-scenario ratios, with the
    same rounds resampled for every scenario (rounds are shared across scenarios)."""
    n = min(len(x) for x in numerators + denominators)
    nums = np.array([np.asarray(x, float)[:n] for x in numerators])
    dens = np.array([np.asarray(x, float)[:n] for x in denominators])
    estimate = float(np.exp(np.mean(np.log(nums.mean(axis=1) / dens.mean(axis=1)))))
    if n < 2:
        return Interval(estimate, float("-inf"), float("inf"), n)
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, n, (BOOTSTRAP_RESAMPLES, n))
    ratios = nums[:, picks].mean(axis=2) / dens[:, picks].mean(axis=2)  # (scenarios, resamples)
    geo = np.exp(np.log(ratios).mean(axis=0))
    alpha = (1 - CONFIDENCE) / 2
    return Interval(estimate, float(np.quantile(geo, alpha)), float(np.quantile(geo, 1 - alpha)), n)
