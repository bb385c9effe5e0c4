"""The six guarantees of book chapter 15 (ffcnn_lib/guarantees.py), and that the checks can fail."""
import inspect

import pandas as pd
import pytest
import torch

from ffcnn_lib import guarantees as G
from ffcnn_lib import inference
from ffcnn_lib import train as train_module
from ffcnn_lib.labels import N_CLASSES


def test_each_layer_learns_from_its_own_loss_only():
    r = G.check_layer_locality()
    assert r.passed, r.evidence
    assert r.numbers["max_leak"] == 0 and r.numbers["no_path"] == r.numbers["other_tensors"] > 0
    assert r.numbers["max_step_vs_own_diff"] == 0 and not r.numbers["first_layer_grad"]


def test_layer_locality_check_catches_a_missing_detach():
    torch.manual_seed(0)
    broken = G.NoDetachStack([G.SMALL.network()], [G.SMALL.label_encoder()])
    r = G.check_layer_locality(model=broken)
    assert not r.passed
    leak = r.numbers["leak"]
    assert leak.loc["layer 3", "layer 2"] > 0 and leak.loc["layer 2", "layer 1"] > 0  # backward into earlier layers
    assert leak.loc["layer 1", "layer 2"] == 0  # never forward
    assert r.numbers["max_step_vs_own_diff"] > 0


def test_excluded_first_layer_keeps_its_initial_weights():
    r = G.check_first_layer_frozen()
    assert r.passed, r.evidence
    assert r.numbers["first_layer_bitwise_equal"] and r.numbers["max_change_excluded"][0] == 0
    assert r.numbers["max_change_included"][0] > 0


def test_no_negative_label_is_the_true_one_over_a_full_epoch():
    r = G.check_negative_labels()
    assert r.passed, r.evidence
    assert r.numbers["negatives"] == 50_000 and r.numbers["true_label_negatives"] == 0
    counts = r.numbers["offset_counts"]
    assert counts[0] == 0 and all(abs(c - 50_000 / 9) < 5 * (50_000 / 9) ** 0.5 for c in counts[1:])


def test_negative_labels_of_stacked_networks():
    r = G.check_negative_labels(n_train=1000, seeds=(0, 1))
    assert r.passed, r.evidence
    assert r.numbers["negatives"] == 2000


def test_negative_label_check_catches_a_naive_draw(monkeypatch):
    """The check reads what training draws: a draw over all ten labels is caught."""
    def naive(labels, generator=None):
        return torch.randint(0, N_CLASSES, labels.shape, generator=generator)
    monkeypatch.setattr(train_module, "negative_labels", naive)
    r = G.check_negative_labels(n_train=5000)
    assert not r.passed
    assert 300 < r.numbers["true_label_negatives"] < 700  # about a tenth of 5,000


def test_inference_never_reads_the_true_label():
    for fn in (inference.linear_logits, inference.goodness_scores, inference.goodness_scores_separate):
        assert not set(inspect.signature(fn).parameters) & set(G.LABEL_PARAMS)
    r = G.check_inference_label_blind()
    assert r.passed, r.evidence
    assert all(c["identical"] for c in r.numbers["changed_predictions"].values())
    acc = r.numbers["accuracy"]
    assert acc["linear classifier, true"] > acc["linear classifier, permuted"]  # the labels did change


def test_label_blindness_check_catches_a_peeking_inference():
    r = G.check_inference_label_blind({"peeking": G.peeking_linear_logits})
    assert not r.passed
    assert r.numbers["label_params"]["peeking"] == "labels"
    changed = r.numbers["changed_predictions"]["peeking"]
    assert not changed["identical"] and changed["permuted"] > 0


def test_batched_goodness_inference_equals_ten_passes():
    r = G.check_goodness_inference()
    assert r.passed, r.evidence
    cases = r.numbers["cases"]
    assert (cases["max_rel_diff"] <= G.GOODNESS_RTOL).all() and (cases["argmax_disagree"] == 0).all()
    assert cases.loc["trained", "changed_by_layer1"] > 0  # leaving layer 1 out matters


def test_ten_passes_is_the_library_reference():
    model, encoder = G.trained_network()
    x = torch.rand(5, 1, 28, 28)
    torch.testing.assert_close(G.ten_passes(model, encoder, x), inference.goodness_scores_separate(model, encoder, x))


def test_fast_path_matches_eager_fp32():
    r = G.check_fast_path()
    assert r.passed, r.evidence
    assert r.numbers["same_initial_weights"] and r.numbers["same_inputs"]
    assert r.numbers["compiled"] == "default"
    assert r.numbers["bf16"] == train_module.cpu_bf16_native()
    assert r.numbers["per_sample_split_error"] < 1e-4  # the split adds up to the step's gradient


def test_fast_path_without_native_bf16(monkeypatch):
    """On a CPU without native bf16 the fast path compiles in fp32: rounding-level differences only."""
    monkeypatch.setattr(train_module, "cpu_bf16_native", lambda: False)
    r = G.check_fast_path(steps=2)
    assert r.passed, r.evidence
    assert not r.numbers["bf16"] and r.numbers["unit_roundoff"] == G.U_FP32
    assert (r.numbers["gradients"]["rel_error_fast"] < 1e-5).all()


def test_table_has_one_row_per_check():
    results = [G.CheckResult("a", True, "x"), G.CheckResult("b", False, "y")]
    df = G.table(results)
    assert list(df.columns) == ["check", "passed", "evidence"] and df["passed"].tolist() == [True, False]
    assert str(results[1]).startswith("FAIL b")
    assert len(G.CHECKS) == 6 and isinstance(df, pd.DataFrame)


def test_a_failed_guarantee_or_a_blind_check_raises():
    """Chapter 15 calls require() on every check: a failure fails the notebook run, not only its text."""
    ok, failed = G.CheckResult("1. x", True, "fine"), G.CheckResult("2. y", False, "leak 0.3")
    assert G.require(ok) is ok and G.require(failed, holds=False) is failed
    with pytest.raises(G.GuaranteeFailed, match=r"2\. y does not hold: leak 0\.3"):
        G.require(failed)
    with pytest.raises(G.GuaranteeFailed, match="1. x passes on a variant built to break it"):
        G.require(ok, holds=False)


def test_checks_leave_the_callers_random_state_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    G.check_layer_locality()
    torch.testing.assert_close(torch.rand(3), expected)
