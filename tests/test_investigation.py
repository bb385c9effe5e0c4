"""Issue #16's diagnostics and comparisons, on constructed data (no training)."""
import copy
import math

import numpy as np
import pandas as pd
import pytest
import torch

from ffcnn_lib import diagnostics, investigation, probe


def _curve(values):
    return pd.DataFrame({"epoch": np.arange(1, len(values) + 1), "val_acc_linear": np.asarray(values) / 100})


def test_twin_verdict_waits_for_both_runs_then_compares_the_last_epoch_with_the_spread():
    rng = np.random.default_rng(0)
    fp32 = _curve(97.6 + 0.1 * rng.standard_normal(200))
    assert investigation.twin_verdict(fp32, None)["verdict"] == "not started"
    assert investigation.twin_verdict(fp32, fp32.iloc[:50])["verdict"] == "pending (50 of 200 epochs in bf16)"
    same = investigation.twin_verdict(fp32, _curve(100 * fp32["val_acc_linear"] + 0.05))
    assert same["verdict"] == "matches" and "own swing" in same["spread_from"]
    off = investigation.twin_verdict(fp32, _curve(100 * fp32["val_acc_linear"] - 1.0))
    assert off["verdict"] == "differs" and off["gap_last_pp"] == pytest.approx(-1.0)
    # with a seed spread, the tolerance is 2 sqrt(2) of it: a 1 pp gap passes a 0.4 pp spread
    assert investigation.twin_verdict(fp32, _curve(100 * fp32["val_acc_linear"] - 1.0),
                                      seed_std_pp=0.4)["verdict"] == "matches"


def test_twin_verdict_states_the_goodness_gap_at_the_last_epoch_both_measured():
    fp32, bf16 = _curve(np.full(200, 97.6)), _curve(np.full(200, 97.5))
    fp32["val_acc_goodness"] = np.where(fp32["epoch"] % 10 == 0, 0.86, np.nan)
    bf16["val_acc_goodness"] = np.where(bf16["epoch"] % 10 == 0, 0.84, np.nan)
    v = investigation.twin_verdict(fp32, bf16.iloc[:195])  # goodness last measured by both at epoch 190
    assert v["goodness_epoch"] == 190 and v["goodness_gap_pp"] == pytest.approx(-2.0)
    assert "-2.00 pp" in investigation.twin_text(v) and v["verdict"].startswith("pending")


def test_goodness_margins_rank_labels_per_layer_and_summed():
    # 4 images, 10 labels, 3 layers; theta 100 each. Layer 2 ranks the true label first for all,
    # layer 3 for half; the sum (layers 2..3) for all.
    y = torch.tensor([0, 1, 2, 3])
    g = torch.full((4, 10, 3), 100.0)
    g[torch.arange(4), y, 1] = 110.0
    g[torch.arange(4), y, 2] = torch.tensor([105.0, 105.0, 95.0, 95.0])
    df = diagnostics.goodness_margins(g, y, [100.0, 100.0, 100.0]).set_index("layer")
    assert df.loc["layer 2", "true beats every wrong label [%]"] == 100
    assert df.loc["layer 3", "true beats every wrong label [%]"] == 50
    assert df.loc["layer 2", "true label: (g - θ)/θ, median [%]"] == pytest.approx(10.0)
    assert df.loc["layers 2..N summed (goodness inference)", "θ"] == 200
    assert df.loc["layers 2..N summed (goodness inference)", "true beats every wrong label [%]"] == 100
    assert "layer 1 (not trained)" in df.index  # the paper's setting: layer 1 keeps its initial weights
    trained = diagnostics.goodness_margins(g, y, [100.0, 100.0, 100.0], first_trained=True)
    assert trained["layer"].iloc[0] == "layer 1"  # App. B's variant: layer 1 is in the loss


def test_still_rising_fits_the_slope_of_the_last_epochs():
    m = pd.DataFrame({"epoch": np.arange(1, 201), "val_acc_goodness": np.nan})
    m.loc[m["epoch"] % 10 == 0, "val_acc_goodness"] = 0.80 + 0.001 * m["epoch"] / 10  # +0.1 pp per 10 epochs
    out = diagnostics.still_rising(m)
    assert out["slope_pp_per_10_epochs"] == pytest.approx(0.1) and out["points"] == 5


def test_the_classifier_probe_trains_one_classifier_per_decay_and_seed_on_a_separable_problem():
    torch.manual_seed(0)
    w = torch.randn(10, 20)
    x = torch.randn(600, 20)
    y = (x @ w.T).argmax(1)
    rows = probe.train_classifiers(x[:500], y[:500], x[500:], y[500:], (0.0, 1e-3), (0, 1), epochs=10, lr=0.05,
                                  batch_size=50)
    assert len(rows) == 4 and {r["weight_decay"] for r in rows} == {0.0, 1e-3}
    assert all(r["val_acc"] > 0.7 for r in rows)
    table = probe.probe_table(pd.DataFrame([{**r, "input": "raw"} for r in rows]))
    assert list(table["seeds"]) == [2, 2] and not math.isnan(table["std over seeds [pp]"].iloc[0])


def test_classifier_inputs_are_the_neutral_overlay_the_image_alone_or_the_raw_image():
    x = torch.rand(2, 1, 28, 28)
    keep, patterns = torch.full((28, 28), 0.65), torch.rand(10, 28, 28)
    assert torch.equal(probe.classifier_inputs("raw", x, keep, patterns), x)
    assert torch.allclose(probe.classifier_inputs("image", x, keep, patterns), 0.65 * x)
    assert torch.allclose(probe.classifier_inputs("neutral", x, keep, patterns), 0.65 * x + patterns.mean(0))
    with pytest.raises(ValueError, match="allowed: image, neutral, raw"):
        probe.classifier_inputs("label", x, keep, patterns)


def _init_runs(linear, goodness, swing=0.1, status="finished"):
    names = list(investigation.INIT_CANDIDATES)
    late = f"val linear, mean of last {investigation.LATE} [%]"
    return pd.DataFrame({"run": names, "status": [status, "finished", "finished"], late: linear,
                         f"val linear, std of last {investigation.LATE} [pp]": swing,
                         "val goodness, last measured [%]": goodness})


def test_init_decision_waits_then_takes_the_best_linear_then_goodness_then_the_incumbent():
    assert investigation.init_decision(_init_runs([97.6, 98.0, 97.7], [86, 58, 80], status="partial"))["init"] is None
    # tolerance 2 sqrt(2) 0.1 = 0.28 pp: PyTorch's +0.4 pp linear wins although its goodness is far lower
    assert investigation.init_decision(_init_runs([97.6, 98.0, 97.7], [86, 58, 80]))["init"] == "torch"
    # linear tied: goodness decides
    d = investigation.init_decision(_init_runs([97.6, 97.7, 97.75], [80, 58, 86]))
    assert d["init"] == "fanin" and "goodness" in d["reason"]
    # tied on both: the incumbent (Loewe's) stays
    assert investigation.init_decision(_init_runs([97.6, 97.7, 97.75], [86, 58, 86.1]))["init"] == "loewe"


def _arm(linear_end, disc_end, rise_epochs, epochs=200, seed=0):
    """A run's metrics: discrimination rising linearly from chance to ``disc_end`` over
    ``rise_epochs`` then flat, linear accuracy flat at ``linear_end`` with a 0.1 pp wiggle."""
    e = np.arange(1, epochs + 1)
    disc = 0.5 + (disc_end - 0.5) * np.minimum(e / rise_epochs, 1.0)
    wiggle = 0.001 * np.random.default_rng(seed).standard_normal(epochs)
    good = np.where(e % 10 == 0, 0.8, np.nan)
    return pd.DataFrame({"epoch": e, "val_acc_linear": linear_end / 100 + wiggle, "val_acc_goodness": good,
                         "disc_acc_layer1": disc, "disc_acc_layer2": disc, "disc_acc_layer3": disc})


def test_first_layer_reading_waits_then_answers_both_questions_by_the_fixed_rule():
    ex = _arm(98.0, 0.90, 40)
    assert investigation.compare_first_layer((ex, "finished"), (ex.iloc[:90], "partial"))["status"] == "pending"
    # layer 1 in the loss: 2 pp lower discrimination, slower rise, linear unchanged -> App. B holds, no gap explained
    r = investigation.compare_first_layer((ex, "finished"), (_arm(98.0, 0.88, 80, seed=1), "finished"))
    assert r["disc_lower"] and r["slower"] and not r["explains_gap"] and r["disc_size"] == "about"
    assert "lower by about the 2 % of App. B" in investigation.first_layer_text(r)
    far = investigation.compare_first_layer((ex, "finished"), (_arm(90.0, 0.51, 80, seed=1), "finished"))
    assert far["disc_size"] == "more" and "far more than App. B's 2 %" in investigation.first_layer_text(far)
    # later layers stuck near chance have not converged, however early they "reach" 95 % of their tiny rise
    stuck = investigation.compare_first_layer((ex, "finished"), (_arm(90.0, 0.51, 2, seed=1), "finished"))
    assert stuck["near_chance"] == ["included"] and stuck["slower"]
    assert "do not converge at all" in investigation.first_layer_text(stuck)
    assert r["drop_disc"] == pytest.approx(2.0, abs=1e-9) and r["tol_linear"] == pytest.approx(0.28, abs=0.06)
    # a clear linear gain with layer 1 trained would explain (part of) the gap; equal discrimination is not lower
    r = investigation.compare_first_layer((ex, "finished"), (_arm(98.6, 0.90, 40, seed=1), "finished"))
    assert r["explains_gap"] and not r["disc_lower"] and not r["slower"]
    text = investigation.first_layer_text(r)
    assert "**can explain**" in text and "not clearly lower" in text and "fixed on 2026-12-02" in text


def test_compare_text_states_both_spreads_and_whether_goodness_follows_the_lead():
    t = pd.DataFrame({"run": ["a", "b", "c"], "linear [%]": [97.6, 98.1, 98.1], "goodness [%]": [86.0, 58.0, 74.0],
                      "lead of the true label over the best wrong, median [% of θ]": [1.2, 0.02, 0.09]})
    text = diagnostics.compare_text(t)
    assert "0.50 pp" in text and "28.0 pp" in text and "rank correlation 1.00" in text and "1.2 % of θ" in text
    assert "rank correlation -0.50" in diagnostics.compare_text(t.assign(**{"goodness [%]": [74.0, 86.0, 58.0]}))
    assert diagnostics.compare_text(t.iloc[:1]) == ""


def test_seeds_text_gives_mean_and_std_of_both_methods_and_their_gap():
    t = pd.DataFrame({"run": ["seed 0", "seed 1", "seed 2"], "linear [%]": [98.2, 98.2, 98.3],
                      "goodness [%]": [74.0, 75.0, 67.0],
                      "lead of the true label over the best wrong, median [% of θ]": [0.09, 0.10, 0.05]})
    text = diagnostics.seeds_text(t)
    assert "n = 3" in text and "98.23 ± 0.06 %" in text and "72.0 ± 4.4 %" in text
    assert "a gap of 26.23 ± 4.42 pp, at least 23.20 pp for every seed" in text and "0.08 ± 0.03 % of θ" in text
    assert "75 times as much" in text
    close = diagnostics.seeds_text(t.assign(**{"goodness [%]": [98.15, 98.3, 98.35]}))
    assert "goodness is ahead for 2 of them (gap down to -0.10 pp)" in close and "similar amounts" in close
    assert diagnostics.seeds_text(t.iloc[:1]) == ""


def test_layer1_state_sees_a_bias_that_holds_goodness_at_theta_and_drowns_the_image():
    from ffcnn_lib.config import Config
    from ffcnn_lib.data import load_split

    config = Config(filters=(4, 4), kernel=3, init="fanin")
    torch.manual_seed(0)
    model, encoder = config.network(), config.label_encoder("cpu")
    x, y = load_split("val", 64, "cpu")
    initial = copy.deepcopy(model)
    random = diagnostics.layer1_state(model, encoder, x, y, initial)
    with torch.no_grad():  # what layer 1 learnt in the loss: a bias of 1 at goodness θ, weights unchanged
        model.convs[0].bias.fill_(1.0)
    biased = diagnostics.layer1_state(model, encoder, x, y, initial)
    assert random["bias mean"] == 0 and biased["bias mean"] == pytest.approx(1.0)
    assert biased["initial bias mean"] == 0 and biased["initial weight std"] == pytest.approx(random["weight std"])
    assert biased["goodness / θ, median"] > random["goodness / θ, median"]
    assert biased[diagnostics.COMMON] > random[diagnostics.COMMON] > 0
    states = pd.DataFrame([{"run": "excluded", **random, "layer 1 discrimination, last epoch [%]": 50.0},
                           {"run": "included", **biased, "layer 1 discrimination, last epoch [%]": 47.0}])
    text = diagnostics.layer1_text(states)
    assert "47.0 % of the time" in text and f"{100 - biased[diagnostics.COMMON]:.1f} % differs" in text
    assert "biases went from 0.00 (mean) to 1.00" in text


def test_gap_text_names_the_seeds_each_number_waits_for_then_says_every_verdict_is_statistical():
    gap = pd.DataFrame({"quantity": ["16 filters 5x5", "16 filters 5x5 + max pooling", "best BP network"],
                        "seeds": [1, 3, 2]})
    text = investigation.gap_text(gap)
    assert "16 filters 5x5: 1 of 3" in text and "best BP network: 2 of 3" in text
    assert "max pooling" not in text and "indicative" in text
    done = investigation.gap_text(gap.assign(seeds=3))
    assert "3 or more finished seeds" in done and "of 3" not in done


def test_bp_twin_says_it_has_not_finished_with_its_cost_then_is_judged_by_the_summary_pages_rule(monkeypatch):
    from ffcnn_lib import costs, report
    from ffcnn_lib.experiments import Result

    def bp_curve(end_pct):
        return pd.DataFrame({"epoch": np.arange(1, 201), "val_acc": np.linspace(0.97, end_pct / 100, 200)})

    seeds = [98.96, 98.93, 99.05]
    runs = {investigation._cell(n): Result(None, bp_curve(a), {"final": {"val_acc_bp": a / 100}}, None)
            for n, a in zip(investigation.BP_SEED_CELLS, seeds)}
    twin = {"run": (None, "not started", {})}
    monkeypatch.setattr(investigation, "load", lambda config, root=None: runs.get(config))
    monkeypatch.setattr(investigation, "metrics_of", lambda config, root=None: twin["run"])
    monkeypatch.setattr(costs, "describe", lambda config: "about 1.1 h on a 2-core avx512-bf16 CPU (measured there)")
    v = investigation.bp_twin()
    text = investigation.bp_twin_text(v)
    assert v["verdict"] == "not started" and "no finished run yet" in text and "1.1 h on a 2-core avx512-bf16" in text
    assert "98.96, 98.93, 99.05 %" in text
    twin["run"] = (bp_curve(98.5).iloc[:120], "partial", {})
    assert investigation.bp_twin()["verdict"] == "pending (120 of 200 epochs in bf16)"
    assert "under way (120 of 200 epochs" in investigation.bp_twin_text(investigation.bp_twin())
    # finished: its last epoch against the fp32 seeds' mean, within the summary page's tolerance (the
    # classifiers' pooled seed spread; here a stub pool of two cells)
    from ffcnn_lib.stats import pooled
    pool = pooled([("BP 16x5x5", seeds), ("FF 16x5x5", [98.20, 98.23, 98.16])])
    monkeypatch.setattr(report, "global_pool", lambda: {"classifier": pool})
    for end, verdict in ((98.99, "matches"), (98.0, "differs")):
        twin["run"] = (bp_curve(end), "finished", {})
        v = investigation.bp_twin()
        assert v["tolerance_pp"] == pytest.approx(report.tolerance_pp(pool, 3, m_eff=1))
        assert v["gap_against_pp"] == pytest.approx(end - np.mean(seeds)) and v["verdict"] == verdict
        assert f"**Verdict: {verdict}**" in investigation.bp_twin_text(v) and "summary page's rule" in v["spread_from"]


def test_twin_verdict_with_the_pooled_spread_takes_its_t_quantile():
    from ffcnn_lib.stats import Spread
    fp32 = _curve(np.full(200, 98.0))
    v = investigation.twin_verdict(fp32, _curve(np.full(200, 98.15)), Spread(0.05, 6))
    # t(0.975, 6) = 2.447: 2.447 x sqrt(2) x 0.05 = 0.173 pp, so 0.15 pp matches and 0.2 does not
    assert v["tolerance_pp"] == pytest.approx(2.4469 * math.sqrt(2) * 0.05, abs=1e-4) and v["verdict"] == "matches"
    assert investigation.twin_verdict(fp32, _curve(np.full(200, 98.2)), Spread(0.05, 6))["verdict"] == "differs"
    assert "pooled over the paper-settings cells" in investigation.twin_text(v)
