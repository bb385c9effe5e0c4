"""The CPU campaign (ffcnn_lib.campaign) and the CPU fast path (train.default_fast)."""
import math
import os
import re
import subprocess

import pandas as pd
import pytest
import torch

from ffcnn_lib import campaign, step_times, sweeps, value
from ffcnn_lib.__main__ import main
from ffcnn_lib.config import Config
from ffcnn_lib.experiments import claim, load, load_partial
from ffcnn_lib.train import _Run, code_path, compiled_step, cpu_bf16_native, default_fast


def test_every_cell_is_one_config_of_its_artifact_at_the_paper_settings():
    configs = [cell.config() for cell in campaign.CELLS]
    assert len({c.run_id() for c in configs}) == len(configs)
    for cell, c in zip(campaign.CELLS, configs):  # the paper's exact settings: 200 epochs, the full split
        # (the short profile's indicative readings, issue #31 f: the paper's widths and data, 20 epochs)
        assert (c.epochs, c.n_train, c.n_val) == (200 if cell.profile == "paper" else 20, 50_000, 10_000)
        assert cell.profile in ("paper", "short") and (cell.profile == "paper") == ("short profile" not in cell.name)
        assert c.filters == cell.paper().filters
        assert c.batch_size == (int(re.search(r"batch (\d+)", cell.name)[1]) if "batch" in cell.name else 50)
        assert c.lr == (1e-3 if c.model == "bp" else 5e-5)
        assert cell.priority in (1, 2, 3, 4, 5, 6) and cell.reason  # the plan is data, each cell with its reason
        assert set(cell.waits) <= set(campaign.DECIDED) and cell.needs in ("", "bf16")
    by = {cell.name: c for cell, c in zip(campaign.CELLS, configs)}
    assert by["BP 16x5x5 (Sec. 3.1)"].model == "bp" and by["FF 16x5x5, max pooling (Table 3)"].max_pool
    # the investigation of issue #16 changes one field of the stored seed-0 FF 16x5x5 run each (trained
    # under the neutral classifier input, the default before 2026-12-02)
    # and Loewe's init, the default before 2026-12-02's init decision)
    base = by["FF 16x5x5 (Table 3, CAMs)"].replace(classifier_input="neutral", init="loewe")
    assert base.run_id() == "ff-16-16-16-k5-loewe-set1-K0.35-b50-e200-s0-d84973c151"
    assert by["FF 16x5x5, bf16 twin (issue 17)"] == base.replace(precision="bf16")
    assert by["FF 16x5x5, PyTorch init (issue 16)"] == base.replace(init="torch")
    assert by["FF 16x5x5, fan-in init (issue 16)"] == base.replace(init="fanin")


def test_a_short_profile_cell_is_the_books_short_run_and_waits_for_the_paper_settings_cells(results_root, monkeypatch):
    # issue #31 f: Fig. 5's K grid at 32 filters read for 20 epochs: the run the chapter's short profile reads
    cells = [c for c in campaign.CELLS if c.profile == "short"]
    assert {c.artifact for c in cells} == {"fig5", "fig4a"}
    for cell in cells:
        assert cell.config() in [run for _, run in sweeps.configs(cell.artifact, "short")]
    row = campaign.plan(cells=cells[:1]).iloc[0]
    assert row["value"] == 0
    assert row["settles"] == "an indicative reading (short profile): after the first seeds at the paper's settings"
    assert row["claims"].startswith("The optimal K is about 0.2 for 32 filters")  # what it reads, indicatively
    # it validates by goodness as its profile says (every 5 epochs), not as the paper's profile (10)
    seen = {}
    monkeypatch.setattr(campaign, "run_or_load", lambda config, **kw: seen.update(config=config, **kw))
    campaign.run(1e6, cells=cells[:1], progress=False)
    assert seen["config"] == cells[0].config() and seen["goodness_every"] == sweeps.PROFILE["short"].goodness_every == 5


def test_a_cell_that_matches_no_config_or_several_is_an_error():
    with pytest.raises(LookupError, match="0 configs"):
        campaign.Cell("none", "table3", {"kernel": 11}).paper()
    with pytest.raises(LookupError, match="configs match"):
        campaign.Cell("many", "table3", {"kernel": 7}).paper()


def test_campaign_stops_with_a_committed_resume_point_and_the_next_call_finishes(results_root):
    cells = [campaign.Cell("tiny", "cam")]
    config = cells[0].config("smoke")
    kw = dict(cells=cells, profile="smoke", progress=False, min_left_s=-math.inf)
    # a budget spent before the cell starts (it starts whatever is left, as a loaded machine may find a
    # budget of 1e-3 min): the run trains its first epoch and stops at that boundary
    assert campaign.run(-1.0, **kw) == 0
    resume = results_root / "partial" / f"{config.run_id()}.pt"
    assert resume.exists() and not (results_root / "checkpoints" / resume.name).exists()
    metrics, info = load_partial(config)
    assert len(metrics) == 1 and info["config"]["epochs"] == 2
    row = campaign.status(cells=cells, profile="smoke").iloc[0]
    assert (row["status"], row["epochs_done"]) == ("partial", 1) and row["left_hours"] > 0
    # the next session resumes it from there and keeps the weights (CAMs)
    assert campaign.run(1e6, **kw) == 1
    result = load(config)
    assert len(result.metrics) == 2 and (result.path / "weights.safetensors").exists()
    assert not resume.exists() and load_partial(config) is None
    row = campaign.status(cells=cells, profile="smoke").iloc[0]
    assert (row["status"], row["epochs_done"]) == ("finished", 2)


def test_curves_follow_each_started_cell_with_the_paper_value_where_it_reports_one(results_root):
    by = {c.name: c for c in campaign.CELLS}
    assert campaign.reported_val(by["BP 16x5x5 (Sec. 3.1)"]) == 99.13  # Sec. 3.1, BP
    assert campaign.reported_val(by["FF 16x5x5, max pooling (Table 3)"]) == 97.57  # Table 3, 16x5x5 + max pooling
    # the paper shows the Fig. 3A / 4B cells only as plot points: no number to draw
    # (and the investigation's variants are compared with their seed-0 run, not with a reported number)
    # (nor does it run Fashion-MNIST: issue #27's cells beyond the paper; Figs. 4A and 5, read at the
    # short profile, are plot points too)
    assert {c.artifact for c in campaign.CELLS if math.isnan(campaign.reported_val(c)) and not c.change} \
        == {"fig3a", "fig4b", "fashion", "fig4a", "fig5"}
    cells = [campaign.Cell("tiny", "cam")]
    assert campaign.curves(cells=cells, profile="smoke").empty  # nothing started
    assert campaign.run(1e-3, cells=cells, profile="smoke", progress=False, min_left_s=-math.inf) == 0
    curve = campaign.curves(cells=cells, profile="smoke")
    assert curve["epoch"].tolist() == [1] and curve["status"].iloc[0] == "partial"
    assert 0 < curve["val_acc"].iloc[0] <= 1
    # the seeds of one configuration share the panel of its seed-0 cell
    seeds = [campaign.Cell("tiny", "cam"), campaign.Cell("tiny, seed 1", "cam", seed=1)]
    assert campaign.run(1e-3, cells=seeds[1:], profile="smoke", progress=False, min_left_s=-math.inf) == 0
    both = campaign.curves(cells=seeds, profile="smoke").drop_duplicates("cell")
    assert both[["cell", "seed", "panel"]].values.tolist() == [["tiny", 0, "tiny"], ["tiny, seed 1", 1, "tiny"]]


def test_cli_campaign_lists_the_cells(results_root, capsys):
    assert main(["campaign", "--list"]) == 3  # nothing finished in an empty cache
    out = capsys.readouterr().out
    assert "BP 16x5x5 (Sec. 3.1)" in out and f"0 of {len(campaign.CELLS)} cells finished" in out
    assert main(["campaign", "--budget-minutes", "-1"]) == 2


def test_cli_keeps_the_compilers_no_cuda_warning_out_of_the_worker_logs(caplog):
    """On a CPU machine with a CUDA toolkit, torch warns "No CUDA runtime is found" when the fast
    path compiles; it opened every campaign worker's log. The command line silences that logger."""
    import logging

    logger = logging.getLogger("torch.utils.cpp_extension")
    before = logger.level
    try:
        logger.setLevel(logging.NOTSET)
        assert main(["campaign", "--budget-minutes", "-1"]) == 2  # stops before any training
        logger.warning("No CUDA runtime is found, using CUDA_HOME='/usr/local'")
        assert "No CUDA runtime" not in caplog.text
        logger.error("a real failure")  # errors still reach the log
        assert "a real failure" in caplog.text
    finally:
        logger.setLevel(before)



def test_the_listing_ranks_the_planned_cells_with_their_claims_and_keeps_whole_names():
    """``campaign --list`` (issue #31): this machine's cells by rank, each with the claims it enters,
    then the ones left to faster machines with why, then the finished ones; no name cut short (the
    seeds of a long-named cell differ only at the end)."""
    import pandas as pd
    long = "FF 16x5x5, max pooling, Loewe init, classifier on the image (issue 26)"
    row = dict(epochs=200, epochs_done=0, val_acc=math.nan, val_acc_goodness=math.nan, train_hours=0.0,
               precision="", left_hours=2.0, estimate="measured", plan="planned", claims="", value=0.0, value_per_h=0.0,
               seed=0, settles="")
    table = pd.DataFrame([
        {**row, "cell": "B second", "status": "partial", "epochs_done": 30, "val_acc": 0.975, "order": 1.0,
         "claims": "Claim X [Fig. 4B]", "value": 1.0, "value_per_h": 0.5},
        {**row, "cell": "A first", "status": "not started", "order": 0.0, "claims": "Claim X [Fig. 4B]",
         "value": 2.0, "value_per_h": 1.0},
        {**row, "cell": "C slow", "status": "not started", "order": math.nan, "left_hours": 13.7,
         "estimate": "scaled from ff-64-64-64-k3",
         "plan": "too slow here (13.7 h left > 3 runs of 2.5 h)"},
        {**row, "cell": long + ", seed 1", "status": "finished", "epochs_done": 200, "order": math.nan,
         "val_acc": 0.9804, "val_acc_goodness": 0.9158, "train_hours": 0.7, "precision": "bf16-autocast",
         "left_hours": 0.0, "plan": "finished"},
        {**row, "cell": "B second, seed 1", "status": "not started", "order": 2.0, "claims": "Claim X [Fig. 4B]",
         "value": 1.0, "value_per_h": 0.5, "seed": 1, "settles": "moves 'Claim X [Fig. 4B]'"},
    ])
    out = campaign.format_status(table)
    lines = out.splitlines()
    first, second = (next(i for i, line in enumerate(lines) if line.endswith(name)) for name in ("A first", "B second"))
    assert first < second and lines[first].split()[:2] == ["0", "1"]  # rank, then the cell's number
    assert lines[first + 1].strip() == "claims: Claim X [Fig. 4B]" and lines[second + 1].strip() == "claims: as above"
    assert "30/200" in lines[second] and "97.50" in lines[second]
    # a further seed says which verdict hinges on it: of the claims it enters, one may be settled already
    assert lines[second + 4].strip() == "why a further seed: moves 'Claim X [Fig. 4B]'"
    assert "C slow (estimate scaled from ff-64-64-64-k3): too slow here (13.7 h left > 3 runs of 2.5 h)" in out
    assert f"98.04   91.58    0.7  {long}, seed 1 [bf16-autocast]" in out
    assert out.index("A first") < out.index("Left to faster machines (1)") < out.index("Finished (1)")
    assert max(map(len, lines[:second + 2])) <= 120


def test_a_chapter_says_in_words_whether_the_campaign_here_goes_on_with_a_partial_cell():
    row = pd.Series({"cell": "FF 32x7x7 (Fig. 3A, 4B)", "epochs_done": 141, "epochs": 200, "train_hours": 8.7,
                     "device": "cpu (avx512-bf16, 1 thread)", "val_acc": 0.98712, "left_hours": 3.5,
                     "plan": "planned"})
    line = campaign.progress_line(row)
    assert line.startswith("* FF 32x7x7 (Fig. 3A, 4B): under way in the CPU campaign, 141 of 200 epochs")
    assert "validation 98.71 % at epoch 141, not a result" in line and "about 3.5 h left" in line
    assert line.endswith("; the campaign on this kind goes on with it") and "plan:" not in line
    slow = campaign.progress_line(pd.Series({**row, "plan": "too slow here (40.0 h left > 8 runs of 2.5 h)",
                                             "left_hours": math.nan}))
    assert slow.endswith("the campaign on this kind leaves it: too slow here (40.0 h left > 8 runs of 2.5 h)")
    assert "time left not measured on this kind of machine" in slow


def test_fast_path_defaults_on_cuda_and_for_long_ff_runs_on_a_cpu():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    long_ff, short_ff = Config(filters=16, kernel=5), Config(filters=16, kernel=5, epochs=2, n_train=1000)
    assert default_fast(cuda, short_ff) and default_fast(cuda, Config.bp())
    assert default_fast(cpu, long_ff) and not default_fast(cpu, short_ff)
    assert default_fast(cpu, long_ff, native_bf16=False)  # FF compiles in fp32 where bf16 is emulated


def test_bp_trains_in_bf16_by_default_only_if_its_twin_matches(committed_results):
    """BP_CPU_BF16 is a decision that must stand on the committed twin (issue #25): on when its
    verdict is "matches", off while it has not finished or does not match."""
    from ffcnn_lib import investigation, train
    twin = investigation.bp_twin(committed_results)
    assert train.BP_CPU_BF16 == (twin["status"] == "finished" and twin["verdict"] == "matches"), twin["verdict"]


def test_bp_stays_eager_fp32_by_default_while_its_bf16_twin_has_not_matched(monkeypatch):
    from ffcnn_lib import train
    monkeypatch.setattr(train, "BP_CPU_BF16", False)  # before the BP twin (issue #25) was judged
    cpu = torch.device("cpu")
    assert not default_fast(cpu, Config.bp(), native_bf16=True) and code_path(Config.bp(), "cpu", True) == (False, False)
    assert default_fast(cpu, Config.bp(precision="bf16"), native_bf16=True)  # the twin itself
    assert code_path(Config.bp(precision="bf16"), "cpu", native_bf16=True) == (False, True)


def test_bp_takes_the_fast_path_only_where_the_cpu_has_native_bf16_and_never_compiles_there(monkeypatch):
    from ffcnn_lib import train
    monkeypatch.setattr(train, "BP_CPU_BF16", True)  # once its twin has matched
    cpu = torch.device("cpu")
    bp, short_bp = Config.bp(), Config.bp(epochs=2, n_train=1000)
    # issue #25: bf16 autocast + channels_last on AVX-512 BF16 / AMX; eager fp32 on AVX2, as before
    assert default_fast(cpu, bp, native_bf16=True) and not default_fast(cpu, bp, native_bf16=False)
    assert not default_fast(cpu, short_bp, native_bf16=True)  # tiny runs (tests, equivalence) stay fp32
    assert not default_fast(cpu, Config.bp(precision="fp32"), native_bf16=True)  # a pinned fp32 run too
    assert code_path(bp, "cpu", native_bf16=True) == (False, True)    # eager bf16: compiling lost time
    assert code_path(bp, "cpu", native_bf16=False) == (False, False)  # eager fp32
    assert code_path(bp, "cuda") == (True, True)                      # CUDA unchanged: compiled bf16
    assert code_path(Config(filters=16, kernel=5), "cpu", native_bf16=False) == (True, False)
    # the stored fp32 runs keep their ids: the default precision stays "auto"
    assert bp.run_id() == "bp-16-16-16-k5-b50-e200-s0-a1dbbbaac0"
    assert Config.bp(precision="bf16").run_id() != bp.run_id()


def test_bp_fast_path_runs_its_step_in_bf16_channels_last_uncompiled():
    tiny = Config.bp(filters=(2, 2, 2), kernel=3, n_train=100, n_val=10, epochs=1)
    run = _Run([tiny], torch.device("cpu"), True, None, bf16=True)
    step, compiled = compiled_step(run, None)
    assert compiled is False and run.precision_name == "bf16-autocast"
    assert run.model.convs[0].weight.is_contiguous(memory_format=torch.channels_last)
    stats = run.train_step(step, torch.arange(50).unsqueeze(1), compiled)
    assert torch.isfinite(stats).all() and run.model.convs[0].weight.dtype == torch.float32  # fp32 master weights


def test_cpu_fast_path_uses_bf16_only_where_the_cpu_has_it():
    tiny = Config(filters=(2, 2), kernel=3, n_train=100, n_val=10, epochs=1)
    run = _Run([tiny], torch.device("cpu"), True, None)
    assert run.bf16 == cpu_bf16_native()
    assert run.precision_name == ("bf16-autocast" if run.bf16 else "fp32")
    assert bool(run.note) != run.bf16  # a CPU without bf16 says why it stays in fp32
    forced = _Run([tiny], torch.device("cpu"), True, None, bf16=True)
    with forced.precision():
        assert torch.is_autocast_enabled("cpu")
    eager = _Run([tiny], torch.device("cpu"), False, None)
    assert not eager.bf16 and eager.precision_name == "fp32"


def test_a_cpu_run_flushes_subnormals_to_zero_before_it_trains():
    """Subnormal arithmetic costs x86 cores ~100 cycles an operation: late in training it doubled
    BP 16x7x7's step (train.flush_subnormals). The bits are read, not the value: with DAZ on, a
    comparison would take the subnormal for zero whether or not the product flushed it; and the
    subnormal is made from its bits, which no conversion under FTZ can flush (about 1e-39)."""
    subnormal = torch.tensor([0x000AE398], dtype=torch.int32).view(torch.float32)

    def flushed() -> bool:
        return (subnormal * 1.0).view(torch.int32).item() == 0

    torch.set_flush_denormal(False)  # this thread as a fresh process starts, whatever ran before
    assert not flushed()
    _Run([Config.bp(filters=(2, 2, 2), kernel=3, n_train=100, n_val=10, epochs=1)], torch.device("cpu"), False, None)
    assert flushed()


def test_a_cell_another_worker_claimed_is_skipped(results_root):
    cells = [campaign.Cell("tiny", "cam"), campaign.Cell("tiny bp", "bp")]
    kw = dict(cells=cells, profile="smoke", progress=False, min_left_s=0)
    with claim(f"campaign-{cells[0].config('smoke').run_id()}") as mine:  # as a second worker would
        assert mine
        assert campaign.run(1e6, **kw) == 1
        assert load(cells[0].config("smoke")) is None and load(cells[1].config("smoke")) is not None
    assert campaign.run(1e6, **kw) == 2  # released: the next call trains it


def _fake_workers(monkeypatch) -> list[list[str]]:
    """Worker processes that record their command line and stop as if at their budget; the list
    of command lines, filled as the campaign CLI starts them."""
    started = []

    class FakeWorker:
        def __init__(self, cmd, stdout, stderr):
            started.append(cmd)

        def wait(self):
            return 3  # ran to its budget with cells left: not a failure

    monkeypatch.setattr(subprocess, "Popen", FakeWorker)
    return started


def test_cli_campaign_workers_train_different_cells_side_by_side(results_root, monkeypatch, capsys):
    started = _fake_workers(monkeypatch)
    assert main(["campaign", "--workers", "2", "--budget-minutes", "5", "--cells", "0,1"]) == 3
    assert len(started) == 2 and all(cmd[cmd.index("--threads") + 1] == str(max(1, os.cpu_count() // 2))
                                     for cmd in started)
    assert all(cmd[-2:] == ["--cells", "0,1"] and "5.0" in cmd and cmd[cmd.index("--workers") + 1] == "1" for cmd in started)
    assert "campaign-worker-1.log" in capsys.readouterr().out
    assert main(["campaign", "--workers", "0"]) == 2


def test_an_interrupted_campaign_passes_it_on_to_its_workers_and_waits_for_their_records(results_root, monkeypatch,
                                                                                       capsys):
    """Ctrl-C reaches the workers itself (one process group); a SIGTERM to the parent alone must be
    passed on, and the parent must wait while each worker goes back to its resume point and writes
    its record, rather than leave them killed by the session's end halfway."""
    import signal
    events = []

    class Worker:
        def __init__(self, cmd, stdout, stderr):
            self.n = len([e for e in events if e == "start"])
            events.append("start")

        def wait(self):
            if "TERM" not in events:
                raise KeyboardInterrupt  # the parent's SIGTERM arrives while it waits
            events.append(f"waited {self.n}")
            return 130

        def send_signal(self, sig):
            assert sig == signal.SIGTERM
            events.append("TERM")

    monkeypatch.setattr(subprocess, "Popen", Worker)
    assert main(["campaign", "--workers", "2", "--budget-minutes", "5", "--cells", "0,1"]) == 130
    assert events == ["start", "start", "TERM", "TERM", "waited 0", "waited 1"]
    assert "each worker went back to its run's last resume point" in capsys.readouterr().err


# --- the machine-aware plan (issue #17) ------------------------------------------------------------

def _on(monkeypatch, kind: str, cores: int = 2):
    from ffcnn_lib import machine
    monkeypatch.setattr(machine, "capabilities", lambda: {"model": "stub", "cores": cores, "flags": [], "kind": kind})


def _stub_steps(results_root, kind: str, steps: dict[str, float]):
    import json

    from ffcnn_lib.bench import step_flops
    path = step_times.steps_path(kind, results_root)
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {"kind": kind, "steps": {}}
    for name, ms in steps.items():
        cell = next(c for c in campaign.CELLS if c.name == name)
        key = step_times.step_key(cell.config(), 1)
        record["steps"][key] = {"ms_per_step": ms, "gflop_per_step": step_flops(cell.config()) / 1e9}
    path.write_text(json.dumps(record))


def test_the_plan_takes_cells_by_priority_among_those_that_finish_within_a_few_runs_here(results_root, monkeypatch):
    _on(monkeypatch, "avx512-bf16")
    _stub_steps(results_root, "avx512-bf16", {"FF 16x5x5, bf16 twin (issue 17)": 37.0,
                                              "BP 16x5x5 (Sec. 3.1)": 60.0, "BP 16x7x7 (Fig. 3A)": 200.0})
    df = campaign.plan(budget_s=150 * 60, workers=2)
    by = df.set_index("cell")
    twin = by.loc["FF 16x5x5, bf16 twin (issue 17)"]
    assert twin["estimate"] == "measured" and twin["plan"] == "planned"
    assert twin["epoch_s_here"] == pytest.approx(1000 * 0.037 * step_times.EVAL_OVERHEAD["ff"])
    # the PyTorch-init cell has the same step as the twin on this CPU (compiled bf16): measured too
    assert by.loc["FF 16x5x5, PyTorch init (issue 16)", "estimate"] == "measured"
    # 200 ms a step: 200 epochs take ~11 h here, more than 3 runs of 2.5 h, but a first seed that
    # enters a claim may take up to 10 (tests/test_value.py has one that settles nothing, turned away)
    assert by.loc["BP 16x7x7 (Fig. 3A)", "left_hours_here"] > campaign.MAX_RUNS * 2.5
    assert by.loc["BP 16x7x7 (Fig. 3A)", "plan"] == "planned" and by.loc["BP 16x7x7 (Fig. 3A)", "value"] > 0
    # a short call (say, finishing a cell) still plans the cells that full runs finish
    short = campaign.plan(budget_s=30 * 60, workers=2).set_index("cell")
    assert short.loc["FF 16x5x5, fan-in init (issue 16)", "plan"] == "planned"
    monkeypatch.setitem(campaign.DECIDED, "classifier", False)
    monkeypatch.setitem(campaign.DECIDED, "init", False)
    assert campaign.plan().set_index("cell").loc["FF 16x5x5 (Table 3), seed 1", "plan"] \
        == "waits for the init and classifier decisions (issue #16)"
    order = df.dropna(subset=["order"]).sort_values("order")["cell"].tolist()
    assert order[:3] == ["FF 16x5x5, bf16 twin (issue 17)", "FF 16x5x5, PyTorch init (issue 16)",
                         "FF 16x5x5, fan-in init (issue 16)"]
    assert "BP 16x5x5 (Sec. 3.1), seed 1" in order and "BP 16x7x7 (Fig. 3A)" in order
    # a decision taken lets its cells join, in priority order (priority 1 before 2)
    monkeypatch.setitem(campaign.DECIDED, "init", True)
    monkeypatch.setitem(campaign.DECIDED, "classifier", True)
    order = campaign.plan(budget_s=150 * 60, workers=2).dropna(subset=["order"]).sort_values("order")["cell"].tolist()
    assert order.index("FF 16x5x5 (Table 3), seed 2") < order.index("FF 64x3x3, max pooling (Table 3)")


def test_within_a_priority_a_kind_takes_first_the_model_it_is_relatively_fastest_at(results_root, monkeypatch):
    _on(monkeypatch, "amx")
    _stub_steps(results_root, "avx2", {"FF 16x5x5 (Table 3, CAMs)": 90.0, "BP 16x5x5 (Sec. 3.1)": 50.0})
    _stub_steps(results_root, "amx", {"FF 16x5x5 (Table 3, CAMs)": 20.0, "BP 16x5x5 (Sec. 3.1)": 40.0})
    assert step_times.relative_cost("ff", 1) == pytest.approx(0.47) and step_times.relative_cost("bp", 1) == 0.89

    def order() -> list[str]:
        return [campaign.CELLS[i].name for i in campaign.planned(150 * 60, 2, measure=False)]

    # bf16 makes FF 4.5x faster here but BP only 1.25x: the FF seeds go first, BP waits for a slower kind
    assert order().index("FF 16x5x5 (Table 3), seed 2") < order().index("BP 16x5x5 (Sec. 3.1), seed 1")
    # the slowest kind too takes first what it is least bad at (BP: 1.25x slower, FF 4.5x)
    _on(monkeypatch, "avx2")
    assert step_times.relative_cost("ff", 1) == pytest.approx(2.12) and step_times.relative_cost("bp", 1) == 1.12
    assert order().index("BP 16x5x5 (Sec. 3.1), seed 1") < order().index("FF 16x5x5 (Table 3), seed 1")
    # ... against the list order where that is what it is relatively better at; priorities always come first
    _stub_steps(results_root, "amx", {"FF 16x5x5 (Table 3, CAMs)": 20.0, "BP 16x5x5 (Sec. 3.1)": 25.0})
    _stub_steps(results_root, "avx2", {"FF 16x5x5 (Table 3, CAMs)": 40.0, "BP 16x5x5 (Sec. 3.1)": 100.0})
    assert order().index("FF 16x5x5 (Table 3), seed 2") < order().index("BP 16x5x5 (Sec. 3.1), seed 1")
    assert order().index("BP 16x5x5 (Sec. 3.1), seed 2") < order().index("FF 64x3x3, max pooling (Table 3)")


def test_the_bf16_twin_is_planned_only_where_the_cpu_has_native_bf16(results_root, monkeypatch):
    twin = "FF 16x5x5, bf16 twin (issue 17)"
    _on(monkeypatch, "avx2")
    assert campaign.plan().set_index("cell").loc[twin, "plan"] == "needs a CPU with native bf16"
    _on(monkeypatch, "amx")
    assert campaign.plan().set_index("cell").loc[twin, "plan"] == "planned"


def test_an_unmeasured_cell_is_scaled_by_flops_from_a_measured_one_of_the_same_mode(results_root, monkeypatch):
    from ffcnn_lib.bench import step_flops
    _on(monkeypatch, "avx512-bf16")
    _stub_steps(results_root, "avx512-bf16", {"FF 16x5x5, bf16 twin (issue 17)": 40.0})
    steps = step_times.measured_steps(root=results_root)
    small = next(c for c in campaign.CELLS if c.name == "FF 16x5x5, bf16 twin (issue 17)").config()
    big = next(c for c in campaign.CELLS if c.name == "FF 32x5x5 (Fig. 4B)").config()
    seconds, source = step_times.epoch_seconds(big, 1, steps)
    assert source.startswith("scaled from ff-16-16-16-k5")
    assert seconds == pytest.approx(1000 * 0.040 * step_times.EVAL_OVERHEAD["ff"] * step_flops(big) / step_flops(small))
    bp = Config.bp()
    assert step_times.epoch_seconds(bp, 1, steps) == (pytest.approx(math.nan, nan_ok=True), "not measured")


def test_epochs_are_estimated_at_the_pace_the_recorded_sessions_trained_at_on_this_kind(results_root, monkeypatch):
    import dataclasses
    import json

    from ffcnn_lib import costs
    _on(monkeypatch, "avx2")
    name = "FF 32x5x5 (Fig. 4B)"
    _stub_steps(results_root, "avx2", {name: 100.0})
    steps = step_times.measured_steps(root=results_root)
    config = next(c for c in campaign.CELLS if c.name == name).config()
    idle, source = step_times.idle_epoch_seconds(config, 1, steps)
    assert idle == pytest.approx(1000 * 0.100 * step_times.EVAL_OVERHEAD["ff"]) and source == "measured"

    def record(seed: int, sessions: list[tuple[int, int, str, float]]) -> None:
        """An unfinished run's record: (first epoch, last, device, epoch_s as a multiple of idle)."""
        c = dataclasses.replace(config, seed=seed)
        rows = [{"epoch": e, "epoch_s": pace * idle} for first, last, _, pace in sessions for e in range(first, last + 1)]
        base = results_root / "partial"
        base.mkdir(exist_ok=True)
        (base / f"{c.run_id()}.metrics.csv").write_text(pd.DataFrame(rows).to_csv(index=False))
        (base / f"{c.run_id()}.json").write_text(json.dumps({"config": c.to_dict(), "provenance": {"segments": [
            {"epochs": [first, last], "device": device} for first, last, device, _ in sessions]}}))

    # one session on this kind: too few to say, steps timed alone stand
    record(0, [(1, 4, "cpu (avx2, 1 thread)", 1.5), (5, 8, "cpu (amx, 1 thread)", 0.5)])
    assert step_times.campaign_pace(threads=1, root=results_root) == (1.0, 1)
    assert step_times.epoch_seconds(config, 1, steps, root=results_root) == (pytest.approx(idle), "measured")
    # three: the median session's pace; sessions too short, of another thread count or kind left out
    record(1, [(1, 4, "cpu (avx2, 1 thread)", 1.2), (5, 6, "cpu (avx2, 1 thread)", 9.0),
               (7, 10, "cpu (avx2, 2 threads)", 9.0), (11, 20, "cpu (avx2, 1 thread)", 1.4)])
    assert step_times.campaign_pace(threads=1, root=results_root) == (1.4, 3)
    assert step_times.campaign_pace(threads=2, root=results_root) == (1.0, 0)  # no 2-thread step measured
    assert step_times.campaign_pace("amx", 1, results_root) == (1.0, 0)  # its step is not measured there
    assert step_times.epoch_seconds(config, 1, steps, root=results_root)[0] == pytest.approx(1.4 * idle)
    # the plan and the cost cards read the same paced figure
    row = campaign.plan(budget_s=150 * 60, workers=2, judge=value.Judge.empty()).set_index("cell").loc[name]
    assert row["epoch_s_here"] == pytest.approx(1.4 * idle)
    assert costs.cpu_estimates(config, results_root)["avx2"][0] == pytest.approx(config.epochs * 1.4 * idle / 3600)


def test_measuring_a_cell_stores_its_step_time_under_this_machine_kind(results_root, monkeypatch):
    import json
    _on(monkeypatch, "avx2")
    monkeypatch.setattr("ffcnn_lib.bench.time_steps", lambda *a, **k: 0.05)
    ms = step_times.measure_step(Config.bp(), 1, results_root)
    assert ms == pytest.approx(50.0)
    record = json.loads(step_times.steps_path("avx2", results_root).read_text())
    assert record["kind"] == "avx2" and record["cpu"]["model"] == "stub"
    assert record["steps"][step_times.step_key(Config.bp(), 1)]["ms_per_step"] == 50.0


def test_cli_campaign_gives_the_workers_this_machines_plan(results_root, monkeypatch, capsys):
    started = _fake_workers(monkeypatch)
    _on(monkeypatch, "avx2")
    monkeypatch.setattr(step_times, "measure_step", lambda *a, **k: 10.0)
    assert main(["campaign", "--workers", "2", "--budget-minutes", "5"]) == 3
    cells = started[0][started[0].index("--cells") + 1].split(",")
    names = [campaign.CELLS[int(i)].name for i in cells]
    assert "FF 16x5x5, bf16 twin (issue 17)" not in names  # no native bf16 on this (stub) CPU
    assert names[0] == "FF 16x5x5, PyTorch init (issue 16)"
    assert "avx2" in capsys.readouterr().out


def test_no_step_is_measured_while_a_campaign_run_trains_here(results_root, monkeypatch, capsys):
    calls = []
    monkeypatch.setattr(step_times, "measure_step", lambda *a, **k: calls.append(a) or 10.0)
    cell = campaign.CELLS[0]
    with claim(f"campaign-{cell.config().run_id()}") as mine:  # as a training worker holds it
        assert mine and campaign.training_now() == [cell.config().run_id()]
        campaign.plan(measure=True)
    assert not calls and "not measuring step times" in capsys.readouterr().out
    assert campaign.training_now() == []
    campaign.plan(measure=True, max_measure=1)
    assert len(calls) == 1


# --- estimates from measurements of the same code path (issue #25) ---------------------------------

def test_a_step_is_keyed_by_the_code_path_it_takes_on_each_kind(monkeypatch):
    from ffcnn_lib import train
    monkeypatch.setattr(train, "BP_CPU_BF16", True)  # BP's default once its bf16 twin has matched
    bp, ff = Config.bp(), Config(filters=16, kernel=5)
    assert step_times.step_key(bp, 1, "avx2") == "bp-16-16-16-k5-b50 eager fp32 1t"
    assert step_times.step_key(bp, 1, "amx") == step_times.step_key(bp, 1, "avx512-bf16") == "bp-16-16-16-k5-b50 eager bf16 1t"
    assert step_times.step_key(Config.bp(precision="fp32"), 2, "amx") == "bp-16-16-16-k5-b50 eager fp32 2t"
    assert step_times.step_key(ff, 1, "avx2") == "ff-16-16-16-k5-b50 compiled fp32 1t"
    assert step_times.step_key(ff, 1, "amx") == "ff-16-16-16-k5-b50 compiled bf16 1t"
    # where a pooled network is read changes its step (goodness on the pooled maps: 1.5x at 16x5x5)
    pooled = ff.replace(max_pool=True)
    assert step_times.step_key(pooled.replace(goodness_maps="pooled", classifier_maps="pooled"), 1, "amx") \
        == "ff-16-16-16-k5-b50-pool-gpool-cpool compiled bf16 1t"
    assert step_times.step_key(pooled.replace(classifier_maps="pooled"), 1, "amx") == "ff-16-16-16-k5-b50-pool-cpool compiled bf16 1t"


def test_bp_on_a_bf16_kind_is_never_estimated_from_a_step_of_another_code_path(results_root, monkeypatch):
    from ffcnn_lib import train
    monkeypatch.setattr(train, "BP_CPU_BF16", True)  # BP's default once its bf16 twin has matched
    _on(monkeypatch, "amx")
    stub = {step_times.step_key(Config.bp(precision="fp32"), 1): {"ms_per_step": 27.0, "gflop_per_step": 5.1}}
    assert step_times.step_estimate(Config.bp(), 1, stub) == (pytest.approx(math.nan, nan_ok=True), "not measured")
    assert step_times.step_estimate(Config.bp(precision="fp32"), 1, stub) == (27.0, "measured")


def test_the_estimate_rule_holds_a_measured_step_and_flags_one_scaled_by_flops_too_far(results_root, monkeypatch):
    _on(monkeypatch, "avx512-bf16")
    _stub_steps(results_root, "avx512-bf16", {"BP 16x5x5, bf16 twin (issue 25)": 20.0,
                                              "FF 16x5x5, bf16 twin (issue 17)": 40.0})
    names = ["BP 16x5x5, bf16 twin (issue 25)", "FF 16x5x5 (Table 3), seed 1", "FF 32x5x5 (Fig. 4B)"]
    cells = [next(i for i, c in enumerate(campaign.CELLS) if c.name == n) for n in names]
    fresh = {names[0]: 25.0, names[1]: 52.0, names[2]: 100.0}  # stub timings of 50 steps, ms/step
    by_key = {step_times.step_key(campaign.CELLS[i].config(), 1): fresh[campaign.CELLS[i].name] for i in cells}
    df = campaign.check_estimates(cells, workers=2, timer=lambda config, threads: by_key[step_times.step_key(config, threads)])
    by = df.set_index("cell")
    # 20 against 25 ms: 20 % off, within 30 %; 40 against 52: 23 % off; both measured on their own code path
    assert by.loc[names[0], "estimate"] == "measured" and by.loc[names[0], "within"]
    assert by.loc[names[1], "estimate"] == "measured" and by.loc[names[1], "within"]
    # 32 filters scaled by FLOPs from 16 (about 4x): 160 ms against a fresh 100 ms is 60 % off
    assert by.loc[names[2], "estimate"].startswith("scaled from ff-16-16-16-k5") and not by.loc[names[2], "within"]
    assert by.loc[names[2], "ratio"] == pytest.approx(by.loc[names[2], "estimate_ms"] / 100.0)
    # the rule itself: within 30 % of the fresh timing, either side
    assert step_times.estimate_within(130.0, 100.0) and step_times.estimate_within(70.0, 100.0)
    assert not step_times.estimate_within(131.0, 100.0) and not step_times.estimate_within(69.0, 100.0)
    assert not step_times.estimate_within(math.nan, 100.0)  # nothing measured is no estimate


def test_the_bp_twin_is_the_seed0_bp_run_in_bf16_and_only_bf16_kinds_plan_it(results_root, monkeypatch):
    twin = next(c for c in campaign.CELLS if c.name == "BP 16x5x5, bf16 twin (issue 25)")
    assert twin.config() == Config.bp(precision="bf16") and twin.needs == "bf16" and twin.priority == 1
    # appended: a running campaign names cells by position, and the last it could name is cell 25
    assert campaign.CELLS.index(twin) > [c.name for c in campaign.CELLS].index("FF 16x3x3 (Fig. 4B)") == 25
    _on(monkeypatch, "avx2")
    assert campaign.plan().set_index("cell").loc[twin.name, "plan"] == "needs a CPU with native bf16"
    _on(monkeypatch, "avx512-bf16")
    assert campaign.plan().set_index("cell").loc[twin.name, "plan"] == "planned"


def test_table3s_widest_pooled_cell_is_appended_with_its_seeds_and_enters_the_pooling_claim(results_root, monkeypatch):
    names = [c.name for c in campaign.CELLS]
    first = names.index("FF 32-64-128 7x7, max pooling (Table 3)")
    # appended after every cell the campaigns before it could name (0-93), its further seeds after it
    assert names[93] == "FF 64x3x3, label set 2 (Table 2), seed 2" and first == 94
    assert names[first + 1:first + 3] == [f"FF 32-64-128 7x7, max pooling (Table 3), seed {s}" for s in (1, 2)]
    cell = campaign.CELLS[first]
    c = cell.config()
    assert (c.filters, c.kernel, c.max_pool, c.batch_size, c.seed) == ((32, 64, 128), 7, True, 50, 0)
    assert campaign.reported_val(cell) == 98.54 and cell.priority == 2
    assert [value.claim_label(x.text) for x in value.entered(cell.paper(), ("table3",))] \
        == ["Max pooling lowers accuracy [Table 3]"]
    # its unpooled twin is out of a CPU's reach; the pooled cell alone starts the pair and gives the
    # reported number its first evidence, so it is planned as a first seed that settles something
    _on(monkeypatch, "avx2")
    row = campaign.plan().set_index("cell").loc[cell.name]
    assert row["tier"] == 1 and row["value"] == value.FIRST + value.NUMBER
    assert row["settles"] == "starts 'Max pooling lowers accuracy [Table 3]'; gives a reported number its first evidence"


def test_cli_check_estimates_times_fresh_steps_and_fails_when_an_estimate_is_off(results_root, monkeypatch, capsys):
    _on(monkeypatch, "avx512-bf16")
    _stub_steps(results_root, "avx512-bf16", {"BP 16x5x5, bf16 twin (issue 25)": 20.0})
    twin = [c.name for c in campaign.CELLS].index("BP 16x5x5, bf16 twin (issue 25)")
    monkeypatch.setattr(step_times, "time_step_ms", lambda config, threads, steps: 22.0)
    assert main(["campaign", "--check-estimates", "--cells", str(twin)]) == 0
    assert "BP 16x5x5, bf16 twin (issue 25)" in capsys.readouterr().out
    monkeypatch.setattr(step_times, "time_step_ms", lambda config, threads, steps: 40.0)  # estimate 50 % off
    assert main(["campaign", "--check-estimates", "--cells", str(twin)]) == 1
    assert main(["campaign", "--check-estimates", "--cells", "999"]) == 2
    assert main(["campaign", "--store"]) == 2  # --store keeps what --check-estimates times
    key = step_times.step_key(campaign.CELLS[twin].config(), 1)
    assert step_times.measured_steps("avx512-bf16", results_root)[key]["ms_per_step"] == 20.0  # nothing stored


def test_check_estimates_stores_fresh_timings_only_with_the_cpu_free_of_campaign_runs(results_root, monkeypatch, capsys):
    _on(monkeypatch, "avx512-bf16")
    _stub_steps(results_root, "avx512-bf16", {"BP 16x5x5, bf16 twin (issue 25)": 20.0})
    twin = [c.name for c in campaign.CELLS].index("BP 16x5x5, bf16 twin (issue 25)")
    key = step_times.step_key(campaign.CELLS[twin].config(), 1)
    monkeypatch.setattr(step_times, "time_step_ms", lambda config, threads, steps: 40.0)
    monkeypatch.setattr(campaign, "training_now", lambda root=None: ["ff-64-64-64-k3"])
    assert main(["campaign", "--check-estimates", "--store", "--cells", str(twin)]) == 1
    assert "not storing step times while 1 campaign run(s) train here" in capsys.readouterr().err
    assert step_times.measured_steps("avx512-bf16", results_root)[key]["ms_per_step"] == 20.0
    monkeypatch.setattr(campaign, "training_now", lambda root=None: [])
    # the stale 20 ms is 50 % off the fresh 40 ms: reported, then replaced by the fresh timing
    assert main(["campaign", "--check-estimates", "--store", "--cells", str(twin)]) == 1
    assert step_times.measured_steps("avx512-bf16", results_root)[key]["ms_per_step"] == 40.0
    assert main(["campaign", "--check-estimates", "--cells", str(twin)]) == 0  # now within


def test_the_plan_measures_first_the_cells_it_takes_first(results_root, monkeypatch):
    _on(monkeypatch, "avx512-bf16")
    timed = []
    monkeypatch.setattr(step_times, "measure_step", lambda config, threads, root=None: timed.append(config) or 10.0)
    late = campaign.Cell("FF 16x3x3, listed first", "fig4b", {"filters": (16, 16, 16), "kernel": 3}, priority=4,
                         reason="x")
    early = campaign.Cell("BP 16x5x5, listed second", "bp", priority=1, reason="x")
    campaign.plan(cells=[late, early], measure=True, max_measure=1)
    assert timed == [early.config()]  # priority 1 before 4, whatever the list order
    campaign.plan(cells=[late, early], measure=True, max_measure=2)
    assert timed[1:] == [early.config(), late.config()]  # the stub stored nothing: both unmeasured still


def test_a_step_is_scaled_from_a_network_pooled_alike_where_one_was_measured(results_root, monkeypatch):
    _on(monkeypatch, "avx512-bf16")
    _stub_steps(results_root, "avx512-bf16", {"FF 16x5x5 (Table 3, CAMs)": 40.0, "FF 64x3x3, max pooling (Table 3)": 39.5})
    steps = step_times.measured_steps(root=results_root)
    pooled = next(c for c in campaign.CELLS if c.name == "FF 16-32-64 7x7, max pooling (Table 3)").config()
    plain = next(c for c in campaign.CELLS if c.name == "FF 16x3x3 (Fig. 4B)").config()
    assert step_times.step_estimate(pooled, 1, steps)[1] == "scaled from ff-64-64-64-k3-b50-pool"
    assert step_times.step_estimate(plain, 1, steps)[1] == "scaled from ff-16-16-16-k5-b50"
