"""What a seed is: scale, row counts, seed, dimension, difficulty, anchor date. Recorded
with the dataset (bench_meta.seed_run) so results can say exactly what they ran on."""

from __future__ import annotations

import datetime as dt
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bench.errors import BenchError
from seed.embeddings import DEFAULT_DIFFICULTY

SCALES_FILE = Path(__file__).with_name("scales.toml")
DEFAULT_SCALE = "small"
DERIVED = ("project_members", "dashboard_data_sources")
# Bump when a change to seed/ alters the rows or vectors a config produces: a database
# seeded by another generator version is then refused instead of silently reused, and
# the vector benchmark's cached scratch copy and ground truth are rebuilt.
GENERATOR_VERSION = 3  # 3: embeddings computed with one BLAS thread (bitwise the same on any core count)


def scales() -> dict[str, dict[str, int]]:
    with SCALES_FILE.open("rb") as f:
        return tomllib.load(f)


@dataclass(frozen=True)
class SeedConfig:
    scale: str
    counts: dict[str, int]
    seed: int = 1
    dim: int = 384
    difficulty: float = DEFAULT_DIFFICULTY
    anchor: str = field(default_factory=lambda: dt.datetime.now(dt.timezone.utc).date().isoformat())
    generator: int = GENERATOR_VERSION

    @property
    def anchor_time(self) -> dt.datetime:
        return dt.datetime.fromisoformat(self.anchor).replace(tzinfo=dt.timezone.utc)

    def as_dict(self) -> dict:
        return asdict(self)


def make_config(scale: str, overrides: list[str] | tuple[str, ...] = (), **kwargs) -> SeedConfig:
    """Resolve `--scale` and `--rows table=N` into a SeedConfig (one-line errors)."""
    known = scales()
    if scale not in known:
        raise BenchError(f"unknown scale {scale!r}; choose one of {', '.join(known)}")
    counts = dict(known[scale])
    for item in overrides:
        name, sep, value = item.partition("=")
        if not sep:
            raise BenchError(f"--rows takes table=N, got {item!r}")
        if name in DERIVED:
            raise BenchError(f"{name} is derived from its parents' counts; it cannot be set with --rows")
        if name not in counts:
            raise BenchError(f"--rows: unknown table {name!r}; known: {', '.join(counts)}")
        if not value.isdigit():
            raise BenchError(f"--rows {name}: count must be a whole number >= 0, got {value!r}")
        counts[name] = int(value)
    for parent in ("organizations", "users", "knowledge_bases"):
        if counts[parent] < 1:
            raise BenchError(f"--rows {parent}: at least 1 is needed (other tables point at it)")
    if counts["users"] < counts["organizations"]:
        raise BenchError("--rows: every organization needs a user; give at least as many users as organizations")
    if kwargs.get("anchor"):
        try:
            dt.date.fromisoformat(kwargs["anchor"])
        except ValueError:
            raise BenchError(f"--anchor must be a date YYYY-MM-DD, got {kwargs['anchor']!r}") from None
    else:
        kwargs.pop("anchor", None)
    return SeedConfig(scale=scale, counts=counts, **kwargs)
