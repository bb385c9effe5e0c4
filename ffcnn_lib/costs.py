"""What a run would cost to train: GPU minutes, and CPU hours on each kind of machine measured.

The book says this beside every cell that has no real evidence yet (issue #15), so a reader knows
what getting it takes. Every figure is scaled from a measurement, never guessed: GPU minutes from
the CUDA benchmark record (:func:`ffcnn_lib.gpu_plan.estimate`'s model: measured ms/step scaled
by convolution FLOPs, with a floor for small launch-bound networks); CPU hours per machine kind
from the fast path's ms/step in that kind's benchmark records (two threads), scaled by FLOPs from
the nearest network measured there, plus validation (:data:`ffcnn_lib.bench.EPOCH_OVERHEAD`).
Scaling up from a small network overestimates a big one (a CPU does more per FLOP on big
convolutions), so CPU hours are upper estimates.
"""
from __future__ import annotations

import math

from .config import Config


def gpu_minutes(config: Config) -> float:
    """Training minutes of ``config`` on the GPU of the CUDA benchmark record (NaN without one)."""
    from . import gpu_plan

    try:
        ref = gpu_plan.reference()
        if "no CUDA benchmark record" in ref["source"]:  # its ms/step would be assumed, not measured
            return math.nan
        ms = gpu_plan.step_ms([config], ref)
    except (KeyError, ValueError, LookupError, ZeroDivisionError):
        return math.nan
    return config.epochs * (config.n_train // config.batch_size) * ms / 1e3 / 60


def cpu_hours(config: Config) -> dict[str, float]:
    """{machine kind: training hours of ``config`` on a 2-core machine of that kind, both threads},
    for every kind with a benchmark record of the fast path."""
    from .bench import EPOCH_OVERHEAD, records, step_flops

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
    return {kind: steps * ms / 1e3 * EPOCH_OVERHEAD / 3600 for kind, (_, ms) in best.items()}


def estimate(config: Config) -> dict:
    """``{"gpu_minutes": float, "cpu_hours": {machine kind: float}}`` for one run of ``config``."""
    return {"gpu_minutes": gpu_minutes(config), "cpu_hours": cpu_hours(config)}


def describe(config: Config) -> str:
    """One phrase: "about 9 GPU minutes; about 1.0 CPU hours on a 2-core amx machine, 2.8 on avx2"."""
    e = estimate(config)
    gpu = e["gpu_minutes"]
    parts = [f"about {gpu:.0f} GPU minutes" if not math.isnan(gpu) else "GPU time not measured yet"]
    cpu = sorted(e["cpu_hours"].items(), key=lambda kv: kv[1])
    if cpu:
        parts.append("about " + ", ".join(f"{h:.1f} h on a 2-core {kind} CPU" for kind, h in cpu)
                     + " (upper estimates, scaled from the nearest network measured there)")
    return "; ".join(parts)
