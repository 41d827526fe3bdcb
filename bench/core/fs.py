"""Filesystem checks made before work starts, so a fault costs a one-line error instead
of a traceback after minutes of measuring (whose figures would then be lost).

Writability is tested by creating a file, not by reading mode bits: root may write into a
0555 directory but not onto a read-only filesystem, and only trying tells both apart.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from bench.core.errors import BenchError


def check_writable(directory: Path | str, what: str = "directory") -> None:
    """Fail in one line unless files can be created in `directory`; a missing directory
    is judged by its nearest existing ancestor (it would be created there), and nothing
    is left behind."""
    path = Path(directory)
    existing = _nearest_existing(path)
    if not existing.is_dir():
        raise BenchError(f"{what} {path}: {existing} is not a directory")
    try:
        with tempfile.NamedTemporaryFile(dir=existing, prefix=".bench-write-check-"):
            pass
    except OSError as exc:
        raise BenchError(f"{what} {path} is not writable: {exc.strerror or exc} ({existing})") from None


def check_run_output(out_dir: str | None, run_dir: str | None) -> None:
    """Where a `bench run X` will write (--run-dir, else --out, else the reports dir)."""
    from bench.core.config import reports_dir

    if run_dir:
        check_writable(run_dir, "--run-dir")
    elif out_dir:
        check_writable(out_dir, "--out")
    else:
        check_writable(reports_dir(), "reports dir (BENCH_REPORTS_DIR)")


def _nearest_existing(path: Path) -> Path:
    path = path.absolute()
    while not path.exists() and path != path.parent:
        if path.is_symlink():  # dangling: nothing can be created through it
            return path
        path = path.parent
    return path
