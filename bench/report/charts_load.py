"""Charts of the `load` section as bench/loadtest/locust.py `build_section` writes it
(docs/results.md): per variant and step, p95 latency and requests per second against
concurrent users, with the SLO the run was judged by (`slo`) and each variant's capacity
(`capacity`). Whether a step held is the harness's own judgement, never recomputed here.
"""

from __future__ import annotations

import numpy as np
from matplotlib.lines import Line2D
from matplotlib.ticker import NullLocator

from bench.judge import text as txt
from bench.report import data as d
from bench.report import style
from bench.report.registry import chart


def load_steps(section: dict) -> list[dict]:
    """The measured steps of every variant (each with variant, users, p95_ms, rps, judgement)."""
    return list(section.get("steps") or [])


def load_capacity(section: dict) -> dict[str, dict]:
    """{variant: its capacity record} (users, at_least, first_breach, ...)."""
    return dict(section.get("capacity") or {})


@chart("load_curves", "Load curves",
       "Locust step load per variant: p95 latency (left, log scale; dashed line the SLO the run was judged by) and "
       "requests per second (right) against concurrent users; a hollow marker is a step that did not hold the SLO "
       "(p95 or unexpected failures). The legend gives each variant's capacity: the largest step whose p95 interval "
       "stayed below the SLO, the first breach, and steps too short to decide.",
       order=50, needs="load", height=lambda data: 4.6, applies=lambda data: bool(load_steps(data["load"])))
def load_curves(fig, data):
    section = data["load"]
    steps, capacity = load_steps(section), load_capacity(section)
    order = d.variant_order(data)
    latency_ax, rate_ax = fig.subplots(1, 2)
    handles = []
    for variant in dict.fromkeys(s["variant"] for s in steps):
        mine = sorted((s for s in steps if s["variant"] == variant), key=lambda s: s["users"])
        colour = style.variant_colour(variant, order)
        for ax, key in ((latency_ax, "p95_ms"), (rate_ax, "rps")):
            _draw_series(ax, mine, key, colour)
        label = variant + (f": capacity {txt.capacity_text(capacity[variant])}" if variant in capacity else "")
        handles.append(Line2D([], [], color=colour, marker="o", label=label))
    limit = section["slo"]["p95_ms"]
    latency_ax.axhline(limit, color="#cf222e", linestyle="--", linewidth=1.2)
    handles.append(Line2D([], [], color="#cf222e", linestyle="--", label=f"SLO: p95 < {limit:g} ms"))
    _label_axes(latency_ax, rate_ax, sorted({s["users"] for s in steps}))
    fig.legend(handles=handles, loc="outside right upper")
    style.title(fig, "Load: p95 latency and throughput as users grow")


def _draw_series(ax, steps: list[dict], key: str, colour: str) -> None:
    users = [s["users"] for s in steps]
    values = [np.nan if s[key] is None else s[key] for s in steps]  # a step where no request completed
    held = [s["judgement"]["held"] for s in steps]
    ax.plot(users, values, color=colour, linewidth=1.6)
    for kept, face in ((True, colour), (False, "white")):
        ax.scatter([u for u, h in zip(users, held) if h is kept], [v for v, h in zip(values, held) if h is kept],
                   facecolors=face, edgecolors=colour, s=22, zorder=3)


def _label_axes(latency_ax, rate_ax, users: list[int]) -> None:
    latency_ax.set_yscale("log")
    style.plain_log_ticks(latency_ax.yaxis)
    latency_ax.set_ylabel("p95 latency (ms, log scale)")
    rate_ax.set_ylabel("throughput (requests/s)")
    for ax in (latency_ax, rate_ax):
        ax.set_xscale("log")
        ax.set_xticks(users, [f"{u:,}" for u in users])  # the steps tested, not log decades
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xlabel("concurrent users (log scale)")
