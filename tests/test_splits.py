"""The paper's splits and who reads them (Sec. 2.2; issue #30).

Validation is images 50,000-59,999 of MNIST's training file, disjoint from the 50,000 that train;
training reads validation and test data only to evaluate, and test data only for runs that ask for
test numbers (``report_test``). The known labels below were read from the IDX files by hand
(byte 8 + index of ``train-labels-idx1-ubyte``), independently of ``ffcnn_lib.data``.
"""
import hashlib

import pytest
import torch

from ffcnn_lib import Config, data, inference
from ffcnn_lib import train as train_module

TRAIN_FILE_LABELS = {  # index in MNIST's training file -> label
    0: 5, 1: 0, 2: 4, 49_998: 4, 49_999: 8,
    50_000: 3, 50_001: 8, 50_002: 6, 50_003: 9, 50_004: 6, 59_997: 5, 59_998: 6, 59_999: 8,
}
# SHA-256 (first 16 hex digits) of the 784 bytes of training-file images 50,000 and 59,999
VAL_FIRST_SHA, VAL_LAST_SHA = "ad3857e35c073a57", "a4d26ec9c55ad383"


def _bytes(images: torch.Tensor) -> list[bytes]:
    """Each image's 784 bytes as stored in the IDX file (the loader divided them by 255)."""
    return [row.tobytes() for row in (images * 255).round().to(torch.uint8).flatten(1).numpy()]


def _sha(image: torch.Tensor) -> str:
    return hashlib.sha256(_bytes(image.unsqueeze(0))[0]).hexdigest()[:16]


def test_validation_is_images_50000_to_59999_of_the_training_file():
    x, y = data.load_split("train")
    xv, yv = data.load_split("val")
    assert len(y) == 50_000 and len(yv) == 10_000
    for i, label in TRAIN_FILE_LABELS.items():
        assert (y[i] if i < 50_000 else yv[i - 50_000]).item() == label, i
    assert (_sha(xv[0]), _sha(xv[-1])) == (VAL_FIRST_SHA, VAL_LAST_SHA)
    # n keeps the first n images of the split, for validation too
    assert torch.equal(data.load_split("val", n=7)[1], yv[:7])


def test_no_validation_image_is_one_of_the_50000_training_images():
    train = set(_bytes(data.load_split("train")[0]))  # the images themselves: no hash collisions to allow for
    assert len(train) == 50_000  # MNIST's training file holds no exact duplicates
    shared = [i for i, img in enumerate(_bytes(data.load_split("val")[0])) if img in train]
    assert shared == []


# --- training reads validation and test data only to evaluate --------------------------------------

EVALUATING = [0]
READS: list[tuple[str, str]] = []
METADATA = {"__get__", "__len__", "size", "dim", "numel", "__repr__", "__format__"}


class Watched(torch.Tensor):
    """A validation or test tensor that records every operation on it outside an evaluation."""

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", str(func))
        if not EVALUATING[0] and name not in METADATA:
            splits = {a._split for a in args if isinstance(a, Watched)}
            READS.append(("/".join(sorted(splits)), name))
        with torch._C.DisableTorchFunctionSubclass():
            return func(*args, **(kwargs or {}))  # results are plain tensors: the read is recorded once


def _evaluation(fn):
    def wrapped(*args, **kwargs):
        EVALUATING[0] += 1
        try:
            return fn(*args, **kwargs)
        finally:
            EVALUATING[0] -= 1
    return wrapped


@pytest.fixture
def watched(monkeypatch):
    """Loads of each split (by name), with validation and test tensors watched; the inference
    functions and the metrics that consume their scores are what counts as evaluation."""
    loads: list[str] = []
    real = train_module.load_split

    def load(split, *args, **kwargs):
        loads.append(split)
        x, y = real(split, *args, **kwargs)
        if split == "train":
            return x, y
        out = []
        for t in (x, y):
            t = t.as_subclass(Watched)
            t._split = split
            out.append(t)
        return tuple(out)

    monkeypatch.setattr(train_module, "load_split", load)
    for name in ("linear_logits", "goodness_scores", "goodness_scores_separate", "bp_logits", "accuracy",
                 "confusion_matrix"):
        monkeypatch.setattr(inference, name, _evaluation(getattr(inference, name)))
    READS.clear()
    return loads


TINY = dict(kernel=3, n_train=60, batch_size=20, n_val=30, n_test=40, epochs=2)


@pytest.mark.parametrize("config", [Config(filters=(2, 2), **TINY), Config.bp(filters=(2, 2, 2), **TINY)],
                         ids=["ff", "bp"])
def test_training_reads_validation_and_test_data_only_to_evaluate(watched, config):
    out = train_module.train(config.replace(report_test=True), "cpu", progress=False, fast=False)
    assert sorted(watched) == ["test", "train", "val"]
    assert READS == [], f"validation/test data read outside an evaluation: {READS[:5]}"
    method = "bp" if config.model == "bp" else "goodness"
    assert {f"val_acc_{method}", f"test_acc_{method}"} <= set(out.final)
    assert sum(map(sum, out.final[f"test_confusion_{method}"])) == 40  # the test images, all of them


def test_a_run_without_report_test_never_loads_the_test_set(watched):
    out = train_module.train(Config(filters=(2, 2), **TINY), "cpu", progress=False, fast=False)
    assert sorted(watched) == ["train", "val"]
    assert READS == [] and not [k for k in out.final if k.startswith("test_")]


def test_the_watch_sees_a_read_outside_an_evaluation(watched):
    """The check can fail: an operation on validation data outside the inference functions is recorded."""
    xv, _ = train_module.load_split("val", 5)
    xv.mean()
    assert READS == [("val", "mean")]
