"""Training-speed benchmark: ``python -m ffcnn_lib.bench`` (``make bench``).

Times FF training steps of one configuration for the naive reference (eager fp32) and the fast path
(bf16 autocast + channels_last + torch.compile, CUDA only), and prints ms/step, the time of one
epoch and of a full run, the achieved TFLOP/s and the fraction of the device's peak. Writes the
figures with device and versions to ``results/benchmarks/``.
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

from .config import Config
from .experiments import results_dir
from .train import _Run, compiled_step, device_name, resolve_device

# Dense bf16 tensor-core peak in TFLOP/s, for the "fraction of peak" column (vendor figures).
PEAK_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0}


def step_flops(config: Config) -> float:
    """Convolution FLOPs of one FF step: forward of positive+negative+neutral, backward (input and
    weight gradients, 2x forward) of positive+negative for the layers in the loss."""
    b, total, c_in, size = config.batch_size, 0.0, 1, 28
    for i, c in enumerate(config.filters):
        if config.max_pool and i > 0:
            size //= 2
        fwd = 2.0 * c_in * c * config.kernel ** 2 * size * size
        trained = i > 0 or config.include_first_layer
        total += fwd * 3 * b + (2 * fwd * 2 * b if trained else 0.0)
        c_in = c
    return total


def time_steps(configs: list[Config], device: torch.device, fast: bool, steps: int, warmup: int,
               compile_mode: str = "default") -> float:
    """Seconds per training step of ``configs`` stacked (median of 3 timed blocks) after ``warmup`` steps."""
    run = _Run([c.replace(n_val=10) for c in configs], device, fast, None)
    step, mode = compiled_step(run, compile_mode if fast else False)
    b, n = run.config.batch_size, run.config.n_train

    def block(count: int, offset: int) -> float:
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        for i in range(count):
            s = ((offset + i) * b) % (n - b)
            run.train_step(step, torch.arange(s, s + b, device=device).unsqueeze(1).expand(b, len(configs)), mode)
        if device.type == "cuda":
            torch.cuda.synchronize()
        return (time.perf_counter() - t0) / count

    block(warmup, 0)
    return sorted(block(steps, warmup + k * steps) for k in range(3))[1]


def multirun_ratio(device: torch.device, fast: bool, runs: int, steps: int) -> dict:
    """Aggregate throughput of ``runs`` stacked 16-filter 5x5 networks vs the same runs one after another."""
    small = Config(filters=16, kernel=5)
    one = time_steps([small], device, fast, steps, warmup=20 if fast else 3)
    many = time_steps([small.replace(seed=s) for s in range(runs)], device, fast, steps, warmup=20 if fast else 3)
    return {"runs": runs, "config": "16x16x16 k5 b50", "ms_per_step_single": one * 1e3,
            "ms_per_step_stacked": many * 1e3, "throughput_ratio": runs * one / many}


def peak_memory(config: Config, device: torch.device) -> dict:
    """Peak CUDA memory (MiB) of one training step, FF vs BP on the same conv stack (eager fp32).

    ``step_mib`` is the peak above what was allocated before the step (parameters, optimizer state
    and the data set on the device): mostly the activations kept for the backward pass.
    """
    out = {}
    for model in ("ff", "bp"):
        cfg = config.replace(model=model, n_val=10) if model == "ff" else Config.bp(
            filters=config.filters, kernel=config.kernel, batch_size=config.batch_size, n_val=10)
        run = _Run([cfg], device, False, None)
        step, _ = compiled_step(run, False)
        idx = torch.arange(cfg.batch_size, device=device).unsqueeze(1)
        for _ in range(2):  # the first step allocates Adam's state
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats(device)
            before = torch.cuda.memory_allocated(device)
            run.train_step(step, idx, False)
            torch.cuda.synchronize()
        out[model] = {"step_mib": (torch.cuda.max_memory_allocated(device) - before) / 2**20,
                      "peak_mib": torch.cuda.max_memory_allocated(device) / 2**20}
        del run, step
        torch.cuda.empty_cache()
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m ffcnn_lib.bench", description=__doc__)
    p.add_argument("--filters", default=None, help="default: 128 on CUDA, 16 on CPU")
    p.add_argument("--kernel", type=int, default=None, help="default: 7 on CUDA, 5 on CPU")
    p.add_argument("--batch-size", type=int, default=50)
    p.add_argument("--steps", type=int, default=None, help="timed steps per block (3 blocks)")
    p.add_argument("--runs", type=int, default=None, help="stacked runs for the multi-run ratio (default 8 on CUDA, 2 on CPU)")
    p.add_argument("--device", default="auto")
    p.add_argument("--out", default=None, help="folder for the JSON record (default results/benchmarks)")
    args = p.parse_args(argv)
    dev = resolve_device(args.device)
    cuda = dev.type == "cuda"
    filters = tuple(int(f) for f in (args.filters or ("128" if cuda else "16")).split(","))
    config = Config(filters=filters if len(filters) > 1 else filters * 3, kernel=args.kernel or (7 if cuda else 5),
                    batch_size=args.batch_size)
    steps = args.steps or (100 if cuda else 5)
    flops = step_flops(config)
    name = device_name(dev)
    peak = next((v for k, v in PEAK_TFLOPS.items() if k in name), None)
    rows = []
    variants = [("eager fp32 (TF32 off)", False, "")]
    if cuda:
        variants += [("bf16 + channels_last + compile", True, "default"),
                     ("same + CUDA graphs (reduce-overhead)", True, "reduce-overhead")]
    for label, fast, mode in variants:
        s = time_steps([config], dev, fast, steps, warmup=20 if fast else 5, compile_mode=mode or "default")
        tflops = flops / s / 1e12
        rows.append({"variant": label, "ms_per_step": s * 1e3, "epoch_s": s * (config.n_train // config.batch_size),
                     "run_200_epochs_min": s * (config.n_train // config.batch_size) * 200 / 60,
                     "tflops": tflops, "fraction_of_peak": tflops / peak if peak else None})
    print(f"device: {name}; config: {'x'.join(map(str, config.filters))} filters {config.kernel}x{config.kernel}, "
          f"batch {config.batch_size}; {flops / 1e9:.1f} GFLOP per step")
    print(f"{'variant':34s} {'ms/step':>8s} {'epoch s':>8s} {'200 ep min':>10s} {'TFLOP/s':>8s} {'of peak':>8s}")
    for r in rows:
        frac = f"{100 * r['fraction_of_peak']:.1f}%" if r["fraction_of_peak"] else "n/a"
        print(f"{r['variant']:34s} {r['ms_per_step']:8.2f} {r['epoch_s']:8.1f} {r['run_200_epochs_min']:10.1f} "
              f"{r['tflops']:8.2f} {frac:>8s}")
    for r in rows[1:]:
        print(f"speed-up of '{r['variant']}': {rows[0]['ms_per_step'] / r['ms_per_step']:.1f}x")
    multi = multirun_ratio(dev, cuda, args.runs or (8 if cuda else 2), steps)
    print(f"multi-run: {multi['runs']} stacked {multi['config']} networks, {multi['ms_per_step_stacked']:.2f} ms/step "
          f"vs {multi['ms_per_step_single']:.2f} ms/step alone: {multi['throughput_ratio']:.2f}x the throughput "
          f"of running them one after another")
    memory = peak_memory(config, dev) if cuda else None
    if memory:
        print(f"peak memory of one step (above parameters, optimizer state and data): FF {memory['ff']['step_mib']:.0f} MiB"
              f" (batch {config.batch_size} positive + negative + neutral), BP {memory['bp']['step_mib']:.0f} MiB")
    record = {"device": name, "config": config.to_dict(), "gflop_per_step": flops / 1e9, "peak_tflops": peak,
              "rows": rows, "multirun": multi, "memory": memory,
              "versions": {"torch": torch.__version__, "python": platform.python_version()},
              "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    out = Path(args.out) if args.out else results_dir() / "benchmarks"
    out.mkdir(parents=True, exist_ok=True)
    tag = "cuda" if cuda else "cpu"
    path = out / f"bench-{tag}-{'x'.join(map(str, config.filters))}-k{config.kernel}.json"
    path.write_text(json.dumps(record, indent=1))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
