"""ffcnn_lib: Forward-Forward training of CNNs (Scodellaro et al., arXiv 2312.14924), reproduced.

Read in this order: ``data`` (MNIST) -> ``labels`` (Sec. 2.1) -> ``model`` (Sec. 2.2, the loss:
``FFCNN.ff_loss``) -> ``reference`` (the training loop in one screen) -> ``train`` (the fast path
that made the stored runs) -> ``inference`` (Sec. 2.3) -> ``cam`` (Sec. 3.3) -> ``config`` and
``experiments`` (runs and their cached results).

The names below load on first use, so that ``import ffcnn_lib.model`` loads torch and the method
only, not the result store (pandas, hashing the numerical code).
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

_LAZY = {"ALGORITHM_VERSION": "config", "Config": "config",
         "Result": "experiments", "load": "experiments", "run_or_load": "experiments"}

__all__ = ["ALGORITHM_VERSION", "Config", "Result", "load", "run_or_load", "__version__"]


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value  # later look-ups skip this function
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
