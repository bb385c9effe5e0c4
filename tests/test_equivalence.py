"""A stored run made by older numerical code counts as current only through an identical check of
its own model (ffcnn_lib.equivalence)."""
import json
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from ffcnn_lib import equivalence, experiments

REPO = Path(__file__).resolve().parent.parent


def _records(root: Path, *records: dict) -> None:
    (root / "diagnostics").mkdir(parents=True, exist_ok=True)
    (root / equivalence.RECORDS).write_text(json.dumps({"records": list(records)}))


def _run(root: Path, model: str, code_hash: str, device: str = "cpu (avx2, 1 thread)") -> str:
    """A stored run's summary, as much of it as other_code reads."""
    run_id = f"{model}-{code_hash}" + ("-gpu" if not device.startswith("cpu") else "")
    (root / "runs" / run_id).mkdir(parents=True)
    (root / "runs" / run_id / "summary.json").write_text(
        json.dumps({"config": {"model": model}, "provenance": {"code_hash": code_hash, "device": device}}))
    return run_id


def test_compare_ignores_wall_times_and_names_the_columns_that_differ():
    a = pd.DataFrame({"epoch": [1, 2], "val_acc": [0.5, 0.6], "epoch_s": [1.0, 2.0]})
    assert equivalence.compare(a, a.assign(epoch_s=[9.0, 9.0]))["identical"]
    differs = equivalence.compare(a, a.assign(val_acc=[0.5, 0.6 + 1e-7]))
    assert not differs["identical"] and list(differs["max_abs_diff"]) == ["val_acc"]
    assert not equivalence.compare(a, a.iloc[:1])["identical"]


def test_an_identical_check_bridges_its_model_only_and_chains(results_root, monkeypatch):
    monkeypatch.setattr(experiments, "CODE_HASH", "new")
    _records(results_root,
             {"model": "bp", "code_hash": "old", "same_as": "mid", "identical": True},
             {"model": "bp", "code_hash": "mid", "same_as": "new", "identical": True},
             {"model": "ff", "code_hash": "ffold", "same_as": "new", "identical": False})
    runs = [_run(results_root, "bp", "old"), _run(results_root, "ff", "old"), _run(results_root, "ff", "ffold"),
            _run(results_root, "bp", "other"), _run(results_root, "bp", "old", device="NVIDIA H100 80GB HBM3")]
    assert equivalence.current_hash("bp", "old") == "new"
    other, unknown = equivalence.other_code(runs)
    # the FF run of the same old code, a failed check, an unchecked hash, and a run on CUDA (the check
    # ran the CPU's code path) stay marked
    assert other == ["ff-old", "ff-ffold", "bp-other", "bp-old-gpu"] and unknown == 0


@pytest.mark.skipif(not (REPO / ".git").exists(), reason="needs the project's git history")
def test_checking_this_commit_against_this_checkout_finds_them_identical(tmp_path, monkeypatch):
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    numerical = subprocess.run(["git", "-C", str(REPO), "diff", "--quiet", "HEAD", "--",
                                *(f"ffcnn_lib/{f}" for f in experiments.NUMERICAL_CODE)])
    if numerical.returncode:
        pytest.skip("the numerical code has uncommitted changes")
    monkeypatch.setattr(equivalence, "TINY", ("--filters", "2,2", "--kernel", "3", "--epochs", "2", "--n-train",
                                              "100", "--n-val", "50", "--batch-size", "50", "--device", "cpu"))
    record = equivalence.check(head, "ff", root=tmp_path)
    assert record["identical"] and record["code_hash"] == record["same_as"] == experiments.CODE_HASH
    assert equivalence.records(tmp_path) == [record]


def test_a_run_whose_first_epochs_were_not_recorded_is_a_cpu_run():
    from ffcnn_lib.experiments import UNRECORDED
    # a campaign run resumed after a killed worker: its device joins the unrecorded segment and the CPU's
    assert equivalence.device_type(f"{UNRECORDED}, precision not recorded for epochs 1-26; cpu (amx, 1 thread), "
                                   "bf16-autocast for epochs 27-200") == "cpu"
    assert equivalence.device_type("NVIDIA H100 80GB HBM3") == "cuda"
    assert equivalence.device_type("cpu (avx2, 1 thread) / NVIDIA H200") == "cuda"
