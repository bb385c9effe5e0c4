"""The FF-CNN pinned to the equations of Sec. 2.2-2.3 and App. B."""
import math

import pytest
import torch
import torch.nn.functional as F

from ffcnn_lib.cam import class_activation_maps
from ffcnn_lib.inference import goodness_scores, goodness_scores_separate, linear_logits
from ffcnn_lib.labels import LabelEncoder
from ffcnn_lib.model import BPCNN, FFCNN, StackedFFCNN, ff_layer_loss, goodness, layer_norm
from ffcnn_lib.config import Config
from ffcnn_lib.train import _ff_step_fn, _stat_names, lr_at, named_stats


def test_layer_norm_divides_by_root_mean_square():
    z = torch.rand(3, 4, 5, 5) * torch.tensor([1.0, 10.0, 0.1]).view(3, 1, 1, 1)
    out = layer_norm(z)
    torch.testing.assert_close(out.pow(2).mean(dim=(1, 2, 3)), torch.ones(3))
    # by hand: (3, 0, 4, 0) has mean square 25 / 4, root 2.5; a sample 10x larger gives the same
    two = torch.tensor([[3.0, 0.0, 4.0, 0.0], [30.0, 0.0, 40.0, 0.0]]).view(2, 1, 2, 2)
    torch.testing.assert_close(layer_norm(two).flatten(1), torch.tensor([[1.2, 0.0, 1.6, 0.0]] * 2))
    torch.testing.assert_close(layer_norm(7 * z), out)  # only the pattern passes on


def test_goodness_is_sum_of_squares():
    z = torch.zeros(2, 3, 4, 4)
    z[0, 0, 0, :3] = torch.tensor([1.0, 2.0, -2.0])  # 1 + 4 + 4
    z[1, 2, 3, 3] = 0.5
    torch.testing.assert_close(goodness(z), torch.tensor([9.0, 0.25]))


def test_layer_loss_is_bce_of_goodness_minus_threshold():
    g = torch.tensor([110.0, 95.0, 102.0, 90.0])
    positive = torch.tensor([1.0, 1.0, 0.0, 0.0])
    theta = 100.0
    loss, acc = ff_layer_loss(g, theta, positive)
    p = torch.sigmoid(g - theta)
    expected = -(torch.log(p[:2]).sum() + torch.log(1 - p[2:]).sum()) / 4
    torch.testing.assert_close(loss, expected)
    # sigmoid > 0.5 means "positive": right for 110 (pos) and 90 (neg), wrong for 95 and 102
    assert acc.item() == pytest.approx(0.5)


def test_threshold_is_number_of_neurons():
    m = FFCNN((4, 6, 8), kernel=3)
    assert m.thresholds == [4 * 784, 6 * 784, 8 * 784]
    assert m.classifier.in_features == (6 + 8) * 784
    pooled = FFCNN((4, 6, 8), kernel=3, max_pool=True)
    assert pooled.shapes == [(4, 28, 28), (6, 14, 14), (8, 7, 7)]
    assert pooled.thresholds == [4 * 784, 6 * 196, 8 * 49]


def test_padding_keeps_image_size():
    m = FFCNN((4, 4, 4), kernel=7)
    zs = m.activations(torch.rand(2, 1, 28, 28))
    assert [tuple(z.shape[1:]) for z in zs] == [(4, 28, 28)] * 3


def test_no_gradient_crosses_layers():
    m = FFCNN((4, 4, 4), kernel=3)
    zs = m.activations(torch.rand(2, 1, 28, 28))
    goodness(zs[2]).sum().backward()
    assert m.convs[0].weight.grad is None and m.convs[1].weight.grad is None
    assert m.convs[2].weight.grad is not None


@pytest.mark.parametrize("include_first", [False, True])
def test_first_layer_excluded_from_loss_stays_untrained(include_first):
    m = FFCNN((4, 4, 4), kernel=3)
    enc = LabelEncoder("set1", 0.35)
    stack = StackedFFCNN([m], [enc])
    step = _ff_step_fn(stack, include_first)
    x, y = torch.rand(8, 1, 1, 28, 28), torch.arange(8).view(8, 1)
    loss, stats = step(x, y, (y + 1) % 10)
    loss.backward()
    assert (stack.convs[0].weight.grad is not None) == include_first
    assert stack.convs[1].weight.grad is not None and stack.convs[2].weight.grad is not None
    # the network loss is the sum of the included layer losses
    named = named_stats(_stat_names(Config(filters=(4, 4, 4))), stats)
    first = 0 if include_first else 1
    torch.testing.assert_close(named["combined_loss"], sum(named[f"loss_layer{i}"] for i in range(first + 1, 4)))


def test_classifier_learns_from_detached_activations_only():
    m = FFCNN((4, 4, 4), kernel=3)
    m.classifier.weight.data.normal_()
    x, y = torch.rand(8, 1, 28, 28), torch.arange(8)
    logits = m.classifier(m.features(m.activations(x)))
    F.cross_entropy(logits, y).backward()
    assert all(c.weight.grad is None for c in m.convs)
    assert m.classifier.weight.grad is not None


def test_stacked_networks_equal_the_single_ones():
    torch.manual_seed(0)
    nets = [FFCNN((3, 4, 5), kernel=3) for _ in range(2)]
    for n in nets:
        n.classifier.weight.data.normal_()
    encs = [LabelEncoder("set1", 0.3), LabelEncoder("set1", 0.6)]
    stack = StackedFFCNN(nets, encs)
    x, y = torch.rand(6, 2, 1, 28, 28), torch.randint(0, 10, (6, 2))
    zs = stack.activations(stack.overlay(x, y))
    logits = stack.logits(stack.activations(stack.for_classifier(x)))
    for r, (net, enc) in enumerate(zip(nets, encs)):
        single = net.activations(enc.overlay(x[:, r], y[:, r]))
        for zs_l, z1 in zip(zs, single):
            torch.testing.assert_close(zs_l[:, r], z1)
        torch.testing.assert_close(logits[:, r], net.classifier(net.features(net.activations(enc.for_classifier(x[:, r])))),
                                   rtol=1e-4, atol=1e-3)
    for a, b in zip(stack.unstack(), nets):
        for pa, pb in zip(a.parameters(), b.parameters()):
            torch.testing.assert_close(pa, pb)


def test_lr_linear_cooldown():
    lr, E = 5e-5, 200
    assert [lr_at(e, lr, E) for e in (1, 50, 100, 101)] == pytest.approx([lr] * 4)
    # by hand, 2 lr / 200 * (201 - e): 0.99 lr at epoch 102, 0.51 lr at 150, 0.01 lr at 200
    assert [lr_at(e, lr, E) / lr for e in (102, 150, 199, 200)] == pytest.approx([0.99, 0.51, 0.02, 0.01])
    assert [lr_at(e, 1.0, 10) for e in range(1, 11)] == pytest.approx([1] * 6 + [0.8, 0.6, 0.4, 0.2])
    assert all(lr_at(e + 1, lr, E) <= lr_at(e, lr, E) for e in range(1, E))
    assert all(lr_at(e, 1.0, 5) <= 1.0 for e in range(1, 6))  # odd E: no step above lr


@pytest.mark.parametrize("label_set, padding, input_norm", [("set1", "same", False), ("onehot", "same", False),
                                                            ("set1", "valid", False), ("set2", "same", True)])
def test_batched_goodness_inference_equals_ten_separate_passes(label_set, padding, input_norm):
    m = FFCNN((4, 5, 6), kernel=5, padding=padding, input_norm=input_norm)
    enc = LabelEncoder(label_set, 0.35)
    x = torch.rand(7, 1, 28, 28)
    fast = goodness_scores(m, enc, x, batch_size=3)
    slow = torch.stack([sum(goodness(z) for z in m.activations(enc.overlay(x, torch.full((7,), lab)))[1:])
                        for lab in range(10)], dim=1)
    torch.testing.assert_close(fast, slow, rtol=1e-4, atol=1e-3)
    torch.testing.assert_close(goodness_scores_separate(m, enc, x, batch_size=4), slow)


@pytest.mark.parametrize("padding", ["same", "valid"])
def test_cam_sums_to_classifier_logit(padding):
    m = FFCNN((4, 5, 6), kernel=3, padding=padding)
    m.classifier.weight.data.normal_()
    enc = LabelEncoder("set1", 0.35)
    x = torch.rand(3, 1, 28, 28)
    target = torch.tensor([1, 2, 7])
    maps = class_activation_maps(m, enc, x, target)
    logits = linear_logits(m, enc, x)
    torch.testing.assert_close(maps["combined"].sum((1, 2)), logits[torch.arange(3), target], rtol=1e-4, atol=1e-3)
    if padding == "same":
        torch.testing.assert_close(maps["layer2"] + maps["layer3"], maps["combined"])
    else:  # layer 2 (24x24) and layer 3 (22x22) are centred on the image
        assert maps["layer3"].shape == (3, 22, 22) and maps["combined"][:, :2].abs().sum() == 0
        torch.testing.assert_close(maps["combined"][:, 3:-3, 3:-3], maps["layer3"] + maps["layer2"][:, 1:-1, 1:-1])


def test_cam_with_pooling_keeps_totals():
    m = FFCNN((4, 5, 6), kernel=3, max_pool=True)
    m.classifier.weight.data.normal_()
    enc = LabelEncoder("set1", 0.35)
    x = torch.rand(2, 1, 28, 28)
    maps = class_activation_maps(m, enc, x)
    assert maps["combined"].shape == (2, 28, 28) and maps["layer3"].shape == (2, 7, 7)
    logits = linear_logits(m, enc, x)
    torch.testing.assert_close(maps["combined"].sum((1, 2)), logits.max(1).values, rtol=1e-4, atol=1e-3)


def test_bp_model_shapes():
    m = BPCNN((16, 16, 16), kernel=5)
    assert m(torch.rand(2, 1, 28, 28)).shape == (2, 10)
    assert m.head.in_features == 16 * 784
    assert BPCNN((4, 4, 4), 3, max_pool=True).head.in_features == 4 * 49


def test_layerwise_backward_gives_the_same_gradients():
    """No gradient crosses layers, so a backward pass per layer changes memory, not gradients."""
    nets = [FFCNN((3, 4, 5), kernel=3) for _ in range(2)]
    for n in nets:
        n.classifier.weight.data.normal_()
    stack = StackedFFCNN(nets, [LabelEncoder("set1", 0.3), LabelEncoder("set1", 0.6)])
    x, y = torch.rand(6, 2, 1, 28, 28), torch.randint(0, 10, (6, 2))
    grads = []
    for layerwise in (False, True):
        stack.zero_grad(set_to_none=True)
        loss, stats = _ff_step_fn(stack, include_first=False, layerwise=layerwise)(x, y, (y + 3) % 10)
        if layerwise:
            assert loss is None
        else:
            loss.backward()
        grads.append(([p.grad.clone() for p in stack.convs[1:].parameters()], stack.classifier.grad.clone(), stats))
        assert stack.convs[0].weight.grad is None
    (g_sum, c_sum, s_sum), (g_lw, c_lw, s_lw) = grads
    for a, b in zip(g_sum, g_lw):
        torch.testing.assert_close(a, b)
    torch.testing.assert_close(c_sum, c_lw)
    torch.testing.assert_close(s_sum, s_lw)


def test_valid_padding_shrinks_layers_and_sets_thresholds():
    m = FFCNN((4, 5, 6), kernel=7, padding="valid")
    zs = m.activations(torch.rand(2, 1, 28, 28))
    assert [tuple(z.shape[1:]) for z in zs] == [(4, 22, 22), (5, 16, 16), (6, 10, 10)] == m.shapes
    assert m.thresholds == [4 * 22 * 22, 5 * 16 * 16, 6 * 10 * 10]
    assert m.classifier.in_features == 5 * 256 + 6 * 100
    assert BPCNN((4, 4, 4), 5, padding="valid").head.in_features == 4 * 16 * 16
    stack = StackedFFCNN([m, FFCNN((4, 5, 6), kernel=7, padding="valid")], [LabelEncoder("set1", 0.3)] * 2)
    assert stack.activations(torch.rand(2, 2, 1, 28, 28))[2].shape == (2, 2, 6, 10, 10)
    assert stack.unstack()[0].padding == "valid"
    with pytest.raises(ValueError, match="share filters, kernel size, pooling, padding and input norm"):
        StackedFFCNN([m, FFCNN((4, 5, 6), kernel=7)], [LabelEncoder("set1", 0.3)] * 2)


def test_ff_step_traces_as_one_graph():
    """torch.compile captures the whole FF step (no graph break), and the traced step computes what
    the eager one does (aot_eager: tracing and autograd as compiled, without code generation)."""
    nets = [FFCNN((3, 4, 5), kernel=3) for _ in range(2)]
    stack = StackedFFCNN(nets, [LabelEncoder("set1", 0.3), LabelEncoder("set2", 0.5)])
    x, y = torch.rand(6, 2, 1, 28, 28), torch.randint(0, 10, (6, 2))
    step = _ff_step_fn(stack, include_first=False)
    compiled = torch.compile(step, backend="aot_eager", fullgraph=True)
    for fn in (step, compiled):
        stack.zero_grad(set_to_none=True)
        loss, stats = fn(x, y, (y + 1) % 10)
        loss.backward()
        if fn is step:
            expected = (loss.detach(), stats, stack.convs[2].weight.grad.clone())
    torch.testing.assert_close((loss.detach(), stats, stack.convs[2].weight.grad), expected)


def test_reported_numbers_are_computed_without_tf32():
    from ffcnn_lib.train import full_precision
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    try:
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
        with full_precision(torch.device("cuda")):  # only flips flags: runs without a GPU
            assert not torch.backends.cuda.matmul.allow_tf32 and not torch.backends.cudnn.allow_tf32
        assert torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def test_loewes_full_gradient_relu_changes_no_ff_gradient():
    """Loewe's FF code lets ReLU's gradient through for negative inputs too. For the goodness
    sum(relu(a)^2) that changes nothing: its derivative is 2 relu(a) either way."""
    a = torch.randn(4, 3, 5, 5, requires_grad=True)
    positive = torch.tensor([1.0, 0.0, 1.0, 0.0])
    exact = torch.autograd.grad(ff_layer_loss(goodness(F.relu(a)), 75.0, positive)[0], a)[0]
    straight_through = a + (a.clamp(min=0) - a).detach()  # ReLU forward, identity backward
    full = torch.autograd.grad(ff_layer_loss(goodness(straight_through), 75.0, positive)[0], a)[0]
    torch.testing.assert_close(exact, full)


def test_loewe_init_and_input_norm():
    torch.manual_seed(0)
    m = FFCNN((64, 32, 8), kernel=3, init="loewe", input_norm=True)
    assert all(c.bias.abs().sum() == 0 for c in m.convs)
    assert m.convs[1].weight.std().item() == pytest.approx(1 / math.sqrt(32), rel=0.05)
    x = torch.rand(2, 1, 28, 28)
    for z1, z2 in zip(m.activations(x), m.activations(3 * x)):  # the input's scale no longer matters
        torch.testing.assert_close(z1, z2, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="unknown init 'xavier'"):
        FFCNN((4, 4), kernel=3, init="xavier")


def test_ink_share_measures_how_much_cam_mass_lies_on_the_digit():
    from ffcnn_lib.cam import ink_share
    m = FFCNN((4, 5, 6), kernel=3)
    enc = LabelEncoder("set1", 0.35)
    x = torch.zeros(4, 1, 28, 28)
    x[:, :, 10:18, 12:16] = 1.0  # a stroke on 32 of 784 pixels
    # a classifier that votes for label 0 with every pixel of layer 2 under the stroke, nowhere else
    w = torch.zeros(10, 5, 28, 28)
    w[0, :, 10:18, 12:16] = 1.0
    m.classifier.weight.data.zero_()
    m.classifier.weight.data[:, :5 * 784] = w.flatten(1)
    rows = {r["map"]: r for r in ink_share(m, enc, x, torch.zeros(4, dtype=torch.long))}
    assert rows["combined"]["images"] == 4 and rows["combined"]["ink_area"] == pytest.approx(32 / 784)
    assert rows["layer2"]["beneficial_on_ink"] == pytest.approx(1.0)  # all the vote sits on the ink
    assert rows["layer3"]["beneficial_on_ink"] == 0.0  # no weights, no mass


def test_stacked_networks_feed_their_classifier_what_each_network_alone_would():
    from ffcnn_lib.config import Config
    from ffcnn_lib.model import StackedFFCNN
    for kind in ("image", "neutral", "raw"):
        cs = [Config(filters=(2, 2), kernel=3, K=k, classifier_input=kind) for k in (0.2, 0.5)]
        encs = [c.label_encoder() for c in cs]
        stack = StackedFFCNN([c.network() for c in cs], encs)
        x = torch.rand(4, 1, 28, 28)
        both = stack.for_classifier(x.unsqueeze(1).expand(4, 2, 1, 28, 28))
        for r, e in enumerate(encs):
            assert torch.allclose(both[:, r], e.for_classifier(x))


def test_the_default_network_is_the_configs():
    """``FFCNN()`` builds what ``Config().network()`` builds: same settings, same initial weights."""
    torch.manual_seed(0)
    plain = FFCNN()
    torch.manual_seed(0)
    configured = Config().network()
    names = ("filters", "kernel", "max_pool", "padding", "input_norm", "init", "goodness_maps", "classifier_maps")
    assert [getattr(plain, n) for n in names] == [getattr(configured, n) for n in names]
    assert plain.state_dict().keys() == configured.state_dict().keys()
    assert all(torch.equal(p, configured.state_dict()[k]) for k, p in plain.state_dict().items())
