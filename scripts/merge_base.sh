#!/usr/bin/env bash
# The merge base of HEAD and a base ref, for the A/B gate: REF as given when this clone has it
# (a commit id, or a local branch), else origin/REF. A workflow dispatched from a branch has no
# local `main`, only `origin/main`, so a bare `git merge-base main HEAD` fails there.
# Usage: bash scripts/merge_base.sh REF   (prints the commit id; exit 4 when REF is unknown)
set -euo pipefail
ref=${1:?usage: merge_base.sh REF}
if git rev-parse --verify -q "$ref^{commit}" > /dev/null; then
    git merge-base "$ref" HEAD
elif git rev-parse --verify -q "origin/$ref^{commit}" > /dev/null; then
    git merge-base "origin/$ref" HEAD
else
    echo "merge_base.sh: neither $ref nor origin/$ref is a commit in this clone" >&2
    exit 4
fi
