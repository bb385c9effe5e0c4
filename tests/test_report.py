"""Reported-vs-reproduced comparison on synthetic result tables: the noise tolerance, the verdict
vocabulary, narrow profiles kept out of published tables, and the 25 distinct reported numbers."""
import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from ffcnn_lib import report
from ffcnn_lib.stats import Spread

KEYS = dict(K=0.35, label_set="set1", max_pool=False, include_first_layer=False)


def _bp(values, profile="paper", precision="fp32"):
    """Runs of the BP baseline (Sec. 3.1: 99.13 % reported), one per value."""
    return pd.DataFrame([dict(model="bp", filters="16-16-16", kernel=5, batch_size=50, val_acc_bp=v, seed=i,
                              precision=precision, **KEYS) for i, v in enumerate(values)]
                        ).assign(artifact="bp", profile=profile)


def test_reported_file_has_every_table_and_headline_number():
    rep = report.reported()
    assert set(rep["artifact"]) == {"headline", "bp", "table1", "table2", "table3"}
    head = rep[rep.artifact == "headline"].set_index(["split", "method"])["value"]
    assert head[("test", "goodness")] == 99.16 and head[("val", "linear")] == 99.14
    assert len(rep[rep.artifact == "table3"]) == 10 and len(rep) == 29


def _pool(s_pp=0.05, dof=6):
    """A seed spread pooled over paper-settings cells, as :func:`report.seed_pool` gives it."""
    return {"classifier": Spread(s_pp, dof), "goodness": Spread(math.nan, 0)}


def test_tolerance_is_the_t_interval_of_the_seed_noise_on_shared_images():
    # t(0.975, 6 dof) = 2.4469 (tables); Var d = s^2 (1/n + 1/m_eff), m_eff = 1 for the verdict
    s, n = 0.05, 3
    assert report.tolerance_pp(Spread(s, 6), n) == pytest.approx(2.4469 * s * math.sqrt(1 / 3 + 1), abs=1e-4)
    # the reading with the paper's five runs independent is narrower; more seeds of ours tighten both
    assert report.tolerance_pp(Spread(s, 6), n, m_eff=5) == pytest.approx(2.4469 * s * math.sqrt(1 / 3 + 1 / 5),
                                                                           abs=1e-4)
    assert report.tolerance_pp(Spread(s, 6), 10) < report.tolerance_pp(Spread(s, 6), 3)
    # fewer degrees of freedom behind s: a wider t quantile (t(0.975, 2) = 4.3027)
    assert report.tolerance_pp(Spread(s, 2), n) == pytest.approx(4.3027 * s * math.sqrt(4 / 3), abs=1e-4)
    # no spread known, or no run: NaN (compare then falls back to the sampling stand-in)
    assert math.isnan(report.tolerance_pp(Spread(math.nan, 0), 1)) and math.isnan(report.tolerance_pp(None, 1))
    assert math.isnan(report.tolerance_pp(Spread(s, 6), 0))
    # the sensitivity reading adds both images' binomial terms; alone it is the stand-in: 0.28 pp at 99 %
    assert report.sampling_tolerance_pp(99.0, None, 1) == pytest.approx(1.96 * math.sqrt(2 * 99 * 1 / 10_000), abs=1e-3)
    assert report.sampling_tolerance_pp(99.0, None, 1, n_val=500) > report.sampling_tolerance_pp(99.0, None, 1)
    want = 2.4469 * math.sqrt(s ** 2 * (1 / 3 + 1) + 2 * 99 * 1 / 10_000)
    assert report.sampling_tolerance_pp(99.0, Spread(s, 6), 3) == pytest.approx(want, abs=1e-4)
    assert "$" in report.TOLERANCE_FORMULA_MD and "m_\\mathrm{eff}" in report.TOLERANCE_FORMULA_MD
    assert "range(50000, 60000)" in report.TOLERANCE_FORMULA_MD  # the evidence for the shared split


def test_seed_pool_takes_one_row_per_cell_and_family_at_the_papers_settings():
    ff = pd.DataFrame([dict(model="ff", filters="16-16-16", kernel=5, batch_size=50, val_acc_linear=a,
                            val_acc_goodness=g, run_id=f"ff{i}", **KEYS) for i, (a, g) in
                       enumerate(((0.9820, 0.70), (0.9826, 0.75), (0.9823, 0.80)))])
    bp = _bp([0.9890, 0.9900, 0.9895]).assign(run_id=["bp0", "bp1", "bp2"])
    rows = pd.concat([ff.assign(artifact="table3", profile="paper"), ff.assign(artifact="cam", profile="paper"),
                      bp, bp.assign(profile="short", run_id=["s0", "s1", "s2"])], ignore_index=True)
    pool = report.seed_pool(rows)
    # the FF cell once (its runs serve two artifacts), the BP cell once (the short runs left out)
    assert pool["classifier"].dof == 4 and [c[1] for c in pool["classifier"].cells] == [3, 3]
    assert pool["classifier"].s == pytest.approx(np.sqrt((0.03 ** 2 + 0.05 ** 2) / 2))
    assert pool["goodness"].dof == 2 and pool["goodness"].s == pytest.approx(5.0)
    assert report.seed_pool(pd.DataFrame())["classifier"].dof == 0


def test_a_short_profile_is_judged_with_the_spread_of_runs_stopped_at_its_last_epoch():
    # three FF seeds and two BP seeds at the paper's settings, with their per-epoch curves
    ends = {"ff0": 0.9820, "ff1": 0.9826, "ff2": 0.9823, "bp0": 0.9896, "bp1": 0.9893}
    rows = pd.DataFrame([dict(model=run[:2], filters="16-16-16", kernel=5, batch_size=50, run_id=run, profile="paper",
                              **({"val_acc_bp": end} if run.startswith("bp") else
                                 {"val_acc_linear": end, "val_acc_goodness": 0.75}), **KEYS)
                         for run, end in ends.items()])
    at20 = {"ff0": (0.9700, 0.60), "ff1": (0.9760, 0.50), "ff2": (0.9640, None), "bp0": 0.9890, "bp1": 0.9900}

    def load(run):  # FF curves validate goodness every 10 epochs (ff2 lacks it at 20); BP's says "val_acc"
        a = at20[run]
        if run.startswith("bp"):
            return SimpleNamespace(metrics=pd.DataFrame({"epoch": [19, 20], "val_acc": [0.5, a]}))
        curve = pd.DataFrame({"epoch": [19, 20], "val_acc_linear": [0.5, a[0]], "val_acc_goodness": [0.4, a[1]]})
        return SimpleNamespace(metrics=curve if a[1] is not None else curve.drop(columns="val_acc_goodness"))

    pool = report.curve_pool(rows, 20, load)
    # the classifiers' family: FF linear (0.60 pp) and BP (0.07 pp) at epoch 20, pooled over 3 dof
    want = math.sqrt((2 * 0.60 ** 2 + 1 * (0.10 / math.sqrt(2)) ** 2) / 3)
    assert pool["classifier"].s == pytest.approx(want, rel=1e-6) and pool["classifier"].dof == 3
    assert pool["goodness"].dof == 1 and pool["goodness"].s == pytest.approx(10 / math.sqrt(2))
    assert report.seed_pool(rows)["classifier"].s < 0.05  # at their end the same runs agree far more
    # a short-profile number is weighed against that spread; a paper-settings one keeps the paper's
    both = {**_pool(0.05, 6), ("short", "classifier"): Spread(0.42, 6)}
    assert report.compare(_bp([0.9870], "short"), "bp", pool=_pool()).iloc[0]["verdict"] == \
        "below (short profile, indicative)"  # -0.43 pp against ±0.17 pp of the paper's spread
    assert report.compare(_bp([0.9870], "short"), "bp", pool=both).iloc[0]["verdict"] == \
        "consistent (short profile, indicative)"
    assert report.compare(_bp([0.9870], "paper"), "bp", pool=both).iloc[0]["verdict"] == "below (1 seed, indicative)"
    assert report.spread_of(both, "bp", "smoke") is None and report.spread_of(both, "linear", "short").s == 0.42


def test_compare_columns_tolerance_and_precision():
    cmp = report.compare(_bp([0.9910, 0.9920, 0.9915], precision="bf16-autocast"), "bp", pool=_pool())
    assert list(cmp.columns[:21]) == ["artifact", "quantity", "split", "method", "reported_pct", "ours_pct",
                                      "ours_std_pct", "n_seeds", "diff_pp", "tolerance_pp", "profile", "precision",
                                      "verdict", "noise", "tolerance_m5_pp", "verdict_m5", "tolerance_split_pp",
                                      "verdict_split", "source", "train_h", "device"]
    row = cmp.iloc[0]
    assert row["ours_pct"] == pytest.approx(99.15) and row["n_seeds"] == 3
    assert row["ours_std_pct"] == pytest.approx(0.05)
    assert row["tolerance_pp"] == pytest.approx(report.tolerance_pp(Spread(0.05, 6), 3)) and row["noise"] == "seed spread"
    assert row["tolerance_m5_pp"] == pytest.approx(report.tolerance_pp(Spread(0.05, 6), 3, 5))
    assert row["precision"] == "bf16-autocast" and row["verdict"] == "reproduced"
    mixed = pd.concat([_bp([0.991]), _bp([0.992], precision="bf16-autocast")])
    assert report.compare(mixed, "bp", pool=_pool()).iloc[0]["precision"] == "bf16-autocast + fp32"


def test_the_verdict_counts_the_papers_runs_as_one_and_shows_them_as_five_beside_it():
    # BP 16x5x5 as it stands: -0.15 pp with s = 0.057 pp over 6 dof: within ±0.16 pp (m = 1), not ±0.10 (m = 5)
    row = report.compare(_bp([0.9891, 0.9898, 0.9905]), "bp", pool=_pool(0.057, 6)).iloc[0]
    assert row["diff_pp"] == pytest.approx(-0.15) and row["verdict"] == "reproduced"
    assert row["verdict_m5"] == "below reported" and row["verdict_split"] == "reproduced"
    # no seed spread known anywhere: the sampling stand-in, said so
    alone = report.compare(_bp([0.9898]), "bp", pool={}).iloc[0]
    assert alone["noise"].startswith("images only") and alone["tolerance_pp"] == pytest.approx(1.96 * math.sqrt(2 * 99.13 * 0.87 / 10_000), abs=1e-4)


@pytest.mark.parametrize("values, profile, want", [
    ((0.9910, 0.9920, 0.9915), "paper", "reproduced"),
    ((0.9870, 0.9875, 0.9880), "paper", "below reported"),   # -0.38 pp, tolerance 0.27 pp
    ((0.9950, 0.9955, 0.9960), "paper", "above reported"),
    ((0.9910, 0.9920), "paper", "consistent (2 seeds, indicative)"),  # never "reproduced" under 3 seeds
    ((0.9880,), "paper", "below (1 seed, indicative)"),
    ((0.9950,), "paper", "above (1 seed, indicative)"),
    ((0.9915,), "short", "consistent (short profile, indicative)"),
    ((0.9910, 0.9920, 0.9915), "short", "consistent (short profile, indicative)"),  # short: never outright
    ((0.9850,), "short", "below (short profile, indicative)"),
])
def test_verdicts_follow_profile_seeds_and_tolerance(values, profile, want):
    assert report.compare(_bp(values, profile), "bp", pool=_pool()).iloc[0]["verdict"] == want


def test_the_pooled_spread_not_the_cells_own_sets_the_tolerance():
    # three identical seeds (own s = 0) do not shrink it: the pool's 0.05 pp does
    row = report.compare(_bp([0.9923] * 3), "bp", pool=_pool()).iloc[0]
    assert row["diff_pp"] == pytest.approx(0.1) and row["tolerance_pp"] == pytest.approx(0.141, abs=0.001)
    assert row["verdict"] == "reproduced"
    assert report.compare(_bp([0.9933] * 3), "bp", pool=_pool()).iloc[0]["verdict"] == "above reported"


def test_narrow_profiles_show_no_numbers_unless_asked():
    for profile in ("smoke", "cpu"):
        df = _bp([0.5, 0.6], profile)
        hidden = report.compare(df, "bp", pool=_pool()).iloc[0]
        assert hidden["verdict"] == "no evidence yet" and hidden["profile"] == profile
        assert all(np.isnan(hidden[c]) for c in ("ours_pct", "ours_std_pct", "diff_pp", "tolerance_pp"))
        shown = report.compare(df, "bp", show_narrow=True, pool=_pool()).iloc[0]
        assert shown["verdict"] == f"not tested ({profile} profile)" and shown["ours_pct"] == pytest.approx(55.0)
    assert report.compare(_bp([]).reindex(columns=_bp([0.9]).columns), "bp", pool=_pool()).iloc[0]["verdict"] == \
        "not run"


def test_paper_cells_give_accuracy_wall_time_and_device_of_paper_runs_only():
    df = pd.DataFrame([dict(model="bp", filters="16-16-16", kernel=5, batch_size=50, val_acc_bp=v, train_seconds=t,
                            device="cpu (x86_64, 2 threads)", seed=0, **KEYS)
                       for v, t in ((0.9910, 7200), (0.9920, 3600))])
    cells = report.paper_cells(df.assign(artifact="bp", profile="paper"))
    row = cells.iloc[0]
    assert len(cells) == 1 and row["seeds"] == 2 and row["val_acc_bp [%]"] == pytest.approx(99.15)
    assert row["train_h"] == pytest.approx(1.5) and row["device"] == "cpu (x86_64, 2 threads)"
    assert report.compare(df.assign(artifact="bp", profile="paper"), "bp", pool=_pool()).iloc[0]["train_h"] == \
        pytest.approx(1.5)
    # over runs: each distinct machine once (a run's "machines"), not every run's epoch-by-epoch record
    two = df.assign(device=["A for epochs 1-2; B for epochs 3-4", "C"], machines=["A; B", "B"],
                    artifact="bp", profile="paper")
    assert report.paper_cells(two).iloc[0]["device"] == "A; B"
    assert report.paper_cells(df.assign(artifact="bp", profile="smoke")).empty


def test_a_chapters_finished_cells_are_named_apart_by_the_field_they_differ_in():
    """Table 2's 32x3x3 with label set 1 and with set 2 were both "FF 32-32-32 3x3": a cell is named
    by its batch, K and label set where they differ from the paper's defaults or among the cells
    listed beside it; BP is never named by the FF-only K or label set."""
    keys = dict(KEYS, kernel=3, batch_size=50)
    df = pd.DataFrame([dict(keys, model="ff", filters="32-32-32", label_set=s, val_acc_linear=v, train_seconds=3600,
                            device="cpu", seed=0) for s, v in (("set1", 0.9819), ("set2", 0.9813))])
    text = report.paper_settings("table2", df.assign(artifact="table2", profile="paper"))
    assert "* FF 32-32-32 3x3, label set 1: finished, validation linear 98.19 %" in text
    assert "* FF 32-32-32 3x3, label set 2: finished, validation linear 98.13 %" in text
    alone = report.paper_cells(df.iloc[:1].assign(artifact="table2", profile="paper")).iloc[0]
    assert report.cell_name(alone) == "FF 32-32-32 3x3"  # the paper's defaults, nothing beside it: unnamed
    assert report.cell_name(pd.Series({**alone, "batch_size": 25, "K": 0.2})) == "FF 32-32-32 3x3, batch 25, K = 0.2"
    bp = pd.Series({**alone, "model": "bp", "K": 0.2, "label_set": "set2"})
    assert report.cell_name(bp) == "BP 32-32-32 3x3"


def _numbers(profile_of):
    """compare() rows for every reported number, each artifact's runs at the reported values, with
    the profile ``profile_of(artifact)``."""
    out = []
    for artifact, rep in report.reported().groupby("artifact", sort=False):
        rows = []
        for _, r in rep.iterrows():
            rows.append({**{k: r[k] for k in report.KEY}, f"{r['split']}_acc_{r['method']}": r["value"] / 100})
        df = pd.DataFrame(rows).groupby(report.KEY, as_index=False, dropna=False).first()
        out.append(report.compare(df.assign(artifact=artifact, profile=profile_of(artifact)), artifact,
                                  show_narrow=True, pool={}))
    return pd.concat(out, ignore_index=True)


def test_the_paper_reports_25_distinct_numbers():
    assert len(report.distinct(report.reported())) == 25
    every = _numbers(lambda a: "smoke")
    assert len(every) == 29 and len(report.distinct(every)) == 25
    assert report.coverage_text(every).startswith("Of the 25 distinct numbers the paper reports, 0 come from")
    # all at the paper's settings: one part, no dangling "and"
    assert report.coverage_text(_numbers(lambda a: "paper")).startswith(
        "Of the 25 distinct numbers the paper reports, 25 come from paper-profile runs (")
    assert report.coverage(every).set_index("profile").loc["smoke", "numbers"] == 25
    shared = report.distinct(every).set_index(["quantity", "split", "method"])["artifacts"]
    assert shared[("best FF network", "val", "linear")] == "headline, table1, table3"
    assert shared[("best FF network", "val", "goodness")] == "headline, table1"
    assert shared[("64 filters 3x3 batch 50 set 1", "val", "linear")] == "table2, table3"


def test_distinct_keeps_the_row_with_the_best_evidence():
    # Table 1's 128x7x7 at the paper's settings, the headline's only in a smoke run: the paper row stays
    every = _numbers(lambda a: "paper" if a == "table1" else "smoke")
    d = report.distinct(every)
    best = d[(d.split == "val") & (d.filters == "128-128-128") & (d.kernel == 7) & ~d.max_pool.astype(bool)]
    assert set(best["profile"]) == {"paper"} and set(best["artifact"]) == {"table1"}
    cov = report.coverage(every).set_index("profile")
    assert cov.loc["paper", "numbers"] == 6 and cov.loc["smoke", "numbers"] == 19  # all of Table 1's
    assert cov.loc["paper", "reproduced"] == 0  # one seed each: within tolerance, not reproduced
    assert cov.loc["paper", "within tolerance"] == 6


def test_cpu_profile_scales_the_paper_config():
    from ffcnn_lib import Config
    from ffcnn_lib.sweeps import PROFILE
    c = PROFILE["cpu"].apply(Config(), seed=3)
    assert (c.filters, c.n_train, c.n_val, c.epochs, c.seed) == ((16, 16, 16), 10_000, 2000, 5, 3)
    assert c.lr == pytest.approx(2e-3) and c.classifier_lr == pytest.approx(1e-3)
    assert PROFILE["smoke"].apply(Config(), 0).classifier_lr == pytest.approx(1e-2)  # smoke scales both


def test_inference_precision_pairs_fp32_and_bf16_columns():
    df = pd.DataFrame({"val_acc_goodness": [0.99, 0.98], "val_acc_goodness_bf16": [0.98, 0.98],
                       "test_acc_linear": [0.97, 0.97]})
    t = report.inference_precision(df)
    assert list(t["method"]) == ["goodness"] and t.loc[0, "bf16 - fp32 [pp]"] == pytest.approx(-0.5)
    assert report.inference_precision(df.drop(columns="val_acc_goodness_bf16")).empty


def test_report_imports_neither_the_campaign_nor_the_claims():
    """Dependencies run one way: the campaign and the claims read reported values and verdicts
    from here, never the reverse (not even inside a function)."""
    import ast
    import inspect
    tree = ast.parse(inspect.getsource(report))
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)} | \
        {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
    assert not any(m and ("campaign" in m or "claims" in m) for m in imported)


def test_book_tables_name_snake_case_columns_in_words_and_mark_wide_tables():
    from ffcnn_lib import pages

    narrow = pages.show(pd.DataFrame({"max_abs_diff": [1e-7], "device": ["cpu"]})).to_html()
    assert "max abs diff" in narrow and "max_abs_diff" not in narrow and "many-columns" not in narrow
    wide = pages.show(pd.DataFrame({f"c{i}": [i] for i in range(pages.MANY_COLUMNS)})).to_html()
    assert 'class="many-columns"' in wide  # tables.css lets only these headers break inside a word


def test_seed_spread_is_tested_against_the_papers_stated_001_percent():
    cells = (("a", 3, 0.04), ("b", 3, 0.07))
    pool = {"classifier": Spread(math.sqrt((0.04 ** 2 + 0.07 ** 2) / 2), 4, cells)}
    text = report.seed_spread_text(pool)
    assert "(validation, one row per cell): a 0.04 pp (n = 3); b 0.07 pp (n = 3); pooled, 0.06 pp over 4" in text
    assert "far larger" in text and "p < 1e-10" in text and "literal reading" in text
    # chi2 with 2 dof has the tail exp(-x/2): s = 0.012 pp over 3 seeds gives x = 2.88, p = 0.24
    close = report.seed_spread_text({"classifier": Spread(0.012, 2, (("a", 3, 0.012),))})
    assert "consistent with the paper's" in close and "p = 2.4e-01" in close
    assert report.seed_spread_text({"classifier": Spread(math.nan, 0)}) == ""
