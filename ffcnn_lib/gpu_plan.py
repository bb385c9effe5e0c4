"""GPU work in one command: a committed plan of stages, and the next unfinished ones run within a call.

Whoever holds the GPU machine (minutes at a time) runs, again and again (tools/README.md)::

    bash tools/gpu_session.sh next      # = python -m ffcnn_lib.gpu_plan next, then pack for $OUT
    bash tools/gpu_session.sh --plan    # = python -m ffcnn_lib.gpu_plan --plan: what is left, in GPU minutes

:func:`stages` is the plan, most valuable first: the benchmark, the best network at the paper's
settings (seed 0, under today's ``Config()`` defaults), the ``short`` profile of every artifact
(the open choices first: they could change our defaults before the long runs), seed 1 of the best
network, then the rest. A stage is done when the result cache holds its runs (for ``bench``: a CUDA
benchmark record of the fast path), so the plan needs no state of its own: the results are the
state. ``next`` runs the first unfinished stage through
:func:`~ffcnn_lib.experiments.run_or_load_many` with the time left; training stops at an epoch
boundary, and the resume point goes to ``results/partial/gpu/`` (committed, so it travels with the
working tree to the next call, :func:`pack_resume`), beside the per-epoch record in
``results/partial/``. A machine that goes away costs at most the progress of its call.

The best network is one run wherever it appears (the headline and the 128x7x7 cells of Table 1, 3,
Fig. 3A, 4B, 5, 9: ``report_test`` is not in the run id). Whichever stage trains it trains it with
the test evaluation and keeps its weights (:func:`shared`); a stored run without test numbers gets
them from its kept weights (:func:`~ffcnn_lib.experiments.add_test_numbers`), not by retraining.

GPU resume points are kept apart from the CPU campaign's (``results/partial/<run id>.pt``): a CPU
run is never resumed on the GPU, and importing the GPU's results never overwrites a local one.
"""
from __future__ import annotations

import argparse
import functools
import gzip
import hashlib
import io
import math
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import bench, sweeps
from .config import Config
from .experiments import REPO, has_test_numbers, load, load_partial, results_dir

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
# The benchmark row of the fast path that training uses (bf16, channels_last, torch.compile in its
# default mode) is labelled so today; earlier records say "... compile" (before the modes were
# named). Any such label counts (:func:`is_fast_variant`): a mode other than the default does not.
FAST_VARIANT = "bf16 + channels_last + compile default"
OTHER_COMPILE_MODES = ("reduce-overhead", "max-autotune")
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
TREE_LIMIT_MIB = 64.0     # the device copies the working tree (tracked and untracked-not-ignored files) up to this
ITEMIZED = 3              # --plan lists the runs of this many stages, the next ones


def checkpoint_dir(root: Path | None = None) -> Path:
    """Scratch folder of the running call's checkpoints (``results/checkpoints/gpu``: ignored, never
    carried); the resume point that survives the call is packed into :func:`resume_dir`."""
    return (root or results_dir()) / "checkpoints" / "gpu"


def resume_dir(root: Path | None = None) -> Path:
    """Where the plan's unfinished runs keep their resume points: ``results/partial/gpu`` (committed)."""
    return (root or results_dir()) / "partial" / "gpu"


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
        # A run the CPU campaign is partway through is the campaign's: two machines training one
        # run would leave two records of it (issue #17's review).
        campaign_owns = {r for r in todo if (results_dir() / "partial" / f"{r.run_id()}.pt").exists()}
        return [r for r in self.runs(profile) if r in todo and r not in campaign_owns]

    def untested(self, profile: str | None = None) -> list[Config]:
        """Stored runs that this stage wants test numbers of and that lack them (trained without the
        test evaluation, e.g. for Table 1): evaluated from their kept weights, not retrained."""
        if self.artifact is None:
            return []
        todo = set(self.pending(profile))
        return [r for r in self.runs(profile) if r.report_test and r not in todo
                and (res := load(r)) is not None and not has_test_numbers(res)]


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
            + [Stage(f"{a}-paper", a, "paper") for a in paper if a not in sweeps.SHORT_ONLY])


@functools.lru_cache(maxsize=1)
def _shared_ids() -> dict[str, tuple[bool, bool]]:
    """Run id -> (any artifact evaluates it on the test set, any keeps its weights), over every
    artifact, profile and seed."""
    out: dict[str, tuple[bool, bool]] = {}
    for artifact in sweeps.ARTIFACTS:
        keep = artifact in sweeps.KEEP_WEIGHTS
        for profile in sweeps.PROFILES:
            for _, run in sweeps.configs(artifact, profile):
                test, kept = out.get(run.run_id(), (False, False))
                out[run.run_id()] = (test or run.report_test, kept or keep)
    return out


def shared(run: Config) -> tuple[Config, bool]:
    """``run`` as the plan trains it, and whether to keep its weights: a run that several artifacts
    share (the best network: the headline and the identical 128x7x7 cells of Table 1, 3, Fig. 3A,
    4B, 5, 9) is trained once, with the test evaluation if any of them reports it and with its
    weights if any of them needs them, so that no later stage trains it again."""
    test, keep = _shared_ids().get(run.run_id(), (run.report_test, False))
    return (run.replace(report_test=True) if test and not run.report_test else run), keep


# --- the benchmark stage ---------------------------------------------------------------------------

def is_fast_variant(label: str) -> bool:
    """Whether a benchmark row measures the fast path that training uses (bf16, channels_last,
    torch.compile in its default mode), whatever the label's wording: every compiled row but the
    eager baseline and other compile modes."""
    return "compile" in label and not label.startswith("eager") and not any(m in label for m in OTHER_COMPILE_MODES)


def _bench_records(root: Path | None) -> list[tuple[dict, dict]]:
    """(record, fast-path row) of the CUDA records of the paper's network, oldest first."""
    out = []
    for r in bench.records(root):
        c = r["config"]
        if r["device"].startswith("cpu") or any(c.get(k) != v for k, v in BENCH_NET.items()):
            continue
        row = next((x for x in r["rows"] if is_fast_variant(x["variant"])), None)
        if row is not None:
            out.append((r, row))
    return out


def bench_done(root: Path | None = None) -> dict | None:
    """The newest CUDA record of the fast path, if any, whatever its row's label (the fast path has
    not changed since the first record; a record of a changed one is made by hand,
    ``gpu_session.sh bench``). One cut short (a call's time ran out) counts too, so that ``next``
    moves on: it holds the ms/step; ``gpu_session.sh bench`` measures the rest."""
    recs = _bench_records(root)
    return recs[-1][0] if recs else None


def reference(root: Path | None = None) -> dict:
    """The measured speed the estimates scale from: ms/step of the paper's network and the floor."""
    recs = _bench_records(root)
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


# --- resume points ---------------------------------------------------------------------------------
#
# A checkpoint as train.py writes it (torch.save: fp32 weights, Adam's two fp32 moments per weight,
# the RNG states, the per-epoch history) is what an exact resume needs; nothing of weight can be
# dropped (the 128x7x7 network: 3.62 M parameters x 12 bytes = 43.5 MB, see tools/README.md). To
# travel with the working tree (the device takes 64 MiB in all) it is stored losslessly compressed:
# each float tensor as its byte planes (the sign/exponent bytes compress well, the low mantissa
# bytes hardly), gzipped. Unpacked, it is the checkpoint again, bit for bit, strides included.

RESUME_FORMAT = "ffcnn-resume/1"
RESUME_SUFFIX = ".resume.gz"


def _to_planes(obj):
    import torch
    if isinstance(obj, torch.Tensor) and obj.is_floating_point() and obj.numel() > 1:
        flat = obj.detach().cpu().contiguous().view(-1)
        planes = flat.view(torch.uint8).view(-1, obj.element_size()).t().contiguous()
        return {"__planes__": planes, "dtype": str(obj.dtype).removeprefix("torch."), "shape": list(obj.shape),
                "stride": list(obj.stride())}  # the layout too (channels_last on the fast path)
    if isinstance(obj, dict):
        return {k: _to_planes(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_planes(v) for v in obj)
    return obj


def _from_planes(obj):
    import torch
    if isinstance(obj, dict) and "__planes__" in obj:
        dtype = getattr(torch, obj["dtype"])
        flat = obj["__planes__"].t().contiguous().view(-1).view(dtype)
        return torch.empty_strided(obj["shape"], obj["stride"], dtype=dtype).copy_(flat.view(obj["shape"]))
    if isinstance(obj, dict):
        return {k: _from_planes(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_from_planes(v) for v in obj)
    return obj


def _write_atomic_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def pack_resume(checkpoint: Path, dest: Path) -> None:
    """Store the checkpoint ``checkpoint`` (train.py's .pt) as the resume point ``dest`` (compressed, lossless)."""
    import torch
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    buf = io.BytesIO()
    torch.save({"format": RESUME_FORMAT, "state": _to_planes(state)}, buf)
    _write_atomic_bytes(dest, gzip.compress(buf.getvalue(), compresslevel=6, mtime=0))


def _read_resume(path: Path) -> dict:
    import torch
    packed = torch.load(io.BytesIO(gzip.decompress(path.read_bytes())), map_location="cpu", weights_only=True)
    if packed.get("format") != RESUME_FORMAT:
        raise ValueError(f"{path}: not a resume point of format {RESUME_FORMAT}")
    return packed["state"]


def unpack_resume(src: Path, checkpoint: Path) -> None:
    """The checkpoint train.py resumes from (``checkpoint``), from the resume point ``src``."""
    import torch
    buf = io.BytesIO()
    torch.save(_from_planes(_read_resume(src)), buf)
    _write_atomic_bytes(checkpoint, buf.getvalue())


def resume_mib(batch: list[Config], ratio: float = 0.85) -> float:
    """Expected MiB of the batch's resume point: 12 bytes a parameter (fp32 weights, Adam's two fp32
    moments), packed to ``ratio`` (0.85: measured on a trained 16x7x7 checkpoint; tools/README.md)."""
    import torch
    with torch.device("meta"):
        n = sum(p.numel() for c in batch for p in c.network().parameters())  # with the linear classifier
    return n * 12 * ratio / 2**20


def checkpoint_name(batch: list[Config]) -> str:
    """The checkpoint file :func:`~ffcnn_lib.experiments.run_or_load_many` gives ``batch`` (same rule)."""
    ids = sorted(c.run_id() for c in batch)
    return ids[0] if len(ids) == 1 else f"stack-{hashlib.sha256(' '.join(ids).encode()).hexdigest()[:12]}"


def resume_paths(batch: list[Config], root: Path | None = None) -> tuple[Path, Path]:
    """(the batch's resume point in results/partial/gpu, its scratch checkpoint in results/checkpoints/gpu)."""
    name = checkpoint_name(batch)
    return resume_dir(root) / f"{name}{RESUME_SUFFIX}", checkpoint_dir(root) / f"{name}.pt"


# --- estimates ---------------------------------------------------------------------------------------

def forward_flops(config: Config) -> float:
    """Convolution FLOPs of one image's forward pass (a step with batch 1 and every layer trained
    counts 3 forward and 2 backward passes of equal cost, see :func:`bench.step_flops`)."""
    return bench.step_flops(config.replace(batch_size=1, include_first_layer=True)) / 5


def epochs_done(batch: list[Config], root: Path) -> tuple[int, str]:
    """Epochs a batch resumes from (its resume point's), and a note on progress it cannot resume from."""
    import torch
    packed, scratch = resume_paths(batch, root)
    if packed.exists():
        return int(_read_resume(packed)["epoch"]), ""
    if scratch.exists():  # a call's own, or one carried by hand
        return int(torch.load(scratch, map_location="cpu", weights_only=True)["epoch"]), ""
    for c in batch:
        cpu = root / "partial" / f"{c.run_id()}.pt"  # the CPU campaign's (campaign.checkpoint_dir)
        if cpu.exists() and (p := load_partial(c, root)) is not None:
            return 0, f"the CPU campaign is at epoch {len(p[0])} of it: the GPU starts afresh"
    lost = [len(p[0]) for c in batch if (p := load_partial(c, root)) is not None]
    return 0, f"partial record of {max(lost)} epochs without its resume point: restarts" if lost else ""


def step_ms(batch: list[Config], ref: dict) -> float:
    """Estimated ms per training step of ``batch`` trained side by side (see the constants above)."""
    floor = ref["floor_ms"] + (len(batch) - 1) * ref["extra_ms"]
    return max(floor, ref["ms"] * sum(bench.step_flops(r) for r in batch) / bench.step_flops(REFERENCE))


@dataclass
class Item:
    """One batch of a stage (runs trained side by side), or one run's test evaluation."""
    what: str          # the first run id (+ how many stacked), or the work
    epochs: int        # epochs left, summed over the batch's runs
    seconds: float     # estimated GPU seconds
    note: str = ""


@dataclass
class Estimate:
    runs: int          # runs left to train
    total: int         # runs in the stage
    epochs: int        # epochs left, summed over runs
    seconds: float     # estimated GPU seconds
    notes: list[str]
    items: list[Item] = field(default_factory=list)


def batch_estimate(batch: list[Config], ref: dict, goodness_every: int | None, root: Path) -> Item:
    """GPU seconds and epochs left of one batch (runs trained side by side), from its resume point on."""
    c = batch[0]
    ms_per_flop = ref["ms"] / bench.step_flops(REFERENCE)
    done, note = epochs_done(batch, root)
    left = c.epochs - done
    every = goodness_every or max(1, c.epochs // 20)
    fwd = forward_flops(c) * len(batch)
    eval_epoch_ms = ms_per_flop * fwd * c.n_val * (1 + 10 / every)
    n_final = c.n_val + (c.n_test if c.report_test else 0)
    final_ms = ms_per_flop * fwd * n_final * 11 * FINAL_EVAL_PASSES
    steps = c.n_train // c.batch_size
    seconds = STARTUP_S + (left * (steps * step_ms(batch, ref) + eval_epoch_ms) + final_ms) / 1e3
    what = c.run_id() + (f" (+{len(batch) - 1} stacked)" if len(batch) > 1 else "")
    return Item(what, left * len(batch), seconds, note or (f"resumes at epoch {done}" if done else ""))


def estimate(stage: Stage, ref: dict, profile: str | None = None, root: Path | None = None,
             counted: set[str] | None = None) -> Estimate:
    """GPU seconds the stage still needs, from the measured ms/step (see the constants above), per
    batch. ``counted``: ids of runs an earlier stage trains (left out here; this stage's are added)."""
    root = root or results_dir()
    if stage.artifact is None:
        s = 0.0 if bench_done(root) else BENCH_S
        return Estimate(0, 0, 0, s, [], [Item("make bench + matched 5-epoch fp32/fast runs", 0, s)] if s else [])
    prof = sweeps.PROFILE[profile or stage.profile]
    ms_per_flop = ref["ms"] / bench.step_flops(REFERENCE)
    counted = set() if counted is None else counted
    pending = [r for r in stage.pending(profile) if r.run_id() not in counted]
    earlier = len(stage.pending(profile)) - len(pending)
    counted.update(r.run_id() for r in pending)
    items = []
    for c in stage.untested(profile):
        s = STARTUP_S + ms_per_flop * forward_flops(c) * c.n_test * 11 * 2 / 1e3  # fp32: twice bf16's time
        items.append(Item(f"{c.run_id()}: test numbers from its kept weights", 0, s))
    for batch in sweeps._batches([shared(r)[0] for r in pending], cuda=True):
        items.append(batch_estimate(batch, ref, prof.goodness_every, root))
    notes = [i.note for i in items if "restart" in i.note or "afresh" in i.note]
    notes += [f"{earlier} run{'s' if earlier > 1 else ''} trained by an earlier stage"] if earlier else []
    return Estimate(len(pending), len(stage.runs(profile)), sum(i.epochs for i in items),
                    sum(i.seconds for i in items), notes, items)


def is_done(stage: Stage, profile: str | None = None, root: Path | None = None) -> bool:
    if stage.artifact is None:
        return bench_done(root) is not None
    return not stage.pending(profile) and not stage.untested(profile)


def select(plan: list[Stage], only: list[str] | None, skip: list[str] | None) -> list[Stage]:
    names = {s.name for s in plan}
    unknown = [n for n in (only or []) + (skip or []) if n not in names]
    if unknown:
        raise ValueError(f"unknown stages {unknown}; the plan has: {', '.join(s.name for s in plan)}")
    return [s for s in plan if (not only or s.name in only) and s.name not in (skip or [])]


def travelling_mib(repo: Path = REPO) -> float | None:
    """MiB of the working tree the device copies (tracked and untracked-not-ignored files), or None
    without git."""
    try:
        out = subprocess.run(["git", "-C", str(repo), "ls-files", "-z", "-co", "--exclude-standard"],
                             capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    total = 0
    for name in out.decode(errors="replace").split("\0"):
        if name:
            try:
                total += (repo / name).stat().st_size
            except OSError:  # deleted, not yet committed
                pass
    return total / 2**20


def print_plan(plan: list[Stage], profile: str | None = None, file=sys.stdout) -> None:
    """Each unfinished stage with its runs, epochs left and estimated GPU minutes (the next
    :data:`ITEMIZED` stages run by run), the total, and the size of what the device copies."""
    root = results_dir()
    ref = reference(root)
    print(f"speed: {ref['source']}" + (f"; profile {profile} for every stage" if profile else ""), file=file)
    print(f"{'stage':20s} {'runs left':>9s} {'epochs left':>11s} {'GPU min':>8s} {'cumul.':>7s}", file=file)
    total, first, left, counted = 0.0, None, 0, set()
    usable = CALL_S - RESERVE_S - 15  # a call's training time, after process start and data load
    long_run = None  # (batch, has a resume point already) of the first run longer than a call
    for stage in plan:
        if is_done(stage, profile, root):
            continue
        e = estimate(stage, ref, profile, root, counted)
        if long_run is None and stage.artifact is not None:
            for batch in sweeps._batches([shared(r)[0] for r in stage.pending(profile)], cuda=True):
                item = batch_estimate(batch, ref, sweeps.PROFILE[profile or stage.profile].goodness_every, root)
                if item.seconds > usable or item.note.startswith("resumes"):
                    long_run = (batch, item.note.startswith("resumes"))
                    break
        total += e.seconds
        first = first or stage.name
        left += 1
        runs = "-" if stage.artifact is None else f"{e.runs}/{e.total}"
        epochs = "-" if stage.artifact is None else str(e.epochs)
        shown = left <= ITEMIZED
        print(f"{stage.name:20s} {runs:>9s} {epochs:>11s} {e.seconds / 60:8.1f} {total / 60:7.1f}"
              + "".join(f"  ({n})" for n in dict.fromkeys(e.notes) if not shown or "earlier stage" in n), file=file)
        for item in e.items if shown else []:
            print(f"    {item.what}: " + (f"{item.epochs} epochs, " if item.epochs else "")
                  + f"{item.seconds / 60:.1f} min" + (f" ({item.note})" if item.note else ""), file=file)
    print(f"{left} stages left, about {total / 60:.0f} GPU minutes in total (~{math.ceil(total / usable)} calls of "
          f"`gpu_session.sh next`)", file=file)
    rec = bench_done(root)
    if rec is not None and rec.get("complete") is False:
        print(f"note: the benchmark of {rec['time'][:10]} was cut short; `gpu_session.sh bench` measures the rest",
              file=file)
    resume = sum(p.stat().st_size for p in resume_dir(root).glob(f"*{RESUME_SUFFIX}")) / 2**20
    tree = travelling_mib()
    here = f"GPU resume points (results/partial/gpu) {resume:.1f} MiB" if resume else ""
    if tree is not None:
        print(f"the device copies: working tree {tree:.1f} MiB of its {TREE_LIMIT_MIB:.0f}"
              + (f", of which {here}" if here else "")
              + ("  WARNING: at or over the limit, the device refuses the call (tools/README.md, Size)"
                 if tree > TREE_LIMIT_MIB - 2 else ""), file=file)
        if long_run is not None and not long_run[1]:  # the next run longer than a call: its resume point
            mib = resume_mib(long_run[0])
            if tree + mib > TREE_LIMIT_MIB - 2:
                print(f"WARNING: {long_run[0][0].run_id()} takes more than one call; its resume point (~{mib:.0f} MiB) "
                      f"would make the working tree {tree + mib:.0f} MiB, over the device's limit (tools/README.md, Size)",
                      file=file)
    elif here:
        print(here, file=file)
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


def train_batch(batch: list[Config], device: str, budget_s: float, save_weights: bool,
                goodness_every: int | None) -> list:
    """Train ``batch`` (runs side by side) for at most ``budget_s``, resuming from its resume point
    in results/partial/gpu and leaving the new one there (or removing it when every run is stored)."""
    from .experiments import run_or_load_many

    packed, scratch = resume_paths(batch)
    if packed.exists():
        unpack_resume(packed, scratch)
    try:
        return run_or_load_many(batch, device=device, force=True, progress=False, time_budget_s=max(0.0, budget_s),
                                save_weights=save_weights, goodness_every=goodness_every,
                                checkpoint_dir=checkpoint_dir())
    finally:  # also after a failure: the last checkpoint written is progress
        if scratch.exists():
            pack_resume(scratch, packed)
            scratch.unlink()
        elif all(load(c) is not None for c in batch):
            packed.unlink(missing_ok=True)


def run_stage(stage: Stage, device: str, deadline: float, profile: str | None = None,
              call_s: float = CALL_S - RESERVE_S) -> bool:
    """Evaluate the test numbers the stage lacks, then train its pending runs (stacked as
    :func:`sweeps.run_artifact` does, each as :func:`shared` says) until done or ``deadline``
    (time.time()); True if the stage is done. ``call_s``: a whole call's training time."""
    from .experiments import add_test_numbers
    from .train import resolve_device

    dev = resolve_device(device)
    for run in stage.untested(profile):
        t0 = time.time()
        add_test_numbers(run, device)
        print(f"[{stage.name}] {run.run_id()}: test numbers from its kept weights ({time.time() - t0:.0f} s)",
              flush=True)
    prof = sweeps.PROFILE[profile or stage.profile]
    runs = [shared(r) for r in stage.pending(profile)]
    keep = {r.run_id() for r, k in runs if k or stage.artifact in sweeps.KEEP_WEIGHTS}
    ref = reference() if dev.type == "cuda" else None
    deferred = False
    for batch in sweeps._batches([r for r, _ in runs], dev.type == "cuda"):
        left = deadline - time.time()
        if left < MIN_START_S.get(dev.type, 60.0):
            print(f"[{stage.name}] {left:.0f} s left: too little to start {batch[0].run_id()}", flush=True)
            return False
        # A batch that a fresh call trains whole is not begun in a call that cannot finish it: its
        # resume point (35 MiB for the best network) would have to travel, and the next call would
        # start it again anyway (data, compilation). Longer ones resume from call to call.
        need = batch_estimate(batch, ref, prof.goodness_every, results_dir()).seconds if ref else 0.0
        if left < need <= call_s - 15 and left < call_s - 60:  # (at a call's start: begin in any case)
            print(f"[{stage.name}] {left:.0f} s left, {batch[0].run_id()} needs ~{need:.0f} s: the next call "
                  "trains it whole", flush=True)
            deferred = True
            continue  # a smaller one may fit
        t0 = time.time()
        results = train_batch(batch, device, left, any(r.run_id() in keep for r in batch), prof.goodness_every)
        finished = sum(r is not None for r in results)
        what = batch[0].run_id() + (f" (+{len(batch) - 1} stacked)" if len(batch) > 1 else "")
        if finished == len(batch):
            print(f"[{stage.name}] {what}: stored ({time.time() - t0:.0f} s)", flush=True)
        else:
            part = load_partial(batch[0])
            at = f"epoch {len(part[0])} of {batch[0].epochs}" if part else "no epoch"
            print(f"[{stage.name}] {what}: stopped at its budget after {at}; resume point in "
                  f"{resume_paths(batch)[0].relative_to(results_dir())}", flush=True)
            return False
    return not deferred and is_done(stage, profile)


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
                done = run_stage(stage, device, deadline, profile, seconds - reserve)
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
