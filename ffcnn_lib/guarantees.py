"""What this implementation guarantees, checked by running it (book chapter 15, issue #15).

Re-implementations of Forward-Forward often get one of these wrong: a layer input that is not
detached lets gradient cross layers, the "untrained" first layer drifts, a negative sample now and
then carries the true label, or inference superimposes the true label on the test image. Each
function below checks one guarantee on a small network (3 layers of 4 filters 5x5, a few hundred
MNIST images) in seconds on a CPU, through the code that training and evaluation really run
(:func:`ffcnn_lib.train._ff_step_fn`, :func:`ffcnn_lib.train.train`, ``_Run.train_step``,
:mod:`ffcnn_lib.inference`), and returns a :class:`CheckResult`: ``passed``, a one-line
``evidence`` with the measured numbers, and the raw ``numbers``. :func:`run_all` gives the table.

1. :func:`check_layer_locality`: a layer's parameters get gradient from its own loss only (Sec. 2.2).
2. :func:`check_first_layer_frozen`: layer 1, left out of the loss, keeps its initial weights (App. B).
3. :func:`check_negative_labels`: no negative sample carries the true label over an epoch (Sec. 2.1).
4. :func:`check_inference_label_blind`: inference never reads the true label (Sec. 2.3).
5. :func:`check_goodness_inference`: batched goodness inference equals ten separate passes (Sec. 2.3).
6. :func:`check_fast_path`: the fast path (torch.compile, bf16 where native) matches eager fp32.

Each check can fail: :class:`NoDetachStack` (gradient crosses layers) fails check 1 and
:func:`peeking_linear_logits` (the true label on the test image) fails check 4; the tests also
show check 3 failing when training draws negatives with a naive ``randint``.
"""
from __future__ import annotations

import copy
import functools
import inspect
import math
import time
from dataclasses import dataclass, field
from typing import Callable

import pandas as pd
import torch
import torch.nn.functional as F

from . import inference
from .config import Config
from .data import N_TRAIN, load_split
from .labels import N_CLASSES, LabelEncoder, negative_labels
from .model import FFCNN, StackedFFCNN, ff_layer_loss, goodness, layer_norm
from .train import _Run, _ff_step_fn, _scores, compiled_step, full_precision, train

CPU = torch.device("cpu")
# The network of every check: 3 layers of 4 filters 5x5 (the project's defaults otherwise: label set
# 1, K = 0.35, the fan-in init, same padding), a few batches of 50, Adam 1e-3 so that a few steps show.
SMALL = Config(filters=(4, 4, 4), kernel=5, batch_size=50, lr=1e-3, n_train=500, n_val=200, epochs=1)
U_FP32, U_BF16 = 2.0 ** -24, 2.0 ** -8  # unit roundoff (round to nearest) of 24- and 8-bit significands
LABEL_PARAMS = ("y", "label", "labels", "target", "targets", "true_labels")


@dataclass
class CheckResult:
    """Outcome of one check: whether it passed, the evidence in one line, and the raw numbers."""

    check: str
    passed: bool
    evidence: str
    numbers: dict = field(default_factory=dict)
    seconds: float = 0.0

    def __str__(self) -> str:
        return f"{'PASS' if self.passed else 'FAIL'} {self.check}: {self.evidence}"


class GuaranteeFailed(AssertionError):
    """A guarantee does not hold, or a check passes on a variant built to break it (a blind check)."""


def require(result: CheckResult, holds: bool = True) -> CheckResult:
    """``result`` if its outcome is the expected one: the guarantee holds (``holds``), or the
    deliberately broken variant fails (``holds=False``). Otherwise raise :class:`GuaranteeFailed`
    naming the check, so that executing chapter 15 (the book build, ``make test``'s nbval run) fails."""
    if result.passed != holds:
        what = "does not hold" if holds else "passes on a variant built to break it: the check is blind"
        raise GuaranteeFailed(f"{result.check} {what}: {result.evidence}")
    return result


def _timed(fn: Callable[..., CheckResult]) -> Callable[..., CheckResult]:
    """Run a check with the caller's RNG state untouched (the checks seed their own), and time it."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs) -> CheckResult:
        t0 = time.perf_counter()
        with torch.random.fork_rng(devices=[]):
            result = fn(*args, **kwargs)
        result.seconds = time.perf_counter() - t0
        return result
    return wrapper


def _g(x: float) -> str:
    """A number for the evidence line: 0 stays 0, others with 2 significant digits."""
    return "0" if x == 0 else f"{x:.2g}"


def _small_stack(config: Config = SMALL) -> StackedFFCNN:
    """The network training builds for ``config`` (one network, R = 1): seeded as ``_Run`` does."""
    torch.manual_seed(config.seed)
    return StackedFFCNN([config.network()], [config.label_encoder()])


def _one_batch(config: Config = SMALL) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A training batch in the step's layout: x (B, 1, 1, H, W), y and negative labels (B, 1)."""
    x, y = load_split("train", config.batch_size)
    neg = negative_labels(y, torch.Generator().manual_seed(config.seed))
    return x.unsqueeze(1), y.view(-1, 1), neg.view(-1, 1)


@functools.lru_cache(maxsize=4)
def trained_network(seed: int = 0) -> tuple[FFCNN, LabelEncoder]:
    """:data:`SMALL` after one epoch of real training (10 steps, eager fp32): a network whose
    classifier and goodness already prefer some labels, so that a label leak would show."""
    config = SMALL.replace(seed=seed)
    with torch.random.fork_rng(devices=[]):
        out = train(config, "cpu", fast=False, progress=False)
    return out.model, config.label_encoder()


# ---------------------------------------------------------------------------------------------
# 1. Layer-local gradients (Sec. 2.2)

class NoDetachStack(StackedFFCNN):
    """A deliberately broken network (the counterexample of check 1): like :class:`StackedFFCNN`
    but the normalized output of layer l reaches layer l+1 *without* ``detach``, so the loss of a
    later layer back-propagates into earlier ones. Several public FF re-implementations do this."""

    def activations(self, x, each=None):
        if self.input_norm:
            x = layer_norm(x)
        zs, h = [], x.flatten(1, 2)
        for i, conv in enumerate(self.convs):
            z = F.relu(conv(h)).unflatten(1, (self.R, -1))
            if each is None:
                zs.append(z)
            else:
                each(i, z)
            h = layer_norm(z).flatten(1, 2)  # the bug: no .detach()
            if self.max_pool:
                h = F.max_pool2d(h, 2)
        return zs


@_timed
def check_layer_locality(model: StackedFFCNN | None = None, config: Config = SMALL) -> CheckResult:
    """Each layer's loss sends gradient to its own parameters only, and training's summed loss
    gives every trained layer exactly the gradient of its own loss.

    On one training batch, each layer's loss alone (``ff_layer_loss`` of ``goodness`` of the
    activations from ``model.activations``, the building blocks of the training step) is
    differentiated with respect to every parameter: the other layers' and the classifier's
    gradients must be exactly zero (in practice: no path in the graph at all). Then the real step
    (:func:`ffcnn_lib.train._ff_step_fn`, layer 1 excluded, classifier included) is run backward:
    layer l's gradient must equal that of layer l's loss alone, and layer 1 must get none.
    ``model``: the network to check (default: the one training builds for ``config``).
    """
    stack = model if model is not None else _small_stack(config)
    x, y, neg = _one_batch(config)
    b = x.shape[0]
    positive = torch.cat([x.new_ones(b), x.new_zeros(b)])
    zs = stack.activations(torch.cat([stack.overlay(x, y), stack.overlay(x, neg)]))
    groups = [list(conv.parameters()) for conv in stack.convs] + [[stack.classifier]]
    names = [f"layer {i + 1}" for i in range(len(stack.convs))] + ["classifier"]
    flat = [p for g in groups for p in g]
    n_layers = len(stack.convs)
    leak = torch.zeros(n_layers, len(groups))   # largest |gradient| layer l's loss sends to group k
    no_path = 0                                  # other-layer tensors with no path from the loss at all
    own = []                                     # gradients of each layer's own parameters
    for l, z in enumerate(zs):
        loss_l = ff_layer_loss(goodness(z), stack.thresholds[l], positive)[0].sum()
        grads = torch.autograd.grad(loss_l, flat, allow_unused=True, retain_graph=True)
        i = 0
        for k, g in enumerate(groups):
            gk = grads[i:i + len(g)]
            i += len(g)
            if k == l:
                own.append([t.detach().clone() for t in gk])
                continue
            no_path += sum(t is None for t in gk)
            leak[l, k] = max((t.abs().max().item() for t in gk if t is not None), default=0.0)
    others = n_layers * (len(flat)) - sum(len(g) for g in groups[:n_layers])
    # The training step, as train.py runs it: summed loss of layers 2..N plus the classifier loss.
    stack.zero_grad(set_to_none=True)
    loss, _ = _ff_step_fn(stack, include_first=False)(x, y, neg)
    loss.backward()
    first_grad = [p.grad for p in groups[0]]
    diffs, bitwise = [], True
    for l in range(1, n_layers):
        for p, g_own in zip(groups[l], own[l]):
            diffs.append((p.grad - g_own).abs().max().item() if p.grad is not None else math.inf)
            bitwise &= p.grad is not None and torch.equal(p.grad, g_own)
    stack.zero_grad(set_to_none=True)
    max_leak, max_diff = leak.max().item(), max(diffs)
    own_scale = max(t.abs().max().item() for l in range(1, n_layers) for t in own[l])
    passed = max_leak == 0.0 and all(g is None for g in first_grad) and max_diff <= 1e-6 * own_scale
    evidence = (f"the largest gradient that any of the {n_layers} layer losses sends into another layer or the "
                f"classifier is {_g(max_leak)} ({no_path} of {others} such tensors have no path from it at all); "
                f"the training step's gradient of layers 2..{n_layers} equals their own loss's "
                + ("bit for bit" if bitwise else f"up to {_g(max_diff)} (own gradients up to {_g(own_scale)})")
                + f", layer 1 gets {'none' if all(g is None for g in first_grad) else 'a gradient'}")
    return CheckResult("1. layer-local gradients", passed, evidence,
                       {"leak": pd.DataFrame(leak.numpy(), index=names[:n_layers], columns=names),
                        "no_path": no_path, "other_tensors": others, "max_leak": max_leak,
                        "max_step_vs_own_diff": max_diff, "bitwise": bitwise, "own_grad_scale": own_scale,
                        "first_layer_grad": first_grad[0] is not None})


# ---------------------------------------------------------------------------------------------
# 2. Layer 1, excluded from the loss, keeps its initial weights (Sec. 2.2, App. B)

@_timed
def check_first_layer_frozen(n_train: int = 200, seed: int = 0) -> CheckResult:
    """Train :data:`SMALL` with :func:`ffcnn_lib.train.train` for one epoch (``n_train`` / 50
    Adam steps, eager), once with ``include_first_layer=False`` (the paper's setting) and once with
    ``True``, and compare every layer's parameters with the initial ones that ``_Run`` builds
    (seed, then ``config.network()``). Passes if, excluded, layer 1 is bit for bit what it was
    while layers 2..N moved, and, included, layer 1 moved."""
    base = SMALL.replace(n_train=n_train, n_val=100, seed=seed)
    change: dict[bool, list[float]] = {}
    equal: dict[bool, bool] = {}
    for include in (False, True):
        config = base.replace(include_first_layer=include)
        torch.manual_seed(config.seed)
        init = config.network()
        out = train(config, "cpu", fast=False, progress=False)
        change[include] = [max((a - b).abs().max().item() for a, b in zip(c1.parameters(), c0.parameters()))
                           for c1, c0 in zip(out.model.convs, init.convs)]
        equal[include] = all(torch.equal(a, b) for a, b in zip(out.model.convs[0].parameters(),
                                                               init.convs[0].parameters()))
    steps = n_train // base.batch_size
    passed = equal[False] and min(change[False][1:]) > 0 and change[True][0] > 0
    later = ", ".join(_g(c) for c in change[False][1:])
    evidence = (f"after one epoch of train.train ({steps} Adam steps on {n_train} images): excluded, layer 1 "
                + ("equals its initial weights bit for bit" if equal[False] else f"moved by {_g(change[False][0])}")
                + f" while layers 2..{len(change[False])} moved by up to {later}; with include_first_layer=True "
                  f"layer 1 moved by {_g(change[True][0])}")
    return CheckResult("2. excluded layer 1 stays at its initial weights", passed, evidence,
                       {"max_change_excluded": change[False], "max_change_included": change[True],
                        "first_layer_bitwise_equal": equal[False], "steps": steps})


# ---------------------------------------------------------------------------------------------
# 3. Negative labels (Sec. 2.1)

@_timed
def check_negative_labels(n_train: int = N_TRAIN, seeds: tuple[int, ...] = (0,),
                          batch_size: int = 50) -> CheckResult:
    """Count, over one full epoch, the labels that training superimposes on its negative data.

    A ``_Run`` of ``n_train`` images (default: the paper's 50,000) draws the epoch's permutation as
    :func:`ffcnn_lib.train.train_many` does, and ``_Run.train_step`` (which draws the negative labels
    with :func:`ffcnn_lib.labels.negative_labels` and the run's generator) is handed a step that only
    records what it receives. Passes if no negative label equals the image's true label, every
    positive label does, every image was used once, and all nine wrong labels occur.
    """
    configs = [SMALL.replace(n_train=n_train, n_val=100, batch_size=batch_size, seed=s) for s in seeds]
    run = _Run(configs, CPU, fast=False, checkpoint=None)
    seen: list[tuple[torch.Tensor, torch.Tensor]] = []

    def record(x, y, neg):
        seen.append((y.clone(), neg.clone()))
        return None, torch.zeros(1)  # no loss: train_step skips backward, Adam finds no gradients

    perms = torch.stack([torch.randperm(n_train, generator=g) for g in run.gens], 1)  # as train_many
    steps = n_train // batch_size
    for i in range(steps):
        run.train_step(record, perms[i * batch_size:(i + 1) * batch_size], False)
    idx = perms[:steps * batch_size]
    y = torch.cat([s[0] for s in seen])
    neg = torch.cat([s[1] for s in seen])
    true = run.y[idx]
    same = int((neg == true).sum())
    offsets = torch.bincount(((neg - true) % N_CLASSES).flatten(), minlength=N_CLASSES)
    wrong_pos = int((y != true).sum())
    once = all(len(torch.unique(idx[:, r])) == steps * batch_size for r in range(len(seeds)))
    n = neg.numel()
    passed = same == 0 and wrong_pos == 0 and once and bool((offsets[1:] > 0).all())
    evidence = (f"one epoch of {steps} steps x {batch_size} images"
                + (f" x {len(seeds)} networks" if len(seeds) > 1 else "")
                + f": {same} of {n:,} negatives carry the true label; the nine wrong labels (true + 1..9 mod 10) "
                  f"occur {int(offsets[1:].min()):,} to {int(offsets[1:].max()):,} times (uniform: {n / 9:,.0f}); "
                + ("every image used once" if once else "images repeated or missing")
                + f", {wrong_pos} positives with a wrong label")
    return CheckResult("3. no negative carries the true label", passed, evidence,
                       {"negatives": n, "true_label_negatives": same, "offset_counts": offsets.tolist(),
                        "positives_with_wrong_label": wrong_pos, "each_image_once": once, "steps": steps})


# ---------------------------------------------------------------------------------------------
# 4. Inference never reads the true label (Sec. 2.3)

def peeking_linear_logits(model: FFCNN, encoder: LabelEncoder, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """A deliberately broken inference (the counterexample of check 4): the classifier sees the
    image with its *true* label superimposed instead of the neutral input."""
    with torch.no_grad():
        return model.classifier(model.features(model.activations(encoder.overlay(x, labels))))


INFERENCE = {"linear classifier": inference.linear_logits, "goodness": inference.goodness_scores}


def _label_param(fn: Callable) -> str | None:
    return next((p for p in inspect.signature(fn).parameters if p.lower() in LABEL_PARAMS), None)


@_timed
def check_inference_label_blind(functions: dict[str, Callable] | None = None, n_images: int = 200,
                                seed: int = 0) -> CheckResult:
    """Inference computes its scores from the images alone.

    By the signature: the inference functions (default: ``linear_logits`` and ``goodness_scores``
    of :mod:`ffcnn_lib.inference`) have no label parameter, so no label can reach them. By running
    them: on ``n_images`` validation images and a trained network, the labels tensor loaded with
    the images is overwritten in place with the true labels, a random permutation of them and
    "every label wrong" ((y + 1) mod 10), and a function that takes labels is given that tensor.
    Passes if no function has a label parameter and every score is identical bit for bit under all
    three; the accuracy against the labels in place shows that the labels did change. For functions
    without a label parameter the run only confirms the signature; it is the harness that catches a
    function that takes labels (:func:`peeking_linear_logits`).
    """
    functions = functions or INFERENCE
    model, encoder = trained_network(seed)
    x, y = load_split("val", n_images)
    true = y.clone()
    perm = torch.randperm(len(true), generator=torch.Generator().manual_seed(seed))
    variants = {"true": true, "permuted": true[perm], "all wrong": (true + 1) % N_CLASSES}
    sig, changed, accs = {}, {}, {}
    for name, fn in functions.items():
        param = _label_param(fn)
        sig[name] = f"{fn.__name__}({', '.join(inspect.signature(fn).parameters)})"
        scores = {}
        for v, labels in variants.items():
            y.copy_(labels)  # in place: whatever holds this tensor sees these labels
            scores[v] = fn(model, encoder, x, **({param: y} if param else {}))
            accs[(name, v)] = inference.accuracy(scores[v], y)
        changed[name] = {v: int((scores[v].argmax(1) != scores["true"].argmax(1)).sum()) for v in variants}
        changed[name]["identical"] = all(torch.equal(scores[v], scores["true"]) for v in variants)
    y.copy_(true)
    label_params = {name: _label_param(fn) for name, fn in functions.items()}
    passed = all(p is None for p in label_params.values()) and all(c["identical"] for c in changed.values())
    parts = []
    for name in functions:
        what = (f"takes labels ({label_params[name]})" if label_params[name] else "no label parameter")
        runs = ("scores identical bit for bit" if changed[name]["identical"] else
                f"{changed[name]['permuted']} (permuted) and {changed[name]['all wrong']} (all wrong) of {n_images} "
                f"predictions change")
        parts.append(f"{name}: {what}; {runs} (accuracy against the labels in place "
                     f"{accs[(name, 'true')]:.0%} true, {accs[(name, 'permuted')]:.0%} permuted, "
                     f"{accs[(name, 'all wrong')]:.0%} all wrong)")
    evidence = f"{n_images} validation images, labels true / permuted / all wrong. " + "; ".join(parts)
    return CheckResult("4. inference never reads the true label", passed, evidence,
                       {"signatures": sig, "label_params": label_params, "changed_predictions": changed,
                        "accuracy": {f"{k[0]}, {k[1]}": v for k, v in accs.items()}})


# ---------------------------------------------------------------------------------------------
# 5. Goodness inference equals ten separate passes (Sec. 2.3)

GOODNESS_RTOL = 1e-5  # relative; ~170 fp32 unit roundoffs (see check_goodness_inference)


def ten_passes(model: FFCNN, encoder: LabelEncoder, x: torch.Tensor) -> torch.Tensor:
    """Sec. 2.3 literally: each image superimposed with each label m, one full forward pass per
    label, goodness f_m summed over the neurons of layers 2..N. Shape (N, 10)."""
    scores = []
    with torch.no_grad():
        for m in range(N_CLASSES):
            zs = model.activations(encoder.overlay(x, torch.full((len(x),), m, dtype=torch.long)))
            scores.append(sum(goodness(z) for z in zs[1:]))
    return torch.stack(scores, dim=1)


@_timed
def check_goodness_inference(n_images: int = 200, seed: int = 0) -> CheckResult:
    """:func:`ffcnn_lib.inference.goodness_scores` (labels batched, layer 1 computed once per image
    and once per label, using that the overlay is affine in the label) against :func:`ten_passes`.

    On the trained network and on an untrained one with ``input_norm`` and max pooling (where
    ``goodness_scores`` takes its other branches). Tolerance: :data:`GOODNESS_RTOL` relative to the
    scores, as the two differ by rounding only: the batched path sums layer 1's convolution in
    another order (image part + label part), a few fp32 unit roundoffs (2^-24) per value that the
    later layers and normalizations can amplify. Passes if the scores agree within it and the
    predicted label (argmax) is the same for every image except near-ties (top two closer
    than the largest difference found; reported). Also reports how many predictions adding layer 1's
    goodness (which the sum leaves out) would change: the match is not blind to which layers are summed.
    """
    x, _ = load_split("val", n_images)
    model, encoder = trained_network(seed)
    torch.manual_seed(seed)
    other = FFCNN(SMALL.filters, SMALL.kernel, max_pool=True, input_norm=True, init=SMALL.init)
    cases = {"trained": (model, encoder), "input_norm + max pooling": (other, encoder)}
    rows = {}
    for name, (m, enc) in cases.items():
        fast = inference.goodness_scores(m, enc, x)
        slow = ten_passes(m, enc, x)
        diff = (fast - slow).abs().max().item()
        scale = slow.abs().max().item()
        top2 = slow.topk(2, dim=1).values
        near_tie = (top2[:, 0] - top2[:, 1]) <= diff
        disagree = fast.argmax(1) != slow.argmax(1)
        with torch.no_grad():
            first = torch.stack([goodness(m.activations(enc.overlay(x, torch.full((len(x),), k)))[0])
                                 for k in range(N_CLASSES)], 1)
        with_first = int(((slow + first).argmax(1) != slow.argmax(1)).sum())
        rows[name] = {"max_abs_diff": diff, "max_rel_diff": diff / scale, "scale": scale,
                      "argmax_disagree": int(disagree.sum()), "disagree_not_tie": int((disagree & ~near_tie).sum()),
                      "near_ties": int(near_tie.sum()), "changed_by_layer1": with_first}
    passed = all(r["max_rel_diff"] <= GOODNESS_RTOL and r["disagree_not_tie"] == 0 for r in rows.values())
    t = rows["trained"]
    evidence = (f"{n_images} validation images x 10 labels: largest difference {_g(t['max_abs_diff'])} on scores up to "
                f"{_g(t['scale'])} (relative {_g(t['max_rel_diff'])}, tolerance {_g(GOODNESS_RTOL)}), the same label "
                f"for {n_images - t['argmax_disagree']} of {n_images} images ({t['near_ties']} near-ties); "
                f"with input_norm and max pooling relative {_g(rows['input_norm + max pooling']['max_rel_diff'])}, "
                f"{n_images - rows['input_norm + max pooling']['argmax_disagree']} of {n_images} the same; "
                f"adding layer 1's goodness, which both leave out, would change {t['changed_by_layer1']} of "
                f"{n_images} predictions")
    return CheckResult("5. goodness inference = ten separate passes", passed, evidence,
                       {"cases": pd.DataFrame(rows).T, "rtol": GOODNESS_RTOL})


# ---------------------------------------------------------------------------------------------
# 6. The fast path matches eager fp32

CONTROL_FACTOR = 10  # the fast path may differ from eager fp32 by up to 10x the rounding control
ROUNDINGS = 4        # bf16 roundings on the path of one gradient term (see check_fast_path)


def per_sample_gradients(model: StackedFFCNN, x: torch.Tensor, y: torch.Tensor, neg: torch.Tensor,
                         include_first: bool = False) -> dict[str, list[torch.Tensor]]:
    """The gradient of a training step's loss split into the contributions of its 2B samples
    (B positive, B negative; the classifier's cross-entropy rides with the positives), by parameter
    name: ``sum(contributions) == the step's gradient``. Built from the step's own pieces
    (``activations``, ``ff_layer_loss`` of ``goodness``, ``logits``), one sample at a time."""
    b = x.shape[0]
    start = 0 if include_first else 1
    named = [(n, p) for n, p in model.named_parameters() if not (n.startswith("convs.0.") and not include_first)]
    posneg = torch.cat([model.overlay(x, y), model.overlay(x, neg)])
    positive = torch.cat([x.new_ones(b), x.new_zeros(b)])
    out: dict[str, list[torch.Tensor]] = {n: [] for n, _ in named}
    for i in range(2 * b):
        zs = model.activations(posneg[i:i + 1])
        loss = sum(ff_layer_loss(goodness(z), model.thresholds[l], positive[i:i + 1])[0].sum()
                   for l, z in enumerate(zs) if l >= start) / (2 * b)
        if i < b:
            with torch.no_grad():
                seen = model.activations(model.for_classifier(x[i:i + 1]))  # what training feeds the classifier
            loss = loss + F.cross_entropy(model.logits(seen).float().flatten(0, 1), y[i]) / b
        for (n, _), g in zip(named, torch.autograd.grad(loss, [p for _, p in named], allow_unused=True)):
            out[n].append(g if g is not None else torch.zeros_like(dict(named)[n]))
    return out


def _trajectory(config: Config, fast: bool, bf16: bool | None, onednn: bool = True, steps: int = 3,
                split: bool = False) -> dict:
    """``steps`` training steps of ``config`` through ``_Run`` and :func:`compiled_step` as
    :func:`ffcnn_lib.train.train_many` takes them (same seed: same initial weights, data order and
    negative labels), with the gradients of the first step, the inputs every step received and,
    with ``split``, the first step's gradient split by sample (:func:`per_sample_gradients`)."""
    with torch.backends.mkldnn.flags(enabled=onednn):
        run = _Run([config], CPU, fast=fast, checkpoint=None, bf16=bf16)
        init = [p.detach().clone() for p in run.model.parameters()]
        step, mode = compiled_step(run, None)
        inputs, parts = [], {}

        def recording(x, y, neg):
            inputs.append((x.clone(), y.clone(), neg.clone()))
            if split and len(inputs) == 1:  # the weights are still the initial ones here
                parts.update(per_sample_gradients(run.model, x, y, neg, config.include_first_layer))
            return step(x, y, neg)

        b = config.batch_size
        perms = torch.stack([torch.randperm(config.n_train, generator=g) for g in run.gens], 1)
        stats, grads = [], None
        for i in range(steps):
            stats.append(run.train_step(recording, perms[i * b:(i + 1) * b], mode).detach().clone())
            if i == 0:
                grads = {name: (p.grad.detach().clone() if p.grad is not None else None)
                         for name, p in run.model.named_parameters()}
        net = run.networks()[0]
        encoder = run.encoders[0]
        scores = {m: _scores(run, net, encoder, run.xv, m, precision=lambda: full_precision(CPU))
                  for m in ("linear", "goodness")}
    return {"run": run, "init": init, "inputs": inputs, "stats": torch.stack(stats), "grads": grads,
            "parts": parts, "params": {n: p.detach().clone() for n, p in run.model.named_parameters()},
            "scores": scores, "mode": mode, "bf16": run.bf16, "net": net, "encoder": encoder}


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    """Relative error in norm of ``a`` against the reference ``b``."""
    return ((a.float() - b.float()).norm() / b.float().norm()).item()


def _kappa(parts: list[torch.Tensor]) -> float:
    """How much a sum cancels: sum of the norms of its terms over the norm of the sum (>= 1)."""
    return sum(p.norm().item() for p in parts) / torch.stack(parts).sum(0).norm().item()


@_timed
def check_fast_path(steps: int = 3, n_val: int = 200, seed: int = 0) -> CheckResult:
    """The fast path of this machine against eager fp32, on the same data and initial weights.

    Three runs of ``steps`` steps of :data:`SMALL` through ``_Run``/``compiled_step``: the reference
    (eager fp32), the fast path as training takes it on this CPU (``torch.compile``, with bf16
    autocast and channels_last where the CPU has native bf16, :func:`ffcnn_lib.train.cpu_bf16_native`),
    and the rounding control of :func:`ffcnn_lib.bench.precision_check` (eager fp32 with PyTorch's
    convolutions instead of oneDNN's: the same arithmetic summed in another order).

    Judged, from identical weights: the gradients of the first step (relative error in norm, per
    tensor), and the inference scores of the reference network computed in the fast path's
    precision (what per-epoch validation uses) against fp32 (what is reported), relative error.

    Tolerance of a tensor: ``max(4 u kappa, 10 e_control)``. u is the unit roundoff of the fast
    path's compute precision (bf16: 2^-8; fp32: 2^-24). With bf16 the operands of each convolution
    are rounded to 8 significant bits while oneDNN accumulates in fp32 (and goodness is summed in
    fp32): one sample's contribution to a weight's gradient is a sum of same-signed terms (ReLU
    outputs, normalized, times one coefficient per sample and layer), each through at most four
    such roundings (the layer's input, its weights, its output, the gradient flowing back), so it
    is right to about 4 u. The batch's gradient sums the contributions of 100 samples, which
    partly cancel (positive data pushes goodness up, negative data down): its relative error can
    grow by kappa = sum of the contributions' norms / norm of their sum, measured here on the
    reference (:func:`per_sample_gradients`). For the scores kappa is 1 for goodness (a sum of
    squares) and ``|W| |f| / |W f|`` (in norm) for the classifier's logits. e_control is the rounding
    control's largest gradient error: without bf16, compiling only fuses the normalization,
    goodness and loss around the same oneDNN convolutions, which changes the order of summation,
    and the control measures what such a change costs in fp32.

    Reported, not judged: the first step's losses; the predicted labels that the fast path's
    precision changes (only where the top two scores lie closer than its rounding: with bf16, about
    as close as early goodness scores commonly are); and the networks after ``steps`` steps. Adam
    divides each update by the gradient's magnitude, so a near-zero gradient component that rounds
    to the other sign moves its weight by up to 2 lr the other way: such weights, not rounding,
    dominate the difference there.
    """
    if steps < 1:
        raise ValueError(f"steps={steps}: the check compares at least one training step")
    config = SMALL.replace(n_train=steps * SMALL.batch_size, n_val=n_val, seed=seed)
    ref = _trajectory(config, fast=False, bf16=False, steps=steps, split=True)
    ctrl = _trajectory(config, fast=False, bf16=False, onednn=False, steps=steps)
    fast = _trajectory(config, fast=True, bf16=None, steps=steps)
    same_start = all(torch.equal(a, b) for a, b in zip(ref["init"], fast["init"]))
    same_data = all(all(torch.equal(a, b) for a, b in zip(r, f)) for r, f in zip(ref["inputs"], fast["inputs"]))
    trained = [n for n, g in ref["grads"].items() if g is not None]
    untrained_ok = all(fast["grads"][n] is None for n, g in ref["grads"].items() if g is None)
    e_fast = {n: _rel(fast["grads"][n], ref["grads"][n]) for n in trained}
    e_ctrl = {n: _rel(ctrl["grads"][n], ref["grads"][n]) for n in trained}
    kappa = {n: _kappa(ref["parts"][n]) for n in trained}
    split_err = max(_rel(torch.stack(ref["parts"][n]).sum(0), ref["grads"][n]) for n in trained)
    u = U_BF16 if fast["bf16"] else U_FP32
    floor = CONTROL_FACTOR * max(e_ctrl.values())
    tol = {n: max(ROUNDINGS * u * kappa[n], floor) for n in trained}
    worst = max(trained, key=lambda n: e_fast[n] / tol[n])
    loss_err = _rel(fast["stats"][0], ref["stats"][0])
    # Inference: the reference network's scores in the fast path's precision against fp32.
    net = copy.deepcopy(ref["net"])
    if fast["bf16"]:
        net = net.to(memory_format=torch.channels_last)  # as _Run.networks evaluates on the fast path
    with torch.no_grad():
        f = ref["net"].features(ref["net"].activations(ref["encoder"].for_classifier(ref["run"].xv)))
        w = ref["net"].classifier.weight
        kappa_logits = ((f.abs() @ w.abs().T).norm() / (f @ w.T).norm()).item()
    infer = {}
    for method, k in (("linear", kappa_logits), ("goodness", 1.0)):
        fp32 = ref["scores"][method]
        low = _scores(fast["run"], net, ref["encoder"], ref["run"].xv, method)  # in the fast path's precision
        top2 = fp32.topk(2, dim=1).values
        margin = (top2[:, 0] - top2[:, 1]) / fp32.abs().amax(1)  # of the fp32 prediction, relative
        disagree = low.argmax(1) != fp32.argmax(1)
        infer[method] = {"rel_error": _rel(low, fp32), "tolerance": max(ROUNDINGS * u * k, floor), "kappa": k,
                         "disagree": int(disagree.sum()),
                         "largest_margin_flipped": margin[disagree].max().item() if disagree.any() else 0.0,
                         "median_margin": margin.median().item()}
    # After `steps` steps (reported only).
    drift = {n: (fast["params"][n].float() - ref["params"][n].float()).abs().max().item() / config.lr
             for n in ref["params"]}
    drift_conv = max(v for n, v in drift.items() if n.startswith("convs"))
    agree_after = {m: (fast["scores"][m].argmax(1) == ref["scores"][m].argmax(1)).float().mean().item()
                   for m in ("linear", "goodness")}
    passed = (same_start and same_data and untrained_ok and all(e_fast[n] <= tol[n] for n in trained)
              and all(v["rel_error"] <= v["tolerance"] for v in infer.values()))
    what = (f"torch.compile ({fast['mode']})" if fast["mode"] else "eager") + \
        (" + bf16 autocast + channels_last" if fast["bf16"] else " in fp32 (no native bf16 on this CPU)")
    li, go = infer["linear"], infer["goodness"]
    evidence = (f"fast path here = {what}; u = 2^-{8 if fast['bf16'] else 24}. "
                + ("" if same_start and same_data else "NOT the same initial weights or inputs! ")
                + f"From the same weights and batch, first-step gradients differ from eager fp32 by "
                f"{_g(min(e_fast.values()))}-{_g(max(e_fast.values()))} (relative, per tensor; closest to its "
                f"tolerance: {worst}, {_g(e_fast[worst])} of {_g(tol[worst])} = max(4 u x kappa {kappa[worst]:.2g}, "
                f"{CONTROL_FACTOR} x rounding control {_g(max(e_ctrl.values()))})), its losses by {_g(loss_err)}. "
                f"Scores in the fast path's precision vs fp32 on {n_val} images: linear {_g(li['rel_error'])} "
                f"(tolerance {_g(li['tolerance'])}), goodness {_g(go['rel_error'])} (tolerance {_g(go['tolerance'])}); "
                f"{li['disagree']} and {go['disagree']} predicted labels differ, where the top two scores were within "
                f"{_g(li['largest_margin_flipped'])} and {_g(go['largest_margin_flipped'])} of each other (relative; "
                f"median over all images {_g(li['median_margin'])} and {_g(go['median_margin'])}). "
                f"After {steps} steps conv weights differ by up to {_g(drift_conv)} lr, the classifier's by "
                f"{_g(drift['classifier'])} lr; predictions agree on {agree_after['linear']:.1%} (linear), "
                f"{agree_after['goodness']:.1%} (goodness)")
    numbers = {"fast_path": what, "unit_roundoff": u, "compiled": fast["mode"], "bf16": fast["bf16"],
               "gradients": pd.DataFrame({"rel_error_fast": e_fast, "rel_error_control": e_ctrl, "kappa": kappa,
                                          "tolerance": tol}),
               "per_sample_split_error": split_err, "loss_rel_error": loss_err, "inference": infer,
               "same_initial_weights": same_start, "same_inputs": same_data, "weight_drift_in_lr": drift,
               "prediction_agreement_after": agree_after}
    return CheckResult("6. fast path matches eager fp32", passed, evidence, numbers)


# ---------------------------------------------------------------------------------------------

CHECKS = (check_layer_locality, check_first_layer_frozen, check_negative_labels, check_inference_label_blind,
          check_goodness_inference, check_fast_path)


def table(results: list[CheckResult]) -> pd.DataFrame:
    """One row per check: check, passed, evidence."""
    return pd.DataFrame([{"check": r.check, "passed": r.passed, "evidence": r.evidence} for r in results])


def run_all() -> pd.DataFrame:
    """Run the six checks (about a minute on two CPU cores, most of it compiling the fast path)."""
    return table([check() for check in CHECKS])
