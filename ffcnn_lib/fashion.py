"""Beyond MNIST: the paper's method on Fashion-MNIST (issue #27), the numbers of its chapter.

Fashion-MNIST has MNIST's format, size and split, with harder classes. The paper's method
(spatially-extended labels, layer-local FF, goodness against linear inference) runs on it unchanged
at the paper's settings and our decided defaults (``sweeps.ARTIFACTS["fashion"]``: FF 16x5x5 without
and with max pooling, BP 16x5x5), each beside its MNIST *twin*: the same config on MNIST (the cells
of Table 3 and Sec. 3.1), so that the FF - BP gap can be read against MNIST's at the same network.
Two indicative readings at the ``short`` profile (``sweeps.ARTIFACTS["fashion_short"]``): K around
0.35, and 32 filters 7x7.

Nothing here trains: the chapter's ``sweeps.collect`` calls do (smoke runs where nothing better is
stored, so that the notebook runs), the CPU campaign trains the paper-settings cells
(``campaign.CELLS``, issue #27's), ``python -m ffcnn_lib sweep fashion_short --profile short`` the
readings. What a build shows follows :mod:`ffcnn_lib.pages`: runs at the paper's widths and data,
or in an explicit narrow build (``profile="smoke"``) its own runs under a banner.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from . import costs, pages
from .config import Config
from .experiments import Result, load
from .sweeps import ARTIFACTS, PROFILE

ARTIFACT, SHORT = "fashion", "fashion_short"
CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
METHODS = {"ff": ("linear", "goodness"), "bp": ("bp",)}
METHOD_WORDS = {"linear": "FF, linear classifier", "goodness": "FF, goodness", "bp": "BP"}

# Peer FF-CNN papers' Fashion-MNIST numbers (test accuracy, as their authors report it). Each uses its
# own architecture, loss and training: not comparable one to one with ours (nor with each other).
PEERS = (
    {"method": "CwComp (Papachristodoulou et al., AAAI 2024; arXiv 2312.12668)",
     "architecture": "a CNN trained layer by layer with a channel-wise competitive loss (no negative data) and "
                     "channel-wise feature separator and extractor blocks of grouped convolutions",
     "test_pct": 92.31, "source": "abstract: test error 7.69 %"},
    {"method": "ASGE (Gong, Staszewski, Xu, 2025; arXiv 2509.12394)",
     "architecture": "an FF-trained CNN whose goodness is encoded per layer from its spatial feature maps "
                     "(adaptive spatial goodness encoding)",
     "test_pct": 93.41, "source": "abstract"},
    {"method": "DeeperForward (Sun et al., ICLR 2025)",
     "architecture": "its TinyCNN: FF with layer-normalized, mean goodness (the paper scales the same design to "
                     "17-layer CNNs)",
     "test_pct": 91.83, "source": "as issue #27 quotes it; not checked against the paper here"},
)


def twin(paper: Config) -> Config:
    """The same network on MNIST: the paper's cell whose FF - BP gap this one's is read against."""
    return paper.replace(dataset="mnist")


def shown_profiles(profile: str) -> tuple[str, ...]:
    """The profiles whose runs a build shows, most faithful first: ``paper`` then ``short`` in the
    default build (``auto``), else the build's own profile (a narrow one under its banner)."""
    return pages.EVIDENCE if profile == "auto" else (profile,)


def runs_of(paper: Config, profiles) -> tuple[str, list[Result]]:
    """(profile, finished runs) of the cell whose paper-settings config is ``paper``: all finished
    seeds of the first of ``profiles`` with any; ("", []) if none. Nothing is trained."""
    for name in profiles:
        p = PROFILE[name]
        done = [r for r in (load(p.apply(paper, seed)) for seed in p.seeds) if r is not None]
        if done:
            return name, done
    return "", []


def network(paper: Config) -> str:
    """A cell in words: "FF 16x5x5", "FF 16x5x5 + max pooling", "BP 16x5x5"."""
    f = paper.filters
    width = f"{f[0]}x{paper.kernel}x{paper.kernel}" if len(set(f)) == 1 else f"{'-'.join(map(str, f))} {paper.kernel}x{paper.kernel}"
    return f"{paper.model.upper()} {width}" + (" + max pooling" if paper.max_pool else "")


def _values(results: list[Result], method: str) -> np.ndarray:
    """Final validation accuracies (percent) of ``results`` by ``method``."""
    return np.array([100 * r.summary["final"][f"val_acc_{method}"] for r in results
                     if f"val_acc_{method}" in r.summary["final"]])


def _stats(values: np.ndarray) -> tuple[float, float, int]:
    n = len(values)
    return (float(values.mean()) if n else math.nan, float(values.std(ddof=1)) if n > 1 else math.nan, n)


def accuracies(profile: str = "auto") -> pd.DataFrame:
    """Validation accuracy per network and inference method, on Fashion-MNIST and on MNIST (the same
    network, :func:`twin`): mean, sample std and seeds of each, from the runs a ``profile`` build shows
    (:func:`shown_profiles`), with the profile they come from ("" where none)."""
    rows = []
    for paper in ARTIFACTS[ARTIFACT]():
        found = {data: runs_of(c, shown_profiles(profile)) for data, c in (("fashion", paper), ("mnist", twin(paper)))}
        for method in METHODS[paper.model]:
            row = {"network": network(paper), "method": method}
            for data, (name, results) in found.items():
                mean, std, n = _stats(_values(results, method))
                row.update({f"{data}_mean": mean, f"{data}_std": std, f"{data}_n": n, f"{data}_profile": name})
            rows.append(row)
    return pd.DataFrame(rows)


def gaps(acc: pd.DataFrame) -> pd.DataFrame:
    """FF - BP at 16x5x5 per FF network and method, on each data set: the difference of the means
    (pp) and its standard error, sqrt(s_FF^2/n_FF + s_BP^2/n_BP) (NaN unless both have 2+ seeds)."""
    bp = acc[acc["method"] == "bp"].iloc[0]
    rows = []
    for _, r in acc[acc["method"] != "bp"].iterrows():
        row = {"network": r["network"], "method": r["method"]}
        for data in ("fashion", "mnist"):
            row[f"{data}_gap"] = r[f"{data}_mean"] - bp[f"{data}_mean"]
            row[f"{data}_se"] = math.sqrt(r[f"{data}_std"] ** 2 / r[f"{data}_n"] + bp[f"{data}_std"] ** 2 / bp[f"{data}_n"]) \
                if min(r[f"{data}_n"], bp[f"{data}_n"]) > 1 else math.nan
            row[f"{data}_n"] = f"{r[f'{data}_n']}, {bp[f'{data}_n']}"
        rows.append(row)
    return pd.DataFrame(rows)


def _gap_text(gap: float, se: float) -> str:
    if math.isnan(gap):
        return ""
    return f"{gap:+.2f}" + (f"\u00a0±\u00a0{se:.2f}" if not math.isnan(se) else " (1 seed: spread unknown)")


def accuracy_table(acc: pd.DataFrame):
    """:func:`accuracies` for the reader: mean ± std (n) on each data set, and the profile."""
    out = pd.DataFrame({
        "network": acc["network"], "inference": acc["method"].map(METHOD_WORDS),
        "Fashion-MNIST, validation [%]": [pages.pm(r.fashion_mean, r.fashion_std, r.fashion_n) or "not run yet"
                                          for r in acc.itertuples()],
        "MNIST, same network [%]": [pages.pm(r.mnist_mean, r.mnist_std, r.mnist_n) or "not run yet"
                                    for r in acc.itertuples()],
        "profiles (Fashion-MNIST / MNIST)": [f"{r.fashion_profile or '-'} / {r.mnist_profile or '-'}"
                                             for r in acc.itertuples()]})
    return pages.show(out)


def gap_table(gap: pd.DataFrame):
    """:func:`gaps` for the reader: FF - BP ± its standard error, per data set, with the seeds of each arm."""
    out = pd.DataFrame({
        "FF network": gap["network"], "FF inference": gap["method"].map(METHOD_WORDS),
        "FF − BP on Fashion-MNIST [pp]": [_gap_text(r.fashion_gap, r.fashion_se) or "not run yet" for r in gap.itertuples()],
        "seeds on Fashion-MNIST (FF, BP)": gap["fashion_n"],
        "FF − BP on MNIST [pp]": [_gap_text(r.mnist_gap, r.mnist_se) or "not run yet" for r in gap.itertuples()],
        "seeds on MNIST (FF, BP)": gap["mnist_n"]})
    return pages.show(out)


def findings(acc: pd.DataFrame, profile: str = "auto") -> list[str]:
    """The chapter's *What we find so far*, computed (``pages.lead``'s ``also_found``): what the
    Fashion-MNIST runs show so far, beside MNIST at the same network; none in an explicit narrow
    build (its banner says what its numbers are)."""
    if profile in pages.narrow():
        return []
    gap = gaps(acc)
    have = acc.dropna(subset=["fashion_mean"])
    if have.empty:
        mnist = gap.dropna(subset=["mnist_gap"])
        said = "; ".join(f"{r.network}, {METHOD_WORDS[r.method].split(', ')[-1]}: {r.mnist_gap:+.2f} pp"
                         for r in mnist.itertuples())
        return ["No network has a finished run on Fashion-MNIST at the paper's widths and data yet (the CPU campaign "
                "trains them after the paper's own cells; what they cost is below)."
                + (f" On MNIST the same networks give FF − BP validation gaps of {said}." if said else "")]
    parts = [f"{r.network} ({METHOD_WORDS[r.method]}) {pages.pm(r.fashion_mean, r.fashion_std, r.fashion_n)} %"
             for r in have.itertuples()]
    found = ["On Fashion-MNIST, validation accuracy: " + "; ".join(parts) + "."]
    both = gap.dropna(subset=["fashion_gap", "mnist_gap"])
    if not both.empty:
        found.append("FF − BP on Fashion-MNIST against MNIST at the same network: " + "; ".join(
            f"{r.network}, {METHOD_WORDS[r.method].split(', ')[-1]}: {r.fashion_gap:+.2f} pp against {r.mnist_gap:+.2f} pp"
            for r in both.itertuples()) + ".")
    seeds = int(have["fashion_n"].min())
    if seeds < 3:
        found.append(f"With {seeds} seed{'s' if seeds > 1 else ''} per network so far, these readings are indicative.")
    return found


def curves(profile: str = "auto") -> pd.DataFrame:
    """Per-epoch validation accuracy of every run :func:`accuracies` uses, in long form: network,
    data set, seed, epoch, ``val_acc`` (linear classifier for FF, the network's output for BP),
    ``val_acc_goodness`` (where measured), ``status``. A Fashion-MNIST cell without a finished run
    at the paper's widths and data shows its longest unfinished record (``status`` "interrupted":
    not a result) where one is kept in ``results/partial/``."""
    frames = []
    for paper in ARTIFACTS[ARTIFACT]():
        for data, c in (("Fashion-MNIST", paper), ("MNIST", twin(paper))):
            _, results = runs_of(c, shown_profiles(profile))
            records = [(r.config.seed, r.metrics, "finished") for r in results]
            if not records and data == "Fashion-MNIST" and profile not in pages.narrow():
                rec = pages.longest_record(paper, None, profile)
                if rec is not None:
                    records = [(rec["seed"], rec["metrics"], rec["status"])]
            for seed, m, status in records:
                val = m["val_acc"] if "val_acc" in m else m["val_acc_linear"]
                good = m["val_acc_goodness"] if "val_acc_goodness" in m else math.nan
                frames.append(pd.DataFrame({"network": network(paper), "data": data, "seed": seed, "epoch": m["epoch"],
                                            "val_acc": val, "val_acc_goodness": good, "status": status}))
    columns = ["network", "data", "seed", "epoch", "val_acc", "val_acc_goodness", "status"]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)


def confusion(paper: Config, profile: str = "auto") -> tuple[np.ndarray, str] | None:
    """The validation confusion matrix (true class x predicted class, counts summed over seeds) of a
    Fashion-MNIST cell, by its linear classifier (FF) or its output (BP), with a line saying which
    runs it sums; None without runs a ``profile`` build shows."""
    name, results = runs_of(paper, shown_profiles(profile))
    key = f"val_confusion_{METHODS[paper.model][0]}"
    mats = [np.array(r.summary["final"][key]) for r in results if key in r.summary["final"]]
    if not mats:
        return None
    seeds = ", ".join(str(r.config.seed) for r in results)
    return sum(mats), f"{network(paper)}, {name} profile, seed{'s' if len(mats) > 1 else ''} {seeds}"


def most_confused(matrix: np.ndarray, k: int = 3) -> str:
    """The ``k`` most frequent confusions of a confusion matrix in words, as shares of the true class."""
    share = matrix / np.maximum(matrix.sum(1, keepdims=True), 1)
    off = [(share[i, j], i, j) for i in range(len(share)) for j in range(len(share)) if i != j]
    top = sorted(off, reverse=True)[:k]
    return "; ".join(f"{CLASSES[i]} taken for {CLASSES[j]} {100 * s:.1f} %" for s, i, j in top)


def cam_examples(result: Result, classes=(1, 6, 8, 9), n_val: int = 2000) -> list[dict]:
    """For each class of ``classes``: the first of the first ``n_val`` validation images of it that
    the run's linear classifier gets right, with its class activation map (``cam.class_activation_maps``,
    chapter 07's, combined over layers 2 and 3). A class with no such image is left out."""
    import torch

    from .cam import class_activation_maps
    from .data import load_split
    from .inference import linear_logits

    model, enc = result.load_model(), result.config.label_encoder()
    x, y = load_split("val", min(n_val, result.config.n_val), "cpu", result.config.dataset)
    with torch.no_grad():
        pred = linear_logits(model, enc, x).argmax(1)
    out = []
    for k in classes:
        ok = ((y == k) & (pred == k)).nonzero()
        if len(ok):
            i = int(ok[0, 0])
            out.append({"class": k, "name": CLASSES[k], "image": x[i, 0],
                        "cam": class_activation_maps(model, enc, x[i:i + 1])["combined"][0]})
    return out


def short_readings(profile: str = "auto") -> pd.DataFrame:
    """The indicative readings (``fashion_short``): per cell, its validation accuracies where the
    build shows runs of it (``short``; a narrow build its own), else that it is not run yet and what
    its run at the short profile would cost (``costs.describe``)."""
    profiles = ("short",) if profile == "auto" else (profile,)
    rows = []
    for paper in ARTIFACTS[SHORT]():
        name, results = runs_of(paper, profiles)
        row = {"reading": f"{network(paper)}, K {paper.K:g}", "profile": name}
        for method in METHODS[paper.model]:
            mean, std, n = _stats(_values(results, method))
            row[f"validation, {method} [%]"] = pages.pm(mean, std, n)
        row["not run yet: one run at the short profile would cost"] = "" if results else \
            costs.describe(PROFILE["short"].apply(paper, PROFILE["short"].seeds[0]))
        rows.append(row)
    return pd.DataFrame(rows)


def peers(acc: pd.DataFrame) -> pd.DataFrame:
    """The peers' Fashion-MNIST numbers (:data:`PEERS`) beside ours at 16x5x5 (validation, where run),
    each with what it is: none of them is comparable one to one."""
    rows = [{"method": p["method"], "architecture": p["architecture"], "split": "test",
             "accuracy [%]": f"{p['test_pct']:.2f}", "source": p["source"],
             "comparable one to one": "no: another architecture, loss and training"} for p in PEERS]
    for r in acc[acc["method"] != "bp"].itertuples():
        rows.append({"method": f"this paper's method (ours), {METHOD_WORDS[r.method]}",
                     "architecture": f"{r.network}: three conv layers, spatially-extended labels, layer-local FF",
                     "split": "validation", "accuracy [%]": pages.pm(r.fashion_mean, r.fashion_std, r.fashion_n)
                     or "not run yet", "source": f"{r.fashion_profile} profile" if r.fashion_profile else "",
                     "comparable one to one": "with BP 16x5x5 above (same shape, same data), not with the peers"})
    return pd.DataFrame(rows)
