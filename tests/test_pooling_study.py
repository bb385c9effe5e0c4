"""Issue #26: the max-pooling study at 16x5x5 (investigation.py): which runs it reads, its 2x2x2
table, and the decision rule fixed on 2026-12-04 before its runs finished."""
import math
import re

import pandas as pd
import pytest

from ffcnn_lib import campaign, investigation as inv

# Stored before the study, under the superseded defaults (Loewe's init, the neutral classifier input):
RETIRED = {"ff-16-16-16-k5-loewe-set1-K0.35-b50-e200-s0-d84973c151",
           "ff-16-16-16-k5-pool-loewe-set1-K0.35-b50-e200-s0-582228e2e5"}


def test_every_run_of_the_study_is_a_stored_run_or_a_campaign_cell_and_the_new_ones_go_early():
    cells = {c.config(): c for c in campaign.CELLS}
    new = []
    for name, choices in inv.POOL_CONFIGURATIONS.items():
        for pool in (False, True):
            config = inv.pool_config(choices, pool)
            assert (config.epochs, config.n_train, config.seed, config.filters, config.kernel) == \
                (200, 50_000, 0, (16, 16, 16), 5)
            assert config.max_pool == pool and config.init == choices["init"]
            if config.run_id() not in RETIRED:
                assert config in cells, f"{name}, max_pool={pool}: no campaign cell trains it"
                if "issue 26" in cells[config].name:
                    new.append(cells[config])
    # the factorial's three missing cells and the three readings, scheduled early, each saying why
    assert len({c.name for c in new}) == 6
    assert all(c.priority == 1 and c.reason.startswith("issue #26") for c in new)
    pooled = inv.pool_config(inv.POOL_CONFIGURATIONS["fan-in, image; both on the pooled maps"], True)
    assert (pooled.goodness_maps, pooled.classifier_maps) == ("pooled", "pooled")
    # a reading changes nothing without pooling: the three readings share the decided defaults' unpooled run
    assert {inv.pool_config(inv.POOL_CONFIGURATIONS[n], False) for n in inv.READING_CANDIDATES} == \
        {inv.pool_config(inv.POOL_DEFAULTS, False)}
    assert [inv.departures(n) for n in inv.POOL_CONFIGURATIONS] == [2, 1, 1, 0, 1, 1, 2]


def _reading(without, with_, tol=0.2):
    """A pair reading as pair_reading gives it, built by hand (reported: Table 3's 98.16 / 97.57 %)."""
    out = {}
    for pool, ours, rep in ((False, without, 98.16), (True, with_, 97.57)):
        out[pool] = {"ours": ours, "reported": rep, "diff": ours - rep, "tolerance": tol,
                     "ratio": abs(ours - rep) / tol, "verdict": "", "seeds": 1}
    out["effect"] = with_ - without
    out["lowers"] = with_ < without
    out["distance"] = max(out[False]["ratio"], out[True]["ratio"])
    out["matches"] = out["distance"] <= 1 and out["lowers"]
    return out


def _names(values):
    return dict(zip(inv.POOL_CONFIGURATIONS, values))


def test_the_decision_waits_for_every_pair_then_takes_the_closest():
    readings = _names([_reading(97.64, 97.30), None, *[_reading(98.2, 98.4)] * 5])
    assert inv.pooling_decision(readings) == {"winner": None, "waiting": ["Loewe, image"]}
    # Loewe/image is 0.04 and 0.03 pp off (distance 0.2): alone within 0.5 of the best
    readings["Loewe, image"] = _reading(98.12, 97.60)
    d = inv.pooling_decision(readings)
    assert d["winner"] == "Loewe, image" and d["tied"] == ["Loewe, image"] and d["matches"]


def test_ties_go_to_a_match_then_the_papers_sign_then_fewest_departures_then_distance():
    far = _reading(99.5, 99.5)  # distance 9.7: never tied
    # two within 0.5 of each other: one matches (distance 0.8), one does not (1.2: 0.24 pp off with pooling)
    readings = _names([far, _reading(98.0, 97.55), far, _reading(98.16, 97.81), far, far, far])
    d = inv.pooling_decision(readings)
    assert d["winner"] == "Loewe, image" and "matching the pair" in d["reason"]
    # neither matches (both 0.3 pp off): the one in which pooling lowers accuracy wins
    readings = _names([far, far, _reading(97.86, 97.27), _reading(97.86, 97.87), far, far, far])
    assert inv.pooling_decision(readings)["winner"] == "fan-in, neutral input"
    # the same numbers and sign: the fewest departures from the decided defaults (0 beats 1)
    readings = _names([far, far, far, _reading(98.0, 97.5), _reading(98.0, 97.5), far, far])
    d = inv.pooling_decision(readings)
    assert d["winner"] == "fan-in, image (the decided defaults)" and "fewest departures" in d["reason"]
    # equal departures (1 each): the smaller distance
    readings = _names([far, far, far, far, _reading(98.0, 97.5), _reading(98.04, 97.5), far])  # 0.8 vs 0.6
    d = inv.pooling_decision(readings)
    assert d["winner"] == "fan-in, image; classifier on the pooled maps" and "smaller distance" in d["reason"]


def test_pair_reading_sets_ours_against_table_3_with_the_summary_pages_tolerance(results_root):
    r = inv.pair_reading({False: [98.16], True: [97.57]})  # exactly the paper's pair
    assert r[False]["reported"] == 98.16 and r[True]["reported"] == 97.57
    assert r[False]["diff"] == pytest.approx(0) and r["distance"] == pytest.approx(0)
    assert r["lowers"] and r["matches"] and r[False]["tolerance"] > 0
    r = inv.pair_reading({False: [98.22], True: [98.37]})  # our decided defaults' seed 0: pooling helps
    assert r[False]["diff"] == pytest.approx(0.06) and r[True]["diff"] == pytest.approx(0.80)
    assert r["effect"] == pytest.approx(0.15) and not r["lowers"] and not r["matches"]
    assert r["distance"] == pytest.approx(0.80 / r[True]["tolerance"])
    three = inv.pair_reading({False: [98.1, 98.2, 98.3], True: [97.5, 97.6, 97.7]})
    assert three[False]["seeds"] == 3 and three[False]["ours"] == pytest.approx(98.2)
    # pooling's effect, judged as a claim judges a difference: the arms' own spread (0.1 pp, 4 dof),
    # se = 0.1 * sqrt(1/3 + 1/3), t(0.975, 4) = 2.7764
    assert three["effect"] == pytest.approx(-0.6) and three["effect_clear"]
    assert three["effect_tol"] == pytest.approx(2.7764 * 0.1 * math.sqrt(2 / 3), abs=1e-4)
    noisy = inv.pair_reading({False: [98.0, 98.2, 98.4], True: [97.9, 98.1, 98.3]})
    assert noisy["lowers"] and not noisy["effect_clear"]  # -0.1 pp against ±0.45 pp: the sign alone


def _runs(values: dict) -> pd.DataFrame:
    """pooling_runs' frame by hand: {(configuration, max_pool): linear %, or None (not started)}."""
    rows = []
    for (name, pool), lin in values.items():
        rows.append({"configuration": name, "max_pool": pool, "seed": 0, "run_id": f"{name}-{pool}",
                     "status": "finished" if lin is not None else "not started", "epochs_done": 200 if lin else 0,
                     "epochs": 200, "linear_pct": lin if lin is not None else math.nan,
                     "goodness_pct": 80.0 if lin else math.nan, "precision": "fp32", "older_code": False,
                     "left_hours": 0.5, "plan": "planned"})
    return pd.DataFrame(rows)


def test_the_factorial_table_gives_each_rows_pooling_effect_with_its_sign_and_what_is_missing():
    runs = _runs({("Loewe, neutral input", False): 97.64, ("Loewe, neutral input", True): 97.30,
                  ("Loewe, image", False): None, ("Loewe, image", True): None,
                  ("fan-in, neutral input", False): 98.11, ("fan-in, neutral input", True): None,
                  ("fan-in, image (the decided defaults)", False): 98.22,
                  ("fan-in, image (the decided defaults)", True): 98.37})
    t = inv.factorial_table(runs).set_index("configuration")
    assert t.loc["the paper (Table 3)", "pooling: with minus without [pp]"] == pytest.approx(97.57 - 98.16)
    assert t.loc["Loewe, neutral input", "pooling: with minus without [pp]"] == pytest.approx(-0.34)
    assert t.loc["Loewe, neutral input", "sign"] == "lowers, as the paper"
    assert t.loc["fan-in, image (the decided defaults)", "sign"] == "raises, against the paper"
    assert math.isnan(t.loc["fan-in, neutral input", "pooling: with minus without [pp]"])
    assert "with: not started, about 0.5 h on one thread of a" in t.loc["fan-in, neutral input", "runs"]
    assert t.loc["fan-in, neutral input", "runs"].startswith("without: finished;")
    assert t.loc["Loewe, image", "sign"] == ""


def test_the_outcome_names_the_missing_cells_until_the_study_is_decided(results_root):
    text = inv.pooling_outcome_text()  # an empty result folder: nothing has run
    assert "Of the 8 cells of the factorial" in text and "0 have finished" in text
    assert "* *Loewe, image*, with pooling: not started" in text
    assert "decided when all 7 have finished" in text


def test_once_the_study_is_decided_the_campaign_carries_its_winners_seeds(committed_results):
    """The rule gives the winner three seeds of both networks: once every pair has finished, the
    campaign must list the winner's missing seed runs (appended to campaign.CELLS with the decision's
    date), or they would never train."""
    runs = inv.pooling_runs()
    decision = inv.pooling_decision(inv.pooling_readings(runs))
    if decision["winner"] is None:
        pytest.skip(f"not decided yet: waiting for {', '.join(decision['waiting'])}")
    cells = {c.config() for c in campaign.CELLS}
    seeds = inv.pooling_runs(seeds=inv.SEEDS, names=(decision["winner"],))
    missing = [f"{'with' if r['max_pool'] else 'without'} pooling, seed {r['seed']}" for _, r in seeds.iterrows()
               if r["status"] != "finished"
               and inv.pool_config(inv.POOL_CONFIGURATIONS[decision["winner"]], r["max_pool"], r["seed"]) not in cells]
    assert not missing, f"the winner, {decision['winner']}, has no campaign cell for: {'; '.join(missing)}"


def test_a_decided_study_says_when_and_keeps_what_seed_0_found(committed_results):
    """Issue #26: the decision is written with its date (the day its last seed-0 run finished), and
    chapter 10's outcome keeps the seed-0 findings (sign counts, matches) beside the winner's seeds."""
    runs = inv.pooling_runs()
    readings = inv.pooling_readings(runs)
    decision = inv.pooling_decision(readings)
    if decision["winner"] is None:
        pytest.skip(f"not decided yet: waiting for {', '.join(decision['waiting'])}")
    day = inv.decided_on(runs)
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", day) and day >= "2026-12-04"  # not before the rule was fixed
    assert f"Decided on {day}" in inv.pooling_decision_text(readings, runs)
    outcome = inv.pooling_outcome_text()
    assert f"**{decision['winner']}** comes closest" in outcome and "at seed 0" in outcome
    assert f"lowers accuracy, as the paper says, in {sum(r['lowers'] for r in readings.values())} of them" in outcome
    seeded = inv.seeds_reading(decision["winner"], inv.pooling_runs(seeds=inv.SEEDS, names=(decision["winner"],)))
    if "reading" in seeded:  # all three seeds: a verdict on both numbers, and the effect with its noise
        r = seeded["reading"]
        assert f"verdicts: {r[False]['verdict']} without pooling, {r[True]['verdict']} with" in outcome
        assert f"The effect of pooling, {r['effect']:+.2f} ± {r['effect_tol']:.2f} pp" in outcome
        assert ("It **reproduces both numbers and the sign**" in outcome) == (
            r["lowers"] and r[False]["verdict"] == r[True]["verdict"] == "reproduced")
