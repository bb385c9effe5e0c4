"""Where a pooled FF network is read (issue #26): goodness and threshold, and the linear classifier,
on each convolution's own output (the default) or on the pooled maps the next layer receives.
Expectations are computed by hand on tiny tensors, never by the code under test."""
import json
from pathlib import Path

import pytest
import torch

from ffcnn_lib import inference
from ffcnn_lib.config import Config
from ffcnn_lib.labels import LabelEncoder
from ffcnn_lib.model import FFCNN, StackedFFCNN, classifier_input, read_map, read_shapes
from ffcnn_lib.train import train

RUNS = Path(__file__).resolve().parent.parent / "results" / "runs"
# 0..15 in a 4x4 map: its 2x2 maxima are 5, 7, 13, 15
Z = torch.arange(16.0).view(1, 1, 4, 4)
SUM_SQUARES = sum(v * v for v in range(16))          # 1240
POOLED_SQUARES = 5 ** 2 + 7 ** 2 + 13 ** 2 + 15 ** 2  # 468


def test_read_map_pools_every_layer_but_the_last_and_only_when_asked():
    assert read_map(Z, 0, 3, True, "pooled").flatten().tolist() == [5, 7, 13, 15]
    assert torch.equal(read_map(Z, 2, 3, True, "pooled"), Z)   # no pooling follows the last layer
    assert torch.equal(read_map(Z, 0, 3, True, "conv"), Z)     # today's reading
    assert torch.equal(read_map(Z, 0, 3, False, "pooled"), Z)  # no pooling in the network, nothing pooled
    stacked = Z.expand(2, 3, 1, 4, 4)                          # (N, R, C, H, W): R networks side by side
    assert read_map(stacked, 0, 3, True, "pooled").shape == (2, 3, 1, 2, 2)
    with pytest.raises(ValueError, match="'avg'; allowed: conv, pooled"):
        read_map(Z, 0, 3, True, "avg")


def test_pooled_goodness_sums_the_squared_maxima_against_the_pooled_neuron_count():
    conv = FFCNN((4, 6, 8), kernel=3, max_pool=True)
    pooled = FFCNN((4, 6, 8), kernel=3, max_pool=True, goodness_maps="pooled")
    # conv outputs are 28, 14 and 7 pixels wide; a pooled map halves the first two
    assert conv.thresholds == [4 * 784, 6 * 196, 8 * 49]
    assert pooled.thresholds == [4 * 196, 6 * 49, 8 * 49]
    assert conv.layer_goodness(0, Z).item() == SUM_SQUARES
    assert pooled.layer_goodness(0, Z).item() == POOLED_SQUARES
    assert pooled.layer_goodness(2, Z).item() == SUM_SQUARES  # the last layer reads its own output
    assert pooled.classifier.in_features == conv.classifier.in_features == 6 * 196 + 8 * 49


def test_pooled_classifier_reads_the_normalized_pooled_maps_of_layers_2_to_n():
    z2 = torch.ones(1, 1, 2, 2)
    rms = (SUM_SQUARES / 16) ** 0.5  # layer norm of Z: each value over sqrt(mean(Z^2))
    want = torch.tensor([[5 / rms, 7 / rms, 13 / rms, 15 / rms, 1.0, 1.0, 1.0, 1.0]])
    torch.testing.assert_close(classifier_input([torch.rand(1, 1, 8, 8), Z, z2], True, "pooled"), want)
    today = classifier_input([torch.rand(1, 1, 8, 8), Z, z2], True, "conv")
    torch.testing.assert_close(today, torch.cat([Z.flatten(1) / rms, z2.flatten(1)], 1))
    m = FFCNN((4, 6, 8), kernel=3, max_pool=True, classifier_maps="pooled")
    assert m.classifier.in_features == 6 * 49 + 8 * 49 and m.thresholds == [4 * 784, 6 * 196, 8 * 49]
    assert read_shapes(m.shapes, True, "pooled") == [(4, 14, 14), (6, 7, 7), (8, 7, 7)]


def test_goodness_inference_and_the_stack_read_the_maps_the_network_names():
    """Batched goodness inference equals ten separate passes and the by-hand pooled sum; a stack of
    networks reads as each network alone; the classifier's logits take the pooled features."""
    torch.manual_seed(0)
    m = FFCNN((3, 4, 5), kernel=3, max_pool=True, goodness_maps="pooled", classifier_maps="pooled")
    enc = LabelEncoder("set1", 0.3)
    x = torch.rand(6, 1, 28, 28)
    fast, slow = inference.goodness_scores(m, enc, x), inference.goodness_scores_separate(m, enc, x)
    torch.testing.assert_close(fast, slow, rtol=1e-4, atol=1e-3)
    zs = m.activations(enc.overlay(x, torch.full((6,), 3)))
    by_hand = (torch.nn.functional.max_pool2d(zs[1], 2) ** 2).sum((1, 2, 3)) + (zs[2] ** 2).sum((1, 2, 3))
    torch.testing.assert_close(slow[:, 3], by_hand, rtol=1e-5, atol=1e-3)
    assert inference.linear_logits(m, enc, x).shape == (6, 10)
    stack = StackedFFCNN([m], [enc])
    z5 = stack.activations(x.unsqueeze(1))[1]  # (N, R, C, H, W)
    torch.testing.assert_close(stack.layer_goodness(1, z5)[:, 0], m.layer_goodness(1, m.activations(x)[1]))
    assert stack.thresholds == m.thresholds and stack.unstack()[0].classifier_maps == "pooled"
    with pytest.raises(ValueError, match="the maps goodness and the classifier read"):
        StackedFFCNN([m, FFCNN((3, 4, 5), kernel=3, max_pool=True)], [enc, enc])


@pytest.mark.parametrize("kwargs, message", [
    (dict(max_pool=True, goodness_maps="avg"), "unknown goodness_maps 'avg'; allowed: conv, pooled"),
    (dict(max_pool=True, classifier_maps="unpooled"), "unknown classifier_maps 'unpooled'; allowed: conv, pooled"),
    (dict(goodness_maps="pooled"), "goodness_maps='pooled' reads the pooled maps.*max_pool=False.*'conv'"),
    (dict(model="bp", init="torch", max_pool=True, classifier_maps="pooled"), "model='bp'"),
])
def test_bad_readings_are_named_with_the_allowed_ones(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Config(**kwargs)


def test_the_options_leave_every_stored_run_id_unchanged_and_name_themselves():
    pooled = Config(filters=16, kernel=5, max_pool=True)  # the pooled 16x5x5 of Table 3 under the decided defaults
    assert pooled.run_id() == "ff-16-16-16-k5-pool-fanin-set1-K0.35-b50-e200-s0-4fdd2d3f5b"
    assert pooled.replace(init="loewe", classifier_input="neutral").run_id() == \
        "ff-16-16-16-k5-pool-loewe-set1-K0.35-b50-e200-s0-582228e2e5"
    assert Config.bp().run_id() == "bp-16-16-16-k5-b50-e200-s0-a1dbbbaac0"
    assert pooled.replace(goodness_maps="pooled").run_id().startswith("ff-16-16-16-k5-pool-fanin-gpool-set1-")
    assert pooled.replace(classifier_maps="pooled").run_id().startswith("ff-16-16-16-k5-pool-fanin-cpool-set1-")
    ids = {pooled.replace(goodness_maps=g, classifier_maps=c).run_id() for g in ("conv", "pooled")
           for c in ("conv", "pooled")}
    assert len(ids) == 4
    stored = RUNS / "ff-16-16-16-k5-pool-fanin-set1-K0.35-b50-e200-s0-4fdd2d3f5b" / "config.json"
    if stored.exists():  # a stored config (written before the fields existed) reads as today's placement
        c = Config.from_dict(json.loads(stored.read_text()))
        assert (c.goodness_maps, c.classifier_maps) == ("conv", "conv") and c.run_id() == stored.parent.name


def test_a_tiny_pooled_run_trains_with_both_readings_moved():
    cfg = Config(filters=(3, 4, 5), kernel=3, max_pool=True, goodness_maps="pooled", classifier_maps="pooled",
                 n_train=200, n_val=100, epochs=1, batch_size=50)
    out = train(cfg, device="cpu", progress=False, goodness_every=1, fast=False)
    assert 0.0 <= out.final["val_acc_linear"] <= 1.0 and 0.0 <= out.final["val_acc_goodness"] <= 1.0
