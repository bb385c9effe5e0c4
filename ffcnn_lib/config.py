"""Experiment configuration: one frozen dataclass whose defaults are the paper's best FF network.

Sec. 3.1: three layers of 128 filters 7x7, label set 1 at K = 35 %, batch 50, Adam 5e-5, 200 epochs.
The backprop baseline's defaults (16 filters 5x5, Adam 1e-3) come from :meth:`Config.bp`.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import numbers
from dataclasses import dataclass, field

import numpy as np

from .data import N_TRAIN, check_dataset
from .labels import CLASSIFIER_INPUTS, DEFAULT_CYCLES, LABEL_SETS, LabelEncoder, wave_vectors
from .model import BPCNN, FFCNN, INITS, MAP_READINGS, PADDINGS, layer_shapes

MODELS = ("ff", "bp")
# Training precision: "auto" takes the fast path's choice on the machine at hand (bf16 autocast on
# CUDA and CPUs with native bf16, else fp32; see train.default_fast); "fp32" and "bf16" pin it, so
# that a precision twin (the same run in another precision) is a run of its own.
PRECISIONS = ("auto", "fp32", "bf16")
# Bump when a change to the library alters training results: the result cache is keyed on it.
ALGORITHM_VERSION = 1
# Fields added after results were stored: hashed into the run id only when they differ from these
# values, so existing results keep their ids. (Changing such a default needs an ALGORITHM_VERSION bump.)
ADDED_FIELDS = {"label_cycles": [2, 4, 6], "padding": "same", "input_norm": False, "init": "torch",
                "precision": "auto", "classifier_input": "neutral",
                "goodness_maps": "conv", "classifier_maps": "conv", "dataset": "mnist"}
# How a data set other than MNIST shows in a run id, so that a reader tells its runs apart by name.
DATASET_TOKENS = {"fashion-mnist": "fmnist"}
# Fields a run never reads, by what makes them unread: hashed at their defaults, so that they cannot
# give one run several ids (the stored runs have the defaults there, so their ids stay).
UNREAD_FIELDS = {"bp": ("label_set", "K", "label_cycles", "classifier_lr", "include_first_layer", "classifier_input"),
                 "onehot": ("label_cycles",)}
INT_FIELDS = ("kernel", "batch_size", "epochs", "seed", "n_train", "n_val", "n_test")
FLOAT_FIELDS = ("K", "lr", "classifier_lr")
BOOL_FIELDS = ("max_pool", "input_norm", "include_first_layer", "report_test")


def _as_int(name: str, value) -> int:
    """``value`` as an int: ints (numpy's too) and integral floats pass (3.0 is the run of 3);
    anything else (a string, a bool, 2.5) is an error naming the field."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool) and float(value).is_integer():
        return int(value)
    raise ValueError(f"{name} must be an integer; got {value!r}")


def _as_ints(name: str, values) -> tuple[int, ...]:
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise ValueError(f"{name} must be a sequence of integers; got {values!r}")
    return tuple(_as_int(name, v) for v in values)


@dataclass(frozen=True)
class Config:
    """One training run. Every field the run reads is part of the result's identity (see :meth:`run_id`);
    values are checked (types included) when the config is made, before any training."""

    model: str = "ff"                   # "ff" (Forward-Forward) or "bp" (backprop baseline)
    filters: tuple[int, ...] = (128, 128, 128)  # filters per conv layer (Sec. 2.2: three equal layers)
    kernel: int = 7                     # filter size (odd)
    padding: str = "same"               # "same" (28x28 in every layer) or "valid" (paper: not given)
    max_pool: bool = False              # 2x2 max pooling between conv layers (App. C)
    goodness_maps: str = "conv"         # with pooling, goodness and θ read: each conv's output, or "pooled" (issue #26)
    classifier_maps: str = "conv"       # with pooling, the classifier reads: each conv's output, or "pooled" (issue #26)
    input_norm: bool = False            # FF: divide each input by its RMS first, as Loewe's code (paper: not given)
    init: str = "fanin"                 # FF conv init: N(0, 1/(C_in k^2)), zero bias (why: FFCNN, chapter 14); "loewe" N(0, 1/C_out), "torch"
    label_set: str = "set1"             # "set1", "set2" (App. A) or "onehot" (Hinton)
    K: float = 0.35                     # relative label intensity (Sec. 3.2.3)
    label_cycles: tuple[int, ...] = DEFAULT_CYCLES  # label wave frequencies, cycles/image (paper: not given)
    batch_size: int = 50                # positive examples per step (as many negatives ride along)
    lr: float = 5e-5                    # Adam learning rate of the conv layers
    classifier_lr: float = 1e-3         # Adam learning rate of the linear classifier (paper: not given)
    classifier_input: str = "image"     # what the classifier sees: image (label-free), neutral, raw (chapter 14)
    epochs: int = 200
    include_first_layer: bool = False   # App. B: add layer 1's loss to the network loss
    seed: int = 0
    n_train: int = N_TRAIN              # first n of the 50,000 training images (small profiles)
    n_val: int = 10_000                 # first n of the 10,000 validation images
    report_test: bool = False           # evaluate on the test set: headline runs only (not in the run id)
    precision: str = "auto"             # training precision: auto (the machine's fast path), fp32, bf16
    n_test: int = 10_000                # first n of the 10,000 test images (small profiles)
    dataset: str = "mnist"              # the paper's MNIST, or "fashion-mnist" (beyond the paper, issue #27)
    tags: tuple[str, ...] = field(default=(), compare=False)  # free-form, not part of the identity

    def __post_init__(self) -> None:
        # Types first: int("16") or tuple("16") would make a valid-looking, wrong config.
        filters = self.filters
        if isinstance(filters, numbers.Real) and not isinstance(filters, bool):
            filters = (_as_int("filters", filters),) * 3
        object.__setattr__(self, "filters", _as_ints("filters", filters))
        object.__setattr__(self, "label_cycles", _as_ints("label_cycles", self.label_cycles))
        for name in INT_FIELDS:
            object.__setattr__(self, name, _as_int(name, getattr(self, name)))
        for name in FLOAT_FIELDS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise ValueError(f"{name} must be a number; got {value!r}")
            object.__setattr__(self, name, float(value))
        for name in BOOL_FIELDS:
            value = getattr(self, name)
            if not isinstance(value, (bool, np.bool_)):  # "False" or 0 would pass a truth test
                raise ValueError(f"{name} must be True or False; got {value!r}")
            object.__setattr__(self, name, bool(value))
        object.__setattr__(self, "tags", tuple(self.tags))
        self.validate()

    def validate(self) -> None:
        """Raise ``ValueError`` naming the bad value and what is allowed, before any training."""
        if self.model not in MODELS:
            raise ValueError(f"unknown model {self.model!r}; allowed: {', '.join(MODELS)}")
        if self.label_set not in LABEL_SETS:
            raise ValueError(f"unknown label set {self.label_set!r}; allowed: {', '.join(LABEL_SETS)}")
        if not 0.0 < self.K < 1.0:
            raise ValueError(f"label intensity K={self.K} is outside the open interval (0, 1)")
        if self.label_set != "onehot":
            if any(not 1 <= k <= 13 for k in self.label_cycles):
                raise ValueError(f"label_cycles {self.label_cycles} must lie in 1..13 (below the 28-pixel Nyquist limit)")
            if len(set(self.label_cycles)) < len(self.label_cycles):
                raise ValueError(f"label_cycles {self.label_cycles} repeat a frequency: classes would share a wave")
            wave_vectors(self.label_set, self.label_cycles)  # raises if the set cannot be built
        if self.kernel < 1 or self.kernel % 2 == 0:
            raise ValueError(f"kernel size {self.kernel} must be a positive odd integer (e.g. 3, 5, 7)")
        if not self.filters or any(f < 1 for f in self.filters):
            raise ValueError(f"filters {self.filters} must be one or more positive integers")
        if self.model == "ff" and len(self.filters) < 2:
            raise ValueError(f"an FF network needs at least 2 layers (inference uses layers 2..N); got {self.filters}")
        if self.init not in INITS:
            raise ValueError(f"unknown init {self.init!r}; allowed: {', '.join(INITS)}")
        if self.model == "bp" and (self.input_norm or self.init != "torch"):
            raise ValueError("input_norm and init are options of the FF network; the BP baseline keeps PyTorch's init and "
                             f"no input norm (got init={self.init!r}, input_norm={self.input_norm}; allowed: init='torch', "
                             "input_norm=False)")
        if self.classifier_input not in CLASSIFIER_INPUTS:
            raise ValueError(f"unknown classifier input {self.classifier_input!r}; allowed: {', '.join(CLASSIFIER_INPUTS)}")
        for name in ("goodness_maps", "classifier_maps"):  # where a pooled FF network is read (issue #26)
            reading = getattr(self, name)
            if reading not in MAP_READINGS:
                raise ValueError(f"unknown {name} {reading!r}; allowed: {', '.join(MAP_READINGS)}")
            if reading != "conv" and (self.model != "ff" or not self.max_pool):
                raise ValueError(f"{name}={reading!r} reads the pooled maps of an FF network with max pooling; got "
                                 f"model={self.model!r}, max_pool={self.max_pool} (allowed there: {name}='conv')")
        check_dataset(self.dataset)
        if self.precision not in PRECISIONS:
            raise ValueError(f"unknown precision {self.precision!r}; allowed: {', '.join(PRECISIONS)}")
        if self.padding not in PADDINGS:
            raise ValueError(f"unknown padding {self.padding!r}; allowed: {', '.join(PADDINGS)}")
        sizes = [h for _, h, _ in layer_shapes(self.filters, self.max_pool, kernel=self.kernel, padding=self.padding)]
        if min(sizes) < 1 or (self.max_pool and min(sizes) < self.kernel // 2 + 1):
            what = ", ".join(w for w, on in (("max pooling", self.max_pool), (f"{self.padding} padding", True)) if on)
            raise ValueError(f"{len(self.filters)} layers of kernel {self.kernel} with {what} shrink 28x28 to "
                             f"{sizes}: too small")
        if self.batch_size < 1:
            raise ValueError(f"batch size {self.batch_size} must be at least 1")
        if self.epochs < 1:
            raise ValueError(f"epochs {self.epochs} must be at least 1")
        if not (0 < self.lr < math.inf and 0 < self.classifier_lr < math.inf):  # NaN fails too
            raise ValueError(f"learning rates must be positive and finite; got lr={self.lr}, "
                             f"classifier_lr={self.classifier_lr}")
        if self.seed < 0:
            raise ValueError(f"seed {self.seed} must be a non-negative integer")
        if not 1 <= self.n_train <= N_TRAIN:
            raise ValueError(f"n_train={self.n_train} must be in 1..{N_TRAIN}")
        if not 1 <= self.n_val <= 10_000:
            raise ValueError(f"n_val={self.n_val} must be in 1..10000")
        if not 1 <= self.n_test <= 10_000:
            raise ValueError(f"n_test={self.n_test} must be in 1..10000")
        if self.batch_size > self.n_train:
            raise ValueError(f"batch size {self.batch_size} exceeds n_train={self.n_train}")

    @classmethod
    def bp(cls, **overrides) -> "Config":
        """The backprop baseline at the paper's best settings (Sec. 3.1: 16 filters 5x5, Adam 1e-3)."""
        return cls(**{"model": "bp", "filters": (16, 16, 16), "kernel": 5, "lr": 1e-3, "init": "torch", **overrides})

    def network(self) -> FFCNN | BPCNN:
        """A new network of this config, initialized from the global RNG (seed it first)."""
        if self.model == "ff":
            return FFCNN(self.filters, self.kernel, self.max_pool, self.padding, self.input_norm, self.init,
                         goodness_maps=self.goodness_maps, classifier_maps=self.classifier_maps)
        return BPCNN(self.filters, self.kernel, self.max_pool, self.padding)

    def label_encoder(self, device="cpu") -> LabelEncoder:
        """The labels this run superimposes (set, K and frequencies of this config)."""
        return LabelEncoder(self.label_set, self.K, device=device, cycles=self.label_cycles,
                            classifier_input=self.classifier_input)

    def replace(self, **changes) -> "Config":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["filters"] = list(self.filters)
        d["label_cycles"] = list(self.label_cycles)
        d["tags"] = list(self.tags)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Config":
        """The config stored as ``d``. A field added after it was stored takes the value every run
        had before the field existed (:data:`ADDED_FIELDS`), not today's default, which may differ."""
        names = {f.name for f in dataclasses.fields(cls)}
        d = {**ADDED_FIELDS, **d}
        return cls(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in d.items() if k in names})

    def run_id(self) -> str:
        """Readable and stable: a summary of the main settings plus a hash of all of them."""
        d = self.to_dict()
        d.pop("tags")
        unread = UNREAD_FIELDS["bp"] if self.model == "bp" else UNREAD_FIELDS.get(self.label_set, ())
        defaults = {f.name: f.default for f in dataclasses.fields(self)}
        # An unread field added later takes the value every run had before it (ADDED_FIELDS), so it
        # is dropped below like any such field and cannot move the ids of runs that never read it.
        d.update({name: ADDED_FIELDS[name] if name in ADDED_FIELDS else
                  (list(defaults[name]) if isinstance(defaults[name], tuple) else defaults[name]) for name in unread})
        # The test evaluation at the end changes nothing in training: a run with and without it is
        # one run (the headline and the identical cells of Table 1, 3, Fig. 3A, 4B, 5, 9; its test
        # numbers can be added later, experiments.add_test_numbers). Hashed at False, so that every
        # run stored without it keeps its id (those stored with it: experiments.migrate_run_ids).
        d["report_test"] = False
        for name, default in ADDED_FIELDS.items():  # keeps the ids of runs made before the field existed
            if d[name] == default:
                d.pop(name)
        d["algorithm_version"] = ALGORITHM_VERSION
        digest = hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:10]
        width = "-".join(map(str, self.filters))
        label = f"-{self.label_set}-K{self.K:g}" if self.model == "ff" else ""
        pool = ("-pool" if self.max_pool else "") + ("-valid" if self.padding == "valid" else "") \
            + ("-inorm" if self.input_norm else "") + (f"-{self.init}" if self.init in ("loewe", "fanin") else "") \
            + (f"-{self.precision}" if self.precision != "auto" else "") \
            + ("-gpool" if self.goodness_maps == "pooled" else "") + ("-cpool" if self.classifier_maps == "pooled" else "")
        data = f"-{DATASET_TOKENS[self.dataset]}" if self.dataset in DATASET_TOKENS else ""
        return (f"{self.model}{data}-{width}-k{self.kernel}{pool}{label}-b{self.batch_size}-e{self.epochs}-s{self.seed}"
                f"-{digest}")
