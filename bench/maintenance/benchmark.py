"""`bench run maintenance` as a Benchmark: the materialized view's refresh time."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.table import Table

from bench.core.options import with_options

if TYPE_CHECKING:
    from bench.session import Run, Session


class Maintenance:
    name = "maintenance"
    summary = "Time to refresh mv_capability_stats per variant that has it (rolled back), and its staleness trade."
    partial_unit = None
    in_all = True

    def click_options(self, command):
        return with_options(command, [
            click.option("--repeats", type=click.IntRange(2, 1000), default=7, show_default=True,
                         help="Timed refreshes per variant and mode (after one warm-up)."),
        ])

    def options(self, values: dict) -> int:
        return values["repeats"]

    def measure(self, run: Run, options: int) -> dict:
        from bench.maintenance import refresh

        return refresh.section(run.conn, [v.name for v in run.variants], options)

    def show(self, section: dict, session: Session) -> None:
        table = Table(title="REFRESH MATERIALIZED VIEW mv_capability_stats (ms, rolled back)")
        intervals = section["config"]["intervals_s"]
        for column in ("variant", "mode", "rows", "median", "mean [95%]", "n", *(f"duty @{s}s" for s in intervals)):
            table.add_column(column, justify="left" if column in ("variant", "mode") else "right")
        for r in section["refreshes"]:
            if not r["ok"]:
                table.add_row(r["variant"], r["mode"], str(r["rows"]), "fails", r.get("known") or r["error"], "",
                              *("" for _ in intervals))
                continue
            m = r["mean_ms"]
            table.add_row(r["variant"], r["mode"], str(r["rows"]), f"{r['median_ms']:.1f}",
                          f"{m['estimate']:.1f} [{m['low']:.1f}, {m['high']:.1f}]", str(r["count"]),
                          *(f"{r['duty'][str(s)]:.3%}" for s in intervals))
        session.out.print(table)
        session.out.print(section["staleness"], soft_wrap=True, highlight=False, markup=False)

    def problems(self, section: dict, file: Path) -> list[str]:
        from bench.maintenance import refresh

        return refresh.faults(section)


MAINTENANCE = Maintenance()
