"""Repetition where the variance is (docs/decisions.md): rounds spread over independent
runs, intervals over runs, and why an interval over the rounds of one run is not enough."""

from __future__ import annotations

import numpy as np
import pytest

from bench.cli import main as bench_main
from bench.judge import results, stats
from bench.latency.runner import LatencyConfig

RUNS, ROUNDS_PER_RUN = 3, 2
BETWEEN_RUNS, BETWEEN_ROUNDS = 0.06, 0.02  # log sd: a run's plans, caches, machine state; a round's noise


def simulated_cell(true_ratio: float, rng) -> tuple[list, list, list]:
    """One scenario's paired round medians (variant, baseline) over the default runs: each
    run moves both sides by its own factor for each, every round adds its own noise."""
    runs = [r for r in range(RUNS) for _ in range(ROUNDS_PER_RUN)]
    base_run = rng.normal(0, BETWEEN_RUNS, RUNS)
    mine_run = rng.normal(0, BETWEEN_RUNS, RUNS)
    base = [10 * np.exp(base_run[r] + rng.normal(0, BETWEEN_ROUNDS)) for r in runs]
    mine = [10 * true_ratio * np.exp(mine_run[r] + rng.normal(0, BETWEEN_ROUNDS)) for r in runs]
    return mine, base, runs


def coverage(interval_of, trials: int = 1000, true_ratio: float = 0.5) -> int:
    rng = np.random.default_rng(7)
    covered = 0
    for _ in range(trials):
        mine, base, runs = simulated_cell(true_ratio, rng)
        interval = interval_of(mine, base, runs)
        covered += interval.low <= true_ratio <= interval.high
    return covered


def test_the_interval_over_runs_covers_the_true_ratio_95_percent_of_the_time():
    """1,000 simulated scenarios with between-run noise three times the between-round
    noise: the t interval over runs holds the true ratio in 93-97% of them."""
    covered = coverage(lambda mine, base, runs: stats.ratio_over_runs(mine, base, runs))
    assert 930 <= covered <= 970, covered


def test_an_interval_over_the_rounds_of_one_run_does_not_cover_run_to_run_noise():
    """The same simulated scenarios judged as before runs existed (a bootstrap over all
    rounds as if independent): far below 95%. This is why verdicts moved between runs."""
    covered = coverage(lambda mine, base, runs: stats.bootstrap_ratio(np.array(mine), np.array(base)))
    assert covered < 800, covered


def test_an_interval_over_runs_records_what_it_rests_on():
    mine, base, runs = simulated_cell(0.5, np.random.default_rng(1))
    interval = stats.ratio_over_runs(mine, base, runs)
    assert interval.as_dict()["rounds"] == RUNS * ROUNDS_PER_RUN and interval.as_dict()["runs"] == RUNS
    single = stats.ratio_over_runs(mine, base, [0] * len(mine))  # one run: rounds only, no runs key
    assert "runs" not in single.as_dict() and single.samples == len(mine)


@pytest.mark.parametrize("rounds, runs, expected", [(6, 3, [0, 0, 1, 1, 2, 2]), (7, 3, [0, 0, 0, 1, 1, 2, 2]),
                                                     (2, 3, [0, 1]), (5, 1, [0] * 5)])
def test_rounds_are_spread_over_runs(rounds, runs, expected):
    assert LatencyConfig(rounds=rounds, runs=runs).run_of_round() == expected


def test_a_latency_run_records_runs_and_tail_histograms_per_round(tiny_dsn, tmp_path, capsys):
    with pytest.raises(SystemExit) as done:
        bench_main(["--dsn", tiny_dsn, "run", "latency", "--rounds", "4", "--runs", "2", "--requests", "6",
                    "--warmup", "2", "--scenario", "my_projects", "--scenario", "projects_by_status",
                    "--out", str(tmp_path)])
    assert done.value.code == 0, capsys.readouterr().err
    (run_dir,) = tmp_path.iterdir()
    section = results.load(run_dir)["latency"]
    cells = [r for r in section["results"] if r.get("applicable")]
    assert cells and all(c["round_runs"] == [0, 0, 1, 1] for c in cells)
    for cell in cells:
        tails = [stats.decode(h) for h in cell["round_hdr"]]
        assert len(tails) == 4 and sum(h.get_total_count() for h in tails) == cell["latency"]["count"]
    compared = [c for c in section["comparisons"] if c["comparable"]]
    assert compared and all(c["median_ratio"]["runs"] == 2 for c in compared)
    speedup = [v for v in section["verdicts"] if v["claim"] == "query_speedup"]
    assert speedup and all("between runs" in v["note"] and "2 runs" in v["note"] for v in speedup)
