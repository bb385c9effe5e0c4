"""What a run would cost to train: GPU minutes, and CPU hours on each kind of machine measured.

The book says this beside every cell that has no real evidence yet (issue #15), so a reader knows
what getting it takes. Every figure is scaled from a measurement, never guessed: GPU minutes from
the CUDA benchmark record (:func:`ffcnn_lib.gpu_plan.estimate`'s model: measured ms/step scaled
by convolution FLOPs, with a floor for small launch-bound networks); CPU hours per machine kind
from the fast path's ms/step in that kind's benchmark records (two threads), scaled by FLOPs from
the nearest network measured there, plus validation (:data:`ffcnn_lib.bench.EVAL_OVERHEAD`).
They are estimates, not measurements: a CPU does more per FLOP on big convolutions (scaling up
from a small network overestimates), and max pooling makes a step cost more than its FLOPs say
(FF 16x5x5 with pooling took 0.76 h on AVX2 where its FLOPs say 0.5 h).
"""
from __future__ import annotations

import math

from .config import Config


def gpu_minutes(config: Config) -> float:
    """Training minutes of ``config`` on the GPU of the CUDA benchmark record (NaN without one)."""
    from . import gpu_plan

    from .experiments import results_dir
    from .sweeps import PROFILE

    try:
        ref = gpu_plan.reference()
        if "no CUDA benchmark record" in ref["source"]:  # its ms/step would be assumed, not measured
            return math.nan
        # --plan's own estimate (steps, validation, final evaluation, start-up): one figure for both
        item = gpu_plan.batch_estimate([config], ref, PROFILE["paper"].goodness_every, results_dir())
    except (KeyError, ValueError, LookupError, ZeroDivisionError):
        return math.nan
    return item.seconds / 60


def cpu_hours(config: Config) -> dict[str, float]:
    """{machine kind: training hours of ``config`` on a 2-core machine of that kind, both threads},
    for every kind with a benchmark record of the fast path."""
    from .bench import EVAL_OVERHEAD, records, step_flops

    flops = step_flops(config)
    best: dict[str, tuple[float, float]] = {}  # kind -> (|log flops ratio|, ms/step scaled)
    for r in records():
        if r["kind"] == "cuda":
            continue
        # BP trains eagerly on a CPU (compiling its step gains nothing): its row is eager fp32's.
        fast = r["rows"][0] if config.model == "bp" else \
            next((row for row in r["rows"][1:] if "compile" in row["variant"]), None)
        if fast is None:
            continue
        ref = r["gflop_per_step"] * 1e9
        distance = abs(math.log(flops / ref))
        if r["kind"] not in best or distance < best[r["kind"]][0]:
            best[r["kind"]] = (distance, fast["ms_per_step"] * flops / ref)
    steps = config.epochs * (config.n_train // config.batch_size)
    return {kind: steps * ms / 1e3 * EVAL_OVERHEAD[config.model] / 3600 for kind, (_, ms) in best.items()}


def estimate(config: Config) -> dict:
    """``{"gpu_minutes": float, "cpu_hours": {machine kind: float}}`` for one run of ``config``."""
    return {"gpu_minutes": gpu_minutes(config), "cpu_hours": cpu_hours(config)}


def describe(config: Config) -> str:
    """One phrase: "about 10 GPU minutes; about 1.0 h on a 2-core amx CPU, 2.8 h on a 2-core avx2 CPU (...)"."""
    e = estimate(config)
    gpu = e["gpu_minutes"]
    parts = [f"about {gpu:.0f} GPU minutes" if not math.isnan(gpu) else "GPU time not measured yet"]
    cpu = sorted(e["cpu_hours"].items(), key=lambda kv: kv[1])
    if cpu:
        parts.append("about " + ", ".join(f"{h:.1f} h on a 2-core {kind} CPU" for kind, h in cpu)
                     + " (scaled by FLOPs from the nearest network measured on that kind)")
    return "; ".join(parts)
