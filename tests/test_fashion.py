"""Fashion-MNIST beyond the paper (issue #27): the data, Config.dataset, the CLI, the campaign's
cells and the chapter's numbers (ffcnn_lib.fashion)."""
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from ffcnn_lib import campaign, data, fashion, sweeps
from ffcnn_lib.__main__ import main
from ffcnn_lib.config import Config

RUNS = Path(__file__).resolve().parent.parent / "results" / "runs"
FASHION = "fashion-mnist"


# --- run ids: the new field moves no stored run -------------------------------------------------

def test_the_dataset_field_leaves_the_ids_of_stored_runs_unchanged():
    # ids of committed runs, written out: the BP baseline, FF 16x5x5 with and without pooling
    assert Config.bp().run_id() == "bp-16-16-16-k5-b50-e200-s0-a1dbbbaac0"
    assert Config.bp(seed=2).run_id() == "bp-16-16-16-k5-b50-e200-s2-583157dec7"
    assert Config(filters=16, kernel=5, max_pool=True).run_id() == "ff-16-16-16-k5-pool-fanin-set1-K0.35-b50-e200-s0-4fdd2d3f5b"
    assert Config(filters=16, kernel=5, init="loewe", classifier_input="neutral").run_id() == \
        "ff-16-16-16-k5-loewe-set1-K0.35-b50-e200-s0-d84973c151"
    assert Config(dataset="mnist").run_id() == Config().run_id()
    # and every stored run: its config, read back, names its own folder
    folders = [f for f in RUNS.iterdir() if (f / "config.json").exists()]
    assert folders
    for folder in folders:
        assert Config.from_dict(json.loads((folder / "config.json").read_text())).run_id() == folder.name


def test_a_fashion_run_says_so_in_its_id_and_round_trips():
    fm = Config(filters=16, kernel=5, dataset=FASHION)
    assert fm.run_id().startswith("ff-fmnist-16-16-16-k5-fanin-set1-K0.35-b50-e200-s0-")
    assert Config.bp(dataset=FASHION).run_id().startswith("bp-fmnist-16-16-16-k5-b50-e200-s0-")
    assert fm.run_id()[-10:] != Config(filters=16, kernel=5).run_id()[-10:]  # the hash differs too
    assert Config.from_dict(fm.to_dict()) == fm
    # a stored config without the field is an MNIST run (what every run was before it existed)
    old = {k: v for k, v in Config(filters=16, kernel=5).to_dict().items() if k != "dataset"}
    assert Config.from_dict(old).dataset == "mnist"


def test_a_bad_dataset_is_refused_before_training_with_the_allowed_names(capsys):
    with pytest.raises(ValueError, match="unknown dataset 'cifar10'; allowed: mnist, fashion-mnist"):
        Config(dataset="cifar10")
    with pytest.raises(ValueError, match="unknown dataset 'kmnist'; allowed: mnist, fashion-mnist"):
        data.load_split("val", n=1, dataset="kmnist")
    with pytest.raises(SystemExit) as exit_:
        main(["train", "--dataset", "cifar10", "--epochs", "1"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "'cifar10'" in err and "mnist" in err and "fashion-mnist" in err


# --- the data ------------------------------------------------------------------------------------

def test_fashion_splits_shapes_and_first_labels():
    x, y = data.load_split("train", dataset=FASHION)
    assert x.shape == (50_000, 1, 28, 28) and x.dtype == torch.float32 and 0 <= x.min() and x.max() <= 1
    assert y[:10].tolist() == [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]  # Fashion-MNIST's own, not MNIST's 5 0 4 1 ...
    xv, yv = data.load_split("val", dataset=FASHION)
    xt, yt = data.load_split("test", dataset=FASHION)
    assert len(yv) == len(yt) == 10_000 and yt[:10].tolist() == [9, 2, 1, 1, 6, 1, 4, 6, 5, 7]
    # train + val are the whole training file: 6,000 images of each class; the test file 1,000 each
    assert torch.bincount(torch.cat([y, yv]), minlength=10).tolist() == [6000] * 10
    assert torch.bincount(yt, minlength=10).tolist() == [1000] * 10
    assert not torch.equal(x[0], data.load_split("train", n=1)[0][0])  # not MNIST's first image


def test_fashion_sums_file_is_the_one_the_loader_checks():
    lines = (data.data_dir(FASHION) / "SHA256SUMS").read_text().split("\n")
    assert {name: digest for digest, name in (ln.split() for ln in lines if ln.strip())} == data.FASHION_SHA256
    assert data.data_dir(FASHION).name == "fashion-mnist"


# --- training: the FF and BP paths read the config's data set ------------------------------------

@pytest.mark.parametrize("model", ["ff", "bp"])
def test_cli_trains_on_fashion_mnist(model, results_root, monkeypatch, capsys):
    import ffcnn_lib.train as train

    seen = []
    real = train.load_split
    monkeypatch.setattr(train, "load_split", lambda *a, **k: seen.append(a[3] if len(a) > 3 else k.get("dataset"))
                        or real(*a, **k))
    args = ["train", "--model", model, "--dataset", FASHION, "--filters", "2", "--kernel", "5", "--n-train", "100",
            "--n-val", "50", "--batch-size", "50", "--epochs", "1", "--device", "cpu"]
    assert main(args) == 0
    run = Path(json.loads(capsys.readouterr().out)["run"])
    assert run.name.startswith(f"{model}-fmnist-2-2-2-k5-")
    assert json.loads((run / "config.json").read_text())["dataset"] == FASHION
    assert seen == [FASHION, FASHION]  # training and validation images, both Fashion-MNIST


# --- the campaign's cells ------------------------------------------------------------------------

def test_fashion_cells_are_appended_after_the_papers_with_a_lower_priority():
    cells = campaign.CELLS
    assert cells[0].name == "FF 16x5x5, bf16 twin (issue 17)" and cells[25].name == "FF 16x3x3 (Fig. 4B)"
    mine = [c for c in cells if c.artifact == "fashion"]
    assert cells[26:35] == mine  # appended after the paper's 26: running campaigns name cells by position
    # after every cell at the paper's settings; the short-profile readings of issue #31 f (indicative,
    # no verdict) share seed 0's priority and come after it in the list
    # (a further seed of a paper cell, issue #31, waits after them unless a verdict hinges on it)
    assert max(c.priority for c in cells if c.artifact != "fashion" and c.profile == "paper" and c.seed == 0) \
        < min(c.priority for c in mine) <= min(c.priority for c in cells if c.reason.startswith("issue #31: a further seed"))
    short = [c for c in cells if c.profile == "short"]
    assert {c.priority for c in short} == {min(c.priority for c in mine)} and cells.index(short[0]) > cells.index(mine[-1])
    assert [c.seed for c in mine] == [0, 0, 0, 1, 1, 1, 2, 2, 2]  # one seed of each network first
    assert max(c.priority for c in mine if c.seed == 0) < min(c.priority for c in mine if c.seed > 0)
    assert all("issue #27" in c.reason for c in mine)
    configs = [c.config() for c in mine]
    assert {c.dataset for c in configs} == {FASHION}
    assert {(c.model, c.max_pool, c.epochs, c.n_train) for c in configs} == \
        {("ff", False, 200, 50_000), ("ff", True, 200, 50_000), ("bp", False, 200, 50_000)}
    assert all(fashion.twin(c.paper()).run_id() == c.paper().replace(dataset="mnist").run_id() for c in mine)


def test_the_short_readings_are_never_planned_at_the_paper_profile():
    from ffcnn_lib import gpu_plan

    assert "fashion_short" in sweeps.SHORT_ONLY
    names = [s.name for s in gpu_plan.stages()]
    assert "fashion_short-short" in names and "fashion_short-paper" not in names and "fashion-paper" in names
    assert [c.K for c in sweeps.ARTIFACTS["fashion_short"]()] == [0.2, 0.35, 0.5, 0.35]


# --- the chapter's numbers -----------------------------------------------------------------------

def _acc(ff: tuple, bp: tuple) -> pd.DataFrame:
    """An accuracies() table of one FF network (linear) and BP: (mean, std, n) on both data sets."""
    rows = []
    for method, (mean, std, n) in (("linear", ff), ("bp", bp)):
        rows.append({"network": "FF 16x5x5" if method == "linear" else "BP 16x5x5", "method": method,
                     **{f"{d}_{k}": v for d in ("fashion", "mnist") for k, v in
                        (("mean", mean), ("std", std), ("n", n), ("profile", "paper"))}})
    return pd.DataFrame(rows)


def test_the_gap_is_the_difference_of_means_with_its_standard_error():
    g = fashion.gaps(_acc((90.0, 0.3, 3), (91.0, 0.4, 3))).iloc[0]
    assert g["fashion_gap"] == pytest.approx(-1.0)
    assert g["fashion_se"] == pytest.approx(math.sqrt(0.09 / 3 + 0.16 / 3))  # 0.2887
    one = fashion.gaps(_acc((90.0, math.nan, 1), (91.0, 0.4, 3))).iloc[0]
    assert one["fashion_gap"] == pytest.approx(-1.0) and math.isnan(one["fashion_se"])  # one seed: spread unknown
    text = " ".join(fashion.findings(_acc((90.0, 0.3, 3), (91.0, 0.4, 3))))
    assert "-1.00 pp against -1.00 pp" in text and "indicative" not in text
    assert "indicative" in " ".join(fashion.findings(_acc((90.0, math.nan, 1), (91.0, 0.4, 3))))
    assert fashion.findings(_acc((90.0, 0.3, 3), (91.0, 0.4, 3)), "smoke") == []  # the banner speaks there


def test_most_confused_reads_shares_of_the_true_class():
    m = np.diag([100] * 10)
    m[6, 0], m[6, 6] = 30, 70   # shirts taken for T-shirts: 30 % of the shirts
    m[4, 2] = 25                # coats taken for pullovers: 25 of 125 = 20 %
    assert fashion.most_confused(m, 2) == "Shirt taken for T-shirt/top 30.0 %; Coat taken for Pullover 20.0 %"


def test_an_empty_cache_shows_no_number_and_the_cost_of_every_reading(results_root):
    acc = fashion.accuracies("auto")
    assert acc["fashion_n"].eq(0).all() and acc["mnist_n"].eq(0).all()
    assert "No network has a finished run on Fashion-MNIST" in fashion.findings(acc)[0]
    readings = fashion.short_readings("auto")
    assert len(readings) == 4 and readings["profile"].eq("").all()
    assert readings["not run yet: one run at the short profile would cost"].str.len().gt(0).all()
    assert fashion.confusion(sweeps.ARTIFACTS["fashion"]()[0]) is None and fashion.curves().empty
