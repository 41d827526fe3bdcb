"""Progress of a load: rich bars (rows/s, ETA) on a terminal, plain periodic lines
otherwise (CI logs), through one small interface: advance(table, rows, variants)."""

from __future__ import annotations

import time

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn


class LoadProgress:
    def __init__(self, console: Console, totals: dict[str, int], every_s: float = 5.0) -> None:
        self.console, self.totals, self.every_s = console, totals, every_s
        self.done = {name: 0 for name in totals}
        self.began = self.last_line = time.monotonic()
        self.bars: Progress | None = None
        self.tasks: dict[str, int] = {}

    def __enter__(self) -> "LoadProgress":
        if self.console.is_terminal:
            self.bars = Progress(
                TextColumn("{task.description:<24}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[rate]:>10} rows/s"), TimeRemainingColumn(), console=self.console,
            )
            self.bars.start()
            self.tasks = {n: self.bars.add_task(n, total=t, rate="") for n, t in self.totals.items() if t}
        return self

    def __exit__(self, *exc) -> None:
        if self.bars:
            self.bars.stop()
        self._line(final=True)

    def advance(self, table: str, rows: int, variants: int) -> None:
        self.done[table] += rows * variants
        if self.bars:
            task = self.bars.tasks[self.tasks[table]]
            rate = self.done[table] / max(1e-9, time.monotonic() - (task.start_time or self.began))
            self.bars.update(self.tasks[table], completed=self.done[table], rate=f"{rate:,.0f}")
        elif time.monotonic() - self.last_line >= self.every_s:
            self._line()

    def _line(self, final: bool = False) -> None:
        self.last_line = time.monotonic()
        if self.bars and not final:
            return
        rows, total = sum(self.done.values()), sum(self.totals.values())
        elapsed = self.last_line - self.began
        label = "loaded" if final else "loading"
        self.console.print(f"seed: {label} {rows:,}/{total:,} rows in {elapsed:.1f} s "
                           f"({rows / max(elapsed, 1e-9):,.0f} rows/s)", highlight=False)
