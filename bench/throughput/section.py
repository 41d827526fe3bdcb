"""The `throughput` section of results.json: the sweep's windows per level, the USL fit per
variant with its bootstrap intervals, the service demand from the server's own counters,
the users the model supports at the SLO (interactive response time law), and the verdict
on "linear performance with user growth".

Users at the SLO. In a closed loop without think time Little's law gives N = X·R at every
level. The largest N whose p95 stays under the SLO (p95 interpolated between the levels on
log-log axes) is the concurrency the server can hold at the SLO; X(N) there comes from the
USL curve. With the load test's think time Z the interactive response time law,
users = X·(R + Z) = N + X·Z, turns it into simulated users. On K cores (a projection):
X scales by K / K_here at the same response time (the server's CPUs the bottleneck, σ and
κ unchanged: an upper estimate), and the CPU ceiling X = K / D (D the server's CPU seconds
per request) bounds it. Its interval comes from the same bootstrap over windows as the fit.

Verdict (targets.toml [linear_scaling]): confirmed when the upper bounds of σ and κ are both
below their thresholds, refuted when the lower bound of either reaches its threshold,
inconclusive otherwise (or with fewer than `min_windows` windows per level, or fewer than
3 levels the client did not saturate).
"""

from __future__ import annotations

import math

import numpy as np

from bench.judge import stats, verdicts
from bench.throughput import usl

CLAIM = "linear_scaling"


def claim() -> dict:
    return verdicts.targets()[CLAIM]


# ---- per level ---------------------------------------------------------------------------
def levels(windows: list[dict], server_cpus: list[int] | None = None) -> list[dict]:
    """One record per variant and N: throughput with its t interval over the windows, the
    latency of every window's requests together, errors, CPU of client and server, and how
    busy the server's CPUs were in all (the server's share apart: on a shared machine the
    rest is other work)."""
    out = []
    for key in dict.fromkeys((w["variant"], w["n"]) for w in windows):
        mine = [w for w in windows if (w["variant"], w["n"]) == key]
        out.append({**_level(*key, mine), "server_cpus_busy": _busy(mine, server_cpus)})
    return sorted(out, key=lambda r: (r["variant"], r["n"]))


def _busy(mine: list[dict], server_cpus: list[int] | None) -> float | None:
    """Mean busy share of the server's CPUs over the windows (whoever used them)."""
    shares = [w["cpu_busy"].get(str(c)) for w in mine for c in server_cpus or ()]
    shares = [s for s in shares if s is not None]
    return float(np.mean(shares)) if shares else None


def _level(variant: str, n: int, mine: list[dict]) -> dict:
    merged = stats.new_histogram()
    for w in mine:
        merged.add(stats.decode(w["hdr"]))
    seconds = sum(w["seconds"] for w in mine)
    rates = [w["x_rps"] for w in mine]
    x = stats.mean_over_runs(rates, list(range(len(rates))))  # each window its own replicate
    requests = sum(w["completed"] + w["errors"] for w in mine)
    server = [w["server_cpu_s"] for w in mine]
    pgss = [w["pgss_exec_ms_per_request"] for w in mine]
    cpu_ms = 1000 * sum(server) / requests if None not in server and requests else None
    return {"variant": variant, "n": n, "windows": len(mine),
            "x_rps": {"estimate": x.estimate, "low": x.low, "high": x.high, "windows": len(mine)},
            "latency": stats.summary(merged, seconds), "errors": sum(w["errors"] for w in mine),
            "error_samples": sorted({s for w in mine for s in w["error_samples"]})[:3],
            "client_cpu_max": max(w["client_cpu"] for w in mine),
            "client_saturated": any(w["client_saturated"] for w in mine),
            "server_cpu_ms_per_request": cpu_ms,
            "server_cpu_cores": sum(server) / seconds if None not in server and seconds else None,
            "pgss_exec_ms_per_request": (float(np.mean(pgss)) if None not in pgss else None)}


# ---- the model ---------------------------------------------------------------------------
def n_at_slo(ns, p95s, slo_ms: float) -> tuple[float | None, bool]:
    """(N at which p95 reaches the SLO, interpolated on log-log axes between the last level
    under it and the first at or over it; whether it is only a lower bound: every level held).
    None when even the first level breaches."""
    ns, p95s = np.asarray(ns, float), np.asarray(p95s, float)
    over = np.nonzero(p95s >= slo_ms)[0]
    if not len(over):
        return float(ns[-1]), True
    j = int(over[0])
    if j == 0:
        return None, False
    x0, x1 = math.log(ns[j - 1]), math.log(ns[j])
    y0, y1 = math.log(max(p95s[j - 1], 1e-6)), math.log(p95s[j])
    share = (math.log(slo_ms) - y0) / (y1 - y0) if y1 > y0 else 0.0
    return float(math.exp(x0 + share * (x1 - x0))), False


def users_at_slo(ns, p95s, fit: usl.Fit, slo_ms: float, think_s: float) -> dict:
    """N at the SLO, X there (from the curve), R = N / X, and users = N + X·Z."""
    n, at_least = n_at_slo(ns, p95s, slo_ms)
    if n is None:
        return {"n": None, "at_least": False, "x_rps": None, "r_ms": None, "users": None}
    x = float(usl.throughput(n, fit.lam, fit.sigma, fit.kappa))
    return {"n": n, "at_least": at_least, "x_rps": x, "r_ms": 1000 * n / x, "users": n + x * think_s}


def model(variant: str, windows: list[dict], rows: list[dict], slo_ms: float, think_s: float, cores_here: int | None,
          cores: int | None, resamples: int, seed: int) -> dict:
    """The USL fit of one variant with intervals, its service demand and users at the SLO."""
    used = [r for r in rows if r["variant"] == variant and not r["client_saturated"]]
    left_out = [r["n"] for r in rows if r["variant"] == variant and r["client_saturated"]]
    keep = {r["n"] for r in used}
    mine = [w for w in windows if w["variant"] == variant and w["n"] in keep and w["x_rps"]]
    out = {"variant": variant, "levels_fitted": sorted(keep), "levels_left_out": left_out,
           "left_out_reason": "the client saturated (its figures measure the client)" if left_out else None}
    if len(keep) < 3:
        return {**out, "fit": None, "why_no_fit": f"{len(keep)} levels the client did not saturate; the USL needs 3"}
    ns = np.array([w["n"] for w in mine], float)
    values = np.column_stack([[w["x_rps"] for w in mine], [w["p95_ms"] or np.nan for w in mine]])

    def extra(rn, drawn, one):
        levels_ = sorted(set(rn.tolist()))
        p95 = [max(float(np.nanmean(drawn[rn == level, 1])), 1e-3) for level in levels_]
        return users_at_slo(levels_, p95, one, slo_ms, think_s)

    boot, derived = usl.bootstrap(ns, values, resamples=resamples, seed=seed, extra=extra)
    fit = boot.fit
    params = boot.intervals()
    ordered = sorted(keep)
    p95_levels = [next(r for r in used if r["n"] == n)["latency"].get("p95_ms") or np.nan for n in ordered]
    point = users_at_slo(ordered, p95_levels, fit, slo_ms, think_s)
    demand = service_demand(used, point["n"])
    out.update(fit={**params, "r2": fit.r2, "rmse_rel": fit.rmse_rel}, resamples=len(boot.replicates),
               resamples_failed=boot.failed,
               windows_per_level=boot.windows, demand=demand,
               sigma_cpu=_sigma_cpu(fit.lam, demand.get("server_cpu_ms_per_request"), cores_here),
               curve=[[float(n), float(usl.throughput(n, fit.lam, fit.sigma, fit.kappa))]
                      for n in np.geomspace(1, max(ordered) * 1.5, 40)],
               slo=_slo_record(point, derived, slo_ms, think_s, cores_here, cores, demand))
    return out


def service_demand(used: list[dict], n_slo: float | None) -> dict:
    """Server CPU time and pg_stat_statements execution time per request at the level the
    model runs at (the largest level at or under N at the SLO; the first level otherwise)."""
    below = [r for r in used if n_slo is not None and r["n"] <= n_slo]
    level = below[-1] if below else used[0]
    return {"at_n": level["n"], "server_cpu_ms_per_request": level["server_cpu_ms_per_request"],
            "pgss_exec_ms_per_request": level["pgss_exec_ms_per_request"],
            "server_cpu_cores": level["server_cpu_cores"]}


def _sigma_cpu(lam: float, cpu_ms: float | None, cores_here: int | None) -> float | None:
    """The σ a server limited only by its CPUs would show: its ceiling λ/σ equals K / D."""
    if not cpu_ms or not cores_here:
        return None
    return lam * cpu_ms / 1000 / cores_here


def _slo_record(point: dict, derived: list[dict], slo_ms: float, think_s: float, cores_here: int | None,
                cores: int | None, demand: dict) -> dict:
    users = [d["users"] for d in derived if d["users"] is not None]
    alpha = (1 - usl.CONFIDENCE) / 2
    interval = ({"low": float(np.quantile(users, alpha)), "high": float(np.quantile(users, 1 - alpha))}
                if len(users) >= 0.9 * max(1, len(derived)) else {"low": None, "high": None})
    record = {"p95_ms": slo_ms, "think_s": think_s, "cores_here": cores_here, **point,
              "users_interval": interval}
    if cores and cores_here and point["users"] is not None:
        scale = cores / cores_here
        cpu_ms = demand.get("server_cpu_ms_per_request")
        ceiling = (cores / (cpu_ms / 1000)) * (point["r_ms"] / 1000 + think_s) if cpu_ms else None
        record["projection"] = {
            "cores": cores, "users": point["users"] * scale,
            "low": interval["low"] * scale if interval["low"] is not None else None,
            "high": interval["high"] * scale if interval["high"] is not None else None,
            "cpu_ceiling_users": ceiling,
            "assumes": "throughput at the SLO scales with cores at the same response time (the server's CPUs the "
                       "bottleneck, σ and κ unchanged: an upper estimate); the ceiling: every core busy, K / D "
                       "requests/s at that response time"}
    return record


# ---- next to Locust ----------------------------------------------------------------------
def locust_capacity(load: dict | None, variant: str) -> dict | None:
    """What the Locust step load of the same run measured for a variant (None without it)."""
    if not load or variant not in (load.get("capacity") or {}):
        return None
    cap = load["capacity"][variant]
    think = (load.get("config") or {}).get("think_seconds")
    return {"users": cap.get("users"), "at_least": cap.get("at_least"), "first_breach": cap.get("first_breach"),
            "think_s": sum(think) / 2 if think else None}


# ---- the verdict -------------------------------------------------------------------------
def verdict(result: dict) -> dict:
    """`linear_scaling` for one variant from its USL fit (see the module's docstring)."""
    target = claim()
    variant = result["variant"]
    fit = result.get("fit")
    if not fit:
        return verdicts.verdict_record(CLAIM, variant, verdicts.INCONCLUSIVE, {}, result.get("why_no_fit", ""))
    sigma, kappa = fit["sigma"], fit["kappa"]
    s_max, k_max = target["sigma_max"], target["kappa_max"]
    if result["windows_per_level"] < target["min_windows"]:
        outcome = verdicts.INCONCLUSIVE
    elif sigma["high"] < s_max and kappa["high"] < k_max:
        outcome = verdicts.CONFIRMED
    elif sigma["low"] >= s_max or kappa["low"] >= k_max:
        outcome = verdicts.REFUTED
    else:
        outcome = verdicts.INCONCLUSIVE
    figure = {"σ": _bounds(sigma), "κ": _bounds(kappa), "sigma": sigma, "kappa": kappa,
              "replication": {"windows_per_level": result["windows_per_level"], "levels": result["levels_fitted"],
                              "resamples": result["resamples"]}}
    return verdicts.verdict_record(CLAIM, variant, outcome, figure, _note(result, s_max, k_max))


def _bounds(iv: dict) -> str:
    return f"{iv['estimate']:.3g} [{iv['low']:.3g}, {iv['high']:.3g}]"


def _note(result: dict, s_max: float, k_max: float) -> str:
    parts = [(f"thresholds σ < {s_max:g}, κ < {k_max:g}; {result['windows_per_level']} windows per level, "
              f"levels {','.join(map(str, result['levels_fitted']))}")]
    star = result["fit"]["n_star"]
    if star["estimate"]:
        parts.append(f"throughput peaks at N* ≈ {star['estimate']:.0f} connections")
    if result.get("sigma_cpu") is not None:
        sigma, machine = result["fit"]["sigma"], result["sigma_cpu"]
        where = ("inside σ's interval: the CPUs' ceiling accounts for it" if sigma["low"] <= machine <= sigma["high"]
                 else "below σ's interval: contention beyond the CPUs" if machine < sigma["low"]
                 else "above σ's interval")
        parts.append(f"a server limited only by its {result['slo']['cores_here']} CPU(s) would show σ ≈ "
                     f"{machine:.2f} (λ·D/K, {where})")
    if result["levels_left_out"]:
        parts.append(f"levels {','.join(map(str, result['levels_left_out']))} left out: the client saturated")
    return "; ".join(parts)


# ---- the section -------------------------------------------------------------------------
def build(windows: list[dict], variants: list[str], config: dict, load: dict | None, resamples: int) -> dict:
    """The whole section from the sweep's window records and its config."""
    slo_ms = float(verdicts.targets().get("concurrency", {}).get("p95_ms", 100.0))
    rows = levels(windows, (config.get("cpu_layout") or {}).get("server_cpus"))
    models = [model(v, windows, rows, slo_ms, config["think_s"], config["cores_here"], config["cores"],
                    resamples, config["seed"]) for v in variants]
    for m in models:
        if m.get("slo"):
            m["slo"]["locust"] = locust_capacity(load, m["variant"])
    return {"config": config, "levels": rows, "models": models, "windows": windows,
            "verdicts": [verdict(m) for m in models],
            "interval": f"95% percentile bootstrap over the windows of each level ({resamples} resamples, deviations "
                        "scaled by sqrt(n/(n-1))): the noise between windows of this sweep on this machine"}


def unexpected_errors(section: dict) -> int:
    return sum(r["errors"] for r in section["levels"])
