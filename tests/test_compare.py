"""`bench compare` on the golden results of a real `small` run (5 rounds of 60 requests):
identical runs flag nothing, an injected 30% slowdown of one cell is flagged (and only
that cell), a speed-up is not a regression, runs of other datasets are refused unless
forced. The same checks on real tiny runs are in test_report.py."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from bench.errors import BenchError
from bench.report import compare
from bench.report.command import compare_cmd
from bench.report.compare import round_ratio
from tests.report_support import GOLDEN, scale_cell, write


@pytest.fixture(scope="module")
def golden() -> dict:
    return json.loads(GOLDEN.read_text())


def test_identical_runs_flag_nothing(golden, tmp_path):
    markdown, regressions = compare(GOLDEN, write(tmp_path / "copy", golden))
    assert regressions == []
    assert "**No regression beyond 10%.**" in markdown
    assert "| my_projects | hardened |" in markdown


STEADY = ("insert_capability", "hardened")  # its 5 round medians lie within 12% of each other
NOISY = ("archive_capability", "hardened")  # one round took twice as long as the others


def test_a_30_percent_slowdown_of_one_cell_is_flagged(golden, tmp_path):
    slower = write(tmp_path / "slower", scale_cell(golden, *STEADY, 1.3))
    markdown, regressions = compare(GOLDEN, slower)
    assert [(r["scenario"], r["variant"]) for r in regressions] == [STEADY]
    what = regressions[0]["what"]
    assert {w.split()[0] for w in what} == {"p50", "p95", "p99", "req/s"}, what
    assert regressions[0]["median_ratio"]["low"] > 1.05  # 5 steady rounds: beyond noise, even corrected for 40 cells
    assert "🔴 **regression**" in markdown and "1 regression beyond 10%" in markdown


def test_the_threshold_decides_how_large_a_slowdown_counts(golden, tmp_path):
    slower = write(tmp_path / "slower", scale_cell(golden, *STEADY, 1.25))
    assert compare(GOLDEN, slower, threshold=0.30)[1] == []
    assert len(compare(GOLDEN, slower, threshold=0.20)[1]) == 1


def test_a_slowdown_within_the_rounds_noise_is_shown_not_flagged(golden, tmp_path):
    """Rounds that disagree by 2x cannot show a 30% shift as significant: reported as noise."""
    markdown, regressions = compare(GOLDEN, write(tmp_path / "slower", scale_cell(golden, *NOISY, 1.3)))
    assert regressions == []
    (row,) = [line for line in markdown.splitlines() if line.startswith(f"| {NOISY[0]} | {NOISY[1]} |")]
    assert "within noise: p50 +30%, p95 +30%" in row


def test_a_speedup_is_not_a_regression(golden, tmp_path):
    faster = write(tmp_path / "faster", scale_cell(golden, "monthly_activity", "baseline", 0.6))
    markdown, regressions = compare(GOLDEN, faster)
    assert regressions == [] and "🟢 faster" in markdown
    _, backwards = compare(faster, GOLDEN)  # and the other way round it is one
    assert [(r["scenario"], r["variant"]) for r in backwards] == [("monthly_activity", "baseline")]


def test_new_failures_are_a_regression(golden, tmp_path):
    broken = json.loads(json.dumps(golden))
    (cell,) = [c for c in broken["latency"]["results"] if c["scenario"] == "my_projects" and c["variant"] == "review"]
    cell["errors"] = 7
    _, regressions = compare(GOLDEN, write(tmp_path / "broken", broken))
    assert regressions and regressions[0]["what"][0] == "7 failed requests (none before)"


@pytest.mark.parametrize("key, value", [("scale", "tiny"), ("seed", 2), ("dim", 1536)])
def test_other_datasets_are_refused_unless_forced(golden, tmp_path, key, value):
    other = json.loads(json.dumps(golden))
    other["dataset"][key] = value
    path = write(tmp_path / "other", other)
    with pytest.raises(BenchError) as error:
        compare(GOLDEN, path)
    assert f"{key} {golden['dataset'][key]} vs {value}" in str(error.value) and "--force" in str(error.value)
    assert "\n" not in str(error.value)
    result = CliRunner().invoke(compare_cmd, [str(GOLDEN), str(path)])
    assert result.exit_code != 0 and isinstance(result.exception, BenchError)
    forced = CliRunner().invoke(compare_cmd, [str(GOLDEN), str(path), "--force"])
    assert forced.exit_code == 0, forced.output
    assert f"compared despite different {key}" in forced.output


def test_another_schema_version_is_refused(golden, tmp_path):
    other = dict(golden, schema_version=2)
    with pytest.raises(BenchError, match="schema_version 2"):
        compare(GOLDEN, write(tmp_path / "v2", other))


def test_environment_changes_are_noted(golden, tmp_path):
    other = json.loads(json.dumps(golden))
    other["environment"]["server"]["server"] = "17.2"
    other["latency"]["config"]["rounds"] = 9
    markdown, _ = compare(GOLDEN, write(tmp_path / "other", other))
    assert "PostgreSQL: 18.6 → 17.2" in markdown and "rounds 5 → 9" in markdown


def test_round_ratio():
    assert round_ratio([1.0], [2.0]) is None  # one round: no interval, never flagged
    same = round_ratio([1.0, 1.2, 0.9], [1.0, 1.2, 0.9])
    assert same.estimate == pytest.approx(1.0) and same.low < 1 < same.high
    shifted = round_ratio([1.0, 1.02, 0.98, 1.01], [1.3, 1.33, 1.27, 1.31])
    assert shifted.estimate == pytest.approx(1.3, rel=1e-3) and shifted.slower
    noisy = round_ratio([1.0, 2.0], [1.3, 2.6])  # rounds 2x apart: a 30% shift is within noise
    assert not noisy.slower


def test_threshold_must_be_a_fraction(golden):
    with pytest.raises(BenchError, match="threshold"):
        compare(GOLDEN, GOLDEN, threshold=-1)
    assert CliRunner().invoke(compare_cmd, [str(GOLDEN), str(GOLDEN), "--threshold", "-0.1"]).exit_code == 2
