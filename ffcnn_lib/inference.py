"""The two ways of inference of Sec. 2.3: the linear classifier and goodness evaluation.

Every function takes images on the model's device and works through them in chunks of
``batch_size`` images (default: :data:`ROWS_PER_PASS` image-label pairs for the device).
"""
from __future__ import annotations

import contextlib
from typing import Callable, ContextManager

import torch
import torch.nn.functional as F

from .labels import N_CLASSES, LabelEncoder
from .model import BPCNN, FFCNN

Precision = Callable[[], ContextManager]


# Rows (image-label pairs) per forward pass: large batches fill a GPU, while a CPU runs small,
# cache-sized ones several times faster (measured on 2 cores: 50-100 rows beat 1,000-2,000).
ROWS_PER_PASS = {"cuda": 2000, "cpu": 100}


def _batches(x: torch.Tensor, size: int | None, rows_per_image: int = 1):
    if size is None:
        size = max(1, ROWS_PER_PASS.get(x.device.type, 1000) // rows_per_image)
    for start in range(0, len(x), size):
        yield slice(start, min(len(x), start + size))


@torch.no_grad()
def linear_logits(model: FFCNN, encoder: LabelEncoder, x: torch.Tensor, batch_size: int | None = None,
                  precision: Precision = contextlib.nullcontext) -> torch.Tensor:
    """Classifier logits (N, 10) from layers 2..N on the classifier's input (the encoder's
    :meth:`~ffcnn_lib.labels.LabelEncoder.for_classifier`): one pass per image."""
    out = []
    for s in _batches(x, batch_size):
        with precision():
            out.append(model.classifier(model.features(model.activations(encoder.for_classifier(x[s])))).float())
    return torch.cat(out)


@torch.no_grad()
def goodness_scores(model: FFCNN, encoder: LabelEncoder, x: torch.Tensor, batch_size: int | None = None,
                    precision: Precision = contextlib.nullcontext) -> torch.Tensor:
    """Goodness f_m = sum of z² over layers 2..N with label m superimposed, shape (N, 10) (Sec. 2.3),
    each layer's on the map its training read (:meth:`~ffcnn_lib.model.FFCNN.layer_goodness`).

    All ten labels of a batch run in one batched pass. Layer 1 is affine in its input and the
    overlay is ``keep*x + pattern[m]``, so ``conv1(overlay) = conv1(keep*x) + conv1_nobias(pattern[m])``:
    the first convolution runs once per image and once per label instead of ten times per image
    (with ``input_norm``, divided by each overlay's RMS, also computed without forming the overlay).
    """
    conv1 = model.convs[0]
    out = []
    for s in _batches(x, batch_size, N_CLASSES):
        with precision():
            base = encoder.base(x[s])                                                   # (n, 1, H, W)
            image_part = F.conv2d(base, conv1.weight, None, conv1.stride, conv1.padding)   # (n, C, H, W)
            label_part = F.conv2d(encoder.patterns.unsqueeze(1), conv1.weight, None,
                                  conv1.stride, conv1.padding)                           # (10, C, H, W)
            pre = image_part.unsqueeze(1) + label_part.unsqueeze(0)                       # (n, 10, C, H, W)
            if model.input_norm:
                # Normalizing the overlay divides its (bias-free) convolution by the overlay's RMS,
                # and mean((b + p_m)^2) = mean(b^2) + 2 mean(b p_m) + mean(p_m^2): no pass per label.
                b, p = base.flatten(1).float(), encoder.patterns.flatten(1).float()
                ms = b.pow(2).mean(1, keepdim=True) + 2 * b @ p.T / b.shape[1] + p.pow(2).mean(1)
                pre = pre / (ms.sqrt() + 1e-8).to(pre.dtype)[:, :, None, None, None]
            first = (pre + conv1.bias.to(pre.dtype).view(-1, 1, 1)).flatten(0, 1)       # (n*10, C, H, W)
            zs = model.activations(x=None, first=first)  # type: ignore[arg-type]
            g = sum(model.layer_goodness(i, z) for i, z in enumerate(zs) if i > 0)
        out.append(g.view(-1, N_CLASSES))
    return torch.cat(out)


@torch.no_grad()
def goodness_scores_separate(model: FFCNN, encoder: LabelEncoder, x: torch.Tensor, batch_size: int | None = None,
                             precision: Precision = contextlib.nullcontext) -> torch.Tensor:
    """The definition behind :func:`goodness_scores`: ten full passes, one per superimposed label.

    Slower by design; kept as the reference that the fast version is tested and timed against.
    """
    out = []
    for s in _batches(x, batch_size):
        labels = [torch.full((s.stop - s.start,), m, device=x.device) for m in range(N_CLASSES)]
        with precision():
            out.append(torch.stack([sum(model.layer_goodness(i, z) for i, z in
                                        enumerate(model.activations(encoder.overlay(x[s], lab))) if i > 0)
                                    for lab in labels], dim=1))
    return torch.cat(out)


@torch.no_grad()
def bp_logits(model: BPCNN, x: torch.Tensor, batch_size: int | None = None,
              precision: Precision = contextlib.nullcontext) -> torch.Tensor:
    out = []
    for s in _batches(x, batch_size):
        with precision():
            out.append(model(x[s]).float())
    return torch.cat(out)


def accuracy(scores: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction of examples whose highest score is the true label."""
    return (scores.argmax(1) == labels).float().mean().item()


def confusion_matrix(scores: torch.Tensor, labels: torch.Tensor, n: int = N_CLASSES) -> torch.Tensor:
    """Counts (true label, predicted label), shape (n, n) (Fig. 3B)."""
    idx = labels.cpu() * n + scores.argmax(1).cpu()
    return torch.bincount(idx, minlength=n * n).view(n, n)
