"""The USL fit (bench/throughput/usl.py) on synthetic sweeps with a known λ, σ, κ: it
recovers them, and its bootstrap intervals over windows cover the truth at about their
stated rate and are about as wide as the estimates actually scatter."""

from __future__ import annotations

import numpy as np
import pytest

from bench.throughput import usl

LEVELS = (1, 2, 4, 8, 16, 32, 64)
TRUTH = {"lambda": 250.0, "sigma": 0.04, "kappa": 0.0004}  # N* = sqrt(0.96 / 0.0004) = 49
WINDOWS = 3
NOISE = 0.04  # lognormal spread of a window's throughput (what 5 s windows on a quiet box show)


def sweep(rng: np.random.Generator, noise: float = NOISE) -> tuple[np.ndarray, np.ndarray]:
    n = np.repeat(np.array(LEVELS, float), WINDOWS)
    x = usl.throughput(n, TRUTH["lambda"], TRUTH["sigma"], TRUTH["kappa"]) * rng.lognormal(0, noise, len(n))
    return n, x


def test_the_law_and_its_peak():
    assert usl.throughput(1, 100, 0.3, 0.01) == pytest.approx(100)
    assert usl.throughput(10, 100, 0.0, 0.0) == pytest.approx(1000)  # linear: no contention, no crosstalk
    assert usl.peak(0.04, 0.0004) == pytest.approx(48.99, rel=1e-3)
    assert usl.peak(0.2, 0.0) is None  # no coherency term: throughput levels off, never peaks


def test_noiseless_data_gives_the_parameters_back():
    n = np.array(LEVELS, float)
    fit = usl.fit(n, usl.throughput(n, TRUTH["lambda"], TRUTH["sigma"], TRUTH["kappa"]))
    assert fit.lam == pytest.approx(TRUTH["lambda"], rel=1e-4)
    assert fit.sigma == pytest.approx(TRUTH["sigma"], rel=1e-3)
    assert fit.kappa == pytest.approx(TRUTH["kappa"], rel=1e-3)
    assert fit.r2 == pytest.approx(1.0)


def test_linear_scaling_fits_zero_contention_and_coherency():
    n = np.repeat(np.array(LEVELS, float), WINDOWS)
    x = 100 * n * np.random.default_rng(3).lognormal(0, 0.02, len(n))
    boot, _ = usl.bootstrap(n, x, resamples=200)
    params = boot.intervals()
    assert params["sigma"]["high"] < 0.01 and params["kappa"]["high"] < 1e-4
    assert params["n_star"]["estimate"] is None or params["n_star"]["estimate"] > 100


def test_too_few_levels_is_refused():
    with pytest.raises(ValueError, match="3 or more"):
        usl.fit([1, 1, 2, 2], [10, 11, 19, 20])


def test_intervals_cover_the_truth_at_about_the_stated_rate():
    """40 simulated sweeps (a fixed seed), 100 resamples each: the nominal 95% intervals
    must cover the truth in at least 85% of them (over 150-200 sweeps they cover 82-94%:
    see bench/throughput/usl.py), and be about as wide as the estimates really scatter
    from sweep to sweep (not covering by being huge, nor narrow by a missing refit)."""
    rng = np.random.default_rng(20261202)
    names = ("lambda", "sigma", "kappa")
    covered = dict.fromkeys(names, 0)
    estimates = {k: [] for k in names}
    widths = {k: [] for k in names}
    sweeps = 40
    for i in range(sweeps):
        n, x = sweep(rng)
        boot, _ = usl.bootstrap(n, x, resamples=100, seed=i)
        params = boot.intervals()
        for k in names:
            p = params[k]
            covered[k] += p["low"] <= TRUTH[k] <= p["high"]
            estimates[k].append(p["estimate"])
            widths[k].append(p["high"] - p["low"])
    for k in names:
        assert np.median(estimates[k]) == pytest.approx(TRUTH[k], rel=0.15), k  # it recovers them
        assert covered[k] / sweeps >= 0.85, (k, covered[k])
        spread = 2 * 1.96 * np.std(estimates[k], ddof=1)  # what a 95% interval should span
        assert 0.6 < np.median(widths[k]) / spread < 1.6, (k, np.median(widths[k]), spread)


def test_derived_figures_use_the_same_windows():
    n, x = sweep(np.random.default_rng(5))
    values = np.column_stack([x, np.arange(len(x), dtype=float)])  # a second figure per window
    seen = []
    boot, derived = usl.bootstrap(n, values, resamples=50, extra=lambda rn, drawn, fit: seen.append(drawn.shape) or
                                  fit.lam)
    assert len(derived) == len(boot.replicates) == 50
    assert all(shape == (len(x), 2) for shape in seen)
