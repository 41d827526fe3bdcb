"""`bench run latency` end to end: measure, explain, judge, and assemble the results
section (scenarios x variants, comparisons with their intervals, verdicts)."""

from __future__ import annotations

import asyncio
import dataclasses

import numpy as np

from bench import results, runner, stats, verdicts
from bench.schema import Variant
from scenarios.base import Scenario

REFERENCE = "baseline"


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
        cells = asyncio.run(runner.measure(dsn, variants, scenarios, population, config, progress, round_done))
    except (KeyboardInterrupt, runner.ConnectionLost) as exc:  # the last complete round stays, with the reason
        save({**last, "interrupted": results.interruption(exc, done, config.rounds)})
        raise
    section = assemble(cells, variants, scenarios, config, config.rounds)
    save(section)
    return section


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
        "hdr": stats.encode(cell.histogram), "explain": dict(plan),
        "pg_stat_statements": cell.statement_totals(plan.get("query_id")),
    }


def _describe(scenario: Scenario) -> dict:
    return {"name": scenario.name, "kind": scenario.kind, "description": scenario.description,
            "weight": scenario.weight, "as_user": scenario.as_user,
            "sql": {key: q.sql for key, q in scenario.queries.items()}}


def _cell(results: list[dict], scenario: str, variant: str) -> dict | None:
    for r in results:
        if r["scenario"] == scenario and r["variant"] == variant and r.get("applicable"):
            return r
    return None


def _comparable(a: dict | None, b: dict | None) -> bool:
    """Both sides measured, error-free, with paired rounds."""
    return bool(a and b and not a["errors"] and not b["errors"] and a["round_medians_ms"]
                and len(a["round_medians_ms"]) == len(b["round_medians_ms"]))


def compare(results: list[dict], scenarios: list[Scenario], variants: list[Variant]) -> list[dict]:
    """Per scenario, each variant's median latency against baseline's, with a bootstrap CI."""
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
            ratio = stats.bootstrap_ratio(np.array(mine["round_medians_ms"]), np.array(base["round_medians_ms"]))
            gain = verdicts.improvement(ratio)
            out.append({"scenario": scenario.name, "variant": variant.name, "comparable": True,
                        "median_ratio": ratio.as_dict(), "improvement": gain.as_dict(),
                        "verdict": verdicts.at_least(gain, verdicts.targets()["query_speedup"]["low"])})
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
            out.append(_speedup_verdict(results, scenarios, variant))
        out.append(_avg_latency_verdict(results, scenarios, variant))
    return out


def _speedup_verdict(results: list[dict], scenarios: list[Scenario], variant: Variant) -> dict:
    pairs = [(_cell(results, s.name, variant.name), _cell(results, s.name, REFERENCE)) for s in scenarios
             if s.kind != "vector"]  # vector search is judged at matched recall (bench run vector)
    pairs = [(a, b) for a, b in pairs if _comparable(a, b)]
    if not pairs:
        return verdicts.verdict_record("query_speedup", variant.name, verdicts.NOT_MEASURED, {},
                                       "no scenario measured on both sides without errors")
    ratio = stats.bootstrap_geomean_ratio([np.array(a["round_medians_ms"]) for a, _ in pairs],
                                          [np.array(b["round_medians_ms"]) for _, b in pairs])
    gain = verdicts.improvement(ratio)
    target = verdicts.targets()["query_speedup"]
    verdict = verdicts.at_least(gain, target["low"])
    note = f"geometric mean over {len(pairs)} scenarios"
    if verdict == verdicts.CONFIRMED and gain.low > target["high"]:
        note += f"; beyond the claimed {target['high']:.0%}"
    return verdicts.verdict_record("query_speedup", variant.name, verdict, gain.as_dict(), note)


def _avg_latency_verdict(results: list[dict], scenarios: list[Scenario], variant: Variant) -> dict:
    every = [(s, _cell(results, s.name, variant.name)) for s in scenarios]
    errors = sum(c["errors"] for _, c in every if c)
    cells = [(s, c) for s, c in every if c and c["round_means_ms"]]
    if not cells:
        return verdicts.verdict_record("avg_latency", variant.name, verdicts.NOT_MEASURED, {})
    rounds = min(len(c["round_means_ms"]) for _, c in cells)
    weights = np.array([s.weight for s, _ in cells])
    per_round = np.array([[c["round_means_ms"][r] for _, c in cells] for r in range(rounds)]) @ weights / weights.sum()
    interval = stats.bootstrap_mean(per_round)
    verdict = verdicts.at_most(interval, verdicts.targets()["avg_latency"]["max_ms"])
    note = f"weighted mean over {len(cells)} scenarios"
    if errors:
        verdict, note = verdicts.INCONCLUSIVE, note + f"; {errors} failed requests not in the mean"
    return verdicts.verdict_record("avg_latency", variant.name, verdict, interval.as_dict(), note)


def unexpected_errors(results: list[dict]) -> int:
    """Failed requests that no scenario declared as a known defect of that variant."""
    return sum(r.get("errors", 0) for r in results if not r.get("expected_failure"))


def surprises(results: list[dict]) -> list[str]:
    """Declared defects that did not show: the schema or the scenario changed."""
    return [f"{r['scenario']} on {r['variant']}" for r in results
            if r.get("expected_failure") and not r.get("errors") and r.get("latency", {}).get("count")]
