#!/usr/bin/env bash
# Commit the CPU campaign's progress, and only that (other staged changes stay staged):
# per-epoch records of unfinished runs (results/partial/*.json, *.metrics.csv), finished runs
# (results/runs), step timings (results/benchmarks) and the README's generated tables. Resume
# points (results/partial/*.pt, 2-10 MB each, in every clone's history forever) go in only with
# --with-resume-points: once per session, at its stop (issue #31), which keeps a session's growth of
# .git to its unfinished runs' resume points, once. Then prints what the commit added to .git.
# Usage: tools/commit_campaign.sh [--with-resume-points] "commit message"
set -euo pipefail
cd "$(dirname "$0")/.."
pt=0
if [ "${1:-}" = "--with-resume-points" ]; then pt=1; shift; fi
msg=${1:?usage: tools/commit_campaign.sh [--with-resume-points] "commit message"}
paths=(results/runs results/benchmarks README.md)
# a deleted resume point (its run finished) goes in at once: a deletion adds nothing to .git
while IFS= read -r f; do paths+=("$f"); done < <(
  { git ls-files -m -o --exclude-standard -- results/partial |
      { if [ "$pt" = 1 ]; then cat; else grep -v '\.pt$' || true; fi }
    git ls-files -d -- results/partial; } | sort -u)
git add -A -- "${paths[@]}"
before=$(git rev-parse HEAD)
git commit -q -m "$msg" -- "${paths[@]}"
git log --oneline -1
tools/git_growth.sh "$before"
