"""One run's results from several `bench all` invocations of the same commit (the PR
workflow runs base and head alternately, A B A B, so that drift hits both sides).

Latency cells are pooled: their per-round series and per-round HDR histograms are
concatenated, each invocation's runs renumbered after the previous one's (an invocation
is an independent run: new connections, fresh ANALYZE), so `bench compare` tests the
figures on run means over every invocation; the whole-run HDR histograms are added and
the summary percentiles read from the sum. Vector sweeps pool their round series the
same way. Every other part (verdicts, load, storage, security, recall, builds) is the
last invocation's: one measurement, said so in `merged.single_from`.
"""

from __future__ import annotations

import copy

from bench.judge import stats

ROUND_SERIES = ("round_medians_ms", "round_means_ms", "round_p95_ms", "round_p99_ms")


def merge(runs: list[dict]) -> dict:
    """The pooled results of `runs` (oldest first); a single run is returned as it is."""
    if len(runs) == 1:
        return runs[0]
    out = copy.deepcopy(runs[-1])
    out["run_id"] = "+".join(str(r.get("run_id", "?")) for r in runs)
    cells = [{(c["scenario"], c["variant"]): c for c in (r.get("latency") or {}).get("results") or []} for r in runs]
    for cell in (out.get("latency") or {}).get("results") or []:
        key = (cell["scenario"], cell["variant"])
        parts = [c[key] for c in cells if key in c]
        if len(parts) == len(runs):
            _pool(cell, parts)
    sweeps = [{(s.get("config"), s.get("setting")): s for s in (r.get("vector") or {}).get("sweeps") or []}
              for r in runs]
    for sweep in (out.get("vector") or {}).get("sweeps") or []:
        parts = [s.get((sweep.get("config"), sweep.get("setting"))) for s in sweeps]
        if all(parts):
            _pool(sweep, parts)
    if isinstance(out.get("latency"), dict) and isinstance(out["latency"].get("config"), dict):
        config = out["latency"]["config"]
        config["rounds"] = sum(((r.get("latency") or {}).get("config") or {}).get("rounds") or 0 for r in runs)
        config["runs"] = sum(((r.get("latency") or {}).get("config") or {}).get("runs") or 1 for r in runs)
    out["merged"] = {"runs": [r.get("run_id") for r in runs], "pooled": ["latency cells", "vector sweep rounds"],
                     "single_from": runs[-1].get("run_id")}
    return out


def _pool(target: dict, parts: list[dict]) -> None:
    """Concatenate the round series of `parts` into `target` (one of them, or a copy)."""
    offset, runs = 0, []
    for part in parts:
        n = len(part.get("round_medians_ms") or [])
        own = part.get("round_runs") or [0] * n
        runs += [offset + r for r in own]
        offset += (max(own) + 1) if own else 1
    for key in ROUND_SERIES:
        if all(part.get(key) for part in parts):
            target[key] = [x for part in parts for x in part[key]]
        else:
            target.pop(key, None)  # a series one invocation lacks cannot be pooled
    if all(part.get("round_hdr") for part in parts):
        target["round_hdr"] = [h for part in parts for h in part["round_hdr"]]
    else:
        target.pop("round_hdr", None)
    if runs and len(runs) == len(target.get("round_medians_ms") or []):
        target["round_runs"] = runs
    if all(part.get("hdr") for part in parts) and isinstance(target.get("latency"), dict):
        total = stats.new_histogram()
        for part in parts:
            total.add(stats.decode(part["hdr"]))
        rates = [(part.get("latency") or {}).get("throughput_rps") for part in parts]
        summary = stats.summary(total, 0)
        summary["throughput_rps"] = (sum(rates) / len(rates)) if all(r is not None for r in rates) else None
        target["latency"] = {**target["latency"], **summary}
        target["hdr"] = stats.encode(total)
    for key in ("errors", "rows_returned"):
        if all(isinstance(part.get(key), int) for part in parts):
            target[key] = sum(part[key] for part in parts)
