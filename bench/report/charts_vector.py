"""Charts of the `vector` section as bench/vector/run.py writes it (docs/results.md):
recall against throughput for every index configuration and search setting (`pareto`,
labelled from `indexes`), and each configuration's latency improvement over the reference
at matched recall (`comparisons`), the figure the vector_speedup verdict judges. The
claim's band comes from targets.toml, never from here.
"""

from __future__ import annotations

from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from bench.judge import text as txt
from bench.judge import verdicts
from bench.report import style
from bench.report.registry import chart

CLAIM = "vector_speedup"
MAX_PANELS = 3  # client counts side by side; more would leave each panel too narrow to read


# ---- reading the section ---------------------------------------------------------------------
def config_labels(section: dict) -> dict[str, str]:
    """{configuration: its legend label}: the variant whose index it is, or the index it
    shares at this row count."""
    labels = {}
    for index in section.get("indexes") or []:
        name = index["name"]
        if index.get("same_index_as"):
            labels[name] = f"{name} (same index as {index['same_index_as']})"
        else:
            labels[name] = f"{name} ({index['variant']})" if index.get("variant") else name
    return labels


def pareto_points(section: dict) -> list[dict]:
    """Recall and throughput per (configuration, setting, clients), in sweep order."""
    return list(section.get("pareto") or [])


def client_levels(points: list[dict]) -> list[int]:
    return sorted({p["clients"] for p in points})[:MAX_PANELS]


def comparisons(section: dict) -> list[dict]:
    """Every configuration against the reference at each target recall, by target, name and
    build (later builds of an index against the same build of the reference)."""
    later = [c for rows in ((section.get("builds") or {}).get("comparisons") or {}).values() for c in rows]
    return sorted([*(section.get("comparisons") or []), *later],
                  key=lambda c: (c["target"], c["config"], c.get("build_number", 1)))


def comparison_label(row: dict) -> str:
    build = f" (build {row['build_number']})" if row.get("build_number") else ""
    return f"{row['config']}{build} @ {row['target']:.2f}"


# ---- recall vs throughput --------------------------------------------------------------------
@chart("vector_pareto", "Vector search: recall vs throughput",
       "Recall@10 against exact search and queries per second of each index configuration, one point per search "
       "setting joined in sweep order (cheapest first), one panel per number of clients; a black ring marks the "
       "Pareto front (no other setting has both higher recall and higher throughput). Right and up is better.",
       order=40, needs="vector", height=lambda data: 4.8, applies=lambda data: bool(pareto_points(data["vector"])))
def vector_pareto(fig, data):
    section = data["vector"]
    points, labels = pareto_points(section), config_labels(section)
    configs = list(dict.fromkeys(p["config"] for p in points))
    colours = {c: style.SERIES_COLOURS[i % len(style.SERIES_COLOURS)] for i, c in enumerate(configs)}
    levels = client_levels(points)
    axes = fig.subplots(1, len(levels), squeeze=False, sharey=True)[0]
    for ax, clients in zip(axes, levels):
        for config in configs:
            _draw_curve(ax, [p for p in points if p["config"] == config and p["clients"] == clients], colours[config])
        ax.set_yscale("log")
        style.plain_log_ticks(ax.yaxis)
        ax.set_title(f"{clients} client{'s' if clients != 1 else ''}")
    axes[0].set_ylabel("throughput (queries/s, log scale)")
    fig.supxlabel("recall@10 (fraction of the exact top 10 found)", fontsize=9.5)  # once: panels are narrow
    handles = [Line2D([], [], color=colours[c], marker="o", label=labels.get(c, c)) for c in configs]
    handles.append(Line2D([], [], color="none", marker="o", markerfacecolor="none", markeredgecolor="black",
                          label="on the Pareto front"))
    fig.legend(handles=handles, loc="outside right upper")
    style.title(fig, "Vector search: recall vs throughput per index configuration")


def _draw_curve(ax, curve: list[dict], colour: str) -> None:
    recall, rate = [p["recall"] for p in curve], [p["throughput_rps"] for p in curve]
    ax.plot(recall, rate, color=colour, marker="o", markersize=3.5, linewidth=1.4, alpha=0.9)
    front = [p for p in curve if p["front"]]
    ax.scatter([p["recall"] for p in front], [p["throughput_rps"] for p in front], s=60, facecolors="none",
               edgecolors="black", linewidths=1.0, zorder=3)


# ---- improvement at matched recall -----------------------------------------------------------
def _matched_height(data: dict) -> float:
    return 1.4 + 0.34 * max(1, len(comparisons(data["vector"])))


@chart("vector_matched", "Vector search: improvement at matched recall",
       "Each configuration against the reference index at each target recall@10: 1 - its latency / the "
       "reference's, both interpolated to exactly the target, with the 95% bootstrap interval over rounds; the "
       "shaded band is the claim. A hollow marker is a bound (a cheapest setting that already overshoots the "
       "target); rows without a figure say why.",
       order=45, needs="vector", height=_matched_height, applies=lambda data: bool(comparisons(data["vector"])))
def vector_matched(fig, data):
    rows = comparisons(data["vector"])
    claim = verdicts.targets()[CLAIM]
    ax = fig.add_subplot()
    ax.axvspan(claim["low"], claim["high"], color=style.VERDICT_COLOURS["confirmed"][1], zorder=0)
    ax.axvline(0, color="#57606a", linewidth=0.8)
    for y, row in enumerate(reversed(rows)):
        _draw_comparison(ax, y, row)
    ax.set_yticks(range(len(rows)), [comparison_label(r) for r in reversed(rows)])
    ax.set_ylim(-0.6, len(rows) - 0.4)
    low, high = ax.get_xlim()
    ax.set_xlim(min(low, -0.1), max(high, claim["high"] + 0.1))
    ax.xaxis.set_major_formatter(lambda x, _: f"{x:+.0%}")
    ax.set_xlabel("latency improvement vs the reference at matched recall (positive is faster)")
    style.legend(fig, [Patch(color=style.VERDICT_COLOURS["confirmed"][1], label=f"the claim: {claim['claim']}")])
    style.title(fig, "Vector search: latency improvement at matched recall@10")


def _draw_comparison(ax, y: int, row: dict) -> None:
    if not row["comparable"]:
        ax.text(0.01, y, textwrap_short(row["reason"]), transform=ax.get_yaxis_transform(), va="center",
                fontsize=8, color="#57606a", style="italic")
        return
    gain, bound = row["improvement"], row.get("improvement_bound")
    colour = style.verdict_colours(row["verdict"])[0]
    ax.plot([gain["low"], gain["high"]], [y, y], color=colour, linewidth=2)
    ax.scatter([gain["estimate"]], [y], s=40, color=colour, facecolors="white" if bound else colour, zorder=3)
    ax.annotate(f"{txt.BOUND_SIGN.get(bound, '')}{gain['estimate']:+.0%} ({row['verdict']})",
                (gain["high"], y), xytext=(6, 0), textcoords="offset points", va="center", fontsize=8, color=colour)


def textwrap_short(text: str, width: int = 150) -> str:
    return text if len(text) <= width else text[:width - 1] + "…"
