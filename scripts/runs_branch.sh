#!/usr/bin/env bash
# The bench-runs branch: every run recorded on main, as <hardware key>/<run>.json, kept in git so
# the history outlives artifact retention and anyone can `git clone -b bench-runs` it. Used by
# .github/workflows/gpu.yml:
#   runs_branch.sh fetch DIR            copy the branch's runs into DIR (nothing if no branch yet)
#   runs_branch.sh add DIR NEW MESSAGE  add NEW's run files to the branch (never replacing one
#                                       already there), push, and copy the union into DIR
# Needs TOKEN (the job's token) and REPOSITORY (owner/name); RUNS_BRANCH (default bench-runs).
# The token goes in a header for each git call, never into a file.
set -euo pipefail
branch=${RUNS_BRANCH:-bench-runs}
url=${RUNS_URL:-https://github.com/${REPOSITORY:-}.git} # RUNS_URL: another remote (the tests)
auth() {
    git -c http.extraheader="AUTHORIZATION: basic $(printf 'x-access-token:%s' "$TOKEN" | base64 -w0)" "$@"
}
clone="$(mktemp -d)/runs"
if ! auth clone -q --depth 1 --single-branch --branch "$branch" "$url" "$clone" 2> /dev/null; then
    git init -q -b "$branch" "$clone" # the first run: the branch starts here
fi

copy_runs() { # copy_runs FROM TO: every *.json under FROM, keeping paths, never replacing a file
    (cd "$1" && find . -name '*.json' -not -path './.git/*' -print0) |
        while IFS= read -r -d '' f; do
            [ -e "$2/$f" ] && continue
            mkdir -p "$(dirname "$2/$f")"
            cp "$1/$f" "$2/$f"
        done
}

case ${1:-} in
fetch)
    mkdir -p "$2"
    copy_runs "$clone" "$2"
    ;;
add)
    copy_runs "$3" "$clone"
    git -C "$clone" add -A
    if git -C "$clone" diff --cached --quiet; then
        echo "runs_branch: no new runs"
    else
        git -C "$clone" -c user.name=unet-bench -c user.email=unet-bench@users.noreply.github.com \
            commit -qm "$4"
        auth -C "$clone" push -q "$url" "HEAD:$branch"
    fi
    mkdir -p "$2"
    copy_runs "$clone" "$2"
    ;;
*)
    echo "usage: runs_branch.sh fetch DIR | add DIR NEW MESSAGE" >&2
    exit 2
    ;;
esac
