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
the `vector_speedup` verdict. Three cases say what happened instead of a plain figure
(docs/decisions.md, "Vector verdicts"):
- a configuration that is the reference's own index at this row count is not compared:
  `not measurable`, with the row count and scales at which the two differ;
- a side that never reaches the target: `cannot reach recall X` with its best recall
  and setting in place of the figure (inconclusive);
- a side whose cheapest setting already overshoots the target: its latency is only an
  upper bound, so the improvement is a bound (`≥` or `≤`) that can decide one way only.
"""

from __future__ import annotations

import math

import numpy as np

from bench.judge import stats, verdicts
from bench.judge import text as txt

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
            targets: list[float], interleaved: dict[tuple[str, str], dict] | None = None,
            same_index: dict[str, dict] | None = None) -> list[dict]:
    """Every other configuration against the reference at each target: latency ratio at
    exactly the target recall (per-round, see at_recall) with its bootstrap interval, and
    improvement. Where every bracketing setting of both sides was measured in the
    interleaved phase (`interleaved[(config, setting)]`), those rounds are used; else the
    sweeps' (measured one after another: paired by query batch, not by time).
    `same_index[config]` (configs.same_index against the reference) marks a configuration
    that is the reference's own index at this row count: not compared (not measurable)."""
    interleaved, same_index = interleaved or {}, same_index or {}
    ref_points = points_by_config.get(reference, [])
    return [_compare_one(target, name, points, reference, ref_points, variants.get(name), interleaved,
                         same_index.get(name))
            for target in targets for name, points in points_by_config.items() if name != reference]


def _compare_one(target, name, points, reference, ref_points, variant, interleaved, same) -> dict:
    ref_pair, mine_pair = bracket(ref_points, target), bracket(points, target)
    mine, ref = mine_pair and mine_pair[1], ref_pair and ref_pair[1]
    record = {"target": target, "config": name, "variant": variant, "reference": reference,
              "comparable": False, "setting": mine and mine["setting"], "reference_setting": ref and ref["setting"]}
    if same:  # one index measured under two names: its ratio to itself is 1 by construction
        return {**record, "why": "same_index", "reason": same_index_text(name, same), "same_index": same}
    reason = _why_not(ref, mine, name, reference, target, points, ref_points)
    if reason:
        return {**record, **_unreached(reason[0], name, points, reference, ref_points, target),
                "why": reason[0], "reason": reason[1]}
    again_mine, again_ref = _remeasured(mine_pair, name, interleaved), _remeasured(ref_pair, reference, interleaved)
    together = again_mine is not None and again_ref is not None
    if together:
        mine_pair, ref_pair = again_mine, again_ref
        reason = _pair_problem(mine_pair + ref_pair)
        if reason:
            return {**record, "interleaved": True, "why": reason[0], "reason": reason[1]}
    return {**record, **_measured(mine_pair, ref_pair, target), "interleaved": together}


def _measured(mine_pair: tuple, ref_pair: tuple, target: float) -> dict:
    """The comparison at exactly `target` and its verdict. A side whose cheapest setting
    already overshoots the target has only an upper bound of its latency there (a cheaper
    setting, not swept, might reach the target faster), and so bounds the improvement."""
    mine_rounds, mine_weight = at_recall(*mine_pair, target)
    ref_rounds, ref_weight = at_recall(*ref_pair, target)
    ratio = stats.bootstrap_ratio(mine_rounds, ref_rounds)
    gain = verdicts.improvement(ratio)
    log_ratios = np.log(mine_rounds / ref_rounds)  # per query batch: what pooling builds adds up (combine_builds)
    mine_upper, ref_upper = mine_pair[0] is None, ref_pair[0] is None
    bound = improvement_bound(mine_upper, ref_upper)
    return {"comparable": True, "recall": mine_pair[1]["recall"], "reference_recall": ref_pair[1]["recall"],
            "setting_below": mine_pair[0] and mine_pair[0]["setting"], "weight": round(mine_weight, 3),
            "reference_setting_below": ref_pair[0] and ref_pair[0]["setting"],
            "reference_weight": round(ref_weight, 3),
            "median_ms": float(np.mean(mine_rounds)), "reference_median_ms": float(np.mean(ref_rounds)),
            "latency_upper_bound": mine_upper, "reference_latency_upper_bound": ref_upper,
            "improvement_bound": bound, "median_ratio": ratio.as_dict(), "improvement": gain.as_dict(),
            "round_log_ratios": [round(float(x), 6) for x in log_ratios],
            "verdict": verdicts.at_least_bound(gain, verdicts.targets()[CLAIM]["low"], bound)}


def improvement_bound(mine_upper: bool, ref_upper: bool) -> str | None:
    """What the improvement 1 - mine/ref is when a side's latency is only an upper bound:
    mine at most the figure -> the improvement at least it ("lower" bound); the reference's
    -> at most it ("upper"); both -> no bound ("none"); neither -> None, the figure itself."""
    if mine_upper and ref_upper:
        return "none"
    return "lower" if mine_upper else "upper" if ref_upper else None


def same_index_text(name: str, same: dict) -> str:
    """Why there is no figure: the same index, and where (row count, named scales) it is not."""
    text = (f"{name} builds the same index as {same['same_index_as']} at {same['rows']:,} rows "
            f"({_params(same['build'])}): not measurable at this scale")
    if same.get("differ_from_rows") is None:
        return text + "; they are the same index at every size"
    scales = "; ".join(f"{s['scale']}, {s['rows']:,} rows: {_params(s['build'])} vs {_params(s['other_build'])}"
                       for s in same.get("differ_at_scales", []))
    return text + f"; they differ from {same['differ_from_rows']:,} rows" + (f" ({scales})" if scales else "")


def _params(build: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in build.items())


def _unreached(why: str, name, points, reference, ref_points, target) -> dict:
    """For a side that cannot reach `target`: its best recall and setting (the figure)."""
    side = {"unreached": ("variant", name, points), "reference_unreached": ("reference", reference, ref_points)}
    if why not in side:
        return {}
    which, config, pts = side[why]
    best = _best_point(pts)
    return {"cannot_reach": {"cannot_reach_recall": target, "side": which, "config": config,
                             "best_recall": best["recall"], "best_setting": best["setting"]}}


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


def _best_point(points: list[dict]) -> dict:
    return max((p for p in points if usable(p)), key=lambda p: p["recall"])


def _best(points: list[dict]) -> str:
    best = _best_point(points)
    return f"{best['recall']:.3f} at {best['setting']}"


def verdict_records(comparisons: list[dict], judged: dict[str, str], verdict_target: float,
                    later_builds: list[list[dict]] = ()) -> list[dict]:
    """One `vector_speedup` verdict per variant, from its judged configuration at the
    verdict target; the other targets' figures go into the note. `later_builds`: the same
    comparisons on the second, third ... build of each index (combine_builds)."""
    out = []
    for variant, config in judged.items():
        records, compared = [], []
        for build in [comparisons, *later_builds]:
            rows = [c for c in build if c["config"] == config]
            if not rows and records:  # this build of the index was not kept: nothing to add
                continue
            at = next((c for c in rows if c["target"] == verdict_target), None)
            others = "; ".join(_short(c) for c in rows if c["target"] != verdict_target)
            records.append(_verdict(variant, config, at, others, verdict_target))
            compared.append(at)
        out.append(combine_builds(records, compared))
    return out


def combine_builds(records: list[dict], compared: list[dict | None]) -> dict:
    """One verdict from each build's record and comparison (build 1 first). Builds whose
    per-batch log ratios agree within round noise (F test, p >= BUILDS_ALPHA; round r of
    every build ran the same query batch) are pooled and judged once: averaging builds
    shrinks the timing noise that dominates a round. Builds that differ beyond it are
    judged by a t interval over their means when there are at least
    MIN_BUILDS_FOR_INTERVAL; fewer, or builds without a figure each, keep the replication
    rule: the word every build gives, else inconclusive (a rebuild could flip it), the
    figure spanning every build's interval."""
    first = records[0]
    if len(records) == 1:
        return _one_build(first, compared[0])
    each = ", ".join(f"{txt.figure_text(r, short=True)} ({r['verdict']})" for r in records)
    builds = [{"verdict": r["verdict"], "figure": r["figure"]} for r in records]
    pooled = _pooled(compared)
    if pooled is None:
        return {**first, **_agreement(records, each, ""), "builds": builds}
    figure, verdict, ci = pooled
    if ci.builds_p < BUILDS_ALPHA:
        differ = f"the builds differ beyond round noise (F test p = {ci.builds_p:.2g}); "
        if len(records) < MIN_BUILDS_FOR_INTERVAL:
            return {**first, **_agreement(records, each, differ), "builds": builds}
        figure, verdict = _over_builds(compared)
        note = (f"{len(records)} builds of each index: {differ}the interval is a t over the builds' means "
                f"({len(records) - 1} degrees of freedom): it covers the spread between builds; each build alone: "
                f"{each}. Build 1: {first['note']}")
        return {**first, "verdict": verdict, "figure": figure, "note": note, "builds": builds}
    note = (f"{len(records)} builds of each index, pooled over {ci.rounds} query batches (the builds agree "
            f"within round noise, F test p = {ci.builds_p:.2g}): the interval covers the batches and timing "
            f"noise; each build alone: {each}. Build 1: {first['note']}")
    return {**first, "verdict": verdict, "figure": figure, "note": note, "builds": builds}


def _one_build(record: dict, at: dict | None) -> dict:
    """One build of each index: its interval covers the query batches and timing noise of
    that build, not the next build's graph or k-means lists. It is widened by the spread
    between builds measured in runs of two builds (targets.toml [vector_speedup]
    between_build_log_sd), added to each side of the log ratio's interval in quadrature."""
    spread = float(verdicts.targets()[CLAIM].get("between_build_log_sd", 0.0))
    if not spread or not (at and at.get("comparable") and at.get("median_ratio")):
        return record
    ratio = at["median_ratio"]
    centre, widen = math.log(ratio["estimate"]), 1.96 * spread
    low = centre - math.hypot(centre - math.log(ratio["low"]), widen)
    high = centre + math.hypot(math.log(ratio["high"]) - centre, widen)
    gain = verdicts.improvement(stats.Interval(ratio["estimate"], math.exp(low), math.exp(high), ratio["rounds"]))
    figure, verdict = _judged(gain, [at], builds=1, between_build_log_sd=spread)
    note = (f"one build of each index: the interval covers its query batches and timing, widened x/"
            f"{math.exp(widen):.2f} for the spread between builds (targets.toml between_build_log_sd); "
            + record["note"])
    return {**record, "verdict": verdict, "figure": figure, "note": note}


# Builds whose means differ at this level are not pooled (combine_builds).
BUILDS_ALPHA = 0.05
# Builds that differ are judged by a t interval over their means from this many on; with
# 2 it has 1 degree of freedom (t = 12.7), so two builds must each give the word instead.
MIN_BUILDS_FOR_INTERVAL = 3


def _over_builds(compared: list[dict]) -> tuple[dict, str]:
    """Builds that differ: the figure and verdict from a t interval over the builds' mean
    log ratios (each build one sample of the build-to-build spread)."""
    means = np.array([np.mean(c["round_log_ratios"]) for c in compared])
    estimate, low, high = stats.t_interval(means)
    rounds = len(compared[0]["round_log_ratios"])
    gain = verdicts.improvement(stats.Interval(float(np.exp(estimate)), float(np.exp(low)), float(np.exp(high)),
                                               rounds))
    return _judged(gain, compared, builds=len(means), over_builds=True)


def _judged(gain: stats.Interval, compared: list[dict], **figure) -> tuple[dict, str]:
    """The figure and verdict of the builds' combined gain; builds bounding it differently
    bound nothing."""
    kinds = {c.get("improvement_bound") for c in compared}
    bound = kinds.pop() if len(kinds) == 1 else "none"
    figure = {**gain.as_dict(), **figure}
    if bound:
        figure["bound"] = bound
    return figure, verdicts.at_least_bound(gain, verdicts.targets()[CLAIM]["low"], bound)


def _pooled(compared: list[dict | None]) -> tuple[dict, str, stats.CrossedInterval] | None:
    """The builds' figure judged once (combine_builds), or None when a build has none."""
    if not all(c and c.get("comparable") and c.get("round_log_ratios") for c in compared):
        return None
    series = [c["round_log_ratios"] for c in compared]
    if len({len(s) for s in series}) != 1 or len(series[0]) < 2:
        return None
    ci = stats.builds_by_rounds(np.array(series))
    gain = verdicts.improvement(stats.Interval(float(np.exp(ci.estimate)), float(np.exp(ci.low)),
                                               float(np.exp(ci.high)), ci.rounds))
    figure, verdict = _judged(gain, compared, builds=len(series), pooled=True, builds_p=round(ci.builds_p, 4))
    return figure, verdict, ci


def _agreement(records: list[dict], each: str, differ: str) -> dict:
    """The fallback rule: the word every build gives, the interval spanning theirs."""
    first, words = records[0], {r["verdict"] for r in records}
    figure = dict(first["figure"])
    figures = [r["figure"] for r in records]
    if all(isinstance(f.get(key), (int, float)) for f in figures for key in ("estimate", "low", "high")):
        figure.update(estimate=float(np.mean([f["estimate"] for f in figures])),
                      low=min(f["low"] for f in figures), high=max(f["high"] for f in figures))
    figure["builds"] = len(records)
    note = (f"{len(records)} builds of each index: {differ}{each}; the interval spans every build's"
            + ("; the builds disagree, so a rebuild could flip the verdict" if len(words) > 1 else "")
            + f". Build 1: {first['note']}")
    return {"verdict": first["verdict"] if len(words) == 1 else verdicts.INCONCLUSIVE, "figure": figure,
            "note": note}


# why a comparison was not made -> the verdict: measured but nothing to judge by, or not measured
UNJUDGED = {"unreached": verdicts.INCONCLUSIVE, "reference_unreached": verdicts.INCONCLUSIVE,
            "errors": verdicts.INCONCLUSIVE, "reference_errors": verdicts.INCONCLUSIVE,
            "unpaired": verdicts.INCONCLUSIVE}


def _verdict(variant: str, config: str, at: dict | None, others: str, target: float) -> dict:
    if at is None:
        return verdicts.verdict_record(CLAIM, variant, verdicts.NOT_MEASURED, {},
                                       f"{config} not compared at recall {target:.2f}")
    if at.get("why") == "same_index":  # the same at every level: the other levels would only repeat it
        return verdicts.verdict_record(CLAIM, variant, verdicts.NOT_MEASURABLE, at["same_index"], at["reason"])
    if not at["comparable"]:
        status = UNJUDGED.get(at["why"], verdicts.NOT_MEASURED)
        return verdicts.verdict_record(CLAIM, variant, status, at.get("cannot_reach", {}),
                                       f"{at['reason']}; {others}" if others else at["reason"])
    return verdicts.verdict_record(CLAIM, variant, at["verdict"], _figure(at), _note(at, config, others, target))


def _figure(at: dict) -> dict:
    bound = at.get("improvement_bound")
    return {**at["improvement"], "bound": bound} if bound else at["improvement"]


def _note(at: dict, config: str, others: str, target: float) -> str:
    gain = at["improvement"]
    note = (f"{config} ({_span(at, '')}) vs {at['reference']} ({_span(at, 'reference_')}) at recall@10 = "
            f"{target:.2f}, latency interpolated between the settings that bracket it: "
            f"{at['median_ms']:.2f} vs {at['reference_median_ms']:.2f} ms median, "
            + ("interleaved rounds" if at.get("interleaved") else
               "from sweeps measured one after another (machine drift between them not controlled)"))
    bound = bound_text(at, target)
    if bound:
        note += f"; {bound}"
    high = verdicts.targets()[CLAIM]["high"]
    if at["verdict"] == verdicts.CONFIRMED and gain["low"] > high:
        note += f"; beyond the claimed {high:.0%}"
    if others:
        note += f"; other levels: {others}"
    return note


BOUND_MEANING = {
    "lower": "the improvement is at least the figure: it can confirm the claim, not refute it",
    "upper": "the improvement is at most the figure: it can refute the claim, not confirm it",
    "none": "the figure bounds the improvement in neither direction: inconclusive",
}


def bound_text(at: dict, target: float) -> str:
    """What an overshooting cheapest setting means for the figure ("" when none does)."""
    bound = at.get("improvement_bound")
    if not bound:
        return ""
    sides = [f"{name}'s cheapest setting swept ({setting}, recall {recall:.3f}) already overshoots {target:.2f}"
             for upper, name, setting, recall in
             ((at["latency_upper_bound"], at["config"], at["setting"], at["recall"]),
              (at["reference_latency_upper_bound"], at["reference"], at["reference_setting"], at["reference_recall"]))
             if upper]
    latency = "its latency is an upper bound for that side" if len(sides) == 1 else "both latencies are upper bounds"
    return f"{' and '.join(sides)}: {latency}; {BOUND_MEANING[bound]}"


def _span(comparison: dict, side: str) -> str:
    below, above = comparison.get(f"{side}setting_below"), comparison[f"{side}setting"]
    return f"{below} .. {above}" if below else f"{above}, the cheapest setting swept"


def _short(comparison: dict) -> str:
    if not comparison["comparable"]:
        return f"{comparison['target']:.2f}: {comparison['reason']}"
    g, bound = comparison["improvement"], comparison.get("improvement_bound")
    text = f"{txt.BOUND_SIGN.get(bound, '')}{g['estimate']:+.0%} [{g['low']:+.0%}, {g['high']:+.0%}]"
    return f"{comparison['target']:.2f}: {text}" + (" (bounds nothing)" if bound == "none" else "")


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
