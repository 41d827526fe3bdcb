"""The sizes a capacity sweep measures: a named scale of seed/scales.toml (tiny, small,
medium, full) or a number of documents (30K, 300000, 1.5M) whose other tables are
interpolated between the two named scales around it (geometrically, table by table: at a
named scale's document count it is that scale exactly)."""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass

from bench.core.errors import UsageError

DRIVER = "documents"  # the size axis: the review's 10M documents
DEFAULT_SIZES = "tiny,10K,30K,small,medium"
TARGET = "full"
SUFFIX = {"": 1, "k": 1_000, "m": 1_000_000}


@dataclass(frozen=True)
class Size:
    label: str  # "tiny", "30K", ...
    scale: str  # the named scale at or below it (recorded as the seed's scale)
    counts: dict[str, int]  # rows per table, as scales.toml lists them

    @property
    def documents(self) -> int:
        return self.counts[DRIVER]

    def overrides(self) -> list[str]:
        """`--rows table=N` of every table, for seed.config.make_config."""
        return [f"{table}={n}" for table, n in self.counts.items()]


def named_scales() -> list[tuple[str, dict[str, int]]]:
    from seed.config import scales

    return sorted(scales().items(), key=lambda item: item[1][DRIVER])


def parse(text: str) -> list[Size]:
    """`tiny,30K,small` -> sizes, smallest first; a bad item, a duplicate, a single size or
    a size below the smallest named scale is a UsageError."""
    items = [item.strip() for item in text.split(",") if item.strip()]
    sizes = [size_of(item) for item in items]
    documents = [s.documents for s in sizes]
    if len(set(documents)) != len(documents):
        raise UsageError(f"--sizes {text!r}: a size is given twice")
    if len(sizes) < 3:
        raise UsageError(f"--sizes {text!r}: a growth fit needs at least 3 sizes (the largest is held out to "
                         "validate the fit on the others)")
    return sorted(sizes, key=lambda s: s.documents)


def _number(text: str) -> tuple[int, bool] | None:
    """"30K" -> (30000, True), "1200000" -> (1200000, False): documents and whether a suffix
    was given; None when `text` is not such a number."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([kKmM]?)", text.strip())
    if not match:
        return None
    return round(float(match.group(1)) * SUFFIX[match.group(2).lower()]), bool(match.group(2))


def count_of(text: str, option: str) -> int:
    """"25M", "3.5M", "30K", "1200000" or a scale's name -> documents; else a UsageError."""
    known = dict(named_scales())
    if text in known:
        return known[text][DRIVER]
    number = _number(text)
    if not number or number[0] <= 0:
        raise UsageError(f"{option} {text!r}: give a positive number of documents (e.g. 25M, 3.5M) or a scale "
                         f"({', '.join(known)})")
    return number[0]


def size_of(item: str) -> Size:
    known = dict(named_scales())
    if item in known:
        return Size(item, item, dict(known[item]))
    number = _number(item)
    if not number:
        raise UsageError(f"--sizes: {item!r} is neither a scale ({', '.join(known)}) nor a number of documents "
                         "(e.g. 30K, 1.5M)")
    documents, suffixed = number
    return interpolated(documents, label=item.upper() if suffixed else f"{documents}")


def interpolated(documents: int, label: str) -> Size:
    ladder = named_scales()
    low_name, low = ladder[0]
    if documents < low[DRIVER]:
        raise UsageError(f"--sizes: {label} documents is smaller than the smallest scale ({low_name}, "
                         f"{low[DRIVER]:,} documents)")
    top_name, top = ladder[-1]
    if documents > top[DRIVER]:
        raise UsageError(f"--sizes: {label} documents is larger than the largest scale ({top_name}, "
                         f"{top[DRIVER]:,} documents)")
    for (name_a, a), (_name_b, b) in itertools.pairwise(ladder):
        if a[DRIVER] <= documents <= b[DRIVER]:
            low_name, low, high = name_a, a, b
            break
    else:  # exactly the largest
        return Size(label, top_name, dict(top))
    t = math.log(documents / low[DRIVER]) / math.log(high[DRIVER] / low[DRIVER])
    counts = {table: max(1, round(low[table] * (high[table] / low[table]) ** t)) if low[table] else 0
              for table in low}
    counts[DRIVER] = documents
    counts["users"] = max(counts["users"], counts["organizations"])
    return Size(label, low_name, counts)


def target() -> Size:
    return size_of(TARGET)
