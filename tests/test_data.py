"""MNIST loading, checksums and the paper's splits (Sec. 2.2)."""
import gzip
import shutil
from pathlib import Path

import pytest
import torch

from ffcnn_lib import data


def test_splits_sizes_and_first_labels():
    x, y = data.load_split("train")
    assert x.shape == (50_000, 1, 28, 28) and x.dtype == torch.float32
    assert 0 <= x.min() and x.max() <= 1
    assert y[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    xv, yv = data.load_split("val")
    assert len(yv) == 10_000
    xt, yt = data.load_split("test")
    assert len(yt) == 10_000 and yt[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    # train and val are disjoint halves of the original training file, in order
    assert not torch.equal(x[-1], xv[0])


def test_subset_and_bad_requests():
    x, y = data.load_split("val", n=100)
    assert x.shape[0] == 100
    with pytest.raises(ValueError, match="n=20000.*1..10000"):
        data.load_split("test", n=20_000)
    with pytest.raises(ValueError, match="'dev'.*train, val, test"):
        data.load_split("dev")


def test_embedded_checksums_match_vendored_sums_file():
    lines = (data.data_dir() / "SHA256SUMS").read_text().split("\n")
    vendored = {name: digest for digest, name in (ln.split() for ln in lines if ln.strip())}
    assert vendored == data.SHA256


@pytest.mark.parametrize("dataset, title", [("mnist", "MNIST"), ("fashion-mnist", "Fashion-MNIST")])
def test_corrupt_file_is_named_in_the_error(dataset, title, tmp_path, monkeypatch):
    for f in data.FILES.values():
        shutil.copy(data.data_dir(dataset) / f, tmp_path / f)
    bad = tmp_path / data.FILES["test_labels"]
    raw = bytearray(gzip.decompress(bad.read_bytes()))
    raw[-1] ^= 1
    bad.write_bytes(gzip.compress(bytes(raw)))
    monkeypatch.setenv({"mnist": "FFCNN_DATA", "fashion-mnist": "FFCNN_FASHION_DATA"}[dataset], str(tmp_path))
    data._load_file.cache_clear()
    try:
        with pytest.raises(data.DataError, match=f"t10k-labels-idx1-ubyte.gz.*not the original {title};"):
            data.load_split("test", dataset=dataset)
        data.load_split("train", n=10, dataset=dataset)  # the intact files still load
    finally:
        data._load_file.cache_clear()


def test_missing_files_without_internet_give_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("FFCNN_DATA", str(tmp_path / "empty"))
    import torchvision.datasets

    class Offline:
        def __init__(self, *a, **k):
            raise OSError("no network")

    monkeypatch.setattr(torchvision.datasets, "MNIST", Offline)
    data._load_file.cache_clear()
    try:
        with pytest.raises(data.DataError, match="missing from .*empty.*downloading them failed"):
            data.load_split("train", n=1)
    finally:
        data._load_file.cache_clear()
