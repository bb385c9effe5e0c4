"""One figure style for the whole book, and the writers of figures and tables to ``results/``."""
from __future__ import annotations

from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import pandas as pd

from .experiments import results_dir

# Paper colours where its captions name them: layer 2 red, layer 3 blue, combined/training green.
LAYER_COLORS = {"layer2": "tab:red", "layer3": "tab:blue", "combined": "tab:green"}
KERNEL_COLORS = {3: "tab:purple", 5: "tab:orange", 7: "tab:green"}
FF_COLOR, BP_COLOR = "tab:green", "tab:gray"


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


def save_figure(fig: plt.Figure, name: str) -> Path:
    """Write ``results/figures/<name>.png`` and ``.svg``; returns the PNG path."""
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


def pct(x: float, digits: int = 2) -> str:
    """A fraction as a percentage string, e.g. 0.99161 -> '99.16 %'."""
    return "n/a" if pd.isna(x) else f"{100 * x:.{digits}f} %"


def mark_profiles(ax, x, y, profiles, base: str) -> None:
    """Write its profile beside each point (x, y) that does not come from ``base``, the least
    faithful profile of the figure (:func:`ffcnn_lib.sweeps.profile_note` names it in the title),
    so that a figure whose cells come from different profiles says which is which."""
    for xi, yi, p in zip(x, y, profiles):
        if p != base:
            ax.annotate(p, (xi, yi), textcoords="offset points", xytext=(-4, 5), ha="right", fontsize=7)
