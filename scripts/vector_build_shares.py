"""Where the vector verdict's variance is: between index builds, query batches, or timing.

    .venv/bin/python scripts/vector_build_shares.py reports/<run>/results.json

Reads the vector section of a run with several builds (`bench run vector --builds N`) and,
per variant and target recall, rebuilds each build's per-batch log ratio variant /
reference at exactly the target (the bracketing settings' interleaved round medians,
weighted as the comparison weighted them; round r of every build ran the same query
batch). Then a two-way analysis (builds x batches, method of moments) splits its variance
into builds, batches and the residual (timing noise of a round), with each build's figure
and the F test that bench/vector/matched.py uses to pool builds. Prints; writes nothing.
"""

from __future__ import annotations

import json
import sys

import numpy as np

from bench.judge import stats


def side(rounds: dict, config: str, above: str, below: str | None, weight: float) -> np.ndarray:
    upper = np.asarray(rounds[(config, above)], float)
    return upper if below is None else (1 - weight) * np.asarray(rounds[(config, below)], float) + weight * upper


def per_build(vector: dict) -> dict[tuple[str, float], list[np.ndarray]]:
    """(variant, target) -> one array of per-batch log ratios per build, build 1 first."""
    rounds = {(p["config"], p["setting"]): p["round_medians_ms"] for p in vector.get("interleaved", [])}
    builds = [(1, vector["comparisons"])] + [(int(b), c) for b, c in vector["builds"]["comparisons"].items()]
    out: dict = {}
    for number, comparisons in sorted(builds, key=lambda b: b[0]):
        suffix = "" if number == 1 else f"_b{number}"
        for c in comparisons:
            if not (c.get("comparable") and c.get("interleaved")):
                continue
            mine = side(rounds, c["config"] + suffix, c["setting"], c["setting_below"], c["weight"])
            ref = side(rounds, c["reference"] + suffix, c["reference_setting"], c["reference_setting_below"],
                       c["reference_weight"])
            out.setdefault((c["variant"], c["target"]), []).append(np.log(mine / ref))
    return out


def components(y: np.ndarray) -> tuple[float, float, float]:
    """(builds, batches, residual) variance components of builds x batches values."""
    b, r = y.shape
    grand, build_means, round_means = y.mean(), y.mean(axis=1), y.mean(axis=0)
    ms_b = r * ((build_means - grand) ** 2).sum() / (b - 1)
    ms_r = b * ((round_means - grand) ** 2).sum() / (r - 1)
    ms_e = ((y - build_means[:, None] - round_means[None, :] + grand) ** 2).sum() / ((b - 1) * (r - 1))
    return (ms_b - ms_e) / r, (ms_r - ms_e) / b, ms_e


def main(path: str) -> None:
    vector = json.load(open(path))["vector"]
    if not vector.get("builds", {}).get("comparisons"):
        sys.exit("vector_build_shares: this run has one build of each index; run bench run vector --builds N")
    print("variant   target  builds  batches  residual  build  batch  resid   F p   each build's improvement")
    for (variant, target), series in sorted(per_build(vector).items()):
        y = np.array(series)
        if y.shape[0] < 2:
            continue
        build, batch, resid = components(y)
        shares = np.maximum([build, batch, resid], 0) / max(sum(max(v, 0) for v in (build, batch, resid)), 1e-12)
        each = " ".join(f"{1 - np.exp(s.mean()):+.1%}" for s in y)
        p = stats.builds_by_rounds(y).builds_p
        print(f"{variant:9} {target:5.2f} {y.shape[0]:7d} {y.shape[1]:8d} {resid:9.4f} {shares[0]:6.0%} "
              f"{shares[1]:6.0%} {shares[2]:6.0%} {p:6.3f}   {each}   (builds {build:+.4f}, batches {batch:+.4f})")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
