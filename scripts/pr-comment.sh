#!/usr/bin/env bash
# Post or update the one sticky comment of the benchmark comparison on a pull request, with
# the GitHub CLI (`gh`, preinstalled on GitHub's runners) and only the workflow's own token.
#
#   GH_TOKEN=... GITHUB_REPOSITORY=owner/repo PR_NUMBER=N scripts/pr-comment.sh pr-compare/compare.md
#
# The comment is found by the marker `bench compare` puts on its first line
# (<!-- bench-compare -->): updated when it exists, created otherwise. PR_COMMENT_DRY_RUN=1
# prints what it would do instead. A pull request from a fork gets a read-only token: the
# comment is then skipped with a warning (the report is still the workflow's artifact).
set -euo pipefail

die() { echo "pr-comment: error: $*" >&2; exit 2; }
[ $# -eq 1 ] || die "usage: scripts/pr-comment.sh COMPARE_MD"
body=$1
[ -s "$body" ] || die "no comparison at $body (did scripts/pr-compare.sh run?)"
marker='<!-- bench-compare -->'
grep -qF "$marker" "$body" || die "$body lacks the marker $marker (not written by bench compare)"
: "${GITHUB_REPOSITORY:?pr-comment: error: GITHUB_REPOSITORY is not set}"
: "${PR_NUMBER:?pr-comment: error: PR_NUMBER is not set}"

if [ "${PR_COMMENT_DRY_RUN:-0}" = "1" ]; then
    echo "pr-comment: would post or update the comment marked $marker on $GITHUB_REPOSITORY#$PR_NUMBER ($(wc -c < "$body") bytes)"
    exit 0
fi
: "${GH_TOKEN:?pr-comment: error: GH_TOKEN is not set (the workflow passes github.token)}"

existing=$(gh api "repos/$GITHUB_REPOSITORY/issues/$PR_NUMBER/comments" --paginate \
    --jq ".[] | select(.body | startswith(\"$marker\")) | .id" | head -n 1)
payload=$(mktemp)
trap 'rm -f "$payload"' EXIT
jq -Rs '{body: .}' < "$body" > "$payload"
if [ -n "$existing" ]; then
    gh api --method PATCH "repos/$GITHUB_REPOSITORY/issues/comments/$existing" --input "$payload" >/dev/null \
        || { echo "pr-comment: warning: could not update comment $existing (read-only token?)" >&2; exit 0; }
    echo "pr-comment: updated comment $existing"
else
    gh api --method POST "repos/$GITHUB_REPOSITORY/issues/$PR_NUMBER/comments" --input "$payload" >/dev/null \
        || { echo "pr-comment: warning: could not comment (read-only token on a fork?)" >&2; exit 0; }
    echo "pr-comment: created the comment"
fi
