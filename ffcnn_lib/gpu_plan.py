"""GPU work in one command: a committed plan of stages, and the next unfinished ones run within a call.

Whoever holds the GPU machine (minutes at a time; README, "GPU sessions") runs, again and again::

    bash tools/gpu_session.sh next      # = python -m ffcnn_lib.gpu_plan next, then pack for $OUT
    bash tools/gpu_session.sh --plan    # = python -m ffcnn_lib.gpu_plan --plan: what is left, in GPU minutes

:func:`stages` is the plan, most valuable first: the benchmark, the best network at the paper's
settings (seed 0), the ``short`` profile of every artifact (the open choices first: they could
change our defaults before the long runs), seed 1 of the best network, then the rest. A stage is
done when the result cache holds its runs (for ``bench``: a CUDA benchmark record of the current
fast path), so the plan needs no state of its own: the results are the state. ``next`` runs the
first unfinished stage through :func:`~ffcnn_lib.experiments.run_or_load_many` with the time left
(training stops at an epoch boundary with a checkpoint in ``results/checkpoints/gpu/`` and a
per-epoch record in ``results/partial/``; the next call, carrying ``results/checkpoints/gpu``,
resumes), and goes on to the next stage while time is left.

The plan's checkpoints have a folder of their own, so that a call carries only them: trainings on
this machine keep theirs in ``results/checkpoints/`` (a CPU run is never resumed on the GPU, and
importing the GPU's results never overwrites a local checkpoint).
"""
from __future__ import annotations

import argparse
import hashlib
import math
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from . import bench, sweeps
from .config import Config
from .experiments import load_partial, results_dir

# One device command may run 10 minutes. A call of `next` ends within CALL_S of its start (the
# wrapper's start: GPU_SESSION_T0), leaving RESERVE_S after the last training budget for what
# runs past it: the final evaluation of a run that finished (fp32 and bf16, validation and test),
# an epoch's overrun when torch.compile warms up, and packing the results and checkpoints.
CALL_S, RESERVE_S = 570.0, 65.0
# A batch of runs is started only with this much training time left: on CUDA it pays the data
# load and the torch.compile warm-up first. (On a CPU, for tests: always; it trains one epoch or more.)
MIN_START_S = {"cuda": 60.0, "cpu": -math.inf}
BENCH_S = 480.0           # the full benchmark with its matched 5-epoch runs (README: ~8 min)
BENCH_ARGS = ["--precision-epochs", "5", "--memory-of", "bench"]
# The benchmark row of the fast path that training uses (bf16, channels_last, compile "default");
# records before the compile modes were named call it "... compile".
FAST_VARIANT = "bf16 + channels_last + compile default"
FAST_VARIANTS = (FAST_VARIANT, "bf16 + channels_last + compile")
BENCH_NET = {"filters": [128, 128, 128], "kernel": 7, "batch_size": 50}
REFERENCE = Config(filters=(128, 128, 128), kernel=7, batch_size=50)  # the benchmark's network

# Estimates (``--plan``). The measured fast-path ms/step of the paper's network (128x128x128 7x7,
# batch 50) is scaled to any other step by its convolution FLOPs (bench.step_flops; a stack of R
# networks: the sum of theirs): ms(step) = max(floor(R), ms_ref * flops(step) / flops(ref)).
# Small networks are launch-bound, not FLOP-bound: a step of R stacked ones costs at least
# floor(R) = single + (R - 1) * extra, from the benchmark's multi-run section (one 16x16x16 5x5
# network alone: single; 8 stacked: single + 7 * extra). Until that is measured: single =
# DEFAULT_FLOOR_MS (an assumption: ~50 kernel launches and the compiled graph's Python overhead)
# and 8 stacked cost twice one (issue #4's target, 4x the throughput). BP steps are counted as FF
# steps (5/3 of their FLOPs), but BP networks are small: the floor decides.
DEFAULT_FLOOR_MS = 1.0
# Per epoch, evaluation on the validation set runs at the same FLOP rate: the linear classifier
# (one forward pass of every image) every epoch, goodness (counted as ten forward passes) every
# ``goodness_every`` epochs. The final evaluation: goodness + linear on validation (+ test where
# reported), once in fp32 (counted as twice the bf16 time) and once in bf16.
FINAL_EVAL_PASSES = 3
STARTUP_S = 30.0          # per batch of runs: data to the GPU, model, torch.compile warm-up (estimate)
CARRY_WARN_MB = 48.0      # the device copies working tree + carried paths up to 64 MiB; the tree is ~13 MB


def checkpoint_dir(root: Path | None = None) -> Path:
    """Where the plan's runs keep their resume points: ``results/checkpoints/gpu`` (not committed; carried)."""
    return (root or results_dir()) / "checkpoints" / "gpu"


@dataclass(frozen=True)
class Stage:
    """One step of the plan: the benchmark (``artifact`` None) or runs of an artifact under a profile."""

    name: str
    artifact: str | None = None
    profile: str = "paper"
    seeds: tuple[int, ...] | None = None   # None: every seed of the profile

    def runs(self, profile: str | None = None) -> list[Config]:
        """The stage's runs (``profile`` overrides the stage's, e.g. ``smoke`` to try the plan on a CPU)."""
        if self.artifact is None:
            return []
        return list(dict.fromkeys(run for _, run in sweeps.configs(self.artifact, profile or self.profile)
                                  if self.seeds is None or run.seed in self.seeds))

    def pending(self, profile: str | None = None) -> list[Config]:
        """Runs still to train (missing from the cache, or lacking weights the artifact needs)."""
        if self.artifact is None:
            return []
        todo = set(sweeps._pending(self.artifact, profile or self.profile, False))
        return [r for r in self.runs(profile) if r in todo]


# Paper-profile stages after the best network's seeds: the cheap, small networks first.
PAPER_FIRST = ("bp", "cam", "table3", "fig3a")


def stages() -> list[Stage]:
    """The plan, in order (built from :data:`sweeps.ARTIFACTS`, so a new artifact joins by itself)."""
    artifacts = [a for a in sweeps.ARTIFACTS if a not in ("headline", "choices")]
    paper = [a for a in PAPER_FIRST if a in artifacts] + [a for a in artifacts if a not in PAPER_FIRST] + ["choices"]
    return ([Stage("bench"),
             Stage("headline-s0", "headline", "paper", (0,)),
             Stage("choices-short", "choices", "short")]
            + [Stage(f"{a}-short", a, "short") for a in artifacts + ["headline"]]
            + [Stage(f"headline-s{s}", "headline", "paper", (s,)) for s in (1, 2, 3, 4)]
            + [Stage(f"{a}-paper", a, "paper") for a in paper])


# --- the benchmark stage ---------------------------------------------------------------------------

def _bench_records(root: Path | None, variants: tuple[str, ...]) -> list[tuple[dict, dict]]:
    """(record, fast-path row) of the CUDA records of the paper's network, oldest first."""
    out = []
    for r in bench.records(root):
        c = r["config"]
        if r["device"].startswith("cpu") or any(c.get(k) != v for k, v in BENCH_NET.items()):
            continue
        row = next((x for x in r["rows"] if x["variant"] in variants), None)
        if row is not None:
            out.append((r, row))
    return out


def bench_done(root: Path | None = None) -> dict | None:
    """The newest CUDA record of the current fast path, if any. One cut short (a call's time ran
    out) counts too, so that ``next`` moves on: it holds the ms/step; ``gpu_session.sh bench``
    measures the rest."""
    recs = _bench_records(root, (FAST_VARIANT,))
    return recs[-1][0] if recs else None


def reference(root: Path | None = None) -> dict:
    """The measured speed the estimates scale from: ms/step of the paper's network and the floor."""
    recs = _bench_records(root, FAST_VARIANTS)
    r, row = recs[-1] if recs else ({}, {"ms_per_step": 2.6})
    multi = [m for m in r.get("multirun") or [] if m.get("compile_mode") in (None, "default")
             and m.get("ms_per_step_single") and m.get("ms_per_step_stacked") and m.get("runs", 1) > 1]
    if multi:
        m = multi[0]
        floor, extra = m["ms_per_step_single"], (m["ms_per_step_stacked"] - m["ms_per_step_single"]) / (m["runs"] - 1)
    else:
        floor, extra = DEFAULT_FLOOR_MS, DEFAULT_FLOOR_MS / 7
    where = f"{r['device']} {r['time'][:10]}" if r else "no CUDA benchmark record, assumed"
    return {"ms": row["ms_per_step"], "floor_ms": floor, "extra_ms": max(0.0, extra),
            "source": f"{where}: {row['ms_per_step']:.2f} ms/step (128x128x128 k7 b50), floor {floor:.2f} ms/step "
                      f"+ {max(0.0, extra):.2f} per stacked run ({'measured' if multi else 'assumed'})"}


# --- estimates ---------------------------------------------------------------------------------------

def forward_flops(config: Config) -> float:
    """Convolution FLOPs of one image's forward pass (a step with batch 1 and every layer trained
    counts 3 forward and 2 backward passes of equal cost, see :func:`bench.step_flops`)."""
    return bench.step_flops(config.replace(batch_size=1, include_first_layer=True)) / 5


def checkpoint_name(batch: list[Config]) -> str:
    """The checkpoint file :func:`~ffcnn_lib.experiments.run_or_load_many` gives ``batch`` (same rule)."""
    ids = sorted(c.run_id() for c in batch)
    return ids[0] if len(ids) == 1 else f"stack-{hashlib.sha256(' '.join(ids).encode()).hexdigest()[:12]}"


def epochs_done(batch: list[Config], root: Path) -> tuple[int, str]:
    """Epochs a batch resumes from (its checkpoint's), and a note on partial records that cannot resume."""
    path = checkpoint_dir(root) / f"{checkpoint_name(batch)}.pt"
    if path.exists():
        import torch
        return int(torch.load(path, map_location="cpu", weights_only=True)["epoch"]), ""
    lost = [len(p[0]) for c in batch if (p := load_partial(c, root)) is not None]
    return 0, f"partial record of {max(lost)} epochs without its checkpoint: restarts" if lost else ""


def step_ms(batch: list[Config], ref: dict) -> float:
    """Estimated ms per training step of ``batch`` trained side by side (see the constants above)."""
    floor = ref["floor_ms"] + (len(batch) - 1) * ref["extra_ms"]
    return max(floor, ref["ms"] * sum(bench.step_flops(r) for r in batch) / bench.step_flops(REFERENCE))


@dataclass
class Estimate:
    runs: int          # runs left to train
    total: int         # runs in the stage
    epochs: int        # epochs left, summed over runs
    seconds: float     # estimated GPU seconds
    notes: list[str]


def estimate(stage: Stage, ref: dict, profile: str | None = None, root: Path | None = None) -> Estimate:
    """GPU seconds the stage still needs, from the measured ms/step (see the constants above)."""
    root = root or results_dir()
    if stage.artifact is None:
        return Estimate(0, 0, 0, 0.0 if bench_done(root) else BENCH_S, [])
    prof = sweeps.PROFILE[profile or stage.profile]
    ms_per_flop = ref["ms"] / bench.step_flops(REFERENCE)
    pending = stage.pending(profile)
    epochs, seconds, notes = 0, 0.0, []
    for batch in sweeps._batches(pending, cuda=True):
        c = batch[0]
        done, note = epochs_done(batch, root)
        notes += [note] if note else []
        left = c.epochs - done
        every = prof.goodness_every or max(1, c.epochs // 20)
        fwd = forward_flops(c) * len(batch)
        eval_epoch_ms = ms_per_flop * fwd * c.n_val * (1 + 10 / every)
        n_final = c.n_val + (c.n_test if c.report_test else 0)
        final_ms = ms_per_flop * fwd * n_final * 11 * FINAL_EVAL_PASSES
        steps = c.n_train // c.batch_size
        epochs += left * len(batch)
        seconds += STARTUP_S + (left * (steps * step_ms(batch, ref) + eval_epoch_ms) + final_ms) / 1e3
    return Estimate(len(pending), len(stage.runs(profile)), epochs, seconds, notes)


def is_done(stage: Stage, profile: str | None = None, root: Path | None = None) -> bool:
    return bench_done(root) is not None if stage.artifact is None else not stage.pending(profile)


def select(plan: list[Stage], only: list[str] | None, skip: list[str] | None) -> list[Stage]:
    names = {s.name for s in plan}
    unknown = [n for n in (only or []) + (skip or []) if n not in names]
    if unknown:
        raise ValueError(f"unknown stages {unknown}; the plan has: {', '.join(s.name for s in plan)}")
    return [s for s in plan if (not only or s.name in only) and s.name not in (skip or [])]


def print_plan(plan: list[Stage], profile: str | None = None, file=sys.stdout) -> None:
    """Each unfinished stage with its runs, epochs left and estimated GPU minutes; the total."""
    root = results_dir()
    ref = reference(root)
    print(f"speed: {ref['source']}" + (f"; profile {profile} for every stage" if profile else ""), file=file)
    print(f"{'stage':18s} {'runs left':>9s} {'epochs left':>11s} {'GPU min':>8s} {'cumul.':>7s}", file=file)
    total, first, left = 0.0, None, 0
    for stage in plan:
        if is_done(stage, profile, root):
            continue
        e = estimate(stage, ref, profile, root)
        total += e.seconds
        first = first or stage.name
        left += 1
        runs = "-" if stage.artifact is None else f"{e.runs}/{e.total}"
        epochs = "-" if stage.artifact is None else str(e.epochs)
        print(f"{stage.name:18s} {runs:>9s} {epochs:>11s} {e.seconds / 60:8.1f} {total / 60:7.1f}"
              + "".join(f"  ({n})" for n in dict.fromkeys(e.notes)), file=file)
    usable = CALL_S - RESERVE_S - 15  # a call's training time, after process start and data load
    print(f"{left} stages left, about {total / 60:.0f} GPU minutes (~{math.ceil(total / usable)} calls of "
          f"`gpu_session.sh next`)", file=file)
    rec = bench_done(root)
    if rec is not None and rec.get("complete") is False:
        print(f"note: the benchmark of {rec['time'][:10]} was cut short; `gpu_session.sh bench` measures the rest",
              file=file)
    ckpt = sum(p.stat().st_size for p in checkpoint_dir(root).glob("*.pt")) / 1e6
    if ckpt:
        print(f"checkpoints to carry (results/checkpoints/gpu): {ckpt:.1f} MB" + (" (near the device's 64 MiB limit with the working tree: "
                                                      "remove stale ones)" if ckpt > CARRY_WARN_MB else ""), file=file)
    print(f"next: {first or 'nothing: every stage is done'}", file=file)


# --- running ---------------------------------------------------------------------------------------

def run_bench(seconds: float) -> bool:
    """The benchmark in a child process, killed after ``seconds`` (its record is rewritten after
    every section, so what it measured survives)."""
    cmd = [sys.executable, "-m", "ffcnn_lib.bench", "--device", "cuda", *BENCH_ARGS]
    print(f"[bench] {' '.join(cmd[1:])} (at most {seconds:.0f} s)", flush=True)
    try:
        subprocess.run(cmd, timeout=seconds, check=False)
    except subprocess.TimeoutExpired:
        print("[bench] stopped at the call's time limit", flush=True)
    return bench_done() is not None


def run_stage(stage: Stage, device: str, deadline: float, profile: str | None = None) -> bool:
    """Train the stage's pending runs (stacked as :func:`sweeps.run_artifact` does) until done or
    ``deadline`` (time.time()); True if the stage is done."""
    from .experiments import run_or_load_many
    from .train import resolve_device

    dev = resolve_device(device)
    prof = sweeps.PROFILE[profile or stage.profile]
    for batch in sweeps._batches(stage.pending(profile), dev.type == "cuda"):
        left = deadline - time.time()
        if left < MIN_START_S.get(dev.type, 60.0):
            print(f"[{stage.name}] {left:.0f} s left: too little to start {batch[0].run_id()}", flush=True)
            return False
        t0 = time.time()
        results = run_or_load_many(batch, device=device, force=True, progress=False, time_budget_s=max(0.0, left),
                                   save_weights=stage.artifact in sweeps.KEEP_WEIGHTS,
                                   goodness_every=prof.goodness_every, checkpoint_dir=checkpoint_dir())
        finished = sum(r is not None for r in results)
        what = batch[0].run_id() + (f" (+{len(batch) - 1} stacked)" if len(batch) > 1 else "")
        if finished == len(batch):
            print(f"[{stage.name}] {what}: stored ({time.time() - t0:.0f} s)", flush=True)
        else:
            part = load_partial(batch[0])
            at = f"epoch {len(part[0])} of {batch[0].epochs}" if part else "no epoch"
            print(f"[{stage.name}] {what}: stopped at its budget after {at}; checkpoint kept", flush=True)
            return False
    return is_done(stage, profile)


def next_stages(plan: list[Stage], device: str, t0: float, seconds: float = CALL_S, reserve: float = RESERVE_S,
                profile: str | None = None) -> list[str]:
    """Run the first unfinished stages of ``plan`` until the call's time is spent; names of those finished."""
    from .train import resolve_device

    cuda = resolve_device(device).type == "cuda"
    deadline = t0 + seconds - reserve
    finished = []
    for stage in plan:
        if is_done(stage, profile):
            continue
        print(f"[{stage.name}] starting, {deadline - time.time():.0f} s of training time left", flush=True)
        if stage.artifact is None:
            if not cuda:
                print("[bench] needs CUDA: skipped on this device", flush=True)
                continue
            # the bench is killed, not stopped at an epoch: it may use the reserve but for packing
            left = t0 + seconds - 15 - time.time()
            if left < BENCH_S * 0.6:
                print(f"[bench] {left:.0f} s left: too little for the benchmark (~{BENCH_S:.0f} s)", flush=True)
                break
            done = run_bench(left)
        else:
            try:
                done = run_stage(stage, device, deadline, profile)
            except Exception as err:  # noqa: BLE001 - pack what there is; say which stage to --skip
                import traceback
                traceback.print_exc()
                print(f"[{stage.name}] failed ({type(err).__name__}); `next --skip {stage.name}` passes it by",
                      flush=True)
                break
        if not done:
            break
        finished.append(stage.name)
        print(f"[{stage.name}] done", flush=True)
    return finished


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m ffcnn_lib.gpu_plan", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("command", nargs="?", choices=["next", "plan"], default="plan",
                   help="next: run the first unfinished stages within the call's time; plan (or --plan): list them")
    p.add_argument("--plan", action="store_true", help="the same as the command 'plan'")
    p.add_argument("--device", default="cuda")
    p.add_argument("--seconds", type=float, default=CALL_S,
                   help=f"wall time of the whole call, counted from $GPU_SESSION_T0 (default {CALL_S:.0f})")
    p.add_argument("--reserve", type=float, default=RESERVE_S,
                   help=f"of which kept after training for final evaluations and packing (default {RESERVE_S:.0f})")
    p.add_argument("--profile", choices=sweeps.PROFILES, default=None,
                   help="run every training stage under this profile instead (smoke: try the plan on a CPU)")
    p.add_argument("--only", default=None, help="comma-separated stage names: only these")
    p.add_argument("--skip", default=None, help="comma-separated stage names: pass these by")
    args = p.parse_args(argv)
    split = lambda s: [x for x in s.split(",") if x] if s else None  # noqa: E731
    try:
        plan = select(stages(), split(args.only), split(args.skip))
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.plan or args.command == "plan":
        print_plan(plan, args.profile)
        return 0
    t0 = min(float(os.environ.get("GPU_SESSION_T0", time.time())), time.time())
    finished = next_stages(plan, args.device, t0, args.seconds, args.reserve, args.profile)
    print(f"finished this call: {', '.join(finished) or 'no stage'} ({time.time() - t0:.0f} s)", flush=True)
    print_plan(plan, args.profile)
    return 0 if all(is_done(s, args.profile) for s in plan) else 3


if __name__ == "__main__":
    sys.exit(main())
