"""Verdict logic on synthetic samples: a claim is judged by its interval, never by a
point estimate, and too little evidence is inconclusive."""

import numpy as np
import pytest

from bench.judge import stats, verdicts
from bench.judge.stats import Interval

TARGET = verdicts.targets()["query_speedup"]["low"]


def speedup_of(variant_ms, baseline_ms) -> Interval:
    return verdicts.improvement(stats.bootstrap_ratio(np.array(variant_ms), np.array(baseline_ms)))


def test_clear_win_is_confirmed():
    rng = np.random.default_rng(1)
    base = 10 + rng.normal(0, 0.2, 8)
    gain = speedup_of(base * 0.2 + rng.normal(0, 0.05, 8), base)  # ~80% faster
    assert gain.low > TARGET
    assert verdicts.at_least(gain, TARGET) == verdicts.CONFIRMED


def test_clear_loss_is_refuted():
    rng = np.random.default_rng(2)
    base = 10 + rng.normal(0, 0.2, 8)
    gain = speedup_of(base * 0.9, base)  # only ~10% faster
    assert verdicts.at_least(gain, TARGET) == verdicts.REFUTED


def test_straddling_interval_is_inconclusive():
    rng = np.random.default_rng(3)
    base = np.full(8, 10.0)
    noisy = 10 * (1 - TARGET) * rng.lognormal(0, 0.6, 8)  # centred on the target, wide
    gain = speedup_of(noisy, base)
    assert gain.low < TARGET < gain.high
    assert verdicts.at_least(gain, TARGET) == verdicts.INCONCLUSIVE


def test_too_few_rounds_is_inconclusive_even_for_a_huge_win():
    gain = speedup_of([1.0, 1.0], [10.0, 10.0])
    assert gain.estimate > 0.85
    assert verdicts.at_least(gain, TARGET) == verdicts.INCONCLUSIVE


def test_latency_ceiling():
    assert verdicts.at_most(Interval(50, 40, 60, 6), 100) == verdicts.CONFIRMED
    assert verdicts.at_most(Interval(150, 120, 180, 6), 100) == verdicts.REFUTED
    assert verdicts.at_most(Interval(95, 80, 110, 6), 100) == verdicts.INCONCLUSIVE


def test_storage_is_exact():
    assert verdicts.storage_verdict(0.25) == verdicts.CONFIRMED
    assert verdicts.storage_verdict(-0.15) == verdicts.REFUTED


def test_geometric_mean_over_scenarios():
    fast = [np.full(5, 2.0), np.full(5, 5.0)]
    base = [np.full(5, 10.0), np.full(5, 10.0)]
    interval = stats.hierarchical_geomean_ratio(fast, base)
    assert np.isclose(interval.estimate, np.sqrt(0.2 * 0.5))
    assert interval.low < 0.2 and interval.high > 0.5  # two scenarios this far apart: the aggregate is unsure
    assert stats.hierarchical_geomean_ratio(fast, base) == interval  # a fixed seed: the same run, the same interval


def test_the_two_readings_of_faster():
    ratio = Interval(0.2, 0.16, 0.25, 5)  # t_variant / t_baseline
    gain, speed = verdicts.improvement(ratio), verdicts.speed_ratio(ratio)
    assert (gain.estimate, gain.low, gain.high) == pytest.approx((0.8, 0.75, 0.84))  # time reduction
    assert (speed.estimate, speed.low, speed.high) == pytest.approx((5.0, 4.0, 6.25))  # t_baseline / t_variant
    assert verdicts.far_beyond_speed("query_speedup") == pytest.approx(50.0)  # 10 x the 5x of "80% faster"


def share(meets: int, unsure: int, misses: int) -> dict:
    return verdicts.scenario_share("query_speedup", [verdicts.CONFIRMED] * meets + [verdicts.INCONCLUSIVE] * unsure
                                   + [verdicts.REFUTED] * misses)


@pytest.mark.parametrize("aggregate, counts, regressions, expected", [
    (verdicts.CONFIRMED, (3, 1, 0), [], verdicts.CONFIRMED),
    (verdicts.CONFIRMED, (2, 1, 1), [], verdicts.INCONCLUSIVE),  # half meet: no majority yet
    (verdicts.CONFIRMED, (2, 0, 2), [], verdicts.REFUTED),  # at most half can meet it
    (verdicts.CONFIRMED, (3, 1, 0), ["w"], verdicts.REFUTED),  # a regression
    (verdicts.INCONCLUSIVE, (4, 0, 0), [], verdicts.INCONCLUSIVE),
    (verdicts.REFUTED, (4, 0, 0), [], verdicts.REFUTED),
])
def test_the_aggregate_rule(aggregate, counts, regressions, expected):
    assert verdicts.aggregate_verdict("query_speedup", aggregate, share(*counts), regressions) == expected


def test_a_regression_does_not_decide_a_ceiling():
    shares = verdicts.scenario_share("avg_latency", [verdicts.CONFIRMED] * 4)
    assert verdicts.aggregate_verdict("avg_latency", verdicts.CONFIRMED, shares, ["w"]) == verdicts.CONFIRMED


def test_hdr_summary_and_round_trip():
    h = stats.new_histogram()
    for us in (1000, 2000, 3000, 100_000):
        stats.record(h, us)
    s = stats.summary(h, seconds=2.0)
    assert s["count"] == 4 and s["throughput_rps"] == 2.0
    assert abs(s["p50_ms"] - 2.0) < 0.01 and abs(s["max_ms"] - 100.0) < 0.2
    assert stats.decode(stats.encode(h)).get_total_count() == 4


def test_the_terminal_verdict_table_gives_the_figures_the_reports_give(monkeypatch):
    from rich.console import Console

    from bench.cli.run import print_verdicts
    from bench.judge.text import figure_text
    from bench.session import Session

    storage = {"claim": "storage", "claim_text": "20-30% storage reduction", "variant": "hardened",
               "verdict": verdicts.REFUTED, "note": "",
               "figure": {"estimate": -0.152, "variant_bytes": 530 * 2**20, "baseline_bytes": 460 * 2**20}}
    latency = {"claim": "avg_latency", "claim_text": "<100 ms average query time", "variant": "review",
               "verdict": verdicts.CONFIRMED, "note": "", "figure": {"estimate": 21.51, "low": 21.17, "high": 21.84}}
    screen = Console(record=True, width=200)
    print_verdicts(Session(None, screen, screen), [storage, latency])
    text = screen.export_text()
    assert figure_text(storage, short=True) == "-15.2% (530 vs 460 MiB)" and "-15.2% (530 vs 460 MiB)" in text
    assert figure_text(latency, short=True) == "21.5 ms [21.2, 21.8]" and "21.5 ms [21.2, 21.8]" in text
