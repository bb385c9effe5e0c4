"""ffcnn_lib: Forward-Forward training of CNNs (Scodellaro et al., arXiv 2312.14924), reproduced.

Read in this order: ``data`` (MNIST) -> ``labels`` (Sec. 2.1) -> ``model`` (Sec. 2.2) ->
``train`` (Sec. 2.2) -> ``inference`` (Sec. 2.3) -> ``cam`` (Sec. 3.3) -> ``config`` and
``experiments`` (runs and their cached results).
"""
__version__ = "0.1.0"

from .config import ALGORITHM_VERSION, Config  # noqa: E402
from .experiments import Result, load, run_or_load  # noqa: E402

__all__ = ["ALGORITHM_VERSION", "Config", "Result", "load", "run_or_load", "__version__"]
