"""Progress of a long step: a rich bar with its rate and ETA on a terminal, a plain line
every 10% otherwise (CI logs stay readable). Seeding has its own per-table bars
(seed/progress.py); everything else counts units of work through `progress()`."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


@contextmanager
def progress(console: Console, label: str, total: int, unit: str = "steps") -> Iterator[Callable[[], None]]:
    """Yield tick(): call it once per unit of work done, `total` times in all."""
    if console.is_terminal:
        columns = (TextColumn(f"{label:<12}"), BarColumn(), MofNCompleteColumn(), TextColumn(unit),
                   TaskProgressColumn(), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn())
        with Progress(*columns, console=console, transient=True) as bars:
            task = bars.add_task(label, total=total)
            yield lambda: bars.advance(task)
        return
    done, began = 0, time.monotonic()
    every = max(1, total // 10)

    def tick() -> None:
        nonlocal done
        done += 1
        if done % every == 0 or done == total:
            elapsed = time.monotonic() - began
            left = elapsed / done * (total - done)
            console.print(f"{label}: {done}/{total} {unit} in {elapsed:.0f} s"
                          + (f", about {left:.0f} s left" if done < total else ""), highlight=False)

    yield tick
