#!/usr/bin/env bash
# Unpack what tools/gpu_session.sh left in a device call's $OUT (the device tool's files_at) into
# results/: new run folders, partial records and benchmark records, and the checkpoints to resume
# from (carry results/checkpoints in the next device call). Finished runs supersede partial records.
set -euo pipefail
src=${1:?usage: tools/import_gpu_results.sh FILES_AT}
cd "$(dirname "$0")/.."
if [ -f "$src/results.tgz" ]; then
  tar xzf "$src/results.tgz"
  tar tzf "$src/results.tgz"
fi
if compgen -G "$src/ckpt.tgz.part-*" >/dev/null; then
  cat "$src"/ckpt.tgz.part-* | tar xzf -
  ls -l results/checkpoints/*.pt
fi
for summary in results/runs/*/summary.json; do
  id=$(basename "$(dirname "$summary")")
  rm -f "results/partial/$id.json" "results/partial/$id.metrics.csv" "results/checkpoints/$id.pt"
done
git status --short results | head -40
