"""Training-speed benchmark: ``python -m ffcnn_lib.bench`` (``make bench``).

Times FF training steps of one configuration for the naive reference (eager fp32) and the fast path
(bf16 autocast + channels_last + torch.compile, CUDA only), BP's step in eager fp32 against its fast
path on a few networks (issue #25), and prints ms/step, the time of one
epoch and of a full run, the achieved TFLOP/s and the fraction of the device's peak; then the
throughput of R stacked small networks against R single runs, the cost of goodness inference
against the linear classifier (Sec. 2.3), and the memory of one step, FF against BP. Writes the
figures with device and versions to ``results/benchmarks/``; :func:`records` and :func:`tables`
read them back for the book. ``--workers-check`` times the CPU campaign's two one-thread workers
against one two-thread process (:func:`workers_check`, kept apart in ``workers-cpu-<kind>.json``).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import time
from pathlib import Path
from queue import Empty

import torch

from . import inference, machine
from .config import Config
from .experiments import _git_commit, results_dir, write_atomic
from .model import layer_shapes
from .train import _Run, _ff_step_fn, compiled_step, cpu_bf16_native, device_name, resolve_device, train

# Dense bf16 tensor-core peak in TFLOP/s, for the "fraction of peak" column (vendor figures).
PEAK_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0}


def step_flops(config: Config) -> float:
    """Convolution FLOPs of one FF step.

    Forward of positive, negative and classifier inputs (3B images) through every layer; backward of
    positive + negative (2B) for the layers in the loss. Every layer's input is detached (no gradient
    crosses layers), so the backward pass computes weight gradients only: as many FLOPs as the forward.
    """
    b, total, c_in = config.batch_size, 0.0, 1
    shapes = layer_shapes(config.filters, config.max_pool, kernel=config.kernel, padding=config.padding)
    for i, (c, h, w) in enumerate(shapes):
        fwd = 2.0 * c_in * c * config.kernel ** 2 * h * w  # per image
        trained = i > 0 or config.include_first_layer
        total += fwd * 3 * b + (fwd * 2 * b if trained else 0.0)
        c_in = c
    return total


def throughput(flops: float, seconds: float, peak: float | None) -> tuple[float, float | None]:
    """Achieved TFLOP/s of a step of ``flops`` taking ``seconds``, and its fraction of ``peak``."""
    tflops = flops / seconds / 1e12
    return tflops, tflops / peak if peak else None


def time_steps(configs: list[Config], device: torch.device, fast: bool, steps: int, warmup: int,
               compile_mode: str = "default", bf16: bool | None = None, ready=None) -> float:
    """Seconds per training step of ``configs`` stacked (median of 3 timed blocks) after ``warmup`` steps.

    ``compile_mode`` "" times the fast path's precision without ``torch.compile``; ``bf16`` forces
    bf16 autocast on or off (default: where the device has it, see :func:`~ffcnn_lib.train.cpu_bf16_native`);
    ``ready``, called between the warm-up and the timed blocks, lets processes start timing together."""
    run = _Run([c.replace(n_val=10) for c in configs], device, fast, None, bf16=bf16)
    step, mode = compiled_step(run, (compile_mode or False) if fast else False)
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
    if ready is not None:
        ready()
    return sorted(block(steps, warmup + k * steps) for k in range(3))[1]


def parse_networks(text: str) -> list[tuple[tuple[int, ...], int]]:
    """``"16x5,32x7,64x7"`` -> [((16, 16, 16), 5), ...]: three equal layers of F filters, kernel K
    (``"16-32-64x7"`` for unequal layers). Empty: none."""
    out = []
    for item in (t.strip() for t in text.split(",")):
        if not item:
            continue
        filters, sep, kernel = item.partition("x")
        try:
            widths = tuple(int(f) for f in filters.split("-"))
            out.append((widths if len(widths) > 1 else widths * 3, int(kernel)))
        except ValueError:
            raise ValueError(f"network {item!r}: expected FILTERSxKERNEL such as 16x5, 32x7 or 16-32-64x7") from None
        if not sep:
            raise ValueError(f"network {item!r}: expected FILTERSxKERNEL such as 16x5, 32x7 or 16-32-64x7")
    return out


def bp_speed(networks: list[tuple[tuple[int, ...], int]], device: torch.device, steps: int,
             batch_size: int = 50, compile_modes: tuple[str, ...] = ("default",)) -> list[dict]:
    """BP's step (Adam, ``batch_size``) in eager fp32 against its fast path on this device (issue
    #25), per network: on CUDA compiled bf16; on a CPU with native bf16 the path training takes,
    bf16 autocast + channels_last without compiling, and the same compiled (``compile_modes``), to show
    whether compiling pays (:func:`ffcnn_lib.train.default_compile`); without native bf16 BP trains in eager fp32 and
    only that row is timed. ``speedup``: eager fp32's ms/step over the row's. ``load_1min``: the
    machine's load average when the network's timing began (a shared CPU slows every row of it)."""
    cuda = device.type == "cuda"
    native = cuda or cpu_bf16_native()
    out = []
    for filters, kernel in networks:
        config = Config.bp(filters=filters, kernel=kernel, batch_size=batch_size)
        variants = [("eager fp32" + (" (TF32 off)" if cuda else ""), False, "")]
        if cuda:
            variants.append(("bf16 + channels_last + compile default (fast path)", True, "default"))
        elif native:
            variants += [("bf16 + channels_last, eager (fast path)", True, "")]
            variants += [(f"bf16 + channels_last + compile {m}", True, m) for m in compile_modes]
        rows, load = [], os.getloadavg()[0]
        for label, fast, mode in variants:
            s = time_steps([config], device, fast, steps, warmup=5 if mode else 2, compile_mode=mode, bf16=fast)
            rows.append({"variant": label, "ms_per_step": s * 1e3})
        for r in rows:
            r["speedup"] = rows[0]["ms_per_step"] / r["ms_per_step"]
        out.append({"network": "x".join(map(str, filters)) + f" k{kernel} b{batch_size}", "config": config.to_dict(),
                    "gflop_per_step": step_flops(config) / 1e9, "threads": torch.get_num_threads(), "load_1min": load,
                    "rows": rows, "note": "" if native else "no native bf16: BP trains in eager fp32 here"})
    return out


def multirun_ratio(device: torch.device, fast: bool, runs: int, steps: int, compile_mode: str = "default") -> dict:
    """Aggregate throughput of ``runs`` stacked 16-filter 5x5 networks vs the same runs one after another."""
    small = Config(filters=16, kernel=5)
    kw = dict(warmup=20 if fast else 3, compile_mode=compile_mode)
    one = time_steps([small], device, fast, steps, **kw)
    many = time_steps([small.replace(seed=s) for s in range(runs)], device, fast, steps, **kw)
    return {"runs": runs, "config": "16x16x16 k5 b50", "compile_mode": compile_mode if fast else None,
            "ms_per_step_single": one * 1e3, "ms_per_step_stacked": many * 1e3, "throughput_ratio": runs * one / many}


def campaign_step_ms(config: Config, threads: int, steps: int, warmup: int = 5, ready=None) -> float:
    """Milliseconds per training step of ``config`` here with ``threads`` threads, on the code path a
    campaign run of it takes here (:func:`~ffcnn_lib.train.code_path`): :func:`time_steps` after
    ``warmup`` steps where the path compiles, 2 where it does not."""
    from .train import code_path, default_fast

    cpu = torch.device("cpu")
    compiled, _ = code_path(config, "cpu")
    saved = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return 1e3 * time_steps([config], cpu, default_fast(cpu, config), steps, warmup if compiled else 2,
                                compile_mode="default" if compiled else "", ready=ready)
    finally:
        torch.set_num_threads(saved)


def _timed_beside(config: Config, steps: int, barrier, queue) -> None:
    queue.put(campaign_step_ms(config, 1, steps, ready=barrier.wait))


def workers_check(config: Config, workers: int = 2, steps: int = 10) -> dict:
    """The choice behind ``make campaign WORKERS=2``, measured on this CPU: one process with ``workers``
    threads against ``workers`` processes of one thread each, stepping the same network side by side
    (timed together once each has warmed up, on the code path a campaign run takes here), in ms/step
    and in how many more steps a second the processes get done together (``throughput_ratio``)."""
    import multiprocessing

    from .train import code_path

    compiled, bf16 = code_path(config, "cpu")
    alone = campaign_step_ms(config, workers, steps)
    ctx = multiprocessing.get_context("spawn")  # a fresh interpreter each: no threads inherited
    barrier, queue = ctx.Barrier(workers), ctx.Queue()
    procs = [ctx.Process(target=_timed_beside, args=(config, steps, barrier, queue)) for _ in range(workers)]
    for p in procs:
        p.start()
    each: list[float] = []
    try:
        while len(each) < workers:
            try:
                each.append(queue.get(timeout=2))
            except Empty:  # a process that died (before the barrier, say) would leave the rest waiting
                if dead := [p.exitcode for p in procs if p.exitcode not in (None, 0)]:
                    raise RuntimeError(f"workers_check: a timing process exited with code {dead[0]}") from None
    finally:
        for p in procs:
            if p.is_alive() and len(each) < workers:
                p.terminate()
            p.join()
    each.sort()
    layers = "x".join(map(str, config.filters)) if len(set(config.filters)) == 1 else "-".join(map(str, config.filters))
    network = f"{layers} k{config.kernel} b{config.batch_size}"  # "16x16x16 k5 b50", "16-32-64 k7 b50"
    return {"network": f"{config.model.upper()} {network}", "config": config.to_dict(), "workers": workers,
            "path": f"{'compiled' if compiled else 'eager'} {'bf16' if bf16 else 'fp32'}",
            "ms_per_step_alone": alone, "ms_per_step_each": each, "throughput_ratio": alone * sum(1 / e for e in each)}


def profile_step(config: Config, device: torch.device, steps: int = 10) -> dict:
    """Where an eager fp32 step spends its time: the share of convolutions (forward, and backward
    for the weight gradients) and the rate they run at. ``torch.compile`` fuses what lies around
    the convolutions, not the convolutions themselves, so in fp32 it can at best remove the rest:
    ``max_fp32_speedup = 1 / conv_share``. Only lower-precision arithmetic (bf16) speeds up the convs."""
    from torch.profiler import ProfilerActivity, profile

    run = _Run([config.replace(n_val=10)], device, False, None)
    step, _ = compiled_step(run, False)
    b = config.batch_size
    idx = [torch.arange(i * b, (i + 1) * b, device=device).unsqueeze(1) for i in range(steps + 2)]
    for i in range(2):
        run.train_step(step, idx[i], False)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    t0 = time.perf_counter()
    with profile(activities=activities) as prof:
        for i in range(steps):
            run.train_step(step, idx[2 + i], False)
        if device.type == "cuda":
            torch.cuda.synchronize()
    total = (time.perf_counter() - t0) / steps
    forward = backward = 0.0
    for e in prof.key_averages():
        t = (e.self_device_time_total if device.type == "cuda" else e.self_cpu_time_total) / 1e6 / steps
        if "convolution_backward" in e.key or "conv_backward" in e.key:
            backward += t
        elif any(k in e.key for k in ("mkldnn_convolution", "cudnn_convolution", "slow_conv2d")):
            forward += t
    conv = forward + backward
    return {"ms_per_step": total * 1e3, "conv_forward_ms": forward * 1e3, "conv_backward_ms": backward * 1e3,
            "conv_share": conv / total, "conv_gflops": step_flops(config) / conv / 1e9 if conv else None,
            "max_fp32_speedup": total / conv if conv else None}


def precision_check(config: Config, device: torch.device, epochs: int, floor: bool | None = None) -> dict:
    """Validation accuracy of a matched short run (same seed, data order and initial weights) on the
    reference path (eager fp32) and on the fast path (torch.compile, with bf16 autocast and
    channels_last where the device has bf16), both evaluated in fp32; after bf16 training also
    evaluated in bf16 (``*_bf16``). Per-epoch linear accuracies of both are kept (``curve``).

    ``floor`` (default: on a CPU) adds the reference once more with PyTorch's own convolutions
    instead of oneDNN's: the same fp32 arithmetic summed in another order. (oneDNN gives the same
    bits on one thread as on two, so thread count is no such control.) Early in training a
    rounding-level change can move the validation accuracy of a 16-filter network by a point or
    more, so ``diff_pp_*_floor`` (fp32 against itself) is the scale a fast-path difference is read against.
    """
    short = config.replace(epochs=epochs)
    out: dict = {"config": short.to_dict()}
    runs = [("fp32", False, True), ("fast", True, True)]
    if floor if floor is not None else device.type == "cpu":
        runs.append(("fp32_native_conv", False, False))
    for name, fast, onednn in runs:
        with torch.backends.mkldnn.flags(enabled=onednn):
            o = train(short, device, fast=fast, goodness_every=epochs)
        out[name] = {"precision": o.precision, "compiled": o.compiled, "train_seconds": o.train_seconds,
                     "curve": [h["val_acc_linear"] for h in o.history],
                     **{k: v for k, v in o.final.items() if k.startswith("val_acc_")}}
    for m in ("linear", "goodness"):
        out[f"diff_pp_{m}"] = 100 * (out["fast"][f"val_acc_{m}"] - out["fp32"][f"val_acc_{m}"])
        if "fp32_native_conv" in out:
            out[f"diff_pp_{m}_floor"] = 100 * (out["fp32_native_conv"][f"val_acc_{m}"] - out["fp32"][f"val_acc_{m}"])
    return out


MiB = 2 ** 20
MEMORY_VARIANTS = {"ff": "FF one backward", "ff_layerwise": "FF per layer",
                   "ff_layerwise_noclf": "FF per layer, no classifier", "bp": "BP"}


class SavedActivations:
    """Bytes of the tensors autograd keeps for backward passes, live and at their peak, on any device.

    A context manager (``saved_tensors_hooks``): each storage counts once however many operations
    save it, parameters not at all, and a tensor stops counting when its graph is freed. This is the
    memory the paper's argument is about (BP must keep every layer's activations until its
    backward pass), measured without a GPU.
    """

    def __init__(self, parameters=()):
        self._params = {p.untyped_storage().data_ptr() for p in parameters}
        self._refs: dict[int, list[int]] = {}  # storage address -> [references, bytes]
        self.live = self.peak = 0

    def __enter__(self) -> "SavedActivations":
        self._hooks = torch.autograd.graph.saved_tensors_hooks(self._pack, self._unpack)
        self._hooks.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._hooks.__exit__(*exc)

    def _pack(self, t: torch.Tensor):
        key = t.untyped_storage().data_ptr()
        if key in self._params:
            return t
        ref = self._refs.setdefault(key, [0, t.untyped_storage().nbytes()])
        if ref[0] == 0:
            self.live += ref[1]
            self.peak = max(self.peak, self.live)
        ref[0] += 1
        return _Saved(self, key, t.detach())  # detached: holding an output with its grad_fn would form a cycle

    @staticmethod
    def _unpack(saved):
        return saved.tensor if isinstance(saved, _Saved) else saved

    def _release(self, key: int) -> None:
        ref = self._refs[key]
        ref[0] -= 1
        if ref[0] == 0:
            self.live -= ref[1]
            del self._refs[key]


class _Saved:
    """A saved tensor; when autograd frees it (after the backward pass), it stops counting."""

    def __init__(self, meter: SavedActivations, key: int, tensor: torch.Tensor):
        self.meter, self.key, self.tensor = meter, key, tensor

    def __del__(self):
        self.meter._release(self.key)


def memory(config: Config, device: torch.device) -> dict:
    """Memory of one training step (eager fp32) for FF (one backward / a backward per layer, with
    and without the linear classifier trained alongside) and BP.

    ``saved_mib``: peak of the tensors kept for backward (any device, see :class:`SavedActivations`).
    On CUDA also ``step_mib``, the peak allocated above what the step started with (parameters,
    optimizer state, the data set), and ``peak_mib``, everything. An FF step processes 2B images
    with gradient (positive and negative) and B without (the classifier's); a BP step B images.
    """
    out = {}
    cuda = device.type == "cuda"
    for variant in MEMORY_VARIANTS:
        small = dict(n_train=max(1000, config.batch_size), n_val=10)
        cfg = config.replace(model="ff", **small) if variant.startswith("ff") else Config.bp(
            filters=config.filters, kernel=config.kernel, max_pool=config.max_pool, padding=config.padding,
            batch_size=config.batch_size, **small)
        run = _Run([cfg], device, False, None)
        if variant == "ff_layerwise_noclf":
            step = _ff_step_fn(run.model, cfg.include_first_layer, layerwise=True, classifier=False)
        else:
            step, _ = compiled_step(run, False, layerwise=variant == "ff_layerwise")
        idx = torch.arange(cfg.batch_size, device=device).unsqueeze(1)
        run.train_step(step, idx, False)  # the first step allocates Adam's state
        if cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats(device)
            before = torch.cuda.memory_allocated(device)
        with SavedActivations(run.model.parameters()) as saved:
            run.train_step(step, idx, False)
        out[variant] = {"saved_mib": saved.peak / MiB}
        if cuda:
            torch.cuda.synchronize()
            peak = torch.cuda.max_memory_allocated(device)
            out[variant].update(step_mib=(peak - before) / MiB, peak_mib=peak / MiB)
        del run, step
        if cuda:
            torch.cuda.empty_cache()
    return out


def memory_vs_depth(depths: tuple[int, ...], device: torch.device, filters: int = 16, kernel: int = 5,
                    batch_size: int = 50) -> list[dict]:
    """Saved-for-backward memory of one step (:func:`memory`) for networks of ``depths`` equal layers.

    BP keeps every layer's activations, FF with a backward pass per layer one layer's (its input
    and output, for positive and negative data) plus, if the linear classifier is trained
    alongside, the classifier's input: the activations of layers 2..N on the classifier's input image."""
    return [{"layers": n, "config": (cfg := Config(filters=(filters,) * n, kernel=kernel,
                                                    batch_size=batch_size)).to_dict(),
             "result": memory(cfg, device)} for n in depths]


def inference_cost(config: Config, device: torch.device, fast: bool, n: int = 1000, repeats: int = 3) -> dict:
    """Seconds to classify ``n`` validation images by linear classifier, by goodness (layer 1 once
    per image, labels batched) and by goodness as defined (ten full passes); median of ``repeats``.

    The paper (Sec. 2.3) puts goodness at about ten times the linear classifier's cost.
    """
    run = _Run([config.replace(n_train=max(1000, config.batch_size), n_val=n)], device, fast, None)
    net, enc = run.networks()[0], run.encoders[0]
    methods = {"linear": inference.linear_logits, "goodness": inference.goodness_scores,
               "goodness_separate": inference.goodness_scores_separate}

    def seconds(fn) -> float:
        times = []
        for _ in range(repeats + 1):  # the first call warms up (cuDNN autotuning, allocations)
            if device.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            fn(net, enc, run.xv, precision=run.precision)
            if device.type == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - t0)
        return sorted(times[1:])[len(times[1:]) // 2]

    out = {f"{m}_s": seconds(fn) for m, fn in methods.items()}
    out.update(images=n, goodness_vs_linear=out["goodness_s"] / out["linear_s"],
               separate_vs_linear=out["goodness_separate_s"] / out["linear_s"])
    return out


def workers_path(kind: str | None = None, root: Path | None = None) -> Path:
    """Where this kind's :func:`workers_check` figures are kept (beside the benchmark records)."""
    return (root or results_dir()) / "benchmarks" / f"workers-cpu-{kind or machine.kind()}.json"


def store_workers(entry: dict, root: Path | None = None) -> Path:
    """Add a :func:`workers_check` figure, with the CPU, commit and date, to this kind's file; it
    replaces the one of the same network, worker count and CPU model."""
    entry = {**entry, "cpu": machine.capabilities(), "git_commit": _git_commit(), "torch": torch.__version__,
             "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    path = workers_path(entry["cpu"]["kind"], root)
    key = lambda e: (e["network"], e["workers"], e["cpu"]["model"])  # noqa: E731
    kept = [e for e in (json.loads(path.read_text())["entries"] if path.exists() else []) if key(e) != key(entry)]
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps({"entries": [*kept, entry]}, indent=1))
    return path


def workers_markdown(root: Path | None = None) -> str:
    """The README's table of the :func:`workers_check` figures of every kind measured (the evidence
    behind ``make campaign WORKERS=2``)."""
    lines = ["| kind | CPU | network | code path | one process, 2 threads [ms/step] | two processes of 1 thread "
             "[ms/step each] | steps done, two processes over one | measured |", "|" + "---|" * 8]
    for path in sorted(((root or results_dir()) / "benchmarks").glob("workers-cpu-*.json")):
        for e in json.loads(path.read_text())["entries"]:
            lines.append(f"| {e['cpu']['kind']} | {e['cpu']['model']} | {e['network']} | {e['path']} | "
                         f"{e['ms_per_step_alone']:.0f} | {', '.join(f'{m:.0f}' for m in e['ms_per_step_each'])} | "
                         f"{e['throughput_ratio']:.2f}x | {e['time'][:10]} |")
    return "\n".join(lines) if len(lines) > 2 else \
        "Not measured yet: `python -m ffcnn_lib.bench --workers-check ff:16-32-64x7,bp:16x7`."


def parse_runs(text: str) -> list[Config]:
    """``"ff:16-32-64x7,bp:16x7"`` -> the paper-settings configs of those networks (``ff:`` if no model
    is named); see :func:`parse_networks`."""
    out = []
    for item in (t.strip() for t in text.split(",") if t.strip()):
        model, _, net = item.rpartition(":")
        if model not in ("", "ff", "bp"):
            raise ValueError(f"network {item!r}: model {model!r} is not one of ff, bp")
        for filters, kernel in parse_networks(net):
            make = Config.bp if model == "bp" else Config
            out.append(make(filters=filters, kernel=kernel))
    return out


def records(root: Path | None = None) -> list[dict]:
    """The stored benchmark records, oldest first, with FLOP-derived columns recomputed from the
    measured ms/step by the current :func:`step_flops` (early records counted input gradients
    that FF never computes)."""
    out = []
    # bench-*.json only: the campaign's measured step times (campaign-steps-<kind>.json) sit beside them
    for path in sorted(((root or results_dir()) / "benchmarks").glob("bench-*.json")):
        r = json.loads(path.read_text())
        flops = step_flops(Config.from_dict(r["config"]))
        r["gflop_per_step"] = flops / 1e9
        for row in r["rows"]:
            row["tflops"], row["fraction_of_peak"] = throughput(flops, row["ms_per_step"] / 1e3, r.get("peak_tflops"))
        if isinstance(r.get("multirun"), dict):  # early records: one multi-run measurement
            r["multirun"] = [r["multirun"]]
        r["kind"] = record_kind(r)
        parsed = machine.parse_cpu_device(r["device"])
        if parsed and parsed[0] == machine.UNRECORDED_KIND:  # "cpu (x86_64, 2 threads)" said nothing of the kind
            r["device"] = machine.cpu_device(r["kind"], parsed[1])
        out.append(r)
    return sorted(out, key=lambda r: r["time"])


def record_kind(record: dict) -> str:
    """The machine kind of a record (:mod:`ffcnn_lib.machine`): ``cuda``, or the CPU's kind from its
    ``cpu`` field; records from before that field: ``avx2`` where bf16 was not native, else unknown."""
    if not record["device"].startswith("cpu"):
        return "cuda"
    if record.get("cpu"):
        return record["cpu"]["kind"]
    return "avx2" if record.get("cpu_bf16_native") is False else "unknown"


def import_records(folder: Path, out: Path | None = None) -> list[Path]:
    """Commit the records of another machine kind (``../shared/bench-records/<name>/``: records
    written by this module on a CPU, and the ``lscpu`` output of that machine) as records of their
    kind: the ``cpu`` field is read off ``lscpu.txt`` (model, flags, kind) and each file is renamed
    ``bench-cpu-<kind>-<network>.json``, so they sit beside this machine's without colliding."""
    lscpu = (folder / "lscpu.txt").read_text()
    # Either lscpu's own lines ("Model name: ...", "Flags: ...") or the grep that was shared:
    # the flags of interest, then "Model name: ..." on one line.
    head, _, model = lscpu.partition("Model name:")
    model = model.splitlines()[0].strip() if model else ""
    flags = set(head.replace("Flags:", " ").split())
    for line in lscpu.splitlines():
        if line.strip().startswith("Flags:"):
            flags |= set(line.split(":", 1)[1].split())
    kind = machine.kind_of(flags)
    wanted = ("amx_bf16", "amx_tile", "avx512_bf16", "avx512f", "avx2")
    out = out or results_dir() / "benchmarks"
    written = []
    for path in sorted(folder.glob("bench-cpu-*.json")):
        r = json.loads(path.read_text())
        r["cpu"] = {"model": model, "cores": None, "flags": [f for f in wanted if f in flags], "kind": kind,
                    "source": f"{folder.name}/lscpu.txt (imported)"}
        target = out / path.name.replace("bench-cpu-", f"bench-cpu-{kind}-", 1)
        write_atomic(target, json.dumps(r, indent=1))
        written.append(target)
    return written


def kinds_table(recs: list[dict], budget_min: float = 150.0) -> "pd.DataFrame":
    """Per CPU kind measured (README, "Reproduce on a laptop"): the fast path's ms/step on each
    network its records time, against eager fp32, and how many epochs of that network one
    campaign run of ``budget_min`` minutes trains (two threads, validation included)."""
    import pandas as pd

    rows = []
    for r in recs:
        if r["kind"] == "cuda" or not r.get("rows"):
            continue
        eager = r["rows"][0]["ms_per_step"]
        fast = next((row for row in r["rows"][1:] if "compile" in row["variant"]), None)
        if fast is None:
            continue
        c = r["config"]
        steps = N_TRAIN_STEPS * 50 // c["batch_size"]
        epoch_s = steps * fast["ms_per_step"] / 1e3 * EVAL_OVERHEAD["ff"]
        rows.append({"kind": r["kind"], "CPU": (r.get("cpu") or {}).get("model", ""),
                     "network": "x".join(map(str, c["filters"])) + f" {c['kernel']}x{c['kernel']}",
                     "eager fp32 [ms/step]": round(eager, 1), "fast path [ms/step]": round(fast["ms_per_step"], 1),
                     "precision": "bf16" if fast["variant"].startswith("bf16") else "fp32",
                     "speed-up": round(eager / fast["ms_per_step"], 2),
                     "200 epochs [h]": round(200 * epoch_s / 3600, 1),
                     f"epochs in {budget_min:.0f} min": int(budget_min * 60 // epoch_s),
                     "measured": r["time"][:10]})
    return pd.DataFrame(rows)


N_TRAIN_STEPS = 1000  # steps of an epoch at batch 50 (50,000 training images)
# An epoch costs its steps plus validation: the linear classifier every epoch and goodness every
# 10 epochs (ten passes). Measured on FF 16x5x5 (avx512-bf16, one thread): 36.7 ms a step, 38 s an
# epoch without goodness; goodness epochs add about a third of an epoch. BP validates more cheaply.
EVAL_OVERHEAD = {"ff": 1.07, "bp": 1.03}


def kinds_markdown(recs: list[dict]) -> str:
    """The README's table of machine kinds, generated from the committed records (see
    :func:`kinds_table`), with the kinds not measured yet named."""
    df = kinds_table(recs)
    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in df.itertuples(index=False)]
    missing = [k for k in machine.KINDS if k not in set(df["kind"])] if len(df) else list(machine.KINDS)
    if missing:
        lines += ["", "Not measured yet: " + ", ".join(f"{k} ({machine.describe(k)})" for k in missing) + "."]
    return "\n".join(lines)


def targets(recs: list[dict]) -> "pd.DataFrame":
    """The speed targets of issue #4 (one H100), each with the best measured figure and whether it is met."""
    import pandas as pd

    h100 = [r for r in recs if "H100" in r["device"]]
    best = [row["ms_per_step"] for r in h100 if r["config"]["filters"] == [128, 128, 128]
            and r["config"]["kernel"] == 7 and r["config"]["batch_size"] == 50
            for row in r["rows"] if "compile" in row["variant"]]
    multi = [m["throughput_ratio"] for r in h100 for m in r.get("multirun") or [] if m["runs"] == 8]
    checks = [r["precision_check"] for r in h100 if r.get("precision_check")]
    gap = max(abs(checks[-1]["diff_pp_linear"]), abs(checks[-1]["diff_pp_goodness"])) if checks else None
    rows = [("fast path, best network (3 x 128 filters 7x7, batch 50): ms/step", "<= 1.5",
             min(best) if best else None, lambda v: v <= 1.5),
            ("8 stacked 16-filter 5x5 networks: throughput vs one after another", ">= 4x",
             max(multi) if multi else None, lambda v: v >= 4),
            ("matched short run: |validation accuracy fast - fp32| [pp]", "<= 0.1", gap, lambda v: v <= 0.1)]
    return pd.DataFrame([{"target (one H100)": what, "wanted": wanted, "best measured": value,
                          "verdict": "not measured (needs an H100)" if value is None
                          else ("met" if ok(value) else "not met")} for what, wanted, value, ok in rows])


def cpu_targets(recs: list[dict]) -> "pd.DataFrame":
    """The CPU targets of issue #9 (16 filters 5x5, batch 50), from the newest CPU record: the fast
    path's speed-up over eager fp32, and a matched run's accuracy difference. A missed speed-up
    names its cause from the step profile (:func:`profile_step`)."""
    import pandas as pd

    cpu = [r for r in recs if r["device"].startswith("cpu") and r["config"]["filters"] == [16, 16, 16]
           and r["config"]["kernel"] == 5 and r["config"]["batch_size"] == 50 and r.get("profile")]
    r = cpu[-1] if cpu else {}
    # The matched run is a separate measurement: the newest record that has one (maybe another kind's).
    checked = [x for x in cpu if x.get("precision_check")]
    fast = [row for row in r.get("rows", [])[1:] if "compile" in row["variant"]]
    speedup = r["rows"][0]["ms_per_step"] / fast[0]["ms_per_step"] if fast else None
    check = checked[-1]["precision_check"] if checked else None
    gap = max(abs(check["diff_pp_linear"]), abs(check["diff_pp_goodness"])) if check else None
    why = ""
    if speedup is not None and speedup < 2 and r.get("profile"):
        prof = r["profile"]
        why = (f" (convolutions take {100 * prof['conv_share']:.0f} % of an eager step, so compiling the rest gives "
               f"at most {prof['max_fp32_speedup']:.2f}x in fp32; "
               + ("bf16 is native here" if r.get("cpu_bf16_native") else
                  "this CPU has no native bf16, which would speed up the convolutions themselves") + ")")
    noise = ""
    if check and gap is not None and gap > 0.2 and "diff_pp_linear_floor" in check:
        floor = max(abs(check["diff_pp_linear_floor"]), abs(check["diff_pp_goodness_floor"]))
        noise = (f" (eager fp32 against itself with PyTorch's convolutions instead of oneDNN's, the same arithmetic "
                 f"summed in another order, differs by {floor:.2f} pp: " + ("the fast path's difference is of that size, rounding "
                                                          "amplified by training, not a cost of the fast path)"
                                                          if gap <= max(floor, 0.2) * 1.5 else "the fast path differs more)"))
    def where(rec: dict) -> str:
        return f"{rec['device']}, {rec['time'][:10]}" if rec else "not measured"

    rows = [("fast path vs eager fp32, 16x5x5 batch 50: speed-up", ">= 2.0x", speedup, lambda v: v >= 2.0, why, r),
            ("matched 16x5x5 run: |validation accuracy fast - fp32| [pp]", "<= 0.2", gap, lambda v: v <= 0.2, noise,
             checked[-1] if checked else {})]
    return pd.DataFrame([{"target (CPU)": what, "wanted": wanted, "measured": value, "on": where(rec),
                          "verdict": "not measured (run make bench)" if value is None
                          else ("met" if ok(value) else "not met") + note}
                         for what, wanted, value, ok, note, rec in rows])


def tables(recs: list[dict]) -> dict[str, "pd.DataFrame"]:
    """The book's performance tables: ``speed``, ``multirun``, ``memory``, ``memory_by_depth``,
    ``inference``, ``precision``, ``bp_speed`` (BP's step, eager fp32 against its fast path)."""
    import pandas as pd

    def net(config: dict) -> str:
        return "x".join(map(str, config["filters"])) + f" k{config['kernel']} b{config['batch_size']}"

    speed, multi, mem, inf, prec, depth, bp = [], [], [], [], [], [], []
    for r in recs:
        # versions and commit stay in the records; the tables name device and day
        where = {"device": r["device"].replace("NVIDIA ", "") + (" (cut short)" if r.get("complete") is False else ""),
                 "measured": r["time"][:10]}
        for v in r["rows"]:
            speed.append({**where, "network": net(r["config"]), "variant": v["variant"], "ms/step": v["ms_per_step"],
                          "200 epochs [min]": v["run_200_epochs_min"], "TFLOP/s": v["tflops"],
                          "of peak": v["fraction_of_peak"]})
        for b in r.get("bp") or []:  # timed with its own thread count (the record's device names the FF part's)
            bp += [{**where, "threads": b["threads"], "load (1 min) when timed": b.get("load_1min", math.nan),
                    "network": b["network"], "variant": v["variant"],
                    "ms/step": v["ms_per_step"], "speed-up over eager fp32": v["speedup"]} for v in b["rows"]]
        for m in r.get("multirun") or []:
            multi.append({**where, "network": m["config"], "compile mode": m.get("compile_mode"),
                          "stacked runs": m["runs"], "ms/step alone": m["ms_per_step_single"],
                          "ms/step stacked": m["ms_per_step_stacked"], "throughput ratio": m["throughput_ratio"]})
        if r.get("precision_check"):
            c = r["precision_check"]
            for path in [k for k in ("fp32", "fast", "fp32_native_conv") if k in c]:
                prec.append({**where, "network": net(c["config"]), "epochs": c["config"]["epochs"],
                             "path": f"{c[path]['precision']}" + (f", compiled ({c[path]['compiled']})"
                                                                 if c[path]["compiled"] else "")
                             + (", PyTorch's convolutions (rounding control)" if path == "fp32_native_conv" else ""),
                             "val linear by epoch [%]": " / ".join(f"{100 * a:.2f}" for a in c[path].get("curve", [])),
                             "val linear [%]": 100 * c[path]["val_acc_linear"],
                             "val goodness [%]": 100 * c[path]["val_acc_goodness"],
                             "val linear, bf16 inference [%]": 100 * c[path].get("val_acc_linear_bf16", math.nan),
                             "val goodness, bf16 inference [%]": 100 * c[path].get("val_acc_goodness_bf16", math.nan),
                             "train [s]": c[path]["train_seconds"]})
        for m in r.get("memories") or []:
            row = {**where, "network": net(m["config"])}
            for variant, label in MEMORY_VARIANTS.items():
                row[f"{label}: saved [MiB]"] = m["result"][variant]["saved_mib"]
            for variant, label in MEMORY_VARIANTS.items():
                if "step_mib" in m["result"][variant]:
                    row[f"{label}: CUDA step [MiB]"] = m["result"][variant]["step_mib"]
            mem.append(row)
        if r.get("memory") and "memories" not in r:  # early records: CUDA step peak of FF and BP only
            mem.append({**where, "network": net(r["config"]),
                        **{f"{MEMORY_VARIANTS[v]}: CUDA step [MiB]": r["memory"][v]["step_mib"] for v in ("ff", "bp")}})
        if r.get("memory_by_depth"):
            depth = []  # the newest study only
        for d in r.get("memory_by_depth") or []:
            depth.append({**where, "layers": d["layers"], "network": net(d["config"]),
                          **{f"{label} [MiB]": d["result"][v]["saved_mib"] for v, label in MEMORY_VARIANTS.items()}})
        if r.get("inference"):
            i = r["inference"]
            inf.append({**where, "network": net(r["config"]), "images": i["images"],
                        "linear [ms]": 1e3 * i["linear_s"], "goodness [ms]": 1e3 * i["goodness_s"],
                        "goodness, ten passes [ms]": 1e3 * i["goodness_separate_s"],
                        "goodness / linear": i["goodness_vs_linear"],
                        "ten passes / linear": i["separate_vs_linear"]})
    return {"speed": pd.DataFrame(speed), "multirun": pd.DataFrame(multi), "memory": pd.DataFrame(mem),
            "inference": pd.DataFrame(inf), "precision": pd.DataFrame(prec),
            "memory_by_depth": pd.DataFrame(depth), "bp_speed": pd.DataFrame(bp)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m ffcnn_lib.bench", description=__doc__)
    p.add_argument("--filters", default=None, help="default: 128 on CUDA, 16 on CPU")
    p.add_argument("--kernel", type=int, default=None, help="default: 7 on CUDA, 5 on CPU")
    p.add_argument("--batch-size", type=int, default=50)
    p.add_argument("--steps", type=int, default=None, help="timed steps per block (3 blocks)")
    p.add_argument("--runs", type=int, default=None, help="stacked runs for the multi-run ratio (default 8 on CUDA, 2 on CPU)")
    p.add_argument("--compile-modes", default=None,
                   help="torch.compile modes of the fast path to time, comma-separated (default: "
                        "default,reduce-overhead on CUDA, default on a CPU; also max-autotune, "
                        "max-autotune-no-cudagraphs: minutes of autotuning; empty: none)")
    p.add_argument("--precision-epochs", type=int, default=None,
                   help="also train the config this many epochs on the full data in eager fp32 and on the "
                        "fast path and compare validation accuracy (0: skip; default 0 on CUDA, where "
                        "tools/gpu_session.sh asks for it, and 2 on a CPU: about 4 minutes for 16x5x5)")
    p.add_argument("--memory-of", default="bench,paper",
                   help="networks whose step memory to measure: bench (the timed config), paper (the best network)")
    p.add_argument("--depths", default="2,3,4,6,8",
                   help="layer counts for the memory-vs-depth study (16 filters 5x5; empty: skip)")
    p.add_argument("--bp-networks", default=None,
                   help="BP networks whose step to time in eager fp32 against BP's fast path, FILTERSxKERNEL "
                        "comma-separated (default 16x5,32x7,64x7 on a CPU, 16x5 on CUDA; empty: none)")
    p.add_argument("--bp-only", action="store_true",
                   help="time only BP's steps (--bp-networks) and add them to the existing record of this network")
    p.add_argument("--device", default="auto")
    p.add_argument("--precision-only", action="store_true",
                   help="run only the matched-run check and add it to the existing record of this network")
    p.add_argument("--out", default=None, help="folder for the JSON record (default results/benchmarks)")
    p.add_argument("--kinds", action="store_true",
                   help="print the README's table of machine kinds from the committed records, measure nothing")
    p.add_argument("--workers-check", default=None, metavar="NETWORKS",
                   help="time one process with 2 threads against two processes of 1 thread side by side (make "
                        "campaign's workers) on these networks, e.g. ff:16-32-64x7,bp:16x7; run it on an idle CPU")
    p.add_argument("--workers-table", action="store_true",
                   help="print the README's table of those figures from the committed files, measure nothing")
    p.add_argument("--import-records", default=None, metavar="FOLDER",
                   help="commit another machine kind's records (with its lscpu.txt) under results/benchmarks")
    args = p.parse_args(argv)
    if args.kinds:
        print(kinds_markdown(records()))
        return 0
    if args.workers_table:
        print(workers_markdown())
        return 0
    if args.workers_check is not None:
        for config in parse_runs(args.workers_check):
            e = workers_check(config, 2, args.steps or 10)
            print(f"{e['network']} ({e['path']}): one process, 2 threads {e['ms_per_step_alone']:.1f} ms/step; two "
                  f"of 1 thread side by side {', '.join(f'{m:.1f}' for m in e['ms_per_step_each'])} ms/step: "
                  f"{e['throughput_ratio']:.2f}x the steps done", flush=True)
            print(f"wrote {store_workers(e)}")
        return 0
    if args.import_records:
        for path in import_records(Path(args.import_records)):
            print(f"wrote {path}")
        return 0
    dev = resolve_device(args.device)
    cuda = dev.type == "cuda"
    filters = tuple(int(f) for f in (args.filters or ("128" if cuda else "16")).split(","))
    config = Config(filters=filters if len(filters) > 1 else filters * 3, kernel=args.kernel or (7 if cuda else 5),
                    batch_size=args.batch_size)
    steps = args.steps or (100 if cuda else 5)
    flops = step_flops(config)
    name = device_name(dev)
    peak = next((v for k, v in PEAK_TFLOPS.items() if k in name), None)
    out = Path(args.out) if args.out else results_dir() / "benchmarks"
    out.mkdir(parents=True, exist_ok=True)
    # A CPU record is named by the machine kind (issue #17): one kind's figures never replace another's.
    path = out / f"bench-{'cuda' if cuda else 'cpu-' + machine.kind()}-{'x'.join(map(str, config.filters))}-k{config.kernel}.json"
    record: dict = {"device": name, "config": config.to_dict(), "gflop_per_step": flops / 1e9, "peak_tflops": peak,
                    "rows": [], "multirun": [], "memories": [], "inference": None, "memory_by_depth": [],
                    "precision_check": None, "bp": [], "complete": False,
                    "versions": {"torch": torch.__version__, "python": platform.python_version()},
                    "git_commit": _git_commit(), "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    "cpu": None if cuda else machine.capabilities()}

    def save() -> None:  # after every section: a run cut short (a lease ending) keeps what it measured
        write_atomic(path, json.dumps(record, indent=1))

    epochs = args.precision_epochs if args.precision_epochs is not None else (0 if cuda else 2)
    given = args.compile_modes if args.compile_modes is not None else ("default,reduce-overhead" if cuda else "default")
    modes = [m.strip() for m in given.split(",") if m.strip()]
    bp_networks = parse_networks(args.bp_networks if args.bp_networks is not None else
                                 ("16x5" if cuda else "16x5,32x7,64x7"))

    def bp_section() -> None:
        record["bp"] = bp_speed(bp_networks, dev, steps, args.batch_size, tuple(modes))
        save()
        for b in record["bp"]:
            print(f"BP {b['network']}: " + "; ".join(f"{v['variant']} {v['ms_per_step']:.1f} ms/step"
                                                     + (f" ({v['speedup']:.2f}x)" if i else "")
                                                     for i, v in enumerate(b["rows"]))
                  + (f" ({b['note']})" if b["note"] else ""), flush=True)

    if args.bp_only:  # BP's steps alone, into the record measured before
        if not path.exists():
            raise SystemExit(f"--bp-only: no record {path} to add to; run the whole benchmark first")
        record = json.loads(path.read_text())
        bp_section()
        record["bp_git_commit"] = _git_commit()
        save()
        print(f"wrote BP's step times into {path}")
        return 0
    if args.precision_only:  # the expensive section alone, into the record measured before
        if not path.exists():
            raise SystemExit(f"--precision-only: no record {path} to add to; run the whole benchmark first")
        record = json.loads(path.read_text())
        record["precision_check"] = precision_check(config, dev, epochs or 2)
        record["precision_check"]["git_commit"] = _git_commit()
        save()
        print(f"wrote the matched-run check into {path}")
        return 0

    variants = [("eager fp32 (TF32 off)" if cuda else "eager fp32", False, "", False)]
    if cuda:
        variants += [(f"bf16 + channels_last + compile {m}", True, m, True) for m in modes]
    else:
        native = cpu_bf16_native()
        record["cpu_bf16_native"] = native
        # The CPU fast path: compiled, with bf16 only where the CPU has it. The bf16 row without
        # compile shows what bf16 costs or gains on this CPU (emulated without native support).
        variants += [(f"bf16 + channels_last + compile {m}" if native else f"fp32 + compile {m} (fast path)",
                      True, m, native) for m in modes]
        variants.append(("bf16 + channels_last, eager" + ("" if native else " (bf16 emulated: no native support)"),
                         True, "", True))
    print(f"device: {name}; config: {'x'.join(map(str, config.filters))} filters {config.kernel}x{config.kernel}, "
          f"batch {config.batch_size}; {flops / 1e9:.1f} GFLOP per step")
    print(f"{'variant':44s} {'ms/step':>8s} {'epoch s':>8s} {'200 ep min':>10s} {'TFLOP/s':>8s} {'of peak':>8s}")
    for label, fast, mode, bf16 in variants:
        emulated = bf16 and not cuda and not record.get("cpu_bf16_native")
        s = time_steps([config], dev, fast, 1 if emulated else steps, warmup=(20 if cuda else 5) if fast else 5,
                       compile_mode=mode, bf16=bf16)
        tflops, fraction = throughput(flops, s, peak)
        r = {"variant": label, "ms_per_step": s * 1e3, "epoch_s": s * (config.n_train // config.batch_size),
             "run_200_epochs_min": s * (config.n_train // config.batch_size) * 200 / 60,
             "tflops": tflops, "fraction_of_peak": fraction}
        record["rows"].append(r)
        save()
        frac = f"{100 * r['fraction_of_peak']:.1f}%" if r["fraction_of_peak"] else "n/a"
        print(f"{r['variant']:44s} {r['ms_per_step']:8.2f} {r['epoch_s']:8.1f} {r['run_200_epochs_min']:10.1f} "
              f"{r['tflops']:8.2f} {frac:>8s}", flush=True)
    for r in record["rows"][1:]:
        r["speedup"] = record["rows"][0]["ms_per_step"] / r["ms_per_step"]
        print(f"speed-up of '{r['variant']}': {r['speedup']:.2f}x")
    prof = record["profile"] = profile_step(config, dev)
    save()
    print(f"eager fp32 step profile: convolutions {100 * prof['conv_share']:.0f} % of the step "
          f"(forward {prof['conv_forward_ms']:.1f} ms, weight gradients {prof['conv_backward_ms']:.1f} ms, "
          f"{prof['conv_gflops']:.0f} GFLOP/s): fusing the rest can give at most {prof['max_fp32_speedup']:.2f}x in fp32",
          flush=True)
    for mode in modes if cuda else [""]:  # stacking gains nothing on a CPU: eager suffices to show it
        m = multirun_ratio(dev, cuda, args.runs or (8 if cuda else 2), steps, mode)
        record["multirun"].append(m)
        save()
        print(f"multi-run{' (' + mode + ')' if mode else ''}: {m['runs']} stacked {m['config']} networks, "
              f"{m['ms_per_step_stacked']:.2f} ms/step vs {m['ms_per_step_single']:.2f} ms/step alone: "
              f"{m['throughput_ratio']:.2f}x the throughput of running them one after another", flush=True)
    inf = record["inference"] = inference_cost(config, dev, cuda, n=1000 if cuda else 200)
    save()
    print(f"inference of {inf['images']} images: linear {1e3 * inf['linear_s']:.1f} ms, goodness "
          f"{1e3 * inf['goodness_s']:.1f} ms ({inf['goodness_vs_linear']:.1f}x; ten separate passes "
          f"{1e3 * inf['goodness_separate_s']:.1f} ms, {inf['separate_vs_linear']:.1f}x)", flush=True)
    # Saved-activation bytes do not depend on the device: on a CPU the paper's network is measured too.
    which = {"bench": config, "paper": Config(batch_size=args.batch_size)}
    for cfg in dict.fromkeys(which[w.strip()] for w in args.memory_of.split(",") if w.strip()):
        mem = memory(cfg, dev)
        record["memories"].append({"config": cfg.to_dict(), "result": mem})
        save()
        print(f"memory of one step, {'x'.join(map(str, cfg.filters))} k{cfg.kernel} b{cfg.batch_size}, "
              "kept for backward" + (" / CUDA peak above parameters, optimizer state and data" if cuda else "") + ":")
        for variant, label in MEMORY_VARIANTS.items():
            cuda_part = f" / {mem[variant]['step_mib']:.0f} MiB" if "step_mib" in mem[variant] else ""
            print(f"  {label:32s} {mem[variant]['saved_mib']:8.1f} MiB{cuda_part}", flush=True)
    depths = tuple(int(d) for d in args.depths.split(",") if d.strip())
    if depths:
        record["memory_by_depth"] = memory_vs_depth(depths, dev)
        save()
        print("kept for backward by depth (16 filters 5x5, batch 50) [MiB]: " + "; ".join(
            f"{d['layers']} layers: " + ", ".join(f"{label} {d['result'][v]['saved_mib']:.1f}"
                                               for v, label in MEMORY_VARIANTS.items())
            for d in record["memory_by_depth"]), flush=True)
    if epochs:
        check = record["precision_check"] = precision_check(config, dev, epochs)
        save()
        print(f"matched {epochs}-epoch runs, validation accuracy fast - fp32: linear "
              f"{check['diff_pp_linear']:+.2f} pp, goodness {check['diff_pp_goodness']:+.2f} pp"
              + (f"; fp32 with PyTorch's convolutions - fp32: linear {check['diff_pp_linear_floor']:+.2f} pp, goodness "
                 f"{check['diff_pp_goodness_floor']:+.2f} pp" if "diff_pp_linear_floor" in check else ""))
    if bp_networks:  # last: on a GPU lease cut short, the sections before it matter more
        bp_section()
    record["complete"] = True
    save()
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
