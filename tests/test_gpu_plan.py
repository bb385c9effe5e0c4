"""The GPU plan (ffcnn_lib.gpu_plan, tools/gpu_session.sh next): order, done-detection, estimates,
the best network as one run (report_test is not in the run id; test numbers from kept weights;
stored ids kept or migrated), resume points in results/partial/gpu, and one round trip on the CPU
through the device's packing and the import at home."""
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ffcnn_lib import experiments, gpu_plan, sweeps
from ffcnn_lib import train as train_mod
from ffcnn_lib.config import Config
from ffcnn_lib.experiments import load, migrate_run_ids, run_or_load_many
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
    assert {n[:-len("-paper")] for n in names if n.endswith("-paper")} == \
        set(sweeps.ARTIFACTS) - {"headline"} - sweeps.SHORT_ONLY  # indicative readings: short only
    seeds = {s.name: {r.seed for r in s.runs()} for s in gpu_plan.stages() if s.artifact == "headline"}
    assert seeds["headline-s0"] == {0} and seeds["headline-s4"] == {4} and seeds["headline-short"] == {0}
    # right after the benchmark: the best network under today's defaults, seed 0, at the paper's settings
    assert gpu_plan.stages()[1].runs() == [Config(report_test=True)]
    assert gpu_plan.stages()[1].runs()[0].run_id() == Config().run_id()


def test_the_best_network_is_one_run_wherever_it_appears():
    """The headline's run is the 128x7x7 cell of Table 1, 3, Fig. 3A, 4B, 5 and 9 (report_test is
    not in the run id); whichever stage trains it first evaluates it on the test set and keeps its
    weights, so that no later stage trains it again."""
    for seed in sweeps.PROFILE["paper"].seeds:
        head = Config(report_test=True, seed=seed)
        for artifact in ("table1", "table3", "fig3a", "fig4b", "fig5", "fig9"):
            same = [r for _, r in sweeps.configs(artifact, "paper") if r.run_id() == head.run_id()]
            assert len(same) == 1 and not same[0].report_test, artifact
            assert gpu_plan.shared(same[0]) == (head, True)
    for profile in sweeps.PROFILES:  # under every profile: e.g. table1-short comes before headline-short
        head = sweeps.configs("headline", profile)[0][1]
        table1 = sweeps.configs("table1", profile)[0][1]
        assert table1.run_id() == head.run_id() and gpu_plan.shared(table1) == (head, True)
    cam = sweeps.configs("cam", "paper")[0][1]  # kept for the CAMs: also where Table 3 trains it
    table3 = next(r for _, r in sweeps.configs("table3", "paper") if r.run_id() == cam.run_id())
    assert gpu_plan.shared(table3) == (table3, True)
    assert gpu_plan.shared(Config(filters=64)) == (Config(filters=64), False)


def test_done_detection_from_the_result_cache(results_root):
    bench, bp, cam = Stage("bench"), Stage("bp-short", "bp", "short"), Stage("cam-short", "cam", "short")
    assert not gpu_plan.is_done(bench)
    bench_record(results_root, variant="bf16 + channels_last + compile reduce-overhead")  # not the training path
    assert not gpu_plan.is_done(bench)
    bench_record(results_root, variant="bf16 + channels_last + compile")  # before compile modes were named: counts
    assert gpu_plan.is_done(bench) and gpu_plan.reference()["ms"] == 2.0
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


def test_the_committed_benchmark_record_does_the_bench_stage():
    """The H100 record in results/benchmarks (its fast-path row labelled "... compile", before the
    compile modes were named) spares a call the ~8 minutes of benchmarking again."""
    rec = gpu_plan.bench_done(REPO / "results")
    assert rec is not None and "H100" in rec["device"]
    assert gpu_plan.reference(REPO / "results")["source"].startswith(rec["device"])


def test_a_stored_run_without_test_numbers_gets_them_from_its_weights_not_by_training(results_root):
    head = Stage("headline-s0", "headline", "paper", (0,))
    run = head.runs()[0]
    fake_result(results_root, run.replace(report_test=False))  # trained for Table 1, without weights: retrain
    assert head.pending() == [run] and not head.untested()
    (results_root / "runs" / run.run_id() / "weights.safetensors").write_bytes(b"")
    assert not head.pending() and head.untested() == [run] and not gpu_plan.is_done(head)
    e = gpu_plan.estimate(head, gpu_plan.reference())
    assert e.epochs == 0 and e.items[0].what.endswith("test numbers from its kept weights")
    assert e.seconds < gpu_plan.STARTUP_S + 60


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
    (results_root / "partial" / f"{run.run_id()}.pt").write_bytes(b"")  # the CPU campaign's: not the GPU's
    assert not head.pending()  # the campaign trains it: the GPU leaves it alone
    (results_root / "partial" / f"{run.run_id()}.pt").unlink()
    packed, scratch = gpu_plan.resume_paths([run])
    assert packed == results_root / "partial" / "gpu" / f"{run.run_id()}.resume.gz"
    scratch.parent.mkdir(parents=True)
    torch.save({"epoch": 150}, scratch)
    gpu_plan.pack_resume(scratch, packed)
    scratch.unlink()
    e3 = gpu_plan.estimate(head, ref)
    assert e3.epochs == 50 and not e3.notes and e3.items[0].note == "resumes at epoch 150"
    assert e3.seconds - gpu_plan.STARTUP_S == pytest.approx((e.seconds - gpu_plan.STARTUP_S) / 4, rel=0.1)


def test_plan_itemizes_the_next_three_stages_and_counts_a_shared_run_once(results_root):
    bench_record(results_root)
    plan = gpu_plan.select(gpu_plan.stages(), ["headline-s0", "choices-short", "fig3a-short", "table1-short",
                                               "headline-short"], None)
    out = io.StringIO()
    gpu_plan.print_plan(plan, file=out)
    lines = out.getvalue().splitlines()
    stage_rows = {line.split()[0]: i for i, line in enumerate(lines) if line and not line.startswith(" ")}
    items = [i for i, line in enumerate(lines) if line.startswith("    ")]
    # itemized: headline-s0 (1 run), choices-short (8), fig3a-short (8: the choices keep the classifier
    # input they were decided with, so none of their runs is fig3a's)
    assert len(items) == 1 + 8 + 8
    assert max(items) < stage_rows["table1-short"]
    assert f"    {Config().run_id()}: 200 epochs, " in lines[stage_rows["headline-s0"] + 1]
    assert "1 run trained by an earlier stage" in lines[stage_rows["table1-short"]]  # fig3a-short's 128x7x7
    assert "0/1" in lines[stage_rows["headline-short"]]  # = table1-short's first run, counted there
    minutes = [float(lines[stage_rows[n]].split()[3]) for n in ("headline-s0", "choices-short", "fig3a-short")]
    assert all(m > 0 for m in minutes)
    assert float(lines[stage_rows["fig3a-short"]].split()[4]) == pytest.approx(sum(minutes), abs=0.15)  # cumulated
    assert "GPU minutes in total" in out.getvalue() and "next: headline-s0" in out.getvalue()


def test_plan_warns_before_a_resume_point_would_overfill_the_device(results_root, monkeypatch):
    bench_record(results_root, ms=2.6)  # the H100's speed: the best network takes more than one call
    plan = gpu_plan.select(gpu_plan.stages(), ["headline-s0"], None)
    assert 34 < gpu_plan.resume_mib(plan[0].runs()) < 37  # 3.62 M parameters x 12 bytes x 0.85
    for tree, warned in ((24.0, False), (30.0, True)):
        monkeypatch.setattr(gpu_plan, "travelling_mib", lambda: tree)
        out = io.StringIO()
        gpu_plan.print_plan(plan, file=out)
        assert f"working tree {tree:.1f} MiB of its 64" in out.getvalue()
        assert ("WARNING: " + Config().run_id() in out.getvalue()) == warned


def test_a_run_a_fresh_call_would_finish_is_not_begun_late_in_a_call(results_root, monkeypatch):
    """No resume point for a short run: with too little time left it waits for the next call, and a
    smaller run of the stage that fits goes first."""
    import time
    bench_record(results_root, ms=2.0)
    stage = Stage("choices-short", "choices", "short")
    ref, every = gpu_plan.reference(), sweeps.PROFILE["short"].goodness_every
    need = {r.run_id(): gpu_plan.batch_estimate([r], ref, every, results_root).seconds for r in stage.pending()}
    small = min(need, key=need.get)
    assert sorted(need.values())[1] > need[small] + 5  # the valid-padding network is the smallest
    started = []
    monkeypatch.setattr(train_mod, "resolve_device", lambda device=None: torch.device("cuda"))
    monkeypatch.setattr(gpu_plan, "train_batch", lambda batch, *a, **k: started.append(batch) or [None] * len(batch))
    monkeypatch.setitem(gpu_plan.MIN_START_S, "cuda", 0.0)
    left = need[small] + 3
    assert not gpu_plan.run_stage(stage, "cuda", time.time() + left, call_s=400.0)
    assert [b[0].run_id() for b in started] == [small]
    started.clear()  # at a call's start (as much time left as a call has), the first begins whatever it needs
    assert not gpu_plan.run_stage(stage, "cuda", time.time() + left, call_s=left + 30)
    assert started[0][0].run_id() == stage.pending()[0].run_id() != small


def test_resume_points_pack_losslessly_and_smaller():
    """What goes to results/partial/gpu unpacks to the checkpoint, bit for bit, strides included."""
    conv = torch.randn(8, 4, 7, 7) * 0.1
    state = {"model": {"w": conv.to(memory_format=torch.channels_last), "b": torch.randn(8),
                       "classifier": torch.randn(1, 10, 300) * 1e-3},
             "optimizer": {"state": {0: {"step": torch.tensor(7.0), "exp_avg": torch.randn(8, 4, 7, 7) * 1e-4,
                                         "exp_avg_sq": torch.rand(8, 4, 7, 7) * 1e-8}},
                           "param_groups": [{"lr": 5e-5, "betas": (0.9, 0.999), "params": [0]}]},
             "generators": [torch.Generator().manual_seed(3).get_state()], "epoch": 4,
             "histories": [[{"epoch": 1, "val_acc_goodness": float("nan")}]], "seconds": 1.5}
    tmp = Path(os.environ.get("TMPDIR", "/tmp")) / f"resume-test-{os.getpid()}"
    tmp.mkdir(exist_ok=True)
    try:
        torch.save(state, tmp / "a.pt")
        gpu_plan.pack_resume(tmp / "a.pt", tmp / "a.resume.gz")
        gpu_plan.unpack_resume(tmp / "a.resume.gz", tmp / "b.pt")
        back = torch.load(tmp / "b.pt", weights_only=True)
        assert (tmp / "a.resume.gz").stat().st_size < 0.95 * (tmp / "a.pt").stat().st_size
    finally:
        shutil.rmtree(tmp)

    def same(a, b):
        if isinstance(a, torch.Tensor):
            assert a.dtype == b.dtype and a.shape == b.shape and a.stride() == b.stride() and torch.equal(a, b)
        elif isinstance(a, dict):
            assert a.keys() == b.keys() and all(same(a[k], b[k]) or True for k in a)
        elif isinstance(a, (list, tuple)):
            assert type(a) is type(b) and len(a) == len(b) and all(same(x, y) or True for x, y in zip(a, b))
        elif isinstance(a, float) and a != a:
            assert b != b
        else:
            assert a == b
    same(state, back)


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
    home: the first stops after an epoch and brings back the partial record and the resume point,
    which lands in results/partial/gpu (committed: it travels with the working tree); the second, on
    a fresh copy of the results without what git ignores (results/checkpoints), resumes from it and
    brings back the run. (A BP run of the smoke profile: the CPU's time goes to starting Python and
    loading MNIST.)"""
    home, dev = tmp_path / "home", tmp_path / "dev"
    bench_record(home)  # the benchmark stage is done: the CPU starts with the training stages
    env = {**os.environ, "DEVICE": "cpu", "PYTHON": sys.executable}
    cmd = ["bash", "tools/gpu_session.sh", "next", "--profile", "smoke", "--only", "bench,bp-short",
           "--reserve", "0"]

    def device_call(n: int, seconds: str) -> Path:
        shutil.rmtree(dev, ignore_errors=True)
        # the device's copy of the working tree: what git does not ignore, nothing carried
        shutil.copytree(home, dev, ignore=lambda folder, names: ["checkpoints"] if Path(folder) == home else [])
        out = tmp_path / f"out{n}"
        out.mkdir()
        p = subprocess.run(cmd + ["--seconds", seconds], cwd=REPO, capture_output=True, text=True,
                           env={**env, "FFCNN_RESULTS": str(dev), "OUT": str(out)})
        assert p.returncode == 0, p.stdout + p.stderr
        subprocess.run(["bash", "tools/import_gpu_results.sh", str(out)], cwd=REPO, check=True, capture_output=True,
                       env={**env, "FFCNN_RESULTS": str(home)})
        return out

    bp = Stage("bp-short", "bp", "short").runs("smoke")[0].run_id()
    resume = home / "partial" / "gpu" / f"{bp}.resume.gz"
    out = device_call(1, "1")  # no time: one epoch, then stop
    assert sorted(p.name for p in out.iterdir()) == ["results.tgz.part-aa", "resume.tar.part-aa"]
    assert (home / "partial" / f"{bp}.metrics.csv").exists() and resume.exists()
    assert not list((home / "checkpoints").rglob("*.pt")) if (home / "checkpoints").exists() else True
    assert not (home / "runs").exists() or not any((home / "runs").iterdir())
    first_epoch = (home / "partial" / f"{bp}.metrics.csv").read_text().splitlines()[1]
    assert gpu_plan.epochs_done([Stage("bp-short", "bp", "short").runs("smoke")[0]], home) == (1, "")

    out = device_call(2, "600")
    assert (out / "resume-gone.txt").read_text().split() == [f"partial/gpu/{bp}.resume.gz"]
    assert json.loads((home / "runs" / bp / "summary.json").read_text())["epochs_run"] == 2
    # resumed, not retrained: epoch 1 is the first call's (its wall time included)
    assert (home / "runs" / bp / "metrics.csv").read_text().splitlines()[1] == first_epoch
    assert not list((home / "partial").rglob("*.*")) and not list(home.rglob("*.pt"))


# --- run ids: report_test is not in them; stored runs keep theirs or are migrated -------------------

def test_every_stored_run_and_partial_record_is_named_by_its_config():
    """Recomputed from config.json, every stored run's id is its folder's name: runs stored without
    report_test hash as they always did, those stored with it were migrated (migrate_run_ids)."""
    runs = [p for p in sorted((REPO / "results" / "runs").glob("*/config.json")) if not p.parent.name.startswith(".")]
    assert len(runs) > 100
    for path in runs:
        config = Config.from_dict(json.loads(path.read_text()))
        assert config.run_id() == path.parent.name
        assert json.loads((path.parent / "summary.json").read_text())["run_id"] == path.parent.name
    for path in sorted((REPO / "results" / "partial").glob("*.json")):
        info = json.loads(path.read_text())
        assert isinstance(info["config"], dict), path
        assert Config.from_dict(info["config"]).run_id() == info["run_id"] == path.name[:-len(".json")]


def test_report_test_leaves_the_run_id_and_nothing_else_does():
    base = Config(filters=16, kernel=5, n_test=1000)
    assert base.replace(report_test=True).run_id() == base.run_id()
    assert base.replace(n_test=500).run_id() != base.run_id()  # hashed as before, read or not
    assert base.replace(precision="bf16").run_id() != base.run_id()


TINY = Config(filters=(2, 2), kernel=3, n_train=100, n_val=50, n_test=60, epochs=1, batch_size=50)


def test_test_numbers_come_from_the_kept_weights_when_asked_for(results_root, monkeypatch):
    run_or_load_many([TINY], device="cpu", progress=False, save_weights=True)  # trained without them
    no_weights = TINY.replace(seed=1)
    run_or_load_many([no_weights], device="cpu", progress=False)

    def refuse(*args, **kwargs):
        raise AssertionError("trained again")
    monkeypatch.setattr(train_mod, "train_many", refuse)
    result, = run_or_load_many([TINY.replace(report_test=True)], device="cpu", progress=False)
    final, prov = result.summary["final"], result.summary["provenance"]
    assert 0 <= final["test_acc_linear"] <= 1 and 0 <= final["test_acc_goodness"] <= 1
    assert sum(map(sum, final["test_confusion_goodness"])) == TINY.n_test
    assert "kept weights" in prov["test_evaluation"]["how"] and prov["test_evaluation"]["n_test"] == TINY.n_test
    assert result.path.name == TINY.run_id() and not result.config.report_test  # the run as it was trained
    assert experiments.add_test_numbers(TINY).summary == result.summary  # once only
    # a run that kept no weights cannot: it stays without (the plan trains it again, with them)
    res, = run_or_load_many([no_weights.replace(report_test=True)], device="cpu", progress=False)
    assert not experiments.has_test_numbers(res)
    with pytest.raises(FileNotFoundError, match="kept no weights"):
        experiments.add_test_numbers(no_weights)


def test_runs_stored_under_an_earlier_id_are_migrated(results_root):
    """A run stored with report_test=True (its id then held it) moves to its id; where the same run
    is stored without test numbers, the one with them stays. Partial records move too."""
    run_or_load_many([TINY], device="cpu", progress=False)                   # Table 1's, no test numbers
    with_test, = run_or_load_many([TINY.replace(report_test=True, seed=1)], device="cpu", progress=False,
                                  save_weights=True)
    both, = run_or_load_many([TINY.replace(report_test=True)], device="cpu", progress=False, force=True,
                             save_weights=True)
    runs = results_root / "runs"
    for result, old in ((with_test, "ff-2-2-k3-old-1"), (both, "ff-2-2-k3-old-0")):
        os.replace(result.path, runs / old)   # where the earlier ids put them
    run_or_load_many([TINY], device="cpu", progress=False)                   # the twin without test numbers
    assert not experiments.has_test_numbers(load(TINY))
    partial = results_root / "partial"
    partial.mkdir()
    p_cfg = TINY.replace(seed=2, report_test=True)
    (partial / "old-2.json").write_text(json.dumps({"run_id": "old-2", "config": p_cfg.to_dict()}))
    (partial / "old-2.metrics.csv").write_text("epoch\n1\n")
    (partial / "old-3.json").write_text(json.dumps({"run_id": "old-3", "config": "a description"}))

    done = migrate_run_ids()
    assert len(done) == 4 and "old-3" in done[-1] and "left as it is" in done[-1]
    assert sorted(p.name for p in runs.iterdir()) == sorted([TINY.run_id(), TINY.replace(seed=1).run_id()])
    for config in (TINY, TINY.replace(seed=1)):
        result = load(config)
        assert experiments.has_test_numbers(result) and result.summary["run_id"] == config.run_id()
        assert (result.path / "weights.safetensors").exists()
    assert json.loads((partial / f"{p_cfg.run_id()}.json").read_text())["run_id"] == p_cfg.run_id()
    assert (partial / f"{p_cfg.run_id()}.metrics.csv").exists() and not (partial / "old-2.json").exists()
    assert migrate_run_ids() == [done[-1]]  # nothing more to do
