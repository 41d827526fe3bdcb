"""The throughput section (bench/throughput/section.py): N at the SLO, users by the
interactive response time law, the `linear_scaling` verdict against its thresholds, a
saturated client left out of the fit; its report; and a real sweep on the tiny dataset
through the CLI (`bench run throughput`, left out of `bench all`)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bench import cli
from bench.benchmarks import REGISTRY
from bench.judge import results, stats, verdicts
from bench.throughput import section, usl

TRUTH = (200.0, 0.03, 0.001)  # N* = sqrt(0.97 / 0.001) ≈ 31


def test_n_at_slo_interpolates_on_log_log_axes():
    n, at_least = section.n_at_slo([1, 2, 4, 8], [10, 20, 50, 200], 100)
    assert n == pytest.approx(4 * math.sqrt(2)) and not at_least  # p95 50 -> 200 ms: 100 ms halfway (log)
    assert section.n_at_slo([1, 2, 4], [10, 20, 40], 100) == (4.0, True)  # every level held: a lower bound
    assert section.n_at_slo([1, 2, 4], [150, 200, 300], 100) == (None, False)  # even one connection breaches


def test_users_follow_the_interactive_response_time_law():
    fit = usl.Fit(*TRUTH, r2=1.0, rmse_rel=0.0)
    point = section.users_at_slo([1, 2, 4, 8], [10, 20, 50, 200], fit, 100, think_s=1.0)
    x = usl.throughput(point["n"], *TRUTH)
    assert point["x_rps"] == pytest.approx(x)
    assert point["r_ms"] == pytest.approx(1000 * point["n"] / x)  # Little: N = X·R in the closed loop
    assert point["users"] == pytest.approx(x * (point["r_ms"] / 1000 + 1.0))  # N = X·(R + Z)


def _model(sigma, kappa, windows=3):
    return {"variant": "hardened", "fit": {"sigma": sigma, "kappa": kappa, "n_star": {"estimate": None}},
            "windows_per_level": windows, "levels_fitted": [1, 2, 4], "levels_left_out": [], "resamples": 100,
            "slo": {"cores_here": 1}, "sigma_cpu": None}


@pytest.mark.parametrize("sigma, kappa, windows, expected", [
    ((0.01, 0.0, 0.03), (0.0, 0.0, 0.00005), 3, verdicts.CONFIRMED),
    ((0.3, 0.2, 0.4), (0.0, 0.0, 0.00005), 3, verdicts.REFUTED),  # σ's lower bound over 0.05
    ((0.01, 0.0, 0.03), (0.001, 0.0005, 0.002), 3, verdicts.REFUTED),  # κ's lower bound over 1e-4
    ((0.04, 0.02, 0.07), (0.0, 0.0, 0.00005), 3, verdicts.INCONCLUSIVE),  # σ's interval straddles 0.05
    ((0.01, 0.0, 0.03), (0.0, 0.0, 0.00005), 2, verdicts.INCONCLUSIVE),  # too few windows
])
def test_verdict_reads_both_intervals_against_the_thresholds(sigma, kappa, windows, expected):
    target = verdicts.targets()["linear_scaling"]
    assert (target["sigma_max"], target["kappa_max"]) == (0.05, 0.0001)
    as_iv = lambda t: dict(zip(("estimate", "low", "high"), t))
    record = section.verdict(_model(as_iv(sigma), as_iv(kappa), windows))
    assert record["verdict"] == expected and record["claim"] == "linear_scaling"
    assert "σ < 0.05" in record["note"]


def synthetic_windows(rng, saturate_at=None) -> list[dict]:
    """Window records as the sweep writes them, from the law plus 4% noise; latency from
    Little's law (R = N / X) spread around it."""
    out = []
    for index in range(3):
        for n in (1, 2, 4, 8, 16, 32, 64):
            x = usl.throughput(n, *TRUTH) * rng.lognormal(0, 0.04)
            hist = stats.new_histogram()
            for value in rng.exponential(1e6 * n / x, 100):
                stats.record(hist, value)
            summary = stats.summary(hist, 5.0)
            out.append({"variant": "hardened", "n": n, "window": index, "seconds": 5.0, "completed": int(x * 5),
                        "errors": 0, "error_samples": [], "x_rps": x, "p50_ms": summary["p50_ms"],
                        "p95_ms": summary["p95_ms"], "p99_ms": summary["p99_ms"], "mean_ms": summary["mean_ms"],
                        "client_cpu": 0.95 if n == saturate_at else 0.3, "client_saturated": n == saturate_at,
                        "server_cpu_s": 5.0 * 0.9, "server_cpu_ms_per_request": 4.5e3 / (x * 5),
                        "pgss_exec_ms_per_request": 2.0, "cpu_busy": {}, "hdr": stats.encode(hist)})
    return out


def _config(**extra):
    return {"think_s": 1.0, "cores_here": 1, "cores": 8, "seed": 1, "windows": 3, "window_seconds": 5.0,
            "cpu_layout": {"pinned": False, "reason": "test"}, **extra}


def test_section_fits_the_law_and_leaves_a_saturated_client_out():
    windows = synthetic_windows(np.random.default_rng(7), saturate_at=64)
    built = section.build(windows, ["hardened"], _config(), None, resamples=100)
    (model,) = built["models"]
    assert model["levels_left_out"] == [64] and 64 not in model["levels_fitted"]
    fit = model["fit"]
    assert fit["lambda"]["estimate"] == pytest.approx(TRUTH[0], rel=0.1)  # coverage: tests/test_throughput_usl.py
    assert fit["sigma"]["estimate"] == pytest.approx(TRUTH[1], abs=0.03)
    assert fit["kappa"]["low"] > 1e-4
    slo = model["slo"]
    assert slo["users"] == pytest.approx(slo["n"] + slo["x_rps"] * 1.0)
    assert slo["users_interval"]["low"] <= slo["users"] <= slo["users_interval"]["high"]
    assert slo["projection"]["users"] == pytest.approx(8 * slo["users"])
    assert slo["locust"] is None  # no load section in this run
    (verdict,) = built["verdicts"]
    assert verdict["verdict"] == verdicts.REFUTED  # σ = 0.03 is fine, but κ = 1e-3 is 10x the threshold
    assert "levels 64 left out" in verdict["note"]


def test_report_shows_the_model_next_to_locust(tmp_path):
    from bench.report import html, summary
    from bench.report.charts_throughput import users_rows
    from bench.report.registry import charts

    built = section.build(synthetic_windows(np.random.default_rng(8)), ["hardened"], _config(), None, resamples=100)
    load = {"capacity": {"hardened": {"users": 50, "at_least": False, "first_breach": 100}},
            "config": {"think_seconds": [0.5, 1.5]}}
    (row,) = users_rows(built, load)
    assert row["Locust measured (users)"].startswith("50 (breach at 100)")
    assert users_rows(built, None)[0]["Locust measured (users)"].startswith("absent")
    data = {"run_id": "x", "throughput": built, "load": None, "verdicts": built["verdicts"]}
    assert "throughput_usl" in {c.name for c in charts() if c.wanted(data)}
    page = html.page(data, [])
    assert 'id="throughput"' in page and "USL parameters" in page
    text = summary.markdown(data)
    assert "Throughput model (USL)" in text and "Linear performance with user growth" in text


def test_throughput_is_registered_but_left_out_of_bench_all():
    assert "throughput" in REGISTRY and REGISTRY["throughput"].in_all is False
    assert all(getattr(b, "in_all", True) for name, b in REGISTRY.items() if name != "throughput")


def test_bad_connection_levels_exit_2(capsys):
    with pytest.raises(SystemExit) as done:
        cli.main(["run", "throughput", "--connections", "4,2,1"])
    assert done.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("bench: error: --connections") and "Traceback" not in err


def test_a_tiny_sweep_through_the_cli(tiny_dsn, tmp_path, capsys):
    with pytest.raises(SystemExit) as done:
        cli.main(["--dsn", tiny_dsn, "run", "throughput", "--only", "hardened", "--connections", "1,2,4",
                  "--windows", "2", "--window-seconds", "0.5", "--warmup-seconds", "0.1", "--resamples", "100",
                  "--out", str(tmp_path)])
    assert done.value.code == 0, capsys.readouterr().err
    (run_dir,) = tmp_path.iterdir()
    part = results.load(run_dir)["throughput"]
    assert {(r["variant"], r["n"]) for r in part["levels"]} == {("hardened", 1), ("hardened", 2), ("hardened", 4)}
    assert all(r["windows"] == 2 and r["errors"] == 0 and r["x_rps"]["estimate"] > 0 for r in part["levels"])
    assert part["config"]["cpu_layout"]["pinned"] is False  # --dsn: the server is not ours to pin
    assert sum(part["config"]["mix"]["hardened"].values()) == pytest.approx(1.0)
    (verdict,) = part["verdicts"]
    assert verdict["verdict"] == verdicts.INCONCLUSIVE  # 2 windows per level: below min_windows


def test_the_model_converts_to_the_users_of_the_runs_own_load_test():
    """users = N + X·Z must use the Z of the Locust capacity shown beside it (a run with a
    5-30 s think time once got the default 1 s, and under-counted its users 17-fold)."""
    from bench.throughput.benchmark import think_seconds

    think, source = think_seconds({"config": {"think_seconds": [5.0, 30.0]}})
    assert think == 17.5 and "this run's load test (5-30 s)" in source
    default, source = think_seconds(None)
    assert default == 1.0 and "default" in source
