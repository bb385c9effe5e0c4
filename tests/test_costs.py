"""What a missing cell would cost (issue #15): scaled from measurements, per machine kind."""
import json
import math

import pytest

from ffcnn_lib import bench, costs
from ffcnn_lib.config import Config


def _record(root, kind, filters, fast_ms, eager_ms=100.0):
    c = Config(filters=filters, kernel=5)
    r = {"device": "cpu (x86_64, 2 threads)", "config": c.to_dict(), "time": "2026-12-02T00:00:00Z",
         "cpu": {"kind": kind, "model": "stub"},
         "rows": [{"variant": "eager fp32", "ms_per_step": eager_ms},
                  {"variant": "bf16 + channels_last + compile default", "ms_per_step": fast_ms}]}
    path = root / "benchmarks" / f"bench-cpu-{kind}-{filters}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(r))


def test_cpu_hours_scale_the_nearest_measured_network_of_each_kind_by_flops(results_root):
    _record(results_root, "amx", 16, fast_ms=20.0)
    _record(results_root, "amx", 64, fast_ms=100.0)
    _record(results_root, "avx2", 16, fast_ms=50.0)
    c = Config(filters=32, kernel=5)
    hours = costs.cpu_hours(c)
    near16 = abs(math.log(bench.step_flops(c) / bench.step_flops(Config(filters=16, kernel=5))))
    near64 = abs(math.log(bench.step_flops(c) / bench.step_flops(Config(filters=64, kernel=5))))
    ref, ms = (Config(filters=16, kernel=5), 20.0) if near16 < near64 else (Config(filters=64, kernel=5), 100.0)
    expected = 200 * 1000 * ms * bench.step_flops(c) / bench.step_flops(ref) / 1e3 * bench.EVAL_OVERHEAD['ff'] / 3600
    assert hours["amx"] == pytest.approx(expected)
    assert set(hours) == {"amx", "avx2"}
    # BP trains eagerly on a CPU: its cost comes from the eager row
    bp = costs.cpu_hours(Config.bp())
    assert bp["avx2"] == pytest.approx(200 * 1000 * 100.0 * bench.step_flops(Config.bp()) /
                                       bench.step_flops(Config(filters=16, kernel=5)) / 1e3 * bench.EVAL_OVERHEAD['bp'] / 3600)
    text = costs.describe(c)
    assert "GPU time not measured yet" in text and "on a 2-core amx CPU" in text  # no CUDA record here
