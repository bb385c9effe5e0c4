"""The CPU campaign (ffcnn_lib.campaign) and the CPU fast path (train.default_fast)."""
import math
import os
import subprocess

import pytest
import torch

from ffcnn_lib import campaign
from ffcnn_lib.__main__ import main
from ffcnn_lib.config import Config
from ffcnn_lib.experiments import claim, load, load_partial
from ffcnn_lib.train import _Run, cpu_bf16_native, default_fast


def test_every_cell_is_one_config_of_its_artifact_at_the_paper_settings():
    configs = [cell.config() for cell in campaign.CELLS]
    assert len({c.run_id() for c in configs}) == len(configs)
    for c in configs:  # the paper's exact settings: 200 epochs, batch 50, the full split
        assert (c.epochs, c.batch_size, c.n_train, c.n_val) == (200, 50, 50_000, 10_000)
        assert c.lr == (1e-3 if c.model == "bp" else 5e-5)
    assert configs[0].model == "bp" and configs[1].filters == (16, 16, 16) and configs[1].kernel == 5
    assert configs[2].max_pool


def test_a_cell_that_matches_no_config_or_several_is_an_error():
    with pytest.raises(LookupError, match="0 configs"):
        campaign.Cell("none", "table3", {"kernel": 11}).paper()
    with pytest.raises(LookupError, match="configs match"):
        campaign.Cell("many", "table3", {"kernel": 7}).paper()


def test_campaign_stops_with_a_committed_resume_point_and_the_next_call_finishes(results_root):
    cells = [campaign.Cell("tiny", "cam")]
    config = cells[0].config("smoke")
    kw = dict(cells=cells, profile="smoke", progress=False, min_left_s=0)
    # a budget spent after the first epoch: the run stops at that boundary
    assert campaign.run(1e-3, **kw) == 0
    resume = results_root / "partial" / f"{config.run_id()}.pt"
    assert resume.exists() and not (results_root / "checkpoints" / resume.name).exists()
    metrics, info = load_partial(config)
    assert len(metrics) == 1 and info["config"]["epochs"] == 2
    row = campaign.status(cells=cells, profile="smoke").iloc[0]
    assert (row["status"], row["epochs_done"]) == ("partial", 1) and row["left_hours"] > 0
    # the next session resumes it from there and keeps the weights (CAMs)
    assert campaign.run(1e6, **kw) == 1
    result = load(config)
    assert len(result.metrics) == 2 and (result.path / "weights.safetensors").exists()
    assert not resume.exists() and load_partial(config) is None
    row = campaign.status(cells=cells, profile="smoke").iloc[0]
    assert (row["status"], row["epochs_done"]) == ("finished", 2)


def test_curves_follow_each_started_cell_with_the_paper_value_where_it_reports_one(results_root):
    assert campaign.reported_val(campaign.CELLS[0]) == 99.13  # Sec. 3.1, BP
    assert campaign.reported_val(campaign.CELLS[2]) == 97.57  # Table 3, 16x5x5 + max pooling
    # the paper shows the Fig. 3A / 4B cells only as plot points: no number to draw
    assert {c.artifact for c in campaign.CELLS if math.isnan(campaign.reported_val(c))} == {"fig3a", "fig4b"}
    cells = [campaign.Cell("tiny", "cam")]
    assert campaign.curves(cells=cells, profile="smoke").empty  # nothing started
    assert campaign.run(1e-3, cells=cells, profile="smoke", progress=False, min_left_s=0) == 0
    curve = campaign.curves(cells=cells, profile="smoke")
    assert curve["epoch"].tolist() == [1] and curve["status"].iloc[0] == "partial"
    assert 0 < curve["val_acc"].iloc[0] <= 1


def test_cli_campaign_lists_the_cells(results_root, capsys):
    assert main(["campaign", "--list"]) == 3  # nothing finished in an empty cache
    out = capsys.readouterr().out
    assert "BP 16x5x5 (Sec. 3.1)" in out and f"0 of {len(campaign.CELLS)} cells finished" in out
    assert main(["campaign", "--budget-minutes", "-1"]) == 2


def test_fast_path_defaults_on_cuda_and_for_long_ff_runs_on_a_cpu():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    long_ff, short_ff = Config(filters=16, kernel=5), Config(filters=16, kernel=5, epochs=2, n_train=1000)
    assert default_fast(cuda, short_ff) and default_fast(cuda, Config.bp())
    assert default_fast(cpu, long_ff) and not default_fast(cpu, short_ff)
    assert not default_fast(cpu, Config.bp())  # compiling BP's step gains nothing on a CPU


def test_cpu_fast_path_uses_bf16_only_where_the_cpu_has_it():
    tiny = Config(filters=(2, 2), kernel=3, n_train=100, n_val=10, epochs=1)
    run = _Run([tiny], torch.device("cpu"), True, None)
    assert run.bf16 == cpu_bf16_native()
    assert run.precision_name == ("bf16-autocast" if run.bf16 else "fp32")
    assert bool(run.note) != run.bf16  # a CPU without bf16 says why it stays in fp32
    forced = _Run([tiny], torch.device("cpu"), True, None, bf16=True)
    with forced.precision():
        assert torch.is_autocast_enabled("cpu")
    eager = _Run([tiny], torch.device("cpu"), False, None)
    assert not eager.bf16 and eager.precision_name == "fp32"


def test_a_cell_another_worker_claimed_is_skipped(results_root):
    cells = [campaign.Cell("tiny", "cam"), campaign.Cell("tiny bp", "bp")]
    kw = dict(cells=cells, profile="smoke", progress=False, min_left_s=0)
    with claim(f"campaign-{cells[0].config('smoke').run_id()}") as mine:  # as a second worker would
        assert mine
        assert campaign.run(1e6, **kw) == 1
        assert load(cells[0].config("smoke")) is None and load(cells[1].config("smoke")) is not None
    assert campaign.run(1e6, **kw) == 2  # released: the next call trains it


def test_cli_campaign_workers_train_different_cells_side_by_side(results_root, monkeypatch, capsys):
    started = []

    class FakeWorker:
        def __init__(self, cmd, stdout, stderr):
            started.append(cmd)

        def wait(self):
            return 3  # ran to its budget with cells left: not a failure

    monkeypatch.setattr(subprocess, "Popen", FakeWorker)
    assert main(["campaign", "--workers", "2", "--budget-minutes", "5", "--cells", "0,1"]) == 3
    assert len(started) == 2 and all(cmd[cmd.index("--threads") + 1] == str(max(1, os.cpu_count() // 2))
                                     for cmd in started)
    assert all(cmd[-2:] == ["--cells", "0,1"] and "5.0" in cmd for cmd in started)
    assert "campaign-worker-1.log" in capsys.readouterr().out
    assert main(["campaign", "--workers", "0"]) == 2
