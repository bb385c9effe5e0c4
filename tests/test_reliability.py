"""Issue #10: results are never lost or silently wrong.

Each test injects one fault (a kill between the steps of a store, a corrupt or truncated file, a bad
value, a held lock) and trains at most a tiny network for an epoch or two on the CPU.
"""
import functools
import json
import math
import os
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from ffcnn_lib import Config, data, experiments
from ffcnn_lib import train as train_mod
from ffcnn_lib.__main__ import main
from ffcnn_lib.experiments import load, run_or_load

TINY = Config(filters=(2, 2), kernel=3, n_train=100, n_val=50, epochs=1, batch_size=50)
TINY_ARGS = ["--filters", "2,2", "--kernel", "3", "--n-train", "100", "--n-val", "50", "--epochs", "1",
             "--batch-size", "50", "--device", "cpu"]  # the command line's spelling of TINY
REPO = Path(__file__).resolve().parent.parent


class Killed(BaseException):
    """A simulated kill -9: no ``except Exception`` catches it."""


def _outcome(config: Config = TINY, acc: float = 0.5, epochs: int = 1):
    """What a training returns, made up: a store needs no real training."""
    history = [{"epoch": e + 1, "val_acc_linear": acc} for e in range(epochs)]
    return train_mod.Outcome(config, None, history, True, "cpu (test)", "fp32", False, 0.1,
                             {"val_acc_linear": acc, "val_acc_goodness": acc})


def _store(root: Path, config: Config = TINY, acc: float = 0.5, epochs: int = 1):
    """Store a made-up result under the run's lock, as run_or_load_many does."""
    (root / "checkpoints").mkdir(parents=True, exist_ok=True)
    with experiments._run_lock(root / "checkpoints" / f"{config.run_id()}.lock"):
        return experiments._store(_outcome(config, acc, epochs), root, save_weights=False)


def _hidden(root: Path) -> list[str]:
    return sorted(p.name for p in (root / "runs").iterdir() if p.name.startswith("."))


def _no_training(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("an epoch ran before the run's inputs were checked")
    monkeypatch.setattr(train_mod._Run, "train_step", refuse)


@pytest.fixture
def damaged_data(tmp_path, monkeypatch):
    """A copy of data/mnist (links) in which the test damages one file: ``damage(key, how)``."""
    source, copy = data.data_dir(), tmp_path / "mnist"
    copy.mkdir()
    for name in data.FILES.values():
        (copy / name).symlink_to(source / name)
    monkeypatch.setenv("FFCNN_DATA", str(copy))
    # a private cache for this test: the shared one keeps the intact files loaded for the others
    monkeypatch.setattr(data, "_load_file", functools.lru_cache(maxsize=None)(data._load_file.__wrapped__))

    def damage(key: str, how: str) -> Path:
        path = copy / data.FILES[key]
        raw = path.read_bytes()
        path.unlink()
        if how == "truncated":
            raw = raw[: len(raw) // 2]
        else:  # flip a bit of the CRC-32 in the gzip trailer: the content inflates, the check fails
            raw = raw[:-8] + bytes([raw[-8] ^ 1]) + raw[-7:]
        path.write_bytes(raw)
        return path

    return damage


# 1. A store replaces a result without a moment where none (or half of one) is there.

def _without_atomic_swap(monkeypatch, swap: str) -> None:
    """``swap="renames"``: store as on a system without an atomic exchange of two folders."""
    if swap == "renames":
        monkeypatch.setattr(experiments, "_exchange", lambda a, b: False, raising=False)


@pytest.mark.parametrize("swap", ["exchange", "renames"])
@pytest.mark.parametrize("kill", ["after step 1", "after step 2", "after step 3", "inside the first removal"])
def test_a_store_killed_at_any_step_keeps_a_whole_result(results_root, monkeypatch, kill, swap):
    _without_atomic_swap(monkeypatch, swap)
    _store(results_root, acc=0.5)
    real_replace, real_rmtree = os.replace, shutil.rmtree
    steps = []

    def step_done():
        steps.append(1)
        if kill == f"after step {len(steps)}":
            raise Killed

    def replace(src, dst, *args, **kwargs):
        real_replace(src, dst, *args, **kwargs)
        step_done()

    def rmtree(path, *args, **kwargs):
        if kill == "inside the first removal":  # killed after deleting one file of the folder
            (Path(path) / "metrics.csv").unlink()
            raise Killed
        real_rmtree(path, *args, **kwargs)
        step_done()

    monkeypatch.setattr(os, "replace", replace)
    monkeypatch.setattr(shutil, "rmtree", rmtree)
    try:
        _store(results_root, acc=0.9)
    except Killed:
        pass
    monkeypatch.setattr(os, "replace", real_replace)
    monkeypatch.setattr(shutil, "rmtree", real_rmtree)

    result = load(TINY)
    assert result is not None, "the stored result is gone"
    assert result["val_acc_linear"] in (0.5, 0.9) and len(result.metrics) == 1
    # the next store goes through, and the leftovers of the killed one are cleaned
    assert _store(results_root, acc=0.7)["val_acc_linear"] == 0.7
    assert _hidden(results_root) == []


@pytest.mark.parametrize("swap", ["exchange", "renames"])
def test_readers_see_a_whole_result_at_every_step_of_a_store(results_root, monkeypatch, swap):
    _without_atomic_swap(monkeypatch, swap)
    _store(results_root, acc=0.5)
    real_replace, real_rmtree = os.replace, shutil.rmtree
    seen = []

    def look():
        r = load(TINY)
        seen.append(None if r is None else r["val_acc_linear"])

    def replace(*args, **kwargs):
        look()
        real_replace(*args, **kwargs)
        look()

    def rmtree(*args, **kwargs):
        look()
        real_rmtree(*args, **kwargs)
        look()

    monkeypatch.setattr(os, "replace", replace)
    monkeypatch.setattr(shutil, "rmtree", rmtree)
    _store(results_root, acc=0.9)
    monkeypatch.setattr(os, "replace", real_replace)
    monkeypatch.setattr(shutil, "rmtree", real_rmtree)
    assert None not in seen and set(seen) <= {0.5, 0.9}
    assert load(TINY)["val_acc_linear"] == 0.9


def test_concurrent_readers_never_miss_or_mix_results(results_root, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    if not getattr(experiments, "_exchange", lambda a, b: True)(a, b):
        pytest.skip("no atomic exchange of two folders here: readers may (rarely) find no result")
    _store(results_root, acc=0.5)
    stop, problems = threading.Event(), []

    def reader():
        while not stop.is_set():
            try:
                r = load(TINY)
                if r is None:
                    problems.append("no result")
                elif len(r.metrics) != r.summary["epochs_run"] or r.metrics["val_acc_linear"].iloc[-1] != r["val_acc_linear"]:
                    problems.append("summary of one result, metrics of another")
            except Exception as err:  # noqa: BLE001 - any crash of a reader is the failure
                problems.append(repr(err))

    readers = [threading.Thread(target=reader) for _ in range(2)]
    for t in readers:
        t.start()
    try:
        for i in range(60):
            _store(results_root, acc=0.5 + i / 1000, epochs=1 + i % 2)
    finally:
        stop.set()
        for t in readers:
            t.join()
    assert problems == []


@pytest.mark.parametrize("damage, bad_file", [
    (lambda p: (p / "metrics.csv").unlink(), "metrics.csv"),
    (lambda p: (p / "summary.json").write_text('{"run_id": '), "summary.json"),
    (lambda p: (p / "config.json").write_text(""), "config.json"),
])
def test_load_takes_only_a_whole_folder_and_names_the_bad_file(results_root, damage, bad_file):
    stored = _store(results_root)
    damage(stored.path)
    with pytest.raises(Exception) as err:
        load(TINY)
    assert type(err.value).__name__ == "ResultError"
    assert str(stored.path / bad_file) in str(err.value)


# 2. Finished training is never thrown away.

def test_a_truncated_test_file_stops_the_run_before_its_first_epoch(results_root, damaged_data, monkeypatch):
    damaged_data("test_images", "truncated")
    _no_training(monkeypatch)
    with pytest.raises(data.DataError, match="t10k-images-idx3-ubyte.gz"):
        run_or_load(TINY.replace(report_test=True, n_test=50), device="cpu", progress=False)


def test_an_unwritable_destination_stops_the_run_before_its_first_epoch(results_root, monkeypatch):
    results_root.mkdir(parents=True)
    (results_root / "runs").write_text("a file where the results folder should be")
    _no_training(monkeypatch)
    with pytest.raises(PermissionError, match="runs"):
        run_or_load(TINY, device="cpu", progress=False)


@pytest.mark.parametrize("failing", ["evaluation", "store"])
def test_a_failed_evaluation_or_store_resumes_after_the_last_epoch(results_root, monkeypatch, failing):
    config = TINY.replace(epochs=2)
    module, name = (train_mod, "_final_evaluation") if failing == "evaluation" else (experiments, "_store")
    real = getattr(module, name)

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(module, name, fail)
    with pytest.raises(OSError, match="disk full"):
        run_or_load(config, device="cpu", progress=False)
    monkeypatch.setattr(module, name, real)

    epochs_run = []
    real_step = train_mod._Run.train_step
    monkeypatch.setattr(train_mod._Run, "train_step", lambda run, *a: epochs_run.append(run.epoch) or real_step(run, *a))
    result = run_or_load(config, device="cpu", progress=False)
    assert epochs_run == [], "training ran again"
    assert list(result.metrics["epoch"]) == [1, 2]
    assert not (results_root / "checkpoints" / f"{config.run_id()}.pt").exists()
    monkeypatch.setattr(train_mod._Run, "train_step", real_step)
    assert result["val_acc_linear"] == train_mod.train(config, "cpu", progress=False).final["val_acc_linear"]


def test_cli_checkpoint_interval(results_root, monkeypatch, capsys):
    saved = []
    real = train_mod._Run.save_checkpoint
    monkeypatch.setattr(train_mod._Run, "save_checkpoint", lambda run: saved.append(run.epoch) or real(run))
    assert main(["train", *TINY_ARGS, "--epochs", "3", "--checkpoint-every", "0"]) == 0
    assert saved == [1, 2, 3]  # every epoch, the last one included
    assert main(["train", *TINY_ARGS, "--checkpoint-every", "-1"]) == 2
    assert "checkpoint" in capsys.readouterr().err


# 3. Invalid values are rejected before training, naming the value.

@pytest.mark.parametrize("kwargs, message", [
    (dict(lr=math.nan), "lr=nan"),
    (dict(lr=math.inf), "lr=inf"),
    (dict(classifier_lr=math.nan), "classifier_lr=nan"),
    (dict(label_cycles=(2, 2, 4)), r"label_cycles \(2, 2, 4\) repeat"),
    (dict(filters="16"), "filters .*'16'"),
    (dict(filters=(16, "16")), "filters .*'16'"),
    (dict(epochs=2.5), "epochs .*2.5"),
    (dict(kernel="3"), "kernel .*'3'"),
    (dict(batch_size=True), "batch_size .*True"),
    (dict(K="0.35"), "K .*'0.35'"),
    (dict(seed=-1), "seed -1"),
    (dict(n_train=100.5), "n_train .*100.5"),
    (dict(max_pool="False"), "max_pool .*'False'"),
])
def test_bad_types_and_values_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Config(**kwargs)


def test_integral_numbers_give_the_same_run():
    base = Config(kernel=3, epochs=2)
    for same in (Config(kernel=3.0, epochs=2), Config(kernel=np.int64(3), epochs=np.int32(2)),
                 Config(kernel=3, epochs=2.0, filters=(128.0, 128, np.int64(128)))):
        assert same == base and same.run_id() == base.run_id()
    assert Config(filters=16.0).filters == (16, 16, 16)


def test_fields_a_run_does_not_read_do_not_change_its_id():
    bp = Config.bp()
    assert Config.bp(K=0.5).run_id() == bp.run_id()
    assert Config.bp(label_set="set2", label_cycles=(2, 4, 8), classifier_lr=0.1).run_id() == bp.run_id()
    onehot = Config(label_set="onehot")
    assert Config(label_set="onehot", label_cycles=(1, 3, 5)).run_id() == onehot.run_id()
    assert Config(label_cycles=(1, 3, 5)).run_id() != Config().run_id()  # set 1 reads them


def test_ids_of_every_stored_run_are_unchanged():
    runs = [p for p in sorted((REPO / "results" / "runs").glob("*/summary.json")) if not p.parent.name.startswith(".")]
    assert runs
    for path in runs:
        assert Config.from_dict(json.loads(path.read_text())["config"]).run_id() == path.parent.name


@pytest.mark.parametrize("args, message", [
    (["--time-budget", "-5"], "time budget"),
    (["--seed", "-1"], "seed -1"),
])
def test_cli_rejects_negative_budgets_and_seeds(args, message, results_root, capsys):
    assert main(["train", *TINY_ARGS, *args]) == 2
    assert message in capsys.readouterr().err
    assert load(TINY.replace(seed=0)) is None


# 4. Crashes give one clear line.

@pytest.mark.parametrize("how", ["truncated", "crc"])
def test_a_damaged_gzip_is_a_data_error_naming_the_file_and_the_fix(damaged_data, how):
    path = damaged_data("test_labels", how)
    with pytest.raises(data.DataError, match=str(path)) as err:
        data.load_split("test")
    assert "git checkout" in str(err.value) and "delete" in str(err.value)


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and len(err.splitlines()) == 1, err
    return err


def test_cli_data_error_is_one_line(results_root, damaged_data, capsys):
    path = damaged_data("train_images", "truncated")
    assert main(["train", *TINY_ARGS]) == 1
    assert str(path) in _one_error_line(capsys)


def test_cli_unwritable_results_is_one_line(results_root, capsys, monkeypatch):
    results_root.mkdir(parents=True)
    (results_root / "runs").write_text("not a folder")
    _no_training(monkeypatch)
    assert main(["train", *TINY_ARGS]) == 1
    assert "runs" in _one_error_line(capsys)


def test_cli_missing_weights_is_one_line(results_root, capsys):
    _store(results_root)
    assert main(["evaluate", TINY.run_id(), "--device", "cpu"]) == 1
    assert "kept no weights" in _one_error_line(capsys)


def test_cli_unknown_device_is_one_line(results_root, capsys):
    assert main(["train", *TINY_ARGS, "--device", "gpu"]) == 2
    assert "'gpu'" in _one_error_line(capsys)


def test_cli_truncated_checkpoint_names_the_file(results_root, capsys):
    ckpt = results_root / "checkpoints" / f"{TINY.run_id()}.pt"
    ckpt.parent.mkdir(parents=True)
    ckpt.write_bytes(b"PK\x03\x04 cut off")
    assert main(["train", *TINY_ARGS]) == 1
    line = _one_error_line(capsys)
    assert str(ckpt) in line and "delete" in line


def test_cli_corrupt_summary_names_the_file(results_root, capsys):
    stored = _store(results_root)
    (stored.path / "summary.json").write_text("{")
    assert main(["train", *TINY_ARGS]) == 1
    assert str(stored.path / "summary.json") in _one_error_line(capsys)


# 5. Housekeeping.

def test_a_run_waiting_for_a_lock_says_which_process_holds_it(tmp_path, capsys):
    path = tmp_path / "ff-x.lock"
    held, release = threading.Event(), threading.Event()

    def holder():
        with experiments._run_lock(path):
            held.set()
            release.wait(10)

    t = threading.Thread(target=holder)
    t.start()
    assert held.wait(10)
    threading.Timer(0.3, release.set).start()
    with experiments._run_lock(path):
        pass
    t.join()
    assert f"waiting for run ff-x: locked by process {os.getpid()}" in capsys.readouterr().err
    assert not path.exists()  # its last holder removed it


def test_leftovers_of_killed_stores_are_cleaned_and_never_read(results_root):
    runs = results_root / "runs"
    runs.mkdir(parents=True)
    hour_ago = time.time() - 3700
    other = "ff-4-4-4-k3-set1-K0.35-b50-e1-s0-0123456789"
    stale = [runs / f".{TINY.run_id()}.k2j4h1x9", runs / f".{other}.new-abcd1234"]
    fresh = runs / f".{other}.new-efgh5678"  # perhaps a store in progress in another process: kept
    for d in [*stale, fresh]:
        d.mkdir()
        (d / "summary.json").write_text("{}")
    for d in stale:
        os.utime(d, (hour_ago, hour_ago))
    assert load(TINY) is None  # a hidden folder is no result
    _store(results_root)
    assert _hidden(results_root) == [fresh.name]


def test_no_lock_files_are_left_behind(results_root):
    run_or_load(TINY, device="cpu", progress=False)
    assert list((results_root / "checkpoints").glob("*.lock")) == []


def test_profile_errors_list_auto():
    from ffcnn_lib import sweeps

    for call in (lambda: sweeps.collect("fig9", "bogus"), lambda: sweeps.load_result("cam", "bogus")):
        with pytest.raises(ValueError, match="auto"):
            call()


def test_provenance_records_the_code_hash_and_the_book_warns_about_other_code(results_root, monkeypatch, capsys):
    stored = _store(results_root)
    assert stored.summary["provenance"]["code_hash"] == experiments.CODE_HASH
    assert len(experiments.CODE_HASH) >= 8

    from ffcnn_lib import book
    monkeypatch.setattr(experiments, "CODE_HASH", "0" * 12)  # the library changed since the run
    monkeypatch.setattr(book, "ARTIFACTS", {"fig9": None})
    monkeypatch.setattr(book, "collect", lambda *a, **k: __import__("pandas").DataFrame({"run_id": [TINY.run_id()]}))
    monkeypatch.setattr(book, "profile_mix", lambda df: "smoke", raising=False)
    book.train_all("auto", force=False)
    out = capsys.readouterr().out
    assert "warning" in out and TINY.run_id() in out


def test_a_run_commit_is_dirty_only_when_code_differs_from_it(tmp_path, monkeypatch):
    import subprocess
    from ffcnn_lib import experiments
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t"]
    (tmp_path / "ffcnn_lib").mkdir()
    (tmp_path / "results").mkdir()
    (tmp_path / "ffcnn_lib" / "train.py").write_text("a = 1\n")
    (tmp_path / "results" / "resume.pt").write_text("epoch 1\n")
    subprocess.run(git[:3] + ["init", "-q"], check=True)
    subprocess.run(git + ["add", "."], check=True)
    subprocess.run(git + ["commit", "-qm", "x"], check=True)
    monkeypatch.setattr(experiments, "REPO", tmp_path)
    (tmp_path / "results" / "resume.pt").write_text("epoch 2\n")  # a campaign's resume point moves on
    assert not experiments._git_commit().endswith("-dirty")
    (tmp_path / "ffcnn_lib" / "train.py").write_text("a = 2\n")
    assert experiments._git_commit().endswith("-dirty")


def test_the_build_names_warnings_a_page_would_show_and_not_those_of_removed_cells():
    import nbformat

    from ffcnn_lib import book
    shown = nbformat.v4.new_code_cell("x", outputs=[nbformat.v4.new_output(
        "stream", name="stderr", text="lib.py:3: UserWarning: careful\n  more\n")])
    removed = nbformat.v4.new_code_cell("import tqdm", metadata={"tags": ["remove-cell"]}, outputs=[
        nbformat.v4.new_output("stream", name="stderr", text="TqdmWarning: IProgress not found\n")])
    stdout = nbformat.v4.new_code_cell("print(1)", outputs=[nbformat.v4.new_output("stream", name="stdout", text="1\n")])
    nb = nbformat.v4.new_notebook(cells=[removed, shown, stdout])
    assert book.shown_stderr(nb) == ["lib.py:3: UserWarning: careful"]
