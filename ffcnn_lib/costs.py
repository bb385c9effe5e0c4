"""What a run would cost to train: GPU minutes and CPU hours per machine kind (stub; refined in issue #17).

The book says this beside every cell that has no real evidence yet (issue #15), so a reader knows
what getting it takes.
"""
from __future__ import annotations

import math

from .config import Config


def estimate(config: Config) -> dict:
    """``{"gpu_minutes": float, "cpu_hours": {machine kind: float}}`` for one run of ``config``
    (NaN where nothing was measured to scale from)."""
    from . import gpu_plan

    try:
        ref = gpu_plan.reference()
        ms = gpu_plan.step_ms([config], ref)
        gpu = config.epochs * (config.n_train // config.batch_size) * ms / 1000 / 60
    except (KeyError, ValueError, LookupError, ZeroDivisionError):
        gpu = math.nan
    return {"gpu_minutes": gpu, "cpu_hours": {}}


def describe(config: Config) -> str:
    """One phrase: "about 12 GPU minutes; about 3.1 CPU hours on a 2-core AVX-512 BF16 machine"."""
    e = estimate(config)
    parts = [f"about {e['gpu_minutes']:.0f} GPU minutes" if not math.isnan(e["gpu_minutes"]) else
             "GPU time not estimated yet"]
    parts += [f"about {h:.1f} CPU hours on a 2-core {kind} machine" for kind, h in e["cpu_hours"].items()]
    return "; ".join(parts)
