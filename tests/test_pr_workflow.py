"""The pull-request workflow (.github/workflows/bench.yml) and the scripts it runs:
the workflow is valid YAML, runs on pull requests, every step's script exists in the repo,
and the comment step uses the PR's own token only; scripts/pr-compare.sh refuses bad input
in one line (exit 2) and overwrites nothing; and, end to end (`e2e`), it runs base and
head of a temporary git repository alternately (A B A B) where the head drops the
indexes documents_by_kb uses on hardened, and the comparison flags that regression."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from bench.core.config import PROJECT_ROOT

WORKFLOW = PROJECT_ROOT / ".github" / "workflows" / "bench.yml"
PR_COMPARE = PROJECT_ROOT / "scripts" / "pr-compare.sh"
PR_COMMENT = PROJECT_ROOT / "scripts" / "pr-comment.sh"
DROPPED = ("CREATE INDEX documents_org_kb_idx ON documents (organization_id, knowledge_base_id);\n",
           "CREATE INDEX documents_live_kb_type_language_idx ON documents "
           "(knowledge_base_id, document_type, language)\n"
           "  WHERE deleted_at IS NULL;\n")


@pytest.fixture(scope="module")
def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


def steps(workflow: dict) -> list[dict]:
    return [step for job in workflow["jobs"].values() for step in job["steps"]]


def test_the_workflow_runs_on_pull_requests_and_every_script_exists(workflow):
    assert "pull_request" in workflow[True]  # YAML 1.1 reads the key `on` as True
    assert workflow["permissions"] == {"contents": "read", "pull-requests": "write"}
    runs = [step["run"] for step in steps(workflow) if "run" in step]
    assert len(runs) >= 3
    for run in runs:
        program = shlex.split(run)[0]
        if program == "make":
            assert re.search(rf"^{shlex.split(run)[1]}:", (PROJECT_ROOT / "Makefile").read_text(), flags=re.M)
            continue
        script = PROJECT_ROOT / program
        assert script.is_file() and os.access(script, os.X_OK), run
        assert subprocess.run(["bash", "-n", str(script)]).returncode == 0  # valid shell
    uses = [step["uses"].split("@")[0] for step in steps(workflow) if "uses" in step]
    assert uses == ["actions/checkout", "actions/setup-python", "actions/upload-artifact"]
    (checkout,) = [step for step in steps(workflow) if step.get("uses", "").startswith("actions/checkout")]
    assert checkout["with"]["fetch-depth"] == 0  # the base commit must be there


def test_the_comment_step_uses_only_the_pull_requests_token(workflow):
    (comment,) = [step for step in steps(workflow) if "pr-comment.sh" in step.get("run", "")]
    assert comment["env"]["GH_TOKEN"] == "${{ github.token }}"
    assert comment["if"] == "always()"  # a failed gate still gets its comment
    text = WORKFLOW.read_text()
    assert set(re.findall(r"secrets\.(\w+)", text)) <= {"GITHUB_TOKEN"}
    assert "pull_request_target" not in text  # a fork's code never runs with a write token
    (compare,) = [step for step in steps(workflow) if "pr-compare.sh" in step.get("run", "")]
    for ref in ("github.event.pull_request.base.sha", "github.event.pull_request.head.sha"):
        assert ref in compare["run"]


def test_the_comment_script_checks_its_input(tmp_path):
    env = {**os.environ, "GITHUB_REPOSITORY": "owner/repo", "PR_NUMBER": "7", "PR_COMMENT_DRY_RUN": "1"}
    missing = subprocess.run([str(PR_COMMENT), str(tmp_path / "none.md")], env=env, capture_output=True, text=True)
    assert missing.returncode == 2 and missing.stderr.startswith("pr-comment: error: no comparison at")
    (tmp_path / "other.md").write_text("# something else\n")
    foreign = subprocess.run([str(PR_COMMENT), str(tmp_path / "other.md")], env=env, capture_output=True, text=True)
    assert foreign.returncode == 2 and "lacks the marker" in foreign.stderr
    (tmp_path / "compare.md").write_text("<!-- bench-compare -->\n### bench compare\n")
    dry = subprocess.run([str(PR_COMMENT), str(tmp_path / "compare.md")], env=env, capture_output=True, text=True)
    assert dry.returncode == 0 and "owner/repo#7" in dry.stdout


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(repo), "-c", "user.email=bench@example.com", "-c", "user.name=bench",
                           *args], capture_output=True, text=True, check=True)
    return done.stdout.strip()


def snapshot(target: Path) -> Path:
    """A git repository holding this working tree (tracked and new files, not ignored ones)
    as its first commit; the second commit drops hardened's documents indexes."""
    files = subprocess.run(["git", "-C", str(PROJECT_ROOT), "ls-files", "-co", "--exclude-standard", "-z"],
                           capture_output=True, check=True).stdout.decode().split("\0")
    target.mkdir()
    for name in filter(None, files):
        source = PROJECT_ROOT / name
        if source.is_file() and not name.startswith("tests/fixtures/golden_small"):
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            (target / name).write_bytes(source.read_bytes())
            (target / name).chmod(source.stat().st_mode)
    subprocess.run(["git", "init", "-q", str(target)], check=True)
    git(target, "add", "-A")
    git(target, "commit", "-qm", "base")
    post = target / "schema" / "hardened" / "post.sql"
    sql = post.read_text()
    assert all(index in sql for index in DROPPED)
    for index in DROPPED:
        sql = sql.replace(index, "")
    post.write_text(sql)
    git(target, "commit", "-qam", "drop the indexes documents_by_kb uses")
    return target


def pr_compare(repo: Path, *args: str, env: dict | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([str(PR_COMPARE), *args], cwd=repo, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "PYTHON": sys.executable, **(env or {})})


def test_bad_input_is_one_line(tmp_path):
    subprocess.run(["git", "init", "-q", str(tmp_path / "repo")], check=True)
    repo = tmp_path / "repo"
    (repo / "a").write_text("a")
    git(repo, "add", "a")
    git(repo, "commit", "-qm", "one")
    out = tmp_path / "out"
    cases = [
        ((), "usage: scripts/pr-compare.sh BASE_REF HEAD_REF"),
        (("0123456789abcdef0123456789abcdef01234567", "HEAD"), "no base commit '0123456789abcdef"),
        (("HEAD", "nope"), "no head commit 'nope'"),
    ]
    for args, said in cases:
        done = pr_compare(repo, *args, env={"PR_COMPARE_OUT": str(out)})
        assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
        assert done.stderr.startswith("pr-compare: error: ") and said in done.stderr
    out.mkdir(exist_ok=True)
    (out / "compare.md").write_text("earlier")
    busy = pr_compare(repo, "HEAD", "HEAD", env={"PR_COMPARE_OUT": str(out)})
    assert busy.returncode == 2 and "is not empty: nothing is overwritten" in busy.stderr
    assert (out / "compare.md").read_text() == "earlier"
    elsewhere = subprocess.run([str(PR_COMPARE), "HEAD", "HEAD"], cwd=tmp_path, capture_output=True, text=True)
    assert elsewhere.returncode == 2 and "is not in a git repository" in elsewhere.stderr


# The cheapest `bench all` that still measures every section: two scenarios (the one the
# dropped indexes serve, and one they do not), one vector configuration, one load step.
CHEAP = {"PR_COMPARE_SCALE": "tiny", "PR_COMPARE_REPEATS": "2",
         "BENCH_LATENCY_SCENARIO": "documents_by_kb my_projects", "BENCH_LATENCY_ROUNDS": "4",
         "BENCH_LATENCY_RUNS": "2", "BENCH_LATENCY_REQUESTS": "20", "BENCH_LATENCY_WARMUP": "5",
         "BENCH_VECTOR_CONFIG": "ivfflat_lists100", "BENCH_VECTOR_BUILDS": "1", "BENCH_VECTOR_QUERIES": "10",
         "BENCH_VECTOR_ROUNDS": "2",
         "BENCH_VECTOR_CLIENTS": "1", "BENCH_VECTOR_NO_FILTERED": "1", "BENCH_VECTOR_NO_RLS": "1",
         "BENCH_LOAD_STEPS": "2", "BENCH_LOAD_STEP_SECONDS": "1", "BENCH_LOAD_WARMUP_SECONDS": "0.5",
         "BENCH_LOAD_STEP_REQUESTS": "5", "BENCH_LOAD_STEP_MAX_SECONDS": "2",
         "BENCH_LOAD_STEP_EXTEND_SECONDS": "0"}


@pytest.mark.e2e
@pytest.mark.timeout(1500)
def test_the_pr_script_flags_a_dropped_index(tmp_path):
    repo = snapshot(tmp_path / "repo")
    out = tmp_path / "pr-compare"
    began = time.monotonic()
    done = pr_compare(repo, "HEAD~1", "HEAD", env={**CHEAP, "PR_COMPARE_OUT": str(out)}, timeout=1400)
    seconds = time.monotonic() - began
    print(f"pr-compare.sh took {seconds:.0f} s\n{done.stderr}")
    base, head = git(repo, "rev-parse", "HEAD~1"), git(repo, "rev-parse", "HEAD")
    order = [line.split() for line in (out / "order.txt").read_text().splitlines()]
    assert order == [["1", "base", base], ["1", "head", head], ["2", "base", base], ["2", "head", head]]
    assert done.returncode == 1, done.stderr  # the gate fails
    markdown = (out / "compare.md").read_text()
    data = json.loads((out / "compare.json").read_text())
    flagged = [f for f in data["gate"]["failures"] if f["section"] == "work"]
    assert "documents_by_kb on hardened: buffers per request" in [f["what"] for f in flagged], data["gate"]
    (work,) = [i for i in data["work"]["items"] if i["what"] == "documents_by_kb on hardened: buffers per request"]
    assert work["status"] == "regression" and work["new"] > 5 * work["old"]
    assert "❌ **gate fails" in markdown and "documents_by_kb on hardened: buffers per request (" in markdown
    (cell,) = [c for c in data["latency"]["cells"] if (c["scenario"], c["variant"]) == ("documents_by_kb", "hardened")]
    # Timings on a shared 2-core machine may not resolve the slowdown; they must never call it "no change".
    assert cell["figures"]["p50_ms"]["status"] in ("regression", "undecidable"), cell
    assert cell["figures"]["p50_ms"]["change"] > 0
    shrunk = [i for i in data["storage"]["items"] if i["what"] == "hardened documents: index"]
    assert shrunk and shrunk[0]["new"] < shrunk[0]["old"]  # the indexes are gone from the byte counts
    merged = json.loads((out / "base-merged" / "results.json").read_text())
    assert len(merged["merged"]["runs"]) == 2 and merged["latency"]["config"]["runs"] == 4
    assert git(repo, "worktree", "list").count("\n") == 0  # the worktrees are removed again
