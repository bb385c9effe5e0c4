"""The paper's claims, checked with statistics, on constructed result tables: each check confirms
what the paper says, fails on data without the effect, and says "contradicted" only when the
evidence is clear; fewer than 3 seeds per arm or the short profile make a verdict indicative."""
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from ffcnn_lib import claims

KEYS = dict(K=0.35, label_set="set1", max_pool=False, include_first_layer=False)
NOISE = (-0.0003, 0.0, 0.0003)  # three seeds, standard deviation 0.03 pp


def _runs(cells, profile="paper", seeds=3, artifact="x"):
    """One row per seed of each cell; a cell is (columns, {metric: accuracy}); seed i adds NOISE[i]."""
    rows = []
    for cell, (cols, accs) in enumerate(cells):
        for i in range(seeds):
            rows.append({**KEYS, "model": "ff", "filters": "128-128-128", "batch_size": 50, "kernel": 7, **cols,
                         "cell": cell, "seed": i, "run_id": f"run-{cell}-{i}", "n_train": 50_000,
                         **{m: a + NOISE[i % 3] for m, a in accs.items()}})
    return pd.DataFrame(rows).assign(artifact=artifact, profile=profile)


def _claims(results, **kw):
    """Verdicts with no seed spread pooled from elsewhere (``pool={}``) unless a test passes one."""
    return claims.check_claims(results, None, **{"pool": {}, **kw}).set_index("claim")


def _verdict(results, text, **kw):
    return _claims(results, **kw).loc[text, "verdict"]


def _claim(artifact, start):
    return next(c.text for c in claims.CLAIMS if c.artifact == artifact and c.text.startswith(start))


# --- Fig. 3A, and the seed and profile rules every claim follows ---------------------------------

def _fig3a(ff, bp, **kw):
    cells = [({"filters": f"{f}-{f}-{f}"}, {"val_acc_goodness": a}) for f, a in zip((16, 32, 64, 128), ff)]
    cells += [({"model": "bp", "filters": f"{f}-{f}-{f}"}, {"val_acc_bp": a}) for f, a in zip((16, 32, 64, 128), bp)]
    return {"fig3a": _runs(cells, artifact="fig3a", **kw)}


FF_UP, BP_DOWN = (0.975, 0.983, 0.988, 0.992), (0.9915, 0.9905, 0.9895, 0.9885)
FIG3A_FF = _claim("fig3a", "FF accuracy rises")
FIG3A_BP = _claim("fig3a", "BP accuracy falls")


def test_claims_follow_the_data():
    yes = _claims(_fig3a(FF_UP, BP_DOWN))
    assert yes.loc[FIG3A_FF, "verdict"] == "confirmed" and yes.loc[FIG3A_BP, "verdict"] == "confirmed"
    assert yes.loc[FIG3A_FF, "seeds"] == 3 and yes.loc[FIG3A_FF, "profile"] == "paper"
    assert yes.loc["Max pooling lowers accuracy (Table 3)", "verdict"] == "not yet run"
    # a clear dip (0.5 pp at 32 filters) contradicts a monotone rise; BP rising clearly contradicts its fall
    no = _claims(_fig3a((0.975, 0.970, 0.988, 0.992), tuple(reversed(BP_DOWN))))
    assert no.loc[FIG3A_FF, "verdict"] == "contradicted" and no.loc[FIG3A_BP, "verdict"] == "contradicted"
    # a dip within the noise between ends clearly apart: confirmed, saying which steps are clear on their own
    dip = _claims(_fig3a((0.975, 0.9749, 0.988, 0.992), (0.99,) * 4))
    assert dip.loc[FIG3A_FF, "verdict"] == "confirmed"
    assert "ends differ clearly; 2 of 3 steps clear" in dip.loc[FIG3A_FF, "evidence"]
    # no trend at all: neither confirmed nor contradicted
    assert dip.loc[FIG3A_BP, "verdict"] == "inconclusive" and "0 of 3 steps clear" in dip.loc[FIG3A_BP, "evidence"]


def test_fewer_than_three_seeds_or_the_short_profile_are_indicative():
    assert _verdict(_fig3a(FF_UP, BP_DOWN, seeds=1), FIG3A_FF) == "confirmed (1 seed per arm, indicative)"
    assert _verdict(_fig3a(FF_UP, BP_DOWN, seeds=2), FIG3A_FF) == "confirmed (2 seeds per arm, indicative)"
    assert _verdict(_fig3a(FF_UP, BP_DOWN, profile="short"), FIG3A_FF) == "confirmed (short profile, indicative)"
    # one cell short of seeds makes the whole claim indicative
    df = _fig3a(FF_UP, BP_DOWN)["fig3a"]
    assert _verdict({"fig3a": df[~((df.cell == 0) & (df.seed > 0))]}, FIG3A_FF) == \
        "confirmed (1 seed per arm, indicative)"


def test_narrow_profiles_give_no_verdict_and_no_numbers_unless_asked():
    smoke = _fig3a(FF_UP, BP_DOWN, profile="smoke")
    row = _claims(smoke).loc[FIG3A_FF]
    assert row["verdict"] == "no evidence yet" and "%" not in row["evidence"]
    assert _verdict(smoke, FIG3A_FF, show_narrow=True) == "not tested (smoke profile; would read: confirmed)"


def test_arms_share_the_pooled_spread_or_the_summary_pool_with_more_dof_else_the_binomial_bound():
    cells = [({"filters": "16-16-16"}, {"val_acc_goodness": 0.98}),
             ({"filters": "32-32-32"}, {"val_acc_goodness": 0.99})]
    df = _runs(cells, seeds=1)
    est = claims.arms(df, "cell", "val_acc_goodness", claims._binomial("val_acc_goodness", 10_000))
    p = 0.98 + NOISE[0]
    assert est[0].se == pytest.approx(np.sqrt(p * (1 - p) / 10_000)) and est[0].dof == np.inf  # known exactly
    # no arm with two seeds: the pooled spread of the paper-settings cells, with its degrees of freedom
    spread = claims.Spread(0.0005, 6)
    est = claims.arms(df, "cell", "val_acc_goodness", claims._binomial("val_acc_goodness", 10_000), spread)
    assert est[0].se == pytest.approx(0.0005) and est[0].dof == 6
    # an arm with three seeds: every arm takes its variance (2 dof), the single-seed ones as well,
    # unless the pooled spread has more degrees of freedom (it pools these seeds with other cells')
    both = pd.concat([df, _runs(cells, seeds=3).query("cell == 1").assign(cell=2)])
    est = claims.arms(both, "cell", "val_acc_goodness", spread=claims.Spread(0.0005, 2))
    assert est[0].se == pytest.approx(0.0003) and est[2].se == pytest.approx(0.0003 / np.sqrt(3))
    assert est[0].dof == est[2].dof == 2
    est = claims.arms(both, "cell", "val_acc_goodness", spread=spread)
    assert est[0].se == pytest.approx(0.0005) and est[2].se == pytest.approx(0.0005 / np.sqrt(3))
    assert est[0].dof == est[2].dof == 6
    # no spread anywhere and no fallback: no noise estimate, so nothing is ever clear
    bare = claims.arms(df, "cell", "val_acc_goodness")
    assert np.isnan(bare[0].se) and not (bare[1] - bare[0]).clearly_above(0)


# --- Fig. 4A: the batch trend over the whole grid -------------------------------------------------

def _fig4a(by_kernel):
    cells = [({"filters": "64-64-64", "kernel": k, "batch_size": b}, {"val_acc_linear": a})
             for k, accs in by_kernel.items() for b, a in zip((10, 25, 50, 100), accs)]
    return {"fig4a": _runs(cells, artifact="fig4a")}


FIG4A = _claim("fig4a", "Smaller batches")


def test_fig4a_needs_the_trend_over_every_batch_size():
    falling = (0.988, 0.987, 0.986, 0.985)
    assert _verdict(_fig4a({3: (0.98,) * 4, 5: falling, 7: falling}), FIG4A) == "confirmed"  # 3x3 is not claimed
    # the two ends agree with the paper but batch 50 beats 25 clearly: not monotone
    zigzag = (0.988, 0.985, 0.987, 0.984)
    assert _verdict(_fig4a({3: (0.98,) * 4, 5: falling, 7: zigzag}), FIG4A) == "contradicted"
    # a flat middle: the ends differ clearly and no step goes clearly the other way
    flat = _claims(_fig4a({3: (0.98,) * 4, 5: falling, 7: (0.988, 0.986, 0.986, 0.985)})).loc[FIG4A]
    assert flat["verdict"] == "confirmed" and "7x7 by batch" in flat["evidence"]
    # ends within the noise: inconclusive, however every step leans
    assert _verdict(_fig4a({3: (0.98,) * 4, 5: falling, 7: (0.9862, 0.9861, 0.9860, 0.9859)}), FIG4A) == "inconclusive"
    assert _verdict(_fig4a({5: (0.986,) * 4, 7: (0.986,) * 4}), FIG4A) == "inconclusive"  # no batch effect


# --- Fig. 4B: kernel ordering per width, width trend per kernel -----------------------------------

def _fig4b(acc):
    cells = [({"filters": f"{f}-{f}-{f}", "kernel": k}, {"val_acc_linear": acc(f, k)})
             for k in (3, 5, 7) for f in (16, 32, 64, 128)]
    return {"fig4b": _runs(cells, artifact="fig4b")}


FIG4B_KERNEL, FIG4B_WIDTH = _claim("fig4b", "Accuracy falls"), _claim("fig4b", "Accuracy rises")
WIDTH = {16: 0.980, 32: 0.983, 64: 0.985, 128: 0.987}


def test_fig4b_kernel_order_holds_at_every_width_not_on_the_mean():
    good = _claims(_fig4b(lambda f, k: WIDTH[f] + {3: 0, 5: 0.002, 7: 0.004}[k]))
    assert good.loc[FIG4B_KERNEL, "verdict"] == "confirmed" and good.loc[FIG4B_WIDTH, "verdict"] == "confirmed"
    # at 16 filters 3x3 beats 5x5 clearly, although the mean over widths still rises 3 < 5 < 7
    reversed16 = {3: 0.002, 5: 0, 7: 0.004}
    bad = _fig4b(lambda f, k: WIDTH[f] + (reversed16 if f == 16 else {3: 0, 5: 0.002, 7: 0.004})[k])
    mean = bad["fig4b"].groupby("kernel")["val_acc_linear"].mean()
    assert mean[3] < mean[5] < mean[7]
    assert _verdict(bad, FIG4B_KERNEL) == "contradicted"
    assert _verdict(_fig4b(lambda f, k: WIDTH[f]), FIG4B_KERNEL) == "inconclusive"  # no kernel effect


# --- Fig. 5: the optimal K per width, and the gain over K = 0.35 ----------------------------------

GRID = (0.1, 0.2, 0.35, 0.5, 0.65, 0.8)
FIG5_BEST, FIG5_GAIN = _claim("fig5", "The optimal K"), _claim("fig5", "Optimizing K")


def _fig5(acc):
    cells = [({"filters": f"{f}-{f}-{f}", "batch_size": b, "K": K}, {"val_acc_linear": acc(f, b, K)})
             for f in (32, 64, 128) for b in (25, 50) for K in GRID]
    return {"fig5": _runs(cells, artifact="fig5")}


def _peaked(best, gain=0.002):
    """An optimum at ``best[width]``, ``gain`` above every K at least 0.15 away."""
    return lambda f, b, K: 0.99 - gain * min(1.0, abs(K - best[f]) / 0.15)


def test_fig5_confirms_the_paper_optima_and_gain():
    table = _claims(_fig5(_peaked(claims.PAPER_BEST_K)))
    assert table.loc[FIG5_BEST, "verdict"] == "confirmed"
    assert table.loc[FIG5_GAIN, "verdict"] == "confirmed"
    assert "largest +0.20 ± 0.02 pp" in table.loc[FIG5_GAIN, "evidence"]


def test_fig5_fails_without_an_effect_of_k():
    flat = _claims(_fig5(lambda f, b, K: 0.99))
    assert flat.loc[FIG5_BEST, "verdict"] == "inconclusive"  # K* is as good as any, but K does not matter
    assert flat.loc[FIG5_GAIN, "verdict"] == "contradicted"  # a gain of 0 ± 0.02 pp is clearly not 0.2 pp
    # widths that differ, but optima elsewhere: the paper's K* is clearly beaten
    wrong = _claims(_fig5(_peaked({32: 0.65, 64: 0.2, 128: 0.35})))
    assert wrong.loc[FIG5_BEST, "verdict"] == "contradicted"
    # the best K moves with the batch size: contradicted as well
    by_batch = _claims(_fig5(lambda f, b, K: _peaked(claims.PAPER_BEST_K)(f, b, K) if b == 25
                             else _peaked({32: 0.8, 64: 0.65, 128: 0.35})(f, b, K)))
    assert by_batch.loc[FIG5_BEST, "verdict"] == "contradicted"
    # a gain of 1 pp is not "up to 0.2 %"
    assert _verdict(_fig5(_peaked(claims.PAPER_BEST_K, gain=0.01)), FIG5_GAIN) == "contradicted"


# --- Tables 1, 2, 3 -------------------------------------------------------------------------------

def test_table1_goodness_beats_linear_in_every_configuration():
    def table1(gain):
        cells = [({"filters": "128-128-128", "kernel": k, "batch_size": b},
                  {"val_acc_linear": a, "val_acc_goodness": a + g})
                 for (k, b, a), g in zip(((7, 50, 0.9914), (5, 50, 0.9893), (3, 25, 0.9863)), gain)]
        return {"table1": _runs(cells, artifact="table1")}
    text = "Goodness inference beats the linear classifier (Table 1)"
    assert _verdict(table1((0.0006, 0.0011, 0.0011)), text) == "confirmed"  # the paper's margins, paired seeds
    assert _verdict(table1((0.0006, 0.0011, -0.0011)), text) == "contradicted"
    assert _verdict(table1((0.0006, 0.0011, 0.0)), text) == "inconclusive"


def test_table2_judges_label_sets_on_their_mean_difference():
    def table2(diffs):
        cells = []
        for (f, k, b), d in zip(((32, 3, 50), (32, 7, 25), (64, 3, 50), (128, 3, 50)), diffs):
            cells += [({"filters": f"{f}-{f}-{f}", "kernel": k, "batch_size": b, "label_set": s},
                       {"val_acc_linear": 0.985 + (d if s == "set1" else 0)}) for s in ("set1", "set2")]
        return {"table2": _runs(cells, artifact="table2")}
    text = "Label set 1 is at least as good as set 2 (Table 2)"
    assert _verdict(table2((-0.0002, 0.0019, 0.0008, 0.0005)), text) == "confirmed"  # the paper's: 3 of 4
    assert _verdict(table2((0.0, 0.0, 0.0, 0.0)), text) == "inconclusive"
    assert _verdict(table2((-0.002, 0.0019, 0.0008, 0.0005)), text) == "contradicted"


def test_table3_pooling_lowers_accuracy():
    def table3(diffs):
        cells = []
        for (f, k), d in zip((("128-128-128", 7), ("16-16-16", 5), ("64-64-64", 3)), diffs):
            cells += [({"filters": f, "kernel": k, "max_pool": p}, {"val_acc_linear": 0.985 - (d if p else 0)})
                      for p in (False, True)]
        return {"table3": _runs(cells, artifact="table3")}
    text = "Max pooling lowers accuracy (Table 3)"
    assert _verdict(table3((0.0017, 0.0059, 0.0012)), text) == "confirmed"
    assert _verdict(table3((0.0017, 0.0059, -0.0012)), text) == "contradicted"
    table = _claims(table3((0.0, 0.0, 0.0)))
    assert table.loc[text, "verdict"] == "inconclusive"
    assert table.loc[text, "evidence"].startswith("pooling lowers accuracy in 0 of 3 configurations")


# --- The best network: against BP, goodness on the test set, confusion -------------------------------

FF_BP = _claim("headline", "The best FF network is comparable")
TEST_GOODNESS = _claim("headline", "Goodness beats the linear classifier on the test set")
CONFUSION = _claim("headline", "Digits 4 and 9")


def _headline(val_goodness=0.9920, test_goodness=0.9916, test_linear=0.9900, **kw):
    return _runs([({"filters": "128-128-128"}, {"val_acc_goodness": val_goodness, "val_acc_linear": 0.9914,
                                                "test_acc_goodness": test_goodness, "test_acc_linear": test_linear})],
                 artifact="headline", **kw)


def _bp(val, **kw):
    return _runs([({"model": "bp", "filters": "16-16-16", "kernel": 5}, {"val_acc_bp": val})], artifact="bp", **kw)


def test_ff_and_bp_are_comparable_within_the_noise_tolerance():
    ok = _claims({"headline": _headline(), "bp": _bp(0.9913)}).loc[FF_BP]
    # 3 seeds each, 0.03 pp spread: se 0.02 pp, t(2 dof) = 4.30
    assert ok["verdict"] == "confirmed" and "+0.07 ± 0.02 pp, interval ±0.11 pp" in ok["evidence"]
    assert _verdict({"headline": _headline(), "bp": _bp(0.9850)}, FF_BP) == "contradicted"
    assert _verdict({"headline": _headline()}, FF_BP) == "not yet run"  # one of the two artifacts missing
    assert _verdict({"headline": _headline(), "bp": _bp(0.9913, seeds=1)}, FF_BP) == \
        "confirmed (1 seed per arm, indicative)"
    # the arms' profiles differ and the rows carry no cell numbers to load a common one by: not compared
    mixed = {"headline": _headline().drop(columns="cell"), "bp": _bp(0.9913, profile="short").drop(columns="cell")}
    assert _verdict(mixed, FF_BP) == "not tested (mixed profiles)"


def test_goodness_beats_linear_on_the_test_set_paired_over_seeds():
    assert _verdict({"headline": _headline()}, TEST_GOODNESS) == "confirmed"
    assert _verdict({"headline": _headline(test_goodness=0.9884)}, TEST_GOODNESS) == "contradicted"
    assert _verdict({"headline": _headline(test_goodness=0.9900)}, TEST_GOODNESS) == "inconclusive"
    # one seed: no paired spread, and the binomial noise of 10,000 test images (0.14 pp) hides 0.16 pp
    assert _verdict({"headline": _headline(seeds=1)}, TEST_GOODNESS) == "inconclusive (1 seed per arm, indicative)"
    assert _verdict({"headline": _headline(test_goodness=0.9950, seeds=1)}, TEST_GOODNESS) == \
        "confirmed (1 seed per arm, indicative)"


def test_confusion_reads_every_run_of_the_best_network():
    def cm(acc):
        m = np.zeros((10, 10), dtype=int)
        for i, a in enumerate(acc):
            m[i, i] = round(1000 * a)
            m[i, (i + 1) % 10] = 1000 - m[i, i]
        return m.tolist()
    paper = [0.992, 0.996, 0.990, 0.995, 0.985, 0.990, 0.991, 0.994, 0.990, 0.986]
    loader = lambda acc: lambda run_id: SimpleNamespace(summary={"final": {"test_confusion_goodness": cm(acc)}})
    df = {"headline": _headline()}
    assert claims.check_claims(df, None, run_loader=loader(paper), pool={}).set_index("claim").loc[
        CONFUSION, "verdict"] == "confirmed"
    swapped = paper.copy()
    swapped[4], swapped[1] = 0.999, 0.975  # 4 clearly the best, 1 clearly the worst (1,000 images each)
    assert claims.check_claims(df, None, run_loader=loader(swapped), pool={}).set_index("claim").loc[
        CONFUSION, "verdict"] == "contradicted"


# --- Fig. 9: slower convergence and about 2 % lower, on the discrimination accuracy ----------------

FIG9_SPEED = _claim("fig9", "Adding layer 1 to the loss slows")
FIG9_COST = _claim("fig9", "Adding layer 1 to the loss costs")


def _fig9(final_with=0.96, tau_with=30.0, final_without=0.98, tau_without=5.0, seeds=3):
    cells = [({"include_first_layer": inc}, {"disc_acc_layer2": f, "disc_acc_layer3": f, "val_acc_linear": f})
             for inc, f in ((False, final_without), (True, final_with))]
    df = _runs(cells, seeds=seeds, artifact="fig9")
    taus = {False: tau_without, True: tau_with}
    epochs = np.arange(1, 201)

    def curves(run_id):
        r = df.set_index("run_id").loc[run_id]
        tau = taus[bool(r["include_first_layer"])] * (1 + 0.05 * r["seed"])  # seeds differ a little
        m = {"epoch": epochs, "disc_acc_layer1": 0.5 + 0 * epochs}
        for c in ("disc_acc_layer2", "disc_acc_layer3"):
            m[c] = 0.5 + (r[c] - 0.5) * (1 - np.exp(-epochs / tau))
        return SimpleNamespace(metrics=pd.DataFrame(m))
    return {"fig9": df}, curves


def test_fig9_checks_convergence_speed_and_the_drop_on_the_figures_quantity():
    results, curves = _fig9()
    table = claims.check_claims(results, None, run_loader=curves, pool={}).set_index("claim")
    assert table.loc[FIG9_SPEED, "verdict"] == "confirmed" and table.loc[FIG9_COST, "verdict"] == "confirmed"
    assert "falls by +2.00" in table.loc[FIG9_COST, "evidence"]
    # the same curves with and without layer 1: neither claim holds
    results, curves = _fig9(final_with=0.98, tau_with=5.0)
    table = claims.check_claims(results, None, run_loader=curves, pool={}).set_index("claim")
    assert table.loc[FIG9_SPEED, "verdict"] == "inconclusive"
    assert table.loc[FIG9_COST, "verdict"] == "contradicted"  # 0 pp, clearly not about 2
    # faster with layer 1, and a 6 pp drop: contradicted both
    results, curves = _fig9(final_with=0.92, tau_with=2.0)
    table = claims.check_claims(results, None, run_loader=curves, pool={}).set_index("claim")
    assert table.loc[FIG9_SPEED, "verdict"] == "contradicted" and table.loc[FIG9_COST, "verdict"] == "contradicted"


def test_epochs_to_plateau():
    e = pd.Series([1, 2, 3, 4])
    assert claims.epochs_to_plateau(e, pd.Series([0.6, 0.8, 0.95, 0.96])) == 3  # 95 % of the way from 0.5 to 0.96
    assert claims.epochs_to_plateau(e, pd.Series([0.96, 0.5, 0.9, 0.96])) == 1


# --- Partial verdicts: judged on the cells that have paper-profile runs (issue #31) ---------------

def _fig3a_partial(ff_paper):
    """Fig. 3A with FF at 16 and 32 filters at the paper's settings (one seed each, accuracies
    ``ff_paper``) and every other cell a pipeline check (smoke)."""
    paper = _runs([({"filters": f"{f}-{f}-{f}"}, {"val_acc_goodness": a}) for f, a in zip((16, 32), ff_paper)],
                  seeds=1, artifact="fig3a")
    smoke = _runs([({"filters": f"{f}-{f}-{f}"}, {"val_acc_goodness": 0.5}) for f in (64, 128)]
                  + [({"model": "bp", "filters": f"{f}-{f}-{f}"}, {"val_acc_bp": 0.5}) for f in (16, 32, 64, 128)],
                  profile="smoke", seeds=1, artifact="fig3a")
    smoke = smoke.assign(cell=smoke["cell"] + 2, run_id="smoke-" + smoke["run_id"])
    return {"fig3a": pd.concat([paper, smoke], ignore_index=True)}


POOL = {"goodness": claims.Spread(0.06, 6), "classifier": claims.Spread(0.06, 6)}  # pp, as report.seed_pool


def test_a_partial_confirmation_names_its_cells_and_the_missing_ones():
    row = _claims(_fig3a_partial((0.975, 0.983)), pool=POOL).loc[FIG3A_FF]
    assert row["verdict"] == "confirmed on 2 of 4 cells (1 seed per cell: indicative)"
    assert row["tested_on"] == "16 filters, 32 filters" and row["profile"] == "paper"
    assert sorted(row["missing"]) == [("fig3a", 2), ("fig3a", 3)]
    assert "ν = 6" in row["evidence"]  # one seed per cell: the summary's pooled spread, its 6 dof
    # the BP claim has no paper cell at all: no verdict of the pipeline checks' reaches the table
    assert _claims(_fig3a_partial((0.975, 0.983)), pool=POOL).loc[FIG3A_BP, "verdict"] == "no evidence yet"


def test_a_partial_contradiction():
    assert _verdict(_fig3a_partial((0.983, 0.975)), FIG3A_FF, pool=POOL) == \
        "contradicted on 2 of 4 cells (1 seed per cell: indicative)"
    # without any seed spread, one seed per cell: the binomial bound (0.2 pp per run) leaves 0.1 pp open
    assert _verdict(_fig3a_partial((0.980, 0.981)), FIG3A_FF) == "inconclusive on 2 of 4 cells (1 seed per cell: indicative)"


def test_a_partial_trend_judges_the_series_with_two_points_and_skips_a_lone_cell():
    """Fig. 4B with 16x3x3, 16x5x5 and 32x3x3 at the paper's settings: the kernel trend is judged at
    16 filters (32 has one kernel so far), the width trend at 3x3; before the fix, the lone 32x3x3
    cell turned both into "no evidence yet"."""
    cells = [((16, 3), 0.9797), ((16, 5), 0.9840), ((32, 3), 0.9840)]
    paper = _runs([({"filters": f"{f}-{f}-{f}", "kernel": k}, {"val_acc_linear": a}) for (f, k), a in cells],
                  seeds=1, artifact="fig4b")
    smoke = _runs([({"filters": "64-64-64", "kernel": 7}, {"val_acc_linear": 0.5})], profile="smoke", seeds=1,
                  artifact="fig4b")
    smoke = smoke.assign(cell=smoke["cell"] + 3, run_id="smoke-" + smoke["run_id"])
    table = _claims({"fig4b": pd.concat([paper, smoke], ignore_index=True)}, pool=POOL)
    kernel, width = table.loc[FIG4B_KERNEL], table.loc[FIG4B_WIDTH]
    # each verdict counts and names only the cells it compared: 32x3x3 has no kernel partner yet,
    # 16x5x5 no width partner
    assert kernel["verdict"] == "confirmed on 2 of 4 cells (1 seed per cell: indicative)"
    assert kernel["tested_on"] == "16 filters 3x3, 16 filters 5x5"
    assert "16 filters by kernel" in kernel["evidence"] and "32 filters by kernel" not in kernel["evidence"]
    assert width["verdict"].startswith("confirmed on 2 of 4 cells") and "3x3 by filters" in width["evidence"]
    assert width["tested_on"] == "16 filters 3x3, 32 filters 3x3"


def test_a_partial_reading_at_the_short_profile_is_indicative_and_says_so():
    # issue #31 f: two FF cells read at the short profile (20 epochs), none at the paper's settings
    results = _fig3a_partial((0.975, 0.983))
    df = results["fig3a"]
    short = {"fig3a": df.assign(profile=df["profile"].where(df["profile"] != "paper", "short"))}
    row = _claims(short, pool=POOL).loc[FIG3A_FF]
    assert row["verdict"] == "confirmed on 2 of 4 cells (short profile, 20 epochs, 1 seed per cell: indicative)"
    assert row["profile"] == "short" and row["tested_on"] == "16 filters, 32 filters"
    # two cells at the paper's settings speak before two others at the short profile
    mixed = {"fig3a": df.assign(profile=df["profile"].where(~df["cell"].isin([2, 3]), "short"))}
    row = _claims(mixed, pool=POOL).loc[FIG3A_FF]
    assert row["profile"] == "paper" and row["tested_on"] == "16 filters, 32 filters"
    assert row["verdict"] == "confirmed on 2 of 4 cells (1 seed per cell: indicative)"


def test_a_short_profile_reading_weighs_the_spread_of_runs_stopped_at_20_epochs():
    df = _fig3a_partial((0.975, 0.983))["fig3a"]
    short = {"fig3a": df.assign(profile=df["profile"].where(df["profile"] != "paper", "short"))}
    # goodness at 16 filters scatters by points from seed to seed after 20 epochs: 0.8 pp settles nothing
    wide = {**POOL, ("short", "goodness"): claims.Spread(5.6, 4)}
    assert _verdict(short, FIG3A_FF, pool=wide) == \
        "inconclusive on 2 of 4 cells (short profile, 20 epochs, 1 seed per cell: indicative)"
    # the same numbers at the paper's settings keep the paper-settings spread
    assert _verdict(_fig3a_partial((0.975, 0.983)), FIG3A_FF, pool=wide) == \
        "confirmed on 2 of 4 cells (1 seed per cell: indicative)"


def test_a_claim_with_one_paper_cell_is_not_tested_yet():
    df = _fig3a_partial((0.975, 0.983))["fig3a"]
    one = df[~((df.cell == 1) & (df.profile == "paper"))]
    smoke32 = _runs([({"filters": "32-32-32"}, {"val_acc_goodness": 0.5})], profile="smoke", seeds=1,
                    artifact="fig3a").assign(cell=1, run_id="smoke-32")
    table = _claims({"fig3a": pd.concat([one, smoke32], ignore_index=True)}, pool=POOL)
    row = table.loc[FIG3A_FF]
    assert row["verdict"] == "no evidence yet" and not isinstance(row.get("missing"), list)
    # ... but its evidence names the finished cell, which "only smoke-profile runs" used to hide
    assert row["evidence"].startswith("at the paper's settings so far: 16 filters (1 of 4 cells;")
    assert table.loc[FIG3A_BP, "evidence"].startswith("only smoke-profile runs")  # no BP cell at all


def test_a_chapter_with_one_finished_cell_and_no_verdict_says_so_in_its_findings(results_root):
    """Fig. 3A with FF 16x7x7 finished and every other cell a pipeline check: the chapter's box
    names the cell and why it has no verdict, instead of "Nothing yet"."""
    from ffcnn_lib import pages

    df = _fig3a_partial((0.9829, 0.983))["fig3a"]  # seed 0 adds NOISE[0]
    df = df[~((df.cell == 1) & (df.profile == "paper"))]
    found = pages.findings("fig3a", df.assign(train_seconds=3600.0, device="cpu"), "auto")
    assert found == ["Finished at the paper's settings, without a verdict yet: FF 16-16-16 7x7 (98.26 % "
                     "validation, goodness; 1 seed). The paper reports no number for it and no claim of this "
                     "chapter has two such cells yet."]
    assert pages.findings("fig3a", df[df.profile != "paper"], "auto") == []


def test_a_lone_cell_of_one_artifact_in_a_chapter_of_several_is_unjudged_only_there(results_root):
    """Fig. 4A and 4B share a chapter and the cell FF 64x3x3 batch 50: alone in Fig. 4A, it enters
    Fig. 4B's width claim. Its box must not say that no claim of the chapter judges it."""
    from ffcnn_lib import pages

    df = _fig3a_partial((0.9829, 0.983))["fig3a"]
    df = df[~((df.cell == 1) & (df.profile == "paper"))]
    found = pages.findings("fig3a", df.assign(train_seconds=3600.0, device="cpu"), "auto", title="Fig. 3A")
    assert found == ["Fig. 3A: finished at the paper's settings, without a verdict from Fig. 3A yet: FF 16-16-16 "
                     "7x7 (98.26 % validation, goodness; 1 seed). Fig. 3A gives no number for it, and no claim of "
                     "Fig. 3A has two such cells yet."]
    assert "this chapter" not in found[0]


def test_a_claim_whose_cells_have_no_runs_in_its_artifacts_runs_is_not_yet_run():
    """Fig. 3A's evidence with one finished FF cell and no BP cell, as the campaign's ranking reads it
    (paper runs only): the BP claim is "not yet run"; it raised IndexError when FF 16x7x7 finished."""
    ff = _runs([({"filters": "16-16-16"}, {"val_acc_linear": 0.98, "val_acc_goodness": 0.7})], seeds=1,
               artifact="fig3a")
    table = _claims({"fig3a": ff})
    assert table.loc[FIG3A_BP, "verdict"] == "not yet run"


def test_a_trend_at_every_width_says_which_series_held_and_which_held_it_back():
    """Fig. 4B's width claim with 3x3 and 7x7 rising clearly and 5x5 not (the campaign's cells at 16
    and 32 filters, 2026-12-06): the claim is inconclusive, and the chapter's box says which series
    held, which the verdict alone hides."""
    from ffcnn_lib import pages

    cells = [((16, 3), 0.9797), ((32, 3), 0.9830), ((16, 5), 0.9820), ((32, 5), 0.9822), ((16, 7), 0.9826),
             ((32, 7), 0.9867)]
    paper = _runs([({"filters": f"{f}-{f}-{f}", "kernel": k}, {"val_acc_linear": a}) for (f, k), a in cells],
                  seeds=1, artifact="fig4b")
    smoke = _runs([({"filters": "64-64-64", "kernel": 7}, {"val_acc_linear": 0.5})], profile="smoke", seeds=1,
                  artifact="fig4b")
    smoke = smoke.assign(cell=smoke["cell"] + len(cells), run_id="smoke-" + smoke["run_id"])
    row = _claims({"fig4b": pd.concat([paper, smoke], ignore_index=True)}, pool=POOL).loc[FIG4B_WIDTH]
    assert row["verdict"].startswith("inconclusive on 6 of 7 cells")
    assert claims.series_outcomes(row["evidence"]) == {"3x3": "confirmed", "5x5": "inconclusive", "7x7": "confirmed"}
    # the campaign reads a cell's own series by the claim's ``series`` (value._series_open): the same names
    width = next(c for c in claims.CLAIMS if c.text == FIG4B_WIDTH)
    assert {width.series({"filters": f"{f}-{f}-{f}", "kernel": k}) for (f, k), _ in cells} == {"3x3", "5x5", "7x7"}
    by_kernel = _claims({"fig4b": paper}, pool=POOL).loc[FIG4B_KERNEL, "evidence"]
    kernel = next(c for c in claims.CLAIMS if c.text == FIG4B_KERNEL)
    assert set(claims.series_outcomes(by_kernel)) == {kernel.series({"filters": f"{f}-{f}-{f}"}) for f in (16, 32)} \
        == {"16 filters", "32 filters"}
    assert pages._by_series(claims.series_outcomes(row["evidence"])) == \
        " Series by series: confirmed at 3x3 and 7x7, inconclusive at 5x5."
    # one series, or series that agree: the verdict says it all
    assert pages._by_series({"3x3": "confirmed", "7x7": "confirmed"}) == ""
    assert claims.series_outcomes("goodness val. acc. by filters: 16 85.88 %, 32 96.12 % (16 to 32: +10.24 ± "
                                  "4.99 pp; 0 of 1 step clear; inconclusive) [2 comparisons, ν = 4, t = 3.50]") == \
        {"goodness val. acc.": "inconclusive"}
