#!/usr/bin/env bash
# What a newcomer downloads and keeps: clones this repository's HEAD twice into a temporary folder,
# in full and with --depth 1, the way `git clone <url>` would (packed, not hard-linked), and prints
# each clone's history (.git) and its size on disk with the checked-out files, in MiB. The README's
# advice to clone with --depth 1 quotes these figures; committed resume points make the history grow.
# Usage: tools/clone_size.sh   (about half a minute)
set -euo pipefail
repo=$(git rev-parse --show-toplevel)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
git clone -q --no-local "$repo" "$tmp/full"
git clone -q --depth 1 "file://$repo" "$tmp/depth1"
mib() { du -s --block-size=1M "$1" | cut -f1; }
printf "HEAD %s (%s)\n" "$(git -C "$repo" rev-parse --short HEAD)" "$(git -C "$repo" log -1 --format=%cs)"
for c in full depth1; do
    printf "  %-7s history %4d MiB, with the checked-out files %4d MiB\n" "$c" "$(mib "$tmp/$c/.git")" "$(mib "$tmp/$c")"
done
