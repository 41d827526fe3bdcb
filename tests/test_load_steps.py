"""The step load's arithmetic without a server: SLO breaches on synthetic series, the stop
rule, capacity, the concurrency verdict's bounds, bottlenecks, options, and that the
personas and the tenant check cover the whole catalog."""

from __future__ import annotations

import pytest

from bench.core.errors import BenchError
from bench.judge import verdicts
from bench.loadtest import locust, options, personas, steps, tenancy
from scenarios import all_scenarios

SLO = steps.Slo(p95_ms=100.0, max_failure_ratio=0.01)


def step(users, p95, failures=0.0, requests=1000, **extra):
    record = {"variant": extra.pop("variant", "x"), "users": users, "p95_ms": p95, "failure_ratio": failures,
              "requests": requests, "users_running": users, "pool": {"wait_share": 0.0, "service_mean_ms": 1.0},
              "client": {"bound": False, "cpu_max_percent": 10.0}, **extra}
    record["judgement"] = steps.judge(record, SLO)
    return record


def series(points, **extra):
    return [step(u, p, f, **extra) for u, p, f in points]


def test_a_breach_step_is_detected_on_a_synthetic_series():
    run = series([(10, 20, 0), (20, 45, 0), (50, 90, 0.002), (100, 130, 0), (200, 400, 0)])
    held = [s["judgement"]["held"] for s in run]
    assert held == [True, True, True, False, False]
    assert run[3]["judgement"]["reasons"] == ["p95 130 ms >= 100 ms"] and not run[3]["judgement"]["clear"]
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
    assert "2 breached steps" in steps.should_stop(judged([(10, 20, 0), (20, 120, 0), (50, 150, 0)]))
    assert "clear breach" in steps.should_stop(judged([(10, 20, 0), (20, 250, 0)]))
    assert "clear breach" in steps.should_stop(judged([(10, 20, 0.05)]))


def test_capacity_ignores_a_step_that_holds_again_after_a_breach():
    cap = steps.capacity(series([(10, 20, 0), (20, 120, 0), (50, 60, 0)]))
    assert (cap["users"], cap["first_breach"]) == (10, 20)
    first_fails = steps.capacity(series([(10, 300, 0)]))
    assert (first_fails["users"], first_fails["first_breach"]) == (0, 10)
    everything = steps.capacity(series([(10, 5, 0), (20, 6, 0)]), planned=(10, 20, 50))
    assert everything["at_least"] and everything["users"] == 20 and not everything["all_planned_run"]


def verdict(mine, base, problems=()):
    return steps.concurrency_verdict("hardened", steps.capacity(series(mine)), steps.capacity(series(base)), 10.0,
                                     list(problems))


BASE_BREAKS_AT_20 = [(10, 50, 0), (20, 300, 0)]


def test_confirmed_only_when_the_least_favourable_reading_reaches_10x():
    v = verdict([(10, 5, 0), (50, 5, 0), (200, 8, 0)], BASE_BREAKS_AT_20)  # >= 200 vs < 20
    assert v["verdict"] == verdicts.CONFIRMED and v["figure"]["low"] == 10.0 and v["figure"]["high"] is None
    assert v["claim"] == "concurrency" and v["figure"]["capacity_at_least"]


def test_an_untested_upper_bound_is_inconclusive_not_confirmed():
    v = verdict([(10, 5, 0), (50, 5, 0), (100, 8, 0)], BASE_BREAKS_AT_20)  # >= 100 vs [10, 20): 5x .. inf
    assert v["verdict"] == verdicts.INCONCLUSIVE and "untested upper bound" in v["note"]
    both_hold = verdict([(10, 5, 0), (1000, 5, 0)], [(10, 5, 0), (1000, 50, 0)])  # baseline >= 1000: ratio >= 0
    assert both_hold["verdict"] == verdicts.INCONCLUSIVE and both_hold["figure"]["low"] == 0.0


def test_refuted_when_even_the_most_favourable_reading_misses_10x():
    v = verdict([(10, 5, 0), (50, 5, 0), (100, 300, 0)], BASE_BREAKS_AT_20)  # [50, 100) vs [10, 20): < 10x
    assert v["verdict"] == verdicts.REFUTED and v["figure"]["high"] == 10.0
    base_never_started = verdict([(10, 5, 0), (20, 300, 0)], [(10, 500, 0)])  # baseline in [0, 10): unbounded
    assert base_never_started["verdict"] == verdicts.INCONCLUSIVE


def test_a_baseline_that_misses_the_slo_at_its_lowest_step_is_named_a_latency_finding():
    v = verdict([(20, 5, 0), (500, 80, 0), (1000, 900, 0)], [(20, 130, 0)])  # [500, 1000) vs [0, 20): > 25x
    assert v["verdict"] == verdicts.CONFIRMED and v["figure"]["low"] == 25.0
    assert "baseline missed the SLO at its lowest step (20 users)" in v["note"]
    assert "lowest step" not in verdict([(10, 5, 0), (200, 8, 0)], BASE_BREAKS_AT_20)["note"]


def test_the_concurrency_figure_reads_the_same_in_every_report():
    from bench.judge.text import figure_text

    no_baseline = verdict([(20, 5, 0), (500, 80, 0), (1000, 900, 0)], [(20, 130, 0)])
    assert figure_text(no_baseline) == "500 vs 0 users, ratio [25.0×, ∞]"  # baseline held nothing: no estimate
    untested = verdict([(10, 5, 0), (50, 5, 0), (200, 8, 0)], BASE_BREAKS_AT_20)
    assert figure_text(untested) == "≥ 200 vs 10 users, ratio ≥ 20.0× [10.0×, ∞]"
    bounded = verdict([(10, 5, 0), (50, 5, 0), (100, 300, 0)], BASE_BREAKS_AT_20)
    assert figure_text(bounded) == "50 vs 10 users, ratio 5.0× [2.5×, 10.0×]"


def test_problems_and_a_client_bound_breach_make_it_inconclusive():
    v = verdict([(10, 5, 0), (200, 8, 0)], BASE_BREAKS_AT_20, problems=["hardened: worker lost"])
    assert v["verdict"] == verdicts.INCONCLUSIVE and "worker lost" in v["note"]
    base = series(BASE_BREAKS_AT_20)
    base[1]["client"] = {"bound": True, "cpu_max_percent": 99.0}  # the load generator, not the server, broke
    cap = steps.capacity(base)
    assert not cap["breach_reliable"] and steps.bounds(cap) == (10.0, None)
    mine = steps.capacity(series([(10, 5, 0), (200, 8, 0), (400, 500, 0)]))
    v = steps.concurrency_verdict("hardened", mine, cap, 10.0, [])  # would be confirmed with a reliable baseline
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
    assert set(tenancy.OWNED_ROWS) | set(tenancy.UNCHECKED) == set(catalog)
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
    from bench.report import pending

    first = locust.build_section([run_record("baseline", BASE_BREAKS_AT_20)], {})
    assert first["verdicts"] == []
    second = locust.build_section([run_record("hardened", [(10, 5, 0), (20, 5, 0)], leaks=1)], {}, previous=first)
    assert [r["variant"] for r in second["runs"]] == ["baseline", "hardened"]
    (v,) = second["verdicts"]
    assert v["variant"] == "hardened" and "rows of another tenant" in v["note"]
    assert v["verdict"] == verdicts.INCONCLUSIVE  # >= 20 users vs [10, 20): at least 1x, no upper bound
    assert second["security"]["cross_tenant_requests"] == {"baseline": 0, "hardened": 1}
    assert pending.load_capacity(second) == {"baseline": 10.0, "hardened": 20.0}
    rows = pending.load_steps(second)
    assert {(r["variant"], r["users"]) for r in rows} == {("baseline", 10), ("baseline", 20), ("hardened", 10),
                                                          ("hardened", 20)}
    assert second["slo_ms"] == 100.0
