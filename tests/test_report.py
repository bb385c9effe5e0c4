"""Reported-vs-reproduced comparison and the claim checks, on synthetic result tables."""
import pandas as pd
import pytest

from ffcnn_lib import report

KEYS = dict(K=0.35, label_set="set1", max_pool=False, include_first_layer=False, seed=0)


def _fig3a(ff, bp, profile="paper"):
    rows = [dict(model="ff", filters=f"{f}-{f}-{f}", kernel=7, batch_size=50, val_acc_goodness=a, **KEYS)
            for f, a in zip((16, 32, 64, 128), ff)]
    rows += [dict(model="bp", filters=f"{f}-{f}-{f}", kernel=7, batch_size=50, val_acc_bp=a, **KEYS)
             for f, a in zip((16, 32, 64, 128), bp)]
    return pd.DataFrame(rows).assign(artifact="fig3a", profile=profile)


def test_reported_file_has_every_table_and_headline_number():
    rep = report.reported()
    assert set(rep["artifact"]) == {"headline", "bp", "table1", "table2", "table3"}
    head = rep[rep.artifact == "headline"].set_index(["split", "method"])["value"]
    assert head[("test", "goodness")] == 99.16 and head[("val", "linear")] == 99.14
    assert len(rep[rep.artifact == "table3"]) == 10


def test_compare_and_verdicts():
    df = pd.DataFrame([dict(model="bp", filters="16-16-16", kernel=5, batch_size=50, val_acc_bp=v, **KEYS)
                       for v in (0.9910, 0.9920)]).assign(artifact="bp", profile="paper")
    row = report.compare(df, "bp").iloc[0]
    assert row["ours_pct"] == pytest.approx(99.15) and row["n_seeds"] == 2
    assert row["diff_pp"] == pytest.approx(0.02) and row["verdict"] == "reproduced"
    far = report.compare(df.assign(val_acc_bp=0.985), "bp").iloc[0]
    assert far["verdict"] == "below reported"
    assert report.compare(df.assign(profile="short"), "bp").iloc[0]["verdict"].endswith("(short profile, indicative)")
    assert report.compare(df.assign(profile="smoke"), "bp").iloc[0]["verdict"] == "not tested (smoke profile)"
    assert report.compare(df.assign(profile="cpu"), "bp").iloc[0]["verdict"] == "not tested (cpu profile)"


def test_paper_cells_give_accuracy_wall_time_and_device_of_paper_runs_only():
    df = pd.DataFrame([dict(model="bp", filters="16-16-16", kernel=5, batch_size=50, val_acc_bp=v, train_seconds=t,
                            device="cpu (x86_64, 2 threads)", **KEYS) for v, t in ((0.9910, 7200), (0.9920, 3600))])
    cells = report.paper_cells(df.assign(artifact="bp", profile="paper"))
    row = cells.iloc[0]
    assert len(cells) == 1 and row["seeds"] == 2 and row["val_acc_bp [%]"] == pytest.approx(99.15)
    assert row["train_h"] == pytest.approx(1.5) and row["device"] == "cpu (x86_64, 2 threads)"
    assert report.compare(df.assign(artifact="bp", profile="paper"), "bp").iloc[0]["train_h"] == pytest.approx(1.5)
    assert report.paper_cells(df.assign(artifact="bp", profile="smoke")).empty


def test_cpu_profile_scales_the_paper_config():
    from ffcnn_lib import Config
    from ffcnn_lib.sweeps import PROFILE
    c = PROFILE["cpu"].apply(Config(), seed=3)
    assert (c.filters, c.n_train, c.n_val, c.epochs, c.seed) == ((16, 16, 16), 10_000, 2000, 5, 3)
    assert c.lr == pytest.approx(2e-3) and c.classifier_lr == pytest.approx(1e-3)
    assert PROFILE["smoke"].apply(Config(), 0).classifier_lr == pytest.approx(1e-2)  # smoke scales both


def test_claims_follow_the_data():
    yes = report.check_claims({"fig3a": _fig3a([0.97, 0.98, 0.985, 0.99], [0.991, 0.990, 0.989, 0.988])}, None)
    verdicts = dict(zip(yes["claim"], yes["verdict"]))
    assert verdicts["FF accuracy rises monotonically with the filters per layer (Fig. 3A)"] == "confirmed"
    assert verdicts["BP accuracy falls slightly with the filters per layer (Fig. 3A)"] == "confirmed"
    assert verdicts["Max pooling lowers accuracy (Table 3)"] == "not yet run"
    no = report.check_claims({"fig3a": _fig3a([0.97, 0.96, 0.985, 0.99], [0.98, 0.99, 0.99, 0.995])}, None)
    assert set(no[no.profile == "paper"]["verdict"]) == {"not confirmed"}


def test_inference_precision_pairs_fp32_and_bf16_columns():
    df = pd.DataFrame({"val_acc_goodness": [0.99, 0.98], "val_acc_goodness_bf16": [0.98, 0.98],
                       "test_acc_linear": [0.97, 0.97]})
    t = report.inference_precision(df)
    assert list(t["method"]) == ["goodness"] and t.loc[0, "bf16 - fp32 [pp]"] == pytest.approx(-0.5)
    assert report.inference_precision(df.drop(columns="val_acc_goodness_bf16")).empty
