#!/usr/bin/env bash
# What the commits since BASE add to .git: the compressed size of every object reachable from HEAD
# but not from BASE (what a clone downloads more), in MB, with the five largest blobs. A session
# states it in its note (issue #31); resume points (results/partial/*.pt, 2-10 MB each) dominate it.
# Usage: tools/git_growth.sh BASE   (e.g. the commit a session started from)
set -euo pipefail
base=${1:?usage: tools/git_growth.sh BASE}
objects=$(git rev-list --objects "$base"..HEAD | git cat-file --batch-check='%(objecttype) %(objectsize:disk) %(rest)')
awk -v base="$base" '{ total += $2 } END { printf "%.1f MB added to .git since %s\n", total / 1e6, base }' <<<"$objects"
awk '$1 == "blob" { print $2, $3 }' <<<"$objects" | sort -n -r | head -5 | awk '{ printf "  %6.1f MB  %s\n", $1 / 1e6, $2 }'
