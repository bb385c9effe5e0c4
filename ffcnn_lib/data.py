"""MNIST, read from the IDX files vendored in ``data/mnist`` and checked against their SHA-256;
Fashion-MNIST (``data/fashion-mnist``, issue #27) the same way, for the chapter beyond the paper.

Splits follow Sec. 2.2 of the paper, for both data sets: the first 50,000 training images train,
the last 10,000 validate (all hyperparameter search), and the 10,000 test images are kept for
headline numbers.

Assumption: these are the paper's own images. The paper says only "50,000 training / 10,000
validation" (Sec. 2.2); the code its authors started from (loeweX/Forward-Forward, ``src/utils.py``,
``get_MNIST_partition``) takes ``Subset(mnist, range(50000))`` for training and ``range(50000,
60000)`` for validation, exactly this split. The verdicts' noise model rests on it: on shared images
the only noise between our numbers and the paper's is the seed spread (``ffcnn_lib.report``).
"""
from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import tempfile
import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

SPLITS = ("train", "val", "test")
N_TRAIN = 50_000  # train = train[:50000], val = train[50000:] (Sec. 2.2)

FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}
# SHA-256 of the *decompressed* content (the same sums as data/mnist/SHA256SUMS).
SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
# Fashion-MNIST (Xiao et al. 2017): the same file names and format (data/fashion-mnist/SHA256SUMS).
FASHION_SHA256 = {
    "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}


@dataclass(frozen=True)
class Dataset:
    """One vendored data set: its folder under ``data/``, the variable that moves it, its sums, and
    the torchvision class that downloads it where the files are missing."""

    title: str
    folder: str
    env: str
    sha256: dict
    torchvision: str


DATASETS = {
    "mnist": Dataset("MNIST", "mnist", "FFCNN_DATA", SHA256, "MNIST"),
    "fashion-mnist": Dataset("Fashion-MNIST", "fashion-mnist", "FFCNN_FASHION_DATA", FASHION_SHA256, "FashionMNIST"),
}


class DataError(RuntimeError):
    """The data files are missing, corrupt, or cannot be fetched."""


def check_dataset(name: str) -> Dataset:
    """The data set called ``name``; a ``ValueError`` naming it and the allowed names otherwise."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; allowed: {', '.join(DATASETS)}")
    return DATASETS[name]


def data_dir(dataset: str = "mnist") -> Path:
    """The data set's folder: its variable if set (``$FFCNN_DATA`` for MNIST, ``$FFCNN_FASHION_DATA``
    for Fashion-MNIST), else ``data/<folder>`` of this checkout."""
    d = check_dataset(dataset)
    env = os.environ.get(d.env)
    return Path(env) if env else Path(__file__).resolve().parent.parent / "data" / d.folder


def _parse_idx(raw: bytes, name: str) -> np.ndarray:
    magic = int.from_bytes(raw[:4], "big")
    if magic not in (2049, 2051):
        raise DataError(f"{name}: not an IDX file (magic number {magic}, expected 2049 or 2051)")
    ndim = magic - 2048
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def _download(directory: Path, dataset: str = "mnist") -> None:
    """The path a user with internet takes: torchvision fetches the archives, we keep the .gz files."""
    d = check_dataset(dataset)
    try:
        import torchvision.datasets
    except ImportError as err:  # pragma: no cover - torchvision is a declared dependency
        raise DataError(f"{d.title} files are missing and torchvision is not installed to fetch them") from err
    fetch = getattr(torchvision.datasets, d.torchvision)
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            fetch(tmp, train=True, download=True)
            fetch(tmp, train=False, download=True)
        except Exception as err:
            raise DataError(
                f"{d.title} files are missing from {directory} and downloading them failed ({err}). "
                f"Copy the four IDX .gz files ({', '.join(FILES.values())}) into {directory}."
            ) from err
        for fname in FILES.values():
            shutil.copy(Path(tmp) / d.torchvision / "raw" / fname, directory / fname)


@lru_cache(maxsize=None)
def _load_file(key: str, directory: str, dataset: str = "mnist") -> np.ndarray:
    d = check_dataset(dataset)
    path = Path(directory) / FILES[key]
    if not path.exists():
        _download(Path(directory), dataset)
    fix = (f"restore it (git checkout -- {path}, the files are committed) or delete it so that it is "
           "downloaded again")
    compressed = path.read_bytes()
    try:
        raw = gzip.decompress(compressed)
    except (OSError, EOFError, zlib.error) as err:  # truncated, or a failed CRC check
        raise DataError(f"{path} is truncated or corrupt ({err}); {fix}") from err
    stem = FILES[key][: -len(".gz")]
    digest = hashlib.sha256(raw).hexdigest()
    if digest != d.sha256[stem]:
        raise DataError(
            f"checksum mismatch for {path}: SHA-256 of its content is {digest}, expected {d.sha256[stem]}. "
            f"The file is corrupt or not the original {d.title}; {fix}."
        )
    return _parse_idx(raw, path.name)


def load_split(split: str, n: int | None = None, device: str | torch.device = "cpu", dataset: str = "mnist"
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """Images as float32 in [0, 1] of shape (N, 1, 28, 28) and int64 labels, on ``device``, of
    ``dataset`` (:data:`DATASETS`; both split the same way, Sec. 2.2).

    ``n`` keeps only the first ``n`` examples (small profiles and tests).
    """
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; allowed: {', '.join(SPLITS)}")
    directory = str(data_dir(dataset))
    prefix = "test" if split == "test" else "train"
    images = _load_file(f"{prefix}_images", directory, dataset)
    labels = _load_file(f"{prefix}_labels", directory, dataset)
    if split == "train":
        images, labels = images[:N_TRAIN], labels[:N_TRAIN]
    elif split == "val":
        images, labels = images[N_TRAIN:], labels[N_TRAIN:]
    if n is not None:
        if n < 1 or n > len(labels):
            raise ValueError(f"n={n} examples requested from split {split!r}; allowed: 1..{len(labels)}")
        images, labels = images[:n], labels[:n]
    x = torch.from_numpy(images.copy()).to(device=device, dtype=torch.float32).div_(255.0).unsqueeze(1)
    y = torch.from_numpy(labels.astype(np.int64)).to(device)
    return x, y
