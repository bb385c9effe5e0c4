"""The learning-rate cooldown of Sec. 2.2 as training applies it (issue #30): the rate of every
parameter group read from the optimizer at every step of tiny runs, against values written by hand,
uninterrupted and resumed from a checkpoint after every epoch.

Sec. 2.2: constant for the first half, then ``lr(e) = 2 lr / E (1 + E - e)`` (e = 1..E). For E = 10
that is lr for epochs 1-6 (epoch 6: 2/10 * 5 = 1), then 0.8, 0.6, 0.4, 0.2 lr.
"""
import contextlib

import pytest
from torch.optim.optimizer import register_optimizer_step_pre_hook

from ffcnn_lib import Config
from ffcnn_lib.train import train

FF = Config(filters=(2, 2), kernel=3, n_train=50, batch_size=25, n_val=20, epochs=10, lr=2e-3, classifier_lr=1e-2)
STEPS = 2  # 50 images, batch 25
FACTORS = [1, 1, 1, 1, 1, 1, 0.8, 0.6, 0.4, 0.2]  # epochs 1..10 of 10, by hand


@contextlib.contextmanager
def applied_rates():
    """Every optimizer step's learning rates, one tuple per step (one rate per parameter group)."""
    seen: list[tuple[float, ...]] = []
    handle = register_optimizer_step_pre_hook(
        lambda opt, args, kwargs: seen.append(tuple(g["lr"] for g in opt.param_groups)))
    try:
        yield seen
    finally:
        handle.remove()


def _per_epoch(seen, steps: int) -> list[tuple[float, ...]]:
    epochs = [seen[i:i + steps] for i in range(0, len(seen), steps)]
    assert all(len(set(e)) == 1 for e in epochs), "the rate changed inside an epoch"
    return [e[0] for e in epochs]


def test_both_groups_cool_down_in_the_second_half_at_every_step():
    with applied_rates() as seen:
        out = train(FF, "cpu", progress=False, fast=False)
    assert len(seen) == FF.epochs * STEPS
    conv, classifier = zip(*_per_epoch(seen, STEPS))
    assert conv == pytest.approx([2e-3 * f for f in FACTORS], rel=1e-12)
    assert classifier == pytest.approx([1e-2 * f for f in FACTORS], rel=1e-12)  # the classifier cools too
    assert [row["lr"] for row in out.history] == pytest.approx([2e-3 * f for f in FACTORS], rel=1e-12)


def test_a_run_resumed_after_every_epoch_keeps_the_schedule(tmp_path):
    """A budget too small for a second epoch: each call trains one epoch from the checkpoint, so
    the cooldown of epochs 7-10 is applied by calls that resumed in the second half."""
    ckpt = tmp_path / "ck.pt"
    with applied_rates() as seen:
        calls = 0
        while True:
            calls += 1
            out = train(FF, "cpu", progress=False, fast=False, checkpoint=ckpt, time_budget_s=1e-3)
            if out.complete:
                break
            assert calls < FF.epochs
    assert calls == FF.epochs
    conv, classifier = zip(*_per_epoch(seen, STEPS))
    assert conv == pytest.approx([2e-3 * f for f in FACTORS], rel=1e-12)
    assert classifier == pytest.approx([1e-2 * f for f in FACTORS], rel=1e-12)


def test_the_bp_baseline_cools_its_one_group_too():
    bp = Config.bp(filters=(2, 2, 2), kernel=3, n_train=50, batch_size=25, n_val=20, epochs=4, lr=1e-3)
    with applied_rates() as seen:
        train(bp, "cpu", progress=False, fast=False)
    # E = 4: lr for epochs 1-3 (epoch 3: 2/4 * 2 = 1), then 2/4 * 1 = 0.5 lr
    assert [g for (g,) in _per_epoch(seen, STEPS)] == pytest.approx([1e-3, 1e-3, 1e-3, 5e-4], rel=1e-12)
