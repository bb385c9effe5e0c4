"""The GPU plan (ffcnn_lib.gpu_plan, tools/gpu_session.sh next): order, done-detection, estimates,
and one round trip on the CPU through the device's packing and the import at home."""
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ffcnn_lib import gpu_plan, sweeps
from ffcnn_lib.experiments import run_or_load_many
from ffcnn_lib.gpu_plan import FAST_VARIANT, Stage

REPO = Path(__file__).resolve().parent.parent


def bench_record(root: Path, ms: float = 2.0, variant: str = FAST_VARIANT, floor: float | None = None,
                 complete: bool | None = True, name: str = "bench-cuda-128x128x128-k7.json",
                 time: str = "2026-12-01T10:00:00Z") -> None:
    """A CUDA benchmark record of the paper's network as bench.py writes it (only what the plan reads)."""
    rec = {"device": "NVIDIA H100 80GB HBM3", "config": sweeps.Config().to_dict(), "peak_tflops": 989.0,
           "rows": [{"variant": "eager fp32 (TF32 off)", "ms_per_step": 3 * ms}, {"variant": variant, "ms_per_step": ms}],
           "multirun": [{"runs": 8, "compile_mode": "default", "ms_per_step_single": floor,
                         "ms_per_step_stacked": 2.4 * floor}] if floor else [],
           "time": time}
    if complete is not None:
        rec["complete"] = complete
    (root / "benchmarks").mkdir(parents=True, exist_ok=True)
    (root / "benchmarks" / name).write_text(json.dumps(rec))


def fake_result(root: Path, config, weights: bool = False) -> None:
    """A stored run as the result cache sees it (config, summary, metrics; weights if asked)."""
    path = root / "runs" / config.run_id()
    path.mkdir(parents=True)
    (path / "config.json").write_text(json.dumps(config.to_dict()))
    (path / "summary.json").write_text(json.dumps({"config": config.to_dict(), "final": {}}))
    (path / "metrics.csv").write_text("epoch\n1\n")
    if weights:
        (path / "weights.safetensors").write_bytes(b"")


def test_plan_order_bench_headline_choices_short_then_headline_seed_1():
    names = [s.name for s in gpu_plan.stages()]
    assert len(names) == len(set(names))
    assert names[:3] == ["bench", "headline-s0", "choices-short"]
    shorts = [n for n in names if n.endswith("-short")]
    s1 = names.index("headline-s1")
    assert {n[:-len("-short")] for n in shorts} == set(sweeps.ARTIFACTS)   # every artifact under short...
    assert max(names.index(n) for n in shorts) < s1                       # ...before seed 1 of the best network
    assert names[s1:s1 + 4] == ["headline-s1", "headline-s2", "headline-s3", "headline-s4"]
    assert names[s1 + 4:s1 + 8] == ["bp-paper", "cam-paper", "table3-paper", "fig3a-paper"]
    assert {n[:-len("-paper")] for n in names if n.endswith("-paper")} == set(sweeps.ARTIFACTS) - {"headline"}
    seeds = {s.name: {r.seed for r in s.runs()} for s in gpu_plan.stages() if s.artifact == "headline"}
    assert seeds["headline-s0"] == {0} and seeds["headline-s4"] == {4} and seeds["headline-short"] == {0}


def test_done_detection_from_the_result_cache(results_root):
    bench, bp, cam = Stage("bench"), Stage("bp-short", "bp", "short"), Stage("cam-short", "cam", "short")
    assert not gpu_plan.is_done(bench)
    bench_record(results_root, variant="bf16 + channels_last + compile")  # before compile modes were named
    assert not gpu_plan.is_done(bench)
    assert gpu_plan.reference()["ms"] == 2.0  # ...but its speed serves the estimates
    bench_record(results_root, ms=1.5, complete=False, name="bench-cuda-new.json", time="2026-12-02T10:00:00Z")  # cut short: counts, so next moves on
    assert gpu_plan.is_done(bench) and gpu_plan.reference()["ms"] == 1.5
    out = io.StringIO()
    gpu_plan.print_plan([bench, bp], file=out)
    assert "cut short" in out.getvalue() and "next: bp-short" in out.getvalue()

    assert not gpu_plan.is_done(bp) and not gpu_plan.is_done(cam)
    fake_result(results_root, bp.runs()[0])
    fake_result(results_root, cam.runs()[0])  # without the weights its figures need
    assert gpu_plan.is_done(bp) and not gpu_plan.is_done(cam)
    (results_root / "runs" / cam.runs()[0].run_id() / "weights.safetensors").write_bytes(b"")
    assert gpu_plan.is_done(cam)
    plan = gpu_plan.select(gpu_plan.stages(), None, ["headline-s0"])
    out = io.StringIO()
    gpu_plan.print_plan(plan, file=out)
    text = out.getvalue()
    assert "bp-short" not in text and "cam-short" not in text and "headline-s0" not in text
    assert "next: choices-short" in text
    with pytest.raises(ValueError, match="unknown stages"):
        gpu_plan.select(gpu_plan.stages(), ["nope"], None)


def test_estimate_scales_by_flops_with_a_floor_and_counts_checkpoints(results_root):
    bench_record(results_root, ms=2.0, floor=0.5)
    ref = gpu_plan.reference()
    assert (ref["ms"], ref["floor_ms"]) == (2.0, 0.5) and ref["extra_ms"] == pytest.approx(0.1)
    head = Stage("headline-s0", "headline", "paper", (0,))
    e = gpu_plan.estimate(head, ref)
    train_s = 200 * 1000 * 2.0e-3  # 200 epochs of 1,000 steps at the measured 2 ms/step
    assert (e.runs, e.total, e.epochs) == (1, 1, 200)
    assert train_s < e.seconds - gpu_plan.STARTUP_S < 1.15 * train_s  # + evaluation
    # a 16-filter network is launch-bound: the floor, not its FLOPs, sets its speed
    cam = gpu_plan.estimate(Stage("cam-paper", "cam", "paper"), ref)
    assert 200 * 1000 * 0.5e-3 < cam.seconds - gpu_plan.STARTUP_S < 1.15 * 200 * 1000 * 0.5e-3
    # five seeds of it stacked: one pass at the floor of five (0.5 + 4 x 0.1 ms/step); the paper's
    # network at its measured speed, two stacked at twice that
    small, big = sweeps.Config(filters=16, kernel=5), sweeps.Config()
    assert gpu_plan.step_ms([small.replace(seed=s) for s in range(5)], ref) == pytest.approx(0.9)
    assert gpu_plan.step_ms([big], ref) == pytest.approx(2.0)
    assert gpu_plan.step_ms([big, big.replace(seed=1)], ref) == pytest.approx(4.0)
    # a checkpoint at epoch 150 leaves 50 epochs; a partial record without its checkpoint restarts
    run = head.runs()[0]
    (results_root / "partial").mkdir()
    (results_root / "partial" / f"{run.run_id()}.metrics.csv").write_text("epoch\n" + "\n".join(map(str, range(1, 151))))
    (results_root / "partial" / f"{run.run_id()}.json").write_text("{}")
    e2 = gpu_plan.estimate(head, ref)
    assert e2.epochs == 200 and "restarts" in e2.notes[0]
    gpu_plan.checkpoint_dir().mkdir(parents=True)
    torch.save({"epoch": 150}, gpu_plan.checkpoint_dir() / f"{run.run_id()}.pt")
    e3 = gpu_plan.estimate(head, ref)
    assert e3.epochs == 50 and not e3.notes
    assert e3.seconds - gpu_plan.STARTUP_S == pytest.approx((e.seconds - gpu_plan.STARTUP_S) / 4, rel=0.1)


def test_checkpoint_names_match_the_result_cache(results_root):
    """The plan finds a stack's checkpoint under the name run_or_load_many gives it."""
    a = sweeps.Config(filters=2, kernel=3, batch_size=50, n_train=100, n_val=50, epochs=3)
    batch = [a, a.replace(seed=1)]
    assert run_or_load_many(batch, device="cpu", progress=False, time_budget_s=0,
                            checkpoint_dir=gpu_plan.checkpoint_dir()) == [None, None]
    assert [p.stem for p in gpu_plan.checkpoint_dir().glob("*.pt")] == [gpu_plan.checkpoint_name(batch)]
    assert gpu_plan.epochs_done(batch, results_root) == (1, "")


def test_next_on_cpu_packs_and_imports_round_trip(tmp_path):
    """Two calls of `gpu_session.sh next` on the CPU (smoke profile), each followed by the import at
    home: the first stops after an epoch and brings back the partial record and the checkpoint, the
    second (on a fresh copy carrying that checkpoint) resumes and brings back the run. (A BP run of
    the smoke profile: the CPU's time goes to starting Python and loading MNIST.)"""
    home, dev = tmp_path / "home", tmp_path / "dev"
    bench_record(home)  # the benchmark stage is done: the CPU starts with the training stages
    env = {**os.environ, "DEVICE": "cpu", "PYTHON": sys.executable}
    cmd = ["bash", "tools/gpu_session.sh", "next", "--profile", "smoke", "--only", "bench,bp-short",
           "--reserve", "0"]

    def device_call(n: int, seconds: str) -> Path:
        shutil.rmtree(dev, ignore_errors=True)
        shutil.copytree(home, dev)  # the device's copy of the working tree, with results/checkpoints/gpu carried
        out = tmp_path / f"out{n}"
        out.mkdir()
        p = subprocess.run(cmd + ["--seconds", seconds], cwd=REPO, capture_output=True, text=True,
                           env={**env, "FFCNN_RESULTS": str(dev), "OUT": str(out)})
        assert p.returncode == 0, p.stdout + p.stderr
        subprocess.run(["bash", "tools/import_gpu_results.sh", str(out)], cwd=REPO, check=True, capture_output=True,
                       env={**env, "FFCNN_RESULTS": str(home)})
        return out

    bp = Stage("bp-short", "bp", "short").runs("smoke")[0].run_id()
    out = device_call(1, "1")  # no time: one epoch, then stop
    assert sorted(p.name for p in out.iterdir()) == ["ckpt.tgz.part-aa", "results.tgz"]
    assert (home / "partial" / f"{bp}.metrics.csv").exists() and (home / "checkpoints" / "gpu" / f"{bp}.pt").exists()
    assert not (home / "runs").exists() or not any((home / "runs").iterdir())
    first_epoch = (home / "partial" / f"{bp}.metrics.csv").read_text().splitlines()[1]

    out = device_call(2, "600")
    assert (out / "ckpt-gone.txt").read_text().split() == [f"checkpoints/gpu/{bp}.pt"]
    assert json.loads((home / "runs" / bp / "summary.json").read_text())["epochs_run"] == 2
    # resumed, not retrained: epoch 1 is the first call's (its wall time included)
    assert (home / "runs" / bp / "metrics.csv").read_text().splitlines()[1] == first_epoch
    assert not list((home / "partial").iterdir()) and not list((home / "checkpoints").rglob("*.pt"))
