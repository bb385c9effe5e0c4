"""Sweeps through the local and the Dask executor fill one cache, each run trained once."""
from concurrent.futures import ThreadPoolExecutor

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


def _in_two_threads(fn, *args, **kwargs) -> list:
    """``fn`` called in two threads at once; their results, and an exception raised in either
    thread is raised here (a bare ``threading.Thread`` would only print it and let the test pass)."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [pool.submit(fn, *args, **kwargs) for _ in range(2)]
    return [f.result() for f in futures]


def test_two_processes_asking_for_one_run_train_it_once(results_root, monkeypatch):
    import ffcnn_lib.train as train_mod

    calls = []
    real = train_mod.train_many

    def counting(*a, **k):
        calls.append(1)
        return real(*a, **k)

    monkeypatch.setattr(train_mod, "train_many", counting)
    results = _in_two_threads(run_sweep, [BASE], device="cpu", progress=False)
    assert len(calls) == 1 and load(BASE) is not None
    assert [r.summary for (r,) in results] == [load(BASE).summary] * 2  # both got the one stored result


def test_an_exception_in_a_worker_thread_fails_the_caller(results_root, monkeypatch):
    """The harness above cannot hide a failure: a sweep that raises in its thread raises here."""
    import ffcnn_lib.train as train_mod

    def broken(*a, **k):
        raise RuntimeError("training failed in a worker thread")

    monkeypatch.setattr(train_mod, "train_many", broken)
    with pytest.raises(RuntimeError, match="in a worker thread"):
        _in_two_threads(run_sweep, [BASE], device="cpu", progress=False)


def test_unknown_executor_named():
    with pytest.raises(ValueError, match="'ray'.*allowed: local, dask"):
        run_sweep(SWEEP, "ray")
