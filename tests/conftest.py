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
