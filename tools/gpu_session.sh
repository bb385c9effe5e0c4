#!/usr/bin/env bash
# GPU work for the device machine (maintainers' notes: tools/README.md). From the repo root:
#
#   bash tools/gpu_session.sh next [OPTIONS]      # the next unfinished stages of the plan, within 9.5 minutes
#   bash tools/gpu_session.sh --plan [OPTIONS]    # what is left, in GPU minutes per stage and run (no $OUT needed)
#
# The plan and its options (--only, --skip, --profile, --seconds): python -m ffcnn_lib.gpu_plan --help.
# Single stages by hand:
#   bash tools/gpu_session.sh bench               # make bench at full size + a matched 5-epoch fp32/fast run
#   bash tools/gpu_session.sh headline [BUDGET_S] # the best network at the paper's settings, 5 seeds in turn
#   bash tools/gpu_session.sh sweep PROFILE ARTIFACT... [-- BUDGET_S]   # e.g. sweep paper bp cam
#
# (DEVICE=cpu runs the training stages on a CPU, FFCNN_RESULTS another result root: to try it out.)
# Training stops at an epoch boundary. `next` leaves the resume point of an unfinished run in
# results/partial/gpu/ (committed: it travels with the working tree, nothing to carry); the single
# stages leave checkpoints in results/checkpoints (carry that to resume them).
# What it made lands in $OUT as at most 8 files (the device's limits: 16 MiB each, 64 MiB together):
#   results.tgz.part-*   new or changed files under results/runs, results/partial, results/benchmarks
#                        (the resume points apart), split
#   resume.tar.part-*    the resume points (results/partial/gpu/*.resume.gz) this call wrote, split (and the
#                        single stages' checkpoints, results/checkpoints/*.pt)
#   resume-gone.txt      resume points that came with the call and are gone (their runs finished), one a line
# At home, `bash tools/import_gpu_results.sh FILES_AT` unpacks them into results/.
set -euo pipefail
export GPU_SESSION_T0=${GPU_SESSION_T0:-$(date +%s.%N)}
export PYTHONPATH=.${PYTHONPATH:+:$PYTHONPATH}
# the checkout's .venv where there is one (here), else the machine's python (the device)
PY=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || command -v python || command -v python3)}
stage=${1:?stage: next, --plan, bench, headline or sweep}
shift
case $stage in
  --plan|plan) exec "$PY" -m ffcnn_lib.gpu_plan plan "$@" ;;
esac
: "${OUT:?set OUT to the folder whose files come back (the device tool sets it)}"
results=${FFCNN_RESULTS:-results}
marker=$(mktemp)
carried=$(cd "$results" 2>/dev/null && find partial/gpu checkpoints \( -name '*.resume.gz' -o -name '*.pt' \) 2>/dev/null || true)
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || true
case $stage in
  next)
    # gpu_plan ends well before this; the timeout only guards the packing below
    timeout -k 10 "${GPU_SESSION_KILL_S:-585}" "$PY" -m ffcnn_lib.gpu_plan next --device "${DEVICE:-cuda}" "$@" || true ;;
  bench)
    # the record is rewritten after every section: if time runs out, what was measured comes back
    timeout 560 "$PY" -m ffcnn_lib.bench --precision-epochs "${1:-5}" --memory-of bench || true ;;
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
    echo "unknown stage '$stage'; allowed: next, --plan, bench, headline, sweep" >&2; exit 2 ;;
esac
# exit status 3 above means "budget spent, rerun to resume": pack what there is either way.
# Names in the archives start with results/, whatever the result root.
mkdir -p "$results" && cd "$results"
mkdir -p runs partial benchmarks checkpoints
rm -f "$OUT"/results.tgz* "$OUT"/resume.tar.part-* "$OUT/resume-gone.txt"
find runs partial benchmarks -type f -newer "$marker" ! -path 'partial/gpu/*' -print0 \
  | tar czf - --null -T - --transform 's,^,results/,' | split -b 15M - "$OUT/results.tgz.part-"
# only resume points written in this call: one that came unchanged is still at home (and may be newer there);
# with them the checkpoints of the single stages (results/checkpoints/*.pt; `next`'s scratch ones are packed
# into results/partial/gpu by gpu_plan itself)
{ find partial/gpu -name '*.resume.gz' -newer "$marker" -print0 2>/dev/null
  find checkpoints -maxdepth 1 -name '*.pt' -newer "$marker" -print0; } >"$marker.resume" || true
if [ -s "$marker.resume" ]; then
  tar cf - --null -T "$marker.resume" --transform 's,^,results/,' | split -b 15M - "$OUT/resume.tar.part-"
fi
for f in $carried; do
  [ -e "$f" ] || echo "$f" >>"$OUT/resume-gone.txt"
done
rm -f "$marker" "$marker.resume"
ls -l "$OUT"
cat "$OUT"/results.tgz.part-* | tar tzf - | sed 's|/[^/]*$||' | sort | uniq -c
