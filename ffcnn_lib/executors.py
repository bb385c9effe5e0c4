"""Run a sweep, a list of configs, here or on a Dask cluster, into the one result cache.

* ``local``: one run after the other in this process.
* ``dask``: one task per run on a ``dask.distributed`` cluster (a ``LocalCluster`` by default; pass
  a ``Client`` connected to anything else, e.g. a ``dask_jobqueue.SLURMCluster``). Workers must see
  the same ``results/`` folder (a shared file system on a cluster).

No result is lost or computed twice: task keys are the run ids (Dask runs each key once), a run's
folder appears atomically, a per-run file lock (:func:`ffcnn_lib.experiments.run_or_load`) stops two
processes from training the same config, and a task whose worker dies is rescheduled by Dask and
resumes from the run's last checkpoint.
"""
from __future__ import annotations

from pathlib import Path

from .config import Config
from .experiments import Result, load, results_dir, run_or_load

EXECUTORS = ("local", "dask")


def _run_one(config: Config, root: str, device: str, train_kwargs: dict) -> str:
    import torch

    torch.set_num_threads(1)  # one run per worker core
    run_or_load(config, device=device, root=Path(root), progress=False, **train_kwargs)
    return config.run_id()


def run_sweep(configs: list[Config], executor: str = "local", *, client=None, n_workers: int = 2,
              device: str = "auto", root: Path | None = None, **train_kwargs) -> list[Result]:
    """Results of ``configs`` (in order; duplicates run once), training what the cache lacks."""
    if executor not in EXECUTORS:
        raise ValueError(f"unknown executor {executor!r}; allowed: {', '.join(EXECUTORS)}")
    root = Path(root or results_dir())
    unique = list(dict.fromkeys(configs))
    if executor == "local":
        for c in unique:
            run_or_load(c, device=device, root=root, **train_kwargs)
    else:
        from dask.distributed import Client, LocalCluster

        own = client is None
        if own:
            cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                                   dashboard_address=None)
            client = Client(cluster)
        try:
            futures = client.map(_run_one, unique, root=str(root), device=device, train_kwargs=train_kwargs,
                                 key=[f"ffcnn-{c.run_id()}" for c in unique], retries=2)
            client.gather(futures)
        finally:
            if own:
                client.close()
                cluster.close()
    results = [load(c, root) for c in configs]
    missing = [c.run_id() for c, r in zip(configs, results) if r is None]
    if missing:
        raise RuntimeError(f"runs finished without a stored result: {missing}")
    return results  # type: ignore[return-value]
