"""The chart registry: a chart is one decorated function that draws on a figure sized
for it. Adding a chart is adding one function (in charts.py, or in a module listed in
MODULES); `bench report` renders every chart whose data the run has, in `order`.

    @chart("my_chart", "Title", "What the reader sees, with units", order=35,
           needs="latency", height=lambda data: 4.0)
    def my_chart(fig, data): ...
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from matplotlib.figure import Figure

from bench.report import style

MODULES = ("bench.report.charts", "bench.report.charts_vector", "bench.report.charts_load",  # they register charts
           "bench.report.charts_throughput", "bench.report.charts_capacity")


@dataclass(frozen=True)
class Chart:
    name: str  # file name: charts/<name>.png
    title: str
    caption: str
    order: int
    needs: str | None  # the results section it draws from ("renders if present")
    applies: Callable[[dict], bool]  # the section has what this chart draws
    height: Callable[[dict], float]  # inches; the width is style.WIDTH_IN for every chart
    draw: Callable[[Figure, dict], None]

    def wanted(self, data: dict) -> bool:
        return (self.needs is None or bool(data.get(self.needs))) and self.applies(data)

    def pixels(self, data: dict) -> tuple[int, int]:
        """The PNG's size in pixels (what a test checks)."""
        return style.WIDTH_PX, max(200, round(self.height(data) * style.DPI))


_CHARTS: dict[str, Chart] = {}


def chart(name: str, title: str, caption: str, *, order: int, needs: str | None,
          height: Callable[[dict], float], applies: Callable[[dict], bool] = lambda data: True):
    def register(draw):
        if name in _CHARTS:
            raise ValueError(f"chart {name} registered twice")
        _CHARTS[name] = Chart(name, title, caption, order, needs, applies, height, draw)
        return draw
    return register


def charts() -> list[Chart]:
    for module in MODULES:
        importlib.import_module(module)
    return sorted(_CHARTS.values(), key=lambda c: c.order)


def render(chart_: Chart, data: dict, path: Path) -> Path:
    import matplotlib

    width, height = chart_.pixels(data)
    with matplotlib.rc_context(style.RC):
        fig = Figure(figsize=(width / style.DPI, height / style.DPI), dpi=style.DPI, layout="constrained")
        chart_.draw(fig, data)
        fig.savefig(path, dpi=style.DPI, format="png")  # no bbox "tight": the size stays as declared
    return path


def render_all(data: dict, directory: Path) -> list[tuple[Chart, Path]]:
    directory.mkdir(parents=True, exist_ok=True)
    return [(c, render(c, data, directory / f"{c.name}.png")) for c in charts() if c.wanted(data)]
