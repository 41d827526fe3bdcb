"""One look for every chart: matplotlib (Agg backend, no display needed), a fixed width
in pixels, readable type, one colour per schema variant and per verdict everywhere
(charts, HTML, and the same hex values in the page's CSS)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # before anything imports pyplot: rendering never needs a display

DPI = 150
WIDTH_PX = 1500  # every chart is this wide; heights follow the data (rows of a chart)
WIDTH_IN = WIDTH_PX / DPI

RC = {
    "font.family": "DejaVu Sans",
    "font.size": 9.5,
    "axes.titlesize": 10.5,
    "axes.titleweight": "bold",
    "axes.labelsize": 9.5,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "axes.axisbelow": True,
    "grid.color": "#d8dee4",
    "grid.linewidth": 0.6,
    "xtick.labelsize": 8.5,
    "ytick.labelsize": 8.5,
    "legend.fontsize": 9,
    "legend.frameon": False,
    "figure.titlesize": 12,
    "figure.titleweight": "bold",
    "figure.facecolor": "white",
    "savefig.facecolor": "white",
}

# The three variants of schema/ keep their colours in every chart; other (user) variants
# take the next colours of a colour-blind-safe palette, in the order the run lists them.
VARIANT_COLOURS = {"baseline": "#6e7781", "review": "#e07b00", "hardened": "#0969da"}
EXTRA_COLOURS = ["#8250df", "#1a7f37", "#bf3989", "#57606a", "#0550ae", "#953800"]
# Series that are not variants (e.g. index configurations): distinct, colour-blind-safe (Okabe-Ito).
SERIES_COLOURS = ["#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#000000", "#f0e442"]

VERDICT_COLOURS = {  # (strong, light background)
    "confirmed": ("#1a7f37", "#dafbe1"),
    "refuted": ("#cf222e", "#ffebe9"),
    "inconclusive": ("#9a6700", "#fff8c5"),
    "not measured": ("#57606a", "#eaeef2"),
    "not measurable": ("#0550ae", "#ddf4ff"),  # measured, but the two sides are the same thing at this scale
}
FINDING_COLOURS = {  # security matrix cells
    "succeeds": ("#cf222e", "#ffebe9"),
    "defect": ("#9a6700", "#fff8c5"),
    "blocked": ("#1a7f37", "#dafbe1"),
    "ok": ("#1a7f37", "#dafbe1"),
    "n/a": ("#8c959f", "#f6f8fa"),
}


def variant_colour(name: str, order: list[str]) -> str:
    if name in VARIANT_COLOURS:
        return VARIANT_COLOURS[name]
    others = [n for n in order if n not in VARIANT_COLOURS]
    index = others.index(name) if name in others else len(others)
    return EXTRA_COLOURS[index % len(EXTRA_COLOURS)]


def verdict_colours(verdict: str) -> tuple[str, str]:
    return VERDICT_COLOURS.get(verdict, VERDICT_COLOURS["not measured"])


def title(fig, text: str) -> None:
    """Chart title on the left of the top band (legends go on its right: matplotlib's
    constrained layout overlaps a centred suptitle with an 'outside upper' legend)."""
    fig.suptitle(text, x=0.01, ha="left")


def legend(fig, handles: list, **kwargs) -> None:
    fig.legend(handles=handles, loc="outside upper right", ncols=len(handles), **kwargs)


def plain_log_ticks(axis) -> None:
    """Log axis labelled 0.5, 1, 2, 5, 10 ... instead of 10^0 (1, 10, 100 ... over many
    decades). Call after the axis limits are set."""
    import math

    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    limits = axis.axes.get_xlim() if axis.axis_name == "x" else axis.axes.get_ylim()  # (autoscaled)
    low, high = sorted(limits)
    decades = math.log10(high / low) if low > 0 and high > 0 else 99
    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0) if decades <= 3.2 else (1.0,)))
    axis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:,.4g}"))
    axis.set_minor_formatter(NullFormatter())
