"""Training loops for the FF-CNN (Sec. 2.2) and the backprop baseline, with checkpoint and resume.

The hot path keeps the whole data set on the device, runs positive, negative (and, without
gradient, neutral) inputs of a step in batched forwards, accumulates metrics on the device (no host
sync inside an epoch), and on CUDA uses bf16 autocast, channels_last and ``torch.compile``. The
learning rate lives in the optimizer, outside the compiled region, so the cooldown never recompiles.
"""
from __future__ import annotations

import contextlib
import math
import os
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
from .model import BPCNN, FFCNN, ff_layer_loss, goodness


def lr_at(epoch: int, lr: float, epochs: int) -> float:
    """Linear cooldown of Sec. 2.2: ``lr(e) = 2 lr / E (1 + E - e)`` in the second half (e is 1-based).

    Constant ``lr`` until epoch E/2 + 1, where the formula equals ``lr``, then linear down to ``2 lr / E``.
    """
    return min(lr, 2 * lr / epochs * (1 + epochs - epoch))


def resolve_device(device: str | None = None) -> torch.device:
    """``auto`` (or None) picks CUDA when available; anything else must be a valid torch device."""
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available; use 'cpu' or 'auto'")
    return dev


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    import platform
    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


@dataclass
class Outcome:
    """What a call of :func:`train` leaves: the model, its per-epoch history, and whether it finished."""

    config: Config
    model: torch.nn.Module
    history: list[dict]
    complete: bool
    device: str
    precision: str
    compiled: bool
    train_seconds: float                     # summed over all resumed calls
    final: dict = field(default_factory=dict)  # end-of-training evaluation (see _final_evaluation)


class _Run:
    """State shared by the FF and BP loops: data, model, optimizer, RNG, checkpoint."""

    def __init__(self, config: Config, device: torch.device, fast: bool | None, checkpoint: Path | None):
        self.config, self.device = config, device
        self.fast = device.type == "cuda" if fast is None else fast
        if self.fast and device.type != "cuda":
            raise ValueError("the fast path (bf16, torch.compile) needs a CUDA device")
        self.precision_name = "bf16-autocast" if self.fast else "fp32"
        self.checkpoint = checkpoint
        torch.manual_seed(config.seed)
        self.x, self.y = load_split("train", config.n_train, device)
        self.xv, self.yv = load_split("val", config.n_val, device)
        self.gen = torch.Generator(device=device)
        self.gen.manual_seed(config.seed)
        if config.model == "ff":
            self.encoder = LabelEncoder(config.label_set, config.K, device=device)
            self.model: torch.nn.Module = FFCNN(config.filters, config.kernel, config.max_pool)
            groups = [{"params": self.model.convs.parameters(), "lr": config.lr, "base_lr": config.lr},
                      {"params": self.model.classifier.parameters(), "lr": config.classifier_lr,
                       "base_lr": config.classifier_lr}]
        else:
            self.model = BPCNN(config.filters, config.kernel, config.max_pool)
            groups = [{"params": self.model.parameters(), "lr": config.lr, "base_lr": config.lr}]
        self.model.to(device)
        if device.type == "cuda":
            # PyTorch runs cuDNN convolutions in TF32 by default; the reference path is true fp32.
            torch.backends.cuda.matmul.allow_tf32 = self.fast
            torch.backends.cudnn.allow_tf32 = self.fast
            torch.backends.cudnn.benchmark = self.fast
        if self.fast:
            self.model.to(memory_format=torch.channels_last)
        self.opt = torch.optim.Adam(groups, fused=device.type == "cuda")
        self.epoch, self.history, self.seconds = 0, [], 0.0
        if checkpoint is not None and checkpoint.exists():
            self._resume()

    def precision(self):
        if self.fast:
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def _resume(self) -> None:
        state = torch.load(self.checkpoint, map_location=self.device, weights_only=True)
        self.model.load_state_dict(state["model"])
        self.opt.load_state_dict(state["optimizer"])
        self.gen.set_state(state["generator"].cpu())
        self.epoch, self.history, self.seconds = state["epoch"], state["history"], state["seconds"]

    def save_checkpoint(self) -> None:
        if self.checkpoint is None:
            return
        self.checkpoint.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.checkpoint.with_suffix(f".tmp{os.getpid()}")
        torch.save({"model": self.model.state_dict(), "optimizer": self.opt.state_dict(),
                    "generator": self.gen.get_state(), "epoch": self.epoch, "history": self.history,
                    "seconds": self.seconds}, tmp)
        os.replace(tmp, self.checkpoint)  # never a half-written checkpoint

    def set_lr(self, epoch: int) -> float:
        for g in self.opt.param_groups:
            g["lr"] = lr_at(epoch, g["base_lr"], self.config.epochs)
        return self.opt.param_groups[0]["lr"]


def _ff_step_fn(model: FFCNN, encoder: LabelEncoder, include_first: bool):
    """Loss and metrics of one FF step; the unit that ``torch.compile`` fuses on CUDA.

    Returns the loss to minimize (network FF loss + classifier cross-entropy) and a vector:
    per-layer discrimination losses, per-layer discrimination accuracies, network FF loss,
    classifier loss, classifier training accuracy.
    """
    start = 0 if include_first else 1

    def step(x: torch.Tensor, y: torch.Tensor, neg: torch.Tensor):
        b = x.shape[0]
        posneg = torch.cat([encoder.overlay(x, y), encoder.overlay(x, neg)])
        positive = torch.cat([x.new_ones(b), x.new_zeros(b)])
        losses, accs = [], []
        for z, theta in zip(model.activations(posneg), model.thresholds):
            loss, acc = ff_layer_loss(goodness(z), theta, positive)
            losses.append(loss)
            accs.append(acc)
        ff_loss = torch.stack(losses[start:]).sum()  # excluded layers stay out of the graph
        with torch.no_grad():
            feats = model.features(model.activations(encoder.neutral(x)))
        logits = model.classifier(feats).float()
        cls_loss = F.cross_entropy(logits, y)
        train_acc = (logits.argmax(1) == y).float().mean()
        stats = torch.cat([torch.stack(losses).detach(), torch.stack(accs),
                           torch.stack([ff_loss.detach(), cls_loss.detach(), train_acc])])
        return ff_loss + cls_loss, stats

    return step


def _bp_step_fn(model: BPCNN):
    def step(x: torch.Tensor, y: torch.Tensor, neg: torch.Tensor):
        logits = model(x).float()
        loss = F.cross_entropy(logits, y)
        return loss, torch.stack([loss.detach(), (logits.argmax(1) == y).float().mean()])
    return step


def _stat_names(config: Config) -> list[str]:
    if config.model == "bp":
        return ["train_loss", "train_acc"]
    n = len(config.filters)
    return ([f"loss_layer{i + 1}" for i in range(n)] + [f"disc_acc_layer{i + 1}" for i in range(n)]
            + ["combined_loss", "classifier_loss", "train_acc"])


def _val_scores(run: _Run, x: torch.Tensor, method: str) -> torch.Tensor:
    if run.config.model == "bp":
        return inference.bp_logits(run.model, x, precision=run.precision)
    if method == "linear":
        return inference.linear_logits(run.model, run.encoder, x, precision=run.precision)
    return inference.goodness_scores(run.model, run.encoder, x, precision=run.precision)


def _final_evaluation(run: _Run) -> dict:
    """Validation (and, for headline runs, test) accuracy of each inference method, confusion
    matrices (test if reported, else validation) and the measured inference time of each method."""
    methods = ["linear", "goodness"] if run.config.model == "ff" else ["bp"]
    out: dict = {}
    splits = [("val", run.xv, run.yv)]
    if run.config.report_test:
        splits.append(("test", *load_split("test", run.config.n_test, device=run.device)))
    for split, x, y in splits:
        for m in methods:
            if run.device.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            scores = _val_scores(run, x, m)
            if run.device.type == "cuda":
                torch.cuda.synchronize()
            out[f"{split}_acc_{m}"] = inference.accuracy(scores, y)
            out[f"{split}_inference_s_{m}"] = time.perf_counter() - t0
            out[f"{split}_confusion_{m}"] = inference.confusion_matrix(scores, y).tolist()
    return out


def train(config: Config, device: str | None = "auto", *, fast: bool | None = None, compile: bool | None = None,
          checkpoint: str | Path | None = None, time_budget_s: float | None = None,
          checkpoint_every_s: float = 120.0, goodness_every: int | None = None,
          progress: bool = True) -> Outcome:
    """Train ``config`` from scratch, or resume from ``checkpoint`` if that file exists.

    ``fast`` (default: on CUDA) selects bf16 autocast and channels_last, ``compile`` (default: with
    ``fast``) wraps the step in ``torch.compile``. With ``time_budget_s`` the loop stops after the
    last epoch that fits, writes the checkpoint and returns ``complete=False``; call again to resume.
    Validation accuracy is measured every epoch with the linear classifier and every
    ``goodness_every`` epochs (default: ~20 points per run, and always the last) by goodness.
    """
    dev = resolve_device(device)
    ckpt = Path(checkpoint) if checkpoint is not None else None
    run = _Run(config, dev, fast, ckpt)
    use_compile = run.fast if compile is None else compile
    step = _ff_step_fn(run.model, run.encoder, config.include_first_layer) if config.model == "ff" \
        else _bp_step_fn(run.model)
    if use_compile:
        step = torch.compile(step)
    names = _stat_names(config)
    every = goodness_every or max(1, config.epochs // 20)
    b = config.batch_size
    steps = config.n_train // b  # the remainder of an epoch's permutation is dropped: static shapes
    call_start = time.perf_counter()
    last_save = call_start
    bar = tqdm(total=config.epochs, initial=run.epoch, unit="epoch", disable=not progress,
               desc=config.run_id()[:40], leave=False)
    while run.epoch < config.epochs:
        t0 = time.perf_counter()
        epoch = run.epoch + 1
        lr = run.set_lr(epoch)
        run.model.train()
        sums = torch.zeros(len(names), device=dev)
        perm = torch.randperm(config.n_train, device=dev, generator=run.gen)
        for i in range(steps):
            idx = perm[i * b:(i + 1) * b]
            x, y = run.x[idx], run.y[idx]
            neg = negative_labels(y, run.gen)
            with run.precision():
                loss, stats = step(x, y, neg)
            run.opt.zero_grad(set_to_none=True)
            loss.backward()
            run.opt.step()
            sums += stats
        row = {"epoch": epoch, "lr": lr}
        row.update({n: v / steps for n, v in zip(names, sums.tolist())})
        run.model.eval()
        if config.model == "ff":
            row["val_acc_linear"] = inference.accuracy(_val_scores(run, run.xv, "linear"), run.yv)
            due = epoch % every == 0 and epoch < config.epochs  # the last epoch's comes from the final evaluation
            row["val_acc_goodness"] = inference.accuracy(_val_scores(run, run.xv, "goodness"), run.yv) \
                if due else math.nan
        else:
            row["val_acc"] = inference.accuracy(_val_scores(run, run.xv, "bp"), run.yv)
        epoch_s = time.perf_counter() - t0
        row["epoch_s"] = epoch_s
        run.seconds += epoch_s
        run.history.append(row)
        run.epoch = epoch
        bar.update(1)
        bar.set_postfix({k: f"{v:.4f}" for k, v in row.items() if k.startswith("val") and not math.isnan(v)})
        now = time.perf_counter()
        out_of_time = time_budget_s is not None and (now - call_start) + 1.2 * epoch_s > time_budget_s
        if run.epoch < config.epochs and (out_of_time or now - last_save > checkpoint_every_s):
            run.save_checkpoint()
            last_save = now
        if out_of_time and run.epoch < config.epochs:
            bar.close()
            return Outcome(config, run.model, run.history, False, device_name(dev), run.precision_name,
                           use_compile, run.seconds)
    bar.close()
    final = _final_evaluation(run)
    if config.model == "ff":
        run.history[-1]["val_acc_goodness"] = final["val_acc_goodness"]
    return Outcome(config, run.model, run.history, True, device_name(dev), run.precision_name,
                   use_compile, run.seconds, final)
