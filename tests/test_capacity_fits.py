"""Growth fits and the held-out validation on synthetic data of known growth (pure: no
server). Each test can fail: a wrong model choice, an interval that misses the truth more
often than it says, a silent fit of a series that cannot be fitted."""

from __future__ import annotations

import numpy as np
import pytest

from bench.capacity import analysis, fits, sizes

SIZES = np.array([3e3, 1e4, 3e4, 1e5, 3e5, 1e6])
TARGET = 1e7
TRIALS = 100


def _trials(truth, noise: float):
    """(models chosen, share of 95% intervals at TARGET covering the true value)."""
    chosen, covered = [], 0
    for trial in range(TRIALS):
        rng = np.random.default_rng(trial)
        y = truth(SIZES) * np.exp(rng.normal(0, noise, len(SIZES)))
        result = fits.fit(SIZES, y)
        _estimate, low, high = fits.prediction_interval(result, SIZES, y, [TARGET])[0]
        chosen.append(result.model)
        covered += low <= truth(TARGET) <= high
    return chosen, covered / TRIALS


def test_n_log_n_growth_is_recognised_and_its_projection_covers_the_truth():
    chosen, coverage = _trials(lambda n: 2e-6 * n * np.log(n), noise=0.05)
    assert chosen.count("n log n") >= 0.9 * TRIALS, chosen
    assert coverage >= 0.90  # stated: 95%; measured 0.995 over 200 trials


def test_logarithmic_growth_is_not_mistaken_for_a_power():
    chosen, coverage = _trials(lambda n: 0.2 * np.log(n), noise=0.05)
    assert chosen.count("log n") >= 0.9 * TRIALS, chosen
    assert coverage >= 0.90


def test_a_constant_cost_mostly_stays_constant():
    chosen, _coverage = _trials(lambda n: 3.0 + 0 * n, noise=0.05)
    assert chosen.count("constant") >= 0.7 * TRIALS, chosen  # measured 0.82 over 200 trials


def test_an_exact_linear_series_is_fitted_exactly():
    y = 1000 + 250.0 * SIZES  # bytes: a header page and a fixed width per row
    result = fits.fit(SIZES, y)
    assert result.model == "n"
    np.testing.assert_allclose(result.predict([TARGET]), [1000 + 250 * TARGET], rtol=1e-9)


@pytest.mark.parametrize("n, y, why", [
    ([3e3, 1e4], [1.0, 2.0], "at least 3"),
    ([3e3, 1e4, 3e4], [1.0, 0.0, 2.0], "no positive"),
    ([3e3, 3e3, 3e3], [1.0, 1.1, 1.2], "at least 3"),
])
def test_a_series_that_cannot_be_fitted_says_why(n, y, why):
    with pytest.raises(fits.FitError, match=why):
        fits.fit(n, y)


def _section(values_by_size: dict[str, float], failed_at: str | None = None) -> dict:
    """A capacity section as the sweep saves it, with one latency series and one table."""
    records = []
    for label, value in values_by_size.items():
        size = sizes.size_of(label)
        latency = {"scenario": "s", "variant": "baseline", "applicable": True, "errors": 0, "median_ms": value}
        if label == failed_at:
            latency.update(errors=5)
        records.append({"label": label, "counts": size.counts, "status": "complete", "latency": [latency],
                        "storage": [{"variant": "baseline", "relation": "documents", "rows": size.documents,
                                     "total_bytes": 8192 + 3000 * size.documents}],
                        "indexes": [], "seed": {"post_data_seconds": {}}})
    return {"config": {"seed": 1}, "sizes": records}


def test_the_largest_size_is_held_out_and_predicted_from_the_others():
    truth = {label: 0.5 + 0.01 * np.log(sizes.size_of(label).documents)
             for label in ("tiny", "10K", "30K", "small", "300K")}
    result = analysis.analyse(_section(truth))
    latency = next(s for s in result["series"] if s["kind"] == "latency")
    assert latency["validation"]["held_out"] == "300K"
    assert latency["validation"]["fitted_on"] == ["tiny", "10K", "30K", "small"]
    assert abs(latency["validation"]["error"]) < 0.01  # noise-free: the fit must find it
    kinds = result["validation"]["kinds"]
    assert kinds["latency"]["meets_goal"] and kinds["bytes"]["median_abs_error"] < 0.001
    projection = latency["projection"]
    assert projection["x"] == 10_000_000 and projection["fitted_on"][-1] == "300K"
    assert projection["low"] <= projection["estimate"] <= projection["high"]


def test_a_size_with_failed_requests_is_not_fitted_silently():
    values = {label: 2.0 for label in ("tiny", "10K", "30K", "small")}
    result = analysis.analyse(_section(values, failed_at="30K"))
    latency = next(s for s in result["series"] if s["kind"] == "latency")
    assert latency["fit"] is None and "projection" not in latency
    assert "30K: 5 requests failed" in latency["why_not"]


def test_too_few_sizes_give_no_fits_and_say_so():
    result = analysis.analyse(_section({"tiny": 1.0, "10K": 1.1}))
    assert result["series"] == [] and "at least 3" in result["why_not"]
