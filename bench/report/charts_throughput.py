"""The `throughput` section (bench/throughput/section.py) in the report: the USL chart
(measured X(N) with intervals, the fitted curve, Locust's measured point where the run has a
load section) and the rows of the parameter and users-at-SLO tables that report.html and
summary.md show. Reads results.json only; nothing here recomputes a fit.
"""

from __future__ import annotations

import numpy as np
from matplotlib.lines import Line2D

from bench.report import data as d
from bench.report import style
from bench.report.registry import chart


def _variants(data: dict) -> list[str]:
    section = data["throughput"]
    names = {m["variant"] for m in section.get("models") or []}
    return [v for v in d.variant_order(data) if v in names] + sorted(names - set(d.variant_order(data)))


@chart("throughput_usl", "Throughput model (USL)",
       "Closed-loop asyncpg sweep, no think time: requests per second against concurrent connections (log scale), "
       "each point the mean of the level's windows with its 95% t interval, a hollow point a level where the client "
       "saturated (left out of the fit); the line the Universal Scalability Law fitted to the windows; a cross a "
       "Locust step of the same run at the concurrency the server saw (N = X·R). Right: p95 latency per level "
       "against the SLO.",
       order=55, needs="throughput", height=lambda data: 4.4,
       applies=lambda data: any(m.get("fit") for m in data["throughput"].get("models") or []))
def throughput_usl(fig, data):
    section = data["throughput"]
    order = d.variant_order(data)
    rate_ax, latency_ax = fig.subplots(1, 2)
    handles = []
    for variant in _variants(data):
        colour = style.variant_colour(variant, order)
        levels = [r for r in section["levels"] if r["variant"] == variant]
        model = next(m for m in section["models"] if m["variant"] == variant)
        _points(rate_ax, levels, colour)
        latency_ax.plot([r["n"] for r in levels], [r["latency"].get("p95_ms") or np.nan for r in levels],
                        color=colour, marker="o", linewidth=1.4)
        _locust_points(rate_ax, data.get("load"), variant, colour)
        label = variant
        if model.get("fit"):
            curve = np.array(model["curve"])
            rate_ax.plot(curve[:, 0], curve[:, 1], color=colour, linewidth=1.6)
            f = model["fit"]
            label += f": σ {f['sigma']['estimate']:.2g}, κ {f['kappa']['estimate']:.2g}"
        handles.append(Line2D([], [], color=colour, marker="o", label=label))
    if data.get("load"):
        handles.append(Line2D([], [], color="#57606a", marker="x", linestyle="", label="Locust steps at N = X·R"))
    slo = _slo_ms(section)
    latency_ax.axhline(slo, color="#cf222e", linestyle="--", linewidth=1.2)
    handles.append(Line2D([], [], color="#cf222e", linestyle="--", label=f"SLO: p95 < {slo:g} ms"))
    for ax, ylabel in ((rate_ax, "requests / s"), (latency_ax, "p95 latency, ms")):
        ax.set_xscale("log", base=2)
        ax.set_xlabel("concurrent connections N")
        ax.set_ylabel(ylabel)
        ax.grid(True, which="major", alpha=0.3)
    latency_ax.set_yscale("log")
    fig.legend(handles=handles, loc="outside right upper")
    style.title(fig, "Throughput as connections grow, and the USL fitted to it")


def _points(ax, levels: list[dict], colour: str) -> None:
    for r in levels:
        x = r["x_rps"]
        low, high = x["low"], x["high"]
        err = None if low is None or not np.isfinite(low) else [[x["estimate"] - max(low, 0)], [high - x["estimate"]]]
        ax.errorbar([r["n"]], [x["estimate"]], yerr=err, fmt="o", color=colour, capsize=3,
                    markerfacecolor="white" if r["client_saturated"] else colour)


def _locust_points(ax, load: dict | None, variant: str, colour: str) -> None:
    """Locust's steps of the variant at the concurrency the server saw (Little: N = X·R,
    R the mean response time), so the step load can be read against the curve."""
    points = [(s["rps"] * s["mean_ms"] / 1000, s["rps"]) for s in (load or {}).get("steps") or []
              if s.get("variant") == variant and s.get("rps") and s.get("mean_ms")]
    if points:
        ax.plot(*zip(*points), linestyle="", marker="x", color=colour, markersize=7)


def _slo_ms(section: dict) -> float:
    for m in section.get("models") or []:
        if m.get("slo"):
            return m["slo"]["p95_ms"]
    return 100.0


# ---- tables (report.html and summary.md) --------------------------------------------------
def _iv(iv: dict | None, digits: str = ".3g") -> str:
    if not iv or iv.get("estimate") is None:
        return "–"
    low, high = iv.get("low"), iv.get("high")
    bounds = "" if low is None or high is None else f" [{low:{digits}}, {high:{digits}}]"
    return f"{iv['estimate']:{digits}}{bounds}"


def parameter_rows(section: dict) -> list[dict]:
    """Per variant: λ, σ, κ, N* with their intervals, the fit's quality and the service demand."""
    rows = []
    for m in section.get("models") or []:
        if not m.get("fit"):
            rows.append({"variant": m["variant"], "λ (req/s)": "no fit: " + m.get("why_no_fit", "")})
            continue
        f, demand = m["fit"], m["demand"]
        star = f["n_star"]
        rows.append({"variant": m["variant"], "λ (req/s)": _iv(f["lambda"], ".1f"), "σ": _iv(f["sigma"]),
                     "κ": _iv(f["kappa"]), "N*": "none (κ = 0)" if star["estimate"] is None else
                     f"{star['estimate']:.0f}" + (f" [{star['low']:.0f}, {star['high']:.0f}]"
                                                  if star["low"] and star["high"] else ""),
                     "R²": f"{f['r2']:.3f}", "relative RMSE": f"{f['rmse_rel']:.1%}",
                     "levels fitted": ",".join(map(str, m["levels_fitted"])),
                     "windows per level": m["windows_per_level"],
                     "server CPU ms / request": _num(demand.get("server_cpu_ms_per_request")),
                     "pg_stat_statements exec ms / request": _num(demand.get("pgss_exec_ms_per_request")),
                     "demand at N": demand.get("at_n")})
    return rows


def users_rows(section: dict, load: dict | None) -> list[dict]:
    """Per variant: users at the SLO by the model (here, and projected to --cores), next to
    what Locust's step load of the same run measured (or that it is absent)."""
    rows = []
    for m in section.get("models") or []:
        slo = m.get("slo")
        if not slo:
            continue
        iv, proj = slo["users_interval"], slo.get("projection") or {}
        users = slo["users"]
        model = "none: p95 over the SLO at the first level" if users is None else (
            ("≥ " if slo["at_least"] else "") + f"{users:,.0f}"
            + (f" [{iv['low']:,.0f}, {iv['high']:,.0f}]" if iv.get("low") is not None else ""))
        rows.append({"variant": m["variant"], "N at SLO": _num(slo["n"], 1), "X at SLO (req/s)": _num(slo["x_rps"], 1),
                     "R (ms)": _num(slo["r_ms"], 1), "think Z (s)": f"{slo['think_s']:g}",
                     "server CPUs here": slo["cores_here"] or "?", "users, model (here)": model,
                     "users, projected (cores)": (f"{proj['users']:,.0f} [{proj['low']:,.0f}, {proj['high']:,.0f}] on "
                                                  f"{proj['cores']}" if proj.get("low") is not None else
                                                  f"{proj['users']:,.0f} on {proj['cores']}" if proj else "–"),
                     "CPU ceiling (users)": _num(proj.get("cpu_ceiling_users"), 0),
                     "Locust measured (users)": _locust(load, m["variant"])})
    return rows


def _locust(load: dict | None, variant: str) -> str:
    cap = ((load or {}).get("capacity") or {}).get(variant)
    if not cap:
        return "absent (no load section in this run)"
    think = (load.get("config") or {}).get("think_seconds")
    text = ("≥ " if cap.get("at_least") else "") + f"{cap.get('users')}"
    if cap.get("first_breach"):
        text += f" (breach at {cap['first_breach']})"
    if cap.get("undecided"):
        text += f" (undecided at {','.join(map(str, cap['undecided']))})"
    return text + (f", think {think[0]:g}-{think[1]:g} s" if think else "")


def _num(x, digits: int = 2) -> str:
    return "–" if x is None else f"{x:,.{digits}f}"
