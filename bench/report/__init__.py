"""Reports of a run, rendered from its results.json only (no database needed, so a run
can be re-rendered later): charts/*.png, one self-contained report.html, summary.md for
a PR; and `bench compare OLD NEW` for regressions between two runs.

    from bench.report import render, compare
    paths = render(run_dir)                      # {"report.html": Path, "summary.md": Path, "charts/x.png": Path}
    markdown, regressions = compare(old, new, threshold=0.10)  # latency cells only

The whole comparison (verdicts, latency, work per request, vector, load, storage,
security; the release gate) is bench.report.gate; stored baselines bench.report.baseline;
pooling repeated runs bench.report.merge; exports for other tools bench.report.export.

Needs: matplotlib (Agg backend), scipy (compare's test), numpy.
"""

from __future__ import annotations

from pathlib import Path

from bench.report.compare import compare  # noqa: F401  (public API)

HTML_FILE, SUMMARY_FILE, CHARTS_DIR = "report.html", "summary.md", "charts"


def render(run_dir: Path | str) -> dict[str, Path]:
    """Render charts, report.html and summary.md into the run dir (files replaced atomically
    enough: each is written whole; results.json is never touched)."""
    from bench.report import data, html, registry, summary

    results, file = data.load(run_dir)
    directory = file.parent
    drawn = registry.render_all(results, directory / CHARTS_DIR)
    out = {f"{CHARTS_DIR}/{path.name}": path for _, path in drawn}
    out[HTML_FILE] = _write(directory / HTML_FILE, html.page(results, drawn))
    out[SUMMARY_FILE] = _write(directory / SUMMARY_FILE, summary.markdown(results))
    return out


def _write(path: Path, text: str) -> Path:
    temp = path.with_name(f".{path.name}.tmp")
    temp.write_text(text, encoding="utf-8")
    temp.replace(path)
    return path
