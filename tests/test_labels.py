"""Label encodings of Sec. 2.1 (Fig. 1, 2, 8)."""
import math

import pytest
import torch

from ffcnn_lib.labels import (LabelEncoder, N_CLASSES, DEFAULT_CYCLES, negative_labels, onehot_images,
                              peak_after_adding, wave_images, wave_vectors)


def _modes(img: torch.Tensor) -> set[tuple[int, int]]:
    """DFT modes (ky, kx) carrying energy once the mean is removed."""
    spec = torch.fft.fft2((img - img.mean()).double()).abs()
    idx = (spec > 1e-6 * spec.max()).nonzero().tolist()
    n = img.shape[-1]
    return {tuple(((k + n // 2) % n) - n // 2 for k in i) for i in idx}


@pytest.mark.parametrize("label_set", ["set1", "set2"])
def test_each_label_is_a_single_fourier_mode(label_set):
    for (kx, ky), img in zip(wave_vectors(label_set), wave_images(label_set)):
        assert _modes(img) == {(ky, kx), (-ky, -kx)}


@pytest.mark.parametrize("label_set", ["set1", "set2"])
def test_waves_in_unit_range_and_distinct(label_set):
    w = wave_images(label_set)
    assert w.shape == (N_CLASSES, 28, 28)
    assert w.min() >= 0 and w.max() <= 1
    assert len({tuple(v) for v in wave_vectors(label_set)}) == N_CLASSES


def test_set1_is_four_orientations_times_three_frequencies():
    vecs = wave_vectors("set1")
    angles = {round(math.degrees(math.atan2(ky, kx))) % 180 for kx, ky in vecs}
    assert angles == {0, 45, 90, 135}
    freqs = {max(abs(kx), abs(ky)) for kx, ky in vecs}
    assert freqs == set(DEFAULT_CYCLES)


def test_set2_is_ten_orientations_one_frequency():
    vecs = wave_vectors("set2")
    angles = [math.degrees(math.atan2(ky, kx)) % 180 for kx, ky in vecs]
    for m, a in enumerate(angles):  # grid rounding of the 18° steps stays within a few degrees
        assert abs(a - 18 * m) < 5
    radii = [math.hypot(kx, ky) for kx, ky in vecs]
    assert max(radii) - min(radii) < 0.7


def test_overlay_is_convex_mix_with_intensity_k():
    x = torch.rand(4, 1, 28, 28)
    y = torch.tensor([0, 3, 7, 9])
    enc = LabelEncoder("set1", 0.35)
    out = enc.overlay(x, y)
    expected = 0.65 * x + 0.35 * wave_images("set1")[y].unsqueeze(1)
    torch.testing.assert_close(out, expected)
    assert out.min() >= 0 and out.max() <= 1


def test_neutral_is_mean_of_all_labels():
    x = torch.rand(2, 1, 28, 28)
    enc = LabelEncoder("set2", 0.5)
    all_labels = torch.stack([enc.overlay(x, torch.full((2,), m)) for m in range(10)])
    torch.testing.assert_close(enc.neutral(x), all_labels.mean(0))


def test_onehot_sets_first_ten_pixels_of_top_row():
    pats = onehot_images()
    for m in range(10):
        assert pats[m, 0, m] == 1 and pats[m].sum() == 1
    x = torch.ones(1, 1, 28, 28)
    out = LabelEncoder("onehot", 0.5).overlay(x, torch.tensor([7]))
    assert out[0, 0, 0, :10].tolist() == [0] * 7 + [1] + [0] * 2
    assert out[0, 0, 1:].eq(1).all() and out[0, 0, 0, 10:].eq(1).all()


def test_negative_labels_are_never_true_and_uniform_over_the_other_nine():
    g = torch.Generator().manual_seed(1)
    y = torch.full((90_000,), 4)
    neg = negative_labels(y, g)
    assert not (neg == y).any()
    counts = torch.bincount(neg, minlength=10)
    assert counts[4] == 0
    others = counts[torch.arange(10) != 4].float()
    assert (others - 10_000).abs().max() < 400  # ~4 sigma


@pytest.mark.parametrize("k", [0.0, 1.0, -0.1, 1.5])
def test_k_outside_open_unit_interval_rejected(k):
    with pytest.raises(ValueError, match=f"K={k}"):
        LabelEncoder("set1", k)


def test_unknown_label_set_rejected():
    with pytest.raises(ValueError, match="'set3'.*allowed: onehot, set1, set2"):
        LabelEncoder("set3", 0.3)


def test_frequencies_are_configurable_and_checked():
    vecs = wave_vectors("set1", (1, 3, 5))
    assert {max(abs(kx), abs(ky)) for kx, ky in vecs} == {1, 3, 5}
    assert {abs(kx) + abs(ky) for kx, ky in wave_vectors("set2", (1, 5, 9))} >= {5}
    with pytest.raises(ValueError, match="at least 3 frequencies"):
        wave_vectors("set1", (2, 4))
    with pytest.raises(ValueError, match="fewer than 10 distinct"):
        wave_vectors("set2", (1, 1, 1))


def test_add_then_normalize_is_the_convex_mix_at_rescaled_k():
    x = torch.zeros(2, 1, 28, 28)
    x[:, :, 10:18, 10:18] = 1.0  # a bright square: somewhere under it the wave peaks too
    K = 0.35
    peak = peak_after_adding(x, K)
    assert peak.shape == (2, 10) and torch.allclose(peak, torch.full_like(peak, 1 + K))
    enc = LabelEncoder("set1", K / (1 + K))
    labels = torch.tensor([3, 8])
    added = (x + K * wave_images("set1")[labels].unsqueeze(1)) / (1 + K)
    torch.testing.assert_close(enc.overlay(x, labels), added)


def test_the_classifier_sees_the_image_without_a_label_by_default_and_the_neutral_input_on_request():
    # Chapter 14's decision of 2026-12-02: (1 - K) x, the label-free part of every overlay
    from ffcnn_lib.config import Config
    x = torch.rand(3, 1, 28, 28)
    enc = Config(filters=4, kernel=3).label_encoder()
    assert enc.classifier_input == "image" and torch.allclose(enc.for_classifier(x), 0.65 * x)
    old = Config(filters=4, kernel=3, classifier_input="neutral").label_encoder()
    assert torch.allclose(old.for_classifier(x), old.neutral(x))
    assert torch.equal(Config(filters=4, kernel=3, classifier_input="raw").label_encoder().for_classifier(x), x)
    with pytest.raises(ValueError, match="allowed: image, neutral, raw"):
        Config(classifier_input="label")
