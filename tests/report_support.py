"""Helpers for the report and compare tests: the golden results file, PNG facts, and
injecting a regression into a copy of a results.json."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from scripts.slow_copy import slowed

GOLDEN = Path(__file__).parent / "fixtures" / "golden_small" / "results.json"  # a real `small` run
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def golden_run(directory: Path) -> Path:
    """A run dir holding a copy of the golden results (so rendering never writes into tests/)."""
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copy(GOLDEN, directory / "results.json")
    return directory


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) of a PNG, after checking it is one (Pillow decodes it fully)."""
    import io

    from PIL import Image

    assert data[:8] == PNG_SIGNATURE, "not a PNG signature"
    with Image.open(io.BytesIO(data)) as image:
        image.load()  # decodes every pixel: a truncated or corrupt file fails here
        assert image.format == "PNG"
        return image.size


def scale_cell(results: dict, scenario: str | None, variant: str | None, factor: float) -> dict:
    """A copy of `results` where one cell's requests (every cell's, with None) all took
    `factor` times as long: summary, per-round series and HDR histograms alike
    (scripts/slow_copy.py, the same code the power benchmark uses)."""
    return slowed(results, factor, scenario, variant)


def write(directory: Path, results: dict) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "results.json"
    path.write_text(json.dumps(results))
    return path
