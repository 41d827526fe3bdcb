"""The Universal Scalability Law, fitted to a closed-loop concurrency sweep (pure functions:
numbers in, numbers out; no server, no I/O).

    X(N) = λN / (1 + σ(N − 1) + κN(N − 1))

λ: throughput of one connection (requests/s); σ: contention (the share of a request that
serialises: queueing for a lock, a hot row, the server's CPUs); κ: coherency (crosstalk
between every pair of connections: the cost per request grows with N, and throughput
falls past N* = sqrt((1 − σ) / κ)).

The fit is scipy's `curve_fit` on every measured window (not on the means), bounded to
σ, κ ≥ 0, weighted by the relative error (noise on throughput grows with throughput). Its
intervals come from a bootstrap over the repeated windows of each N: within each N the
windows are drawn with replacement, their deviations from that N's mean scaled by
sqrt(n / (n − 1)) (a resample of n values has (n − 1)/n of their variance), and the law
refitted; the 2.5% and 97.5% quantiles of the refits are the interval. The interval covers
the noise between windows of one sweep on one machine (what repeats inside the run), not
the machine-to-machine spread. Measured on simulated sweeps (7 levels x 3 windows, 4%
noise): the nominal 95% intervals covered the truth in 82-94% of sweeps (λ 89-94%, σ 86-92%,
κ 82-90% over 150-200 sweeps), a little narrow, as percentile intervals of a nonlinear fit
on 21 points are; a residual bootstrap did no better (87-89%). Read them as ~90% intervals.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

CONFIDENCE = 0.95
RESAMPLES = 1000
MAX_EVALUATIONS = 300  # a fit that has not converged by then raises RuntimeError (the replicate is dropped)


def throughput(n, lam: float, sigma: float, kappa: float):
    """X(N) under the law (N may be an array)."""
    n = np.asarray(n, float)
    return lam * n / (1 + sigma * (n - 1) + kappa * n * (n - 1))


def _jacobian(n, lam: float, sigma: float, kappa: float):
    """dX/d(λ, σ, κ): analytic, so each fit (and each bootstrap refit) is a few ms."""
    n = np.asarray(n, float)
    d = 1 + sigma * (n - 1) + kappa * n * (n - 1)
    return np.column_stack([n / d, -lam * n * (n - 1) / d ** 2, -lam * n * n * (n - 1) / d ** 2])


def peak(sigma: float, kappa: float) -> float | None:
    """N* = sqrt((1 − σ) / κ), where throughput peaks; None when κ = 0 (no peak: it only
    levels off, at λ / σ) or σ ≥ 1 (throughput never grows)."""
    if kappa <= 0 or sigma >= 1:
        return None
    return math.sqrt((1 - sigma) / kappa)


@dataclass(frozen=True)
class Fit:
    lam: float
    sigma: float
    kappa: float
    r2: float  # of the window throughputs against the curve
    rmse_rel: float  # root mean square of the relative residuals (0.05 = the curve is 5% off, typically)

    @property
    def n_star(self) -> float | None:
        return peak(self.sigma, self.kappa)


def _start(n: np.ndarray, x: np.ndarray) -> tuple[float, float, float]:
    """Starting values from the quadratic form N/X = (1 + σ(N−1) + κN(N−1)) / λ, a linear
    least-squares problem in (1/λ, σ/λ, κ/λ); negative parts clipped to 0."""
    design = np.column_stack([np.ones_like(n), n - 1, n * (n - 1)])
    (a, b, c), *_ = np.linalg.lstsq(design, n / x, rcond=None)
    lam = 1 / a if a > 0 else float(x[n == n.min()].mean())
    return lam, max(b * lam, 0.0), max(c * lam, 0.0)


def fit(n, x) -> Fit:
    """The law fitted to window throughputs `x` measured at concurrencies `n` (one value
    per window); needs at least 3 distinct N. Raises ValueError when it cannot fit."""
    from scipy.optimize import curve_fit

    n, x = np.asarray(n, float), np.asarray(x, float)
    keep = np.isfinite(x) & (x > 0)
    n, x = n[keep], x[keep]
    if len(set(n.tolist())) < 3:
        raise ValueError("the USL needs throughput at 3 or more concurrencies")
    lam0, sigma0, kappa0 = _start(n, x)
    p0 = (lam0, min(max(sigma0, 1e-6), 10.0), min(max(kappa0, 1e-9), 1.0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # OptimizeWarning on a flat covariance: the bootstrap gives intervals
        (lam, sigma, kappa), _ = curve_fit(throughput, n, x, p0=p0, sigma=x, bounds=([0, 0, 0], [np.inf, 10, 1]),
                                           jac=_jacobian, method="trf", max_nfev=MAX_EVALUATIONS)
    sigma, kappa = _at_bound(sigma), _at_bound(kappa)
    predicted = throughput(n, lam, sigma, kappa)
    residual = x - predicted
    total = float(((x - x.mean()) ** 2).sum())
    r2 = 1 - float((residual ** 2).sum()) / total if total > 0 else float("nan")
    rmse_rel = float(np.sqrt(np.mean((residual / predicted) ** 2)))
    return Fit(float(lam), float(sigma), float(kappa), r2, rmse_rel)


def _at_bound(value: float) -> float:
    """A parameter the solver left a hair above its bound of 0 (1e-21) is 0."""
    return 0.0 if value < 1e-12 else value


@dataclass(frozen=True)
class Bootstrap:
    fit: Fit
    replicates: np.ndarray  # resamples x 3 (λ, σ, κ); a replicate that failed to fit is dropped
    windows: int  # the fewest windows any N has
    failed: int = 0  # replicates that did not fit

    def interval(self, index: int) -> tuple[float, float]:
        alpha = (1 - CONFIDENCE) / 2
        values = self.replicates[:, index]
        return float(np.quantile(values, alpha)), float(np.quantile(values, 1 - alpha))

    def intervals(self) -> dict[str, dict]:
        """λ, σ, κ (and N* where κ > 0) with their 95% intervals."""
        out = {}
        for index, (name, value) in enumerate((("lambda", self.fit.lam), ("sigma", self.fit.sigma),
                                               ("kappa", self.fit.kappa))):
            low, high = self.interval(index)
            out[name] = {"estimate": value, "low": low, "high": high}
        stars = np.array([peak(s, k) or np.inf for _, s, k in self.replicates])
        alpha = (1 - CONFIDENCE) / 2
        quantile = lambda q: _finite(np.quantile(stars, q, method="inverted_cdf"))  # ∞: no peak
        out["n_star"] = {"estimate": self.fit.n_star, "low": quantile(alpha), "high": quantile(1 - alpha)}
        return out


def _finite(value) -> float | None:
    return float(value) if math.isfinite(value) else None


def resample(windows: dict[float, np.ndarray], rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One bootstrap draw: per N, its windows (rows: throughput first, then any other
    per-window figure) drawn with replacement, deviations from the N's mean scaled by
    sqrt(n / (n − 1)); (n, rows) of the drawn windows."""
    ns, rows = [], []
    for level, values in windows.items():
        count = len(values)
        mean = values.mean(axis=0)
        scale = math.sqrt(count / (count - 1)) if count > 1 else 1.0
        rows.append(mean + scale * (values[rng.integers(0, count, count)] - mean))
        ns.append(np.full(count, level))
    return np.concatenate(ns), np.concatenate(rows)


def by_level(n, values) -> dict[float, np.ndarray]:
    """{N: its windows' rows}; `values` is one throughput per window, or windows x figures."""
    n, values = np.asarray(n, float), np.asarray(values, float)
    values = values.reshape(len(n), -1)
    return {level: values[n == level] for level in sorted(set(n.tolist()))}


def bootstrap(n, values, *, resamples: int = RESAMPLES, seed: int = 0, extra=None) -> tuple[Bootstrap, list]:
    """The fit and its bootstrap over windows (see the module's docstring). `values`: each
    window's throughput, or windows x figures with throughput first (the other figures,
    e.g. p95, are drawn with the same windows). `extra(n, rows, fit)` computes a derived
    figure on each replicate (e.g. users at the SLO), returned in replicate order."""
    windows = by_level(n, values)
    levels = np.concatenate([np.full(len(v), level) for level, v in windows.items()])
    main = fit(levels, np.concatenate([v[:, 0] for v in windows.values()]))
    rng = np.random.default_rng(seed)
    rows, derived, failed = [], [], 0
    for _ in range(resamples):
        rn, drawn = resample(windows, rng)
        try:
            one = fit(rn, drawn[:, 0])
        except (ValueError, RuntimeError):
            failed += 1
            continue
        rows.append((one.lam, one.sigma, one.kappa))
        if extra:
            derived.append(extra(rn, drawn, one))
    fewest = min(len(v) for v in windows.values())
    return Bootstrap(main, np.array(rows, float).reshape(-1, 3), fewest, failed), derived
