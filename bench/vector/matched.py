"""Comparison at matched recall: "a faster index that finds fewer true neighbours is not
faster". Pure functions over sweep points (no database), so they are unit-tested on
synthetic curves.

A point is one (configuration, search setting) of a sweep, as a dict with at least
`config`, `setting`, `recall`, `errors` and `round_medians_ms` (per-round median
latency, rounds paired across configurations by their query batch). A configuration's
points are in sweep order, cheapest first.

For each target recall, each configuration's cheapest setting reaching it is selected
(the first in sweep order: the swept parameter only adds work); one that never reaches
it is reported with its best recall, never dropped. That is the setting to deploy.

The comparison holds recall exactly equal: each side's latency at the target is
interpolated (linearly in recall, round by round) between the setting that reaches it
and the one just before it in the sweep. Comparing the reaching settings themselves
would credit whichever side happens to overshoot the target less, and a rebuilt index
(HNSW and IVFFlat builds are randomised) moves a setting across the target, flipping
the verdict between runs; the interpolated figure moves with the curve, a little.
Latencies are compared with a bootstrap interval over the paired rounds, which gives
the `vector_speedup` verdict.
"""

from __future__ import annotations

import numpy as np

from bench import stats, verdicts

CLAIM = "vector_speedup"


def select(points: list[dict], target: float) -> dict | None:
    """The cheapest point reaching `target` recall (points cheapest first), or None.
    A point with failed queries is never selected (its recall covers only the others)."""
    for point in points:
        if usable(point) and point["recall"] >= target:
            return point
    return None


def bracket(points: list[dict], target: float) -> tuple[dict | None, dict] | None:
    """(below, above) around `target`: `above` is select()'s point, `below` the usable
    point just before it in sweep order when it falls short of the target (None when the
    cheapest setting already reaches it). None when nothing reaches the target."""
    ok = [p for p in points if usable(p)]
    for i, point in enumerate(ok):
        if point["recall"] >= target:
            below = ok[i - 1] if i and ok[i - 1]["recall"] < target else None
            return below, point
    return None


def at_recall(below: dict | None, above: dict, target: float) -> tuple[np.ndarray, float]:
    """Per-round latency at exactly `target` recall, and the weight on `above`: linear in
    recall between the bracketing settings; `above` alone when nothing cheaper was
    measured (an upper bound: the cheapest setting already overshoots)."""
    rounds = np.asarray(above["round_medians_ms"], float)
    if below is None:
        return rounds, 1.0
    weight = (target - below["recall"]) / (above["recall"] - below["recall"])
    return (1 - weight) * np.asarray(below["round_medians_ms"], float) + weight * rounds, weight


def usable(point: dict) -> bool:
    return point.get("recall") is not None and not point.get("errors")


def matched(points_by_config: dict[str, list[dict]], variants: dict[str, str], targets: list[float]) -> list[dict]:
    """One record per (target, configuration): the setting chosen, or why there is none."""
    out = []
    for target in targets:
        for name, points in points_by_config.items():
            chosen = select(points, target)
            record = {"target": target, "config": name, "variant": variants.get(name), "reached": chosen is not None}
            if chosen:
                record.update(setting=chosen["setting"], recall=chosen["recall"],
                              p50_ms=chosen.get("latency", {}).get("p50_ms"),
                              mean_ms=chosen.get("latency", {}).get("mean_ms"))
            else:
                ok = [p for p in points if usable(p)]
                best = max(ok, key=lambda p: p["recall"]) if ok else None
                failed = [p["setting"] for p in points if not usable(p)]
                note = (f"cannot reach recall {target:.2f}: best {best['recall']:.3f} at {best['setting']}"
                        if best else "not measured")
                if failed:
                    note += f"; failed queries at {', '.join(failed)}"
                record.update(setting=None, best_recall=best["recall"] if best else None,
                              best_setting=best["setting"] if best else None, note=note)
            out.append(record)
    return out


def compare(points_by_config: dict[str, list[dict]], variants: dict[str, str], reference: str,
            targets: list[float], interleaved: dict[tuple[str, str], dict] | None = None) -> list[dict]:
    """Every other configuration against the reference at each target: latency ratio at
    exactly the target recall (per-round, see at_recall) with its bootstrap interval, and
    improvement. Where every bracketing setting of both sides was measured in the
    interleaved phase (`interleaved[(config, setting)]`), those rounds are used; else the
    sweeps' (measured one after another: paired by query batch, not by time)."""
    interleaved = interleaved or {}
    low = verdicts.targets()[CLAIM]["low"]
    out = []
    ref_points = points_by_config.get(reference, [])
    for target in targets:
        ref_pair = bracket(ref_points, target)
        for name, points in points_by_config.items():
            if name == reference:
                continue
            mine_pair = bracket(points, target)
            mine, ref = mine_pair and mine_pair[1], ref_pair and ref_pair[1]
            record = {"target": target, "config": name, "variant": variants.get(name), "reference": reference,
                      "comparable": False, "setting": mine and mine["setting"],
                      "reference_setting": ref and ref["setting"]}
            reason = _why_not(ref, mine, name, reference, target, points, ref_points)
            if reason:
                out.append({**record, "why": reason[0], "reason": reason[1]})
                continue
            again_mine, again_ref = _remeasured(mine_pair, name, interleaved), _remeasured(ref_pair, reference,
                                                                                          interleaved)
            together = again_mine is not None and again_ref is not None
            if together:
                mine_pair, ref_pair = again_mine, again_ref
                reason = _pair_problem(mine_pair + ref_pair)
                if reason:
                    out.append({**record, "interleaved": True, "why": reason[0], "reason": reason[1]})
                    continue
            mine_rounds, mine_weight = at_recall(*mine_pair, target)
            ref_rounds, ref_weight = at_recall(*ref_pair, target)
            ratio = stats.bootstrap_ratio(mine_rounds, ref_rounds)
            gain = verdicts.improvement(ratio)
            out.append({**record, "comparable": True, "interleaved": together, "recall": mine["recall"],
                        "reference_recall": ref["recall"],
                        "setting_below": mine_pair[0] and mine_pair[0]["setting"], "weight": round(mine_weight, 3),
                        "reference_setting_below": ref_pair[0] and ref_pair[0]["setting"],
                        "reference_weight": round(ref_weight, 3),
                        "median_ms": float(np.mean(mine_rounds)), "reference_median_ms": float(np.mean(ref_rounds)),
                        "median_ratio": ratio.as_dict(), "improvement": gain.as_dict(),
                        "verdict": verdicts.at_least(gain, low)})
    return out


def _remeasured(pair: tuple, name: str, interleaved: dict) -> tuple | None:
    """The bracketing points with their interleaved rounds, or None if one was not re-measured."""
    out = []
    for point in pair:
        if point is not None:
            again = interleaved.get((name, point["setting"]))
            if again is None:
                return None
            point = {**point, **again, "recall": point["recall"]}
        out.append(point)
    return tuple(out)


def _pair_problem(points: tuple) -> tuple[str, str] | None:
    present = [p for p in points if p is not None]
    if any(p.get("errors") for p in present):
        return "errors", "failed queries in the measurement"
    if len({len(p.get("round_medians_ms") or []) for p in present}) != 1 or not present[0].get("round_medians_ms"):
        return "unpaired", "rounds not paired"
    return None


def _why_not(ref, mine, name, reference, target, points, ref_points) -> tuple[str, str] | None:
    """(code, text) of why a comparison cannot be made, or None."""
    if not ref_points:
        return "reference_missing", f"the reference {reference} was not measured"
    if ref is None:
        if any(not usable(p) for p in ref_points):
            return "reference_errors", f"the reference {reference}: failed queries"
        return ("reference_unreached",
                f"the reference {reference} cannot reach recall {target:.2f} (best {_best(ref_points)})")
    if not points:
        return "missing", f"{name} was not measured"
    if mine is None:
        if any(not usable(p) for p in points):
            return "errors", f"{name}: failed queries, no error-free setting reaches recall {target:.2f}"
        return "unreached", f"{name} cannot reach recall {target:.2f} (best {_best(points)})"
    if mine["errors"] or ref["errors"]:
        return "errors", "failed queries in the measurement"
    if not mine["round_medians_ms"] or len(mine["round_medians_ms"]) != len(ref["round_medians_ms"]):
        return "unpaired", "rounds not paired"
    return None


def _best(points: list[dict]) -> str:
    best = max((p for p in points if usable(p)), key=lambda p: p["recall"])
    return f"{best['recall']:.3f} at {best['setting']}"


def verdict_records(comparisons: list[dict], judged: dict[str, str], verdict_target: float) -> list[dict]:
    """One `vector_speedup` verdict per variant, from its judged configuration at the
    verdict target; the other targets' figures go into the note."""
    out = []
    for variant, config in judged.items():
        rows = [c for c in comparisons if c["config"] == config]
        at = next((c for c in rows if c["target"] == verdict_target), None)
        others = "; ".join(_short(c) for c in rows if c["target"] != verdict_target)
        if at is None:
            out.append(verdicts.verdict_record(CLAIM, variant, verdicts.NOT_MEASURED, {},
                                               f"{config} not compared at recall {verdict_target:.2f}"))
            continue
        if not at["comparable"]:
            # cannot reach the level, or failed queries: measured, but nothing to judge by
            status = verdicts.INCONCLUSIVE if at["why"] in ("unreached", "errors", "reference_errors", "unpaired") \
                else verdicts.NOT_MEASURED
            out.append(verdicts.verdict_record(CLAIM, variant, status, {},
                                               f"{at['reason']}; {others}" if others else at["reason"]))
            continue
        gain = at["improvement"]
        note = (f"{config} ({_span(at, '')}) vs {at['reference']} ({_span(at, 'reference_')}) at recall@10 = "
                f"{verdict_target:.2f}, latency interpolated between the settings that bracket it: "
                f"{at['median_ms']:.2f} vs {at['reference_median_ms']:.2f} ms median, "
                + ("interleaved rounds" if at.get("interleaved") else
                   "from sweeps measured one after another (machine drift between them not controlled)"))
        high = verdicts.targets()[CLAIM]["high"]
        if at["verdict"] == verdicts.CONFIRMED and gain["low"] > high:
            note += f"; beyond the claimed {high:.0%}"
        if others:
            note += f"; other levels: {others}"
        out.append(verdicts.verdict_record(CLAIM, variant, at["verdict"], gain, note))
    return out


def _span(comparison: dict, side: str) -> str:
    below, above = comparison.get(f"{side}setting_below"), comparison[f"{side}setting"]
    return f"{below} .. {above}" if below else f"{above}, the cheapest setting swept"


def _short(comparison: dict) -> str:
    if not comparison["comparable"]:
        return f"{comparison['target']:.2f}: {comparison['reason']}"
    g = comparison["improvement"]
    return f"{comparison['target']:.2f}: {g['estimate']:+.0%} [{g['low']:+.0%}, {g['high']:+.0%}]"


def pareto(points: list[dict]) -> list[dict]:
    """Recall-vs-throughput records (one per point and client count), each marked whether
    it is on the front (no other point has both higher recall and higher throughput)."""
    rows = [{"config": p["config"], "setting": p["setting"], "recall": p["recall"], "clients": t["clients"],
             "throughput_rps": t["throughput_rps"], "p50_ms": t.get("p50_ms")}
            for p in points if usable(p) for t in p.get("throughput", []) if t.get("throughput_rps")]
    for row in rows:
        row["front"] = not any(o is not row and o["clients"] == row["clients"] and o["recall"] >= row["recall"]
                               and o["throughput_rps"] >= row["throughput_rps"]
                               and (o["recall"] > row["recall"] or o["throughput_rps"] > row["throughput_rps"])
                               for o in rows)
    return rows
