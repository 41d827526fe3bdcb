"""results.json: the versioned machine contract of a run (docs/results.md).

One directory per run under reports/, never overwritten; the file is written atomically
(temp file + rename), so a reader never sees half a result. Reports and `bench compare`
only read it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets as random_tokens
import tempfile
from pathlib import Path

from bench.core.errors import BenchError

SCHEMA_VERSION = 1


FILE_NAME = "results.json"


def new_run_id() -> str:
    now = dt.datetime.now(dt.timezone.utc)
    return f"{now:%Y%m%dT%H%M%SZ}-{random_tokens.token_hex(2)}"


def run_dir(run_id: str, base: Path) -> Path:
    path = base / run_id
    path.mkdir(parents=True, exist_ok=False)
    return path


def write(directory: Path, results: dict) -> Path:
    results = {"schema_version": SCHEMA_VERSION, **results}
    target = directory / FILE_NAME
    fd, temp = tempfile.mkstemp(dir=directory, prefix=".results-", suffix=".json")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(results, f, indent=1, default=_jsonable)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return target


def load(path: Path) -> dict:
    """Read a results.json (or a run dir holding one); one-line errors for bad files."""
    path = Path(path)
    if path.is_dir():
        path = path / FILE_NAME
    if not path.exists():
        raise BenchError(f"no results file at {path}")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BenchError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict) or "schema_version" not in data:
        raise BenchError(f"{path} is not a results file (no schema_version)")
    if data["schema_version"] != SCHEMA_VERSION:
        raise BenchError(f"{path} has schema_version {data['schema_version']}; this harness reads {SCHEMA_VERSION}")
    return data


def start(base: Path, header: dict) -> Path:
    """A new run directory under `base` with a results.json holding the run's header
    (run id, environment, dataset, variants, cpu layout); sections are added after."""
    run_id = new_run_id()
    directory = run_dir(run_id, base)
    write(directory, {"run_id": run_id, **header, "verdicts": []})
    return directory


def add_section(directory: Path, name: str, section: dict, verdicts: list[dict]) -> Path:
    """Add (or replace) one section of a run, e.g. "latency", "vector", "load", and its
    verdicts (replacing earlier verdicts of the same claims and variants)."""
    data = load(directory)
    data.pop("schema_version", None)
    data[name] = section
    replaced = {(v["claim"], v["variant"]) for v in verdicts}
    data["verdicts"] = [v for v in data.get("verdicts", []) if (v["claim"], v["variant"]) not in replaced] + verdicts
    return write(directory, data)


# ---- partial results: a section saved while its measurement runs ------------------------
IN_PROGRESS = "the run did not finish (still running, or killed before it could say why)"


class Interrupted(KeyboardInterrupt):
    """SIGTERM, raised by bench.cli's handler (plain KeyboardInterrupt is SIGINT)."""

    def __init__(self, signal_name: str = "SIGTERM") -> None:
        super().__init__(signal_name)
        self.signal_name = signal_name


class Stopped(Exception):
    """A signal ended a run after its partial results were saved in `partial`. Not a
    KeyboardInterrupt, so that click passes it on untouched to bench.cli's one line."""

    def __init__(self, signal_name: str, partial: Path) -> None:
        super().__init__(f"{signal_name}; partial results in {partial}")
        self.signal_name, self.partial = signal_name, partial


def stop_reason(cause) -> str:
    """One line for why a run stopped: the signal's name, or the fault's message."""
    if isinstance(cause, KeyboardInterrupt):
        return getattr(cause, "signal_name", "SIGINT")
    return str(cause).splitlines()[0] if str(cause) else type(cause).__name__


def interruption(cause, completed: int, planned: int, unit: str = "rounds") -> dict:
    """The mark of a section cut short: why, and how much of it was measured and kept."""
    return {"reason": stop_reason(cause), f"{unit}_completed": completed, f"{unit}_planned": planned}


def interrupted_sections(data: dict) -> dict[str, dict]:
    """{section name: its interruption mark} for every section of a run cut short."""
    return {name: section["interrupted"] for name, section in data.items()
            if isinstance(section, dict) and isinstance(section.get("interrupted"), dict)}


def dataset(conn) -> dict | None:
    """The seed's recorded config (bench_meta.seed_run), None when nothing is seeded."""
    if not conn.execute("SELECT to_regclass('bench_meta.seed_run')").fetchone()[0]:
        return None
    row = conn.execute("SELECT config FROM bench_meta.seed_run WHERE id = 1").fetchone()
    return row[0] if row else None


def header(conn, dsn: str, variants: list, cpu_layout: dict) -> dict:
    """What every run records about where and on what it ran (captured, not typed)."""
    from bench.core import database, environment

    versions = database.check_server(conn, dsn)
    return {"environment": environment.capture(conn, dsn, versions), "dataset": dataset(conn),
            "variants": [{"name": v.name, "description": v.description, "rls": v.rls} for v in variants],
            "cpu_layout": cpu_layout}


def _jsonable(value):
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)
