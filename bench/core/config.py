"""Harness settings: one definition per option, read from CLI flags, then `BENCH_*`
environment variables, then `[tool.bench]` in the project's pyproject.toml, then the
defaults here. The DSN lives only in `Settings.dsn`; show it with `bench.core.dsn.mask`.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]

DEFAULTS = {"data_dir": ".bench", "port": 54329}


@dataclass(frozen=True)
class Settings:
    dsn: str | None  # an external server; None means the embedded one
    data_dir: Path  # the embedded server's home (pgdata, log)
    port: int  # the embedded server's TCP port on 127.0.0.1

    @property
    def embedded(self) -> bool:
        return self.dsn is None


def reports_dir() -> Path:
    """Where run directories go: BENCH_REPORTS_DIR, else reports/ in the project."""
    return Path(os.environ.get("BENCH_REPORTS_DIR") or PROJECT_ROOT / "reports")


def _pyproject_options() -> dict:
    path = PROJECT_ROOT / "pyproject.toml"
    if not path.exists():
        return {}
    with path.open("rb") as f:
        return tomllib.load(f).get("tool", {}).get("bench", {})


def resolve(*, dsn: str | None = None, data_dir: str | None = None, port: int | None = None) -> Settings:
    """Merge flags, environment and pyproject into Settings (flags win)."""
    from_file = {**DEFAULTS, **_pyproject_options()}

    def pick(flag, env_name, key):
        if flag is not None:
            return flag
        if os.environ.get(env_name):
            return os.environ[env_name]
        return from_file[key]

    raw_dir = Path(str(pick(data_dir, "BENCH_DATA_DIR", "data_dir"))).expanduser()
    resolved_dir = raw_dir if raw_dir.is_absolute() else PROJECT_ROOT / raw_dir
    return Settings(
        dsn=dsn or os.environ.get("BENCH_DSN") or None,
        data_dir=resolved_dir,
        port=_port(pick(port, "BENCH_PORT", "port")),
    )


def _port(value) -> int:
    from bench.core.errors import BenchError

    try:
        port = int(value)
    except (TypeError, ValueError):
        raise BenchError(f"port must be a number, got {value!r}") from None
    if not 1 <= port <= 65535:
        raise BenchError(f"port must be between 1 and 65535, got {port}")
    return port
