"""Reported-vs-reproduced comparison on synthetic result tables: the noise tolerance, the verdict
vocabulary, narrow profiles kept out of published tables, and the 25 distinct reported numbers."""
import math

import numpy as np
import pandas as pd
import pytest

from ffcnn_lib import report

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


def test_tolerance_is_twice_the_noise_of_the_difference():
    # one seed: the binomial sampling of our 10,000 images and of the paper's, nothing else
    assert report.tolerance_pp(99.0, math.nan, 1) == pytest.approx(2 * math.sqrt(2 * 99 * 1 / 10_000))
    assert report.tolerance_pp(99.0, math.nan, 1) == pytest.approx(0.28, abs=0.005)  # quoted in the formula
    # seeds: s^2/n (ours) + s^2/5 (the paper's five runs, Sec. 2.2)
    s, n = 0.1, 4
    want = 2 * math.sqrt(s ** 2 / n + s ** 2 / 5 + 2 * 99 * 1 / 10_000)
    assert report.tolerance_pp(99.0, s, n) == pytest.approx(want)
    # a test accuracy is one run of the paper's: wider
    assert report.tolerance_pp(99.0, s, n, n_paper_runs=1) > report.tolerance_pp(99.0, s, n)
    # a smaller evaluation set (smoke: 500 images) is noisier; more seeds tighten it
    assert report.tolerance_pp(99.0, s, n, n_val=500) > report.tolerance_pp(99.0, s, n)
    assert report.tolerance_pp(99.0, s, 10) < report.tolerance_pp(99.0, s, 3)
    assert math.isnan(report.tolerance_pp(99.0, math.nan, 0))
    assert "$" in report.TOLERANCE_FORMULA_MD and "s^2" in report.TOLERANCE_FORMULA_MD


def test_compare_columns_tolerance_and_precision():
    cmp = report.compare(_bp([0.9910, 0.9920, 0.9915], precision="bf16-autocast"), "bp")
    assert list(cmp.columns[:16]) == ["artifact", "quantity", "split", "method", "reported_pct", "ours_pct",
                                      "ours_std_pct", "n_seeds", "diff_pp", "tolerance_pp", "profile", "precision",
                                      "verdict", "source", "train_h", "device"]
    row = cmp.iloc[0]
    assert row["ours_pct"] == pytest.approx(99.15) and row["n_seeds"] == 3
    assert row["ours_std_pct"] == pytest.approx(0.05)
    assert row["tolerance_pp"] == pytest.approx(report.tolerance_pp(99.13, 0.05, 3))
    assert row["precision"] == "bf16-autocast" and row["verdict"] == "reproduced"
    mixed = pd.concat([_bp([0.991]), _bp([0.992], precision="bf16-autocast")])
    assert report.compare(mixed, "bp").iloc[0]["precision"] == "bf16-autocast + fp32"


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
    assert report.compare(_bp(values, profile), "bp").iloc[0]["verdict"] == want


def test_a_tiny_seed_spread_does_not_shrink_the_tolerance_below_the_sampling_noise():
    # three identical seeds (s = 0): 0.2 pp off is still within the 10,000-image sampling noise
    row = report.compare(_bp([0.9933] * 3), "bp").iloc[0]
    assert row["diff_pp"] == pytest.approx(0.2) and row["tolerance_pp"] > 0.25 and row["verdict"] == "reproduced"


def test_narrow_profiles_show_no_numbers_unless_asked():
    for profile in ("smoke", "cpu"):
        df = _bp([0.5, 0.6], profile)
        hidden = report.compare(df, "bp").iloc[0]
        assert hidden["verdict"] == "no evidence yet" and hidden["profile"] == profile
        assert all(np.isnan(hidden[c]) for c in ("ours_pct", "ours_std_pct", "diff_pp", "tolerance_pp"))
        shown = report.compare(df, "bp", show_narrow=True).iloc[0]
        assert shown["verdict"] == f"not tested ({profile} profile)" and shown["ours_pct"] == pytest.approx(55.0)
    assert report.compare(_bp([]).reindex(columns=_bp([0.9]).columns), "bp").iloc[0]["verdict"] == "not run"


def test_paper_cells_give_accuracy_wall_time_and_device_of_paper_runs_only():
    df = pd.DataFrame([dict(model="bp", filters="16-16-16", kernel=5, batch_size=50, val_acc_bp=v, train_seconds=t,
                            device="cpu (x86_64, 2 threads)", seed=0, **KEYS)
                       for v, t in ((0.9910, 7200), (0.9920, 3600))])
    cells = report.paper_cells(df.assign(artifact="bp", profile="paper"))
    row = cells.iloc[0]
    assert len(cells) == 1 and row["seeds"] == 2 and row["val_acc_bp [%]"] == pytest.approx(99.15)
    assert row["train_h"] == pytest.approx(1.5) and row["device"] == "cpu (x86_64, 2 threads)"
    assert report.compare(df.assign(artifact="bp", profile="paper"), "bp").iloc[0]["train_h"] == pytest.approx(1.5)
    # over runs: each distinct machine once (a run's "machines"), not every run's epoch-by-epoch record
    two = df.assign(device=["A for epochs 1-2; B for epochs 3-4", "C"], machines=["A; B", "B"],
                    artifact="bp", profile="paper")
    assert report.paper_cells(two).iloc[0]["device"] == "A; B"
    assert report.paper_cells(df.assign(artifact="bp", profile="smoke")).empty


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
                                  show_narrow=True))
    return pd.concat(out, ignore_index=True)


def test_the_paper_reports_25_distinct_numbers():
    assert len(report.distinct(report.reported())) == 25
    every = _numbers(lambda a: "smoke")
    assert len(every) == 29 and len(report.distinct(every)) == 25
    assert report.coverage_text(every).startswith("Of the 25 distinct numbers the paper reports, 0 come from")
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
    rows = pd.DataFrame({"quantity": ["a", "b", "c"], "method": ["linear", "linear", "bp"],
                         "profile": ["paper", "paper", "short"], "n_seeds": [3, 3, 3],
                         "ours_std_pct": [0.04, 0.07, 0.5]})
    text = report.seed_spread_text(rows)  # the short-profile row is left out
    assert "a (linear) 0.04 pp (n = 3); b (linear) 0.07 pp (n = 3); pooled, 0.06 pp, far larger" in text
    assert "4 degrees of freedom: p < 1e-10" in text and "c (bp)" not in text
    # chi2 with 2 dof has the tail exp(-x/2): s = 0.012 pp over 3 seeds gives x = 2.88, p = 0.24
    close = report.seed_spread_text(rows.iloc[:1].assign(ours_std_pct=0.012))
    assert "consistent with the paper's" in close and "2 degrees of freedom: p = 2.4e-01" in close
    assert report.seed_spread_text(rows.assign(n_seeds=2)) == ""
