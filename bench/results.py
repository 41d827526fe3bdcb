"""results.json: the versioned machine contract of a run (see DESIGN.md, Contracts).

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

from bench.config import PROJECT_ROOT
from bench.errors import BenchError

SCHEMA_VERSION = 1
REPORTS_DIR = PROJECT_ROOT / "reports"
FILE_NAME = "results.json"


def new_run_id() -> str:
    now = dt.datetime.now(dt.timezone.utc)
    return f"{now:%Y%m%dT%H%M%SZ}-{random_tokens.token_hex(2)}"


def run_dir(run_id: str, base: Path = REPORTS_DIR) -> Path:
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


def _jsonable(value):
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)
