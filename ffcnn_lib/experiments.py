"""The result cache: every number in the book comes from a run stored here, with its provenance.

Layout, one folder per run id (see :meth:`Config.run_id`):

    results/runs/<run id>/config.json       the Config
                         /metrics.csv       one row per epoch (losses, accuracies, lr, time)
                         /summary.json      final accuracies, confusion matrices, provenance
                         /weights.safetensors  (optional, fp16) the trained network
    results/checkpoints/<run id>.pt         resume point of an unfinished run (not committed)
    results/partial/<run id>.metrics.csv    per-epoch record of an unfinished run (+ .json, provenance)
    results/partial/<run id>.pt             resume point of an unfinished CPU campaign run (small,
                                            committed so that the next session resumes it; see campaign.py)

A run folder is written under a hidden temporary name and swapped into place (see :func:`_store`),
so a reader sees a whole result, never half of one, and a kill at any moment loses no stored result;
hidden folders in ``results/runs`` are never read as results. An interrupted training resumes from
its checkpoint, which is also written after the last epoch, so a failed evaluation or store
resumes there.

A change to the numerical code (model, labels, train, inference) that alters results needs an
``ALGORITHM_VERSION`` bump, else the cache serves the old results; each run records the hash of
that code (``code_hash`` in its provenance, :data:`CODE_HASH`) so that such results can be found
(:func:`ffcnn_lib.equivalence.other_code`).
"""
from __future__ import annotations

import contextlib
import ctypes
import datetime as _dt
import errno
import functools
import hashlib
import io
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no cross-process lock
    fcntl = None  # type: ignore[assignment]

from . import __version__, machine
from .config import ALGORITHM_VERSION, Config

REPO = Path(__file__).resolve().parent.parent
RUN_FILES = ("config.json", "metrics.csv", "summary.json")  # a run folder without all of them is no result
NUMERICAL_CODE = ("model.py", "labels.py", "train.py", "inference.py")  # what makes the numbers
LEFTOVER_AGE_S = 3600  # a store takes seconds: a hidden folder this old was left by a killed one


def code_hash(package: Path = Path(__file__).parent) -> str:
    """The hash of the numerical code in ``package`` (this library's by default)."""
    h = hashlib.sha256()
    for name in NUMERICAL_CODE:
        h.update((package / name).read_bytes())
    return h.hexdigest()[:12]


CODE_HASH = code_hash()  # taken at import: the code this process runs, recorded in each run's provenance


class ResultError(RuntimeError):
    """A stored result is incomplete or corrupt; the message names the file and the fix."""


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


CODE_PATHS = ("ffcnn_lib", "pyproject.toml", "requirements.txt")  # what "-dirty" in a run's commit is about


def _git_commit() -> str:
    try:
        out = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True, check=True)
        # Code only: a campaign rewrites its committed resume points in results/ as it trains.
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no", "--",
                                *CODE_PATHS], capture_output=True, text=True).stdout.strip()
        return out.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def segments(outcome, before: list[dict]) -> list[dict]:
    """Which device trained which epochs: ``before`` (the segments recorded at the run's earlier
    stops, see :func:`_earlier_segments`) plus this process's, merged where the device is the same.

    A run resumed across sessions or GPU calls may have changed machine or thread count, so one
    device name would misstate where its wall time was spent. Epochs trained by a process killed
    between two stops are counted in the next process's segment (its checkpoint carried them)."""
    earlier_s = sum(s["seconds"] for s in before)
    if outcome.train_seconds < earlier_s - 1:
        before, earlier_s = [], 0.0  # the resume point was lost and the run restarted: the earlier segments are void
    start = before[-1]["epochs"][1] + 1 if before else 1
    end = len(outcome.history)
    if end < start:
        return list(before)
    seconds = round(outcome.train_seconds - earlier_s, 2)
    validation = getattr(outcome, "validation", "fp32")
    # Precision too: a precision="auto" run resumed on another machine kind may change it (issue #17);
    # and the precision of its per-epoch validation, in the training precision before 2026-12-02.
    if before and before[-1]["device"] == outcome.device and before[-1].get("precision") == outcome.precision \
            and before[-1].get("validation") == validation:
        last = before[-1]
        return before[:-1] + [{**last, "epochs": [last["epochs"][0], end], "seconds": last["seconds"] + seconds}]
    return before + [{"epochs": [start, end], "device": outcome.device, "precision": outcome.precision,
                      "validation": validation, "seconds": seconds}]


_VALIDATED_IN = {"fp32": "fp32", "bf16": "bf16", "bf16-autocast": "bf16"}  # a precision name -> "fp32" / "bf16"


def validation_precision(prov: dict, epochs: int, forced: str = "auto") -> list[str]:
    """The precision each epoch's validation ran in (the run's curve points), from a run's
    provenance: a segment's ``validation``; before segments said so, the segment's training
    precision; where that is missing too, the config's ``forced`` precision (Config.precision),
    else the run's one precision, else "not recorded". The last epoch's goodness point comes from
    the final evaluation, always fp32 (:func:`ffcnn_lib.train._final_evaluation`)."""
    unrecorded = _VALIDATED_IN.get(forced) or _VALIDATED_IN.get(prov.get("precision"), "not recorded")
    out = [unrecorded] * epochs
    for s in prov.get("segments", []):
        p = s.get("validation") or _VALIDATED_IN.get(s.get("precision"), unrecorded)
        for e in range(s["epochs"][0], min(s["epochs"][1], epochs) + 1):
            out[e - 1] = p
    return out


def _earlier_segments(config: Config, root: Path) -> list[dict]:
    """The segments recorded by the run's last stop (its partial record). A record written before
    segments were kept names one device for all its epochs: the last stop's."""
    partial = load_partial(config, root)
    if partial is None:
        return []
    metrics, info = partial
    prov = info.get("provenance", {})
    if "segments" in prov:
        return prov["segments"]
    return [{"epochs": [1, len(metrics)], "device": prov.get("device", "not recorded"),
             "seconds": prov.get("train_seconds", 0.0), "note": "device of the last stop; earlier ones not recorded"}]


def _with_unrecorded(before: list[dict], checkpoint: Path) -> list[dict]:
    """``before`` plus a segment for the epochs the resume point holds beyond it: a process stopped
    without writing its record (killed, its machine taken back) trained them, on a machine nobody
    recorded. Without it, the resuming process's segment would claim those epochs and their time."""
    if not checkpoint.exists():
        return before
    import torch
    try:
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    except Exception:  # an unreadable resume point is not used either: train_many starts afresh
        return before
    recorded = before[-1]["epochs"][1] if before else 0
    epoch, seconds = int(state["epoch"]), float(state["seconds"])
    if epoch <= recorded:
        return before
    return before + [{"epochs": [recorded + 1, epoch], "device": UNRECORDED, "precision": None,
                      "seconds": round(seconds - sum(s["seconds"] for s in before), 2)}]


UNRECORDED = "not recorded (trained by a process stopped before it wrote its record)"


def device_summary(segs: list[dict]) -> str:
    """One device name, or which device (and, where it changed, precision) trained which epochs;
    each in the current form (:func:`ffcnn_lib.machine.device_words`)."""
    if len({(s["device"], s.get("precision")) for s in segs}) <= 1:
        return machine.device_words(segs[0]["device"]) if segs else ""
    mixed = len({s.get("precision") for s in segs}) > 1
    return "; ".join(f"{machine.device_words(s['device'])}"
                     f"{', ' + str(s.get('precision') or 'precision not recorded') if mixed else ''} "
                     f"for epochs {s['epochs'][0]}-{s['epochs'][1]}" for s in segs)


def atoms(segs: list[dict], key: str, whole: str) -> str:
    """The distinct machines (``key="device"``) or training precisions (``"precision"``) of a run's
    segments, "; "-joined (no name contains ";"); ``whole``, the run's one-line record, without
    segments. For tables over many runs, where which epochs ran where belongs to the run's record."""
    words = machine.device_words if key == "device" else str
    if not segs:
        return words(whole)
    # said as what is missing: in a union over runs ("fp32 + precision not recorded") a bare
    # "not recorded" reads as a value
    unrecorded = f"{'machine' if key == 'device' else key} not recorded"
    names = {unrecorded if s.get(key) in (None, "", UNRECORDED) else words(str(s[key])) for s in segs}
    return "; ".join(sorted(names - {unrecorded}) + ([unrecorded] if unrecorded in names else []))


def union(rows: pd.DataFrame, compact: str, whole: str, sep: str = "; ") -> str:
    """The distinct names in column ``compact`` (:func:`atoms` of each run) over ``rows``, joined by
    ``sep``; column ``whole`` where a table has no ``compact`` one."""
    col = compact if compact in rows else whole
    if col not in rows:
        return ""
    return sep.join(sorted({a.strip() for v in rows[col].dropna().astype(str) for a in v.split("; ") if a.strip()}))


def precision_summary(segs: list[dict], last: str) -> str:
    """The run's training precision: one name, or which precision trained which epochs where a
    ``precision="auto"`` run resumed on another kind of machine changed it (issue #17). Consecutive
    segments in one precision (a run resumed with another thread count) read as one span."""
    named = [s for s in segs if s.get("precision")]
    if len({s["precision"] for s in named}) <= 1 and len(named) == len(segs):
        return last
    spans: list[list] = []  # [precision, first epoch, last epoch]
    for s in segs:
        name = s.get("precision") or "not recorded"
        if spans and spans[-1][0] == name:
            spans[-1][2] = s["epochs"][1]
        else:
            spans.append([name, *s["epochs"]])
    return ", ".join(f"{name} (epochs {first}-{last})" for name, first, last in spans)


def run_device(prov: dict, default: str = "") -> str:
    """A stored run's device in words: :func:`device_summary` of its segments where it has them,
    else its one device (``default`` where none is recorded), so that records written before
    2026-12-01 read like later ones."""
    if prov.get("segments"):
        return device_summary(prov["segments"])
    return machine.device_words(prov.get("device", default))


def run_precision(prov: dict) -> str:
    """A stored run's training precision in words (:func:`precision_summary` of its segments where
    it has them, so that records written before spans were merged read alike)."""
    return precision_summary(prov["segments"], prov.get("precision", "")) if prov.get("segments") \
        else prov.get("precision", "")


def provenance(outcome, before: list[dict] | None = None) -> dict:
    """Who made this number, where and how: commit, versions, device(s), precision, wall time.
    ``before``: the device segments of the run's earlier stops (see :func:`segments`)."""
    import numpy
    segs = segments(outcome, before or [])
    return {
        "git_commit": _git_commit(),
        "algorithm_version": ALGORITHM_VERSION,
        "code_hash": CODE_HASH,
        "versions": {"ffcnn_lib": __version__, "python": platform.python_version(), "torch": torch.__version__,
                     "numpy": numpy.__version__, "pandas": pd.__version__},
        "device": device_summary(segs) or outcome.device,
        "segments": segs,
        # The CPU's model, flags and kind (issue #17): where a campaign run trained, and so how fast.
        "cpu": machine.capabilities() if outcome.device.startswith("cpu") else None,
        "precision": precision_summary(segs, outcome.precision),
        "evaluation_precision": "fp32",  # reported accuracies; after bf16 training also *_bf16 in "final"
        "compiled": outcome.compiled,
        "backward": "layer-wise" if outcome.layerwise else "summed",
        "train_seconds": round(outcome.train_seconds, 2),
        "finished": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "seed": outcome.config.seed,
        "stacked_runs": outcome.stacked,  # networks trained side by side (train_seconds is their total)
    }


class _Gone(Exception):
    """The folder was swapped away and deleted while being read (a store of the run meanwhile)."""


class _Missing(_Gone):
    """No folder there."""


def load(config: Config, root: Path | None = None) -> Result | None:
    """The stored result of ``config``, or None if it has not been run.

    Raises :class:`ResultError` naming the file if the run's folder lacks one of :data:`RUN_FILES`
    or holds an unreadable one. A store of the run at the same time (see :func:`_store`) never
    makes the result look missing, or mix two results.
    """
    root = root or results_dir()
    runs, run_id = root / "runs", config.run_id()
    final = runs / run_id
    for _ in range(10):  # a store swapped the folders while we read: read again
        try:
            return _read(final)
        except _Gone:
            pass
        # None in place: a store without an atomic swap, between its two renames, has set the old
        # result aside (hidden).
        asides = sorted(runs.glob(f".{run_id}.old-*")) if runs.is_dir() else []
        for aside in asides:
            with contextlib.suppress(_Gone):
                return _restore(_read(aside, aside=True), final, root)
        try:
            return _read(final)  # the store may have moved its new folder in meanwhile
        except _Missing:
            if not asides:
                return None
        except _Gone:
            pass
    return None


def load_run(run_id: str, root: Path | None = None) -> Result:
    """The stored result of the run ``run_id`` (a folder of ``results/runs``, as tables name runs)."""
    path = (root or results_dir()) / "runs" / run_id / "config.json"
    try:
        config = Config.from_dict(json.loads(path.read_text()))
    except FileNotFoundError:
        raise FileNotFoundError(f"run {run_id} is not in the result cache ({path.parent})") from None
    result = load(config, root)
    if result is None:
        raise FileNotFoundError(f"run {run_id} is not in the result cache")
    return result


def _fix(path: Path) -> str:
    return f"restore the folder from git (git checkout -- {path}) or delete it to rerun the run"


def _same_inode(path: Path, fd: int) -> bool:
    try:
        a, b = os.stat(path), os.fstat(fd)
    except FileNotFoundError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def _read(path: Path, aside: bool = False) -> Result:
    """The run in folder ``path``. Its files are read through one handle on the folder, so that a
    store renaming the folder meanwhile cannot give the summary of one result and the metrics of
    another. Raises _Gone if there is no such folder, or it was deleted while being read (a folder
    set ``aside`` by a store lacks files only while that store deletes it)."""
    by_fd = os.open in os.supports_dir_fd  # not on Windows: there, by path
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)) if by_fd else None
    except (FileNotFoundError, NotADirectoryError):
        raise _Missing from None
    if fd is None and not path.is_dir():
        raise _Missing
    raw = {}
    try:
        for name in RUN_FILES:
            try:
                if fd is None:
                    raw[name] = (path / name).read_bytes()
                    continue
                with open(name, "rb", opener=lambda n, flags: os.open(n, flags, dir_fd=fd)) as fh:
                    raw[name] = fh.read()
            except FileNotFoundError:
                if aside or (fd is not None and not _same_inode(path, fd)):
                    raise _Gone from None  # set aside and deleted by a store of this run
                raise ResultError(f"{path / name} is missing: the result is incomplete; {_fix(path)}") from None
    finally:
        if fd is not None:
            os.close(fd)

    def parse(name: str, how):
        try:
            return how(raw[name])
        except (ValueError, KeyError, TypeError) as err:  # JSON and CSV errors are ValueErrors
            raise ResultError(f"{path / name} is corrupt ({type(err).__name__}: {err}); {_fix(path)}") from None

    parse("config.json", json.loads)
    summary = parse("summary.json", json.loads)
    config = parse("summary.json", lambda _: Config.from_dict(summary["config"]))
    return Result(config, parse("metrics.csv", lambda b: pd.read_csv(io.BytesIO(b))), summary, path)


def _restore(result: Result, final: Path, root: Path) -> Result:
    """``result`` was read from the folder a killed store set aside, with none in place: move it
    back, under the run's lock so never in the middle of a store. If a store holds the lock, or the
    cache is read-only, it stays where it is (and is read from there)."""
    with contextlib.suppress(OSError):
        (root / "checkpoints").mkdir(parents=True, exist_ok=True)
        with _run_lock(root / "checkpoints" / f"{final.name}.lock", wait=False) as locked:
            if locked and not final.exists():
                os.rename(result.path, final)
                result.path = final
    return result


@functools.lru_cache(maxsize=1)
def _renameat2():
    try:
        return ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError, TypeError):  # not Linux, or a C library without it
        return None


def _exchange(a: Path, b: Path) -> bool:
    """Swap folders ``a`` and ``b`` in one step (Linux: renameat2 with RENAME_EXCHANGE), so that no
    reader ever finds ``b`` missing; False where the system or its file system cannot."""
    renameat2 = _renameat2()
    if renameat2 is None:
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EPERM):  # cannot here (EPERM: a sandbox)
        return False
    raise OSError(err, os.strerror(err), str(b))


def _store(outcome, root: Path, save_weights: bool, before: list[dict] | None = None) -> Result:
    """Write the run's folder under a hidden name, then swap it in; the caller holds the run's lock.

    The swap never leaves the run without a whole result: where the system can, the new and the old
    folder trade places in one step (:func:`_exchange`); elsewhere the old folder is renamed aside
    (hidden; :func:`load` reads it meanwhile), then the new one in. The old one is deleted last.
    A kill at any step leaves a whole result that load() finds; the next store cleans up.
    """
    run_id = outcome.config.run_id()
    final_dir = root / "runs" / run_id
    final_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{run_id}.new-", dir=final_dir.parent))
    tmp.chmod(0o755)  # mkdtemp's 0700 would hide the run from other users of a shared cache
    summary = {"run_id": run_id, "config": outcome.config.to_dict(), "final": outcome.final,
               "epochs_run": len(outcome.history), "provenance": provenance(outcome, before)}
    (tmp / "config.json").write_text(json.dumps(outcome.config.to_dict(), indent=1))
    pd.DataFrame(outcome.history).to_csv(tmp / "metrics.csv", index=False)
    if save_weights:
        from safetensors.torch import save_file
        state = {k: v.detach().to("cpu", torch.float16).contiguous() for k, v in outcome.model.state_dict().items()}
        save_file(state, tmp / "weights.safetensors")
    (tmp / "summary.json").write_text(json.dumps(summary, indent=1))
    # A forced rerun: the old result makes way only now that the new one is whole.
    if not (final_dir.exists() and _exchange(tmp, final_dir)):
        if final_dir.exists():
            os.replace(final_dir, final_dir.with_name(f".{run_id}.old-{tmp.name.rsplit('-', 1)[-1]}"))
        os.replace(tmp, final_dir)
    _clean_leftovers(final_dir.parent, run_id)  # the old result, now hidden, goes
    return load(outcome.config, root)  # type: ignore[return-value]


def _clean_leftovers(runs: Path, run_id: str) -> None:
    """Delete hidden folders that stores left in ``runs``: this run's (its lock is held, so none is
    in use) and, after :data:`LEFTOVER_AGE_S`, other runs' ones, except an old result set aside with
    none in place (:func:`load` reads it and puts it back)."""
    for path in runs.glob(".*"):
        owner, _, kind = path.name[1:].rpartition(".")
        with contextlib.suppress(OSError):
            only_copy = kind.startswith("old-") and not (runs / owner).exists()
            old = time.time() - path.stat().st_mtime > LEFTOVER_AGE_S
            if path.is_dir() and owner and (owner == run_id or (old and not only_copy)):
                shutil.rmtree(path, ignore_errors=True)


def _check_writable(folder: Path) -> None:
    """Raise PermissionError naming ``folder`` unless a file can be made there: checked before the
    first epoch, so that a finished training never finds its destination closed."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=folder).close()
    except OSError as err:
        raise PermissionError(f"cannot write to {folder} ({err}); make it writable, or set FFCNN_RESULTS "
                              "to a writable folder") from err


def run_or_load(config: Config, **kwargs) -> Result | None:
    """The stored result of ``config`` if there is one (instant), else train it and store the result.

    With ``time_budget_s`` an unfinished run leaves a checkpoint and returns None; the next call
    resumes it. ``force`` retrains even if a result exists. Other keyword arguments: see
    :func:`run_or_load_many`.
    """
    return run_or_load_many([config], **kwargs)[0]


def run_or_load_many(configs: list[Config], *, device: str | None = "auto", force: bool = False,
                     save_weights: bool = False, time_budget_s: float | None = None, progress: bool = True,
                     root: Path | None = None, checkpoint_dir: Path | None = None,
                     **train_kwargs) -> list[Result | None]:
    """Stored results of ``configs``, training the missing ones side by side in one pass
    (:func:`ffcnn_lib.train.train_many`; they may differ only in seed and K), each stored as its own
    result. ``None`` for runs left unfinished at ``time_budget_s``. Remaining keyword arguments go
    to :func:`ffcnn_lib.train.train_many` (``fast``, ``compile``, ``goodness_every``...).

    ``force`` ignores stored results. A checkpoint of an unfinished run is always resumed: its name
    holds the run ids, which hold the config and the algorithm version. Checkpoints live in
    ``checkpoint_dir`` (default ``results/checkpoints``, not committed).
    """
    from .train import Interrupted, check_seconds, train_many

    check_seconds("time budget", time_budget_s)
    root = root or results_dir()
    unique: dict[str, Config] = {}
    for c in configs:  # configs differing only in fields a run does not read are one run
        if c.report_test and not unique.get(c.run_id(), c).report_test:
            unique[c.run_id()] = c  # ...evaluated on the test set if any of them asks for it
        unique.setdefault(c.run_id(), c)
    todo = [c for c in unique.values() if force or load(c, root) is None]
    checkpoint_dir = checkpoint_dir or root / "checkpoints"
    if todo:
        for folder in {root / "runs", root / "checkpoints", checkpoint_dir}:
            _check_writable(folder)  # before the first epoch, not after the last
        with contextlib.ExitStack() as locks:
            for run_id in sorted(c.run_id() for c in todo):  # one order: no deadlock between two callers
                locks.enter_context(_run_lock(root / "checkpoints" / f"{run_id}.lock"))
            # Another process may have finished some of these while we waited for the locks.
            todo = [c for c in todo if force or load(c, root) is None]
            if todo:
                ids = sorted(c.run_id() for c in todo)
                name = ids[0] if len(ids) == 1 else f"stack-{hashlib.sha256(' '.join(ids).encode()).hexdigest()[:12]}"
                ckpt = checkpoint_dir / f"{name}.pt"
                for leftover in ckpt.parent.glob(f"{ckpt.stem}.tmp*"):  # of a checkpoint write that was killed
                    leftover.unlink(missing_ok=True)
                before = {c.run_id(): _with_unrecorded(_earlier_segments(c, root), ckpt) for c in todo}
                try:
                    outcomes = train_many(todo, device, checkpoint=ckpt, time_budget_s=time_budget_s,
                                          progress=progress, **train_kwargs)
                except Interrupted as stop:  # record who trained the epochs the resume point holds
                    for outcome in stop.outcomes:
                        _record_partial(outcome, root, before[outcome.config.run_id()], stopped_by="an interrupt")
                    raise
                for outcome in outcomes:
                    earlier = before[outcome.config.run_id()]
                    if outcome.complete:
                        _store(outcome, root, save_weights, earlier)
                    _record_partial(outcome, root, earlier)
                if outcomes[0].complete:
                    ckpt.unlink(missing_ok=True)
    for c in unique.values():  # a run stored without test numbers, asked for them: from its kept weights
        if c.report_test and (stored := load(c, root)) is not None and not has_test_numbers(stored) \
                and (stored.path / "weights.safetensors").exists():
            add_test_numbers(c, device, root)
    return [load(c, root) for c in configs]


@contextlib.contextmanager
def _run_lock(path: Path, wait: bool = True):
    """An exclusive lock on one run, so two processes (Dask workers, users) never train or store it
    at once. Yields True, or False without waiting if ``wait`` is False and another process holds it.

    The file names its holder, so that a process waiting for it says whom it waits for, and its
    holder removes it on release; a waiter that then holds a removed file locks the new one.
    """
    if fcntl is None:  # pragma: no cover - Windows: no cross-process lock
        yield True
        return
    said = False
    while True:
        fh = open(path, "a+")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not wait:
                fh.close()
                yield False
                return
            if not said:
                fh.seek(0)
                holder = fh.read().strip() or "another process"
                print(f"waiting for run {path.stem}: locked by {holder}", file=sys.stderr, flush=True)
                said = True
            fcntl.flock(fh, fcntl.LOCK_EX)
        if _same_inode(path, fh.fileno()):
            break
        fh.close()  # its holder removed it as we waited: lock the file there now
    try:
        fh.seek(0)
        fh.truncate()
        fh.write(f"process {os.getpid()} ({platform.node()})\n")
        fh.flush()
        yield True
    finally:
        path.unlink(missing_ok=True)  # while still locked: a waiter sees it gone and tries again
        fh.close()  # releases the lock


def claim(name: str, root: Path | None = None):
    """An exclusive claim on ``name`` among the processes sharing a result cache, without waiting:
    ``with claim(...) as mine:`` gives False while another process holds it (e.g. a campaign worker
    training a cell), True otherwise. Released at the end of the block, or when its holder dies."""
    folder = (root or results_dir()) / "checkpoints"
    folder.mkdir(parents=True, exist_ok=True)
    return _run_lock(folder / f"{name}.claim", wait=False)


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that a reader sees the old file or the new one, never half of one."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def _record_partial(outcome, root: Path, before: list[dict] | None = None,
                    stopped_by: str = "its time budget") -> None:
    """Keep the per-epoch record of an unfinished run in ``results/partial/`` (small, committable:
    the progress of a long GPU run survives the loss of its checkpoint); a finished run removes it.
    ``stopped_by``: what stopped it, for its status line."""
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
        "status": f"incomplete: stopped by {stopped_by} after epoch {len(outcome.history)} of "
                  f"{outcome.config.epochs}; resumes from its resume point where that survives (results/checkpoints/; "
                  f"the CPU campaign's and the GPU plan's: results/partial/)",
        "config": outcome.config.to_dict(), "provenance": provenance(outcome, before)}, indent=1))


def load_partial(config: Config, root: Path | None = None) -> tuple[pd.DataFrame, dict] | None:
    """Per-epoch metrics and provenance of an *unfinished* run recorded in ``results/partial/``
    (a long run whose machine was taken back before it finished), or None."""
    base = (root or results_dir()) / "partial"
    csv, info = base / f"{config.run_id()}.metrics.csv", base / f"{config.run_id()}.json"
    if not (csv.exists() and info.exists()):
        return None
    return pd.read_csv(csv), json.loads(info.read_text())


# --- test numbers after the fact, and runs stored under an earlier id ------------------------------

def has_test_numbers(result: Result) -> bool:
    """Whether the stored run holds test-set accuracies (trained with ``report_test``, or added later)."""
    return any(k.startswith("test_acc_") for k in result.summary["final"])


def evaluate_test(result: Result, device: str | None = "auto") -> dict:
    """Test accuracies, confusion matrices and inference times of a stored run, from its kept
    weights (fp16, evaluated in fp32 with TF32 off), on the first ``n_test`` test images: the
    numbers ``report_test`` gives at the end of training, under the same names. Raises
    FileNotFoundError if the run kept no weights."""
    from . import inference
    from .data import load_split
    from .train import full_precision, resolve_device

    dev = resolve_device(device)
    model = result.load_model(str(dev))
    c = result.config
    x, y = load_split("test", c.n_test, dev, c.dataset)
    out: dict = {}
    for m in (["linear", "goodness"] if c.model == "ff" else ["bp"]):
        t0 = time.perf_counter()
        with full_precision(dev):
            if m == "bp":
                scores = inference.bp_logits(model, x)
            else:
                score = inference.linear_logits if m == "linear" else inference.goodness_scores
                scores = score(model, c.label_encoder(dev), x)
        out[f"test_acc_{m}"] = inference.accuracy(scores, y)
        out[f"test_inference_s_{m}"] = time.perf_counter() - t0
        out[f"test_confusion_{m}"] = inference.confusion_matrix(scores, y).tolist()
    return out


def add_test_numbers(config: Config, device: str | None = "auto", root: Path | None = None) -> Result:
    """The stored run of ``config`` with its test numbers: where it was trained without them,
    evaluated now from its kept weights (:func:`evaluate_test`) and written into its
    ``summary.json`` in one step (a reader sees the old summary or the new one), with
    ``provenance.test_evaluation`` saying that they were evaluated afterwards, from the kept
    weights, where and by which code.

    A run is one run with or without ``report_test`` (it is not in the run id): the best network
    trained for Table 1 gets the headline's test numbers this way, without retraining. Raises
    FileNotFoundError if the run kept no weights, LookupError if it is not stored.
    """
    from .train import device_name, resolve_device

    root = root or results_dir()
    (root / "checkpoints").mkdir(parents=True, exist_ok=True)
    with _run_lock(root / "checkpoints" / f"{config.run_id()}.lock"):
        result = load(config, root)
        if result is None:
            raise LookupError(f"run {config.run_id()} is not in the result cache {root / 'runs'}")
        if has_test_numbers(result):
            return result
        out = evaluate_test(result, device)
        summary = {**result.summary, "final": {**result.summary["final"], **out}}
        summary["provenance"] = {**summary["provenance"], "test_evaluation": {
            "how": "evaluated after training from the kept weights (weights.safetensors, fp16), in fp32",
            "n_test": result.config.n_test, "device": device_name(resolve_device(device)),
            "git_commit": _git_commit(), "code_hash": CODE_HASH,
            "time": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}}
        write_atomic(result.path / "summary.json", json.dumps(summary, indent=1))
    return load(config, root)  # type: ignore[return-value]


def migrate_run_ids(root: Path | None = None) -> list[str]:
    """Move stored runs and partial records whose name is not their config's run id to it; returns
    what it did, a line each. (Runs stored with ``report_test=True`` before it left the run id.)

    A run folder moves under the run's lock, its ``summary.json`` saying the new id. Where a folder
    of that id is stored already (the same run trained without the test evaluation), the one with
    test numbers stays (it holds everything the other does), the other is deleted: git keeps it.
    A partial record (``results/partial/<id>.json``, ``.metrics.csv``, ``.pt``) moves by the config
    its ``.json`` holds; one whose config is not a dict is left where it is and named.
    """
    root = root or results_dir()
    runs, done = root / "runs", []
    (root / "checkpoints").mkdir(parents=True, exist_ok=True)  # the run locks
    for cfg_file in sorted(runs.glob("*/config.json")) if runs.is_dir() else []:
        old = cfg_file.parent
        if old.name.startswith("."):
            continue
        new_id = Config.from_dict(json.loads(cfg_file.read_text())).run_id()
        if new_id == old.name:
            continue
        final = runs / new_id
        with contextlib.ExitStack() as locks:
            for name in sorted((old.name, new_id)):
                locks.enter_context(_run_lock(root / "checkpoints" / f"{name}.lock"))
            summary = json.loads((old / "summary.json").read_text())
            write_atomic(old / "summary.json", json.dumps({**summary, "run_id": new_id}, indent=1))
            moved = _read(old)
            note = ""
            if final.exists():
                there = _read(final)
                if has_test_numbers(there) or not has_test_numbers(moved):
                    shutil.rmtree(old)
                    done.append(f"{old.name}: deleted, {new_id} holds the run with its test numbers")
                    continue
                note = " (replacing the one stored there without test numbers)"
                if not _exchange(old, final):
                    os.replace(final, runs / f".{new_id}.old-migrated")
                    os.replace(old, final)
                _clean_leftovers(runs, new_id)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(old, final)
            done.append(f"{old.name} -> {new_id}{note}")
    partial = root / "partial"
    for info_file in sorted(partial.glob("*.json")) if partial.is_dir() else []:
        info = json.loads(info_file.read_text())
        old_id = info_file.name[:-len(".json")]
        if not isinstance(info.get("config"), dict):
            done.append(f"partial/{info_file.name}: its config is not a dict ({info.get('config')!r}); left as it is")
            continue
        new_id = Config.from_dict(info["config"]).run_id()
        if new_id == old_id:
            continue
        for suffix in (".metrics.csv", ".pt"):
            if (partial / f"{old_id}{suffix}").exists():
                os.replace(partial / f"{old_id}{suffix}", partial / f"{new_id}{suffix}")
        write_atomic(partial / f"{new_id}.json", json.dumps({**info, "run_id": new_id}, indent=1))
        info_file.unlink()
        done.append(f"partial/{old_id} -> {new_id}")
    return done
