"""Verdicts on the review's scale targets from a capacity sweep's projections (targets.toml
[vector_at_scale], [tenant_at_scale]). Pure: reads the analysis, returns verdict records.

Each is a projection, labelled so: the figure carries `projected`, the sizes it was fitted
on and the model, and a projection's 95% prediction interval decides as a confidence
interval does elsewhere (the whole interval on one side of the target, or inconclusive),
but only within `max_extrapolation` of the largest size measured (docs/decisions.md)."""

from __future__ import annotations

from bench.judge import verdicts

MEETS, MISSES, UNSURE = "meets", "misses", "unsure"


def scale_verdicts(analysis: dict, variants: list[str]) -> list[dict]:
    if not analysis.get("series"):
        return []
    return ([vector_verdict(analysis, v) for v in variants if _vector_series(analysis, v, "latency")]
            + [tenant_verdict(analysis, v) for v in variants if _series_of(analysis, v, "tenant_latency")])


def _series_of(analysis: dict, variant: str, kind: str) -> list[dict]:
    return [s for s in analysis["series"] if s["kind"] == kind and s["variant"] == variant]


def _vector_series(analysis: dict, variant: str, kind: str) -> dict | None:
    vector = set(analysis.get("vector_scenarios") or ())
    return next((s for s in _series_of(analysis, variant, kind) if s["scenario"] in vector), None)


def below(projection: dict, limit: float) -> str:
    """Where a projected cost stands against a ceiling."""
    if projection["high"] < limit:
        return MEETS
    if projection["low"] > limit:
        return MISSES
    return UNSURE


def judged(series: dict, limit: float, max_extrapolation: float) -> tuple[str, str | None]:
    """A growing cost's outcome against a ceiling at its projection's x: the projection
    decides within `max_extrapolation` of the largest x measured, its bounds no lower than
    the largest measured value; beyond it only a largest measured value already over the
    ceiling does (costs do not shrink as data grows)."""
    largest = series["measured"][-1]
    factor = series["projection"]["x"] / largest["x"]
    if factor <= max_extrapolation:  # the cost at the target is at least what the largest size measured
        floor = largest["value"]
        projection = {k: max(v, floor) for k, v in series["projection"].items() if k in ("low", "high")}
        return below(projection, limit), None
    why = (f"{factor:,.0f}× beyond the largest size measured ({largest['size']}); a projection decides within "
           f"{max_extrapolation:g}× (what the held-out validation checks)")
    return (MISSES if largest["value"] > limit else UNSURE), why


def _decide(outcomes: list[str]) -> str:
    if MISSES in outcomes:
        return verdicts.REFUTED
    if outcomes and all(o == MEETS for o in outcomes):
        return verdicts.CONFIRMED
    return verdicts.INCONCLUSIVE


def _fitted_on(series: dict) -> str:
    p = series["projection"]
    return f"fitted on {', '.join(p['fitted_on'])} ({series['fit']['model']})"


def vector_verdict(analysis: dict, variant: str) -> dict:
    """p50 under latency_ms and recall@10 at least `recall`, both projected to 10M documents."""
    target = verdicts.targets()["vector_at_scale"]
    latency = _vector_series(analysis, variant, "latency")
    miss = _vector_series(analysis, variant, "recall_miss")
    if not latency.get("projection"):
        return verdicts.verdict_record("vector_at_scale", variant, verdicts.INCONCLUSIVE, {},
                                       f"{latency['scenario']} not projected: {latency.get('why_not', 'no fit')}")
    p = latency["projection"]
    figure = {"estimate": p["estimate"], "low": p["low"], "high": p["high"], "at_documents": int(p["x"]),
              "scenario": latency["scenario"], "projected": True, "fitted_on": p["fitted_on"]}
    outcome, too_far = judged(latency, target["latency_ms"], target["max_extrapolation"])
    outcomes = [outcome]
    notes = [f"projection of {latency['scenario']}'s p50 to {int(p['x']):,} documents, {_fitted_on(latency)}, "
             "with the vector index cached as at the sizes measured (the sizing table gives the memory it needs)"]
    if too_far:
        notes.append(too_far)
    last = _largest_recall(analysis, variant, latency["scenario"])
    if last and last["high"] < target["recall"]:
        # At a fixed search setting recall does not rise with the data (more neighbours to
        # miss), so a recall already short at the largest size measured is short at 10M.
        figure.update(recall=last["recall"], recall_low=last["low"], recall_high=last["high"],
                      recall_at=last["size"])
        outcomes.append(MISSES)
        notes.append(f"recall@10 at the scenario's own setting is {last['recall']:.2f} [{last['low']:.2f}, "
                     f"{last['high']:.2f}] at {last['size']}, the largest size measured, under "
                     f"{target['recall']:.2f} already; it does not rise with the data at a fixed setting")
    elif miss and miss.get("projection"):
        m = miss["projection"]  # recall = 1 - miss: the bounds swap
        # never surer at the target than at the largest size measured: a projection of 20
        # perfect searches is not a certainty, its Clopper-Pearson bound there caps it
        low = min(max(0.0, 1 - m["high"]), last["low"]) if last else max(0.0, 1 - m["high"])
        figure.update(recall=1 - m["estimate"], recall_low=low, recall_high=1 - m["low"])
        outcome = judged(miss, 1 - target["recall"], target["max_extrapolation"])[0]
        if outcome == MEETS and low < target["recall"]:
            outcome = UNSURE
        outcomes.append(outcome)
        notes.append(f"recall@10 at the scenario's own setting, measured {_measured_recall(analysis, variant, latency['scenario'])}, projected")
    else:
        outcomes.append(UNSURE)
        notes.append("recall@10 not projected: " + (miss.get("why_not", "no fit") if miss else "not measured "
                                                    "(bench capacity --recall-queries 0, or a run before it)"))
    return verdicts.verdict_record("vector_at_scale", variant, _decide(outcomes), figure, "; ".join(notes))


def _largest_recall(analysis: dict, variant: str, scenario: str) -> dict | None:
    """recall@10 at the largest size where it was measured, with its 95% Clopper-Pearson
    interval over the neighbours (a floor on the spread: a query's 10 neighbours are not
    independent draws)."""
    from scipy.stats import beta

    sizes = (analysis.get("recall_measured") or {}).get(f"{scenario}/{variant}")
    if not sizes:
        return None
    k, n, size = sizes[-1]["found"], sizes[-1]["neighbours"], sizes[-1]["size"]
    low = float(beta.ppf(0.025, k, n - k + 1)) if k else 0.0
    high = float(beta.ppf(0.975, k + 1, n - k)) if k < n else 1.0
    return {"recall": k / n, "low": low, "high": high, "size": size}


def _measured_recall(analysis: dict, variant: str, scenario: str) -> str:
    sizes = (analysis.get("recall_measured") or {}).get(f"{scenario}/{variant}") or []
    return ", ".join(f"{m['size']} {m['recall']:.2f}" for m in sizes)


def tenant_verdict(analysis: dict, variant: str) -> dict:
    """Every project scenario's p50 for the largest tenant under latency_ms at 1M projects."""
    target = verdicts.targets()["tenant_at_scale"]
    series = _series_of(analysis, variant, "tenant_latency")
    rows, outcomes, left_out = [], [], []
    for s in series:
        if not s.get("projection"):
            left_out.append(f"{s['scenario']} ({s.get('why_not', 'no fit')})")
            continue
        p = s["projection"]
        outcome, too_far = judged(s, target["latency_ms"], target["max_extrapolation"])
        outcomes.append(outcome)
        rows.append({"scenario": s["scenario"], "estimate": p["estimate"], "low": p["low"], "high": p["high"],
                     "model": s["fit"]["model"], "meets": outcome})
    if not rows:
        return verdicts.verdict_record("tenant_at_scale", variant, verdicts.INCONCLUSIVE, {},
                                       "no project scenario could be projected: " + "; ".join(left_out))
    worst = max(rows, key=lambda r: r["high"])
    measured = series[0]["measured"]
    figure = {"estimate": worst["estimate"], "low": worst["low"], "high": worst["high"], "scenario": worst["scenario"],
              "at_projects": target["projects"], "projected": True, "scenarios": rows,
              "fitted_on": series[0]["projection"]["fitted_on"] if series[0].get("projection") else [],
              "largest_measured_projects": int(max(m["x"] for m in measured))}
    factor = target["projects"] / figure["largest_measured_projects"]
    notes = [f"{sum(1 for o in outcomes if o == MEETS)} of {len(rows)} project scenarios under "
             f"{target['latency_ms']:.0f} ms at {target['projects']:,} projects; the largest tenant measured held "
             f"{figure['largest_measured_projects']:,}, so this extrapolates {factor:,.0f}× beyond it"
             + (f" (a projection decides within {target['max_extrapolation']:g}×: only a scenario already over "
                f"{target['latency_ms']:.0f} ms there can decide)" if factor > target["max_extrapolation"] else "")]
    if left_out:
        notes.append("left out: " + "; ".join(left_out))
    return verdicts.verdict_record("tenant_at_scale", variant, _decide(outcomes), figure, "; ".join(notes))
