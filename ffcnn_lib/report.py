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

from .sweeps import FIDELITY, by_fidelity, collect, one_profile

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
    """Each reported number of ``artifact`` beside our mean ± std over seeds, in percent, with the
    profile of the runs it comes from (its cell's, see :func:`ffcnn_lib.sweeps.cell_plan`)."""
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
        profiles = by_fidelity(results.loc[mask, "profile"])
        profile = "/".join(profiles) if profiles else "none"
        status = verdict(mean - r["value"], profile) if len(profiles) <= 1 else "not tested (mixed profiles)"
        rows.append({"artifact": artifact, "quantity": r["quantity"], "split": r["split"], "method": r["method"],
                     "reported_pct": r["value"], "ours_pct": mean,
                     "ours_std_pct": ours.std(ddof=1) if len(ours) > 1 else np.nan, "n_seeds": len(ours),
                     "diff_pp": mean - r["value"], "profile": profile,
                     "verdict": status, "source": r["source"], **_cost(results.loc[mask])})
    return pd.DataFrame(rows)


def _cost(rows: pd.DataFrame) -> dict:
    """Training wall time per run (mean, hours) and the devices of ``rows``."""
    if rows.empty or "train_seconds" not in rows:
        return {"train_h": np.nan, "device": ""}
    return {"train_h": rows["train_seconds"].mean() / 3600, "device": ", ".join(sorted(rows["device"].unique()))}


def paper_cells(results: pd.DataFrame) -> pd.DataFrame:
    """The cells of an artifact trained at the paper's settings (``paper`` profile), one row each:
    the configuration, seeds, validation accuracies (mean, percent), training wall time and device.
    Chapters show it beside their figures, which may still mix in faithful-less profiles."""
    paper = results[results["profile"] == "paper"]
    if paper.empty:
        return pd.DataFrame()
    keys = ["model", "filters", "kernel", "batch_size", "label_set", "K", "max_pool"]
    metrics = [m for m in ("val_acc_linear", "val_acc_goodness", "val_acc_bp", "test_acc_linear",
                           "test_acc_goodness") if m in paper and paper[m].notna().any()]
    rows = []
    for key, g in paper.groupby(keys, sort=False):
        row = dict(zip(keys, key))
        row.update({f"{m} [%]": 100 * g[m].mean() for m in metrics}, seeds=len(g), **_cost(g))
        rows.append(row)
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
    s = df.groupby(["filters", "kernel", "max_pool"])["val_acc_linear"].mean().unstack().dropna()  # pairs only
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
    order = np.argsort(per_class).tolist()
    worst, best = set(order[:2]), set(order[-3:])
    return worst == {4, 9} and best == {1, 3, 7}, \
        f"worst digits {sorted(worst)}, best {sorted(best)} (paper: worst 4, 9; best 1, 3, 7)"


@dataclass(frozen=True)
class Claim:
    artifact: str
    text: str
    check: Callable
    cells: Callable | None = None  # rows of the cells the check reads (default: all of the artifact)


CLAIMS = [
    Claim("fig3a", "FF accuracy rises monotonically with the filters per layer (Fig. 3A)", _fig3a_ff,
          lambda df: df["model"] == "ff"),
    Claim("fig3a", "BP accuracy falls slightly with the filters per layer (Fig. 3A)", _fig3a_bp,
          lambda df: df["model"] == "bp"),
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


def _with_width(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with ``filters_n``, the first layer's filters, which the claims' checks group by."""
    return df.assign(filters_n=df["filters"].str.split("-").str[0].astype(int))


def _so_far(claim: Claim, df: pd.DataFrame) -> str:
    """What a claim's check reads on the cells that already have paper-profile runs, when there are
    at least two of them (a comparison) but not all: a partial reading, said as one, never a verdict."""
    if "cell" not in df:
        return ""
    paper = df[df["profile"] == "paper"]
    if claim.check is _confusion or paper["cell"].nunique() < 2 or paper["cell"].nunique() == df["cell"].nunique():
        return ""
    try:
        _, evidence = claim.check(_with_width(paper))
    except (KeyError, IndexError, ValueError):
        return ""
    return f"; at the paper's settings so far ({paper['cell'].nunique()} of {df['cell'].nunique()} cells): {evidence}"


def check_claims(results: dict[str, pd.DataFrame], result_loader: Callable) -> pd.DataFrame:
    """Each claim: confirmed, not confirmed, or not tested (narrow profiles, see NARROW) or not yet run.

    A claim compares cells, so it is checked on runs of one profile only: the cells' own if they
    share one, else the most faithful profile with a finished run of every cell it reads
    (:func:`ffcnn_lib.sweeps.one_profile`), else "not tested (mixed profiles)". Its ``profile``
    column names the profile it was checked on.
    """
    rows = []
    for claim in CLAIMS:
        df = results.get(claim.artifact)
        if df is None or df.empty:
            rows.append({"claim": claim.text, "verdict": "not yet run", "evidence": "", "profile": ""})
            continue
        if claim.cells is not None:
            df = df[claim.cells(df).to_numpy()]
        mixed = df["profile"].nunique() > 1
        so_far = _so_far(claim, df) if mixed else ""
        if mixed:
            found = by_fidelity(df["profile"])
            df = one_profile(claim.artifact, df)
            if df is None:
                rows.append({"claim": claim.text, "verdict": "not tested (mixed profiles)", "profile": "mixed",
                             "evidence": f"the cells' best runs come from {', '.join(found)}; no one profile "
                                         "has a finished run of every cell"})
                continue
        df = _with_width(df)
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
        if mixed:
            evidence = f"{evidence} [on the {profile} runs of all {df['cell'].nunique()} cells: their best runs " \
                       f"mix profiles]{so_far}"
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


def coverage(numbers: pd.DataFrame) -> pd.DataFrame:
    """Per profile (most faithful first, every profile listed): how many of the paper's numbers
    ours come from runs of it, and how many of those are within the tolerance."""
    rows = []
    for name in [*FIDELITY, *(p for p in by_fidelity(numbers["profile"]) if p not in FIDELITY)]:
        mine = numbers[numbers["profile"] == name]
        rows.append({"profile": name, "numbers": len(mine),
                     f"within {TOLERANCE_PP:g} pp": int((mine["diff_pp"].abs() <= TOLERANCE_PP).sum()),
                     "reproduced": int((mine["verdict"] == "reproduced").sum())})
    return pd.DataFrame(rows)


def coverage_text(numbers: pd.DataFrame) -> str:
    """The summary's sentence: how many of the paper's numbers come from runs of each profile."""
    cov = coverage(numbers).set_index("profile")
    within = f"within {TOLERANCE_PP:g} pp"

    def part(name: str) -> str:
        n = int(cov.loc[name, "numbers"])
        if name == "paper":
            return f"{n} {'comes' if n == 1 else 'come'} from paper-profile runs ({cov.loc[name, 'reproduced']} reproduced within {TOLERANCE_PP:g} pp)"
        if name == "short":
            return f"{n} from short-profile runs ({cov.loc[name, within]} within {TOLERANCE_PP:g} pp, indicative only)"
        if name in NARROW:
            return f"{n} from {name}-profile runs (narrow networks: not tested)"
        return f"{n} not run yet" if name == "none" else f"{n} from {name}-profile runs"

    parts = [part(p) for p in cov.index if p in FIDELITY or cov.loc[p, "numbers"]]
    return f"Of the {len(numbers)} numbers the paper reports, " + ", ".join(parts[:-1]) + f" and {parts[-1]}."


def sources(results: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Per artifact: its cells and how many of them come from each profile (most faithful first)."""
    rows = []
    for artifact, df in results.items():
        cells = df.drop_duplicates("cell") if "cell" in df else df
        counts = cells["profile"].value_counts()
        rows.append({"artifact": artifact, "cells": len(cells), **{p: int(counts.get(p, 0)) for p in FIDELITY},
                     "runs": len(df), "from": ", ".join(f"{p} {counts[p]}" for p in by_fidelity(cells["profile"]))})
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class Summary:
    numbers: pd.DataFrame   # every reported number beside ours (compare), with its profile and verdict
    claims: pd.DataFrame    # every claim with its verdict and the profile it was checked on
    sources: pd.DataFrame   # per artifact, how many cells come from each profile
    text: str               # coverage_text(numbers)


def summary(profile: str = "auto", train_missing: bool = True) -> Summary:
    """All reported numbers beside ours, all claims with verdicts, and where the cells come from."""
    from .sweeps import ARTIFACTS, load_result

    results = {a: collect(a, profile, train_missing=train_missing, progress=False) for a in ARTIFACTS}
    numbers = pd.concat([compare(results[a], a) for a in reported()["artifact"].unique()], ignore_index=True)
    claims = check_claims(results, lambda a: load_result(a, profile))
    return Summary(numbers, claims, sources(results), coverage_text(numbers))


def vs_defaults(df: pd.DataFrame) -> pd.DataFrame:
    """Validation accuracy of each variant of a choices artifact (mean over seeds, in percent), its
    difference from the first variant (the defaults it was run against), the standard deviation
    over seeds, and how well each FF layer told positive from negative data in the last epoch."""
    by = df.groupby("variant", sort=False)
    table = by[["val_acc_linear", "val_acc_goodness"]].mean() * 100
    table.columns = ["val linear [%]", "val goodness [%]"]
    for m in ("linear", "goodness"):
        table[f"{m} vs defaults [pp]"] = table[f"val {m} [%]"] - table[f"val {m} [%]"].iloc[0]
        table[f"{m} std over seeds [pp]"] = by[f"val_acc_{m}"].std() * 100
    for col in sorted(c for c in df if c.startswith("disc_acc_layer")):  # the FF layers' own discrimination
        table[f"layer {col[-1]} discrimination [%]"] = by[col].mean() * 100
    table["seeds"] = by.size()
    return table


# What a miss at the paper's settings has been checked against (FF, BP), said beside the miss.
TRIED = ("Tried before the long runs, on validation only: the choices the paper leaves open (chapter "
         "*Choices the paper leaves open*; Loewe's initialization became our default there); nothing was "
         "tuned on this cell",
         "What the paper leaves unstated for the BP baseline is listed in chapter *The backprop baseline*; "
         "none of it was tuned")


def paper_settings(artifact: str, results: pd.DataFrame) -> str:
    """A paragraph for a chapter: which of ``artifact``'s cells have runs at the paper's settings,
    finished (accuracy, wall time, device) or under way in the CPU campaign (epochs done so far)."""
    from . import campaign

    lines = []
    for _, c in paper_cells(results).iterrows():
        accs = ", ".join(f"{k.replace('val_acc_', 'validation ').replace(' [%]', '')} {v:.2f} %"
                         for k, v in c.items() if k.startswith("val_acc") and pd.notna(v))
        lines.append(f"{c['model'].upper()} {c['filters']} {c['kernel']}x{c['kernel']}"
                     f"{' max pooling' if c['max_pool'] else ''}: finished, {accs} "
                     f"({c['seeds']} seed{'s' if c['seeds'] > 1 else ''}; {c['train_h']:.1f} h each on {c['device']})")
    paper = results[results["profile"] == "paper"]
    if not paper.empty and not reported(artifact).empty:
        numbers = compare(paper, artifact)
        for _, n in numbers[numbers["n_seeds"] > 0].iterrows():
            # Said plainly on the chapter, not only in the summary; one seed says nothing of the noise.
            noise = (f", std over {n['n_seeds']} seeds {n['ours_std_pct']:.2f} pp" if n["n_seeds"] > 1
                     else "; one seed so far, so the seed-to-seed spread is not known yet")
            tried = "" if n["verdict"] == "reproduced" else f". {TRIED[n['method'] == 'bp']}"
            lines.append(f"against the paper, {n['quantity']} ({n['split']}, {n['method']}): ours {n['ours_pct']:.2f} %, "
                         f"reported {n['reported_pct']:.2f} % ({n['diff_pp']:+.2f} pp): **{n['verdict']}** "
                         f"(tolerance {TOLERANCE_PP} pp{noise}){tried}")
    cells = [cell for cell in campaign.CELLS if cell.artifact == artifact or artifact in cell.also]
    for _, row in campaign.status(cells=cells).iterrows():
        if row["status"] == "partial":
            lines.append(f"{row['cell']}: under way in the CPU campaign, {row['epochs_done']} of {row['epochs']} epochs "
                         f"({row['train_hours']:.1f} h on {row['device'] or 'a CPU'}; validation {100 * row['val_acc']:.2f} % "
                         f"at epoch {row['epochs_done']}); `make campaign` resumes it")
    if not lines:
        return ("**At the paper's settings** (200 epochs, full data): no run yet; the CPU campaign "
                "(`make campaign`) or a GPU session trains them.")
    return "**At the paper's settings** (200 epochs, full data):\n\n" + "\n".join(f"* {line}" for line in lines)


def saturation(metrics: pd.DataFrame) -> str:
    """How a BP run ends (chapter 11): from which epoch it classifies every training image, in how
    many epochs its loss rounds to exactly zero in fp32, and its validation accuracy's peak against
    its last epoch (the one we report).

    Without regularization the cross-entropy saturates once every training image is classified
    with full confidence; the gradient is then zero for most batches, and Adam, which divides by a
    running gradient scale, turns the rare tiny gradient into a full-size step."""
    perfect = metrics[metrics["train_acc"] == 1]
    best, last = metrics.loc[metrics["val_acc"].idxmax()], metrics.iloc[-1]
    text = []
    if len(perfect):
        text.append(f"Training accuracy first reaches 100 % at epoch {int(perfect['epoch'].iloc[0])} ({len(perfect)} of "
                    f"{len(metrics)} epochs at 100 %; in {int((metrics['train_loss'] == 0).sum())} the mean loss rounds "
                    "to exactly zero in fp32): the cross-entropy saturates, most batches give no gradient, and the "
                    "weights change little except where Adam, which divides by a running gradient scale, turns a "
                    "rare tiny gradient into a full-size step.")
    text.append(f"Validation accuracy peaks at {100 * best['val_acc']:.2f} % (epoch {int(best['epoch'])}) and ends at "
                f"{100 * last['val_acc']:.2f} % (epoch {int(last['epoch'])}); we report the last epoch's, since a "
                "peak picked on the validation set would flatter it.")
    return " ".join(text)
