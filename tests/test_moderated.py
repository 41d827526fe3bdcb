"""bench compare's moderated test (bench/report/compare.py `moderated`, bench/judge/stats.py
`variance_prior`): the prior fit recovers known parameters, false flags stay at the
promised rate with no change anywhere, a uniform 30% slowdown is seen at the noise of real
runs, and a cell noisier than the others is never judged by the others' spread."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bench.judge.stats import VariancePrior, variance_prior
from bench.report.compare import ALPHA, benjamini_hochberg, holm, moderated, welch

RUNS = 3  # per side, as `make bench` records them
FIGURES = 160  # 40 cells x 4 figures, as a `make bench` comparison has
RUN_SD = 0.10  # sd of the log of a run's mean, measured on two quiet make bench runs (median 0.104, 0.107)


def test_the_prior_fit_recovers_known_parameters():
    rng = np.random.default_rng(1)
    d0, s0 = 8.0, 0.01
    true = d0 * s0 / rng.chisquare(d0, 4000)  # each figure's true variance, from the prior
    observed = true * rng.chisquare(4, 4000) / 4  # what 3 + 3 runs estimate of it (4 df)
    prior = variance_prior(observed, np.full(4000, 4.0))
    assert prior.df == pytest.approx(d0, rel=0.3)
    assert prior.variance == pytest.approx(s0, rel=0.1)


def test_equal_spreads_give_an_infinite_prior_and_too_few_give_none():
    assert math.isinf(variance_prior([0.01] * 10, [4] * 10).df)
    assert variance_prior([0.01, 0.02], [4, 4]) == VariancePrior(0.0, 0.0)
    assert VariancePrior(0.0, 0.0).posterior(0.5, 4) == (0.5, 4)


def _comparison(rng, shift: float, noisy: float = 1.0) -> list[tuple[np.ndarray, np.ndarray]]:
    """FIGURES (old, new) pairs of run means whose true spreads vary (a prior of 8 df around
    RUN_SD), the new side `shift` slower; figure 0 `noisy` times noisier than the rest."""
    sd = RUN_SD * np.sqrt(8 / rng.chisquare(8, FIGURES))
    sd[0] *= noisy
    old = np.exp(rng.standard_normal((FIGURES, RUNS)) * sd[:, None])
    new = np.exp(rng.standard_normal((FIGURES, RUNS)) * sd[:, None]) * (1 + shift)
    return list(zip(old, new))


def test_no_change_anywhere_flags_nothing_in_at_least_95_percent_of_comparisons():
    rng = np.random.default_rng(2)
    comparisons = 400
    any_flag = sum(bool(benjamini_hochberg([t.p for t in moderated(_comparison(rng, 0.0))], ALPHA).any())
                   for _ in range(comparisons))
    assert any_flag / comparisons <= ALPHA + 2 * math.sqrt(ALPHA * (1 - ALPHA) / comparisons)  # 5% + 2 se


def test_a_uniform_30_percent_slowdown_is_seen_at_the_noise_of_real_runs():
    """At this noise a single figure's 30% change is about 3 standard errors: half of them
    flagged (the rest are undecidable, never 'unchanged'), where Welch on 3 + 3 runs with
    Holm over 160 figures flagged about none (the 2026-12-02 runs: 0-6 of 160)."""
    rng = np.random.default_rng(3)
    moderated_share, welch_share = [], []
    for _ in range(20):
        pairs = _comparison(rng, 0.3)
        moderated_share.append(benjamini_hochberg([t.p for t in moderated(pairs)], ALPHA).mean())
        welch_share.append(holm([welch(list(a), list(b)).p for a, b in pairs], ALPHA).mean())
    assert np.mean(moderated_share) >= 0.45
    assert np.mean(welch_share) <= 0.05


def test_a_cell_noisier_than_the_others_keeps_its_own_spread():
    rng = np.random.default_rng(4)
    pairs = _comparison(rng, 0.0, noisy=10.0)
    noisy = moderated(pairs)[0]
    old, new = np.log(pairs[0][0]), np.log(pairs[0][1])
    own = ((RUNS - 1) * old.var(ddof=1) + (RUNS - 1) * new.var(ddof=1)) / (2 * RUNS - 2)
    assert noisy.df == 2 * RUNS - 2
    assert noisy.se == pytest.approx(math.sqrt(own * 2 / RUNS))
    quiet = moderated(pairs)[1:]
    borrowing = [t for t in quiet if t.df > 2 * RUNS - 2]  # quieter than the prior: more df, a larger spread
    assert len(borrowing) >= 0.4 * len(quiet)
    assert all(t.se >= math.sqrt(np.mean(np.var(np.log(pairs[i + 1]), axis=1, ddof=1)) * 2 / RUNS) * 0.999
               for i, t in enumerate(quiet) if t.df > 2 * RUNS - 2)


def test_benjamini_hochberg_steps_up():
    assert benjamini_hochberg([0.01, 0.02, 0.04]).tolist() == [True, True, True]  # 0.04 <= 3/3 * 0.05
    assert benjamini_hochberg([0.01, 0.04, 0.03, 0.005]).tolist() == [True, True, True, True]  # 0.04 <= 4/4 * 0.05
    assert benjamini_hochberg([0.001, 0.3, 0.04]).tolist() == [True, False, False]  # 0.04 > 2/3 * 0.05
    assert benjamini_hochberg([0.2, 0.5]).tolist() == [False, False]
