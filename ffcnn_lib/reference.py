"""The FF training loop of Sec. 2.2 in one screen: one network, fp32, eager, top to bottom.

Read this to see (or change) the method; :func:`ffcnn_lib.train.train` is the fast path that made
the stored runs. It trains R networks stacked into grouped convolutions (:class:`StackedFFCNN`),
compiled and in bf16 where that pays, with validation, checkpoints and a time budget. For the same
config, on a CPU in fp32, both take the same batches, wrong labels and initial weights, and give
the same losses, gradients and weights up to float rounding (tests/test_reference.py).
"""
from __future__ import annotations

from typing import Callable

import torch

from .config import Config
from .data import load_split
from .labels import negative_labels
from .model import FFCNN
from .train import lr_at


def train_reference(config: Config, device: str = "cpu",
                    log: Callable[[dict], None] | None = print) -> tuple[FFCNN, list[dict]]:
    """Train the FF network of ``config`` (``model="ff"``); returns it and one row of mean training
    metrics per epoch (the names of a run's history), each also passed to ``log``."""
    if config.model != "ff":
        raise ValueError(f"the reference loop trains FF networks; got model={config.model!r} (allowed: 'ff')")
    images, targets = load_split("train", config.n_train, device, config.dataset)  # (n, 1, 28, 28), (n,)
    encoder = config.label_encoder(device)                    # the label waves and their intensity K (Sec. 2.1)
    gen = torch.Generator(device=device).manual_seed(config.seed)  # data order and wrong labels
    torch.manual_seed(config.seed)                            # initial weights
    model = config.network().to(device)
    opt = torch.optim.Adam([{"params": model.convs.parameters(), "lr": config.lr},
                            {"params": model.classifier.parameters(), "lr": config.classifier_lr}])
    base_lrs = [config.lr, config.classifier_lr]
    b, steps = config.batch_size, config.n_train // config.batch_size  # the last partial batch is dropped
    history = []
    for epoch in range(1, config.epochs + 1):
        for group, base_lr in zip(opt.param_groups, base_lrs):
            group["lr"] = lr_at(epoch, base_lr, config.epochs)  # constant, then a linear cooldown (Sec. 2.2)
        order = torch.randperm(config.n_train, device=device, generator=gen)
        sums: dict[str, float] = {}
        for i in range(steps):
            batch = order[i * b:(i + 1) * b]
            x, y = images[batch], targets[batch]              # (B, 1, 28, 28), (B,)
            wrong = negative_labels(y, gen)                   # (B,): a random wrong label per image
            loss, stats = model.ff_loss(x, y, wrong, encoder, config.include_first_layer)
            opt.zero_grad(set_to_none=True)
            loss.backward()                                   # each layer's gradient from its own loss only
            opt.step()
            for name, value in stats.items():
                sums[name] = sums.get(name, 0.0) + value.item()
        row = {"epoch": epoch, "lr": opt.param_groups[0]["lr"], **{k: v / steps for k, v in sums.items()}}
        history.append(row)
        if log is not None:
            log(row)
    return model, history
