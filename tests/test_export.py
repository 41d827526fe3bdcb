"""`bench export`: a run's figures as github-action-benchmark's customSmallerIsBetter input
and as Bencher Metric Format, checked against the fields the formats document:

- github-action-benchmark (README, "Examples" of the custom tools): a JSON array of objects
  with `name` (string), `unit` (string), `value` (number), optional `range` (string, e.g.
  "± 329") and optional `extra` (string); smallerIsBetter means every value is a cost;
- Bencher Metric Format (bencher.dev/docs/reference/bencher-metric-format, its JSON schema):
  an object of benchmarks (names up to 1024 characters), each an object of measures (slugs
  up to 64 characters), each {"value": number, "lower_value"?: number, "upper_value"?:
  number}, nothing else.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from click.testing import CliRunner

from bench.cli.report import export_cmd
from bench.report import export

TINY = Path(__file__).parent / "fixtures" / "tiny_run" / "results.json"
GAB_FIELDS, GAB_REQUIRED = {"name", "unit", "value", "range", "extra"}, {"name", "unit", "value"}
BMF_FIELDS = {"value", "lower_value", "upper_value"}


def number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def test_github_action_benchmark_custom_smaller_is_better(tmp_path):
    result = CliRunner().invoke(export_cmd, [str(TINY), "--format", "github", "-o", str(tmp_path / "gab.json")])
    assert result.exit_code == 0, result.output
    entries = json.loads((tmp_path / "gab.json").read_text())
    assert isinstance(entries, list) and len(entries) > 100
    for e in entries:
        assert GAB_REQUIRED <= e.keys() <= GAB_FIELDS, e
        assert isinstance(e["name"], str) and isinstance(e["unit"], str) and number(e["value"])
        assert isinstance(e.get("range", ""), str) and isinstance(e.get("extra", ""), str)
    names = [e["name"] for e in entries]
    assert len(names) == len(set(names))  # one series per name
    assert not any("req/s" in e["unit"] or e["unit"] == "users" for e in entries)  # bigger-is-better left out
    (p50,) = [e for e in entries if e["name"] == "latency/documents_by_kb/hardened p50"]
    (cell,) = [c for c in json.loads(TINY.read_text())["latency"]["results"]
               if (c["scenario"], c["variant"]) == ("documents_by_kb", "hardened")]
    assert p50["unit"] == "ms" and p50["value"] == cell["latency"]["p50_ms"]
    (median,) = [e for e in entries if e["name"] == "latency/documents_by_kb/hardened round-median"]
    assert median["range"].startswith("± ")


def test_bencher_metric_format(tmp_path):
    result = CliRunner().invoke(export_cmd, [str(TINY), "--format", "bencher"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert isinstance(data, dict) and data
    for benchmark, measures in data.items():
        assert isinstance(benchmark, str) and 0 < len(benchmark) <= 1024
        assert isinstance(measures, dict) and measures
        for slug, metric in measures.items():
            assert 0 < len(slug) <= 64 and slug == slug.lower() and " " not in slug
            assert "value" in metric and metric.keys() <= BMF_FIELDS and all(number(v) for v in metric.values())
            if "lower_value" in metric:
                assert metric["lower_value"] <= metric["value"] <= metric["upper_value"]
    assert data["storage/hardened"]["total-bytes"]["value"] == 18415616
    assert data["load/review"]["capacity-users"]["value"] == 0
    assert set(data["latency/documents_by_kb/hardened"]) == {"p50-ms", "p95-ms", "p99-ms", "throughput-req-per-s",
                                                             "round-median-ms"}
    assert data["security/hardened"]["successful-attacks"]["value"] == 0


def test_an_unknown_format_or_a_bad_run_is_one_line(tmp_path):
    result = CliRunner().invoke(export_cmd, [str(TINY), "--format", "csv"])
    assert result.exit_code == 2 and "'csv' is not one of" in result.output
    (tmp_path / "results.json").write_text("{")
    bad = CliRunner().invoke(export_cmd, [str(tmp_path), "--format", "github"])
    assert bad.exit_code == 1 and "is not valid JSON" in str(bad.exception)


def test_figures_come_from_the_run_only():
    results = json.loads(TINY.read_text())
    gab = export.github_action_benchmark(results)
    assert {e["name"].split("/")[0] for e in gab} == {"latency", "vector", "storage", "security"}
