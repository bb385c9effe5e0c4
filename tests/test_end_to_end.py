"""Tiny trainings on the CPU: learning, caching, resuming, reproducibility, the command line."""
import functools
import json
import time

import pandas as pd
import pytest
import torch

from ffcnn_lib import Config, load, run_or_load
from ffcnn_lib.__main__ import main
from ffcnn_lib.experiments import load_partial
from ffcnn_lib.train import train

# ~1,000 steps of batch 10 on a 3x8-filter net: about 20 s on two CPU cores. Loewe's init: its larger
# weights lift goodness inference clearly above chance within these 5 tiny epochs; the fan-in default
# gets there more slowly (13 % here; chapter 14 compares the inits at full length).
TINY = Config(filters=8, kernel=5, batch_size=10, lr=3e-3, n_train=2000, n_val=1000, epochs=5, init="loewe")


@pytest.fixture(scope="module")
def tiny_result(tmp_path_factory):
    root = tmp_path_factory.mktemp("results")
    t0 = time.perf_counter()
    result = run_or_load(TINY, device="cpu", root=root, progress=False, save_weights=True)
    return root, result, time.perf_counter() - t0


def test_tiny_training_beats_chance_with_both_inference_methods(tiny_result):
    _, result, _ = tiny_result
    assert result["val_acc_linear"] > 0.7
    # chance is 0.1 (3 sigma: 0.03 at 1,000 examples); goodness needs long training to reach the
    # paper's level, see the book
    assert result["val_acc_goodness"] > 0.14
    m = result.metrics
    assert list(m["epoch"]) == [1, 2, 3, 4, 5]
    assert m["disc_acc_layer2"].iloc[-1] > 0.5
    assert (m["loss_layer1"].diff().dropna() == 0).all() or m["disc_acc_layer1"].nunique() == 1


def test_second_call_returns_the_cached_result_instantly(tiny_result):
    root, first, _ = tiny_result
    t0 = time.perf_counter()
    again = run_or_load(TINY, device="cpu", root=root, progress=False)
    assert time.perf_counter() - t0 < 1.0
    assert again.summary == first.summary
    prov = first.summary["provenance"]
    for key in ("git_commit", "versions", "device", "train_seconds", "seed", "algorithm_version"):
        assert key in prov
    assert prov["versions"]["torch"] == torch.__version__


def test_first_layer_keeps_its_initial_weights(tiny_result):
    _, result, _ = tiny_result
    trained = result.load_model()
    torch.manual_seed(TINY.seed)
    fresh = TINY.network()
    torch.testing.assert_close(trained.convs[0].weight, fresh.convs[0].weight, atol=1e-3, rtol=1e-3)  # fp16 storage
    assert not torch.allclose(trained.convs[1].weight, fresh.convs[1].weight, atol=1e-3)


SMALL = Config(filters=4, kernel=3, batch_size=20, lr=2e-3, n_train=400, n_val=200, epochs=4)


def test_same_seed_same_numbers_and_resume_equals_uninterrupted(tmp_path):
    a = train(SMALL, "cpu", progress=False)
    b = train(SMALL, "cpu", progress=False)
    assert a.final["val_acc_linear"] == b.final["val_acc_linear"]
    drop = ("epoch_s",)
    assert [{k: v for k, v in r.items() if k not in drop} for r in a.history] == \
           [{k: v for k, v in r.items() if k not in drop} for r in b.history]
    # stop after the first epoch (a budget too small for a second), then resume from the checkpoint
    ckpt = tmp_path / "ck.pt"
    part = train(SMALL, "cpu", progress=False, checkpoint=ckpt, time_budget_s=1e-3)
    assert not part.complete and len(part.history) == 1 and ckpt.exists()
    rest = train(SMALL, "cpu", progress=False, checkpoint=ckpt)
    assert rest.complete
    assert [{k: v for k, v in r.items() if k not in drop} for r in rest.history] == \
           [{k: v for k, v in r.items() if k not in drop} for r in a.history]


def test_interrupted_run_or_load_leaves_no_result_and_resumes(results_root):
    assert run_or_load(SMALL, device="cpu", progress=False, time_budget_s=1e-3) is None
    assert load(SMALL) is None
    assert (results_root / "checkpoints" / f"{SMALL.run_id()}.pt").exists()
    metrics, info = load_partial(SMALL)  # the progress so far is on record, with provenance
    assert len(metrics) == 1 and info["config"] == SMALL.to_dict() and info["provenance"]["device"].startswith("cpu")
    done = run_or_load(SMALL, device="cpu", progress=False)
    assert done is not None and len(done.metrics) == SMALL.epochs
    assert not (results_root / "checkpoints" / f"{SMALL.run_id()}.pt").exists()
    assert load_partial(SMALL) is None and not list((results_root / "partial").iterdir())
    assert not [p for p in (results_root / "runs").iterdir() if p.name.startswith(".")]


def test_a_run_resumed_on_another_device_names_which_device_trained_which_epochs(results_root, monkeypatch):
    import ffcnn_lib.train as train_mod
    cfg = SMALL.replace(epochs=3)
    monkeypatch.setattr(train_mod, "device_name", lambda dev: "machine A")
    assert run_or_load(cfg, device="cpu", progress=False, time_budget_s=1e-3) is None  # epoch 1 on A
    assert load_partial(cfg)[1]["provenance"]["segments"][0]["epochs"] == [1, 1]
    monkeypatch.setattr(train_mod, "device_name", lambda dev: "machine B")
    done = run_or_load(cfg, device="cpu", progress=False)  # epochs 2-3 on B
    prov = done.summary["provenance"]
    assert [(s["device"], s["epochs"]) for s in prov["segments"]] == [("machine A", [1, 1]), ("machine B", [2, 3])]
    assert prov["device"] == "machine A for epochs 1-1; machine B for epochs 2-3"
    assert abs(sum(s["seconds"] for s in prov["segments"]) - prov["train_seconds"]) < 0.05
    # tables over many runs name each machine once, not the epochs (that stays in the run's record)
    from ffcnn_lib import experiments, sweeps
    assert experiments.atoms(prov["segments"], "device", prov["device"]) == "machine A; machine B"
    row = sweeps._row("bp", "smoke", cfg, done, 0)
    assert row["machines"] == "machine A; machine B" and row["precisions"] == prov["segments"][0]["precision"]
    unrecorded = [{"device": experiments.UNRECORDED, "precision": None}, {"device": "B", "precision": "fp32"}]
    assert experiments.atoms(unrecorded, "device", "") == "B; machine not recorded"
    assert experiments.atoms(unrecorded, "precision", "") == "fp32; precision not recorded"
    # a table names the old form's unknown kind as unknown, not as the kind "x86_64"
    old_form = [{"device": "cpu (x86_64, 2 threads)"}, {"device": "cpu (avx2, 1 thread)"}]
    assert experiments.atoms(old_form, "device", "") == "cpu (avx2, 1 thread); cpu (kind not recorded, 2 threads)"
    assert experiments.atoms([], "device", "cpu (x86_64, 1 threads)") == "cpu (kind not recorded, 1 thread)"


def test_epochs_of_a_process_killed_before_its_record_are_said_unrecorded_not_claimed(results_root, monkeypatch):
    import ffcnn_lib.train as train_mod
    from ffcnn_lib.experiments import UNRECORDED
    cfg = SMALL.replace(epochs=3)
    partial = [results_root / "partial" / f"{cfg.run_id()}{ext}" for ext in (".json", ".metrics.csv")]
    monkeypatch.setattr(train_mod, "device_name", lambda dev: "machine A")
    assert run_or_load(cfg, device="cpu", progress=False, time_budget_s=1e-3) is None  # epoch 1 on A, recorded
    kept = [p.read_bytes() for p in partial]
    monkeypatch.setattr(train_mod, "device_name", lambda dev: "machine C")
    assert run_or_load(cfg, device="cpu", progress=False, time_budget_s=1e-3) is None  # epoch 2 on C ...
    for p, b in zip(partial, kept):  # ... whose process was killed before it wrote its record
        p.write_bytes(b)
    monkeypatch.setattr(train_mod, "device_name", lambda dev: "machine B")
    prov = run_or_load(cfg, device="cpu", progress=False).summary["provenance"]  # epoch 3 on B
    assert [(s["device"], s["epochs"]) for s in prov["segments"]] == [
        ("machine A", [1, 1]), (UNRECORDED, [2, 2]), ("machine B", [3, 3])]
    assert abs(sum(s["seconds"] for s in prov["segments"]) - prov["train_seconds"]) < 0.05


def test_an_interrupted_run_goes_back_to_its_resume_point_and_records_who_trained_it(results_root, monkeypatch):
    """Ctrl-C (or SIGTERM through the command line) in the middle of epoch 3, with the last
    checkpoint written after epoch 1: the run goes back to that checkpoint, epoch 2 included (the
    resume point does not hold it), records its epochs with their machine (not "not recorded", as
    for a killed process), and resumed, equals an uninterrupted run."""
    import ffcnn_lib.train as train_mod
    from ffcnn_lib.experiments import UNRECORDED
    from ffcnn_lib.train import Interrupted
    steps = SMALL.n_train // SMALL.batch_size
    real, calls = train_mod._Run.train_step, [0]

    def interrupted_step(self, *args):
        calls[0] += 1
        if calls[0] == 2 * steps + steps // 2:
            raise KeyboardInterrupt
        return real(self, *args)

    save = train_mod._Run.save_checkpoint
    monkeypatch.setattr(train_mod._Run, "train_step", interrupted_step)
    monkeypatch.setattr(train_mod._Run, "save_checkpoint", lambda self: save(self) if self.epoch == 1 else None)
    with pytest.raises(Interrupted, match="at epoch 1 of 4"):
        run_or_load(SMALL, device="cpu", progress=False, checkpoint_every_s=0)
    metrics, info = load_partial(SMALL)
    assert len(metrics) == 1 and info["status"].startswith("incomplete: stopped by an interrupt after epoch 1 ")
    assert [s["epochs"] for s in info["provenance"]["segments"]] == [[1, 1]]
    monkeypatch.setattr(train_mod._Run, "train_step", real)
    monkeypatch.setattr(train_mod._Run, "save_checkpoint", save)
    done = run_or_load(SMALL, device="cpu", progress=False)
    assert UNRECORDED not in json.dumps(done.summary["provenance"])
    alone = train(SMALL, "cpu", progress=False)
    pd.testing.assert_frame_equal(done.metrics.drop(columns="epoch_s"),
                                  pd.DataFrame(alone.history).drop(columns="epoch_s"), check_dtype=False)


def test_an_interrupt_before_any_checkpoint_is_a_plain_interrupt(monkeypatch):
    import ffcnn_lib.train as train_mod
    from ffcnn_lib.train import Interrupted
    monkeypatch.setattr(train_mod, "_train_epoch", lambda *a: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt) as stop:
        train(SMALL, "cpu", progress=False)
    assert not isinstance(stop.value, Interrupted)  # nothing to go back to, nothing to record


def test_device_segments_merge_on_the_same_device_and_void_after_a_restart():
    from types import SimpleNamespace
    from ffcnn_lib.experiments import device_summary, segments
    a = [{"epochs": [1, 4], "device": "A", "precision": "fp32", "validation": "fp32", "seconds": 40.0}]
    same = segments(SimpleNamespace(history=[{}] * 6, train_seconds=60.0, device="A", precision="fp32"), a)
    assert same == [{"epochs": [1, 6], "device": "A", "precision": "fp32", "validation": "fp32", "seconds": 60.0}]
    assert device_summary(same) == "A"
    # the resume point was lost: the run restarted from epoch 1, so the earlier segment is void
    restarted = segments(SimpleNamespace(history=[{}] * 2, train_seconds=20.0, device="B", precision="fp32"), a)
    assert restarted == [{"epochs": [1, 2], "device": "B", "precision": "fp32", "validation": "fp32",
                          "seconds": 20.0}]
    # epochs validated before 2026-12-02 (no "validation": in the training precision) stay a segment apart
    old = [{k: v for k, v in a[0].items() if k != "validation"}]
    resumed = segments(SimpleNamespace(history=[{}] * 6, train_seconds=60.0, device="A", precision="fp32"), old)
    assert len(resumed) == 2 and resumed[1]["validation"] == "fp32"
    # a precision="auto" run resumed where the fast path trains in bf16: a segment of its own, said
    bf16 = segments(SimpleNamespace(history=[{}] * 6, train_seconds=60.0, device="A", precision="bf16-autocast"), a)
    assert len(bf16) == 2 and bf16[1]["precision"] == "bf16-autocast"
    assert device_summary(bf16) == "A, fp32 for epochs 1-4; A, bf16-autocast for epochs 5-6"


def test_validation_precision_of_each_epoch_comes_from_the_segments():
    from ffcnn_lib.experiments import validation_precision
    segs = [{"epochs": [1, 3], "device": "A", "precision": "bf16-autocast", "seconds": 1.0},   # before 2026-12-02
            {"epochs": [4, 5], "device": "A", "precision": "bf16-autocast", "validation": "fp32", "seconds": 1.0}]
    assert validation_precision({"segments": segs}, 5) == ["bf16"] * 3 + ["fp32"] * 2
    assert validation_precision({"segments": [{"epochs": [1, 2], "device": "A", "seconds": 1.0}]}, 3, "bf16") \
        == ["bf16"] * 3


def test_every_epoch_validates_in_fp32_whatever_the_training_precision(monkeypatch):
    """Curve points are measured like the final numbers: under bf16 autocast goodness inference
    loses its margins, so a bf16 run's per-epoch points would understate it."""
    from ffcnn_lib import inference, train as T
    seen = []
    for name in ("linear_logits", "goodness_scores"):
        real = getattr(inference, name)
        monkeypatch.setattr(inference, name, lambda *a, _real=real, **k: (seen.append(k.get("precision")), _real(*a, **k))[1])
    # (training precision here: fp32, so the test runs on any CPU; the point is that validation asks for
    # fp32 explicitly instead of inheriting the training's autocast)
    cfg = Config(filters=(2, 2), kernel=3, n_train=100, n_val=50, epochs=2, batch_size=50)
    out = T.train(cfg, device="cpu", progress=False, goodness_every=1, fast=False)
    assert out.validation == "fp32" and len(seen) >= 3
    assert all(isinstance(p, functools.partial) and p.func is T.full_precision for p in seen)


def test_bp_baseline_trains(results_root):
    cfg = Config.bp(filters=4, kernel=3, n_train=1000, n_val=300, epochs=2)
    r = run_or_load(cfg, device="cpu", progress=False)
    assert r["val_acc_bp"] > 0.6
    assert {"train_loss", "train_acc", "val_acc"} <= set(r.metrics.columns)


def test_cli_trains_and_reports(results_root, capsys):
    rc = main(["train", "--filters", "4", "--kernel", "3", "--n-train", "200", "--n-val", "100",
               "--epochs", "1", "--batch-size", "20", "--device", "cpu"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert "val_acc_linear" in out and "val_acc_goodness" in out and out["device"].startswith("cpu")


def test_cli_takes_sigterm_as_one_ctrl_c_and_restores_the_handlers():
    """The command line turns SIGTERM (a campaign stopped with pkill, a machine shutting down) into
    the interrupt that sends a run back to its resume point and records it; a second signal while it
    does so is ignored, not a cut in the middle of the record."""
    import os
    import signal

    from ffcnn_lib.__main__ import _interrupt_once
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    with _interrupt_once():
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
        os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.1)
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before


@pytest.mark.parametrize("args, message", [
    (["--kernel", "4"], "kernel size 4"),
    (["--K", "1.5"], "K=1.5"),
    (["--batch-size", "0"], "batch size 0"),
])
def test_cli_rejects_bad_values_before_training(args, message, capsys, results_root):
    assert main(["train", *args]) == 2
    assert message in capsys.readouterr().err
    assert not (results_root / "runs").exists()


def test_stacked_runs_equal_separate_runs(results_root):
    from ffcnn_lib.experiments import run_or_load_many
    from ffcnn_lib.train import train_many

    configs = [SMALL.replace(seed=1), SMALL.replace(seed=2, K=0.5)]
    alone = [train(c, "cpu", progress=False) for c in configs]
    together = train_many(configs, "cpu", progress=False)
    drop = ("epoch_s",)
    for a, t in zip(alone, together):
        assert t.stacked == 2 and t.config == a.config
        for ra, rt in zip(a.history, t.history):
            for k, v in ra.items():
                if k not in drop:
                    assert rt[k] == pytest.approx(v, rel=1e-3, abs=2e-3), k
    stored = run_or_load_many(configs, device="cpu", progress=False)
    assert [r.config for r in stored] == configs
    assert all(r.summary["provenance"]["stacked_runs"] == 2 for r in stored)


def test_configs_differing_in_more_than_seed_and_k_are_not_stacked():
    from ffcnn_lib.train import train_many

    with pytest.raises(ValueError, match=r"differ only in \['K', 'seed'\]; these differ: \['kernel'\]"):
        train_many([SMALL, SMALL.replace(kernel=5)], "cpu")


def test_cli_sweep_fills_an_artifact_and_names_bad_artifacts(results_root, capsys, monkeypatch):
    from ffcnn_lib import sweeps

    tiny = sweeps.Profile("smoke", epochs=1, n_train=100, n_val=50, width_divisor=64, lr_factor=20.0,
                          goodness_every=1000, n_test=50)
    monkeypatch.setitem(sweeps.PROFILE, "smoke", tiny)
    assert main(["sweep", "fig9", "--profile", "smoke", "--device", "cpu"]) == 0
    assert "fig9: 2/2 runs stored" in capsys.readouterr().out
    assert len(sweeps.collect("fig9", "smoke", train_missing=False)) == 2
    assert main(["sweep", "fig99", "--profile", "smoke"]) == 2
    assert "unknown artifacts ['fig99']" in capsys.readouterr().err


def test_stacking_plan_groups_small_networks_on_cuda_only():
    from ffcnn_lib.sweeps import STACK_MAX_RUNS, _batches, configs

    runs = [r for _, r in configs("fig5", "short")]
    assert all(len(b) == 1 for b in _batches(runs, cuda=False))
    on_gpu = _batches(runs, cuda=True)
    assert sorted(map(len, on_gpu)) == [1] * 12 + [6] * 4  # 32 and 64 filters stacked over K; 128 alone
    assert max(map(len, _batches([r for _, r in configs("fig5", "paper")], cuda=True))) == STACK_MAX_RUNS


def test_unfinished_runs_resume_from_their_checkpoint_even_when_forced(results_root):
    from ffcnn_lib.experiments import run_or_load_many

    configs = [SMALL.replace(seed=5), SMALL.replace(seed=6)]
    assert run_or_load_many(configs, device="cpu", progress=False, time_budget_s=1e-3) == [None, None]
    (ckpt,) = (results_root / "checkpoints").glob("stack-*.pt")
    state = torch.load(ckpt, weights_only=True)
    for h in state["histories"]:
        h[0]["epoch_s"] = -1.0  # a mark that only a resumed run carries into its result
    torch.save(state, ckpt)
    done = run_or_load_many(configs, device="cpu", progress=False, force=True)
    assert [r.metrics["epoch_s"].iloc[0] for r in done] == [-1.0, -1.0]
    assert len(done[0].metrics) == SMALL.epochs and not ckpt.exists()


def test_layerwise_backward_trains_the_same_network():
    a = train(SMALL, "cpu", progress=False)
    b = train(SMALL, "cpu", progress=False, layerwise=True)
    assert b.layerwise and not a.layerwise
    for ra, rb in zip(a.history, b.history):  # the same gradients, summed in another order
        for k in ("combined_loss", "classifier_loss", "val_acc_linear"):
            assert rb[k] == pytest.approx(ra[k], rel=1e-3, abs=2e-3)
    with pytest.raises(ValueError, match="layer-wise backward runs eagerly"):
        train(SMALL, "cpu", progress=False, layerwise=True, compile=True)


def test_a_run_whose_precision_changed_on_resume_says_which_epochs_had_which():
    from ffcnn_lib.experiments import precision_summary
    one = [{"epochs": [1, 200], "device": "A", "precision": "fp32", "seconds": 1.0}]
    assert precision_summary(one, "fp32") == "fp32"
    two = [{"epochs": [1, 17], "device": "A", "seconds": 1.0},  # a segment from before precision was kept
           {"epochs": [18, 200], "device": "B", "precision": "bf16-autocast", "seconds": 1.0}]
    assert precision_summary(two, "bf16-autocast") == "not recorded (epochs 1-17), bf16-autocast (epochs 18-200)"
    three = [{"epochs": [1, 25], "device": "A", "precision": "fp32", "seconds": 1.0},  # resumed twice, the
             {"epochs": [26, 185], "device": "B 1 thread", "precision": "bf16-autocast", "seconds": 1.0},  # second
             {"epochs": [186, 200], "device": "B 2 threads", "precision": "bf16-autocast", "seconds": 1.0}]  # alike
    assert precision_summary(three, "bf16-autocast") == "fp32 (epochs 1-25), bf16-autocast (epochs 26-200)"


def test_a_shorter_run_is_the_first_epochs_of_a_longer_one(tiny_result):
    """The short profile's seed spread is read from longer runs' curves at its last epoch
    (``report.curve_pool``): that holds while the learning rates are constant and the final
    evaluation measures what the per-epoch one does."""
    root, longer, _ = tiny_result
    short = run_or_load(TINY.replace(epochs=2), device="cpu", root=root, progress=False)
    at2 = longer.metrics.set_index("epoch").loc[2]
    assert short["val_acc_linear"] == pytest.approx(at2["val_acc_linear"], abs=1e-9)
    assert short.metrics["val_acc_linear"].tolist() == longer.metrics["val_acc_linear"].iloc[:2].tolist()
