"""Reported vs reproduced: the paper's numbers (``paper_reported.csv``) beside ours, and its claims.

The paper's numbers are typed once, in ``paper_reported.csv`` (with the section or table they come
from); everything else on this page is computed from runs in ``results/``.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from .sweeps import collect

REPORTED_CSV = Path(__file__).with_name("paper_reported.csv")
KEY = ["model", "filters", "kernel", "batch_size", "K", "label_set", "max_pool", "include_first_layer"]
TOLERANCE_PP = 0.2  # |ours - reported| within this many percentage points counts as reproduced


def reported(artifact: str | None = None) -> pd.DataFrame:
    """The paper's numbers, one row per (configuration, split, inference method)."""
    df = pd.read_csv(REPORTED_CSV, dtype={"filters": str})
    return df if artifact is None else df[df["artifact"] == artifact].reset_index(drop=True)


# Profiles whose networks are narrower than the paper's: their numbers test no claim of the paper.
NARROW = ("smoke", "cpu")


def _metric(split: str, method: str) -> str:
    return f"{split}_acc_{method}"


def verdict(diff: float, profile: str) -> str:
    if np.isnan(diff):
        return "not run"
    if profile in NARROW:
        return f"not tested ({profile} profile)"
    if abs(diff) <= TOLERANCE_PP:
        status = "reproduced"
    else:
        status = "below reported" if diff < 0 else "above reported"
    return status if profile == "paper" else f"{status} ({profile} profile, indicative)"


def compare(results: pd.DataFrame, artifact: str | None = None) -> pd.DataFrame:
    """Each reported number of ``artifact`` beside our mean ± std over seeds, in percent."""
    artifact = artifact or results["artifact"].iloc[0]
    rep = reported(artifact)
    rows = []
    for _, r in rep.iterrows():
        mask = np.ones(len(results), dtype=bool)
        for k in KEY:
            mask &= (results[k].astype(str) == str(r[k])).to_numpy()
        col = _metric(r["split"], r["method"])
        ours = results.loc[mask, col] * 100 if col in results else pd.Series(dtype=float)
        mean = ours.mean() if len(ours) else np.nan
        profile = results["profile"].iloc[0] if len(results) else "none"
        rows.append({"artifact": artifact, "quantity": r["quantity"], "split": r["split"], "method": r["method"],
                     "reported_pct": r["value"], "ours_pct": mean,
                     "ours_std_pct": ours.std(ddof=1) if len(ours) > 1 else np.nan, "n_seeds": len(ours),
                     "diff_pp": mean - r["value"], "profile": profile,
                     "verdict": verdict(mean - r["value"], profile), "source": r["source"]})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------
# The paper's qualitative claims, each checked on the runs of one artifact.

def _means(df: pd.DataFrame, by: list[str], col: str) -> pd.Series:
    return df.groupby(by)[col].mean()


def _increasing(s: pd.Series) -> bool:
    return bool((np.diff(s.to_numpy()) > 0).all())


def _fig3a_ff(df):
    s = _means(df[df.model == "ff"], ["filters_n"], "val_acc_goodness")
    return _increasing(s), "goodness val. acc. by filters: " + ", ".join(f"{k}: {v:.2%}" for k, v in s.items())


def _fig3a_bp(df):
    s = _means(df[df.model == "bp"], ["filters_n"], "val_acc_bp")
    return _increasing(-s), "BP val. acc. by filters: " + ", ".join(f"{k}: {v:.2%}" for k, v in s.items())


def _fig4a(df):
    s = _means(df, ["kernel", "batch_size"], "val_acc_linear")
    ok = all(s[k].iloc[0] > s[k].iloc[-1] for k in (5, 7))
    return ok, "; ".join(f"{k}x{k}: batch {s[k].index[0]} {s[k].iloc[0]:.2%} vs {s[k].index[-1]} {s[k].iloc[-1]:.2%}"
                         for k in (5, 7))


def _fig4b_kernel(df):
    s = _means(df, ["kernel"], "val_acc_linear")
    return _increasing(s), "mean over widths: " + ", ".join(f"{k}x{k}: {v:.2%}" for k, v in s.items())


def _fig4b_width(df):
    s = _means(df, ["kernel", "filters_n"], "val_acc_linear")
    return all(_increasing(s[k]) for k in (3, 5, 7)), "monotone in filters for " + ", ".join(
        f"{k}x{k}: {'yes' if _increasing(s[k]) else 'no'}" for k in (3, 5, 7))


def _table1(df):
    g = df.groupby(["kernel", "batch_size"])[["val_acc_linear", "val_acc_goodness"]].mean()
    wins = (g["val_acc_goodness"] > g["val_acc_linear"]).sum()
    return wins == len(g), f"goodness beats linear in {wins} of {len(g)} configurations"


def _fig5(df):
    s = _means(df, ["filters_n", "batch_size", "K"], "val_acc_linear")
    best = {(f, b): s[f][b].idxmax() for f, b in {(f, b) for f, b, _ in s.index}}
    same_across_batch = all(best[(f, 25)] == best[(f, 50)] for f in (32, 64, 128))
    widths_differ = len({best[(f, 50)] for f in (32, 64, 128)}) > 1
    text = "best K: " + ", ".join(f"{f} filters b{b}: {best[(f, b)]:g}" for f, b in sorted(best)) + \
        " (paper: 32 -> 0.2, 64 -> 0.65, 128 -> 0.35)"
    return same_across_batch and widths_differ, text


def _table2(df):
    s = df.groupby(["filters_n", "kernel", "batch_size", "label_set"])["val_acc_linear"].mean().unstack()
    wins = int((s["set1"] >= s["set2"]).sum())
    return wins >= 3, f"set 1 >= set 2 in {wins} of {len(s)} configurations (paper: 3 of 4)"


def _table3(df):
    s = df.groupby(["filters", "kernel", "max_pool"])["val_acc_linear"].mean().unstack()
    hurts = int((s[False] > s[True]).sum())
    return hurts == len(s), f"pooling lowers accuracy in {hurts} of {len(s)} configurations"


def _fig9(df):
    s = _means(df, ["include_first_layer"], "val_acc_linear")
    cost = (s[False] - s[True]) * 100
    return 1.0 <= cost <= 3.0, f"including layer 1 changes accuracy by {-cost:+.2f} pp (paper: about -2 pp)"


def _confusion(df, result_loader):
    result = result_loader("headline")
    cm = np.array(result.summary["final"]["test_confusion_goodness"])
    per_class = cm.diagonal() / cm.sum(1)
    worst, best = set(np.argsort(per_class)[:2]), set(np.argsort(per_class)[-3:])
    return worst == {4, 9} and best == {1, 3, 7}, \
        f"worst digits {sorted(worst)}, best {sorted(best)} (paper: worst 4, 9; best 1, 3, 7)"


@dataclass(frozen=True)
class Claim:
    artifact: str
    text: str
    check: Callable


CLAIMS = [
    Claim("fig3a", "FF accuracy rises monotonically with the filters per layer (Fig. 3A)", _fig3a_ff),
    Claim("fig3a", "BP accuracy falls slightly with the filters per layer (Fig. 3A)", _fig3a_bp),
    Claim("headline", "Digits 4 and 9 are classified worst, 1, 3 and 7 best (Fig. 3B)", _confusion),
    Claim("fig4a", "Smaller batches are better for 5x5 and 7x7 filters (Fig. 4A)", _fig4a),
    Claim("fig4b", "Accuracy falls with smaller filter size (Fig. 4B)", _fig4b_kernel),
    Claim("fig4b", "Accuracy rises with filters per layer for every filter size (Fig. 4B)", _fig4b_width),
    Claim("table1", "Goodness inference beats the linear classifier (Table 1)", _table1),
    Claim("fig5", "The best K depends on the width but not on the batch size (Fig. 5)", _fig5),
    Claim("table2", "Label set 1 is at least as good as set 2 (Table 2)", _table2),
    Claim("table3", "Max pooling lowers accuracy (Table 3)", _table3),
    Claim("fig9", "Adding layer 1 to the loss costs about 2 % accuracy (Fig. 9)", _fig9),
]


def check_claims(results: dict[str, pd.DataFrame], result_loader: Callable) -> pd.DataFrame:
    """Each claim: confirmed, not confirmed, or not tested (narrow profiles, see NARROW) or not yet run."""
    rows = []
    for claim in CLAIMS:
        df = results.get(claim.artifact)
        if df is None or df.empty:
            rows.append({"claim": claim.text, "verdict": "not yet run", "evidence": "", "profile": ""})
            continue
        df = df.assign(filters_n=df["filters"].str.split("-").str[0].astype(int))
        profile = df["profile"].iloc[0]
        try:
            ok, evidence = claim.check(df, result_loader) if claim.check is _confusion else claim.check(df)
            status = "confirmed" if ok else "not confirmed"
        except (KeyError, IndexError, ValueError) as err:
            status, evidence = "not evaluable", f"{type(err).__name__}: {err}"
        if profile in NARROW:
            status = f"not tested ({profile} profile; would read: {status})"
        elif profile != "paper":
            status = f"{status} ({profile} profile)"
        rows.append({"claim": claim.text, "verdict": status, "evidence": evidence, "profile": profile})
    return pd.DataFrame(rows)


def claims_for(artifact: str, results: pd.DataFrame, profile: str = "auto") -> pd.DataFrame:
    """The paper's claims about one artifact with their verdicts on ``results`` (for its chapter)."""
    from .sweeps import load_result

    table = check_claims({artifact: results}, lambda a: load_result(a, profile))
    mine = {c.text for c in CLAIMS if c.artifact == artifact}
    return table[table["claim"].isin(mine)].set_index("claim")


def inference_precision(results: pd.DataFrame) -> pd.DataFrame:
    """Accuracy of runs trained in bf16, evaluated in fp32 (reported) and in bf16, per split and
    method (mean over runs, %); empty if no run was trained in bf16."""
    rows = []
    for col in sorted(c for c in results.columns if c.endswith("_bf16")):
        fp32 = col[: -len("_bf16")]
        split, _, method = fp32.split("_", 2)
        both = results[[fp32, col]].dropna()
        if len(both):
            rows.append({"split": split, "method": method, "runs": len(both), "fp32 [%]": 100 * both[fp32].mean(),
                         "bf16 [%]": 100 * both[col].mean(), "bf16 - fp32 [pp]": 100 * (both[col] - both[fp32]).mean()})
    return pd.DataFrame(rows)


def summary(profile: str = "auto", train_missing: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """All reported numbers beside ours, and all claims with verdicts."""
    from .sweeps import ARTIFACTS, load_result

    results = {a: collect(a, profile, train_missing=train_missing, progress=False) for a in ARTIFACTS}
    numbers = pd.concat([compare(results[a], a) for a in reported()["artifact"].unique()], ignore_index=True)
    claims = check_claims(results, lambda a: load_result(a, profile))
    return numbers, claims
