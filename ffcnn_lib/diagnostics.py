"""Why goodness inference lags the linear classifier in a trained FF network (chapter 05, issue #16).

Goodness inference (Sec. 2.3) picks the label whose overlay makes layers 2..N most active; it
works only if each layer's goodness separates the true label from *every* wrong one, while FF
training asks only that it separates the true label from one random wrong one at the threshold
θ = number of neurons (Sec. 2.2). These quantities, computed on the validation set from a run's
kept weights, say where a network stands: how far goodness sits from θ for the true and the best
wrong label, how often each layer alone ranks the true label first, and whether goodness accuracy
was still rising when training stopped.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from .data import load_split
from .experiments import Result
from .labels import N_CLASSES
from .model import goodness


@torch.no_grad()
def layer_goodness(model, encoder, x: torch.Tensor, chunk: int = 200) -> torch.Tensor:
    """Goodness of every layer for every label overlay: (N, 10, L), fp32 (ten passes per image)."""
    out = []
    for s in range(0, len(x), chunk):
        xs = x[s:s + chunk]
        per_label = []
        for m in range(N_CLASSES):
            labels = torch.full((len(xs),), m, dtype=torch.long)
            zs = model.activations(encoder.overlay(xs, labels))
            per_label.append(torch.stack([goodness(z) for z in zs], dim=1))  # (n, L)
        out.append(torch.stack(per_label, dim=1))
    return torch.cat(out)


def goodness_margins(g: torch.Tensor, y: torch.Tensor, thresholds: list[float]) -> pd.DataFrame:
    """Per layer (and layers 2..N summed, the inference's score): goodness of the true label's
    overlay and of the most active wrong one, relative to θ ((g - θ) / θ, medians), and the
    accuracy of inference by that layer alone (true label ranked first)."""
    n, _, L = g.shape
    true = g[torch.arange(n), y]                                            # (N, L)
    wrong = g.clone()
    wrong[torch.arange(n), y] = -torch.inf
    best_wrong = wrong.max(1).values                                        # (N, L)
    rows = []
    theta = torch.tensor(thresholds)
    for layer in range(L):
        rows.append(_row(f"layer {layer + 1}" + (" (not trained)" if layer == 0 else ""),
                         true[:, layer], best_wrong[:, layer], g[:, :, layer], y, float(theta[layer])))
    total = g[:, :, 1:].sum(-1)
    rows.append(_row("layers 2..N summed (goodness inference)", total[torch.arange(n), y],
                     _masked_max(total, y), total, y, float(theta[1:].sum())))
    return pd.DataFrame(rows)


def _masked_max(scores: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    s = scores.clone()
    s[torch.arange(len(y)), y] = -torch.inf
    return s.max(1).values


def _row(name: str, true: torch.Tensor, best_wrong: torch.Tensor, scores: torch.Tensor, y: torch.Tensor,
         theta: float) -> dict:
    return {"layer": name, "θ": theta,
            "true label: (g - θ)/θ, median [%]": 100 * ((true - theta) / theta).median().item(),
            "best wrong label: (g - θ)/θ, median [%]": 100 * ((best_wrong - theta) / theta).median().item(),
            "true above θ [%]": 100 * (true > theta).float().mean().item(),
            "best wrong above θ [%]": 100 * (best_wrong > theta).float().mean().item(),
            "true beats every wrong label [%]": 100 * (scores.argmax(1) == y).float().mean().item(),
            "(true - best wrong)/θ, median [%]": 100 * ((true - best_wrong) / theta).median().item()}


def still_rising(metrics: pd.DataFrame, column: str = "val_acc_goodness", last: int = 50) -> dict:
    """Slope (percentage points per 10 epochs, least squares) of ``column`` over the last ``last``
    epochs where it was measured, and its value at their start and end."""
    d = metrics[["epoch", column]].dropna()
    d = d[d["epoch"] > d["epoch"].max() - last]
    if len(d) < 2:
        return {"slope_pp_per_10_epochs": np.nan, "first": np.nan, "last": np.nan, "points": len(d)}
    slope = np.polyfit(d["epoch"], 100 * d[column], 1)[0] * 10
    return {"slope_pp_per_10_epochs": float(slope), "first": float(100 * d[column].iloc[0]),
            "last": float(100 * d[column].iloc[-1]), "points": len(d), "from_epoch": int(d["epoch"].iloc[0])}


def diagnose(result: Result, n_val: int = 2000) -> tuple[pd.DataFrame, dict]:
    """Goodness margins per layer on the first ``n_val`` validation images (default 2,000: the
    quantities are medians and shares, stable to a fraction of a point) and the goodness trend."""
    model = result.load_model("cpu")
    encoder = result.config.label_encoder("cpu")
    x, y = load_split("val", n_val, "cpu")
    g = layer_goodness(model, encoder, x)
    return goodness_margins(g, y, model.thresholds), still_rising(result.metrics)


def explain(margins: pd.DataFrame, trend: dict, linear_pct: float) -> str:
    """Chapter 05's paragraph, computed: why goodness lags the linear classifier in this network."""
    m = margins.set_index("layer")
    total = m.loc["layers 2..N summed (goodness inference)"]
    layers = [i for i in m.index if i.startswith("layer ") and "not trained" not in i]
    per_layer = ", ".join(f"{i} alone {m.loc[i, 'true beats every wrong label [%]']:.1f} %" for i in layers)
    rising = trend["slope_pp_per_10_epochs"]
    return (
        f"On the validation images, the goodness of the true label's overlay sits only "
        f"{total['true label: (g - θ)/θ, median [%]']:.1f} % above the threshold θ (median), and the most active "
        f"*wrong* label {total['best wrong label: (g - θ)/θ, median [%]']:+.1f} % from it: training pushed the true "
        f"label above θ for {total['true above θ [%]']:.0f} % of the images, but the best of the nine wrong labels is "
        f"above θ for {total['best wrong above θ [%]']:.0f} % of them as well. FF training asks each layer to separate "
        f"the true label from *one random* wrong label at θ, which these margins satisfy most of the time (the layers' "
        f"discrimination accuracy); goodness inference asks for more, that the true label beat *all nine*, and with a "
        f"median lead of {total['(true - best wrong)/θ, median [%]']:.1f} % of θ it does so for "
        f"{total['true beats every wrong label [%]']:.1f} % of the images ({per_layer}). The linear classifier reads the "
        f"same layers' full activity pattern, not one number per layer, and reaches {linear_pct:.2f} %. Goodness "
        f"accuracy was still changing by {rising:+.2f} pp per 10 epochs over the last {trend.get('points', 0)} "
        f"measurements (from epoch {trend.get('from_epoch', '?')}): in the cooldown the learning rate is too small for "
        f"the margins to widen much more. With 16 filters per layer each layer has few neurons whose goodness can "
        f"differ between labels; the paper reports goodness beating the linear classifier only at 128 filters (Table 1).")


def path_of(result: Result, root=None):
    from .experiments import results_dir
    return (root or results_dir()) / "diagnostics" / f"{result.path.name}-goodness.json"


def run_or_load(result: Result, n_val: int = 10_000, root=None) -> tuple[pd.DataFrame, dict, dict]:
    """:func:`diagnose` on the first ``n_val`` validation images, stored once with its provenance
    in ``results/diagnostics/`` (a minute or two on a CPU) and read back after: (margins, trend, record)."""
    import datetime as dt
    import json
    import time

    from .experiments import write_atomic
    from .probe import provenance_light

    path = path_of(result, root)
    if path.exists():
        record = json.loads(path.read_text())
        if record["n_val"] == n_val:
            return pd.DataFrame(record["margins"]), record["trend"], record
    t0 = time.perf_counter()
    margins, trend = diagnose(result, n_val)
    record = {"run_id": result.path.name, "n_val": n_val, "margins": margins.to_dict("records"), "trend": trend,
              "provenance": {**provenance_light(), "seconds": round(time.perf_counter() - t0, 1),
                             "finished": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}}
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(record, indent=1))
    return margins, trend, record


@torch.no_grad()
def goodness_at_init(config, n: int = 200) -> list[float]:
    """Each layer's mean goodness over its threshold θ at initialization (seed ``config.seed``),
    on positive overlays of the first ``n`` training images: how far from θ training starts."""
    torch.manual_seed(config.seed)  # the initial weights the run starts from
    model, encoder = config.network(), config.label_encoder("cpu")
    x, y = load_split("train", n, "cpu")
    zs = model.activations(encoder.overlay(x, y))
    return [float(goodness(z).mean() / t) for z, t in zip(zs, model.thresholds)]
