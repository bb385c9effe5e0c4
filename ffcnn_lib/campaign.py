"""The CPU campaign: the paper's small networks at its exact settings, trained on a laptop-class CPU.

Several cells of the paper use networks small enough for two CPU cores at the paper's settings (200
epochs, batch 50, the full 50,000/10,000 split, Adam 5e-5 for FF and 1e-3 for BP). :data:`CELLS`
lists them in order of value; each is the ``paper``-profile run (seed 0 first) of one cell of an
artifact in :data:`~ffcnn_lib.sweeps.ARTIFACTS`, so the book picks it up as a paper-profile number.

A 16-filter run takes hours on two cores, longer than a work session may train. So
``python -m ffcnn_lib campaign --budget-minutes 150`` (run it under ``nice``) trains the first
unfinished cells until its budget is spent, stopping at an epoch boundary; the resume point
(``results/partial/<run id>.pt``, a few MB) sits beside the per-epoch record and both are
committed, so the next session, on any machine, resumes where this one stopped. With
``--workers 2`` two processes of one thread each train the first two unfinished cells side by side
(each claims its cell, :func:`~ffcnn_lib.experiments.claim`), which gets more out of two cores than
one process with two threads.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .config import Config
from .experiments import claim, load, load_partial, results_dir, run_or_load
from .sweeps import ARTIFACTS, PROFILE, cell_key


@dataclass(frozen=True)
class Cell:
    """One cell of an artifact, found by the fields that single it out (e.g. ``filters``, ``kernel``)."""

    name: str
    artifact: str
    match: dict = field(default_factory=dict)
    seed: int = 0
    also: tuple[str, ...] = ()  # other artifacts that hold the same run (the book shows it there too)
    change: dict = field(default_factory=dict)  # fields changed from the artifact's config (an investigation)

    def paper(self) -> Config:
        """The cell's config at the paper's settings, as the artifact defines it (one source of truth)."""
        found = [c for c in ARTIFACTS[self.artifact]()
                 if all(getattr(c, k) == (tuple(v) if isinstance(v, list) else v) for k, v in self.match.items())]
        if len(found) != 1:
            raise LookupError(f"{self.artifact}: {len(found)} configs match {self.match}; expected one")
        return found[0].replace(**self.change) if self.change else found[0]

    def config(self, profile: str = "paper") -> Config:
        """The run: the paper profile (200 epochs, full data) for this cell's seed (tests: ``smoke``)."""
        return PROFILE[profile].apply(self.paper(), self.seed)


def _w(filters: int) -> tuple[int, int, int]:
    return (filters,) * 3


# The order of issue #9: the baselines of Sec. 3.1 and Table 3 first (the 16x5x5 FF network is also
# the CAM network), then the 16-filter points of Fig. 3A / 4B, Table 2's pair, then second seeds.
CELLS: list[Cell] = [
    Cell("FF 16x5x5, bf16 twin (issue 17)", "cam", change={"precision": "bf16"}),
    Cell("FF 16x5x5, PyTorch init (issue 16)", "cam", change={"init": "torch"}),
    Cell("FF 16x5x5, fan-in init (issue 16)", "cam", change={"init": "fanin"}),
    Cell("BP 16x5x5 (Sec. 3.1)", "bp"),
    Cell("FF 16x5x5 (Table 3, CAMs)", "cam", also=("table3", "fig4b")),
    Cell("FF 16x5x5, max pooling (Table 3)", "table3", {"filters": _w(16), "kernel": 5, "max_pool": True}),
    Cell("FF 16x7x7 (Fig. 3A, 4B)", "fig3a", {"model": "ff", "filters": _w(16)}, also=("fig4b",)),
    Cell("BP 16x7x7 (Fig. 3A)", "fig3a", {"model": "bp", "filters": _w(16)}),
    Cell("FF 16x3x3 (Fig. 4B)", "fig4b", {"filters": _w(16), "kernel": 3}),
    Cell("FF 32x3x3, label set 1 (Table 2)", "table2", {"filters": _w(32), "kernel": 3, "label_set": "set1"}),
    Cell("FF 32x3x3, label set 2 (Table 2)", "table2", {"filters": _w(32), "kernel": 3, "label_set": "set2"}),
    Cell("FF 16x5x5 (Table 3), seed 1", "table3", {"filters": _w(16), "kernel": 5, "max_pool": False}, seed=1,
         also=("fig4b",)),
    Cell("FF 16x5x5, max pooling (Table 3), seed 1", "table3",
         {"filters": _w(16), "kernel": 5, "max_pool": True}, seed=1),
    Cell("BP 16x5x5 (Sec. 3.1), seed 1", "bp", seed=1),
]


def checkpoint_dir(root: Path | None = None) -> Path:
    """Where campaign runs keep their resume points: committed, beside their per-epoch records."""
    return (root or results_dir()) / "partial"


def run(budget_s: float, device: str = "cpu", progress: bool = True, root: Path | None = None,
        cells: list[Cell] | None = None, profile: str = "paper", min_left_s: float = 60.0) -> int:
    """Train the first unfinished cells within ``budget_s`` seconds; returns how many cells are finished.

    Validation by goodness every 10 epochs (the paper profile's setting: it costs ~20 s on two
    cores), by the linear classifier every epoch; weights are kept (CAMs, re-evaluation).
    """
    t0 = time.perf_counter()
    cells = CELLS if cells is None else cells
    for cell in cells:
        config = cell.config(profile)
        if load(config, root) is not None:
            continue
        left = budget_s - (time.perf_counter() - t0)
        if left < min_left_s:  # not even one epoch of the smallest cell fits
            break
        with claim(f"campaign-{config.run_id()}", root) as mine:
            if not mine:  # another worker (``--workers``) trains this cell: take the next one
                print(f"campaign: {cell.name}: another campaign process trains it; next cell", flush=True)
                continue
            print(f"campaign: {cell.name}: {config.run_id()} ({left / 60:.0f} min left)", flush=True)
            result = run_or_load(config, device=device, time_budget_s=left, save_weights=True, progress=progress,
                                 goodness_every=PROFILE["paper"].goodness_every, root=root,
                                 checkpoint_dir=checkpoint_dir(root))
        if result is None:
            break  # out of budget: the resume point and the per-epoch record are in results/partial
    return sum(load(c.config(profile), root) is not None for c in cells)


def _progress(config: Config, root: Path | None) -> tuple[pd.DataFrame, dict] | None:
    """Per-epoch metrics of an unfinished run: from its resume point while it trains (newer), else
    from its partial record; with the partial record's provenance where there is one."""
    import torch

    partial = load_partial(config, root)
    info = partial[1] if partial else {"provenance": {"device": ""}}
    for folder in (checkpoint_dir(root), (root or results_dir()) / "checkpoints"):
        path = folder / f"{config.run_id()}.pt"
        if path.exists():
            try:
                state = torch.load(path, map_location="cpu", weights_only=True)
            except (RuntimeError, EOFError, OSError):  # being replaced this instant: use the record
                break
            if state["histories"][0]:
                return pd.DataFrame(state["histories"][0]), info
    return partial


def _val_acc(metrics: pd.DataFrame) -> pd.Series:
    """Per-epoch validation accuracy: the network's output for BP, the linear classifier for FF."""
    return metrics["val_acc"] if "val_acc" in metrics else metrics["val_acc_linear"]


def status(root: Path | None = None, cells: list[Cell] | None = None, profile: str = "paper") -> pd.DataFrame:
    """One row per cell: finished, partial (epochs done) or not started, with accuracies so far,
    training time, device and the estimated time left (at the cell's fastest measured epoch, i.e.
    on a machine left to the campaign)."""
    rows = []
    for cell in CELLS if cells is None else cells:
        c = cell.config(profile)
        row = {"cell": cell.name, "run_id": c.run_id(), "epochs": c.epochs}
        result = load(c, root)
        if result is not None:
            prov, final = result.summary["provenance"], result.summary["final"]
            row.update(status="finished", epochs_done=len(result.metrics), device=prov["device"],
                       train_hours=prov["train_seconds"] / 3600, left_hours=0.0,
                       val_acc=final.get("val_acc_bp", final.get("val_acc_linear")),
                       val_acc_goodness=final.get("val_acc_goodness", math.nan))
        elif (progress := _progress(c, root)) is not None:
            metrics, info = progress
            # The fastest epoch measured: a session's other work slows a niced run down, so the
            # typical epoch says more about that session than about the next one.
            epoch_s = metrics["epoch_s"].min()
            val = _val_acc(metrics)
            good = metrics["val_acc_goodness"].dropna() if "val_acc_goodness" in metrics else pd.Series(dtype=float)
            row.update(status="partial", epochs_done=len(metrics), device=info["provenance"]["device"],
                       train_hours=metrics["epoch_s"].sum() / 3600,
                       left_hours=(c.epochs - len(metrics)) * epoch_s / 3600, val_acc=val.iloc[-1],
                       val_acc_goodness=good.iloc[-1] if len(good) else math.nan)
        else:
            row.update(status="not started", epochs_done=0, device="", train_hours=0.0, left_hours=math.nan,
                       val_acc=math.nan, val_acc_goodness=math.nan)
        rows.append(row)
    return pd.DataFrame(rows)


def reported_val(cell: Cell) -> float:
    """The validation accuracy (percent) the paper reports for the cell's configuration (linear
    classifier for FF, the network's output for BP), or NaN where it shows the cell only in a plot."""
    from .report import KEY, reported

    ours = cell_key(cell.paper())
    for artifact in (cell.artifact, *cell.also):
        rep = reported(artifact)
        rep = rep[(rep["split"] == "val") & rep["method"].isin(["linear", "bp"])]
        for _, r in rep.iterrows():
            if all(str(r[k]) == str(ours[k]) for k in KEY):
                return float(r["value"])
    return math.nan


def curves(root: Path | None = None, cells: list[Cell] | None = None, profile: str = "paper") -> pd.DataFrame:
    """Per-epoch validation accuracy of every started cell, finished or not, in long form: cell,
    epoch, val_acc (linear classifier for FF, the network's output for BP), val_acc_goodness (every
    10 epochs), status, and the paper's reported value where it gives one (``reported_pct``)."""
    frames = []
    for cell in CELLS if cells is None else cells:
        c = cell.config(profile)
        result = load(c, root)
        if result is not None:
            metrics = result.metrics
        elif (progress := _progress(c, root)) is not None:
            metrics = progress[0]
        else:
            continue
        if metrics.empty:
            continue
        good = metrics["val_acc_goodness"] if "val_acc_goodness" in metrics else math.nan
        frames.append(pd.DataFrame({"cell": cell.name, "epoch": metrics["epoch"], "val_acc": _val_acc(metrics),
                                    "val_acc_goodness": good, "epochs": c.epochs,
                                    "status": "finished" if result is not None else "partial",
                                    "reported_pct": reported_val(cell)}))
    columns = ["cell", "epoch", "val_acc", "val_acc_goodness", "epochs", "status", "reported_pct"]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)
