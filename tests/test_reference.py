"""The reference loop (one network, eager fp32) and the fast path (stacked, as ``train`` runs it)
train the same network: same losses, gradients and weights, up to float rounding."""
import pytest
import torch

from ffcnn_lib.config import Config
from ffcnn_lib.labels import LabelEncoder, negative_labels
from ffcnn_lib.model import FFCNN, StackedFFCNN
from ffcnn_lib.reference import train_reference
from ffcnn_lib.train import _ff_step_fn, _Run, _stat_names, compiled_step, named_stats, train

# 3 epochs (the cooldown starts in the second half) of 4 steps on a 3x4-filter network: seconds.
TINY = Config(filters=(3, 4, 5), kernel=3, batch_size=25, n_train=100, n_val=50, epochs=3, lr=1e-3)
CLOSE = {"rtol": 1e-4, "atol": 1e-6}


def _params(single: FFCNN) -> list[torch.Tensor]:
    return [p for conv in single.convs for p in (conv.weight, conv.bias)] + [single.classifier.weight]


def _stacked_params(stack: StackedFFCNN) -> list[torch.Tensor]:
    return [p for conv in stack.convs for p in (conv.weight, conv.bias)] + [stack.classifier]  # (1, 10, F)


def _assert_weights_close(p: torch.Tensor, q: torch.Tensor, lr: float, steps: int) -> None:
    """Adam divides by the root of the squared gradient's average: an element whose gradient is
    rounding noise (~1e-8, near Adam's eps) moves by a sizeable share of lr either way, so the noise
    of two summation orders shows there (seen: 2e-5 at lr 1e-3 after one step, gradient 2e-8). All
    other elements agree to float tolerance."""
    off = ~torch.isclose(p, q.view_as(p), **CLOSE)
    assert off.float().mean() < 1e-3, f"{int(off.sum())} of {p.numel()} elements differ"
    assert (p - q.view_as(p)).abs().max() <= 2 * lr * steps


def _assert_same_stats(stats: dict, fast_stats: torch.Tensor) -> None:
    fast = named_stats(_stat_names(TINY), fast_stats)
    assert list(stats) == list(fast)  # the history's columns, in order
    for name, value in stats.items():
        torch.testing.assert_close(value, fast[name][0], **CLOSE)


def _lrs(config: Config, single: FFCNN) -> list[float]:
    return [config.lr] * 2 * len(single.convs) + [config.classifier_lr]  # as _params orders them


def _assert_same_grads_and_weights(single: FFCNN, stack: StackedFFCNN, steps: int = 0) -> None:
    for p, q, lr in zip(_params(single), _stacked_params(stack), _lrs(TINY, single)):
        _assert_weights_close(p, q, lr, steps)
        assert (p.grad is None) == (q.grad is None)  # layer 1 out of the loss: no gradient in either
        if p.grad is not None:  # to 0.1 % of the largest: the weights differ by the noise above
            torch.testing.assert_close(p.grad, q.grad.view_as(p.grad), rtol=1e-4, atol=1e-3 * p.grad.abs().max().item())


@pytest.mark.parametrize("include_first", [False, True])
def test_ff_loss_equals_the_stacked_step(include_first):
    single = FFCNN((3, 4, 5), kernel=3)
    single.classifier.weight.data.normal_(0, 0.01)  # a classifier with preferences: a real cross-entropy
    enc = LabelEncoder("set1", 0.35)
    stack = StackedFFCNN([single], [enc])
    x, y = torch.rand(8, 1, 28, 28), torch.arange(8)
    wrong = (y + 3) % 10
    loss, stats = single.ff_loss(x, y, wrong, enc, include_first)
    fast_loss, fast_stats = _ff_step_fn(stack, include_first)(x.unsqueeze(1), y.view(8, 1), wrong.view(8, 1))
    torch.testing.assert_close(loss, fast_loss, **CLOSE)
    _assert_same_stats(stats, fast_stats)
    # the network loss sums the layers in the loss: layer 1 only with include_first (App. B)
    first = 0 if include_first else 1
    torch.testing.assert_close(stats["combined_loss"], sum(stats[f"loss_layer{i}"] for i in range(first + 1, 4)))
    loss.backward()
    fast_loss.backward()
    _assert_same_grads_and_weights(single, stack)
    assert (single.convs[0].weight.grad is not None) == include_first


@pytest.mark.parametrize("compile", [False, True])
def test_reference_steps_equal_the_fast_paths_steps(compile):
    """Step by step on MNIST batches: the loss, every gradient and every updated weight, against the
    stacked step eager (a short run's path on a CPU) and compiled (a long run's, fp32 here)."""
    run = _Run([TINY], torch.device("cpu"), fast=compile, checkpoint=None, bf16=False)
    step, _ = compiled_step(run, compile=compile)
    single = run.model.unstack()[0].train()
    enc, gen = run.encoders[0], torch.Generator().manual_seed(TINY.seed)  # the run's generator, replayed
    opt = torch.optim.Adam([{"params": single.convs.parameters(), "lr": TINY.lr},
                            {"params": single.classifier.parameters(), "lr": TINY.classifier_lr}])
    for i in range(3):
        idx = torch.arange(i * 25, (i + 1) * 25)
        fast_stats = run.train_step(step, idx.view(-1, 1), compiled=compile)
        x, y = run.x[idx], run.y[idx]
        loss, stats = single.ff_loss(x, y, negative_labels(y, gen), enc, TINY.include_first_layer)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        fast = named_stats(_stat_names(TINY), fast_stats)
        torch.testing.assert_close(loss, fast["combined_loss"][0] + fast["classifier_loss"][0], **CLOSE)
        _assert_same_stats(stats, fast_stats)
        _assert_same_grads_and_weights(single, run.model, i + 1)  # the gradients, and the weights Adam updated


def test_the_reference_loop_trains_what_train_trains():
    """Whole runs: data order, wrong labels, initial weights and the learning-rate schedule agree."""
    logged = []
    model, history = train_reference(TINY, log=logged.append)
    outcome = train(TINY, device="cpu", fast=False, progress=False)
    assert logged == history and [r["epoch"] for r in history] == [1, 2, 3]
    for ours, theirs in zip(history, outcome.history):
        assert ours["lr"] == theirs["lr"]
        assert ours.keys() <= theirs.keys()
        for name in _stat_names(TINY):
            assert ours[name] == pytest.approx(theirs[name], rel=1e-4, abs=1e-6)
    for p, q, lr in zip(_params(model), _params(outcome.model), _lrs(TINY, model)):
        _assert_weights_close(p, q, lr, TINY.epochs * TINY.n_train // TINY.batch_size)
    # and it trained: the layers in the loss moved, layer 1 (not in it) kept its initial weights
    torch.manual_seed(TINY.seed)
    fresh = TINY.network()
    assert torch.equal(model.convs[0].weight, fresh.convs[0].weight)
    assert not torch.allclose(model.convs[1].weight, fresh.convs[1].weight)


def test_the_reference_loop_is_for_ff_networks():
    with pytest.raises(ValueError, match="model='bp'"):
        train_reference(Config.bp(n_train=100), log=None)
