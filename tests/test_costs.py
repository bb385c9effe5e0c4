"""What a missing cell would cost (issues #15, #25): the campaign's estimate per machine kind."""
import json
import math

import pytest

from ffcnn_lib import bench, campaign, costs, step_times
from ffcnn_lib.config import Config


def _steps(root, kind, steps: dict[Config, float]):
    """A campaign step cache of ``kind`` holding these configs' steps (one thread, as the campaign trains)."""
    path = step_times.steps_path(kind, root)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"kind": kind, "steps": {
        step_times.step_key(c, 1, kind): {"ms_per_step": ms, "gflop_per_step": bench.step_flops(c) / 1e9}
        for c, ms in steps.items()}}))


def _hours(config, ms):  # 200 epochs of 1,000 steps, plus validation
    return 200 * 1000 * ms / 1e3 * bench.EVAL_OVERHEAD[config.model] / 3600


def test_cpu_hours_come_from_the_step_of_the_same_code_path_on_each_kind(results_root, monkeypatch):
    from ffcnn_lib import train
    monkeypatch.setattr(train, "BP_CPU_BF16", True)  # BP's default once its bf16 twin has matched
    ff16, ff64, bp = Config(filters=16, kernel=5), Config(filters=64, kernel=5), Config.bp()
    _steps(results_root, "amx", {ff16: 20.0, ff64: 100.0, Config.bp(precision="fp32"): 27.0})
    _steps(results_root, "avx2", {ff16: 50.0, bp: 60.0})
    est = costs.cpu_estimates(ff64)
    assert est["amx"] == (pytest.approx(_hours(ff64, 100.0)), "measured")
    c = Config(filters=32, kernel=5)  # scaled by FLOPs from the nearest network of its code path
    near16 = abs(math.log(bench.step_flops(c) / bench.step_flops(ff16)))
    near64 = abs(math.log(bench.step_flops(c) / bench.step_flops(ff64)))
    ref, ms = (ff16, 20.0) if near16 < near64 else (ff64, 100.0)
    hours, source = costs.cpu_estimates(c)["amx"]
    assert hours == pytest.approx(_hours(c, ms * bench.step_flops(c) / bench.step_flops(ref)))
    assert source == f"scaled from ff-{'-'.join([str(ref.filters[0])] * 3)}-k5-b50"
    # BP: measured in eager fp32 on avx2, where it trains so; on amx only its fp32 step is known,
    # and BP trains in bf16 there: no estimate rather than one from another code path
    bp_est = costs.cpu_estimates(bp)
    assert bp_est["avx2"] == (pytest.approx(_hours(bp, 60.0)), "measured") and bp_est["amx"][1] == "not measured"
    assert set(costs.cpu_hours(bp)) == {"avx2"}
    text = costs.describe(bp)
    assert "GPU time not measured yet" in text  # no CUDA record here
    assert "on a 2-core avx2 CPU (measured there)" in text and "not measured on amx" in text
    assert "scaled by FLOPs from ff-" in costs.describe(c)
    # a pinned bf16 run cannot train on a kind without native bf16
    assert set(costs.cpu_estimates(Config.bp(precision="bf16"))) == {"amx"}


def test_cost_cards_and_the_campaign_list_read_one_estimate(results_root, monkeypatch):
    from ffcnn_lib import machine
    monkeypatch.setattr(machine, "capabilities", lambda: {"model": "stub", "cores": 2, "flags": [], "kind": "avx2"})
    cell = next(c for c in campaign.CELLS if c.name == "BP 16x7x7 (Fig. 3A)")
    _steps(results_root, "avx2", {Config.bp(): 60.0})
    row = campaign.plan(workers=2).set_index("cell").loc[cell.name]
    hours, source = costs.cpu_estimates(cell.config())["avx2"]
    assert row["left_hours_here"] == pytest.approx(hours) and row["estimate"] == source == "scaled from bp-16-16-16-k5-b50"
