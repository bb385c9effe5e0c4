import pytest
import torch


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture
def results_root(tmp_path, monkeypatch):
    """A private result cache, so tests never touch results/ of the checkout."""
    monkeypatch.setenv("FFCNN_RESULTS", str(tmp_path / "results"))
    return tmp_path / "results"


@pytest.fixture
def committed_results():
    """The result cache the README and the book are generated from (``results/``, or
    ``$FFCNN_RESULTS``). A test that compares with it fails, rather than passing vacuously, when it
    holds no finished run (issue #30)."""
    from ffcnn_lib.experiments import results_dir

    runs = results_dir() / "runs"
    finished = [p for p in runs.glob("*/summary.json") if not p.parent.name.startswith(".")] if runs.is_dir() else []
    assert finished, f"{runs} holds no finished run: the tests that compare generated text with the results " \
                     "have nothing to compare (restore results/ from git)"
    return results_dir()
