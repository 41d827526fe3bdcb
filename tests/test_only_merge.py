"""Cross-variant verdicts from one-variant-at-a-time runs (issue 16, item 6): a user with one
big box measures baseline, drops it, measures hardened, into the same run directory, and
gets every verdict. Real CLI runs on the tiny dataset; a section that cannot merge, or of
another dataset, is refused in one line with nothing lost."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

LATENCY = ["--rounds", "2", "--runs", "1", "--requests", "4", "--warmup", "0", "--scenario", "my_projects",
           "--scenario", "projects_by_status"]


def _data(run_dir: Path) -> dict:
    return json.loads((run_dir / "results.json").read_text())


def _one_line_refusal(result, words: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bench: error:") and words in lines[0], result.stderr


@pytest.mark.e2e
def test_variants_measured_apart_merge_into_one_run_with_every_verdict(run_bench, tiny_dsn, tmp_path):
    out = tmp_path / "runs"
    first = run_bench("--dsn", tiny_dsn, "run", "latency", "--only", "baseline", *LATENCY, "--out", str(out))
    assert first.returncode == 0, first.stderr
    run_dir = next(out.iterdir())
    for name in ("storage", "security"):
        done = run_bench("--dsn", tiny_dsn, "run", name, "--only", "baseline", "--run-dir", str(run_dir))
        assert done.returncode == 0, done.stderr
    dropped = run_bench("--dsn", tiny_dsn, "schema", "drop", "--only", "baseline", "--force")
    assert dropped.returncode == 0, dropped.stderr

    # the rest, measured with baseline gone from the database
    rest = ["--only", "review", "--only", "hardened", "--run-dir", str(run_dir)]
    for args in (["latency", *LATENCY], ["storage"]):
        done = run_bench("--dsn", tiny_dsn, "run", *args, *rest)
        assert done.returncode == 0, done.stderr
    data = _data(run_dir)
    assert {r["variant"] for r in data["latency"]["results"]} == {"baseline", "review", "hardened"}
    assert data["latency"]["merged_from_earlier_run"]["variants"] == ["baseline"]
    verdicts = {(v["claim"], v["variant"]): v for v in data["verdicts"]}
    speedup = verdicts[("query_speedup", "hardened")]
    assert speedup["verdict"] != "not measured" and len(speedup["scenarios"]) == 2, speedup
    assert "measured by an earlier --only run" in speedup["note"]
    assert set(data["storage"]["totals"]) == {"baseline", "review", "hardened"}
    storage = verdicts[("storage", "hardened")]
    assert storage["verdict"] != "not measured" and storage["figure"]["baseline_bytes"] > 0, storage

    # security's figures do not merge: refused before measuring, baseline's kept
    refused = run_bench("--dsn", tiny_dsn, "run", "security", *rest)
    _one_line_refusal(refused, "security sections do not merge")
    assert "baseline" in {f["variant"] for f in _data(run_dir)["security"]["findings"]}

    # figures of another dataset are never merged
    data = _data(run_dir)
    data["dataset"]["seed"] = 999
    (run_dir / "results.json").write_text(json.dumps(data))
    refused = run_bench("--dsn", tiny_dsn, "run", "storage", *rest)
    _one_line_refusal(refused, "another dataset")
    assert set(_data(run_dir)["storage"]["totals"]) == {"baseline", "review", "hardened"}
