"""One figure style for the whole book, the writers of figures and tables to ``results/``, and the
figures the chapters share.

* :func:`setup`, :func:`save_figure` (a narrow build's figure says so in its title),
  :func:`save_table`, and the paper's colours;
* :func:`plot_profiles` (one line per profile, a marker per profile: points of different profiles
  are never joined), :func:`with_width`, :func:`width_axis` (the widths actually trained),
  :func:`fit_accuracy_axis` (an accuracy axis as wide as the data, not as matplotlib's lone point);
* :func:`validation_curves` (of a ``pages.longest_record`` record), :func:`training_curves` (Fig. 3C, 3D).

What a chapter shows around its figures (evidence only, its tables, its lead paragraph) is
:mod:`ffcnn_lib.pages`.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .experiments import results_dir
from .pages import narrow, profile_settings

# Paper colours where its captions name them: layer 2 red, layer 3 blue, combined/training green.
LAYER_COLORS = {"layer2": "tab:red", "layer3": "tab:blue", "combined": "tab:green"}
KERNEL_COLORS = {3: "tab:purple", 5: "tab:orange", 7: "tab:green"}
FF_COLOR, BP_COLOR = "tab:green", "tab:gray"
# One marker per profile; narrow profiles hollow. Points of different profiles are never joined.
PROFILE_MARKERS = {"paper": "o", "short": "s", "cpu": "^", "smoke": "x"}


def setup() -> None:
    """The book's plotting style (seaborn 'ticks', readable sizes, no figure pop-ups in scripts)."""
    import seaborn as sns

    if matplotlib.get_backend().lower() not in ("agg",) and not _in_notebook():
        matplotlib.use("Agg")
    sns.set_theme(context="notebook", style="ticks", font_scale=0.95)
    plt.rcParams.update({"figure.dpi": 110, "savefig.dpi": 150, "axes.grid": True, "grid.alpha": 0.3,
                         "figure.constrained_layout.use": True, "svg.hashsalt": "ffcnn"})


def _in_notebook() -> bool:
    try:
        from IPython import get_ipython
        return get_ipython() is not None
    except ImportError:
        return False


def save_figure(fig: plt.Figure, name: str, profile: str | None = None) -> Path:
    """Write ``results/figures/<name>.png`` and ``.svg``; returns the PNG path. With the ``profile``
    of an explicit narrow build, the figure first gets a title saying that it is a pipeline check."""
    if profile in narrow():
        note = f"{profile} profile ({profile_settings(profile).split(';')[0]}): a pipeline check, not a result"
        title = fig.get_suptitle()
        fig.suptitle(f"{title}\n{note}" if title else note, fontsize=8 if not title else 9)
    out = results_dir() / "figures"
    out.mkdir(parents=True, exist_ok=True)
    fig.savefig(out / f"{name}.svg", metadata={"Date": None})
    fig.savefig(out / f"{name}.png")
    return out / f"{name}.png"


def save_table(df: pd.DataFrame, name: str) -> Path:
    """Write ``results/tables/<name>.csv``."""
    out = results_dir() / "tables"
    out.mkdir(parents=True, exist_ok=True)
    df.to_csv(out / f"{name}.csv", index=False)
    return out / f"{name}.csv"


# ---------------------------------------------------------------------------------------------
# Figures: widths as trained, one line per profile.

def with_width(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with ``width``, the first layer's filters *as trained* (``run_filters``: narrow
    profiles divide the paper's widths by 8), and ``paper_width``, the paper's."""
    run = df["run_filters"] if "run_filters" in df else df["filters"]
    return df.assign(width=run.astype(str).str.split("-").str[0].astype(int),
                     paper_width=df["filters"].astype(str).str.split("-").str[0].astype(int))


def width_axis(ax, widths, label: str = "filters per layer (as trained)") -> None:
    """A log2 axis with a tick at each width actually trained."""
    ws = sorted({int(w) for w in widths})
    ax.set_xscale("log", base=2)
    if ws:
        ax.set_xticks(ws, [str(w) for w in ws])
        ax.set_xlim(ws[0] / 1.4, ws[-1] * 1.4)
    ax.minorticks_off()
    ax.set_xlabel(label)


def plot_profiles(ax, d: pd.DataFrame, x: str, y: str, *, yerr: str | None = None, color=None, label: str = "",
                  ls: str = "-", scale: float = 100.0, **kw) -> None:
    """Plot ``d[y]`` (x ``scale``) against ``d[x]``, one line per profile, each profile with its own
    marker (hollow for narrow profiles): points of different profiles are never joined. The axis
    keeps autoscaling, so what is plotted later shows; :func:`fit_accuracy_axis` then fits it."""
    from .sweeps import by_fidelity

    for p in by_fidelity(d["profile"]):
        g = d[d["profile"] == p].sort_values(x)
        err = None if yerr is None else scale * g[yerr].fillna(0).to_numpy()
        ax.errorbar(g[x], scale * g[y], yerr=err, marker=PROFILE_MARKERS.get(p, "D"), ls=ls if len(g) > 1 else "none",
                    color=color, mfc="none" if p in narrow() else color, capsize=3, label=f"{label} ({p})".strip(),
                    **kw)


def fit_accuracy_axis(axes, pad: float = 0.3) -> None:
    """Fit the (shared) accuracy axis of ``axes`` to what they plot, error bars included, with
    ``pad`` percentage points (at least 5 % of the range) either side and never beyond 100 %.

    Matplotlib widens the axis of a lone point by 5 % of its value: 98 % becomes 93-103 %, and the
    0.3 pp differences that the paper's figures are about flatten into one line. Call it once the
    panels hold everything they plot (it turns their autoscaling off)."""
    axes = list(np.ravel(axes))
    ys = [a.dataLim.intervaly for a in axes if np.isfinite(a.dataLim.intervaly).all()]
    if not ys:
        return
    lo, hi = min(y[0] for y in ys), max(y[1] for y in ys)
    margin = max(pad, 0.05 * (hi - lo))
    for a in axes:
        a.set_ylim(lo - margin, min(hi + margin, 100.2))


# ---------------------------------------------------------------------------------------------
# Per-epoch curves of one run.

def validation_curves(rec: dict, reported: dict[str, float] | None = None, name: str | None = None) -> plt.Figure:
    """Validation accuracy per epoch of a :func:`longest_record` record: linear classifier every
    epoch, goodness where it was measured, the paper's values dashed, the planned length as x-range
    and the start of the learning-rate cooldown dotted."""
    m = rec["metrics"]
    fig, ax = plt.subplots(figsize=(6, 3.4))
    if "val_acc_linear" in m:
        ax.plot(m.epoch, 100 * m.val_acc_linear, color="tab:gray", lw=1, label="linear classifier (every epoch)")
    if "val_acc_goodness" in m:
        g = m.dropna(subset=["val_acc_goodness"])
        ax.plot(g.epoch, 100 * g.val_acc_goodness, "o-", color=FF_COLOR, ms=4, label="goodness (every 10 epochs)")
    styles = {"goodness": ("--", FF_COLOR), "linear": (":", "tab:gray")}
    for method, value in (reported or {}).items():
        ls, color = styles.get(method, ("--", "k"))
        ax.axhline(value, ls=ls, color=color, lw=1, label=f"reported, {method} ({rec['epochs']} epochs)")
    ax.axvline(rec["epochs"] // 2 + 1, ls=":", color="k", lw=0.7)
    ax.set_xlim(0, rec["epochs"]), ax.set_ylim(96, 99.6)
    ax.set_xlabel("epoch (dotted: cooldown starts)"), ax.set_ylabel("validation accuracy [%]")
    state = ("finished" if rec["status"] == "finished" else
             f"interrupted at epoch {rec['epochs_done']} of {rec['epochs']}")
    ax.set_title(f"{rec['profile']} profile, {state}", fontsize=9), ax.legend(fontsize=7, loc="lower right")
    if name:
        save_figure(fig, name)
    return fig


def training_curves(m: pd.DataFrame, title: str, name: str | None = None, profile: str | None = None) -> plt.Figure:
    """Fig. 3C and 3D: discrimination loss and accuracy of the layers in the loss (layer 2 red,
    layer 3 blue), the combined loss and the linear classifier's training accuracy (green)."""
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.6))
    a.plot(m.epoch, m.loss_layer2, color=LAYER_COLORS["layer2"], label="layer 2")
    a.plot(m.epoch, m.loss_layer3, color=LAYER_COLORS["layer3"], label="layer 3")
    a.plot(m.epoch, m.combined_loss, color=LAYER_COLORS["combined"], label="combined (2 + 3)")
    a.set_yscale("log"), a.set_xlabel("epoch"), a.set_ylabel("discrimination loss"), a.legend(), a.set_title("C")
    b.plot(m.epoch, 100 * m.disc_acc_layer2, color=LAYER_COLORS["layer2"], label="layer 2 discrimination")
    b.plot(m.epoch, 100 * m.disc_acc_layer3, color=LAYER_COLORS["layer3"], label="layer 3 discrimination")
    b.plot(m.epoch, 100 * m.train_acc, color=LAYER_COLORS["combined"], label="training accuracy")
    b.set_xlabel("epoch"), b.set_ylabel("accuracy [%]"), b.legend(), b.set_title("D")
    fig.suptitle(title, fontsize=10)
    if name:
        save_figure(fig, name, profile)
    return fig


# ---------------------------------------------------------------------------------------------
# Class activation maps (Sec. 3.3): yellow beneficial, pink deleterious, as in the paper.

def cam_image(ax, cam) -> None:
    """Draw one CAM (H, W) on ``ax``, white at zero, symmetric around it (Fig. 6, 7's colours)."""
    from matplotlib.colors import LinearSegmentedColormap, TwoSlopeNorm

    cmap = LinearSegmentedColormap.from_list("pink_yellow", ["#d6287f", "#ffffff", "#f2c200"])
    lim = float(abs(cam).max()) or 1.0
    ax.imshow(cam, cmap=cmap, norm=TwoSlopeNorm(0, -lim, lim))
    ax.set_xticks([]), ax.set_yticks([]), ax.grid(False)
