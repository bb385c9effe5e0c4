"""The benchmark's measuring instruments: FLOP count, saved-activation meter, records for the book."""
import json

import pytest
import torch

from ffcnn_lib import bench
from ffcnn_lib.config import Config
from ffcnn_lib.train import cpu_bf16_native


def test_step_flops_of_the_best_configuration():
    # 3B = 150 images forward through three layers, 2B = 100 backward (weight gradients) through
    # layers 2 and 3: about 0.63 TFLOP (issue #4's physical-limit estimate).
    assert bench.step_flops(Config()) == pytest.approx(0.631e12, rel=0.01)
    # including layer 1 adds its weight gradient only
    first = 2.0 * 1 * 128 * 49 * 784 * 100
    assert bench.step_flops(Config(include_first_layer=True)) - bench.step_flops(Config()) == pytest.approx(first)


def test_saved_activations_counts_each_storage_once_until_backward():
    x = torch.rand(1000, requires_grad=True)
    with bench.SavedActivations() as meter:
        y = x * x            # saves x twice (both operands): one storage
        z = y.exp()          # saves its output (another 4,000 bytes)
        assert meter.live == 8000
        z.sum().backward()
        assert meter.live == 0 and meter.peak == 8000
    w = torch.nn.Parameter(torch.rand(10))
    with bench.SavedActivations([w]) as meter:
        (w * torch.rand(10, requires_grad=True)).sum().backward()
        assert meter.peak == 40  # the parameter is not an activation


def test_layerwise_ff_keeps_one_layer_and_bp_all(results_root):
    mem = bench.memory(Config(filters=(4, 4, 4), kernel=3, batch_size=10), torch.device("cpu"))
    layer = 2 * 10 * 4 * 28 * 28 * 4  # positive + negative images, one layer's output, fp32
    # FF with a backward pass per layer keeps a layer's input and output, BP every layer's output
    assert mem["ff_layerwise"]["saved_mib"] * bench.MiB == pytest.approx(2 * layer, rel=0.05)
    image = 10 * 28 * 28 * 4
    assert mem["bp"]["saved_mib"] * bench.MiB == pytest.approx(3 * layer / 2 + image, rel=0.01)
    assert mem["ff"]["saved_mib"] > 2 * mem["ff_layerwise"]["saved_mib"]
    # without the classifier (its input: layers 2, 3 on B neutral images) only the layer remains
    assert mem["ff_layerwise_noclf"]["saved_mib"] * bench.MiB == pytest.approx(2 * layer, rel=0.05)


def test_ff_memory_per_layer_stays_flat_with_depth_while_bp_grows():
    rows = bench.memory_vs_depth((2, 4, 8), torch.device("cpu"), filters=2, kernel=3, batch_size=4)
    saved = {v: [r["result"][v]["saved_mib"] for r in rows] for v in bench.MEMORY_VARIANTS}
    assert saved["ff_layerwise_noclf"][0] == pytest.approx(saved["ff_layerwise_noclf"][-1], rel=0.01)
    assert saved["bp"][-1] > 3 * saved["bp"][0]
    assert saved["ff_layerwise"][-1] > saved["ff_layerwise"][0]  # the classifier reads every layer but the first


def test_records_recompute_flop_columns_and_tables(results_root):
    folder = results_root / "benchmarks"
    folder.mkdir(parents=True)
    row = {"variant": "v", "ms_per_step": 2.0, "epoch_s": 2.0, "run_200_epochs_min": 6.7, "tflops": 999.0,
           "fraction_of_peak": 9.0}
    mem = {v: {"saved_mib": 1.0} for v in bench.MEMORY_VARIANTS}
    record = {"device": "NVIDIA H100", "config": Config().to_dict(), "gflop_per_step": 1.0, "peak_tflops": 989.0,
              "rows": [row], "multirun": None, "memories": [{"config": Config().to_dict(), "result": mem}],
              "inference": None, "versions": {"torch": "x"}, "time": "2026-01-01T00:00:00Z"}
    (folder / "bench-b.json").write_text(json.dumps(record))
    old = {**record, "multirun": {"runs": 8, "throughput_ratio": 5.0}, "time": "2025-01-01T00:00:00Z"}
    (folder / "bench-a.json").write_text(json.dumps(old))  # early records kept one multi-run dict
    # the campaign's step-time cache sits beside the records and is not one of them
    (folder / "campaign-steps-avx2.json").write_text(json.dumps({"ff-16": 40.0}))
    recs = bench.records()
    assert recs[0]["multirun"] == [{"runs": 8, "throughput_ratio": 5.0}] and recs[1]["multirun"] is None
    recs = recs[1:]
    assert recs[0]["rows"][0]["tflops"] == pytest.approx(bench.step_flops(Config()) / 2e-3 / 1e12)
    t = bench.tables(recs)
    assert len(t["speed"]) == 1 and t["multirun"].empty and t["inference"].empty
    assert t["memory"].loc[0, "FF per layer: saved [MiB]"] == 1.0 and t["memory"].loc[0, "device"] == "H100"


def test_bench_runs_on_cpu_and_writes_a_record(tmp_path, capsys):
    assert bench.main(["--filters", "4", "--kernel", "3", "--steps", "1", "--runs", "2", "--device", "cpu",
                       "--memory-of", "bench", "--depths", "2", "--compile-modes", "", "--precision-epochs", "0",
                       "--bp-networks", "4x3", "--out", str(tmp_path)]) == 0
    from ffcnn_lib import machine
    record = json.loads((tmp_path / f"bench-cpu-{machine.kind()}-4x4x4-k3.json").read_text())
    # issue #25: BP's step in eager fp32 against its fast path (bf16 + channels_last, uncompiled: no
    # --compile-modes here), which only a CPU with native bf16 takes
    (bp,) = record["bp"]
    assert bp["network"] == "4x4x4 k3 b50" and bp["rows"][0]["variant"] == "eager fp32"
    assert [r["variant"] for r in bp["rows"][1:]] == (["bf16 + channels_last, eager (fast path)"]
                                                      if cpu_bf16_native() else [])
    assert bp["rows"][0]["speedup"] == 1.0 and all(r["ms_per_step"] > 0 for r in bp["rows"])
    shown = bench.tables([record])["bp_speed"]
    assert list(shown["variant"]) == [r["variant"] for r in bp["rows"]] and set(shown["threads"]) == {bp["threads"]}
    assert bp["load_1min"] >= 0 and set(shown["load (1 min) when timed"]) == {bp["load_1min"]}  # how shared the CPU was
    assert record["cpu"]["kind"] == machine.kind() and record["cpu"]["cores"] >= 1  # issue #17: the CPU's kind
    assert record["rows"][0]["ms_per_step"] > 0 and record["multirun"][0]["runs"] == 2
    # eager fp32 against bf16 (emulated where the CPU lacks it), with the step's profile saying why
    assert record["rows"][1]["variant"].startswith("bf16") and record["rows"][1]["speedup"] > 0
    assert 0 < record["profile"]["conv_share"] <= 1 and record["cpu_bf16_native"] in (True, False)
    assert set(record["memories"][0]["result"]) == set(bench.MEMORY_VARIANTS)
    assert record["inference"]["goodness_vs_linear"] > 1 and record["git_commit"]
    assert record["memory_by_depth"][0]["layers"] == 2
    assert "GFLOP per step" in capsys.readouterr().out


def test_cpu_targets_give_the_speedup_and_say_why_it_falls_short():
    rows = [{"variant": "eager fp32", "ms_per_step": 56.0}, {"variant": "fp32 + compile default", "ms_per_step": 46.0}]
    cpu = {"device": "cpu (x86_64, 2 threads)", "config": Config(filters=16, kernel=5).to_dict(), "rows": rows,
           "time": "2026-11-25T00:00:00Z", "cpu_bf16_native": False,
           "profile": {"conv_share": 0.77, "max_fp32_speedup": 1.3},
           "precision_check": {"diff_pp_linear": 0.1, "diff_pp_goodness": -0.15}}
    t = bench.cpu_targets([cpu])
    assert t.loc[0, "measured"] == pytest.approx(56 / 46) and t.loc[0, "verdict"].startswith("not met")
    assert "77 %" in t.loc[0, "verdict"] and "no native bf16" in t.loc[0, "verdict"]
    assert t.loc[1, "verdict"] == "met"
    assert set(bench.cpu_targets([])["verdict"]) == {"not measured (run make bench)"}


def test_targets_say_met_not_met_or_not_measured():
    cpu = {"device": "cpu (x86_64, 2 threads)", "config": Config().to_dict(), "rows": [], "multirun": []}
    assert set(bench.targets([cpu])["verdict"]) == {"not measured (needs an H100)"}
    row = {"variant": "bf16 + channels_last + compile default", "ms_per_step": 1.4}
    h100 = {"device": "NVIDIA H100 80GB HBM3", "config": Config().to_dict(), "rows": [row],
            "multirun": [{"runs": 8, "throughput_ratio": 3.0}],
            "precision_check": {"diff_pp_linear": 0.05, "diff_pp_goodness": -0.02}}
    assert list(bench.targets([cpu, h100])["verdict"]) == ["met", "not met", "met"]


def test_records_of_another_machine_kind_are_imported_under_their_kind(tmp_path):
    from pathlib import Path

    shared = tmp_path / "cpu-xeon-amx"
    shared.mkdir()
    (shared / "lscpu.txt").write_text("amx_bf16 amx_tile avx2 avx512_bf16 avx512f Model name:   Intel(R) Xeon(R)\n")
    rec = {"device": "cpu (x86_64, 2 threads)", "config": Config(filters=16, kernel=5).to_dict(), "time": "2026-12-02T00:00:00Z",
           "rows": [{"variant": "eager fp32", "ms_per_step": 60.0}, {"variant": "bf16 + channels_last + compile default",
                                                                    "ms_per_step": 20.0}], "cpu_bf16_native": True}
    (shared / "bench-cpu-16x16x16-k5.json").write_text(json.dumps(rec))
    out = tmp_path / "results" / "benchmarks"
    out.mkdir(parents=True)
    written = bench.import_records(shared, out)
    assert [p.name for p in written] == ["bench-cpu-amx-16x16x16-k5.json"]
    r = json.loads(written[0].read_text())
    assert r["cpu"]["kind"] == "amx" and r["cpu"]["model"] == "Intel(R) Xeon(R)" and "amx_bf16" in r["cpu"]["flags"]
    recs = bench.records(tmp_path / "results")
    assert recs[0]["kind"] == "amx" and recs[0]["device"] == "cpu (amx, 2 threads)"
    table = bench.kinds_table(recs)
    assert table.loc[0, "speed-up"] == 3.0 and table.loc[0, "precision"] == "bf16"
    assert table.loc[0, "200 epochs [h]"] == round(200 * 1000 * 0.020 * bench.EVAL_OVERHEAD['ff'] / 3600, 1)
    assert "Not measured yet: avx512-bf16" in bench.kinds_markdown(recs)  # and avx2
    # a record from before the field: no native bf16 means AVX2
    assert bench.record_kind({"device": "cpu (x86_64, 2 threads)", "cpu_bf16_native": False}) == "avx2"
    assert bench.record_kind({"device": "NVIDIA H100"}) == "cuda"


def test_the_readme_table_of_machine_kinds_is_the_one_the_committed_records_give():
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    start, end = "<!-- machine-kinds: generated by `python -m ffcnn_lib.bench --kinds` -->", "<!-- /machine-kinds -->"
    assert start in readme and end in readme
    block = readme.split(start)[1].split(end)[0].strip()
    assert block == bench.kinds_markdown(bench.records()), "README out of date: python -m ffcnn_lib.bench --kinds"


def test_bp_networks_are_given_as_filters_x_kernel():
    assert bench.parse_networks("16x5, 32x7,16-32-64x7") == [((16, 16, 16), 5), ((32, 32, 32), 7), ((16, 32, 64), 7)]
    assert bench.parse_networks("") == []
    for bad in ("16", "16x", "axb"):
        with pytest.raises(ValueError, match=repr(bad)):
            bench.parse_networks(bad)


def test_workers_check_times_one_thread_processes_side_by_side_and_keeps_one_figure_per_network(results_root):
    tiny = Config(filters=(2, 2, 2), kernel=3, epochs=1, n_train=200, n_val=10, batch_size=10)
    e = bench.workers_check(tiny, workers=2, steps=2)
    assert e["network"] == "FF 2x2x2 k3 b10" and e["path"] == "eager fp32" and len(e["ms_per_step_each"]) == 2
    assert e["ms_per_step_alone"] > 0 and min(e["ms_per_step_each"]) > 0
    # the steps a second both processes get done, over those of one process with both threads
    assert e["throughput_ratio"] == pytest.approx(e["ms_per_step_alone"] * sum(1 / m for m in e["ms_per_step_each"]))
    path = bench.store_workers(e)
    bench.store_workers({**e, "ms_per_step_alone": 2 * e["ms_per_step_alone"]})  # measured again: replaces it
    other = bench.store_workers({**e, "network": "BP 2x2x2 k3 b10"})
    stored = json.loads(path.read_text())["entries"]
    assert other == path and [s["network"] for s in stored] == ["FF 2x2x2 k3 b10", "BP 2x2x2 k3 b10"]
    assert stored[0]["ms_per_step_alone"] == 2 * e["ms_per_step_alone"] and stored[0]["cpu"]["kind"] in path.name
    table = bench.workers_markdown(results_root).splitlines()
    assert len(table) == 4 and table[2].startswith(f"| {stored[0]['cpu']['kind']} | ") and " | FF 2x2x2 k3 b10 | " in table[2]
    assert bench.workers_markdown(results_root.parent / "elsewhere").startswith("Not measured yet")


def test_workers_check_networks_name_their_model():
    ff, bp = bench.parse_runs("ff:16-32-64x7, bp:16x7")
    assert (ff.model, ff.filters, ff.kernel, ff.epochs) == ("ff", (16, 32, 64), 7, 200)
    assert (bp.model, bp.filters, bp.kernel) == ("bp", (16, 16, 16), 7) and bench.parse_runs("16x5")[0].model == "ff"
    with pytest.raises(ValueError, match="'cnn' is not one of ff, bp"):
        bench.parse_runs("cnn:16x5")


def test_the_readme_table_of_workers_is_the_one_the_committed_figures_give():
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    start, end = "<!-- workers: generated by `python -m ffcnn_lib.bench --workers-table` -->", "<!-- /workers -->"
    assert start in readme and end in readme
    block = readme.split(start)[1].split(end)[0].strip()
    assert block == bench.workers_markdown(), "README out of date: python -m ffcnn_lib.bench --workers-table"
