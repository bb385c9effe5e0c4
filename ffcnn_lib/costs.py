"""What a run would cost to train: GPU minutes, and CPU hours on each kind of machine measured.

The book says this beside every cell that has no real evidence yet (issue #15), so a reader knows
what getting it takes. Every figure comes from a measurement, never guessed, and from the same
function that plans the work: GPU minutes from ``bash tools/gpu_session.sh --plan``'s estimate
(:func:`ffcnn_lib.gpu_plan.batch_estimate`: the CUDA benchmark record's ms/step scaled by convolution
FLOPs, with a floor for small launch-bound networks); CPU hours per machine kind from
``campaign --list``'s estimate (:func:`ffcnn_lib.step_times.step_estimate`, issue #25): the step of that
model and network on the code path and precision it trains with on that kind, as the campaign
measured it there, else a step of the same model and code path scaled by FLOPs, said as such, plus
validation (:data:`ffcnn_lib.bench.EVAL_OVERHEAD`), at the pace the recorded campaign sessions on that
kind trained at against their steps timed alone (:func:`ffcnn_lib.step_times.campaign_pace`). A CPU
figure is one run as ``make campaign`` trains it: one thread, beside a second run on the other core.
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


# make campaign on a 2-core machine: two workers of one thread (campaign.DEFAULT_WORKERS)
CAMPAIGN_THREADS = 1


def cpu_estimates(config: Config, root=None) -> dict[str, tuple[float, str]]:
    """{machine kind: (training hours of one run of ``config`` as the campaign trains it there, the
    estimate's source: "measured", "scaled from <network>" or "not measured")} for every kind whose
    campaign step times are recorded (``results/benchmarks/campaign-steps-<kind>.json``), but kinds
    a pinned ``precision="bf16"`` run cannot train on (no native bf16)."""
    from . import machine, step_times
    from .experiments import results_dir

    out = {}
    for path in sorted(((root or results_dir()) / "benchmarks").glob("campaign-steps-*.json")):
        kind = path.stem.removeprefix("campaign-steps-")
        if config.precision == "bf16" and kind not in machine.NATIVE_BF16:
            continue
        steps = step_times.measured_steps(kind, root)
        epoch_s, source = step_times.epoch_seconds(config, CAMPAIGN_THREADS, steps, kind, root)
        out[kind] = (config.epochs * epoch_s / 3600, source)
    return out


def cpu_hours(config: Config, root=None) -> dict[str, float]:
    """{machine kind: training hours of one run of ``config`` there} (:func:`cpu_estimates`), for the
    kinds with an estimate."""
    return {kind: h for kind, (h, _) in cpu_estimates(config, root).items() if math.isfinite(h)}


def estimate(config: Config) -> dict:
    """``{"gpu_minutes": float, "cpu_hours": {machine kind: float}}`` for one run of ``config``."""
    return {"gpu_minutes": gpu_minutes(config), "cpu_hours": cpu_hours(config)}


def describe(config: Config) -> str:
    """One phrase: "about 10 GPU minutes; about 1.0 h on a 2-core amx CPU (measured), 2.8 h on a
    2-core avx2 CPU (scaled by FLOPs from bp-16-16-16-k5-b50), ..." with the kinds not measured named."""
    gpu = gpu_minutes(config)
    parts = [f"about {gpu:.0f} GPU minutes" if not math.isnan(gpu) else "GPU time not measured yet"]
    cpu = cpu_estimates(config)
    known = sorted(((h, kind, source) for kind, (h, source) in cpu.items() if math.isfinite(h)))
    if known:
        parts.append("about " + ", ".join(
            f"{h:.1f} h on a 2-core {kind} CPU ("
            + ("measured there" if source == "measured" else f"{source.replace('scaled from', 'scaled by FLOPs from')}, "
               "measured there") + ")" for h, kind, source in known)
            + " per run as the campaign trains it (one thread, beside a second run)")
    missing = sorted(kind for kind, (h, _) in cpu.items() if not math.isfinite(h))
    if missing:
        parts.append(f"not measured on {', '.join(missing)} for this model's code path there")
    return "; ".join(parts)
