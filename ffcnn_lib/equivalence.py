"""Checked equivalence of numerical code across versions: when a stored run's code still counts.

Every run records the hash of the numerical code that made it (``code_hash``,
:data:`ffcnn_lib.experiments.CODE_HASH`), and the book warns about runs made by other code. The
hash covers whole files, so a change to FF alone (say, its initialization) also marks the BP runs
made before it. :func:`check` settles such a case by measurement instead of by reading the diff:
it trains one tiny configuration of one model under the old commit's code and under this
checkout's, and compares every per-epoch number bit for bit (timings aside). An identical check is
stored in :data:`RECORDS`, and :func:`current_hash` then treats that model's runs made by the old
code as made by this code. A check covers one model only (FF runs of the old code stay marked),
and the code path it ran, the CPU's: runs of the old code on CUDA stay marked too.

    python -m ffcnn_lib.equivalence f2aee54 --model bp
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

from . import experiments
from .experiments import REPO
from .machine import kind

RECORDS = Path("diagnostics") / "code-equivalence.json"  # under the results folder
# Small enough for seconds on a CPU, long enough to pass through the learning-rate cooldown
# (it starts at the middle of training) and to train from a moved optimizer state.
TINY = ("--filters", "16", "--kernel", "5", "--epochs", "3", "--n-train", "2000", "--n-val", "1000",
        "--seed", "0", "--device", "cpu")


def records(root: Path | None = None) -> list[dict]:
    """The stored checks, oldest first (empty if none)."""
    path = (root or experiments.results_dir()) / RECORDS
    return json.loads(path.read_text())["records"] if path.exists() else []


def device_type(device: str) -> str:
    """``"cuda"`` or ``"cpu"`` from a run's device description (``"cpu (avx2, 1 thread)"``, ``"NVIDIA H100 ..."``,
    or several segments joined, some of them "not recorded"): the two take different code paths (the
    CPU's eager fp32 BP step, CUDA's compiled bf16 one). Any CUDA device makes it ``"cuda"``; epochs
    whose machine was not recorded come from CPU campaign processes (the GPU plan records its own)."""
    return "cuda" if any(mark in device for mark in ("NVIDIA", "CUDA", "cuda", "GPU")) else "cpu"


def current_hash(model: str, code_hash: str | None, device: str = "cpu", root: Path | None = None,
                 checks: list[dict] | None = None) -> str | None:
    """The hash that a run of ``model`` on ``device`` made by ``code_hash`` counts as: followed
    through the identical checks of that model on that type of device (old -> new, possibly several
    steps), else ``code_hash`` itself. ``checks``: :func:`records`, read once by a caller with many runs."""
    same = {r["code_hash"]: r["same_as"] for r in (records(root) if checks is None else checks)
            if r["model"] == model and r["identical"] and r.get("device_type", "cpu") == device_type(device)}
    seen = set()
    while code_hash in same and code_hash not in seen:
        seen.add(code_hash)
        code_hash = same[code_hash]
    return code_hash


def other_code(run_ids, root: Path | None = None) -> tuple[list[str], int]:
    """Which of the stored runs ``run_ids`` were made by numerical code other than this process's
    (their ``code_hash`` differs from :data:`ffcnn_lib.experiments.CODE_HASH`, and no identical check of their model
    bridges the two: :func:`current_hash`), and how many predate the hash."""
    runs, checks = (root or experiments.results_dir()) / "runs", records(root)
    other, unknown = [], 0
    for run_id in dict.fromkeys(run_ids):
        try:
            summary = json.loads((runs / run_id / "summary.json").read_text())
            code = summary["provenance"].get("code_hash")
        except (OSError, ValueError, KeyError):
            continue
        if code is None:
            unknown += 1
        elif current_hash(summary["config"]["model"], code, summary["provenance"].get("device", "cpu"),
                          checks=checks) != experiments.CODE_HASH:
            other.append(run_id)
    return other, unknown


def _tiny_run(tree: Path, model: str, results: Path) -> pd.DataFrame:
    """The per-epoch records of the tiny configuration trained by the code in ``tree``."""
    env = {**os.environ, "PYTHONPATH": str(tree), "FFCNN_RESULTS": str(results), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "ffcnn_lib", "train", "--model", model, *TINY],
                          cwd=tree, env=env, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"the tiny {model} run failed under {tree}:\n{done.stderr[-2000:]}")
    (metrics,) = (results / "runs").glob("*/metrics.csv")
    return pd.read_csv(metrics)


def compare(old: pd.DataFrame, new: pd.DataFrame) -> dict:
    """Whether two runs' per-epoch records agree bit for bit, wall times (columns ending in ``_s``)
    aside; the largest difference of each numerical column otherwise."""
    cols = [c for c in old if not c.endswith("_s")]
    if list(new[[c for c in new if not c.endswith("_s")]].columns) != cols or len(old) != len(new):
        return {"identical": False, "columns": cols, "why": "different columns or epochs"}
    diff = {c: float((old[c] - new[c]).abs().max()) for c in cols}
    return {"identical": all(d == 0 for d in diff.values()), "columns": cols,
            "max_abs_diff": {c: d for c, d in diff.items() if d}}


def check(commit: str, model: str, root: Path | None = None) -> dict:
    """Train the tiny configuration of ``model`` under ``commit``'s code and this checkout's, compare,
    and store the record (replacing an earlier check of the same pair). Returns the record."""
    full = subprocess.run(["git", "-C", str(REPO), "rev-parse", commit], capture_output=True, text=True)
    if full.returncode:
        raise ValueError(f"{commit!r} is not a commit of {REPO}")
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "old"
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "-q", "--detach", str(tree), commit], check=True)
        try:
            old_hash = experiments.code_hash(tree / "ffcnn_lib")
            result = compare(_tiny_run(tree, model, Path(tmp) / "old-results"),
                             _tiny_run(REPO, model, Path(tmp) / "new-results"))
        finally:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(tree)], check=False)
    record = {"model": model, "code_hash": old_hash, "same_as": experiments.CODE_HASH, **result,
              "commit": full.stdout.strip(), "checked_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
              "check": f"python -m ffcnn_lib train --model {model} {' '.join(TINY)}, under each code",
              "machine": kind(), "device_type": "cpu"}  # the tiny runs train on this machine's CPU
    path = (root or experiments.results_dir()) / RECORDS
    path.parent.mkdir(parents=True, exist_ok=True)
    kept = [r for r in records(root) if (r["model"], r["code_hash"], r["same_as"]) != (model, old_hash, record["same_as"])]
    experiments.write_atomic(path, json.dumps({"records": kept + [record]}, indent=1) + "\n")
    return record


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m ffcnn_lib.equivalence", description=__doc__.split("\n\n")[0])
    p.add_argument("commit", help="the commit whose numerical code made the stored runs")
    p.add_argument("--model", choices=("ff", "bp"), required=True)
    args = p.parse_args(argv)
    try:
        r = check(args.commit, args.model)
    except (ValueError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    same = "identical" if r["identical"] else f"NOT identical ({r.get('why') or r['max_abs_diff']})"
    print(f"{args.model} under code {r['code_hash']} ({args.commit}) and {r['same_as']} (this checkout): {same}")
    return 0 if r["identical"] else 1


if __name__ == "__main__":
    sys.exit(main())
