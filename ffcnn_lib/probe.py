"""Classifier probes: a linear classifier trained afresh on a finished network's frozen features.

Issue #16 asks what the linear classifier of Sec. 2.3 should see, since the paper says only that
it is trained on the activities of every layer but the first. Until 2026-12-02 our classifier
learnt beside the conv layers from the *neutral* input (the image mixed with the mean of the ten
label waves); this probe made the image without a label the default (chapter 14). A probe answers
the question on the stored weights of a 200-epoch network in an hour of one CPU core: it trains fresh classifiers on all 50,000 training images for each input and weight
decay, several data orders each, and scores them on validation. It is a proxy (the features no
longer move), not a result at the paper's settings; it never reads the test set.
"""
from __future__ import annotations

import datetime as _dt
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from .data import load_split
from .experiments import CODE_HASH, Result, _git_commit, results_dir, write_atomic
from .labels import classifier_view
from .model import FFCNN
from .train import device_name, lr_at

INPUTS = {
    "neutral": "(1-K)·x + mean of the ten label waves (the classifier's input until 2026-12-02)",
    "image": "(1-K)·x, the image alone at the weight it has in every overlay (the default since)",
    "raw": "x, the raw image",
}


def classifier_inputs(name: str, x: torch.Tensor, keep: torch.Tensor, patterns: torch.Tensor) -> torch.Tensor:
    """The classifier's input image ``name`` (see :data:`INPUTS`) for images ``x`` (N, 1, H, W)."""
    return classifier_view(x, keep, patterns, name)


@torch.no_grad()
def features(model: FFCNN, x: torch.Tensor, chunk: int = 500) -> torch.Tensor:
    """Normalized activations of layers 2..N (the classifier's features, Sec. 2.3), (N, F) fp32."""
    return torch.cat([model.features(model.activations(x[i:i + chunk])) for i in range(0, len(x), chunk)])


def train_classifiers(ftr: torch.Tensor, ytr: torch.Tensor, fval: torch.Tensor, yval: torch.Tensor,
                      weight_decays: tuple[float, ...], seeds: tuple[int, ...], epochs: int,
                      lr: float = 1e-3, batch_size: int = 50) -> list[dict]:
    """One zero-initialized linear classifier per (weight decay, seed), trained with Adam (L2
    weight decay as in ``torch.optim.Adam``), batch 50 and the paper's LR cooldown (Sec. 2.2);
    a seed is a data order. Returns their validation accuracy and last-epoch training loss.

    The classifiers of one seed share its batches, so an epoch reads the features once per seed:
    reading them is what a step costs (50 rows of ~25,000 features against 10 outputs)."""
    n_wd = len(weight_decays)
    weights = [torch.zeros(n_wd * 10, ftr.shape[1], requires_grad=True) for _ in seeds]
    decay = torch.tensor(weight_decays, dtype=ftr.dtype).repeat_interleave(10).unsqueeze(1)  # (n_wd*10, 1)
    opt = torch.optim.Adam(weights, lr=lr)
    gens = [torch.Generator().manual_seed(s) for s in seeds]
    steps = len(ftr) // batch_size
    losses = torch.zeros(len(seeds), n_wd)
    for epoch in range(1, epochs + 1):
        for g in opt.param_groups:
            g["lr"] = lr_at(epoch, lr, epochs)
        perms = [torch.randperm(len(ftr), generator=g) for g in gens]
        total = torch.zeros(len(seeds), n_wd)
        for i in range(steps):
            opt.zero_grad(set_to_none=True)
            for j, w in enumerate(weights):
                idx = perms[j][i * batch_size:(i + 1) * batch_size]
                logits = (ftr[idx] @ w.T).view(batch_size, n_wd, 10).transpose(0, 1)   # (n_wd, B, 10)
                y = ytr[idx].expand(n_wd, -1)
                loss = F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="none").view(n_wd, -1).mean(1)
                loss.sum().backward()
                w.grad += decay * w.detach()  # torch.optim.Adam's L2 weight decay, one value per classifier
                total[j] += loss.detach()
            opt.step()
        losses = total / steps
    out = []
    with torch.no_grad():
        for j, (s, w) in enumerate(zip(seeds, weights)):
            pred = (fval @ w.T).view(len(fval), n_wd, 10).argmax(-1)  # (N, n_wd)
            for k, wd in enumerate(weight_decays):
                out.append({"weight_decay": wd, "seed": s, "val_acc": pred[:, k].eq(yval).float().mean().item(),
                            "train_loss_last_epoch": losses[j, k].item()})
    return out


def classifier_probe(result: Result, inputs: tuple[str, ...] = tuple(INPUTS),
                     weight_decays: tuple[float, ...] = (0.0, 1e-4, 1e-3), seeds: tuple[int, ...] = (0, 1, 2),
                     epochs: int = 20, n_train: int | None = None, progress: bool = True) -> pd.DataFrame:
    """Validation accuracy of fresh linear classifiers on the frozen network of ``result`` for each
    classifier input, weight decay and data order (seed): one row each. Training images: the
    run's own (the first ``n_train`` of train[:50000]); validation: val[50000:]."""
    model = result.load_model("cpu")
    c = result.config
    enc = c.label_encoder("cpu")
    xtr, ytr = load_split("train", n_train or c.n_train, "cpu", c.dataset)
    xv, yv = load_split("val", c.n_val, "cpu", c.dataset)
    rows = []
    for name in inputs:
        t0 = time.perf_counter()
        ftr = features(model, classifier_inputs(name, xtr, enc.keep, enc.patterns))
        fval = features(model, classifier_inputs(name, xv, enc.keep, enc.patterns))
        for r in train_classifiers(ftr, ytr, fval, yv, weight_decays, seeds, epochs):
            rows.append({"input": name, **r})
        del ftr, fval
        if progress:
            print(f"probe {name}: {time.perf_counter() - t0:.0f} s", flush=True)
    return pd.DataFrame(rows)


def provenance_light() -> dict:
    """Commit, code hash, versions and device of a computation that is not a training run."""
    import platform

    return {"git_commit": _git_commit(), "code_hash": CODE_HASH, "torch": torch.__version__,
            "python": platform.python_version(), "device": device_name(torch.device("cpu"))}


def probe_path(result: Result, root: Path | None = None) -> Path:
    return (root or results_dir()) / "probes" / f"{result.path.name}-classifier.json"


def run_probe(result: Result, root: Path | None = None, **kwargs) -> Path:
    """Run :func:`classifier_probe` and store it with its provenance in ``results/probes/``."""
    t0 = time.perf_counter()
    df = classifier_probe(result, **kwargs)
    record = {"run_id": result.path.name, "kind": "classifier probe (issue #16)",
              "settings": {k: list(v) if isinstance(v, tuple) else v for k, v in kwargs.items() if k != "progress"},
              "inputs": INPUTS, "rows": df.to_dict("records"),
              "provenance": {**provenance_light(), "seconds": round(time.perf_counter() - t0, 1),
                             "finished": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}}
    path = probe_path(result, root)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(record, indent=1))
    return path


def load_probe(result: Result, root: Path | None = None) -> tuple[pd.DataFrame, dict] | None:
    """The stored probe of ``result`` (rows, record), or None."""
    path = probe_path(result, root)
    if not path.exists():
        return None
    record = json.loads(path.read_text())
    return pd.DataFrame(record["rows"]), record


def probe_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Mean and spread (std over data orders) of validation accuracy per input and weight decay, %."""
    g = rows.groupby(["input", "weight_decay"], sort=False)["val_acc"]
    out = pd.DataFrame({"val acc [%]": 100 * g.mean(), "std over seeds [pp]": 100 * g.std(ddof=1),
                        "min [%]": 100 * g.min(), "max [%]": 100 * g.max(), "seeds": g.size()})
    return out.reset_index()


def shown(table: pd.DataFrame) -> pd.DataFrame:
    """:func:`probe_table` for a page: the weight decay written as set (1e-4, not 0.00)."""
    return table.assign(weight_decay=table["weight_decay"].map(lambda w: f"{w:g}")).rename(
        columns={"weight_decay": "weight decay"})


def decision_text(table: pd.DataFrame, record: dict) -> str:
    """The probe's reading by issue #16's rule: an input (or decay) replaces the one in use (neutral,
    no decay) only if its mean validation accuracy is higher by more than the noise, 2·sqrt(s_a²/n_a +
    s_b²/n_b) with s the std over data orders (both are scored on the same validation images, so
    the data order is the noise between them)."""
    t = table.set_index(["input", "weight_decay"])
    base = t.loc[("neutral", 0.0)]
    rows = []
    for (inp, wd), r in t.iterrows():
        if (inp, wd) == ("neutral", 0.0):
            continue
        diff = r["val acc [%]"] - base["val acc [%]"]
        noise = 2 * np.sqrt(r["std over seeds [pp]"] ** 2 / r["seeds"] + base["std over seeds [pp]"] ** 2 / base["seeds"])
        rows.append((inp, wd, diff, noise))
    best = max(rows, key=lambda x: x[2])
    clear = [(i, w, d, n) for i, w, d, n in rows if d > n]
    seconds = record.get("provenance", {}).get("seconds")
    head = (f"The classifier input we used until this probe (neutral, no decay) reaches {base['val acc [%]']:.2f} % "
            f"(± {base['std over seeds [pp]']:.2f} pp over {int(base['seeds'])} data orders). The best variant, "
            f"{best[0]} input with decay {best[1]:g}, differs by {best[2]:+.2f} pp (noise {best[3]:.2f} pp). ")
    if clear:
        verdict = ("By the rule, better than the neutral input by more than the noise: " +
                   "; ".join(f"{i} input, decay {w:g} ({d:+.2f} pp, noise {n:.2f})" for i, w, d, n in clear) + ".")
    else:
        verdict = "By the rule, no variant is better than the neutral input by more than the noise."
    when = f" (probe finished {record['provenance']['finished'][:10]}" + \
        (f", {seconds / 60:.0f} min on {record['provenance']['device']})" if seconds else ")")
    return head + verdict + when
