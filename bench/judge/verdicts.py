"""Verdicts: confirmed / refuted / inconclusive, from a measured figure and its interval
against the review's claim (bench/judge/targets.toml). Never from a point estimate alone.

An improvement claim "60-80%" is read as "at least 60%": exceeding the range still
confirms it (the note says by how much); falling short of its low end refutes it.
"""

from __future__ import annotations

import tomllib
from functools import lru_cache
from pathlib import Path

from bench.judge.stats import Interval

TARGETS_FILE = Path(__file__).with_name("targets.toml")
CONFIRMED, REFUTED, INCONCLUSIVE, NOT_MEASURED = "confirmed", "refuted", "inconclusive", "not measured"
# The compared things are the same at this scale (e.g. one index under two rules): no
# difference can be measured, so the figure would be a tautological 0% (docs/decisions.md).
NOT_MEASURABLE = "not measurable"


@lru_cache(maxsize=1)
def targets() -> dict:
    with TARGETS_FILE.open("rb") as f:
        return tomllib.load(f)


def at_least(interval: Interval, low: float) -> str:
    """The measured quantity must reach `low` (e.g. improvement >= 0.60)."""
    if interval.samples < targets()["min_rounds"]:
        return INCONCLUSIVE
    if interval.low >= low:
        return CONFIRMED
    if interval.high < low:
        return REFUTED
    return INCONCLUSIVE


def at_least_bound(interval: Interval, low: float, bound: str | None) -> str:
    """at_least() for a figure that may only bound the quantity: "lower" (the true value is
    at least the figure) can confirm but not refute, "upper" can refute but not confirm,
    "none" (no bound either way) decides nothing; None is an ordinary figure."""
    verdict = at_least(interval, low)
    if bound == "none" or (bound == "lower" and verdict == REFUTED) or (bound == "upper" and verdict == CONFIRMED):
        return INCONCLUSIVE
    return verdict


def at_most(interval: Interval, high: float) -> str:
    """The measured quantity must stay below `high` (e.g. mean latency < 100 ms)."""
    if interval.samples < targets()["min_rounds"]:
        return INCONCLUSIVE
    if interval.high < high:
        return CONFIRMED
    if interval.low >= high:
        return REFUTED
    return INCONCLUSIVE


def improvement(ratio: Interval) -> Interval:
    """A latency ratio variant/baseline as an improvement 1 - ratio (bounds swap)."""
    return Interval(1 - ratio.estimate, 1 - ratio.high, 1 - ratio.low, ratio.samples)


def storage_verdict(reduction: float) -> str:
    """Storage is measured exactly (bytes of the same rows): no interval to straddle."""
    return CONFIRMED if reduction >= targets()["storage"]["low"] else REFUTED


def verdict_record(claim_id: str, variant: str, verdict: str, figure: dict, note: str = "") -> dict:
    claim = targets()[claim_id]
    return {"claim": claim_id, "claim_text": claim["claim"], "metric": claim["metric"], "variant": variant,
            "verdict": verdict, "figure": figure, "note": note}


# ---- aggregate claims: every scenario counts (docs/decisions.md) ------------------------
MEETS = {CONFIRMED: "meets", REFUTED: "misses", INCONCLUSIVE: "inconclusive"}  # a scenario's verdict, as shown


def speed_ratio(ratio: Interval) -> Interval:
    """The other reading of "X% faster", t_baseline / t_variant, from the time ratio
    t_variant / t_baseline (bounds swap)."""
    def inverse(x: float) -> float:
        return float("inf") if x == 0 else 1 / x

    return Interval(inverse(ratio.estimate), inverse(ratio.high), inverse(ratio.low), ratio.samples)


def far_beyond_speed(claim_id: str) -> float | None:
    """The speed ratio from which a gain is reported as far beyond the claim: `far_beyond`
    times the speed ratio of the claim's upper end (80% less time is 5x: 10 x 5x = 50x)."""
    claim = targets()[claim_id]
    return claim["far_beyond"] / (1 - claim["high"]) if "far_beyond" in claim else None


def is_regression(ratio: Interval) -> bool:
    """Slower than baseline beyond noise: the whole interval of t_variant / t_baseline lies
    above 1, from enough rounds to judge at all."""
    return ratio.samples >= targets()["min_rounds"] and ratio.low > 1


def scenario_share(claim_id: str, scenario_verdicts: list[str]) -> dict:
    """How many scenarios meet the claim on their own. The share lies between `low` (the
    confirmed ones) and `high` (confirmed or inconclusive), by the scenarios' own intervals."""
    n = len(scenario_verdicts)
    meets, unsure = scenario_verdicts.count(CONFIRMED), scenario_verdicts.count(INCONCLUSIVE)
    return {"meets": meets, "inconclusive": unsure, "misses": n - meets - unsure, "of": n,
            "low": meets / n if n else None, "high": (meets + unsure) / n if n else None,
            "needed_above": targets()[claim_id]["scenario_share"]}


def aggregate_verdict(claim_id: str, aggregate: str, share: dict, regressions: list[str]) -> str:
    """A claim about queries in general holds when the aggregate interval meets it, MORE
    than `scenario_share` of the scenarios meet it on their own, and (where
    `regressions_decide`) no scenario got slower beyond noise. Refuted when any of these
    certainly fails, inconclusive when one depends on intervals that straddle."""
    claim = targets()[claim_id]
    needed = claim["scenario_share"]
    blocked = bool(regressions) and claim.get("regressions_decide", False)
    if aggregate == REFUTED or share["high"] <= needed or blocked:
        return REFUTED
    if aggregate == CONFIRMED and share["low"] > needed:
        return CONFIRMED
    return INCONCLUSIVE
