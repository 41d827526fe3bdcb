"""Helpers for the report and compare tests: the golden results file, PNG facts, and
injecting a regression into a copy of a results.json."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

from bench import stats

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


def scale_cell(results: dict, scenario: str, variant: str, factor: float) -> dict:
    """A copy of `results` where one cell's requests all took `factor` times as long:
    its summary, round medians and means, and every value of its HDR histogram."""
    out = copy.deepcopy(results)
    (cell,) = [c for c in out["latency"]["results"] if c["scenario"] == scenario and c["variant"] == variant]
    for key in list(cell["latency"]):
        if key.endswith("_ms"):
            cell["latency"][key] *= factor
    cell["latency"]["throughput_rps"] /= factor
    cell["round_medians_ms"] = [x * factor for x in cell["round_medians_ms"]]
    cell["round_means_ms"] = [x * factor for x in cell["round_means_ms"]]
    old, new = stats.decode(cell["hdr"]), stats.new_histogram()
    for item in old.get_recorded_iterator():
        new.record_value(round(item.value_iterated_to * factor), item.count_added_in_this_iter_step)
    cell["hdr"] = stats.encode(new)
    return out


def write(directory: Path, results: dict) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "results.json"
    path.write_text(json.dumps(results))
    return path
