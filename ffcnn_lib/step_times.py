"""What a training step costs on each kind of CPU (issues #17 and #25): step times measured by the
campaign (``results/benchmarks/campaign-steps-<kind>.json``, one record per machine kind), the
estimate for a step not measured on a kind (scaled by convolution FLOPs from a measured one), how
much slower than its timing a run trains beside a second one there (the recorded sessions' pace), and
how fast a kind trains each model against the others. The campaign's plan (:mod:`ffcnn_lib.campaign`)
and the book's cost cards (:mod:`ffcnn_lib.costs`) read the same estimates.
"""
from __future__ import annotations

import datetime as _dt
import json
import math
import os
import statistics
from pathlib import Path

from . import machine
from .bench import EVAL_OVERHEAD, step_flops  # EVAL_OVERHEAD: an epoch's validation beside its steps
from .config import Config
from .experiments import ResultError, _git_commit, load_partial, load_run, results_dir, write_atomic

MEASURE_STEPS, MEASURE_WARMUP = 10, 5  # per timed block (3 blocks, median), after warm-up (compile)


def step_key(config: Config, threads: int, kind: str | None = None) -> str:
    """What a step's time depends on: the model and network, batch, where a pooled network is read
    (goodness on the pooled maps costs a pooling and its backward more: 15.5 against 10.5 s an epoch
    at 16x5x5, avx512-bf16, 2026-12-05), the code path a run of it takes on a CPU of ``kind``
    (default: this one's; compiled or eager, bf16 or fp32, :func:`ffcnn_lib.train.code_path`) and
    the thread count."""
    from .train import code_path

    fast, bf16 = code_path(config, "cpu", (kind or machine.kind()) in machine.NATIVE_BF16)
    readings = "".join(f"-{tag}" for tag, reading in (("gpool", config.goodness_maps), ("cpool", config.classifier_maps))
                       if config.max_pool and reading == "pooled")
    shape = (f"{config.model}-{'-'.join(map(str, config.filters))}-k{config.kernel}-b{config.batch_size}"
             + ("-pool" if config.max_pool else "") + readings + ("-valid" if config.padding == "valid" else "")
             + ("-first" if config.include_first_layer else ""))
    return f"{shape} {'compiled' if fast else 'eager'} {'bf16' if bf16 else 'fp32'} {threads}t"


def steps_path(kind: str | None = None, root: Path | None = None) -> Path:
    """The measured step times of one machine kind: ``results/benchmarks/campaign-steps-<kind>.json``."""
    return (root or results_dir()) / "benchmarks" / f"campaign-steps-{kind or machine.kind()}.json"


def measured_steps(kind: str | None = None, root: Path | None = None) -> dict[str, dict]:
    """{step key: {"ms_per_step", "measured", "git_commit"}} measured on machines of ``kind``."""
    path = steps_path(kind, root)
    return json.loads(path.read_text())["steps"] if path.exists() else {}


def time_step_ms(config: Config, threads: int, steps: int = 3 * MEASURE_STEPS) -> float:
    """Milliseconds per training step of ``config`` here with ``threads`` threads, on the code path a
    run of it takes here (:func:`ffcnn_lib.train.code_path`): the median of 3 blocks of ``steps / 3``
    steps, after a warm-up (compilation, where the path compiles)."""
    from .bench import campaign_step_ms

    return campaign_step_ms(config, threads, max(1, math.ceil(steps / 3)), MEASURE_WARMUP)


def measure_step(config: Config, threads: int, root: Path | None = None) -> float:
    """Time a few training steps of ``config`` here with ``threads`` threads (as a worker trains),
    store the ms/step (:func:`store_step`) and return it."""
    ms = time_step_ms(config, threads)
    store_step(config, threads, ms, root)
    return ms


def store_step(config: Config, threads: int, ms: float, root: Path | None = None) -> None:
    """Keep ``ms`` per step, timed here with the CPU otherwise idle, as this machine kind's measurement
    of ``config``'s step on its code path (:func:`step_key`), replacing an older one."""
    path = steps_path(root=root)
    record = json.loads(path.read_text()) if path.exists() else {"kind": machine.kind(), "steps": {}}
    record["cpu"] = machine.capabilities()
    record["steps"][step_key(config, threads)] = {
        "ms_per_step": round(ms, 2), "gflop_per_step": step_flops(config) / 1e9, "git_commit": _git_commit(),
        "measured": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(record, indent=1, sort_keys=True))


def step_estimate(config: Config, threads: int, steps: dict[str, dict], kind: str | None = None) -> tuple[float, str]:
    """Estimated ms per training step of ``config`` on a CPU of ``kind`` (default: this one) with
    ``threads`` threads, from that kind's measured steps ``steps`` (:func:`measured_steps`), and where
    the figure comes from: "measured" (a timing of this model and network on this code path and
    precision, :func:`step_key`), else a step of the same model and code path scaled by convolution
    FLOPs ("scaled from <network>"; small networks make the most of a CPU least, so scaling up from
    them overestimates), else NaN ("not measured": nothing comparable measured, never another code path).
    The one estimate that ``campaign --list``, the plan and the book's cost cards (:mod:`ffcnn_lib.costs`) read."""
    key = step_key(config, threads, kind)
    if key in steps:
        return steps[key]["ms_per_step"], "measured"
    mode = key.split(" ", 1)[1]
    same = [(k, v) for k, v in steps.items() if k.split(" ", 1)[1] == mode and k.startswith(config.model + "-")]
    if not same:
        return math.nan, "not measured"
    # Pooling changes what a FLOP costs (pooled layers work on a quarter of the pixels): scale from a
    # network pooled alike where one was measured. FLOP scaling stays rough (2026-12-04, avx512-bf16:
    # FF 16-32-64 7x7 pooled, scaled from 64x3x3 pooled, came out 1.5x its fresh timing), which is why
    # a training call measures the cells it takes first (``campaign._measure_first``).
    alike = [(k, v) for k, v in same if ("-pool" in k.split(" ", 1)[0]) == config.max_pool]
    flops = step_flops(config)
    k, v = min(alike or same, key=lambda kv: abs(math.log(kv[1]["gflop_per_step"] * 1e9 / flops)))
    return v["ms_per_step"] * flops / (v["gflop_per_step"] * 1e9), f"scaled from {k.split(' ')[0]}"


def idle_epoch_seconds(config: Config, threads: int, steps: dict[str, dict],
                       kind: str | None = None) -> tuple[float, str]:
    """Estimated seconds an epoch of ``config`` takes on a CPU of ``kind`` (default: here) with
    nothing beside it: its steps as timed alone (:func:`step_estimate`) plus validation
    (:data:`ffcnn_lib.bench.EVAL_OVERHEAD`), and the source."""
    ms, source = step_estimate(config, threads, steps, kind)
    return config.n_train // config.batch_size * EVAL_OVERHEAD[config.model] * ms / 1e3, source


def epoch_seconds(config: Config, threads: int, steps: dict[str, dict], kind: str | None = None,
                  root: Path | None = None) -> tuple[float, str]:
    """Estimated seconds an epoch of ``config`` takes as the campaign trains it on a CPU of ``kind``
    (default: here) with ``threads`` threads: :func:`idle_epoch_seconds` times that kind's
    :func:`campaign_pace`, and the source. The one estimate the plan and the cost cards read."""
    seconds, source = idle_epoch_seconds(config, threads, steps, kind)
    return seconds * campaign_pace(kind, threads, root)[0], source


# Steps are timed alone, but the campaign trains two runs side by side (two workers of one thread on
# two cores), which share caches and memory bandwidth, next to whatever else the session runs. How much
# longer an epoch takes then depends on the kind: the recorded sessions said 1.27x on avx2 (10 sessions),
# 1.20x on amx (4) and 1.00x on avx512-bf16 (27) on 2026-12-07. Read from the records each time, never
# typed; with fewer than PACE_SESSIONS sessions of PACE_EPOCHS epochs or more, idle timings stand.
PACE_SESSIONS, PACE_EPOCHS = 3, 3
_PACE_CACHE: dict[tuple, tuple[float, int]] = {}


def campaign_pace(kind: str | None = None, threads: int = 1, root: Path | None = None) -> tuple[float, int]:
    """How many times its idle estimate (:func:`idle_epoch_seconds`) an epoch takes as runs trained on
    a CPU of ``kind`` (default: this one's) with ``threads`` threads: the median over the recorded
    sessions there (provenance ``segments`` of finished and unfinished runs, of at least
    :data:`PACE_EPOCHS` epochs, whose step is measured on that kind) of the session's median
    ``epoch_s`` over the estimate; and the number of sessions. ``(1.0, n)`` where ``n`` is below
    :data:`PACE_SESSIONS`."""
    kind, root = kind or machine.kind(), root or results_dir()
    # a run stored, a record replaced (write_atomic: a rename) or a timing kept changes these
    stamp = tuple((p.stat().st_mtime_ns, len(os.listdir(p)) if p.is_dir() else 0) if p.exists() else None
                  for p in (root / "runs", root / "partial", steps_path(kind, root)))
    key = (kind, threads, str(root), stamp)
    if key not in _PACE_CACHE:
        ratios = [observed / estimate for observed, estimate in _sessions(kind, threads, root)]
        pace = statistics.median(ratios) if len(ratios) >= PACE_SESSIONS else 1.0
        _PACE_CACHE[key] = (round(pace, 2), len(ratios))
    return _PACE_CACHE[key]


def _sessions(kind: str, threads: int, root: Path) -> list[tuple[float, float]]:
    """(median ``epoch_s`` of a recorded session on ``kind`` with ``threads`` threads, the idle estimate
    of that epoch there) for every such session of a run whose step is measured on ``kind``, read
    through the result store (:func:`~ffcnn_lib.experiments.load_run`, :func:`~ffcnn_lib.experiments.load_partial`)."""
    steps, out = measured_steps(kind, root), []
    runs = sorted(f.name for f in (root / "runs").glob("*") if f.is_dir())
    partial = sorted((root / "partial").glob("*.json"))
    for source in [*runs, *partial]:
        try:
            if isinstance(source, str):
                result = load_run(source, root)
                config, metrics, prov = result.config, result.metrics, result.summary["provenance"]
            else:  # an unfinished run's record
                config = Config.from_dict(json.loads(source.read_text())["config"])
                metrics, info = load_partial(config, root) or (None, None)
                prov = info["provenance"] if info else {}
        except (OSError, ValueError, KeyError, TypeError, ResultError):  # a run being stored, an old record
            continue
        segs = [s for s in prov.get("segments", []) if machine.parse_cpu_device(s["device"]) == (kind, threads)]
        if not segs or step_key(config, threads, kind) not in steps:  # a scaled estimate would blur the pace
            continue
        estimate = idle_epoch_seconds(config, threads, steps, kind)[0]
        epoch_s = metrics.set_index("epoch")["epoch_s"]
        for seg in segs:
            first, last = seg["epochs"]
            if last - first + 1 >= PACE_EPOCHS:
                out.append((float(epoch_s.loc[first:last].median()), estimate))
    return out


# A cell's estimate must lie within this fraction of a fresh timing of its step (issue #25).
ESTIMATE_TOLERANCE = 0.30


def estimate_within(estimate_ms: float, fresh_ms: float, tolerance: float = ESTIMATE_TOLERANCE) -> bool:
    """Whether an estimated step time lies within ``tolerance`` (a fraction) of a fresh timing of it."""
    return abs(estimate_ms - fresh_ms) <= tolerance * fresh_ms


def relative_cost(model: str, threads: int, root: Path | None = None) -> float:
    """How fast this machine kind trains ``model`` ("ff" or "bp") against the kinds measured: for
    every network whose step both this kind and another have timed (with ``threads`` threads), this
    kind's time over the geometric mean of all their times, averaged (1: nothing to compare with).
    Against the mean rather than the slowest kind, so that the slowest kind too sees which model it
    is least bad at. Within a priority the plan takes the model this kind is relatively best at first:
    a bf16 kind speeds FF's fast path up several times but the fp32 BP baseline hardly, so BP cells are
    better left to the kinds without bf16 (comparative advantage; the same cells get trained either way)."""
    def by_shape(steps: dict[str, dict]) -> dict[str, float]:
        # a kind's fastest path measured for a network: its default (a pinned fp32 step may sit beside it)
        out: dict[str, float] = {}
        for k, v in steps.items():
            if k.startswith(model + "-") and k.endswith(f" {threads}t"):
                shape = k.split(" ", 1)[0]
                out[shape] = min(out.get(shape, math.inf), v["ms_per_step"])
        return out

    here = by_shape(measured_steps(root=root))
    others = [by_shape(json.loads(p.read_text())["steps"])
              for p in sorted(((root or results_dir()) / "benchmarks").glob("campaign-steps-*.json"))
              if p != steps_path(root=root)]
    ratios = [ms / statistics.geometric_mean([ms, *(o[shape] for o in others if shape in o)])
              for shape, ms in here.items() if any(shape in o for o in others)]
    return round(sum(ratios) / len(ratios), 2) if ratios else 1.0
