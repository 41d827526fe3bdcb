"""What a seed is: scale, row counts, seed, dimension, difficulty, anchor date. Recorded
with the dataset (bench_meta.seed_run) so results can say exactly what they ran on."""

from __future__ import annotations

import datetime as dt
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bench.core.errors import UsageError
from seed.embeddings import DEFAULT_DIFFICULTY, TOPIC_DIFFICULTY

SCALES_FILE = Path(__file__).with_name("scales.toml")
DEFAULT_SCALE = "small"
DERIVED = ("project_members", "dashboard_data_sources")
# Bump when a change to seed/ alters the rows or vectors a config produces: a database
# seeded by another generator version is then refused instead of silently reused, and
# the vector benchmark's cached scratch copy and ground truth are rebuilt.
# 3: embeddings computed with one BLAS thread (bitwise the same on any core count);
# 4: the default vectors are the profile fitted to real embeddings (seed/embeddings.py FITTED);
# 5: its revision 3, fitted at 88,000 documents as well as 19,500;
# 6: its revision 4 (local rank 12, centres wider below 88,000 documents).
GENERATOR_VERSION = 6
DEFAULT_EMBEDDINGS = "synthetic"
TOPIC_EMBEDDINGS = "synthetic:topic"  # the default generator of versions 1-3 (`--generator topic`)


def generator_label(embeddings: str) -> int | str:
    """The recorded generator: the version for the default vectors, `3:real:...` etc. else."""
    return GENERATOR_VERSION if embeddings == DEFAULT_EMBEDDINGS else f"{GENERATOR_VERSION}:{embeddings}"


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
    generator: int | str = GENERATOR_VERSION
    # Where the vectors come from (seed/vectors.py): "synthetic" (the default generator: the
    # profile fitted to real embeddings), "synthetic:topic" (the earlier default) or "real:all-MiniLM-L6-v2".
    # Recorded only when not the default, so a default seed records what it always did;
    # any other source also changes `generator`, which keys the vector benchmark's data.
    embeddings: str = DEFAULT_EMBEDDINGS

    @property
    def anchor_time(self) -> dt.datetime:
        return dt.datetime.fromisoformat(self.anchor).replace(tzinfo=dt.timezone.utc)

    def as_dict(self) -> dict:
        out = asdict(self)
        if out["embeddings"] == DEFAULT_EMBEDDINGS:
            del out["embeddings"]
        return out


def make_config(scale: str, overrides: list[str] | tuple[str, ...] = (), **kwargs) -> SeedConfig:
    """Resolve `--scale` and `--rows table=N` into a SeedConfig; a bad value is a UsageError."""
    known = scales()
    if scale not in known:
        raise UsageError(f"unknown scale {scale!r}; choose one of {', '.join(known)}")
    counts = dict(known[scale])
    for item in overrides:
        name, value = _row_override(item, counts)
        counts[name] = value
    _check_parents(counts)
    if kwargs.get("anchor"):
        _check_anchor(kwargs["anchor"])
    else:
        kwargs.pop("anchor", None)
    embeddings = kwargs.pop("embeddings", None) or DEFAULT_EMBEDDINGS
    if kwargs.get("difficulty") is None:  # each generator has its own calibrated default
        kwargs["difficulty"] = TOPIC_DIFFICULTY if embeddings == TOPIC_EMBEDDINGS else DEFAULT_DIFFICULTY
    if embeddings != DEFAULT_EMBEDDINGS:
        kwargs.update(embeddings=embeddings, generator=generator_label(embeddings))
        if embeddings.startswith("real:") and kwargs.get("dim", 384) != 384:
            raise UsageError(f"--embeddings real gives 384 dimensions ({embeddings[5:]}); got --dim {kwargs['dim']}")
    return SeedConfig(scale=scale, counts=counts, **kwargs)


def _row_override(item: str, counts: dict[str, int]) -> tuple[str, int]:
    """`table=N` of --rows, checked against the scale's tables."""
    name, sep, value = item.partition("=")
    if not sep:
        raise UsageError(f"--rows takes table=N, got {item!r}")
    if name in DERIVED:
        raise UsageError(f"--rows: {name} is derived from its parents' counts; it cannot be set")
    if name not in counts:
        raise UsageError(f"--rows: unknown table {name!r}; known: {', '.join(counts)}")
    if not value.isdigit():
        raise UsageError(f"--rows {name}: count must be a whole number >= 0, got {value!r}")
    return name, int(value)


def _check_parents(counts: dict[str, int]) -> None:
    for parent in ("organizations", "users", "knowledge_bases"):
        if counts[parent] < 1:
            raise UsageError(f"--rows {parent}: at least 1 is needed (other tables point at it)")
    if counts["users"] < counts["organizations"]:
        raise UsageError("--rows: every organization needs a user; give at least as many users as organizations")


def _check_anchor(anchor: str) -> None:
    try:
        dt.date.fromisoformat(anchor)
    except ValueError:
        raise UsageError(f"--anchor must be a date YYYY-MM-DD, got {anchor!r}") from None
