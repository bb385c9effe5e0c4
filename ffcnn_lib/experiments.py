"""The result cache: every number in the book comes from a run stored here, with its provenance.

Layout, one folder per run id (see :meth:`Config.run_id`):

    results/runs/<run id>/config.json       the Config
                         /metrics.csv       one row per epoch (losses, accuracies, lr, time)
                         /summary.json      final accuracies, confusion matrices, provenance
                         /weights.safetensors  (optional, fp16) the trained network
    results/checkpoints/<run id>.pt         resume point of an unfinished run (not committed)
    results/partial/<run id>.metrics.csv    per-epoch record of an unfinished run (+ .json, provenance)

A run folder is written under a temporary name and renamed into place, so a reader sees a whole
result or none; an interrupted training resumes from its checkpoint.
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import os
import platform
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no cross-process lock
    fcntl = None  # type: ignore[assignment]

from . import __version__
from .config import ALGORITHM_VERSION, Config

REPO = Path(__file__).resolve().parent.parent


def results_dir() -> Path:
    """``$FFCNN_RESULTS`` if set, else ``results/`` of this checkout."""
    env = os.environ.get("FFCNN_RESULTS")
    return Path(env) if env else REPO / "results"


@dataclass
class Result:
    """A finished run as stored: its config, per-epoch metrics and summary."""

    config: Config
    metrics: pd.DataFrame
    summary: dict
    path: Path

    def __getitem__(self, key: str):
        return self.summary["final"][key]

    def load_model(self, device: str = "cpu") -> torch.nn.Module:
        """The trained network, if the run kept its weights (``save_weights=True``)."""
        path = self.path / "weights.safetensors"
        if not path.exists():
            raise FileNotFoundError(f"run {self.path.name} kept no weights; rerun with save_weights=True")
        from safetensors.torch import load_file
        c = self.config
        model = c.network()
        model.load_state_dict({k: v.float() for k, v in load_file(path).items()})
        return model.to(device).eval()


def _git_commit() -> str:
    try:
        out = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True).stdout.strip()
        return out.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def provenance(outcome) -> dict:
    """Who made this number, where and how: commit, versions, device, precision, wall time."""
    import numpy
    return {
        "git_commit": _git_commit(),
        "algorithm_version": ALGORITHM_VERSION,
        "versions": {"ffcnn_lib": __version__, "python": platform.python_version(), "torch": torch.__version__,
                     "numpy": numpy.__version__, "pandas": pd.__version__},
        "device": outcome.device,
        "precision": outcome.precision,
        "evaluation_precision": "fp32",  # reported accuracies; after bf16 training also *_bf16 in "final"
        "compiled": outcome.compiled,
        "backward": "layer-wise" if outcome.layerwise else "summed",
        "train_seconds": round(outcome.train_seconds, 2),
        "finished": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "seed": outcome.config.seed,
        "stacked_runs": outcome.stacked,  # networks trained side by side (train_seconds is their total)
    }


def load(config: Config, root: Path | None = None) -> Result | None:
    """The stored result of ``config``, or None if it has not been run."""
    path = (root or results_dir()) / "runs" / config.run_id()
    if not (path / "summary.json").exists():
        return None
    summary = json.loads((path / "summary.json").read_text())
    return Result(Config.from_dict(summary["config"]), pd.read_csv(path / "metrics.csv"), summary, path)


def _store(outcome, root: Path, save_weights: bool) -> Result:
    run_id = outcome.config.run_id()
    final_dir = root / "runs" / run_id
    final_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{run_id}.", dir=final_dir.parent))
    tmp.chmod(0o755)  # mkdtemp's 0700 would hide the run from other users of a shared cache
    summary = {"run_id": run_id, "config": outcome.config.to_dict(), "final": outcome.final,
               "epochs_run": len(outcome.history), "provenance": provenance(outcome)}
    (tmp / "config.json").write_text(json.dumps(outcome.config.to_dict(), indent=1))
    pd.DataFrame(outcome.history).to_csv(tmp / "metrics.csv", index=False)
    if save_weights:
        from safetensors.torch import save_file
        state = {k: v.detach().to("cpu", torch.float16).contiguous() for k, v in outcome.model.state_dict().items()}
        save_file(state, tmp / "weights.safetensors")
    (tmp / "summary.json").write_text(json.dumps(summary, indent=1))
    if final_dir.exists():  # a forced rerun replaces the old result only once the new one is whole
        shutil.rmtree(final_dir)
    os.replace(tmp, final_dir)
    return load(outcome.config, root)  # type: ignore[return-value]


def run_or_load(config: Config, **kwargs) -> Result | None:
    """The stored result of ``config`` if there is one (instant), else train it and store the result.

    With ``time_budget_s`` an unfinished run leaves a checkpoint and returns None; the next call
    resumes it. ``force`` retrains even if a result exists. Other keyword arguments: see
    :func:`run_or_load_many`.
    """
    return run_or_load_many([config], **kwargs)[0]


def run_or_load_many(configs: list[Config], *, device: str | None = "auto", force: bool = False,
                     save_weights: bool = False, time_budget_s: float | None = None, progress: bool = True,
                     root: Path | None = None, **train_kwargs) -> list[Result | None]:
    """Stored results of ``configs``, training the missing ones side by side in one pass
    (:func:`ffcnn_lib.train.train_many`; they may differ only in seed and K), each stored as its own
    result. ``None`` for runs left unfinished at ``time_budget_s``. Remaining keyword arguments go
    to :func:`ffcnn_lib.train.train_many` (``fast``, ``compile``, ``goodness_every``...).

    ``force`` ignores stored results. A checkpoint of an unfinished run is always resumed: its name
    holds the run ids, which hold the config and the algorithm version.
    """
    from .train import train_many

    root = root or results_dir()
    todo = [c for c in dict.fromkeys(configs) if force or load(c, root) is None]
    if todo:
        (root / "checkpoints").mkdir(parents=True, exist_ok=True)
        with contextlib.ExitStack() as locks:
            for run_id in sorted(c.run_id() for c in todo):  # one order: no deadlock between two callers
                locks.enter_context(_run_lock(root / "checkpoints" / f"{run_id}.lock"))
            # Another process may have finished some of these while we waited for the locks.
            todo = [c for c in todo if force or load(c, root) is None]
            if todo:
                ids = sorted(c.run_id() for c in todo)
                name = ids[0] if len(ids) == 1 else f"stack-{hashlib.sha256(' '.join(ids).encode()).hexdigest()[:12]}"
                ckpt = root / "checkpoints" / f"{name}.pt"
                outcomes = train_many(todo, device, checkpoint=ckpt, time_budget_s=time_budget_s,
                                      progress=progress, **train_kwargs)
                for outcome in outcomes:
                    if outcome.complete:
                        _store(outcome, root, save_weights)
                    _record_partial(outcome, root)
                if outcomes[0].complete:
                    ckpt.unlink(missing_ok=True)
    return [load(c, root) for c in configs]


@contextlib.contextmanager
def _run_lock(path: Path):
    """An exclusive lock on one run, so two processes (Dask workers, users) never train it twice."""
    with open(path, "a") as fh:
        if fcntl is not None:
            fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            if fcntl is not None:
                fcntl.flock(fh, fcntl.LOCK_UN)


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that a reader sees the old file or the new one, never half of one."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def _record_partial(outcome, root: Path) -> None:
    """Keep the per-epoch record of an unfinished run in ``results/partial/`` (small, committable:
    the progress of a long GPU run survives the loss of its checkpoint); a finished run removes it."""
    base = root / "partial"
    run_id = outcome.config.run_id()
    csv, info = base / f"{run_id}.metrics.csv", base / f"{run_id}.json"
    if outcome.complete:
        csv.unlink(missing_ok=True)
        info.unlink(missing_ok=True)
        return
    base.mkdir(parents=True, exist_ok=True)
    write_atomic(csv, pd.DataFrame(outcome.history).to_csv(index=False))
    write_atomic(info, json.dumps({
        "run_id": run_id,
        "status": f"incomplete: stopped at its time budget after epoch {len(outcome.history)} of "
                  f"{outcome.config.epochs}; resumes from results/checkpoints/ where that survives",
        "config": outcome.config.to_dict(), "provenance": provenance(outcome)}, indent=1))


def load_partial(config: Config, root: Path | None = None) -> tuple[pd.DataFrame, dict] | None:
    """Per-epoch metrics and provenance of an *unfinished* run recorded in ``results/partial/``
    (a long run whose machine was taken back before it finished), or None."""
    base = (root or results_dir()) / "partial"
    csv, info = base / f"{config.run_id()}.metrics.csv", base / f"{config.run_id()}.json"
    if not (csv.exists() and info.exists()):
        return None
    return pd.read_csv(csv), json.loads(info.read_text())
