"""What a campaign cell settles (issue #31): the claims it enters, its worth by the state of the
evidence, and the plan's order by worth per CPU hour, breadth first."""
import math

import pandas as pd
import pytest

from ffcnn_lib import campaign, step_times, value
from ffcnn_lib.claims import CLAIMS
from ffcnn_lib.sweeps import cell_key

FIG4B_KERNEL = next(c.text for c in CLAIMS if c.text.startswith("Accuracy falls with smaller filter size"))
FIG4B_WIDTH = next(c.text for c in CLAIMS if c.text.startswith("Accuracy rises with filters per layer"))
FIG3A_BP = next(c.text for c in CLAIMS if c.text.startswith("BP accuracy falls"))
TABLE3 = "Max pooling lowers accuracy (Table 3)"


def _cell(name):
    return next(c for c in campaign.CELLS if c.name == name)


def test_a_cell_enters_the_claims_that_read_it_and_a_variant_enters_none():
    ff3 = _cell("FF 16x3x3 (Fig. 4B)")
    assert {c.text for c in value.entered(ff3.paper(), ("fig4b",))} == {FIG4B_KERNEL, FIG4B_WIDTH}
    bp = _cell("BP 16x7x7 (Fig. 3A)")
    assert [c.text for c in value.entered(bp.paper(), ("fig3a",))] == [FIG3A_BP]  # not the FF claim of Fig. 3A
    variant = ff3.paper().replace(init="loewe")
    assert value.entered(variant, ("fig4b",)) == []
    assert value.claim_label(FIG4B_KERNEL) == "Accuracy falls with smaller filter size [Fig. 4B]"


def _status(diff=math.nan, n=0, tol=math.nan):
    """The status table's row of Table 3's pooled 16-32-64 7x7 (98.22 % reported)."""
    return pd.DataFrame([dict(model="ff", filters="16-32-64", kernel=7, batch_size=50, K=0.35, label_set="set1",
                              max_pool=True, include_first_layer=False, method="linear", n_seeds=n,
                              diff_pp=diff, tolerance_pp=tol, noise="images only (no seed spread yet)")])


def _judge(done, status=None, verdicts=None):
    return value.Judge(done, verdicts or {}, _status() if status is None else status, frozenset({"table3"}))


def _key(name):
    return cell_key(_cell(name).paper())


def test_a_cell_that_makes_a_claims_first_comparison_is_worth_most_then_a_further_one_then_none():
    pool = _cell("FF 16-32-64 7x7, max pooling (Table 3)").paper()
    unpooled, pair = _key("FF 16-32-64 7x7 (Table 3)"), [_key("FF 16x5x5 (Table 3, CAMs)"),
                                                          _key("FF 16x5x5, max pooling (Table 3)")]
    unlock = _judge({TABLE3: [unpooled]}).worth(pool, ("table3",), 0)  # its own pair: Table 3's first comparison
    move = _judge({TABLE3: [*pair, unpooled]}).worth(pool, ("table3",), 0)  # a second pair
    first = _judge({TABLE3: []}).worth(pool, ("table3",), 0)
    # a cell of Table 3 whose partner has no run makes no comparison, however many cells the claim has
    alone = _judge({TABLE3: pair}).worth(pool, ("table3",), 0)
    # each also gives the reported 98.22 % its first evidence (+1)
    assert (unlock.value, move.value, first.value, alone.value) == \
        (value.UNLOCKS + 1, value.MOVES + 1, value.FIRST + 1, value.FIRST + 1)
    assert unlock.why.startswith("unlocks 'Max pooling lowers accuracy [Table 3]'")
    assert alone.why.startswith("starts 'Max pooling lowers accuracy [Table 3]'")
    assert _judge({}).worth(pool, ("fashion",), 0).value == 0  # beyond the paper: no claim, no number
    assert value.Judge.empty().worth(pool, ("table3",), 0).value == 0


def test_comparisons_count_the_pairs_a_claim_reads():
    kernel, width = (next(c for c in CLAIMS if c.text == t) for t in (FIG4B_KERNEL, FIG4B_WIDTH))
    keys = [_key("FF 16x5x5 (Table 3, CAMs)"), _key("FF 16x3x3 (Fig. 4B)"), _key("FF 32x5x5 (Fig. 4B)")]
    assert value.comparisons(kernel, keys) == 1  # 16 filters: 3x3 against 5x5
    assert value.comparisons(width, keys) == 1  # 5x5: 16 against 32 filters
    assert value.comparisons(kernel, keys + keys[:1]) == 1  # a cell twice (a further seed) adds none
    table1 = next(c for c in CLAIMS if c.artifact == "table1")
    assert table1.compares is None and value.comparisons(table1, keys[:1]) == 1  # one run reads both methods


def test_a_further_seed_is_worth_something_only_where_a_verdict_hinges_on_it():
    pool = _cell("FF 16-32-64 7x7, max pooling (Table 3)").paper()
    # one seed 0.05 pp off with a tolerance of 0.28 pp (sd 0.14): within 3 sd, a second seed may decide
    done = {TABLE3: [_key("FF 16x5x5 (Table 3, CAMs)"), _key("FF 16x5x5, max pooling (Table 3)")]}
    close = _judge(done, _status(diff=0.05, n=1, tol=0.28)).worth(pool, ("table3",), 1)
    assert close.value > 0
    # 1.0 pp off: clearly off whatever another seed says
    far = _judge(done, _status(diff=1.0, n=1, tol=0.28)).worth(pool, ("table3",), 1)
    assert far.value == 0 and "no verdict hinges" in far.why
    # an inconclusive claim that compares its cell (with the unpooled 16-32-64) hinges on it too
    compared = {TABLE3: [*done[TABLE3], cell_key(pool), _key("FF 16-32-64 7x7 (Table 3)")]}
    unsure = _judge(compared, _status(diff=1.0, n=1, tol=0.28), {TABLE3: "inconclusive on 4 of 10 cells"})
    assert unsure.worth(pool, ("table3",), 1).value == value.MOVES


def test_the_plan_ranks_by_worth_per_hour_breadth_first(results_root, monkeypatch):
    from ffcnn_lib import machine
    monkeypatch.setattr(machine, "capabilities", lambda: {"model": "stub", "cores": 2, "flags": [], "kind": "avx2"})
    cheap = campaign.Cell("FF 16x3x3", "fig4b", {"filters": (16, 16, 16), "kernel": 3}, priority=4, reason="x")
    dear = campaign.Cell("FF 32x5x5", "fig4b", {"filters": (32, 32, 32), "kernel": 5}, priority=3, reason="x")
    seed1 = campaign.Cell("FF 16x3x3, seed 1", "fig4b", {"filters": (16, 16, 16), "kernel": 3}, seed=1, priority=2,
                          reason="x")
    urgent = campaign.Cell("BP 16x5x5", "bp", priority=1, reason="x")
    import json

    from ffcnn_lib.bench import step_flops
    steps = {step_times.step_key(c.config(), 1): {"ms_per_step": ms, "gflop_per_step": step_flops(c.config()) / 1e9}
             for c, ms in ((cheap, 20.0), (dear, 80.0), (urgent, 30.0))}
    path = step_times.steps_path("avx2", results_root)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"kind": "avx2", "steps": steps}))
    # 16x5x5 and 32x3x3 make no comparison yet; 16x3x3 and 32x5x5 each give both claims their first
    done = [cell_key(c.paper()) for c in (campaign.Cell("a", "fig4b", {"filters": (16, 16, 16), "kernel": 5}),
                                          campaign.Cell("b", "fig4b", {"filters": (32, 32, 32), "kernel": 3}))]
    judge = _judge({FIG4B_KERNEL: done, FIG4B_WIDTH: done})
    monkeypatch.setattr(value.Judge, "now", classmethod(lambda cls, root=None: judge))
    df = campaign.plan(cells=[dear, seed1, cheap, urgent], budget_s=1e9)
    order = df.dropna(subset=["order"]).sort_values("order")["cell"].tolist()
    # priority 1 first; then the cheaper cell of equal worth before the dearer one, whatever their
    # priorities; the second seed nothing hinges on last, though its priority is 2
    assert order == ["BP 16x5x5", "FF 16x3x3", "FF 32x5x5", "FF 16x3x3, seed 1"]
    row = df.set_index("cell").loc["FF 16x3x3"]
    assert row["value"] == 2 * value.UNLOCKS and "Fig. 4B" in row["claims"]
    assert row["value_per_h"] == pytest.approx(row["value"] / (row["left_hours_here"] * row["relative_cost"]))


def test_a_cheap_seed_a_verdict_hinges_on_goes_before_a_dear_first_seed_and_a_cell_under_way_before_both(
        results_root, monkeypatch):
    """The guide: "one seed per cell before any second seed, unless a verdict hinges on it". A second
    seed of 16x3x3 (an hour or so; Fig. 4B's kernel claim, inconclusive, compares it) settles more per
    CPU hour than the first seed of 32x5x5 (hours), so it goes first; a cell under way (32x7x7 at
    epoch 50) goes before both: a run left paused for sessions loses its epochs to any ALGORITHM_VERSION bump."""
    import json

    from ffcnn_lib import machine
    from ffcnn_lib.bench import step_flops
    monkeypatch.setattr(machine, "capabilities", lambda: {"model": "stub", "cores": 2, "flags": [], "kind": "avx2"})
    seed1, dear = _cell("FF 16x3x3 (Fig. 4B), seed 1"), _cell("FF 32x5x5 (Fig. 4B)")
    started = _cell("FF 32x7x7 (Fig. 3A, 4B)")
    steps = {step_times.step_key(c.config(), 1): {"ms_per_step": ms, "gflop_per_step": step_flops(c.config()) / 1e9}
             for c, ms in ((seed1, 20.0), (dear, 150.0), (started, 400.0))}
    path = step_times.steps_path("avx2", results_root)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"kind": "avx2", "steps": steps}))
    done = [_key("FF 16x3x3 (Fig. 4B)"), _key("FF 16x5x5 (Table 3, CAMs)"), _key("FF 16x7x7 (Fig. 3A, 4B)")]
    judge = value.Judge({FIG4B_KERNEL: done, FIG4B_WIDTH: done}, {FIG4B_KERNEL: "inconclusive on 3 of 12 cells"},
                        _status().iloc[:0], frozenset())
    monkeypatch.setattr(value.Judge, "now", classmethod(lambda cls, root=None: judge))
    first_of_seed1 = seed1.config().replace(seed=0)
    monkeypatch.setattr(campaign, "_epochs_done", lambda config, root: (200, "finished") if config == first_of_seed1
                        else (50, "partial") if config == started.config() else (0, "not started"))
    df = campaign.plan(cells=[dear, seed1, started], budget_s=1e9).set_index("cell")
    assert df.loc[seed1.name, "tier"] == 2 and df.loc[dear.name, "tier"] == 1
    assert df.loc[seed1.name, "value_per_h"] > df.loc[dear.name, "value_per_h"] > df.loc[started.name, "value_per_h"]
    assert df.sort_values("order").index.tolist() == [started.name, seed1.name, dear.name]


def test_a_long_first_seed_that_settles_a_claim_is_planned_where_a_cell_that_settles_nothing_is_not(
        results_root, monkeypatch):
    """Issue #31: FF 32x7x7 (11.7 h on an avx512-bf16 CPU) is a cell the claims need; it may take up to
    MAX_RUNS_CLAIM campaign runs, resuming across sessions, while a cell of no worth keeps MAX_RUNS."""
    import json

    from ffcnn_lib import machine
    from ffcnn_lib.bench import step_flops
    monkeypatch.setattr(machine, "capabilities", lambda: {"model": "stub", "cores": 2, "flags": [], "kind": "avx2"})
    first = campaign.Cell("FF 32x5x5", "fig4b", {"filters": (32, 32, 32), "kernel": 5}, priority=3, reason="x")
    again = campaign.Cell("FF 32x5x5, seed 1", "fig4b", {"filters": (32, 32, 32), "kernel": 5}, seed=1, priority=3,
                          reason="x")
    key = step_times.step_key(first.config(), 1)
    path = step_times.steps_path("avx2", results_root)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"kind": "avx2", "steps": {key: {"ms_per_step": 250.0,  # ~15 h: 6 runs
                                                                "gflop_per_step": step_flops(first.config()) / 1e9}}}))
    done = [cell_key(campaign.Cell("a", "fig4b", {"filters": (16, 16, 16), "kernel": 5}).paper())]
    judge = _judge({FIG4B_KERNEL: done, FIG4B_WIDTH: done})
    monkeypatch.setattr(value.Judge, "now", classmethod(lambda cls, root=None: judge))
    df = campaign.plan(cells=[first, again], budget_s=150 * 60).set_index("cell")
    hours = df.loc["FF 32x5x5", "left_hours_here"]
    assert campaign.MAX_RUNS * 2.5 < hours < campaign.MAX_RUNS_CLAIM * 2.5
    assert df.loc["FF 32x5x5", "plan"] == "planned" and df.loc["FF 32x5x5", "value"] > 0
    assert df.loc["FF 32x5x5, seed 1", "value"] == 0
    assert df.loc["FF 32x5x5, seed 1", "plan"].startswith(f"too slow here ({hours:.1f} h left > {campaign.MAX_RUNS} runs")


def test_a_chapter_says_the_campaign_goes_on_with_a_long_claim_cell_under_way(results_root, monkeypatch):
    """A chapter's *Under way* line reads the plan with the evidence weighed: FF 32x5x5 (~15 h left
    here, more than MAX_RUNS runs) is a first seed two claims need, so the campaign goes on with it;
    weighed as worth nothing it would read "too slow here" while the campaign trains it."""
    import json

    from ffcnn_lib import machine
    from ffcnn_lib.bench import step_flops
    monkeypatch.setattr(machine, "capabilities", lambda: {"model": "stub", "cores": 2, "flags": [], "kind": "avx2"})
    first = campaign.Cell("FF 32x5x5 (Fig. 4B)", "fig4b", {"filters": (32, 32, 32), "kernel": 5}, priority=3,
                          reason="x")
    path = step_times.steps_path("avx2", results_root)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"kind": "avx2", "steps": {step_times.step_key(first.config(), 1): {
        "ms_per_step": 250.0, "gflop_per_step": step_flops(first.config()) / 1e9}}}))
    metrics = pd.DataFrame({"epoch": [1, 2], "val_acc_linear": [0.95, 0.96], "epoch_s": [250.0, 250.0]})
    monkeypatch.setattr(campaign, "_progress", lambda config, root=None: (
        metrics, {"provenance": {"device": "cpu (avx2, 1 thread)"}}) if config == first.config() else None)
    monkeypatch.setattr(campaign, "CELLS", [first])
    done = [cell_key(campaign.Cell("a", "fig4b", {"filters": (16, 16, 16), "kernel": 5}).paper())]
    judge = _judge({FIG4B_KERNEL: done, FIG4B_WIDTH: done})
    monkeypatch.setattr(value.Judge, "now", classmethod(lambda cls, root=None: judge))
    line = campaign.progress_text("fig4b")
    assert line.startswith("* FF 32x5x5 (Fig. 4B): under way in the CPU campaign, 2 of 200 epochs")
    assert line.endswith("the campaign on this kind goes on with it"), line
    monkeypatch.setattr(value.Judge, "now", classmethod(lambda cls, root=None: value.Judge.empty()))
    assert "leaves it: too slow here" in campaign.progress_text("fig4b")  # what the worth changes


def test_a_plan_of_finished_cells_only_orders_none(results_root, monkeypatch):
    """An empty selection must not borrow the whole table's index (a chapter's cells may all be done)."""
    cells = [_cell("FF 16x3x3 (Fig. 4B)")]
    monkeypatch.setattr(campaign, "_epochs_done", lambda config, root: (200, "finished"))
    df = campaign.plan(cells=cells)
    assert len(df) == 1 and df["order"].isna().all() and df["plan"].tolist() == ["finished"]


def test_a_further_seed_counts_only_for_the_inconclusive_claims_that_compare_its_cell():
    """A second seed moves a claim only where the claim reads "inconclusive" and its cell is in one of
    the claim's comparisons: 16x3x3 against 32x3x3 is Fig. 4B's width comparison; 16x7x7 has no
    32-filter partner yet, and the kernel claim, confirmed, hinges on nothing."""
    ff3, ff7 = _key("FF 16x3x3 (Fig. 4B)"), _key("FF 16x7x7 (Fig. 3A, 4B)")
    done = [ff3, _key("FF 32x3x3, label set 1 (Table 2)"), ff7, _key("FF 16x5x5 (Table 3, CAMs)")]
    verdicts = {FIG4B_WIDTH: "inconclusive on 2 of 12 cells", FIG4B_KERNEL: "confirmed on 3 of 12 cells"}
    judge = value.Judge({FIG4B_WIDTH: done, FIG4B_KERNEL: done}, verdicts, _status().iloc[:0], frozenset())
    moves = judge.worth(_cell("FF 16x3x3 (Fig. 4B)").paper(), ("fig4b",), 1)
    assert moves.value == value.MOVES and moves.why == \
        "moves 'Accuracy rises with filters per layer for every filter size [Fig. 4B]'"
    alone = judge.worth(_cell("FF 16x7x7 (Fig. 3A, 4B)").paper(), ("fig4b",), 1)
    assert alone.value == 0 and alone.why == "a further seed, and no verdict hinges on it"
    settled = value.Judge(judge.done, {**verdicts, FIG4B_WIDTH: "confirmed on 2 of 12 cells"}, judge.status,
                          frozenset())
    assert settled.worth(_cell("FF 16x3x3 (Fig. 4B)").paper(), ("fig4b",), 1).value == 0


def test_every_first_seed_of_the_papers_cells_has_further_seeds_that_wait_their_turn(results_root, monkeypatch):
    """Issue #31 step 2: the campaign can add a seed where a verdict hinges on one only if the cell
    exists; each waits for the seed before it (breadth first), then counts by its worth."""
    firsts = [c for c in campaign.CELLS if c.seed == 0 and not c.change and c.profile == "paper"
              and c.artifact != "fashion"]
    runs = {c.config() for c in campaign.CELLS}
    assert all(c.config().replace(seed=s) in runs for c in firsts for s in (1, 2))
    seed1, seed2 = _cell("FF 16x3x3 (Fig. 4B), seed 1"), _cell("FF 16x3x3 (Fig. 4B), seed 2")
    assert (seed1.seed, seed2.seed, seed1.priority) == (1, 2, 6) and seed1.match == _cell("FF 16x3x3 (Fig. 4B)").match
    done = {FIG4B_WIDTH: [_key("FF 16x3x3 (Fig. 4B)"), _key("FF 32x3x3, label set 1 (Table 2)")]}
    judge = value.Judge(done, {FIG4B_WIDTH: "inconclusive on 2 of 12 cells"}, _status().iloc[:0], frozenset())
    monkeypatch.setattr(value.Judge, "now", classmethod(lambda cls, root=None: judge))
    df = campaign.plan(cells=[seed1, seed2]).set_index("cell")
    assert df["settles"].tolist() == ["a further seed: waits for seed 0 to finish (breadth first)",
                                      "a further seed: waits for seed 1 to finish (breadth first)"]
    finished = {seed1.config().replace(seed=0)}
    monkeypatch.setattr(campaign, "_epochs_done", lambda config, root: (200, "finished") if config in finished
                        else (0, "not started"))
    df = campaign.plan(cells=[seed1, seed2]).set_index("cell")
    assert df.loc[seed1.name, "value"] == value.MOVES and df.loc[seed1.name, "tier"] == 2
    assert df.loc[seed2.name, "value"] == 0 and df.loc[seed2.name, "tier"] == 3


def test_a_further_seed_counts_for_a_trend_only_in_a_series_still_undecided():
    """Fig. 4B at 16 and 32 filters (the book, 2026-12-06): both claims inconclusive, each held back
    by one series. A second seed of 16x3x3 may settle "16 filters by kernel" (+0.29 ± 0.08 pp, just
    short), not "3x3 by filters" (confirmed); one of 32x3x3 neither series it lies in."""
    cells = ["FF 16x3x3 (Fig. 4B)", "FF 16x5x5 (Table 3, CAMs)", "FF 16x7x7 (Fig. 3A, 4B)",
             "FF 32x3x3, label set 1 (Table 2)", "FF 32x5x5 (Fig. 4B)", "FF 32x7x7 (Fig. 3A, 4B)"]
    done = [_key(c) for c in cells]
    verdicts = {FIG4B_KERNEL: "inconclusive on 6 of 12 cells", FIG4B_WIDTH: "inconclusive on 6 of 12 cells"}
    evidence = {
        FIG4B_KERNEL: "16 filters by kernel: 3 97.97 %, 5 98.20 %, 7 98.26 % (3 to 7: +0.29 ± 0.08 pp; 0 of 2 steps "
                      "clear; inconclusive); 32 filters by kernel: 3 98.19 %, 5 98.34 %, 7 98.67 % (3 to 7: +0.48 ± "
                      "0.08 pp; ends differ clearly; 1 of 2 steps clear; confirmed) [6 comparisons, ν = 6, t = 3.86]",
        FIG4B_WIDTH: "3x3 by filters: 16 97.97 %, 32 98.19 % (16 to 32: +0.22 ± 0.08 pp; ends differ clearly; 1 of 1 "
                     "step clear; confirmed); 5x5 by filters: 16 98.20 %, 32 98.34 % (16 to 32: +0.14 ± 0.07 pp; 0 of "
                     "1 step clear; inconclusive); 7x7 by filters: 16 98.26 %, 32 98.67 % (16 to 32: +0.41 ± 0.08 pp; "
                     "ends differ clearly; 1 of 1 step clear; confirmed) [7 comparisons, ν = 6, t = 4.00]"}
    judge = value.Judge({FIG4B_KERNEL: done, FIG4B_WIDTH: done}, verdicts, _status().iloc[:0], frozenset(),
                        evidence=evidence)
    ff3 = judge.worth(_cell("FF 16x3x3 (Fig. 4B)").paper(), ("fig4b",), 1)
    assert ff3.value == value.MOVES and ff3.why == "moves 'Accuracy falls with smaller filter size [Fig. 4B]'"
    ff5 = judge.worth(_cell("FF 16x5x5 (Table 3, CAMs)").paper(), ("fig4b",), 1)
    assert ff5.value == 2 * value.MOVES  # in both undecided series: 16 filters by kernel, 5x5 by filters
    wide = judge.worth(_cell("FF 32x3x3, label set 1 (Table 2)").paper(), ("fig4b",), 1)
    assert wide.value == 0 and wide.why == "a further seed, and no verdict hinges on it"
    # without the evidence (a judge built by hand), the claim's verdict decides as before
    blind = value.Judge(judge.done, verdicts, judge.status, frozenset())
    assert blind.worth(_cell("FF 32x3x3, label set 1 (Table 2)").paper(), ("fig4b",), 1).value == 2 * value.MOVES
