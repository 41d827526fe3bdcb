"""The step load's arithmetic without a server: SLO breaches on synthetic series, the stop
rule, capacity, the concurrency verdict's bounds, bottlenecks, options, and that the
personas and the tenant check cover the whole catalog."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from bench.core.errors import BenchError
from bench.judge import verdicts
import os
import subprocess
import sys

import numpy as np
import psutil

from bench.core import cpus
from bench.judge import stats
from bench.loadtest import locust, options, personas, steps, tenancy
from scenarios import all_scenarios

SLO = steps.Slo(p95_ms=100.0, max_failure_ratio=0.01)


def step(users, p95, failures=0.0, requests=1000, interval=None, **extra):
    """A measured step; `interval` (low, high) of its p95, else the p95 itself at both ends."""
    record = {"variant": extra.pop("variant", "x"), "users": users, "p95_ms": p95, "failure_ratio": failures,
              "requests": requests, "users_running": users, "pool": {"wait_share": 0.0, "service_mean_ms": 1.0},
              "client": {"bound": False, "cpu_max_percent": 10.0}, **extra}
    if interval:
        record["p95_interval"] = {"low_ms": interval[0], "high_ms": interval[1]}
    record["judgement"] = steps.judge(record, SLO)
    return record


def series(points, **extra):
    return [step(u, p, f, **extra) for u, p, f in points]


def test_a_breach_step_is_detected_on_a_synthetic_series():
    run = series([(10, 20, 0), (20, 45, 0), (50, 90, 0.002), (100, 130, 0), (200, 400, 0)])
    held = [s["judgement"]["held"] for s in run]
    assert held == [True, True, True, False, False]
    assert run[3]["judgement"]["reasons"] == ["p95 130 ms [130, 130] >= 100 ms"] and not run[3]["judgement"]["clear"]
    assert run[4]["judgement"]["clear"]  # 400 ms >= 2 x the SLO
    cap = steps.capacity(run)
    assert (cap["users"], cap["first_breach"], cap["at_least"]) == (50, 100, False)


def test_failures_breach_too_and_exactly_at_the_limit():
    assert not step(10, 5, 0.01)["judgement"]["held"]  # < 1% is the rule: 1.0% breaches
    assert step(10, 5, 0.0099)["judgement"]["held"]
    assert step(10, 99.9)["judgement"]["held"] and not step(10, 100.0)["judgement"]["held"]
    assert step(10, 5, 0.03)["judgement"]["clear"]
    nothing = step(10, None, 0.0, requests=0)
    assert not nothing["judgement"]["held"] and nothing["judgement"]["clear"]
    short = step(50, 5, users_running=30)
    assert not short["judgement"]["held"] and "only 30 of 50" in short["judgement"]["reasons"][0]


def test_the_ramp_stops_after_a_clear_breach_or_two_in_a_row():
    judged = lambda pts: [s["judgement"] for s in series(pts)]  # noqa: E731
    assert steps.should_stop(judged([(10, 20, 0), (20, 40, 0)])) is None
    assert steps.should_stop(judged([(10, 20, 0), (20, 120, 0)])) is None  # marginal: one more step
    assert "2 steps over the SLO" in steps.should_stop(judged([(10, 20, 0), (20, 120, 0), (50, 150, 0)]))
    too_few = [step(u, 20, requests=5 * u, interval=(10, None))["judgement"] for u in (1, 2, 5)]
    assert all(j["state"] == steps.UNDECIDED for j in too_few) and steps.should_stop(too_few) is None
    assert "clear breach" in steps.should_stop(judged([(10, 20, 0), (20, 250, 0)]))
    assert "clear breach" in steps.should_stop(judged([(10, 20, 0.05)]))


def ramp(plan, p95_at, start=10):
    """The users next_step measures, in order, for a variant whose p95 at each step is
    p95_at[users] (ms), and why it stopped."""
    measured = []
    while True:
        users, reason = steps.next_step(plan, start, measured)
        if users is None:
            return [m["users"] for m in measured], reason
        measured.append(step(users, p95_at[users]))


PLAN = (5, 10, 20, 50, 100, 200, 500, 1000)


def test_the_ramp_starts_at_10_users_and_steps_down_only_when_10_does_not_hold():
    # holds at 10: the 5-user step (20 s at a second of think time) is never run
    fast = {u: 3.0 for u in PLAN} | {1000: 250.0}
    users, reason = ramp(PLAN, fast)
    assert users == [10, 20, 50, 100, 200, 500, 1000] and reason.startswith("clear breach at the last step")
    # a latency-bound baseline: 10 breaches, 5 is measured next and holds; 10's clear breach stops the ramp
    slow = {5: 60.0, 10: 260.0, 20: 400.0}
    users, reason = ramp(PLAN, slow)
    assert users == [10, 5] and "clear breach" in reason
    # 10 over the SLO but not clearly: down to 5, then on upwards until two steps in a row are over
    marginal = {5: 60.0, 10: 120.0, 20: 130.0, 50: 400.0}
    assert ramp(PLAN, marginal) == ([10, 5, 20], "2 steps over the SLO in a row")
    # nothing holds: every lower step is tried, one at a time
    users, _ = ramp((1, 2, 5, 10, 20), {1: 150.0, 2: 150.0, 5: 150.0, 10: 300.0})
    assert users == [10, 5, 2, 1]
    # a plan that starts above start_users (the think-time command's 1000, 2000, ...) starts at its first step
    assert steps.next_step((1000, 2000), 10, []) == (1000, None)
    assert steps.start_step((5, 10, 20), 50) == 20


def test_a_stepped_down_ramp_gives_the_capacity_of_the_ascending_one():
    """The capacity and the crossing read the steps in order of users, whatever order they ran in."""
    points = [(10, 120.0, 0), (5, 60.0, 0), (20, 130.0, 0)]
    down, up = steps.capacity(series(points)), steps.capacity(series(sorted(points)))
    assert down == up and (down["users"], down["first_breach"]) == (5, 10)


def test_capacity_ignores_a_step_that_holds_again_after_a_breach():
    cap = steps.capacity(series([(10, 20, 0), (20, 120, 0), (50, 60, 0)]))
    assert (cap["users"], cap["first_breach"]) == (10, 20)
    first_fails = steps.capacity(series([(10, 300, 0)]))
    assert (first_fails["users"], first_fails["first_breach"]) == (0, 10)
    everything = steps.capacity(series([(10, 5, 0), (20, 6, 0)]), planned=(10, 20, 50))
    assert everything["at_least"] and everything["users"] == 20 and not everything["all_planned_run"]


# The crossing logic alone (no between-run spread), and the claim as targets.toml states it.
NO_SPREAD = steps.ConcurrencyClaim(10.0, 0.0)
SPREAD = steps.ConcurrencyClaim(10.0, 0.365)


def verdict(mine, base, problems=(), claim=NO_SPREAD):
    return steps.concurrency_verdict("hardened", steps.capacity(series(mine), limit=SLO),
                                     steps.capacity(series(base), limit=SLO), claim, list(problems))


BASE_BREAKS_AT_20 = [(10, 50, 0), (20, 300, 0)]  # crosses 100 ms at 10 x 2^(ln 2 / ln 6) = 13.1 users


def test_the_slo_crossing_is_placed_between_the_last_held_step_and_the_breach_log_log():
    cap = steps.capacity(series(BASE_BREAKS_AT_20), limit=SLO)
    assert (cap["users"], cap["first_breach"]) == (10, 20)
    expected = 10 * 2 ** (math.log(2) / math.log(6))
    assert cap["slo_crossing"]["estimate"] == pytest.approx(expected) == pytest.approx(13.08, abs=0.01)
    # the interval ends read the slower and the faster end of each step's p95 interval
    spread = steps.capacity([step(10, 50, interval=(40, 60)), step(20, 300, interval=(250, 350))], limit=SLO)
    crossing = spread["slo_crossing"]
    assert crossing["low"] == pytest.approx(10 * 2 ** (math.log(100 / 60) / math.log(350 / 60)))
    assert crossing["high"] == pytest.approx(10 * 2 ** (math.log(100 / 40) / math.log(250 / 40)))
    assert crossing["low"] < crossing["estimate"] < crossing["high"] < 20
    # held every step: only a lower bound; held none: no crossing at all
    everything = steps.capacity(series([(10, 5, 0), (200, 8, 0)]), limit=SLO)["slo_crossing"]
    assert everything == {"estimate": 200.0, "low": 200.0, "high": None}
    assert steps.capacity(series([(10, 300, 0)]), limit=SLO)["slo_crossing"] is None
    # a breach by failures (p95 below the SLO): the breach step bounds the crossing
    failed = steps.capacity(series([(10, 20, 0), (20, 40, 0.05)]), limit=SLO)["slo_crossing"]
    assert failed["high"] == 20.0 and failed["low"] == 10.0



def test_a_capacity_change_between_runs_compares_crossings_widened_for_the_spread_between_runs():
    """bench compare's capacity figure: new / old crossing, bounds from both intervals, each
    side widened as the ratio is (sqrt(2) x the log sd on the change)."""
    old = {"slo_crossing": {"estimate": 208.1, "low": 200.3, "high": 217.5}}  # review, make bench run 1
    new = {"slo_crossing": {"estimate": 190.0, "low": 182.0, "high": 197.0}}  # run 2: grid 200 -> 100 users
    bare = steps.crossing_change(old, new, NO_SPREAD)
    assert bare["estimate"] == pytest.approx(190.0 / 208.1)
    assert (bare["low"], bare["high"]) == (pytest.approx(182 / 217.5), pytest.approx(197 / 200.3))
    assert bare["high"] < 1  # within one run's intervals alone the drop would be decided
    spread = steps.crossing_change(old, new, SPREAD)
    widen = math.exp(1.96 * math.sqrt(2) * 0.365)
    assert spread["widen"] == pytest.approx(widen) == pytest.approx(2.75, abs=0.01)
    assert spread["low"] == pytest.approx(182 / 217.5 / widen) and spread["high"] == pytest.approx(197 / 200.3 * widen)
    assert spread["detectable"] == pytest.approx(1 - 200.3 / (217.5 * widen))
    # a side that held every step bounds the change on one end only; one with no crossing gives none
    held_all = {"slo_crossing": {"estimate": 1000.0, "low": 1000.0, "high": None}}
    assert steps.crossing_change(new, held_all, SPREAD)["high"] is None
    assert steps.crossing_change(held_all, new, SPREAD)["low"] == 0.0
    assert steps.crossing_change(old, {"slo_crossing": None}, SPREAD) is None

def test_confirmed_only_when_the_least_favourable_reading_reaches_10x():
    v = verdict([(10, 5, 0), (50, 5, 0), (200, 8, 0)], BASE_BREAKS_AT_20)  # >= 200 vs 13.1
    assert v["verdict"] == verdicts.CONFIRMED and v["figure"]["low"] == pytest.approx(200 / 13.08, abs=0.01)
    assert v["figure"]["high"] is None and v["claim"] == "concurrency" and v["figure"]["capacity_at_least"]
    # the same run with targets.toml's between-run spread: 15.3x / 2.05 no longer reaches 10x
    spread = verdict([(10, 5, 0), (50, 5, 0), (200, 8, 0)], BASE_BREAKS_AT_20, claim=SPREAD)
    assert spread["verdict"] == verdicts.INCONCLUSIVE
    assert spread["figure"]["low"] == pytest.approx(200 / 13.08 / math.exp(1.96 * 0.365), abs=0.01)
    far = verdict([(10, 5, 0), (500, 8, 0), (1000, 300, 0)], BASE_BREAKS_AT_20, claim=SPREAD)
    assert far["verdict"] == verdicts.CONFIRMED and far["figure"]["low"] > 10


def test_an_untested_upper_bound_is_inconclusive_not_confirmed():
    v = verdict([(10, 5, 0), (50, 5, 0), (100, 8, 0)], BASE_BREAKS_AT_20)  # >= 100 vs 13.1: 7.6x .. inf
    assert v["verdict"] == verdicts.INCONCLUSIVE and "untested upper bound" in v["note"]
    both_hold = verdict([(10, 5, 0), (1000, 5, 0)], [(10, 5, 0), (1000, 50, 0)])  # baseline >= 1000: ratio >= 0
    assert both_hold["verdict"] == verdicts.INCONCLUSIVE and both_hold["figure"]["low"] == 0.0


def test_refuted_when_even_the_most_favourable_reading_misses_10x():
    mine = [(10, 5, 0), (50, 5, 0), (100, 300, 0)]  # crosses at 50 x 2^(ln 20 / ln 60) = 83.0
    v = verdict(mine, BASE_BREAKS_AT_20)
    assert v["verdict"] == verdicts.REFUTED and v["figure"]["high"] == pytest.approx(83.0 / 13.08, abs=0.02)
    spread = verdict(mine, BASE_BREAKS_AT_20, claim=SPREAD)  # 6.3x x 2.05 = 13x: within the runs' spread
    assert spread["verdict"] == verdicts.INCONCLUSIVE and "widened" in spread["note"]
    assert verdict([(10, 5, 0), (20, 300, 0)], BASE_BREAKS_AT_20, claim=SPREAD)["verdict"] == verdicts.REFUTED
    base_never_started = verdict([(10, 5, 0), (20, 300, 0)], [(10, 500, 0)])  # baseline in [0, 10): unbounded
    assert base_never_started["verdict"] == verdicts.INCONCLUSIVE


# Two back-to-back `make bench` runs of one commit (2026-12-03, /tmp/mb11 and /tmp/mb12): (users,
# p95, its interval) of baseline's and review's steps up to the breach. On the grid alone review's
# claim was refuted in the first (100 vs 20 users: ratio < 200/20 = 10) and inconclusive in the
# second (baseline's 20-user step undecided): the word moved with one noisy step.
RUN_1 = {"baseline": [(5, 55.8, 41.0, 62.2), (10, 70.3, 52.5, 87.2), (20, 80.8, 74.6, 93.6),
                      (50, 228.6, 208.4, 285.2)],
         "review": [(50, 28.0, 26.3, 32.7), (100, 42.4, 36.4, 54.4), (200, 145.8, 124.4, 160.0)],
         "hardened": [(200, 3.4, 3.0, 3.7), (500, 5.3, 5.1, 5.8), (1000, 172.8, 171.8, 174.2)]}
RUN_2 = {"baseline": [(5, 55.3, 41.6, 62.0), (10, 64.2, 49.6, 89.0), (20, 97.4, 86.4, 112.7),
                      (50, 278.0, 255.2, 383.5)],
         "review": [(50, 26.7, 23.7, 32.8), (100, 35.9, 29.7, 42.0), (200, 124.7, 109.1, 132.1)],
         "hardened": [(200, 3.8, 3.5, 4.0), (500, 6.2, 5.8, 6.6), (1000, 88.7, 86.4, 95.0)]}


def test_two_real_runs_that_moved_the_grid_word_give_the_same_words():
    words = []
    for run in (RUN_1, RUN_2):
        caps = {v: steps.capacity([step(u, p95, interval=(low, high)) for u, p95, low, high in points], limit=SLO)
                for v, points in run.items()}
        words.append({v: steps.concurrency_verdict(v, caps[v], caps["baseline"], SPREAD, [])["verdict"]
                      for v in ("review", "hardened")})
        grid = steps.ratio_interval({**caps["review"], "slo_crossing": None}, caps["baseline"])
        assert grid["high"] == (10.0 if run is RUN_1 else 20.0)  # what the grid alone gave: 200/20, 200/10
    assert words == [{"review": verdicts.INCONCLUSIVE, "hardened": verdicts.CONFIRMED}] * 2


def test_a_baseline_that_breaches_at_its_lowest_step_is_latency_bound_never_a_confirmed_ratio():
    v = verdict([(20, 5, 0), (500, 80, 0), (1000, 900, 0)], [(20, 130, 0)])  # [500, 1000) vs [0, 20): > 25x
    assert v["verdict"] == verdicts.INCONCLUSIVE and v["figure"]["low"] == 25.0  # the bounds alone would confirm
    assert "baseline missed the SLO at its lowest step (20 users): latency-bound" in v["note"]
    assert "lowest step" not in verdict([(10, 5, 0), (200, 8, 0)], BASE_BREAKS_AT_20)["note"]
    # undecided at 1 and 2 users, breached at 5: no step held, but the lowest was not breached
    # either, so baseline's crossing lies below ~3.2 users (its readings' lower ends cross there)
    base = [step(1, 60, interval=(20, None)), step(2, 90, interval=(40, 150)), step(5, 300, interval=(250, 400))]
    v = steps.concurrency_verdict("hardened", steps.capacity(series([(10, 5, 0), (500, 8, 0), (1000, 900, 0)])),
                                  steps.capacity(base), NO_SPREAD, [])
    assert v["figure"]["baseline_crossing_users"] is not None and v["figure"]["high"] is None
    assert "baseline held no step decidedly (its lowest steps straddled the SLO)" in v["note"]
    assert v["verdict"] == verdicts.CONFIRMED and v["figure"]["low"] > 10


def test_a_baseline_undecided_at_its_lowest_steps_has_a_crossing_bounded_only_above():
    """Run 3 of three make bench runs on 2026-12-04 (commit 49afc2c), on the machine's slower
    state: baseline's 5- and 10-user steps straddled the SLO (p95 91.6 ms [84.0, 117.2] and
    99.6 [92.8, 114.7]) and 20 users breached; the two runs before held 20 users. Judged
    "held no step: no ratio", hardened's concurrency went from confirmed to inconclusive."""
    base = [step(5, 91.6, interval=(84.0, 117.2)), step(10, 99.6, interval=(92.8, 114.7)),
            step(20, 196.6, interval=(128.4, 343.3)), step(50, 347.6, interval=(310.0, 410.1))]
    hardened = [step(u, p, interval=i) for u, p, i in ((5, 9.6, (8.4, 19.1)), (10, 6.9, (5.4, 7.5)),
                                                        (20, 5.0, (4.4, 9.1)), (50, 5.8, (4.8, 6.7)),
                                                        (100, 6.1, (5.5, 6.6)), (200, 6.6, (6.1, 7.6)),
                                                        (500, 20.1, (18.9, 21.2)), (1000, 726.0, (720.9, 729.6)))]
    review = [step(u, p, interval=i) for u, p, i in ((5, 50.3, (43.5, 54.5)), (10, 46.1, (27.9, 78.4)),
                                                      (20, 45.8, (22.7, 52.6)), (50, 61.1, (52.4, 71.9)),
                                                      (100, 172.5, (152.3, 254.3)), (200, 812.5, (793.1, 858.1)))]
    cap = steps.capacity(base, limit=SLO)
    crossing = cap["slo_crossing"]
    assert cap["users"] == 0 and crossing["below_grid"] and crossing["low"] == 0
    assert 10 < crossing["high"] < 20 and crossing["estimate"] <= crossing["high"]  # ~11.7 users at most
    judged = {name: steps.concurrency_verdict(name, steps.capacity(mine, limit=SLO), cap, SPREAD, [])
              for name, mine in (("hardened", hardened), ("review", review))}
    assert judged["hardened"]["verdict"] == verdicts.CONFIRMED  # >= 500 / 11.7 / 2.05 = 21x
    assert judged["hardened"]["figure"]["high"] is None  # nothing bounds baseline below: no upper bound
    assert judged["review"]["verdict"] == verdicts.INCONCLUSIVE  # about 50-69 users: can neither confirm nor refute
    # a baseline breached outright at its lowest step still has no crossing (latency-bound)
    breached = steps.capacity([step(5, 150.0, interval=(120.0, 180.0))] + base[2:], limit=SLO)
    assert breached["slo_crossing"] is None
    assert steps.concurrency_verdict("hardened", steps.capacity(hardened, limit=SLO), breached, SPREAD,
                                     [])["verdict"] == verdicts.INCONCLUSIVE


def test_the_concurrency_figure_reads_the_same_in_every_report():
    from bench.judge.text import figure_text

    no_baseline = verdict([(20, 5, 0), (500, 80, 0), (1000, 900, 0)], [(20, 130, 0)])
    assert figure_text(no_baseline) == "500 vs 0 users, ratio [25.0×, ∞]"  # baseline held nothing: no estimate
    assert no_baseline["verdict"] == verdicts.INCONCLUSIVE
    untested = verdict([(10, 5, 0), (50, 5, 0), (200, 8, 0)], BASE_BREAKS_AT_20)
    assert figure_text(untested) == "≥ 200 vs 10 users, ratio ≥ 15.3× [15.3×, ∞]"
    bounded = verdict([(10, 5, 0), (50, 5, 0), (100, 300, 0)], BASE_BREAKS_AT_20, claim=SPREAD)
    assert figure_text(bounded) == "50 vs 10 users (SLO crossed at ~83 vs ~13), ratio 6.3× [3.1×, 13.0×]"


def test_problems_and_a_client_bound_breach_make_it_inconclusive():
    v = verdict([(10, 5, 0), (200, 8, 0)], BASE_BREAKS_AT_20, problems=["hardened: worker lost"])
    assert v["verdict"] == verdicts.INCONCLUSIVE and "worker lost" in v["note"]
    base = series(BASE_BREAKS_AT_20)
    base[1]["client"] = {"bound": True, "cpu_max_percent": 99.0}  # the load generator, not the server, broke
    cap = steps.capacity(base)
    assert not cap["breach_reliable"] and steps.bounds(cap) == (10.0, None)
    mine = steps.capacity(series([(10, 5, 0), (200, 8, 0), (400, 500, 0)]))
    v = steps.concurrency_verdict("hardened", mine, cap, NO_SPREAD, [])  # would be confirmed with a reliable baseline
    assert v["verdict"] == verdicts.INCONCLUSIVE and "baseline's breach at 20 users was client-bound" in v["note"]


def test_bottleneck_tells_the_pool_from_the_server_and_the_client():
    quiet = step(10, 5, pool={"wait_share": 0.05, "service_mean_ms": 2.0})
    pool = step(100, 50, pool={"wait_share": 0.8, "service_mean_ms": 3.0})
    server = step(200, 500, pool={"wait_share": 0.8, "service_mean_ms": 40.0})
    client = step(300, 50, client={"bound": True, "cpu_max_percent": 97.0},
                  pool={"wait_share": 0.9, "service_mean_ms": 2.0})
    starved = step(400, 180, pool={"wait_share": 0.9, "service_mean_ms": 8.0}, machine={"cpu_percent": 97.0},
                   server={"cpu_percent": 45.0})
    busy = step(500, 300, pool={"wait_share": 0.9, "service_mean_ms": 30.0}, machine={"cpu_percent": 99.0},
                server={"cpu_percent": 90.0})
    marked = steps.annotate([quiet, pool, server, client, starved, busy])
    assert [s["bottleneck"] for s in marked] == [None, "pool", "server", "client", "machine", "server"]
    for s in marked:
        s["judgement"] = steps.judge(s, SLO)
    # a breach where the shared machine starved the server does not bound the server's capacity
    cap = steps.capacity([marked[0], marked[4]])
    assert cap["first_breach"] == 400 and not cap["breach_reliable"] and steps.bounds(cap) == (10.0, None)
    assert steps.capacity([marked[0], marked[5]])["breach_reliable"]


def test_options_parse_once_and_never_put_the_dsn_on_a_command_line(monkeypatch):
    assert options.steps("10, 20,50") == (10, 20, 50)
    assert options.think("0.5-1.5") == (0.5, 1.5) and options.think("2") == (2.0, 2.0)
    for bad in ("20,10", "0,5", ""):
        with pytest.raises(ValueError):
            options.steps(bad)
    with pytest.raises(ValueError):
        options.think("2-1")
    monkeypatch.setenv("BENCH_LOAD_STEPS", "5,7")
    values = options.resolve({"bench_think": "0.1"})
    assert values["steps"] == (5, 7) and values["think"] == (0.1, 0.1)
    with pytest.raises(BenchError, match="--steps / BENCH_LOAD_STEPS"):
        options.resolve({"bench_steps": "9,3"})
    args = options.locust_args({**values, "dsn": "postgresql://u:secret@h/db", "variant": "hardened"})
    assert "--bench-dsn" not in args and not any("secret" in a for a in args)
    assert args[args.index("--bench-steps") + 1] == "5,7" and args[args.index("--bench-think") + 1] == "0.1-0.1"


def test_every_scenario_is_played_by_a_persona_and_covered_by_the_tenant_check():
    catalog = all_scenarios()
    assert all(players for players in personas.coverage(catalog).values()), personas.coverage(catalog)
    assert set(tenancy.OWNED_ROWS) | set(tenancy.UNCHECKED) == set(personas.in_load(catalog))
    assert not set(tenancy.OWNED_ROWS) & set(tenancy.UNCHECKED)
    assert {s for s, _v in tenancy.KNOWN_LEAKS} <= set(tenancy.OWNED_ROWS)
    assert {p.name for p in personas.PERSONAS} == {"viewer", "editor", "searcher", "admin"}


def test_a_new_catalog_scenario_reaches_every_persona():
    catalog = dict(all_scenarios())
    extra = next(iter(catalog.values()))
    catalog["brand_new"] = extra
    assert all("brand_new" in p.tasks(catalog) for p in personas.PERSONAS)


def run_record(variant, points, status="completed", leaks=0):
    return {"variant": variant, "status": status, "plan": [p[0] for p in points],
            "steps": series(points, variant=variant), "events": [],
            "whole": {"counts": {"capability_search": {"ok": 10, "leak": leaks, "checked": 10 + leaks,
                                                       "foreign_rows": 2 * leaks}}}}


def test_section_merges_earlier_variants_and_the_report_reads_it():
    from bench.report import charts_load

    first = locust.build_section([run_record("baseline", BASE_BREAKS_AT_20)], {})
    assert [(v["claim"], v["verdict"]) for v in first["verdicts"]] == [("simultaneous_users", "not measured")]
    second = locust.build_section([run_record("hardened", [(10, 5, 0), (20, 5, 0)], leaks=1)], {}, previous=first)
    assert [r["variant"] for r in second["runs"]] == ["baseline", "hardened"]
    (v,) = [v for v in second["verdicts"] if v["claim"] == "concurrency"]
    assert v["variant"] == "hardened" and "rows of another tenant" in v["note"]
    assert v["verdict"] == verdicts.INCONCLUSIVE  # >= 20 users vs [10, 20): at least 1x, no upper bound
    assert second["security"]["cross_tenant_requests"] == {"baseline": 0, "hardened": 1}
    assert {v: c["users"] for v, c in charts_load.load_capacity(second).items()} == {"baseline": 10, "hardened": 20}
    rows = charts_load.load_steps(second)
    assert {(r["variant"], r["users"]) for r in rows} == {("baseline", 10), ("baseline", 20), ("hardened", 10),
                                                          ("hardened", 20)}
    assert second["slo_ms"] == 100.0


# ---- undecided steps, the p95 interval, a saturated generator, CPU pinning ----------------------
def test_a_step_whose_p95_interval_straddles_the_slo_is_undecided_and_makes_the_capacity_a_range():
    straddles = step(50, 95, interval=(80, 120))
    assert straddles["judgement"]["state"] == steps.UNDECIDED and not straddles["judgement"]["held"]
    assert "straddles 100 ms" in straddles["judgement"]["reasons"][0]
    few = step(2, 10, requests=20, interval=(5, None))  # 20 requests cannot show where p95 is
    assert few["judgement"]["state"] == steps.UNDECIDED and "cannot bound p95" in few["judgement"]["reasons"][0]
    above = step(100, 150, interval=(120, 180))
    assert above["judgement"]["state"] == steps.BREACH
    base = [few, step(10, 30, interval=(25, 40)), straddles, above]
    cap = steps.capacity(base)
    # 2 users: vouched for by the held step above it; 50 users: inside the range [10, 100)
    assert (cap["users"], cap["first_breach"], cap["undecided"], cap["at_least"]) == (10, 100, [50], False)
    mine = steps.capacity(series([(10, 5, 0), (500, 8, 0), (1000, 300, 0)]))  # [500, 1000)
    # the undecided step sits inside baseline's crossing interval: 100 ms reached at [38, 73] users
    assert cap["slo_crossing"]["low"] < 50 < cap["slo_crossing"]["high"] < 100
    crossing_only = steps.concurrency_verdict("hardened", mine, cap, NO_SPREAD, [])  # 811 / 73 = 11.1x at least
    assert crossing_only["verdict"] == verdicts.CONFIRMED  # the grid alone gave [500/100, 1000/10) = [5, 100)
    depends = steps.concurrency_verdict("hardened", mine, cap, SPREAD, [])
    assert depends["verdict"] == verdicts.INCONCLUSIVE and "straddled the SLO at 50 users" in depends["note"]
    decided = steps.capacity([few, step(10, 30, interval=(25, 40)), step(50, 150, interval=(120, 180))])
    assert steps.concurrency_verdict("hardened", mine, decided, NO_SPREAD, [])["verdict"] == verdicts.CONFIRMED


def test_undecided_steps_without_a_decided_breach_leave_the_upper_bound_unknown():
    cap = steps.capacity([step(10, 30, interval=(25, 40)), step(20, 99, interval=(85, 115))])
    assert cap["first_breach"] is None and not cap["at_least"] and steps.bounds(cap) == (10.0, None)


def test_a_step_where_the_load_generator_was_saturated_cannot_breach_and_stops_the_ramp():
    saturated = {"bound": True, "cpu_max_percent": 99.0, "why": "a load process at 99% of a core"}
    s = step(200, 400, interval=(300, 500), client=saturated)
    assert s["judgement"]["state"] == steps.UNDECIDED and s["judgement"]["clear"]
    assert "load generator was saturated" in s["judgement"]["reasons"][-1]
    assert "clear breach" in steps.should_stop([step(100, 20)["judgement"], s["judgement"]])
    cap = steps.capacity([step(100, 20), s])
    assert cap["first_breach"] is None and cap["undecided"] == [200] and steps.bounds(cap) == (100.0, None)
    assert step(200, 20, interval=(15, 30), client=saturated)["judgement"]["held"]  # it held even so


def hdr_of(values_ms):
    h = stats.new_histogram()
    for v in values_ms:
        stats.record(h, v * 1000)
    return h


def test_the_p95_interval_comes_from_the_order_statistics_of_the_hdr_histogram():
    values = np.random.default_rng(3).exponential(20.0, 1000) + 1.0
    ci = steps.p95_interval(hdr_of(values))
    ordered = np.sort(values)
    low, high = ci["ranks"]
    assert (low, high) == (936, 964)  # Binomial(1000, 0.95): 2.5% and 97.5% quantiles
    assert ci["low_ms"] == pytest.approx(ordered[low - 1], rel=2e-3)  # HDR keeps 3 significant digits
    assert ci["high_ms"] == pytest.approx(ordered[high - 1], rel=2e-3)
    assert ci["p95_ms"] == pytest.approx(np.quantile(values, 0.95), rel=1e-2)
    assert ci["low_ms"] < ci["p95_ms"] < ci["high_ms"]
    small = steps.p95_interval(hdr_of(values[:40]))
    assert small["high_ms"] is None and small["low_ms"] is not None  # 40 requests: no upper bound
    assert steps.p95_interval(stats.new_histogram())["p95_ms"] is None


@pytest.mark.parametrize("counts, undecided", [
    ({50: 99, 150: 1}, True),  # 100 requests: the upper bound is the slowest, over the SLO
    ({50: 295, 150: 5}, False),  # 300: the upper bound's rank falls below the 5 slow ones: held
    ({50: 280, 150: 20}, True),  # 300 with 6.7% slow: p95 may well be 150, and may be 50
    ({150: 100}, False),  # breached whatever the count
    ({150: 50}, False),  # breached too: the lower bound needs no more requests
    ({50: 50}, True),  # 50 requests cannot bound p95 above
])
def test_a_window_stays_open_exactly_while_its_step_would_be_judged_undecided(counts, undecided):
    """The live check that keeps a window open (Locust's counts) and the judgement of the
    step (HDR histograms of the same requests) agree, so an extension ends with a decision."""
    assert steps.straddles(steps.live_interval(counts), SLO) is undecided
    values = [v for v, n in counts.items() for _ in range(n)]
    interval = steps.p95_interval(hdr_of(values))
    judged = step(5, interval["p95_ms"], requests=len(values),
                  interval=(interval["low_ms"], interval["high_ms"]))["judgement"]
    assert (judged["state"] == steps.UNDECIDED) is undecided


def test_the_p95_interval_covers_the_true_p95_at_least_95_percent_of_the_time():
    rng = np.random.default_rng(11)
    truth = np.log(20.0) + 0.8 * 1.6448536  # p95 of lognormal(log 20, 0.8), in log ms
    low, high = steps.quantile_ranks(150)
    samples = np.sort(rng.lognormal(np.log(20.0), 0.8, (4000, 150)), axis=1)
    covered = (np.log(samples[:, low - 1]) <= truth) & (truth <= np.log(samples[:, high - 1]))
    assert covered.mean() >= 0.95


def test_the_cpus_split_between_the_server_and_the_load_generator():
    assert cpus.split([0, 1]) == ([0], [1])
    assert cpus.split([3, 2, 1, 0]) == ([0, 1], [2, 3])
    assert cpus.split([0]) is None
    with cpus.pinned_split(None) as layout:
        assert not layout["pinned"] and "external server" in layout["reason"] and layout["load_cpus"] is None


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="one CPU: nothing to split (recorded as not pinned)")
def test_pinning_applies_to_a_process_tree_and_its_later_children_and_is_given_back():
    code = ("import subprocess, sys, time; c = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)']);"
            " sys.stdin.readline(); d = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)']);"
            " print(d.pid, flush=True); sys.stdin.readline(); c.kill(); d.kill()")
    parent = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        root = psutil.Process(parent.pid)
        while not root.children():
            pass
        original = sorted(root.cpu_affinity())
        with cpus.pinned_split(parent.pid) as layout:
            assert layout["pinned"] and layout["server_cpus"] == cpus.split(original)[0]
            assert {tuple(p.cpu_affinity()) for p in cpus.process_tree(parent.pid)} == {tuple(layout["server_cpus"])}
            parent.stdin.write("\n")
            parent.stdin.flush()
            later = psutil.Process(int(parent.stdout.readline()))  # forked after pinning: inherits it
            assert later.cpu_affinity() == layout["server_cpus"]
        assert all(sorted(p.cpu_affinity()) == original for p in cpus.process_tree(parent.pid))
    finally:
        parent.stdin.write("\n")
        parent.stdin.flush()
        parent.wait(timeout=10)


def _capacity(users: int, breach: int | None, top: int, reliable: bool = True) -> dict:
    return {"users": users, "first_breach": breach, "breach_reasons": [], "breach_reliable": reliable and bool(breach),
            "breach_bottleneck": None if reliable else "client", "undecided": [], "at_least": breach is None,
            "lowest_step": 1000, "top_tested": top, "all_planned_run": True}


@pytest.mark.parametrize("cap, think, expected", [
    (_capacity(10_000, None, 10_000), (5, 30), "confirmed"),  # the 10,000 step held
    (_capacity(5_000, 10_000, 10_000), (5, 30), "refuted"),  # breached at 10,000: fewer than 10K held
    (_capacity(2_000, 5_000, 5_000), (5, 30), "refuted"),
    (_capacity(5_000, None, 5_000), (5, 30), "inconclusive"),  # never tried 10,000
    (_capacity(5_000, 10_000, 10_000, reliable=False), (5, 30), "inconclusive"),  # the generator's breach
    (_capacity(10_000, None, 10_000), (0.5, 1.5), "not measured"),  # 10K users at 1 s think: another load
])
def test_simultaneous_users_needs_a_held_step_of_10k_at_a_realistic_think_time(cap, think, expected):
    record = steps.simultaneous_users_verdict("hardened", cap, think, [])
    assert record["verdict"] == expected, record
    assert record["claim"] == "simultaneous_users" and record["variant"] == "hardened"
    if expected == "not measured":
        assert "--think 5-30" in record["note"]
    else:
        assert record["figure"]["target_users"] == 10_000 and "think time 5-30 s" in record["note"]


def test_a_lost_worker_makes_the_10k_verdict_inconclusive():
    record = steps.simultaneous_users_verdict("hardened", _capacity(10_000, None, 10_000), (5, 30),
                                              ["hardened: worker lost"])
    assert record["verdict"] == "inconclusive" and "worker lost" in record["note"]


def test_every_variant_gets_a_10k_verdict_baseline_too():
    section = locust.build_section([run_record("baseline", BASE_BREAKS_AT_20),
                                    run_record("hardened", [(10, 5, 0), (20, 5, 0)])],
                                   {"think_seconds": [5.0, 30.0]})
    by = {(v["claim"], v["variant"]): v["verdict"] for v in section["verdicts"]}
    assert by[("simultaneous_users", "baseline")] == "refuted"  # breached at 20 users
    assert ("simultaneous_users", "hardened") in by and ("concurrency", "hardened") in by


def test_the_terminal_table_shows_each_claim_in_its_own_column():
    """The concurrency verdict and the 10K verdict of a variant side by side (the 10K one
    once took the concurrency column's place, and crashed it when it had a figure). The
    report fixture's real load section, with the 10K verdicts its capacities give at 5-30 s."""
    import json
    from pathlib import Path

    from rich.console import Console

    from bench.loadtest.benchmark import print_section

    section = json.loads((Path(__file__).parent / "fixtures/tiny_run/results.json").read_text())["load"]
    section["verdicts"] = [v for v in section["verdicts"] if v["claim"] == "concurrency"] + [
        steps.simultaneous_users_verdict(variant, cap, (5, 30), []) for variant, cap in section["capacity"].items()]
    console = Console(record=True, width=600)
    print_section(section, console)  # the old table raised KeyError here: a 10K figure read as a concurrency one
    lines = console.export_text().splitlines()
    for v in section["verdicts"]:
        row = next(line for line in lines if line.startswith(f"│ {v['variant']} ") and "│ completed" in line)
        if v["claim"] == "concurrency":
            assert f"│ {v['verdict']} " in row and " vs 0 users, ratio" in row, row
        else:
            assert f"│ {v['verdict']}: capacity 0 users" in row and "think time 5-30 s" in row, row
    baseline = next(line for line in lines if line.startswith("│ baseline ") and "│ completed" in line)
    assert "(reference)" in baseline


def test_the_spread_script_pools_the_log_ratios_of_several_runs(tmp_path):
    """scripts/concurrency_spread.py on the two runs above: its sd is the sample sd of the
    two log crossing ratios of each variant, pooled."""
    root = Path(__file__).resolve().parents[1]
    files = []
    for number, run in enumerate((RUN_1, RUN_2)):
        records = [{**step(u, p95, interval=(low, high)), "variant": v} for v, points in run.items()
                   for u, p95, low, high in points]
        path = tmp_path / f"run{number}.json"
        path.write_text(json.dumps({"load": {"steps": records, "slo": {"p95_ms": 100.0, "max_failure_ratio": 0.01}}}))
        files.append(str(path))
    out = subprocess.run([sys.executable, str(root / "scripts" / "concurrency_spread.py"), *files],
                         capture_output=True, text=True, cwd=root, timeout=60)
    assert out.returncode == 0, out.stderr
    logs = []
    for run in (RUN_1, RUN_2):
        caps = {v: steps.capacity([step(u, p, interval=(lo, hi)) for u, p, lo, hi in pts], limit=SLO)
                for v, pts in run.items()}
        logs.append(math.log(caps["review"]["slo_crossing"]["estimate"]
                             / caps["baseline"]["slo_crossing"]["estimate"]))
    # hardened held 1,000 users in the second run: an open ratio, left out of the spread
    assert "hardened" not in out.stdout.splitlines()[1]
    pooled = abs(logs[0] - logs[1]) / math.sqrt(2)  # the sample sd of two values
    assert f"pooled between-run sd of the log ratio: {pooled:.3f} (2 ratios, 1 variants)" in out.stdout
    usage = subprocess.run([sys.executable, str(root / "scripts" / "concurrency_spread.py"), files[0]],
                           capture_output=True, text=True, cwd=root, timeout=60)
    assert usage.returncode == 2 and "two runs or more" in usage.stdout
