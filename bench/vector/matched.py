"""Comparison at matched recall: "a faster index that finds fewer true neighbours is not
faster". Pure functions over sweep points (no database), so they are unit-tested on
synthetic curves.

A point is one (configuration, search setting) of a sweep, as a dict with at least
`config`, `setting`, `recall`, `errors` and `round_medians_ms` (per-round median
latency, rounds paired across configurations by their query batch). A configuration's
points are in sweep order, cheapest first.

For each target recall, each configuration's cheapest setting reaching it is selected
(the first in sweep order: the swept parameter only adds work); one that never reaches
it is reported with its best recall, never dropped. Latencies are compared there with a
bootstrap interval over rounds, which gives the `vector_speedup` verdict.
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
    """Every other configuration against the reference at each target: latency ratio
    (per-round medians, paired by round) with its bootstrap interval, and improvement.
    Where both sides' selected settings were measured in the interleaved phase
    (`interleaved[(config, setting)]`), those rounds are used; else the sweeps' (measured
    one after another: paired by query batch, not by time)."""
    interleaved = interleaved or {}
    low = verdicts.targets()[CLAIM]["low"]
    out = []
    ref_points = points_by_config.get(reference, [])
    for target in targets:
        ref = select(ref_points, target)
        for name, points in points_by_config.items():
            if name == reference:
                continue
            mine = select(points, target)
            record = {"target": target, "config": name, "variant": variants.get(name), "reference": reference,
                      "comparable": False, "setting": mine and mine["setting"],
                      "reference_setting": ref and ref["setting"]}
            reason = _why_not(ref, mine, name, reference, target, points, ref_points)
            if reason:
                out.append({**record, "why": reason[0], "reason": reason[1]})
                continue
            a, b = interleaved.get((name, mine["setting"])), interleaved.get((reference, ref["setting"]))
            together = a is not None and b is not None
            if together:
                mine, ref = {**mine, **a, "recall": mine["recall"]}, {**ref, **b, "recall": ref["recall"]}
                reason = _why_not(ref, mine, name, reference, target, points, ref_points)
                if reason:
                    out.append({**record, "interleaved": True, "why": reason[0], "reason": reason[1]})
                    continue
            ratio = stats.bootstrap_ratio(np.array(mine["round_medians_ms"]), np.array(ref["round_medians_ms"]))
            gain = verdicts.improvement(ratio)
            out.append({**record, "comparable": True, "interleaved": together, "recall": mine["recall"],
                        "reference_recall": ref["recall"], "median_ms": float(np.mean(mine["round_medians_ms"])),
                        "reference_median_ms": float(np.mean(ref["round_medians_ms"])),
                        "median_ratio": ratio.as_dict(), "improvement": gain.as_dict(),
                        "verdict": verdicts.at_least(gain, low)})
    return out


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
        note = (f"{config} ({at['setting']}) vs {at['reference']} ({at['reference_setting']}) at recall@10 >= "
                f"{verdict_target:.2f}: {at['median_ms']:.2f} vs {at['reference_median_ms']:.2f} ms median, "
                + ("interleaved rounds" if at.get("interleaved") else
                   "from sweeps measured one after another (machine drift between them not controlled)"))
        high = verdicts.targets()[CLAIM]["high"]
        if at["verdict"] == verdicts.CONFIRMED and gain["low"] > high:
            note += f"; beyond the claimed {high:.0%}"
        if others:
            note += f"; other levels: {others}"
        out.append(verdicts.verdict_record(CLAIM, variant, at["verdict"], gain, note))
    return out


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
