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
from .model import layer_norm

SUMMED = "layers 2..N summed (goodness inference)"  # the row of goodness inference's own score


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
            per_label.append(torch.stack([model.layer_goodness(i, z) for i, z in enumerate(zs)], dim=1))  # (n, L)
        out.append(torch.stack(per_label, dim=1))
    return torch.cat(out)


def goodness_margins(g: torch.Tensor, y: torch.Tensor, thresholds: list[float],
                     first_trained: bool = False) -> pd.DataFrame:
    """Per layer (and layers 2..N summed, the inference's score): goodness of the true label's
    overlay and of the most active wrong one, relative to θ ((g - θ) / θ, medians), and the
    accuracy of inference by that layer alone (true label ranked first). ``first_trained``: layer 1
    was in the loss (App. B), so it is not labelled as untrained."""
    n, _, L = g.shape
    true = g[torch.arange(n), y]                                            # (N, L)
    wrong = g.clone()
    wrong[torch.arange(n), y] = -torch.inf
    best_wrong = wrong.max(1).values                                        # (N, L)
    rows = []
    theta = torch.tensor(thresholds)
    for layer in range(L):
        rows.append(_row(f"layer {layer + 1}" + (" (not trained)" if layer == 0 and not first_trained else ""),
                         true[:, layer], best_wrong[:, layer], g[:, :, layer], y, float(theta[layer])))
    total = g[:, :, 1:].sum(-1)
    rows.append(_row(SUMMED, total[torch.arange(n), y],
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
    x, y = load_split("val", n_val, "cpu", result.config.dataset)
    g = layer_goodness(model, encoder, x)
    return (goodness_margins(g, y, model.thresholds, result.config.include_first_layer),
            still_rising(result.metrics))


def explain(margins: pd.DataFrame, trend: dict, linear_pct: float) -> str:
    """Chapter 05's paragraph, computed: why goodness lags the linear classifier in this network."""
    m = margins.set_index("layer")
    total = m.loc[SUMMED]
    layers = [i for i in m.index if i.startswith("layer ") and i != "layer 1" and "not trained" not in i]
    per_layer = ", ".join(f"{i} alone {m.loc[i, 'true beats every wrong label [%]']:.1f} %" for i in layers)
    rising = trend["slope_pp_per_10_epochs"]
    return (
        f"On the validation images, the goodness of the true label's overlay lies "
        f"{total['true label: (g - θ)/θ, median [%]']:+.1f} % from the threshold θ (median), and that of the most "
        f"active *wrong* label {total['best wrong label: (g - θ)/θ, median [%]']:+.1f} %: the true label is above θ "
        f"for {total['true above θ [%]']:.0f} % of the images, but the best of the nine wrong labels is above θ for "
        f"{total['best wrong above θ [%]']:.0f} % of them as well. FF training asks each layer to separate the true "
        f"label from *one random* wrong label at θ (the layers' discrimination accuracy); goodness inference asks for "
        f"more, that the true label beat *all nine*, and with a median lead of "
        f"{total['(true - best wrong)/θ, median [%]']:.2f} % of θ it does so for "
        f"{total['true beats every wrong label [%]']:.1f} % of the images ({per_layer}). The linear classifier reads the "
        f"same layers' full activity pattern, not one number per layer, and reaches {linear_pct:.2f} %. Over the "
        f"last {trend.get('points', 0)} goodness measurements (from epoch {trend.get('from_epoch', '?')}, while the "
        f"learning rate falls to zero) goodness accuracy moved by {rising:+.2f} pp per 10 epochs.")


def compare(runs: dict, root=None) -> pd.DataFrame:
    """One row per finished run of ``runs`` (label -> Config): its linear classifier's validation
    accuracy at the last epoch beside the goodness margins of layers 2..N summed (the inference's
    score), from :func:`run_or_load` (computed once, then read from ``results/diagnostics/``)."""
    from .experiments import load

    rows = []
    for label, config in runs.items():
        result = load(config, root)
        if result is None:
            continue
        margins, _, _ = run_or_load(result, root=root)
        total = margins.set_index("layer").loc[SUMMED]
        rows.append({"run": label, "linear [%]": 100 * result["val_acc_linear"],
                     "goodness [%]": total["true beats every wrong label [%]"],
                     "lead of the true label over the best wrong, median [% of θ]": total["(true - best wrong)/θ, median [%]"],
                     "true above θ [%]": total["true above θ [%]"],
                     "best wrong above θ [%]": total["best wrong above θ [%]"]})
    return pd.DataFrame(rows)


def compare_text(table: pd.DataFrame) -> str:
    """What :func:`compare` shows across runs of one network: how far linear and goodness accuracy
    spread, and how closely goodness follows the true label's lead (rank correlation)."""
    if len(table) < 2:
        return ""
    t = table.set_index("run")
    lin, good = t["linear [%]"], t["goodness [%]"]
    lead = t["lead of the true label over the best wrong, median [% of θ]"]
    rho = good.rank().corr(lead.rank())  # Spearman's rank correlation
    return (f"Across these {len(t)} runs of the same network, the linear classifier spans "
            f"{lin.min():.2f}–{lin.max():.2f} % ({lin.max() - lin.min():.2f} pp) while goodness inference spans "
            f"{good.min():.1f}–{good.max():.1f} % ({good.max() - good.min():.1f} pp): goodness is far more sensitive "
            f"to how the network was trained. It follows the true label's median lead over the best wrong label, "
            f"{lead.min():.2f}–{lead.max():.2f} % of θ (Spearman's rank correlation {rho:.2f} over the {len(t)} runs): "
            f"goodness inference lives on margins of at most {lead.max():.1f} % of θ, which the linear classifier, "
            "reading every neuron's activity rather than one sum per layer, does not need.")


COMMON = "share of layer 2's input common to every image [%]"


def seeds_text(table: pd.DataFrame) -> str:
    """What :func:`compare` shows across seeds of one configuration: mean ± std (n) of linear and
    goodness accuracy, of their gap, and of the true label's median lead; whether the gap holds for
    every seed. Empty below two seeds (no spread to give)."""
    if len(table) < 2:
        return ""
    t = table.set_index("run")
    lin, good = t["linear [%]"], t["goodness [%]"]
    lead = t["lead of the true label over the best wrong, median [% of θ]"]
    gap = lin - good

    def ms(v: pd.Series, digits: int) -> str:
        return f"{v.mean():.{digits}f} ± {v.std():.{digits}f}"
    every = (f"at least {gap.min():.2f} pp for every seed" if gap.min() > 0 else
             f"though goodness is ahead for {int((gap <= 0).sum())} of them (gap down to {gap.min():.2f} pp)")
    ratio = good.std() / max(lin.std(), 1e-9)
    spread = (f"Goodness varies from seed to seed {ratio:.0f} times as much as the linear classifier (std): "
              "whether goodness lags is settled by every seed, by how much depends on the seed." if ratio >= 2 else
              "Both vary from seed to seed by similar amounts (std).")
    return (f"Across the seeds of this network (mean ± std, n = {len(t)}): the linear classifier reaches "
            f"{ms(lin, 2)} % and goodness inference {ms(good, 1)} %, a gap of {ms(gap, 2)} pp, {every}; the true "
            f"label leads the best wrong one by {ms(lead, 2)} % of θ (median over images). {spread}")


@torch.no_grad()  # reads weights and one forward: no graph, and no warning on the page
def layer1_state(model, encoder, x: torch.Tensor, y: torch.Tensor, initial) -> dict:
    """What layer 1 hands on (App. B, issue #16): its weights' std and its biases against those of
    ``initial`` (the same network as initialized, :func:`initial_network`), its goodness over θ on
    positive overlays (median), and the *common share* of its normalized output, the input of layer
    2: the energy of the mean over images divided by the mean energy, 1 when every image looks the
    same to layer 2."""
    conv = model.convs[0]
    z = model.activations(encoder.overlay(x, y))[0].float()
    u = layer_norm(z).flatten(1)
    start = initial.convs[0]
    return {"weight std": float(conv.weight.std()), "initial weight std": float(start.weight.std()),
            "bias mean": float(conv.bias.mean()), "bias std": float(conv.bias.std()),
            "initial bias mean": float(start.bias.mean()),
            "goodness / θ, median": float((model.layer_goodness(0, z) / model.thresholds[0]).median()),
            COMMON: float(100 * u.mean(0).pow(2).mean() / u.pow(2).mean())}


def layer1_states(runs: dict, n_val: int = 2000, root=None) -> pd.DataFrame:
    """:func:`layer1_state` for every finished run of ``runs`` (label -> Config) on the first
    ``n_val`` validation images (positive overlays, as layer 2 sees them in training)."""
    from .experiments import load

    x, y = load_split("val", n_val, "cpu")
    rows = []
    for label, config in runs.items():
        result = load(config, root)
        if result is not None:
            rows.append({"run": label, **layer1_state(result.load_model("cpu"), config.label_encoder("cpu"), x, y,
                                                      initial_network(config)),
                         "layer 1 discrimination, last epoch [%]": 100 * float(result.metrics["disc_acc_layer1"].iloc[-1])})
    return pd.DataFrame(rows)


def layer1_text(states: pd.DataFrame) -> str:
    """:func:`layer1_states` of the excluded (first row) and included (second row) arm, in words."""
    if len(states) < 2:
        return ""
    ex, inc = states.iloc[0], states.iloc[1]
    return (f"What training layer 1 did to it: its biases went from {inc['initial bias mean']:.2f} (mean) to "
            f"{inc['bias mean']:.2f} ± {inc['bias std']:.2f} "
            f"(excluded: {ex['bias mean']:.2f}), while its weights' std went from {inc['initial weight std']:.3f} to "
            f"{inc['weight std']:.3f}; its goodness sits at {inc['goodness / θ, median']:.2f} θ (median; "
            f"excluded: {ex['goodness / θ, median']:.2f} θ). Of the normalized activity layer 2 receives, only "
            f"{100 - inc[COMMON]:.1f} % differs from one image to the next with layer 1 in the loss, against "
            f"{100 - ex[COMMON]:.1f} % without (the rest, the energy of the mean over images, is the same for "
            "every image). Layer 1 alone tells positive from negative data "
            f"{inc['layer 1 discrimination, last epoch [%]']:.1f} % of the time at the last epoch (chance: 50 %), so "
            "its loss falls most by holding every image's goodness at θ, and the bias that does so drowns the image "
            "in what it passes on.")


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
def initial_network(config):
    """The network a run of ``config`` starts from: its initial weights, drawn under its seed."""
    torch.manual_seed(config.seed)
    return config.network()


@torch.no_grad()  # a forward only: no graph, and no warning in the book when its scalars are read
def goodness_at_init(config, n: int = 200) -> list[float]:
    """Each layer's mean goodness over its threshold θ at initialization (seed ``config.seed``),
    on positive overlays of the first ``n`` training images: how far from θ training starts."""
    model, encoder = initial_network(config), config.label_encoder("cpu")
    x, y = load_split("train", n, "cpu")
    zs = model.activations(encoder.overlay(x, y))
    return [float(model.layer_goodness(i, z).mean() / t) for i, (z, t) in enumerate(zip(zs, model.thresholds))]
