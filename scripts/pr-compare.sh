#!/usr/bin/env bash
# Compare a pull request's head with its base on this machine, as .github/workflows/bench.yml
# does: both commits checked out side by side (git worktrees), each with its own embedded
# server, run alternately (base head base head ...: drift over time hits both sides), each
# side's runs pooled (scripts/merge_runs.py), then `bench compare` base → head.
#
#   scripts/pr-compare.sh BASE_REF HEAD_REF
#
# Writes to $PR_COMPARE_OUT (default ./pr-compare, must be empty or absent): compare.md (the
# PR comment), compare.json, base/ and head/ (every run), base-merged/, head-merged/, logs/,
# order.txt. Exits 1 when the comparison fails the gate (a verdict got worse or a regression
# beyond the threshold), 0 otherwise or with PR_COMPARE_REPORT_ONLY=1, 2 on bad input (one
# line: no such commit, not a git repository, an output directory in use).
#
# Settings (environment): PR_COMPARE_REPEATS (2: A B A B), PR_COMPARE_SCALE (small),
# PR_COMPARE_THRESHOLD (0.10), PYTHON (the tooling repo's .venv/bin/python), and every
# BENCH_<NAME>_<OPTION> of `bench all` (e.g. BENCH_LATENCY_ROUNDS=4). The measured commits
# run their own code; the comparison runs this script's repository's code.
set -euo pipefail

die() { echo "pr-compare: error: $*" >&2; exit 2; }

[ $# -eq 2 ] || die "usage: scripts/pr-compare.sh BASE_REF HEAD_REF"
tools=$(cd "$(dirname "$0")/.." && pwd)
repo=$(git rev-parse --show-toplevel 2>/dev/null) || die "$(pwd) is not in a git repository"
base=$(git -C "$repo" rev-parse --verify --quiet "$1^{commit}") \
    || die "no base commit '$1' in $repo (in CI: actions/checkout with fetch-depth: 0)"
head=$(git -C "$repo" rev-parse --verify --quiet "$2^{commit}") || die "no head commit '$2' in $repo"
python=${PYTHON:-$tools/.venv/bin/python}
[ -x "$python" ] || die "no Python at $python (run \`make install\` first, or set PYTHON)"
repeats=${PR_COMPARE_REPEATS:-2}
case "$repeats" in ''|*[!0-9]*|0) die "PR_COMPARE_REPEATS must be a whole number >= 1, not '$repeats'";; esac
scale=${PR_COMPARE_SCALE:-small}
threshold=${PR_COMPARE_THRESHOLD:-0.10}
out=${PR_COMPARE_OUT:-$(pwd)/pr-compare}
mkdir -p "$out" 2>/dev/null || die "cannot create $out"
out=$(cd "$out" && pwd)
[ -z "$(ls -A "$out")" ] || die "$out is not empty: nothing is overwritten (set PR_COMPARE_OUT)"
mkdir -p "$out/logs"

work=$(mktemp -d "${TMPDIR:-/tmp}/pr-compare.XXXXXX")
chmod 755 "$work"  # run as root, the embedded server runs as another user that must reach its data dir
free_port() { "$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
declare -A port commit
commit[base]=$base
commit[head]=$head
port[base]=$(free_port)
port[head]=$(free_port)

side_env() {  # the environment one side's bench runs in: its code, its server, its reports
    local side=$1
    echo "PYTHONPATH=$work/$side BENCH_DATA_DIR=$work/$side-home BENCH_PORT=${port[$side]} BENCH_REPORTS_DIR=$out/$side"
}

cleanup() {
    for side in base head; do
        if [ -d "$work/$side-home" ]; then
            (cd "$work/$side" && env $(side_env "$side") "$python" -m bench db stop >/dev/null 2>&1) || true
        fi
        git -C "$repo" worktree remove --force "$work/$side" >/dev/null 2>&1 || true
    done
    rm -rf "$work"
}
trap cleanup EXIT

for side in base head; do
    git -C "$repo" worktree add --detach --quiet "$work/$side" "${commit[$side]}"
done
echo "pr-compare: base ${base:0:12} vs head ${head:0:12}, scale $scale, $repeats rounds of base head" >&2

for i in $(seq 1 "$repeats"); do
    for side in base head; do
        log="$out/logs/$i-$side.log"
        echo "$i $side ${commit[$side]}" >> "$out/order.txt"
        began=$(date +%s)
        code=0
        (cd "$work/$side" && env $(side_env "$side") "$python" -m bench all --scale "$scale") > "$log" 2>&1 || code=$?
        echo "pr-compare: run $i $side: exit $code in $(( $(date +%s) - began )) s (log: $log)" >&2
        # 1: measured, with faults the report states (failed requests, an SLO's failure ratio);
        # anything else (a usage mistake, a signal, no results) ends the comparison.
        if [ "$code" -ne 0 ] && [ "$code" -ne 1 ]; then
            tail -n 5 "$log" >&2
            echo "pr-compare: error: bench all on $side (${commit[$side]:0:12}) failed with exit $code" >&2
            exit "$code"
        fi
        if ! ls "$out/$side"/*/results.json >/dev/null 2>&1; then
            tail -n 5 "$log" >&2
            echo "pr-compare: error: bench all on $side wrote no results" >&2
            exit 1
        fi
    done
done

for side in base head; do
    PYTHONPATH=$tools "$python" "$tools/scripts/merge_runs.py" "$out/$side-merged" "$out/$side"/*/ >/dev/null
done

gate=(--fail-on-regression)
[ "${PR_COMPARE_REPORT_ONLY:-0}" = "1" ] && gate=()
code=0
PYTHONPATH=$tools "$python" -m bench compare "$out/base-merged" "$out/head-merged" --threshold "$threshold" \
    --json "$out/compare.json" --markdown "$out/compare.md" "${gate[@]}" > /dev/null || code=$?
echo "pr-compare: $out/compare.md (exit $code)" >&2
exit "$code"
