"""The numpy readouts of an HDR histogram give exactly hdrh's own values."""

import numpy as np
import pytest

from bench.judge import stats

PERCENTILES = [0, 1, 25, 50, 90, 95, 99, 99.9, 100]


def histogram_of(values) -> object:
    histogram = stats.new_histogram()
    for value in values:
        stats.record(histogram, value)
    return histogram


@pytest.mark.parametrize("size", [1, 2, 7, 100, 5_000])
@pytest.mark.parametrize("seed", range(5))
def test_percentiles_mean_and_stddev_equal_hdrh(size, seed):
    rng = np.random.default_rng([size, seed])
    histogram = histogram_of(rng.lognormal(8, 2, size))  # 1 us .. minutes: many buckets
    assert stats.percentiles(histogram, PERCENTILES) == {p: histogram.get_value_at_percentile(p) for p in PERCENTILES}
    mean, stddev = stats.mean_stddev(histogram)
    assert mean == pytest.approx(histogram.get_mean_value(), rel=1e-12)
    assert stddev == pytest.approx(histogram.get_stddev(), rel=1e-9, abs=1e-9)


def test_an_empty_histogram_reads_zero_as_hdrh_does():
    histogram = stats.new_histogram()
    assert stats.percentiles(histogram, [50, 99]) == {50: histogram.get_value_at_percentile(50), 99: 0}
    assert stats.mean_stddev(histogram) == (0.0, 0.0)
    assert stats.summary(histogram, 1.0) == {"count": 0}


def test_summary_reads_one_histogram_in_milliseconds():
    histogram = histogram_of([1_000] * 50 + [2_000] * 45 + [10_000] * 5)
    out = stats.summary(histogram, 2.0)
    # a bucket reads as its highest value: 3 significant digits
    assert (out["p50_ms"], out["p95_ms"], out["p99_ms"]) == pytest.approx((1.0, 2.0, 10.0), rel=1e-3)
    assert out["count"] == 100 and out["throughput_rps"] == 50.0
    assert out["mean_ms"] == pytest.approx(1.0 * 0.5 + 2.0 * 0.45 + 10.0 * 0.05, rel=1e-3)
