"""`bench run latency` end to end: measure, explain, judge, and assemble the results
section (scenarios x variants, comparisons with their intervals, verdicts)."""

from __future__ import annotations

import asyncio
import dataclasses
import signal

from bench.core.errors import ConnectionLost
from bench.core.schema import REFERENCE, Variant
from bench.judge import results, stats, verdicts
from bench.latency import runner
from bench.session import MERGED
from scenarios.base import Scenario
from scenarios.catalog import MAX_REQUESTS, WRITE_BILL

WRITE_BILL_REASON = "write bill: reported beside the query claims (read gain / write cost), not judged by them"


def run(dsn: str, variants: list[Variant], scenarios: list[Scenario], population,
        config: runner.LatencyConfig, progress=None, save=None) -> dict:
    """The latency section. With `save`, the section so far is saved after every complete
    round (marked interrupted until the run ends: a killed run says so), and once more with
    the reason when a signal or a lost connection stops the run, which then propagates."""
    save = save or (lambda section: None)
    last, done = assemble(runner.cells_for(scenarios, variants), variants, scenarios, config, 0), 0
    save(last)

    def round_done(cells, rounds_done: int) -> None:
        nonlocal last, done
        last, done = assemble(cells, variants, scenarios, config, rounds_done), rounds_done
        save(last)

    try:
        cells = _run_until_sigterm(runner.measure(dsn, variants, scenarios, population, config, progress, round_done))
    except (KeyboardInterrupt, ConnectionLost) as exc:  # the last complete round stays, with the reason
        save({**last, "interrupted": results.interruption(exc, done, config.rounds)})
        raise
    section = assemble(cells, variants, scenarios, config, config.rounds)
    save(section)
    return section


def _run_until_sigterm(measuring):
    """asyncio.run, with SIGTERM handled as asyncio handles SIGINT: the main task is
    cancelled and unwinds (connections closed), then Interrupted is raised outside the
    loop. The CLI's handler would raise in the middle of the loop instead, and asyncio's
    shutdown could then wait forever on a half-cancelled task (a test run hung so)."""
    terminated = []

    async def main():
        task = asyncio.current_task()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, lambda: (terminated.append(1), task.cancel()))
        try:
            return await measuring
        except asyncio.CancelledError:
            if terminated:
                return None
            raise

    previous = signal.getsignal(signal.SIGTERM)
    try:
        outcome = asyncio.run(main())
    finally:
        if previous is not None:  # the loop leaves SIG_DFL behind
            signal.signal(signal.SIGTERM, previous)
    if terminated:
        raise results.Interrupted("SIGTERM")
    return outcome


def assemble(cells: dict, variants: list[Variant], scenarios: list[Scenario], config: runner.LatencyConfig,
             rounds_done: int) -> dict:
    """The section from the cells after `rounds_done` complete rounds (a snapshot: later
    rounds do not change it). Short of the planned rounds it carries `interrupted`."""
    results_ = [_result(scenario, variant, cells.get((scenario.name, variant.name)))
                for scenario in scenarios for variant in variants]
    comparisons = compare(results_, scenarios, variants)
    judged = latency_verdicts(results_, comparisons, scenarios, variants)
    section = {"config": dataclasses.asdict(config), "scenarios": [_describe(s) for s in scenarios],
               "results": results_, "comparisons": comparisons, "verdicts": judged}
    if rounds_done < config.rounds:
        section["interrupted"] = results.interruption(results.IN_PROGRESS, rounds_done, config.rounds)
        for v in judged:
            v["note"] = "; ".join(filter(None, [v.get("note"), f"only {rounds_done} of {config.rounds} rounds "
                                                "(run interrupted)"]))
    return section


SEPARATE_RUNS_NOTE = ("{kept} measured by an earlier --only run of the same dataset: its runs and the "
                      "variant's are not interleaved, so drift between the two invocations is not in the interval")


def merge_kept(kept: dict, new: dict) -> dict:
    """`new`'s cells with those of the variants only `kept` holds (an earlier `--only` run of
    the same dataset), compared and judged again over all of them. Scenarios are `new`'s."""
    from bench.core import schema as schemas
    from scenarios import select as select_scenarios

    mine = {r["variant"] for r in new["results"]}
    results_ = [r for r in kept.get("results", []) if r["variant"] not in mine] + new["results"]
    names = [s["name"] for s in new["scenarios"]]
    order = {name: i for i, name in enumerate(names)}
    variants = [v for v in schemas.variants() if any(r["variant"] == v.name for r in results_)]
    rank = {v.name: i for i, v in enumerate(variants)}
    results_ = sorted((r for r in results_ if r["scenario"] in order),
                      key=lambda r: (order[r["scenario"]], rank[r["variant"]]))
    scenarios = select_scenarios(names)
    comparisons = compare(results_, scenarios, variants)
    judged = latency_verdicts(results_, comparisons, scenarios, variants)
    kept_names = sorted({r["variant"] for r in results_} - mine)
    for v in judged:
        v["note"] = "; ".join(filter(None, [v.get("note"), SEPARATE_RUNS_NOTE.format(kept=", ".join(kept_names))]))
    return {**new, "results": results_, "comparisons": comparisons, "verdicts": judged,
            MERGED: {"variants": kept_names, "config": kept.get("config")}}


def _result(scenario: Scenario, variant: Variant, cell: runner.Cell | None) -> dict:
    if cell is None:
        return {"scenario": scenario.name, "variant": variant.name, "applicable": False}
    plan = cell.plan
    return {
        "scenario": scenario.name, "variant": variant.name, "kind": scenario.kind, "applicable": True,
        "expected_failure": scenario.expected_failures.get(variant.name),
        "latency": stats.summary(cell.histogram, cell.seconds), "errors": cell.errors,
        "error_samples": list(cell.error_samples), "rows_returned": cell.rows,
        "round_medians_ms": list(cell.round_medians_ms), "round_means_ms": list(cell.round_means_ms),
        "round_runs": list(cell.round_runs), "round_hdr": [stats.encode(h) for h in cell.round_histograms],
        "hdr": stats.encode(cell.histogram), "explain": dict(plan),
        "pg_stat_statements": cell.statement_totals(plan.get("query_id")),
    }


def _describe(scenario: Scenario) -> dict:
    return {"name": scenario.name, "kind": scenario.kind, "description": scenario.description,
            "weight": scenario.weight, "as_user": scenario.as_user, "max_requests": MAX_REQUESTS.get(scenario.name),
            "in_claims": scenario.name not in WRITE_BILL,
            "sql": {key: q.sql for key, q in scenario.queries.items()}}


def _cell(results: list[dict], scenario: str, variant: str) -> dict | None:
    for r in results:
        if r["scenario"] == scenario and r["variant"] == variant and r.get("applicable"):
            return r
    return None


def _comparable(a: dict | None, b: dict | None) -> bool:
    """Both sides measured, error-free, with paired rounds (the same rounds of the same runs)."""
    return bool(a and b and not a["errors"] and not b["errors"] and a["round_medians_ms"]
                and len(a["round_medians_ms"]) == len(b["round_medians_ms"])
                and a.get("round_runs") == b.get("round_runs"))


def compare(results: list[dict], scenarios: list[Scenario], variants: list[Variant]) -> list[dict]:
    """Per scenario, each variant's median latency against baseline's, with its interval
    over runs (stats.ratio_over_runs): the time reduction, the speed ratio beside it, and
    whether it is slower beyond noise."""
    out = []
    for variant in variants:
        if variant.name == REFERENCE:
            continue
        for scenario in scenarios:
            mine, base = _cell(results, scenario.name, variant.name), _cell(results, scenario.name, REFERENCE)
            if not _comparable(mine, base):
                out.append({"scenario": scenario.name, "variant": variant.name, "comparable": False,
                            "reason": _why_not(mine, base)})
                continue
            ratio = stats.ratio_over_runs(mine["round_medians_ms"], base["round_medians_ms"], mine.get("round_runs"))
            gain = verdicts.improvement(ratio)
            out.append({"scenario": scenario.name, "variant": variant.name, "comparable": True,
                        "median_ratio": ratio.as_dict(), "improvement": gain.as_dict(),
                        "speed_ratio": verdicts.speed_ratio(ratio).as_dict(),
                        "verdict": verdicts.at_least(gain, verdicts.targets()["query_speedup"]["low"]),
                        "regression": verdicts.is_regression(ratio)})
    return out


def _why_not(mine: dict | None, base: dict | None) -> str:
    if not base:
        return "baseline has no such query"
    if not mine:
        return "the variant has no such query"
    if mine["errors"] or base["errors"]:
        return "errors in the run"
    return "rounds not paired"


def latency_verdicts(results: list[dict], comparisons: list[dict], scenarios: list[Scenario],
                     variants: list[Variant]) -> list[dict]:
    out = []
    for variant in variants:
        if variant.name != REFERENCE:
            out.append(_speedup_verdict(results, comparisons, scenarios, variant))
        out.append(_avg_latency_verdict(results, comparisons, scenarios, variant))
    for claim in ("query_speedup", "avg_latency"):
        _name_set_differences([v for v in out if v["claim"] == claim and "scenarios" in v])
    return out


def _write_bill(scenarios: list[Scenario]) -> list[dict]:
    """The write-bill scenarios, left out of the query claims and said so (scenarios/catalog)."""
    return [{"scenario": s.name, "reason": WRITE_BILL_REASON} for s in scenarios if s.name in WRITE_BILL]


def _comparison(comparisons: list[dict], scenario: str, variant: str) -> dict:
    return next((c for c in comparisons if c["scenario"] == scenario and c["variant"] == variant), {})


def _speedup_verdict(results: list[dict], comparisons: list[dict], scenarios: list[Scenario],
                     variant: Variant) -> dict:
    """Per scenario first (its own verdict, regression, far beyond the claim), then the
    geometric mean over them with a scenarios-and-rounds interval; the rule is
    verdicts.aggregate_verdict."""
    target, pairs, excluded = verdicts.targets()["query_speedup"], [], _write_bill(scenarios)
    for s in scenarios:
        if s.kind == "vector" or s.name in WRITE_BILL:  # vector search is judged at matched recall (bench run vector)
            continue
        mine, base = _cell(results, s.name, variant.name), _cell(results, s.name, REFERENCE)
        if _comparable(mine, base):
            pairs.append((s, mine, base))
        else:
            excluded.append({"scenario": s.name, "reason": _why_not(mine, base)})
    if not pairs:
        return verdicts.verdict_record("query_speedup", variant.name, verdicts.NOT_MEASURED, {},
                                       "no scenario measured on both sides without errors")
    rows = [_speedup_row(_comparison(comparisons, s.name, variant.name), s) for s, _, _ in pairs]
    rounds, runs = _replication(pairs[0][1])
    ratio = stats.hierarchical_geomean_ratio([_series(a, "round_medians_ms") for _, a, _ in pairs],
                                             [_series(b, "round_medians_ms") for _, _, b in pairs],
                                             rounds=rounds, runs=runs)
    gain, speed = verdicts.improvement(ratio), verdicts.speed_ratio(ratio)
    share = verdicts.scenario_share("query_speedup", [r["verdict"] for r in rows])
    regressions = [r["scenario"] for r in rows if r["regression"]]
    verdict = verdicts.aggregate_verdict("query_speedup", verdicts.at_least(gain, target["low"]), share, regressions)
    far = verdicts.far_beyond_speed("query_speedup")
    notes = _scenario_notes(share, regressions, [r["scenario"] for r in rows if r["far_beyond"]], far)
    notes.append(f"geometric mean over {len(rows)} scenarios; {aggregate_interval(runs)}")
    if speed.low >= far:
        notes.insert(0, f"the aggregate itself is far beyond the claim (≥ {far:.0f}× as fast)")
    elif gain.low > target["high"]:
        notes.append(f"beyond the claimed {target['high']:.0%}")
    record = verdicts.verdict_record("query_speedup", variant.name, verdict,
                                     {**gain.as_dict(), "scenarios": len(rows), "speed_ratio": speed.as_dict()},
                                     "; ".join(notes))
    record.update(scenarios=rows, share=share, regressions=regressions,
                  far_beyond=[r["scenario"] for r in rows if r["far_beyond"]], excluded=excluded)
    return record


def aggregate_interval(runs: int | None) -> str:
    """What an aggregate's interval covers, in a verdict's note."""
    if runs:
        return (f"interval resamples scenarios, then runs in each ({runs} runs, each with new connections, fresh "
                "ANALYZE and its own warm-up): it covers the spread between scenarios and between runs")
    return ("interval resamples scenarios, then rounds in each: it covers the spread between scenarios and between "
            "rounds of one run, not between runs")


def _replication(cell: dict) -> tuple[int, int | None]:
    """(rounds, runs) behind a cell's figures; runs is None for a single run."""
    runs = len(set(cell.get("round_runs") or [0]))
    return len(cell["round_medians_ms"]), (runs if runs > 1 else None)


def _series(cell: dict, key: str) -> list[float]:
    """A cell's per-run means of `key` when it has several runs (the unit of replication),
    else its per-round values."""
    if _replication(cell)[1]:
        return stats.run_means(cell[key], cell["round_runs"]).tolist()
    return list(cell[key])



def _speedup_row(comp: dict, scenario: Scenario) -> dict:
    speed = comp["speed_ratio"]
    return {"scenario": scenario.name, "kind": scenario.kind, "change": comp["improvement"], "speed_ratio": speed,
            "verdict": comp["verdict"], "regression": comp["regression"],
            "far_beyond": speed["rounds"] >= verdicts.targets()["min_rounds"]
            and speed["low"] >= verdicts.far_beyond_speed("query_speedup")}


def _scenario_notes(share: dict, regressions: list[str], far: list[str], far_speed: float | None) -> list[str]:
    notes = [f"{share['meets']} of {share['of']} scenarios meet it on their own"
             + (f" ({share['inconclusive']} inconclusive)" if share["inconclusive"] else "")]
    if regressions:
        notes.append(f"slower than baseline beyond noise: {', '.join(regressions)}")
    if far:
        notes.append(f"far beyond the claim (≥ {far_speed:.0f}× as fast): {', '.join(far)}")
    return notes


def _avg_latency_verdict(results: list[dict], comparisons: list[dict], scenarios: list[Scenario],
                         variant: Variant) -> dict:
    every = [(s, _cell(results, s.name, variant.name)) for s in scenarios if s.name not in WRITE_BILL]
    errors = sum(c["errors"] for _, c in every if c)
    cells = [(s, c) for s, c in every if c and c["round_means_ms"]]
    if not cells:
        return verdicts.verdict_record("avg_latency", variant.name, verdicts.NOT_MEASURED, {})
    max_ms = verdicts.targets()["avg_latency"]["max_ms"]
    rows = [_avg_row(s, c, _comparison(comparisons, s.name, variant.name), max_ms) for s, c in cells]
    rounds, runs = _replication(cells[0][1])
    interval = stats.hierarchical_weighted_mean([_series(c, "round_means_ms") for _, c in cells],
                                                [s.weight for s, _ in cells], rounds=rounds, runs=runs)
    share = verdicts.scenario_share("avg_latency", [r["verdict"] for r in rows])
    regressions = [r["scenario"] for r in rows if r["regression"]]
    verdict = verdicts.aggregate_verdict("avg_latency", verdicts.at_most(interval, max_ms), share, regressions)
    notes = _scenario_notes(share, regressions, [], None)
    notes.append(f"weighted mean over {len(cells)} scenarios; {aggregate_interval(runs)}")
    if errors:
        verdict = verdicts.INCONCLUSIVE
        notes.append(f"{errors} failed requests not in the mean")
    record = verdicts.verdict_record("avg_latency", variant.name, verdict,
                                     {**interval.as_dict(), "scenarios": len(cells)}, "; ".join(notes))
    excluded = [{"scenario": s.name, "reason": "not applicable" if not c else "every request failed"}
                for s, c in every if not (c and c["round_means_ms"])] + _write_bill(scenarios)
    record.update(scenarios=rows, share=share, regressions=regressions, excluded=excluded)
    return record


def _avg_row(scenario: Scenario, cell: dict, comp: dict, max_ms: float) -> dict:
    mean = stats.mean_over_runs(cell["round_means_ms"], cell.get("round_runs"))
    return {"scenario": scenario.name, "kind": scenario.kind, "mean_ms": mean.as_dict(),
            "verdict": verdicts.at_most(mean, max_ms), "regression": bool(comp.get("regression"))}


def _name_set_differences(records: list[dict]) -> None:
    """Variants judged over different scenarios say so, naming what each lacks and why."""
    sets = {v["variant"]: {r["scenario"] for r in v["scenarios"]} for v in records}
    union = set().union(*sets.values()) if sets else set()
    lacking = []
    for v in records:
        why = {e["scenario"]: e["reason"] for e in v["excluded"]}
        gaps = sorted(union - sets[v["variant"]])
        if gaps:
            lacking.append(f"{v['variant']} lacks " + ", ".join(f"{g} ({why.get(g, 'not measured')})" for g in gaps))
    for v in records:
        if lacking:
            v["note"] += "; not the same scenarios for every variant: " + "; ".join(lacking)


def unexpected_errors(results: list[dict]) -> int:
    """Failed requests that no scenario declared as a known defect of that variant."""
    return sum(r.get("errors", 0) for r in results if not r.get("expected_failure"))


def surprises(results: list[dict]) -> list[str]:
    """Declared defects that did not show: the schema or the scenario changed."""
    return [f"{r['scenario']} on {r['variant']}" for r in results
            if r.get("expected_failure") and not r.get("errors") and r.get("latency", {}).get("count")]
