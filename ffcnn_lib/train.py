"""Training loops for the FF-CNN (Sec. 2.2) and the backprop baseline, with checkpoint and resume.

The hot path keeps the whole data set on the device, runs positive, negative (and, without
gradient, the classifier's) inputs of a step in batched forwards, accumulates metrics on the device (no host
sync inside an epoch), and takes the *fast path* where it wins: ``torch.compile`` of the step, with
bf16 autocast and channels_last on CUDA and on CPUs with native bf16 instructions (see
:func:`default_fast`, :func:`cpu_bf16_native`); BP's CPU fast path is bf16 and channels_last
without compiling (:func:`default_compile`), and only where the CPU has native bf16. The learning rate lives in the optimizer, outside
the compiled region, so the cooldown never recompiles. Reported accuracies are always fp32.

FF networks are always trained as a :class:`~ffcnn_lib.model.StackedFFCNN` of R >= 1 networks:
:func:`train_many` trains several configs that differ only in seed and K in one pass (small
networks are launch-bound on a GPU), :func:`train` is the case R = 1. An epoch
(:func:`_train_epoch`), its validation (:func:`_validate`) and when to write the checkpoint or stop
(:class:`_Budget`) are separate pieces. To read the method rather than this machinery: the loss
:meth:`~ffcnn_lib.model.FFCNN.ff_loss` and the loop :func:`ffcnn_lib.reference.train_reference`.
"""
from __future__ import annotations

import contextlib
import functools
import math
import os
import pickle
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from . import inference
from .config import Config
from .data import load_split
from .labels import LabelEncoder, negative_labels
from .machine import cpu_device, kind
from .model import BPCNN, FFCNN, StackedFFCNN, ff_layer_loss


def lr_at(epoch: int, lr: float, epochs: int) -> float:
    """Linear cooldown of Sec. 2.2: ``lr(e) = 2 lr / E (1 + E - e)`` in the second half (e is 1-based).

    Constant ``lr`` until epoch E/2 + 1, where the formula equals ``lr``, then linear down to ``2 lr / E``.
    """
    return min(lr, 2 * lr / epochs * (1 + epochs - epoch))


def resolve_device(device: str | None = None) -> torch.device:
    """``auto`` (or None) picks CUDA when available; anything else must be a valid torch device."""
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"unknown device {device!r}; use auto, cpu, cuda or cuda:N (GPU number N)") from err
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available; use 'cpu' or 'auto'")
    return dev


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return cpu_device(kind(), torch.get_num_threads())


@contextlib.contextmanager
def full_precision(device: torch.device):
    """fp32 with TF32 off on CUDA (PyTorch runs cuDNN convolutions in TF32 by default): the
    precision of every reported accuracy, whatever precision training used."""
    if device.type != "cuda":
        yield
        return
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def flush_subnormals(device: torch.device) -> None:
    """Flush subnormal floats (below 1.2e-38 in fp32) to zero in CPU arithmetic (FTZ and DAZ).

    Late in training, softmax probabilities of confident wrong classes and Adam's first moments of
    weights whose gradient has stopped decay through the subnormal range, where x86 cores take
    about a hundred cycles an operation. BP 16x7x7's epoch grew from 77 s to 200 s over 44 epochs on
    one AVX2 thread; from its resume point at epoch 51 a step took 215-219 ms, and 97-99 ms with
    subnormals flushed (FF 16-32-64 7x7 at epoch 158: 600-660 against 460-540 ms). What is lost lies
    far below anything a step can change: an Adam update of a subnormal moment is under 1e-30, and
    a subnormal gradient term vanishes in any sum with a normal one. The flag is per thread and
    stays set: it holds for the calling thread and for the OpenMP threads started after it, so it
    is set before a run loads its data (in a fresh process, such as a campaign worker or the command
    line, that is every thread)."""
    if device.type == "cpu":
        torch.set_flush_denormal(True)


def cpu_bf16_native() -> bool:
    """Whether this CPU computes bf16 natively (AVX-512 BF16 or AMX). Without it, oneDNN emulates
    bf16 and a step runs many times slower than in fp32 (measured 15x on an AVX2-only EPYC)."""
    try:
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except AttributeError:  # pragma: no cover - older torch: read the flags
        try:
            flags = Path("/proc/cpuinfo").read_text().split()
        except OSError:
            return False
        return "avx512_bf16" in flags or "amx_bf16" in flags


# On a CPU, torch.compile costs ~30 s and saves ~10 ms a step of the 16-filter networks (fusing the
# normalization, goodness and loss around the oneDNN convolutions): it pays after a few thousand steps.
# Shorter runs (tests, the equivalence check's tiny run) stay on the reference path on every CPU kind.
CPU_FAST_MIN_STEPS = 5000


# BP's CPU fast path (bf16 autocast + channels_last, issue #25) becomes BP's default on CPUs with
# native bf16 only once its precision twin (BP 16x5x5 seed 0 in bf16, campaign cell "BP 16x5x5,
# bf16 twin (issue 25)") lies within the three fp32 seeds' spread by the summary page's rule
# (chapter 13). Until then every BP run without precision="bf16" trained in eager fp32, so that no
# paper-settings BP run mixed in bf16 epochs that nothing had judged. Judged on 2026-12-05: the twin
# finished at 98.96 % against the fp32 seeds' 98.98 % (tolerance 0.16 pp), and its curve lies 0.07 pp
# from seed 0's on average: it matches. A BP run that began in fp32 and resumes here continues in
# bf16; its provenance's segments say which epochs trained in which precision.
BP_CPU_BF16 = True


def default_fast(device: torch.device, config: Config, native_bf16: bool | None = None) -> bool:
    """Whether the fast path is on by default: always on CUDA; on a CPU for runs of at least
    :data:`CPU_FAST_MIN_STEPS` steps, FF always, BP only where the CPU has native bf16 and
    :data:`BP_CPU_BF16` says its twin has matched (its fast path is bf16 autocast + channels_last,
    issue #25; in fp32 it has nothing to gain: compiling BP's step measured 30 ms eager against 34 ms
    compiled on 2 AVX2 cores). A pinned ``precision="fp32"`` BP run stays eager fp32, a pinned
    ``"bf16"`` one takes the fast path. ``native_bf16``: of another CPU kind (default: this CPU,
    :func:`cpu_bf16_native`)."""
    if device.type == "cuda" or config.precision == "bf16":
        return True
    steps = config.epochs * (config.n_train // config.batch_size)
    if device.type != "cpu" or steps < CPU_FAST_MIN_STEPS:
        return False
    if config.model == "ff":
        return True
    return config.precision == "auto" and BP_CPU_BF16 and (cpu_bf16_native() if native_bf16 is None else native_bf16)


def default_compile(device: torch.device, config: Config) -> bool:
    """Whether the fast path compiles the step (``torch.compile``): on CUDA, and for FF on a CPU. BP's
    CPU step is convolutions almost alone, and compiling its bf16 step lost time on every network
    measured (avx512-bf16, one thread beside a campaign, eager and compiled blocks
    interleaved: compiled took 1.13x eager's time for 16x5x5, 1.03x for 32x7x7, 1.15x for 64x7x7; issue #25)."""
    return device.type == "cuda" or config.model == "ff"


def code_path(config: Config, device_type: str = "cpu", native_bf16: bool | None = None) -> tuple[bool, bool]:
    """(compiled, bf16): what a run of ``config`` trains with by default on a device of this type
    (a CPU kind with or without ``native_bf16``, default: this CPU's). What its step time depends on."""
    device = torch.device(device_type)
    native = device_type == "cuda" or (cpu_bf16_native() if native_bf16 is None else native_bf16)
    fast = default_fast(device, config, native)
    bf16 = config.precision == "bf16" or (config.precision == "auto" and fast and native)
    return fast and default_compile(device, config), bf16


STACKABLE = {"seed", "K", "tags"}  # the fields in which networks trained side by side may differ


class CheckpointError(RuntimeError):
    """A checkpoint cannot be read; the message names the file and the fix."""


class Interrupted(KeyboardInterrupt):
    """Training interrupted (Ctrl-C, or SIGTERM through the command line) and rolled back to its
    last checkpoint, whose weights, optimizer and history agree; ``outcomes``: each run as of that
    checkpoint (incomplete), for the caller to record before it stops. An interrupt still to any
    caller that does not know it."""

    def __init__(self, outcomes: list):
        first = outcomes[0]
        super().__init__(f"{first.config.run_id()} went back to its last resume point, at epoch "
                         f"{len(first.history)} of {first.config.epochs}; the same call resumes it")
        self.outcomes = outcomes


def check_seconds(name: str, seconds: float | None) -> None:
    """Reject a negative (or NaN) number of seconds before any training; None means no limit."""
    if seconds is not None and not seconds >= 0:
        raise ValueError(f"{name} {seconds} must be a non-negative number of seconds")


# The precision of the per-epoch validation (the curves): fp32, like the final numbers, because under
# bf16 autocast goodness inference loses the margins it ranks labels by. Older stored runs validated
# each epoch in their training precision (a segment without "validation" says so).
EPOCH_VALIDATION = "fp32"


@dataclass
class Outcome:
    """What a call of :func:`train` leaves: the model, its per-epoch history, and whether it finished."""

    config: Config
    model: torch.nn.Module
    history: list[dict]
    complete: bool
    device: str
    precision: str
    compiled: bool | str                     # False, or the torch.compile mode
    train_seconds: float                     # summed over all resumed calls (shared by stacked runs)
    final: dict = field(default_factory=dict)  # end-of-training evaluation (see _final_evaluation)
    stacked: int = 1                          # how many networks were trained side by side
    layerwise: bool = False                   # a backward pass per layer (same gradients, less memory)
    validation: str = EPOCH_VALIDATION        # the precision of the per-epoch validation


def check_stackable(configs: list[Config]) -> None:
    """Configs trained in one pass may differ only in seed and K."""
    if not configs:
        raise ValueError("no configs to train")
    base = {k: v for k, v in configs[0].to_dict().items() if k not in STACKABLE}
    for c in configs[1:]:
        diff = sorted(k for k, v in c.to_dict().items() if k not in STACKABLE and base[k] != v)
        if diff:
            raise ValueError(f"configs trained together may differ only in {sorted(STACKABLE - {'tags'})}; "
                             f"these differ: {diff}")
    if configs[0].model == "bp" and len(configs) > 1:
        raise ValueError("batched multi-run training is for FF networks; train BP runs one at a time")


class _Run:
    """State shared by the FF and BP loops: data, model(s), optimizer, RNGs, checkpoint."""

    def __init__(self, configs: list[Config], device: torch.device, fast: bool | None, checkpoint: Path | None,
                 bf16: bool | None = None):
        check_stackable(configs)
        flush_subnormals(device)  # first: the OpenMP threads that loading the data starts inherit it
        self.configs, self.config, self.device = configs, configs[0], device
        config = self.config
        self.fast = default_fast(device, config) if fast is None else fast
        if self.fast and device.type not in ("cuda", "cpu"):
            raise ValueError(f"the fast path runs on cuda or cpu, not {device.type!r}; pass fast=False")
        self.checkpoint = checkpoint
        self.x, self.y = load_split("train", config.n_train, device, config.dataset)
        self.xv, self.yv = load_split("val", config.n_val, device, config.dataset)
        # Loaded now, not after the last epoch: a damaged test file must stop the run before it trains.
        self.test = load_split("test", config.n_test, device, config.dataset) if config.report_test else None
        self.gens = [torch.Generator(device=device) for _ in configs]
        for g, c in zip(self.gens, configs):
            g.manual_seed(c.seed)
        if config.model == "ff":
            self.encoders = [c.label_encoder(device) for c in configs]
            models = []
            for c in configs:
                torch.manual_seed(c.seed)  # each network's initial weights depend on its own seed only
                models.append(c.network())
            self.model: torch.nn.Module = StackedFFCNN(models, self.encoders)
            groups = [{"params": self.model.convs.parameters(), "lr": config.lr, "base_lr": config.lr},
                      {"params": [self.model.classifier], "lr": config.classifier_lr,
                       "base_lr": config.classifier_lr}]
        else:
            torch.manual_seed(config.seed)
            self.model = config.network()
            groups = [{"params": self.model.parameters(), "lr": config.lr, "base_lr": config.lr}]
        self.model.to(device)
        self._set_up_precision(fast, bf16)
        self.opt = torch.optim.Adam(groups, fused=device.type == "cuda")
        self.epoch, self.histories, self.seconds = 0, [[] for _ in configs], 0.0
        self._nets: list[FFCNN] | None = None
        if checkpoint is not None and checkpoint.exists():
            self._resume()

    def _set_up_precision(self, fast: bool | None, bf16: bool | None) -> None:
        """The training precision, decided and set up in one place: bf16 autocast on the fast path where
        the hardware has bf16 (or as the config pins it), else fp32; TF32 and cuDNN autotuning on CUDA on
        the fast path only (the reference path is true fp32); channels_last with bf16. ``fast`` and
        ``bf16``: as the caller passed them (None: the default)."""
        config, device = self.config, self.device
        if bf16 is None and config.precision != "auto":  # a pinned precision (a precision twin)
            bf16 = config.precision == "bf16"
            if bf16 and not self.fast:
                raise ValueError(f"precision='bf16' trains on the fast path; got fast={fast!r}")
            if bf16 and device.type == "cpu" and not cpu_bf16_native():
                raise ValueError("precision='bf16' needs native bf16 (CUDA, or a CPU with AVX-512 BF16 or AMX); "
                                 "this CPU would emulate it about 15x slower: use precision='auto' or 'fp32'")
        # bf16 only where the hardware has it; elsewhere the fast path is torch.compile in fp32.
        self.bf16 = self.fast and (device.type == "cuda" or cpu_bf16_native()) if bf16 is None else bf16
        self.note = "" if self.bf16 or not self.fast else \
            "fast path in fp32: this CPU has no native bf16 (AVX-512 BF16 or AMX); compiling only"
        self.precision_name = "bf16-autocast" if self.bf16 else "fp32"
        if device.type == "cuda":
            # PyTorch runs cuDNN convolutions in TF32 by default; the reference path is true fp32.
            torch.backends.cuda.matmul.allow_tf32 = self.fast
            torch.backends.cudnn.allow_tf32 = self.fast
            torch.backends.cudnn.benchmark = self.fast
        if self.bf16:  # channels_last pays with bf16 kernels; in fp32 on a CPU it is slower (71 vs 56 ms)
            self.model.to(memory_format=torch.channels_last)

    def precision(self):
        """The context a step runs in: bf16 autocast, or nothing (fp32)."""
        if self.bf16:
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def networks(self) -> list[torch.nn.Module]:
        """The R networks as single models, for evaluation."""
        if self.config.model == "bp":
            return [self.model.eval()]
        self._nets = self.model.unstack(self._nets)
        return [n.to(memory_format=torch.channels_last) for n in self._nets] if self.bf16 else self._nets

    def _resume(self) -> None:
        try:
            state = torch.load(self.checkpoint, map_location=self.device, weights_only=True)
            self.model.load_state_dict(state["model"])
            self.opt.load_state_dict(state["optimizer"])
            for g, s in zip(self.gens, state["generators"]):
                g.set_state(s.cpu())
            self.epoch, self.histories, self.seconds = state["epoch"], state["histories"], state["seconds"]
        except (RuntimeError, EOFError, KeyError, ValueError, TypeError, pickle.UnpicklingError) as err:
            why = (str(err).strip().splitlines() or [""])[0][:200]
            raise CheckpointError(f"checkpoint {self.checkpoint} is unreadable ({type(err).__name__}: {why}); "
                                  "delete it (or move it aside) and rerun: the run restarts from epoch 1") from err

    def save_checkpoint(self) -> None:
        if self.checkpoint is None:
            return
        self.checkpoint.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.checkpoint.with_suffix(f".tmp{os.getpid()}")
        torch.save({"model": self.model.state_dict(), "optimizer": self.opt.state_dict(),
                    "generators": [g.get_state() for g in self.gens], "epoch": self.epoch,
                    "histories": self.histories, "seconds": self.seconds}, tmp)
        os.replace(tmp, self.checkpoint)  # never a half-written checkpoint

    def train_step(self, step, idx: torch.Tensor, compiled: bool | str) -> torch.Tensor:
        """One optimizer step on examples ``idx`` (B, R) (column r: network r's batch); returns its metrics."""
        x, y = self.x[idx], self.y[idx]
        neg = torch.stack([negative_labels(y[:, r], g) for r, g in enumerate(self.gens)], 1)
        if compiled:
            torch.compiler.cudagraph_mark_step_begin()  # no-op unless the mode records CUDA graphs
        self.opt.zero_grad(set_to_none=True)
        with self.precision():
            loss, stats = step(x, y, neg)
        if loss is not None:  # a layer-wise step has run its backward passes itself
            loss.backward()
        self.opt.step()
        return stats

    def set_lr(self, epoch: int) -> float:
        for g in self.opt.param_groups:
            g["lr"] = lr_at(epoch, g["base_lr"], self.config.epochs)
        return self.opt.param_groups[0]["lr"]


def _ff_step_fn(model: StackedFFCNN, include_first: bool, layerwise: bool = False, classifier: bool = True):
    """Loss and metrics of one FF step of R stacked networks; the unit ``torch.compile`` fuses.

    ``x`` (B, R, 1, H, W) holds each network's own batch, ``y`` and ``neg`` (B, R) its labels.
    Returns the loss to minimize, the sum over networks of (network FF loss + classifier
    cross-entropy), and metrics (n_stats, R): per-layer discrimination losses, per-layer
    discrimination accuracies, network FF loss, classifier loss, classifier training accuracy
    (named by :func:`_stat_names`; :func:`named_stats` gives them as a dict). One network's loss and
    metrics, for reading: :meth:`ffcnn_lib.model.FFCNN.ff_loss`.

    ``layerwise``: run each layer's backward pass as soon as its loss exists and return no loss.
    As no gradient crosses layers the gradients are the same, but only one layer's activations are
    kept for backward at a time instead of all of them: the memory advantage of FF over BP.
    ``classifier=False`` leaves the linear classifier out (its metrics read 0), as for goodness
    inference only; the benchmark uses it to measure what the classifier costs in memory.
    """
    start = 0 if include_first else 1

    def step(x: torch.Tensor, y: torch.Tensor, neg: torch.Tensor):
        b = x.shape[0]
        posneg = torch.cat([model.overlay(x, y), model.overlay(x, neg)])
        positive = torch.cat([x.new_ones(b), x.new_zeros(b)])
        losses, accs = [], []

        def layer_loss(i: int, z: torch.Tensor) -> None:
            loss, acc = ff_layer_loss(model.layer_goodness(i, z), model.thresholds[i], positive)
            if layerwise:
                if i >= start:
                    loss.sum().backward()  # frees this layer's saved activations before the next layer runs
                loss = loss.detach()       # and no layer's graph outlives it
            losses.append(loss)
            accs.append(acc)

        model.activations(posneg, each=layer_loss)
        ff_loss = torch.stack(losses[start:]).sum(0)  # excluded layers stay out of the graph
        if classifier:
            with torch.no_grad():
                zs = model.activations(model.for_classifier(x))
            logits = model.logits(zs).float()  # (B, R, 10)
            cls_loss = F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="none").view(b, -1).mean(0)
            train_acc = (logits.argmax(-1) == y).float().mean(0)
        else:
            cls_loss = train_acc = torch.zeros_like(ff_loss)
        stats = torch.cat([torch.stack(losses).detach(), torch.stack(accs),
                           torch.stack([ff_loss.detach(), cls_loss.detach(), train_acc])])
        if layerwise:
            if classifier:
                cls_loss.sum().backward()
            return None, stats
        return (ff_loss + cls_loss).sum(), stats

    return step


def _bp_step_fn(model: BPCNN):
    def step(x: torch.Tensor, y: torch.Tensor, neg: torch.Tensor):
        logits = model(x[:, 0]).float()
        loss = F.cross_entropy(logits, y[:, 0])
        return loss, torch.stack([loss.detach(), (logits.argmax(1) == y[:, 0]).float().mean()]).unsqueeze(1)
    return step


def _stat_names(config: Config) -> list[str]:
    if config.model == "bp":
        return ["train_loss", "train_acc"]
    n = len(config.filters)
    return ([f"loss_layer{i + 1}" for i in range(n)] + [f"disc_acc_layer{i + 1}" for i in range(n)]
            + ["combined_loss", "classifier_loss", "train_acc"])


def _scores(run: _Run, net: torch.nn.Module, encoder: LabelEncoder | None, x: torch.Tensor,
            method: str, precision=None) -> torch.Tensor:
    """Scores of ``method`` in ``precision`` (a context manager factory; default: the training's)."""
    precision = precision or run.precision
    if run.config.model == "bp":
        return inference.bp_logits(net, x, precision=precision)
    if method == "linear":
        return inference.linear_logits(net, encoder, x, precision=precision)
    return inference.goodness_scores(net, encoder, x, precision=precision)


def _final_evaluation(run: _Run, r: int, net: torch.nn.Module) -> dict:
    """Validation (and, for headline runs, test) accuracy of each inference method, confusion
    matrices and the measured inference time of each method, all in fp32 (:func:`full_precision`).

    After bf16 training the accuracies are also measured in bf16 (``*_bf16``): whether the
    precision of inference moves the reported numbers (goodness compares sums over ~10^5 neurons)."""
    config = run.configs[r]
    encoder = run.encoders[r] if config.model == "ff" else None
    methods = ["linear", "goodness"] if config.model == "ff" else ["bp"]
    out: dict = {}
    splits = [("val", run.xv, run.yv)]
    if config.report_test:
        splits.append(("test", *run.test))
    fp32 = functools.partial(full_precision, run.device)
    for split, x, y in splits:
        for m in methods:
            if run.device.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            scores = _scores(run, net, encoder, x, m, precision=fp32)
            if run.device.type == "cuda":
                torch.cuda.synchronize()
            out[f"{split}_acc_{m}"] = inference.accuracy(scores, y)
            out[f"{split}_inference_s_{m}"] = time.perf_counter() - t0
            out[f"{split}_confusion_{m}"] = inference.confusion_matrix(scores, y).tolist()
            if run.bf16:
                out[f"{split}_acc_{m}_bf16"] = inference.accuracy(_scores(run, net, encoder, x, m), y)
    return out


def compiled_step(run: _Run, compile: bool | str | None, layerwise: bool = False):
    """The step function, wrapped in ``torch.compile`` if asked (default: on the fast path).

    ``compile`` may name a ``torch.compile`` mode, e.g. ``"reduce-overhead"`` (CUDA graphs, for
    launch-bound small networks) or ``"max-autotune-no-cudagraphs"``. ``layerwise`` selects the
    FF step with a backward pass per layer (see :func:`_ff_step_fn`), which runs eagerly.
    The default compiles where it pays (:func:`default_compile`). Returns (step, mode or False).
    """
    if layerwise and run.config.model != "ff":
        raise ValueError(f"layer-wise backward is for FF networks, not model={run.config.model!r}")
    if layerwise and compile:
        raise ValueError(f"layer-wise backward runs eagerly (backward inside the step); got compile={compile!r}")
    step = _ff_step_fn(run.model, run.config.include_first_layer, layerwise) if run.config.model == "ff" \
        else _bp_step_fn(run.model)
    use = (run.fast and not layerwise and default_compile(run.device, run.config)) if compile is None else compile
    if not use:
        return step, False
    mode = use if isinstance(use, str) else "default"
    return torch.compile(step, mode=mode), mode


def named_stats(names: list[str], stats: torch.Tensor) -> dict[str, torch.Tensor]:
    """A step's metrics (n_stats, R) as ``{name: (R,) tensor}`` (``names``: :func:`_stat_names`). The
    step returns one tensor so that an epoch sums its metrics on the device with one add per step."""
    return dict(zip(names, stats))


def _train_epoch(run: _Run, step, compiled: bool | str, names: list[str]) -> list[dict]:
    """One epoch of the R networks (``run.epoch + 1``): its learning rate, a fresh permutation of the
    training set per network, its steps. Returns each network's history row so far: epoch, lr and
    the epoch's mean of every metric."""
    config, R, b = run.config, len(run.configs), run.config.batch_size
    epoch = run.epoch + 1
    lr = run.set_lr(epoch)
    run.model.train()
    steps = config.n_train // b  # the remainder of an epoch's permutation is dropped: static shapes
    sums = torch.zeros(len(names), R, device=run.device)
    perms = torch.stack([torch.randperm(config.n_train, device=run.device, generator=g) for g in run.gens], 1)
    for i in range(steps):
        sums += run.train_step(step, perms[i * b:(i + 1) * b], compiled)  # (B, R): a batch per network
    means = {name: values.tolist() for name, values in named_stats(names, sums / steps).items()}
    return [{"epoch": epoch, "lr": lr, **{name: means[name][r] for name in names}} for r in range(R)]


def _validate(run: _Run, rows: list[dict], goodness: bool) -> None:
    """Add each network's validation accuracy to its row: the linear classifier's (or BP's), and
    goodness inference's if ``goodness`` (NaN otherwise: it costs ten passes per image).

    Every curve point in fp32, like the final numbers: under bf16 autocast goodness inference loses
    the margins it ranks labels by (a bf16 run scored 27 % in bf16 against 58 % in fp32)."""
    fp32 = functools.partial(full_precision, run.device)
    for r, (net, row) in enumerate(zip(run.networks(), rows)):
        if run.config.model == "ff":
            row["val_acc_linear"] = inference.accuracy(
                _scores(run, net, run.encoders[r], run.xv, "linear", precision=fp32), run.yv)
            row["val_acc_goodness"] = inference.accuracy(
                _scores(run, net, run.encoders[r], run.xv, "goodness", precision=fp32), run.yv) if goodness else math.nan
        else:
            row["val_acc"] = inference.accuracy(_scores(run, net, None, run.xv, "bp", precision=fp32), run.yv)


def _final_evaluations(run: _Run) -> list[dict]:
    """Each network's :func:`_final_evaluation`; an FF network's last history row takes its fp32
    goodness accuracy from there (the epoch loop leaves it out)."""
    finals = []
    for r, net in enumerate(run.networks()):
        finals.append(_final_evaluation(run, r, net))
        if run.config.model == "ff":
            run.histories[r][-1]["val_acc_goodness"] = finals[-1]["val_acc_goodness"]
    return finals


class _Budget:
    """When a call of :func:`train_many` writes its checkpoint and when it stops early: the
    checkpoint after the last epoch (a failed evaluation or store then resumes there, not from
    scratch), every ``checkpoint_every_s`` seconds, and before stopping; it stops when the next epoch,
    taken as 1.2x the last, would end after ``time_budget_s`` (None: no budget) from the start."""

    def __init__(self, time_budget_s: float | None, checkpoint_every_s: float):
        self.budget, self.every = time_budget_s, checkpoint_every_s
        self.start = self.last_save = time.perf_counter()

    def after_epoch(self, epoch_s: float, last: bool) -> tuple[bool, bool]:
        """(write the checkpoint now, stop now) after an epoch of ``epoch_s`` s; ``last``: training's last."""
        now = time.perf_counter()
        out_of_time = self.budget is not None and (now - self.start) + 1.2 * epoch_s > self.budget
        save = last or out_of_time or now - self.last_save > self.every
        if save:
            self.last_save = now
        return save, out_of_time and not last


def train_many(configs: list[Config], device: str | None = "auto", *, fast: bool | None = None,
               compile: bool | str | None = None, checkpoint: str | Path | None = None,
               time_budget_s: float | None = None, checkpoint_every_s: float = 120.0,
               goodness_every: int | None = None, layerwise: bool = False,
               progress: bool = True) -> list[Outcome]:
    """Train ``configs`` (differing only in seed and K) side by side in one pass; see :func:`train`.

    Each network sees exactly the data order, negative labels and initial weights it would see
    alone, so the outcomes equal separate runs up to floating-point rounding.
    """
    check_seconds("time budget", time_budget_s)
    check_seconds("checkpoint interval", checkpoint_every_s)
    dev = resolve_device(device)
    ckpt = Path(checkpoint) if checkpoint is not None else None
    run = _Run(list(configs), dev, fast, ckpt)
    config, R = run.config, len(run.configs)
    step, use_compile = compiled_step(run, compile, layerwise)
    if run.note and use_compile:
        print(f"note: {run.note}", file=sys.stderr, flush=True)
    names = _stat_names(config)
    every = goodness_every or max(1, config.epochs // 20)
    budget = _Budget(time_budget_s, checkpoint_every_s)
    bar = tqdm(total=config.epochs, initial=run.epoch, unit="epoch", disable=not progress,
               desc=config.run_id()[:40] + (f" (+{R - 1} stacked)" if R > 1 else ""), leave=False)

    def outcomes(complete: bool, finals: list[dict]) -> list[Outcome]:
        nets = run.networks()
        return [Outcome(c, nets[r], run.histories[r], complete, device_name(dev), run.precision_name, use_compile,
                        run.seconds, finals[r] if finals else {}, R, layerwise)
                for r, c in enumerate(run.configs)]

    try:
        while run.epoch < config.epochs:
            t0 = time.perf_counter()
            rows = _train_epoch(run, step, use_compile, names)
            epoch = rows[0]["epoch"]
            # the last epoch's goodness comes from the final evaluation
            _validate(run, rows, goodness=epoch % every == 0 and epoch < config.epochs)
            epoch_s = time.perf_counter() - t0
            for h, row in zip(run.histories, rows):
                h.append({**row, "epoch_s": epoch_s})
            run.seconds += epoch_s
            run.epoch = epoch
            bar.update(1)
            bar.set_postfix({k: f"{v:.4f}" for k, v in rows[0].items() if k.startswith("val") and not math.isnan(v)})
            save, stop = budget.after_epoch(epoch_s, last=epoch == config.epochs)
            if save:
                run.save_checkpoint()
            if stop:
                bar.close()
                return outcomes(False, [])
    except KeyboardInterrupt:
        bar.close()
        if ckpt is None or not ckpt.exists():
            raise
        # Mid-epoch weights match no history row: go back to the last checkpoint (at most
        # checkpoint_every_s of training lost), whose record the caller can then write.
        run._resume()
        raise Interrupted(outcomes(False, [])) from None
    bar.close()
    return outcomes(True, _final_evaluations(run))


def train(config: Config, device: str | None = "auto", **kwargs) -> Outcome:
    """Train ``config`` from scratch, or resume from ``checkpoint`` if that file exists.

    ``fast`` (default: :func:`default_fast`, on CUDA, for long FF runs on a CPU and for long BP runs
    on a CPU with native bf16) selects bf16 autocast and channels_last where the device has bf16 (CUDA,
    CPUs with AVX-512 BF16 or AMX), and ``compile`` (default: with ``fast`` where it pays,
    :func:`default_compile`) wraps the step in ``torch.compile`` (a string names its mode, see
    :func:`compiled_step`).
    With ``time_budget_s`` the loop stops after the last epoch that fits, writes the checkpoint and
    returns ``complete=False``; call again to resume. The checkpoint is also written every
    ``checkpoint_every_s`` seconds and after the last epoch (a resume there only evaluates).
    Interrupted (Ctrl-C, or SIGTERM through the command line) with a checkpoint written, training
    goes back to it and raises :class:`Interrupted`, which carries the outcomes as of that checkpoint.
    Validation accuracy is measured every epoch with the linear classifier and every
    ``goodness_every`` epochs (default: ~20 points per run, and always the last) by goodness, in
    fp32 like the final numbers (``Outcome.final``).
    ``layerwise`` runs a backward pass per layer (eager; same gradients, one layer's activations
    in memory at a time).
    """
    return train_many([config], device, **kwargs)[0]
