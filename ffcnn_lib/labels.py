"""Label encodings that FF training superimposes on the images (Sec. 2.1, Fig. 1, 2 and 8).

Every encoding here is *affine in the image*: ``overlay(x, m) = keep * x + pattern[m]``.
Goodness inference uses this to run the first convolution once per image instead of once
per label (see :func:`ffcnn_lib.inference.goodness_scores`).

Choices the paper leaves open, made here and shown in the book:

* **Spatial frequencies.** A label is one 2D Fourier mode of the 28x28 image, i.e. a cosine whose
  wave vector ``(kx, ky)`` lies on the DFT grid (integer cycles per image), so the label image
  has energy in exactly one mode pair ``±(kx, ky)`` besides its mean. Set 1 uses
  ``k in cycles`` (default ``DEFAULT_CYCLES`` = 2, 4, 6 cycles per image) with the orientations
  0°, 45°, 90°, 135°, i.e. ``(k,0), (k,k), (0,k), (-k,k)``; labels 0..9 take the first ten of those
  twelve, frequency-major (the highest frequency keeps only 0° and 45°). Set 2 uses ten
  orientations ``m * 18°`` at the middle of those frequencies (radius 4 by default), each wave
  vector rounded to the nearest grid point (the grid cannot hold exact 18° steps; the largest
  angular error is printed by the book).
* **Label intensity K.** ``overlay = (1 - K) * image + K * wave`` with ``wave = (1 + cos) / 2`` in
  [0, 1]: K is the label's share of the maximal intensity, and the sum stays in [0, 1], which is
  the paper's "normalized to the range [0, 1]" without a per-image rescaling.
* **Neutral input** (for the linear classifier): the image with the *mean* of the ten label
  patterns, so no label is preferred over any (Hinton's one-hot analogue: 0.1 in each label pixel).
"""
from __future__ import annotations

import math

import torch

LABEL_SETS = ("onehot", "set1", "set2")
N_CLASSES = 10
IMAGE_SIZE = 28
DEFAULT_CYCLES = (2, 4, 6)  # the paper gives none: a choice, see the module docstring
SET1_ORIENTATIONS = (0, 45, 90, 135)


def _unit_vector(angle_deg: int) -> tuple[int, int]:
    return {0: (1, 0), 45: (1, 1), 90: (0, 1), 135: (-1, 1)}[angle_deg]


def wave_vectors(label_set: str, cycles: tuple[int, ...] = DEFAULT_CYCLES) -> list[tuple[int, int]]:
    """The ten DFT wave vectors ``(kx, ky)`` (cycles per image) of a spatially-extended label set."""
    if label_set == "set1":
        vecs = [(k * ux, k * uy) for k in cycles for ux, uy in map(_unit_vector, SET1_ORIENTATIONS)]
        if len(vecs) < N_CLASSES:
            raise ValueError(f"label set 1 needs at least 3 frequencies for 10 labels; got cycles={cycles}")
        return vecs[:N_CLASSES]
    if label_set == "set2":
        radius = sorted(cycles)[len(cycles) // 2]
        angles = [math.radians(180.0 * m / N_CLASSES) for m in range(N_CLASSES)]
        vecs = [(round(radius * math.cos(a)), round(radius * math.sin(a))) for a in angles]
        if len(set(vecs)) < N_CLASSES:
            raise ValueError(f"label set 2 at radius {radius} has fewer than 10 distinct grid orientations")
        return vecs
    raise ValueError(f"label set {label_set!r} has no waves; allowed: set1, set2")


def wave_images(label_set: str, size: int = IMAGE_SIZE, cycles: tuple[int, ...] = DEFAULT_CYCLES) -> torch.Tensor:
    """The ten label waves ``(1 + cos(2π(kx·col + ky·row)/size)) / 2``, shape (10, size, size), in [0, 1]."""
    row = torch.arange(size, dtype=torch.float64).view(-1, 1)
    col = torch.arange(size, dtype=torch.float64).view(1, -1)
    waves = [(1 + torch.cos(2 * math.pi * (kx * col + ky * row) / size)) / 2 for kx, ky in wave_vectors(label_set, cycles)]
    return torch.stack(waves).float()


def onehot_images(size: int = IMAGE_SIZE) -> torch.Tensor:
    """Hinton's encoding: label m sets pixel m of the top row to 1 (Fig. 1A, B)."""
    pats = torch.zeros(N_CLASSES, size, size)
    pats[torch.arange(N_CLASSES), 0, torch.arange(N_CLASSES)] = 1.0
    return pats


def peak_after_adding(x: torch.Tensor, K: float, label_set: str = "set1",
                      cycles: tuple[int, ...] = DEFAULT_CYCLES) -> torch.Tensor:
    """Brightest pixel of ``x + K * wave_m`` for every image of ``x`` (N, 1, H, W) and label m: (N, 10).

    Another reading of K (Sec. 2.1: superimpose, then normalize to [0, 1]) divides ``x + K * wave``
    by this peak. Where the peak is 1 + K, that is our convex mix at K' = K / (1 + K).
    """
    waves = wave_images(label_set, x.shape[-1], tuple(cycles)).to(x.device)
    return (x + K * waves).amax(dim=(-2, -1))


class LabelEncoder:
    """Superimposes labels on images: ``overlay(x, m) = keep * x + patterns[m]``."""

    def __init__(self, label_set: str = "set1", K: float = 0.35, size: int = IMAGE_SIZE,
                 device: str | torch.device = "cpu", cycles: tuple[int, ...] = DEFAULT_CYCLES,
                 classifier_input: str = "image"):
        if label_set not in LABEL_SETS:
            raise ValueError(f"unknown label set {label_set!r}; allowed: {', '.join(LABEL_SETS)}")
        if not 0.0 < K < 1.0:
            raise ValueError(f"label intensity K={K} is outside the open interval (0, 1)")
        if classifier_input not in CLASSIFIER_INPUTS:
            raise ValueError(f"unknown classifier input {classifier_input!r}; allowed: {', '.join(CLASSIFIER_INPUTS)}")
        self.label_set, self.K, self.classifier_input = label_set, K, classifier_input
        if label_set == "onehot":
            self.patterns = onehot_images(size)
            keep = torch.ones(size, size)
            keep[0, :N_CLASSES] = 0.0  # the label pixels replace the image there
        else:
            self.patterns = K * wave_images(label_set, size, tuple(cycles))
            keep = torch.full((size, size), 1.0 - K)
        self.keep = keep
        self.to(device)

    def to(self, device: str | torch.device) -> "LabelEncoder":
        self.patterns, self.keep = self.patterns.to(device), self.keep.to(device)
        return self

    def base(self, x: torch.Tensor) -> torch.Tensor:
        """The label-free part ``keep * x`` of every overlay of ``x`` (N, 1, H, W)."""
        return x * self.keep

    def overlay(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Images (N, 1, H, W) with label ``labels[i]`` superimposed on image i."""
        return self.base(x) + self.patterns[labels].unsqueeze(1)

    def neutral(self, x: torch.Tensor) -> torch.Tensor:
        """Images with the mean of all label patterns (Hinton's neutral label; the classifier's input
        with ``classifier_input="neutral"``)."""
        return self.base(x) + self.patterns.mean(0)

    def for_classifier(self, x: torch.Tensor) -> torch.Tensor:
        """What the linear classifier of Sec. 2.3 sees (the paper does not say): ``"image"``, the
        label-free part ``keep * x`` of every overlay (our default: a probe on validation found it
        better than the neutral input by several times its noise, book/14_open_choices.ipynb);
        ``"neutral"``, the mean label added; ``"raw"``, ``x``."""
        return classifier_view(x, self.keep, self.patterns, self.classifier_input)


CLASSIFIER_INPUTS = ("image", "neutral", "raw")


def classifier_view(x: torch.Tensor, keep: torch.Tensor, patterns: torch.Tensor, kind: str) -> torch.Tensor:
    """The linear classifier's input image of kind ``kind`` (see :meth:`LabelEncoder.for_classifier`);
    ``patterns`` (10, H, W), or (R, 10, H, W) with x (N, R, 1, H, W) for R stacked networks."""
    if kind == "image":
        return x * keep
    if kind == "neutral":
        return x * keep + patterns.mean(-3).unsqueeze(-3) if patterns.dim() == 4 else x * keep + patterns.mean(0)
    if kind == "raw":
        return x
    raise ValueError(f"unknown classifier input {kind!r}; allowed: {', '.join(CLASSIFIER_INPUTS)}")


def negative_labels(labels: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """A wrong label for each example, uniform over the 9 others (Sec. 2.1: random, not hard)."""
    offset = torch.randint(1, N_CLASSES, labels.shape, device=labels.device, generator=generator)
    return (labels + offset) % N_CLASSES
