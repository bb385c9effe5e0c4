#!/usr/bin/env bash
# Unpack what tools/gpu_session.sh left in a device call's $OUT (the device tool's files_at) into
# results/ ($FFCNN_RESULTS if set): new run folders, partial records, benchmark records, and the
# resume points of unfinished runs (results/partial/gpu/: commit them, the next call of `next`
# finds them in the working tree). Resume points the call finished (resume-gone.txt) are removed;
# finished runs supersede partial records, resume points and checkpoints of the same run (the CPU
# campaign's in results/partial/ too). Maintainers' notes: tools/README.md.
set -euo pipefail
src=${1:?usage: tools/import_gpu_results.sh FILES_AT}
src=$(cd "$src" && pwd)
cd "$(dirname "$0")/.."
root=${FFCNN_RESULTS:-results}
mkdir -p "$root"
# Unpacked aside first: a run already stored here, or a partial record of a run the CPU campaign is
# training here (its resume point results/partial/<id>.pt), is never overwritten by the GPU's.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if compgen -G "$src/results.tgz.part-*" >/dev/null; then
  cat "$src"/results.tgz.part-* | tar xzf - -C "$tmp" --strip-components=1
elif [ -f "$src/results.tgz" ]; then  # a call before the archives were split
  tar xzf "$src/results.tgz" -C "$tmp" --strip-components=1
fi
mkdir -p "$root/runs" "$root/partial" "$root/benchmarks"
for run in "$tmp"/runs/*/; do
  [ -d "$run" ] || continue
  id=$(basename "$run")
  if [ -e "$root/runs/$id" ]; then echo "kept the local runs/$id (the GPU's copy is not imported)"; else
    mv "$run" "$root/runs/$id" && echo "runs/$id"; fi
done
for rec in "$tmp"/partial/*.json "$tmp"/partial/*.metrics.csv; do
  [ -e "$rec" ] || continue
  name=$(basename "$rec"); id=${name%.json}; id=${id%.metrics.csv}
  if [ -e "$root/partial/$id.pt" ]; then echo "kept the CPU campaign's partial/$name"; else
    cp "$rec" "$root/partial/$name" && echo "partial/$name"; fi
done
for bench in "$tmp"/benchmarks/*; do
  [ -e "$bench" ] || continue
  cp "$bench" "$root/benchmarks/" && echo "benchmarks/$(basename "$bench")"
done
if compgen -G "$src/resume.tar.part-*" >/dev/null; then
  cat "$src"/resume.tar.part-* | tar xf - -C "$root" --strip-components=1
  cat "$src"/resume.tar.part-* | tar tvf -
fi
if compgen -G "$src/ckpt.tgz.part-*" >/dev/null; then  # a call before resume points were committed
  cat "$src"/ckpt.tgz.part-* | tar xzf - -C "$root" --strip-components=1
fi
for gone in "$src/resume-gone.txt" "$src/ckpt-gone.txt"; do
  [ -f "$gone" ] || continue
  while read -r name; do
    case $name in
      *..*|"") ;;
      partial/gpu/*.resume.gz|checkpoints/*.pt) rm -f "$root/$name" ;;  # paths under the result root only
    esac
  done <"$gone"
done
for summary in "$root"/runs/*/summary.json; do
  [ -e "$summary" ] || continue
  id=$(basename "$(dirname "$summary")")
  rm -f "$root/partial/$id.json" "$root/partial/$id.metrics.csv" "$root/partial/$id.pt" "$root/checkpoints/$id.pt" \
    "$root/checkpoints/gpu/$id.pt" "$root/partial/gpu/$id.resume.gz"
done
if [ -z "${FFCNN_RESULTS:-}" ]; then
  git status --short results | head -40
fi
