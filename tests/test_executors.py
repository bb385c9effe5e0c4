"""Sweeps through the local and the Dask executor fill one cache, each run trained once."""
import threading

import pytest

from ffcnn_lib import Config, load
from ffcnn_lib.executors import run_sweep

BASE = Config(filters=2, kernel=3, batch_size=50, lr=2e-3, n_train=200, n_val=100, epochs=1)
SWEEP = [BASE.replace(K=k) for k in (0.2, 0.35, 0.5)] + [BASE.replace(kernel=5)]


def test_dask_local_cluster_fills_the_cache(results_root):
    pytest.importorskip("dask.distributed")
    results = run_sweep(SWEEP + SWEEP[:1], "dask", n_workers=2, device="cpu")
    assert [r.config for r in results] == SWEEP + SWEEP[:1]
    assert all(load(c) is not None for c in SWEEP)
    stamps = [r.summary["provenance"]["finished"] for r in results[:4]]
    again = run_sweep(SWEEP, "local", device="cpu")  # all cached: nothing is retrained
    assert [r.summary["provenance"]["finished"] for r in again] == stamps


def test_two_processes_asking_for_one_run_train_it_once(results_root):
    import ffcnn_lib.train as train_mod

    calls = []
    real = train_mod.train_many

    def counting(*a, **k):
        calls.append(1)
        return real(*a, **k)

    train_mod.train_many = counting
    try:
        threads = [threading.Thread(target=run_sweep, args=([BASE],), kwargs={"device": "cpu", "progress": False})
                   for _ in range(2)]
        [t.start() for t in threads]
        [t.join() for t in threads]
    finally:
        train_mod.train_many = real
    assert len(calls) == 1 and load(BASE) is not None


def test_unknown_executor_named():
    with pytest.raises(ValueError, match="'ray'.*allowed: local, dask"):
        run_sweep(SWEEP, "ray")
