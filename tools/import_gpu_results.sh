#!/usr/bin/env bash
# Unpack what tools/gpu_session.sh left in a device call's $OUT (the device tool's files_at) into
# results/ ($FFCNN_RESULTS if set): new run folders, partial records and benchmark records, and
# the checkpoints to resume from (carry results/checkpoints/gpu in the next call of `next`). Checkpoints
# the call finished (ckpt-gone.txt) are removed; finished runs supersede partial records (and the
# CPU campaign's resume points in results/partial/).
set -euo pipefail
src=${1:?usage: tools/import_gpu_results.sh FILES_AT}
src=$(cd "$src" && pwd)
cd "$(dirname "$0")/.."
root=${FFCNN_RESULTS:-results}
mkdir -p "$root"
if [ -f "$src/results.tgz" ]; then
  tar xzf "$src/results.tgz" -C "$root" --strip-components=1
  tar tzf "$src/results.tgz"
fi
if compgen -G "$src/ckpt.tgz.part-*" >/dev/null; then
  cat "$src"/ckpt.tgz.part-* | tar xzf - -C "$root" --strip-components=1
  cat "$src"/ckpt.tgz.part-* | tar tzvf -
fi
if [ -f "$src/ckpt-gone.txt" ]; then
  while read -r name; do
    case $name in
      *..*|"") ;;
      checkpoints/*.pt) rm -f "$root/$name" ;;  # paths under the result root only
    esac
  done <"$src/ckpt-gone.txt"
fi
for summary in "$root"/runs/*/summary.json; do
  [ -e "$summary" ] || continue
  id=$(basename "$(dirname "$summary")")
  rm -f "$root/partial/$id.json" "$root/partial/$id.metrics.csv" "$root/partial/$id.pt" "$root/checkpoints/$id.pt" \
    "$root/checkpoints/gpu/$id.pt"
done
if [ -z "${FFCNN_RESULTS:-}" ]; then
  git status --short results | head -40
fi
