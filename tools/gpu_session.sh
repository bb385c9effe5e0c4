#!/usr/bin/env bash
# One stage of a GPU session, for the device machine (see README, "GPU sessions"). From the repo root:
#
#   bash tools/gpu_session.sh bench               # make bench at full size + a matched 5-epoch fp32/fast run
#   bash tools/gpu_session.sh headline [BUDGET_S] # the best network at the paper's settings, 5 seeds in turn
#   bash tools/gpu_session.sh sweep PROFILE ARTIFACT... [-- BUDGET_S]   # e.g. sweep paper bp cam
#
# (DEVICE=cpu runs the training stages on a CPU, to try the script out.)
# A stage trains within BUDGET_S seconds (default 540, under the device's 10-minute limit) and
# stops at an epoch boundary with a checkpoint; run it again, carrying results/checkpoints, to go on.
# What it made lands in $OUT as at most 8 files of at most 15 MB each (the device's limits):
#   results.tgz        new or changed files under results/runs, results/partial, results/benchmarks
#   ckpt.tgz.part-*    results/checkpoints (resume points), split
# At home, `bash tools/import_gpu_results.sh FILES_AT` unpacks them into results/.
set -euo pipefail
: "${OUT:?set OUT to the folder whose files come back (the device tool sets it)}"
export PYTHONPATH=.
PY=${PYTHON:-$(command -v python || command -v python3)}
stage=${1:?stage: bench, headline or sweep}
shift
marker=$(mktemp)
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
case $stage in
  bench)
    # the record is rewritten after every section: if time runs out, what was measured comes back
    timeout 560 "$PY" -m ffcnn_lib.bench --out results/benchmarks --precision-epochs "${1:-5}" --memory-of bench || true ;;
  headline)
    "$PY" -m ffcnn_lib sweep headline --profile paper --device "${DEVICE:-cuda}" --time-budget "${1:-540}" || true ;;
  sweep)
    profile=${1:?sweep PROFILE ARTIFACT...}
    shift
    artifacts=() budget=540
    while [ $# -gt 0 ]; do
      if [ "$1" = "--" ]; then budget=$2; break; fi
      artifacts+=("$1"); shift
    done
    "$PY" -m ffcnn_lib sweep "${artifacts[@]}" --profile "$profile" --device "${DEVICE:-cuda}" --time-budget "$budget" || true ;;
  *)
    echo "unknown stage '$stage'; allowed: bench, headline, sweep" >&2; exit 2 ;;
esac
# exit status 3 above means "budget spent, rerun to resume": pack what there is either way
find results/runs results/partial results/benchmarks -type f -newer "$marker" -print0 2>/dev/null \
  | tar czf "$OUT/results.tgz" --null -T -
if compgen -G "results/checkpoints/*.pt" >/dev/null; then
  tar czf - results/checkpoints/*.pt | split -b 15M - "$OUT/ckpt.tgz.part-"
fi
ls -l "$OUT"
tar tzf "$OUT/results.tgz" | sed 's|/[^/]*$||' | sort -u
