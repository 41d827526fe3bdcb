"""Verdicts: confirmed / refuted / inconclusive, from a measured figure and its interval
against the review's claim (bench/targets.toml). Never from a point estimate alone.

An improvement claim "60-80%" is read as "at least 60%": exceeding the range still
confirms it (the note says by how much); falling short of its low end refutes it.
"""

from __future__ import annotations

import tomllib
from functools import lru_cache
from pathlib import Path

from bench.stats import Interval

TARGETS_FILE = Path(__file__).with_name("targets.toml")
CONFIRMED, REFUTED, INCONCLUSIVE, NOT_MEASURED = "confirmed", "refuted", "inconclusive", "not measured"


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
