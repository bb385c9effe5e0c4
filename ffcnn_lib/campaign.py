"""The CPU campaign: the paper's small networks at its exact settings, trained on a laptop-class CPU.

Several cells of the paper use networks small enough for two CPU cores at the paper's settings (200
epochs, batch 50, the full 50,000/10,000 split, Adam 5e-5 for FF and 1e-3 for BP). :data:`CELLS`
lists them in order of value; each is the ``paper``-profile run (seed 0 first) of one cell of an
artifact in :data:`~ffcnn_lib.sweeps.ARTIFACTS`, so the book picks it up as a paper-profile number.
A few cells that no CPU reaches at 200 epochs are read at the ``short`` profile instead (the paper's
widths and data, 20 epochs; ``Cell.profile``): indicative readings, which a claim reads only where
its paper-settings cells give no comparison, so they come after every first seed at the paper's settings.

A 16-filter run takes hours on two cores, longer than a work session may train. So
``python -m ffcnn_lib campaign --budget-minutes 150`` (run it under ``nice``) trains the first
unfinished cells until its budget is spent, stopping at an epoch boundary; the resume point
(``results/partial/<run id>.pt``, a few MB) sits beside the per-epoch record and both are
committed, so the next session, on any machine, resumes where this one stopped. With
``--workers 2`` two processes of one thread each train the first two unfinished cells side by side
(each claims its cell, :func:`~ffcnn_lib.experiments.claim`), which gets more out of two cores than
one process with two threads.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from . import machine, step_times, value
from .config import Config
from .experiments import UNRECORDED, claim, load, load_partial, results_dir, run_device, run_or_load, run_precision
from .sweeps import ARTIFACTS, PROFILE, cell_key


# Decisions of issue #16 that the FF cells at the paper's settings wait for: a cell trained before
# its defaults are decided could be retired by the decision. Set one to True where chapter 14
# records the decision (with its date and evidence); the cells waiting for it then join the plan.
DECIDED: dict[str, bool] = {
    "init": True,         # 2026-12-02 (chapter 14): fan-in N(0, 1/(C_in k^2)), from three 200-epoch runs
    "classifier": True,   # 2026-12-02 (chapter 14): the image without a label, no weight decay (a probe)
}
FF_DECISIONS = ("init", "classifier")


@dataclass(frozen=True)
class Cell:
    """One cell of an artifact, found by the fields that single it out (e.g. ``filters``, ``kernel``),
    with why the campaign trains it and when it may.

    ``priority`` orders the plan (1 first, see :data:`CELLS`); ``needs`` names hardware the cell
    makes sense on only (``"bf16"``: a CPU with native bf16); ``waits`` names the decisions of
    :data:`DECIDED` it must not start before; ``profile`` is the one it trains under (``short``:
    an indicative reading, issue #31 f)."""

    name: str
    artifact: str
    match: dict = field(default_factory=dict)
    seed: int = 0
    also: tuple[str, ...] = ()  # other artifacts that hold the same run (the book shows it there too)
    change: dict = field(default_factory=dict)  # fields changed from the artifact's config (an investigation)
    priority: int = 4
    reason: str = ""
    needs: str = ""
    waits: tuple[str, ...] = ()
    profile: str = "paper"

    def paper(self) -> Config:
        """The cell's config at the paper's settings, as the artifact defines it (one source of truth)."""
        found = [c for c in ARTIFACTS[self.artifact]()
                 if all(getattr(c, k) == (tuple(v) if isinstance(v, list) else v) for k, v in self.match.items())]
        if len(found) != 1:
            raise LookupError(f"{self.artifact}: {len(found)} configs match {self.match}; expected one")
        return found[0].replace(**self.change) if self.change else found[0]

    def config(self, profile: str | None = None) -> Config:
        """The run: the cell's profile (the paper's: 200 epochs, full data) for its seed; ``profile``
        overrides it (tests: ``smoke``)."""
        return PROFILE[profile or self.profile].apply(self.paper(), self.seed)

    def blocked(self) -> str:
        """Why the cell may not start here and now ("" if it may): hardware or a pending decision."""
        if self.needs == "bf16" and machine.kind() not in machine.NATIVE_BF16:
            return "needs a CPU with native bf16"
        pending = [d for d in self.waits if not DECIDED.get(d, False)]
        return f"waits for the {' and '.join(pending)} decision{'s' if len(pending) > 1 else ''} (issue #16)" \
            if pending else ""


def _w(filters: int) -> tuple[int, int, int]:
    return (filters,) * 3


# The investigation's runs change one thing each against the stored seed-0 FF 16x5x5 run, so they
# keep the classifier input it was trained with (the neutral input, our default until 2026-12-02).
_AS_STORED = {"classifier_input": "neutral"}
_16x5 = {"filters": _w(16), "kernel": 5, "max_pool": False}
_16x5_pool = {"filters": _w(16), "kernel": 5, "max_pool": True}
_WHY_16 = "issue #16: the 16x5x5 family (Table 3, BP baseline) with three seeds under the decided defaults"
_WHY_CHEAP = "issue #17: a reported cell that pooling makes cheap"
_WHY_FAST = "issue #17: a reported 32- or 64-filter cell, within reach of machines with native bf16"
_WHY_POINTS = "Fig. 3A / 4B: a 16-filter point (plot points only, no reported number)"
_WHY_26 = ("issue #26: the 2x2x2 factorial at 16x5x5 (init x classifier input x max pooling), seed 0 at the paper's "
           "settings: does any set of unstated choices give both of Table 3's numbers (98.16 %, 97.57 %)?")
_WHY_26_MAPS = ("issue #26: where a pooled network is read (goodness with its threshold, and the linear classifier: "
                "each convolution's output or the pooled maps), pooled 16x5x5 under the decided defaults, seed 0")
_WHY_26_SEEDS = ("issue #26: seeds 1 and 2 of the configuration that the study's rule found closest to Table 3's "
                 "pair (98.16 %, 97.57 %), so that both of its numbers get the summary page's verdict")
_WHY_FASHION = ("issue #27: the paper's method beyond MNIST, on Fashion-MNIST at its settings (the FF - BP gap "
                "beside MNIST's at the same network)")
_WHY_SHORT = "issue #31 f: an indicative reading (short profile: the paper's widths and data, 20 epochs, one seed) of "
_FASHION = (("FF 16x5x5", {"model": "ff", "max_pool": False}), ("FF 16x5x5, max pooling", {"model": "ff", "max_pool": True}),
            ("BP 16x5x5", {"model": "bp"}))

# The plan as data (issue #17): priority 1, the investigation of issue #16 (the bf16 twin first
# where the CPU has bf16: whether bf16 runs can stand beside fp32 ones) and the seeds of the 16x5x5
# family; 2, reported cells that max pooling makes cheap; 3, reported 32- and 64-filter cells for
# fast machines; 4, the 16-filter points of Figs 3A and 4B; 5 and 6, beyond the paper: Fashion-MNIST
# (issue #27), seed 0 of each network, then seeds 1-2. Within a priority, list order. Which
# cells a machine takes is decided by their measured cost there (:func:`plan`). Finished cells stay
# listed: their status and curves are shown.
CELLS: list[Cell] = [
    Cell("FF 16x5x5, bf16 twin (issue 17)", "cam", change={"precision": "bf16", "init": "loewe", **_AS_STORED}, priority=1, needs="bf16",
         reason="issue #17: the seed-0 FF 16x5x5 run again in bf16 on the fast path; its curve against the fp32 "
                "run decides whether CPU bf16 runs stand beside fp32 ones"),
    Cell("FF 16x5x5, PyTorch init (issue 16)", "cam", change={"init": "torch", **_AS_STORED}, priority=1,
         reason="issue #16 step 2: the init decision at full length (PyTorch's default)"),
    Cell("FF 16x5x5, fan-in init (issue 16)", "cam", change={"init": "fanin", **_AS_STORED}, priority=1,
         reason="issue #16 step 2: the init decision at full length (N(0, 1/(C_in k^2)))"),
    Cell("FF 16x5x5, layer 1 in the loss (issue 16)", "cam", change={"include_first_layer": True}, priority=1,
         waits=("init",), reason="issue #16 step 3: Fig. 9's cell at 16 filters, under the decided init"),
    Cell("BP 16x5x5 (Sec. 3.1)", "bp", priority=1, reason=_WHY_16),
    Cell("FF 16x5x5 (Table 3, CAMs)", "cam", also=("table3", "fig4b"), priority=1, waits=FF_DECISIONS, reason=_WHY_16),
    Cell("FF 16x5x5, max pooling (Table 3)", "table3", _16x5_pool, priority=1, waits=FF_DECISIONS, reason=_WHY_16),
    Cell("BP 16x5x5 (Sec. 3.1), seed 1", "bp", seed=1, priority=1, reason=_WHY_16),
    Cell("BP 16x5x5 (Sec. 3.1), seed 2", "bp", seed=2, priority=1, reason=_WHY_16),
    Cell("FF 16x5x5 (Table 3), seed 1", "table3", _16x5, seed=1, also=("fig4b",), priority=1, waits=FF_DECISIONS,
         reason=_WHY_16),
    Cell("FF 16x5x5 (Table 3), seed 2", "table3", _16x5, seed=2, also=("fig4b",), priority=1, waits=FF_DECISIONS,
         reason=_WHY_16),
    Cell("FF 16x5x5, max pooling (Table 3), seed 1", "table3", _16x5_pool, seed=1, priority=1, waits=FF_DECISIONS,
         reason=_WHY_16),
    Cell("FF 16x5x5, max pooling (Table 3), seed 2", "table3", _16x5_pool, seed=2, priority=1, waits=FF_DECISIONS,
         reason=_WHY_16),
    Cell("FF 64x3x3, max pooling (Table 3)", "table3", {"filters": _w(64), "kernel": 3, "max_pool": True},
         priority=2, waits=FF_DECISIONS, reason=_WHY_CHEAP + " (reported 98.18 %)"),
    Cell("FF 16-32-64 7x7, max pooling (Table 3)", "table3", {"filters": (16, 32, 64), "max_pool": True},
         priority=2, waits=FF_DECISIONS, reason=_WHY_CHEAP + " (reported 98.22 %)"),
    Cell("FF 32x3x3, label set 1 (Table 2)", "table2", {"filters": _w(32), "kernel": 3, "label_set": "set1"},
         also=("fig4b",), priority=3, waits=FF_DECISIONS, reason=_WHY_FAST + " (reported 98.34 %)"),
    Cell("FF 32x3x3, label set 2 (Table 2)", "table2", {"filters": _w(32), "kernel": 3, "label_set": "set2"},
         priority=3, waits=FF_DECISIONS, reason=_WHY_FAST + " (reported 98.36 %)"),
    Cell("FF 64x3x3 (Table 3)", "table3", {"filters": _w(64), "kernel": 3, "max_pool": False},
         also=("table2", "fig4a", "fig4b"),
         priority=3, waits=FF_DECISIONS, reason=_WHY_FAST + " (reported 98.30 %)"),
    Cell("FF 16-32-64 7x7 (Table 3)", "table3", {"filters": (16, 32, 64), "max_pool": False},
         priority=3, waits=FF_DECISIONS, reason=_WHY_FAST + " (reported 98.47 %)"),
    Cell("FF 32x7x7 batch 25, label set 1 (Table 2)", "table2", {"filters": _w(32), "kernel": 7, "label_set": "set1"},
         priority=3, waits=FF_DECISIONS, reason=_WHY_FAST + " (reported 98.72 %)"),
    Cell("FF 32x7x7 batch 25, label set 2 (Table 2)", "table2", {"filters": _w(32), "kernel": 7, "label_set": "set2"},
         priority=3, waits=FF_DECISIONS, reason=_WHY_FAST + " (reported 98.53 %)"),
    Cell("FF 32x5x5 (Fig. 4B)", "fig4b", {"filters": _w(32), "kernel": 5}, priority=3, waits=FF_DECISIONS,
         reason="issue #17: Fig. 4B's 32-filter points (plot points)"),
    Cell("FF 32x7x7 (Fig. 3A, 4B)", "fig4b", {"filters": _w(32), "kernel": 7}, also=("fig3a",), priority=3,
         waits=FF_DECISIONS, reason="issue #17: Fig. 4B's 32-filter points (plot points)"),
    Cell("FF 16x7x7 (Fig. 3A, 4B)", "fig3a", {"model": "ff", "filters": _w(16)}, also=("fig4b",), priority=4,
         waits=FF_DECISIONS, reason=_WHY_POINTS),
    Cell("BP 16x7x7 (Fig. 3A)", "fig3a", {"model": "bp", "filters": _w(16)}, priority=4, reason=_WHY_POINTS),
    Cell("FF 16x3x3 (Fig. 4B)", "fig4b", {"filters": _w(16), "kernel": 3}, priority=4, waits=FF_DECISIONS,
         reason=_WHY_POINTS),
    # Beyond the paper (issue #27), after issue #31's cells a-d (priorities up to 4): the method on
    # Fashion-MNIST, one seed of each network (5) before the second and third (6). Appended only:
    # a running campaign names cells by their position in this list.
    *[Cell(f"{name}, Fashion-MNIST (issue 27)" + (f", seed {seed}" if seed else ""), "fashion", match, seed=seed,
           priority=5 if seed == 0 else 6, waits=FF_DECISIONS if match["model"] == "ff" else (),
           reason=_WHY_FASHION + (" (seed 0 of each network first)" if seed == 0 else " (a further seed)"))
      for seed in (0, 1, 2) for name, match in _FASHION],
    # Issue #25 (appended: a running campaign names cells by their position here): the seed-0 BP
    # 16x5x5 run again in bf16 on BP's CPU fast path, only where the CPU has native bf16.
    Cell("BP 16x5x5, bf16 twin (issue 25)", "bp", change={"precision": "bf16"}, priority=1, needs="bf16",
         reason="issue #25: the seed-0 BP 16x5x5 run again in bf16 on BP's CPU fast path (autocast, "
                "channels_last); beside the three fp32 seeds it decides whether BP may train in bf16"),
    # Issue #26 (appended: a running campaign names cells by their position here), priority 1 because
    # they are cheap (a pooled 16x5x5 takes about 35 min at one thread on a bf16-native CPU) and decide
    # which configuration gets three seeds: first the three missing cells of the factorial (init x
    # classifier input x pooling; the other five exist), then the three readings of a pooled network.
    Cell("FF 16x5x5, Loewe init, classifier on the image (issue 26)", "table3", _16x5,
         change={"init": "loewe"}, priority=1, reason=_WHY_26),
    Cell("FF 16x5x5, max pooling, Loewe init, classifier on the image (issue 26)", "table3", _16x5_pool,
         change={"init": "loewe"}, priority=1, reason=_WHY_26),
    Cell("FF 16x5x5, max pooling, fan-in init, neutral classifier input (issue 26)", "table3", _16x5_pool,
         change={"classifier_input": "neutral"}, priority=1, reason=_WHY_26),
    Cell("FF 16x5x5, max pooling, goodness on the pooled maps (issue 26)", "table3", _16x5_pool,
         change={"goodness_maps": "pooled"}, priority=1, reason=_WHY_26_MAPS),
    Cell("FF 16x5x5, max pooling, classifier on the pooled maps (issue 26)", "table3", _16x5_pool,
         change={"classifier_maps": "pooled"}, priority=1, reason=_WHY_26_MAPS),
    Cell("FF 16x5x5, max pooling, goodness and classifier on the pooled maps (issue 26)", "table3", _16x5_pool,
         change={"goodness_maps": "pooled", "classifier_maps": "pooled"}, priority=1, reason=_WHY_26_MAPS),
    # Issue #31 (appended: a running campaign names cells by their position here): the cells its
    # list d and e name that were missing: Fig. 3A's BP point at 32 filters, Table 2's 64x3x3 set 2.
    Cell("BP 32x7x7 (Fig. 3A)", "fig3a", {"model": "bp", "filters": _w(32)}, priority=3,
         reason="issue #31 d: Fig. 3A's BP point at 32 filters (with 16x7x7: whether BP falls with width)"),
    Cell("FF 64x3x3, label set 2 (Table 2)", "table2", {"filters": _w(64), "kernel": 3, "label_set": "set2"},
         priority=3, waits=FF_DECISIONS, reason=_WHY_FAST + " (reported 98.22 %; issue #31 e)"),
    # Issue #31 f (appended: a running campaign names cells by their position here): indicative
    # readings at the short profile (the paper's widths and data, 20 epochs, one seed) of sweeps no
    # 2-core CPU trains at 200 epochs. Priority 5, beside Fashion-MNIST's first seeds: after every
    # paper-settings cell a verdict reads, before any further seed nothing hinges on.
    *[Cell(f"FF 32x7x7 batch {b}, K = {K:g} (Fig. 5, short profile)", "fig5",
           {"filters": _w(32), "batch_size": b, "K": K}, priority=5, waits=FF_DECISIONS, profile="short",
           reason=_WHY_SHORT + "Fig. 5's K grid at 32 filters (the paper: best K about 0.2, for batches 25 and 50)")
      for b in (50, 25) for K in (0.1, 0.2, 0.35, 0.5, 0.65, 0.8)],
    *[Cell(f"FF 64x3x3 batch {b} (Fig. 4A, short profile)", "fig4a", {"kernel": 3, "batch_size": b}, priority=5,
           waits=FF_DECISIONS, profile="short",
           reason=_WHY_SHORT + "Fig. 4A's batch grid at its cheapest filter size (the paper sees smaller batches "
                               "win for 5x5 and 7x7, and says nothing of 3x3)")
      for b in (10, 25, 50, 100)],
    # Issue #26's decision (appended: a running campaign names cells by their position here): by the
    # rule fixed on 2026-12-04 (chapter 14), applied on 2026-12-05 once all seven seed-0 pairs had
    # finished, "Loewe, image" comes closest to Table 3's pair; it gets seeds 1 and 2 of both networks.
    # Priority 1: the study's last runs. The pooled ones first (0.6 h each on one avx512-bf16 thread,
    # against 2.4 h for an unpooled one), so that a session finishes what it starts.
    *[Cell(f"FF 16x5x5{', max pooling' if pool else ''}, Loewe init, classifier on the image (issue 26), seed {seed}",
           "table3", _16x5_pool if pool else _16x5, seed=seed, change={"init": "loewe"}, priority=1,
           reason=_WHY_26_SEEDS)
      for pool in (True, False) for seed in (1, 2)],
]
# Issue #31 step 2 (appended: a running campaign names cells by their position here): seeds 1 and 2
# of every first-seed cell at the paper's settings that has none yet, so that the ranking can add a
# seed where a verdict hinges on one (tier 2, ranked with the first seeds by worth per hour: a claim
# reads "inconclusive", or a reported number lies within 3 standard errors of the paper's). Where
# nothing hinges they wait last, after Fashion-MNIST's first seeds and the short-profile readings
# (priority 6).
def _further_seeds(firsts: list[Cell], have: set[Config]) -> list[Cell]:
    """Seeds 1 and 2 (seed by seed) of the first-seed paper-settings cells among ``firsts`` whose run is
    not in ``have`` already: issue #31's further seeds, priority 6 unless a verdict hinges on them."""
    return [Cell(f"{c.name}, seed {seed}", c.artifact, c.match, seed=seed, also=c.also, priority=6, waits=c.waits,
                 reason=f"issue #31: a further seed of {c.name}, trained early only where a verdict hinges on it")
            for seed in (1, 2) for c in firsts
            if c.seed == 0 and not c.change and c.profile == "paper" and c.artifact != "fashion"
            and PROFILE["paper"].apply(c.paper(), seed) not in have]


CELLS += _further_seeds(list(CELLS), {c.config() for c in CELLS if c.seed > 0})
# Table 3's one pooled cell that issue #31's list left out (appended, with its further seeds: a running
# campaign names cells by their position here): 32-64-128 7x7 with max pooling. Its unpooled twin
# (about 240 h on an avx2 CPU) stays out of a CPU's reach, but pooling after layers 1 and 2 makes it
# cheap (about 40 M multiply-adds an image, against 99 M for the unpooled 16-32-64), and it gives the
# reported 98.54 % its first evidence: whether pooled networks land above their reported numbers at the
# paper's widest pooled cell too, as at the three finished ones.
_LATE = [Cell("FF 32-64-128 7x7, max pooling (Table 3)", "table3", {"filters": (32, 64, 128), "max_pool": True},
              priority=2, waits=FF_DECISIONS, reason=_WHY_CHEAP + " (reported 98.54 %)")]
CELLS += _LATE + _further_seeds(_LATE, set())


def checkpoint_dir(root: Path | None = None) -> Path:
    """Where campaign runs keep their resume points: committed, beside their per-epoch records."""
    return (root or results_dir()) / "partial"


# --- the plan: which cells this machine trains, in which order (issues #17, #31) -----------------

MAX_RUNS = 3           # a cell joins this machine's plan only if it can finish within this many campaign runs,
MAX_RUNS_CLAIM = 10    # or this many for a first seed that enters the paper's claims (issue #31): it resumes
                       # across sessions and machine kinds (faster ones finish it sooner), and the ranking
                       # by value per hour already puts it after the cheaper cells that settle as much
DEFAULT_BUDGET_S, DEFAULT_WORKERS = 150 * 60.0, 2  # make campaign's
FRESH_STEPS = 50  # what --check-estimates times of each cell, against its estimate


def threads_per_worker(workers: int) -> int:
    return max(1, machine.capabilities()["cores"] // max(1, workers))


def check_estimates(cells: list[int] | None = None, workers: int = DEFAULT_WORKERS, root: Path | None = None,
                    steps: int = FRESH_STEPS, timer=None, store: bool = False) -> pd.DataFrame:
    """Each planned cell's estimate (:func:`~ffcnn_lib.step_times.step_estimate`) against a fresh
    timing of ``steps`` steps of it here (``timer(config, threads) -> ms``, default
    :func:`~ffcnn_lib.step_times.time_step_ms`); ``cells``: numbers in :data:`CELLS` (default: this
    machine's plan). Run it with the CPU otherwise idle. ``store``: keep each fresh timing as this
    kind's measurement of its step. A step is measured once, when a cell is first planned on a kind,
    and read ever after, so a timing taken beside a busy CPU or before the code got faster stays
    wrong until replaced (2026-12-07, avx2: FF 64x3x3, timed at 689 ms a step on 2026-12-02, took
    385 ms in a fresh idle timing). Refused while a campaign run trains here."""
    if store and (busy := training_now(root)):
        raise RuntimeError(f"not storing step times while {len(busy)} campaign run(s) train here "
                           f"({', '.join(busy)}): they would slow the timings; rerun when they have stopped")
    threads = threads_per_worker(workers)
    timer = timer or (lambda config, t: step_times.time_step_ms(config, t, steps))
    known = step_times.measured_steps(root=root)
    rows = []
    for i in planned(workers=workers, root=root, measure=False) if cells is None else cells:
        config = CELLS[i].config()
        est, source = step_times.step_estimate(config, threads, known)
        fresh = timer(config, threads)
        if store:
            step_times.store_step(config, threads, fresh, root)
        rows.append({"#": i, "cell": CELLS[i].name, "step": step_times.step_key(config, threads), "estimate_ms": est,
                     "estimate": source, "fresh_ms": fresh, "ratio": est / fresh,
                     "within": bool(step_times.estimate_within(est, fresh))})
    return pd.DataFrame(rows)


def training_now(root: Path | None = None) -> list[str]:
    """The campaign cells some process is training at this moment (their claims are held): while
    any is, step times measured here would be slowed by it and must not be recorded."""
    busy = []
    for path in sorted(((root or results_dir()) / "checkpoints").glob("campaign-*.claim")):
        with claim(path.stem, root) as mine:
            if not mine:
                busy.append(path.stem.removeprefix("campaign-"))
    return busy


def plan(budget_s: float = DEFAULT_BUDGET_S, workers: int = DEFAULT_WORKERS, cells: list[Cell] | None = None,
         root: Path | None = None, measure: bool = False, max_measure: int = 4,
         profile: str | None = None, judge: value.Judge | None = None) -> pd.DataFrame:
    """Which cells this machine trains, in order: one row per cell with its estimated epoch time
    and hours left here, where the estimate comes from, and ``plan``: "planned", "finished", or
    why not (hardware, a pending decision, too slow to finish within :data:`MAX_RUNS` campaign
    runs of ``budget_s``, :data:`MAX_RUNS_CLAIM` for a first seed that enters a claim). ``measure``:
    time the steps of up to ``max_measure`` planned-to-be cells not measured on this kind yet (about
    40 s each with compilation; run it with the CPU idle).
    ``judge``: the evidence the cells' worth is read from (default :meth:`value.Judge.now`, about a
    second; :meth:`value.Judge.empty` where only the estimates and ``plan`` are wanted, and where
    ``profile`` replaces every cell's own, as the tests' ``smoke`` does)."""
    threads = threads_per_worker(workers)
    steps = step_times.measured_steps(root=root)
    if measure and (busy := training_now(root)):
        print(f"campaign: not measuring step times while {len(busy)} campaign run(s) train here "
              f"({', '.join(busy)}): they would be slowed; estimates are scaled instead", flush=True)
        measure = False
    cells = CELLS if cells is None else cells
    if measure:  # in the order the plan would take the cells on what is measured so far
        judge = judge or (value.Judge.now(root) if profile is None else value.Judge.empty())
        first = plan(budget_s, workers, cells, root, profile=profile, judge=judge)
        _measure_first([cells[i] for i in first.dropna(subset=["order"]).sort_values("order").index],
                       threads, max_measure, root, profile)
        steps = step_times.measured_steps(root=root)
    rows = []
    cost = {model: step_times.relative_cost(model, threads, root) for model in ("ff", "bp")}
    judge = judge or (value.Judge.now(root) if profile is None else value.Judge.empty())
    for i, cell in enumerate(cells):
        config = cell.config(profile)
        done, status = _epochs_done(config, root)
        row = {"#": i, "cell": cell.name, "priority": cell.priority, "status": status, "epochs_done": done,
               "epochs": config.epochs, "reason": cell.reason}
        why = "finished" if status == "finished" else cell.blocked()
        epoch_s, source = step_times.epoch_seconds(config, threads, steps, root=root) if status != "finished" else (math.nan, "")
        if math.isnan(epoch_s) and status == "partial":  # nothing measured here: its own epochs, wherever they ran
            epoch_s, source = _progress(config, root)[0]["epoch_s"].median(), "its own epochs so far"
        left_h = (config.epochs - done) * epoch_s / 3600
        arts = (cell.artifact, *cell.also)
        worth = value.Worth(math.nan, (), "finished") if status == "finished" else \
            value.Worth(0.0, (), "a variant of a paper cell (an investigation): enters no claim") if cell.change else \
            value.Worth(0.0, value.claim_labels(cell.paper(), arts), f"an indicative reading ({cell.profile} "
                        "profile): after the first seeds at the paper's settings") \
            if cell.profile != "paper" else \
            _waits_for_seed(cell, config, arts, root) or judge.worth(cell.paper(), arts, cell.seed)
        tier = _tier(cell, worth)
        if not why:  # an unmeasured cell stays planned: the run measures it before it starts
            # "A few campaign runs" of a full budget at least: a short call (finishing a cell) must
            # not turn the cells after it away.
            per_run = max(budget_s, DEFAULT_BUDGET_S)
            runs = MAX_RUNS_CLAIM if tier == 1 else MAX_RUNS
            why = f"too slow here ({left_h:.1f} h left > {runs} runs of {per_run / 3600:.1f} h)" \
                if left_h > runs * per_run / 3600 else "planned"
        per_h = worth.value / (left_h * cost[config.model]) if left_h > 0 else math.nan
        rows.append({**row, "epoch_s_here": epoch_s, "left_hours_here": left_h, "estimate": source, "plan": why,
                     "relative_cost": cost[config.model], "claims": "; ".join(worth.claims), "value": worth.value,
                     "value_per_h": per_h, "settles": worth.why, "tier": tier})
    df = pd.DataFrame(rows)
    # Issue #31: explicit priority 1 first (the issues' investigations); then the first seeds and the
    # further seeds a verdict hinges on, by what they settle of the paper's claims and numbers per CPU
    # hour here ("one seed per cell before any second seed, unless a verdict hinges on it": a cheap
    # seed that may decide a verdict goes before a dear first seed), those under way first; then the
    # rest (beyond the paper, seeds nothing hinges on) by priority. Under way first: a resume point's
    # name holds the run id, and with it ALGORITHM_VERSION, so a run left paused for sessions loses its
    # epochs to any version bump in between.
    planned = df[df["plan"] == "planned"]
    group = planned["tier"].replace({2: 1})
    ranked = group == 1  # priority 1 and the rest keep their priority and list order
    planned = planned.assign(_group=group, _new=~(ranked & (planned["epochs_done"] > 0)),
                             _score=-planned["value_per_h"].where(ranked, 0).fillna(0)) \
        .sort_values(["_group", "_new", "_score", "priority", "relative_cost", "#"], kind="stable")
    order = {i: n for n, i in enumerate(planned["#"])}
    return df.assign(order=df["#"].map(order)).drop(columns="#")


def _measure_first(cells: list[Cell], threads: int, max_measure: int, root: Path | None, profile: str | None) -> None:
    """Time the steps not measured on this kind yet of up to ``max_measure`` unfinished cells that may
    train here, in the order given (the plan's): the cells trained first are planned on their own
    measurement, the rest on one scaled by FLOPs (issue #25)."""
    steps, measured = step_times.measured_steps(root=root), 0
    for cell in cells:
        if measured >= max_measure:
            return
        config = cell.config(profile)
        if cell.blocked() or step_times.step_key(config, threads) in steps or load(config, root) is not None:
            continue
        step_times.measure_step(config, threads, root)
        steps, measured = step_times.measured_steps(root=root), measured + 1


def _waits_for_seed(cell: Cell, config: Config, arts: tuple[str, ...], root: Path | None) -> value.Worth | None:
    """Breadth first: a further seed (``config``, the cell's run) is worth nothing until the seed
    before it has finished."""
    if cell.seed == 0 or _epochs_done(config.replace(seed=cell.seed - 1), root)[1] == "finished":
        return None
    return value.Worth(0.0, value.claim_labels(cell.paper(), arts),
                       f"a further seed: waits for seed {cell.seed - 1} to finish (breadth first)")


def _tier(cell: Cell, worth: value.Worth) -> int:
    """0: priority 1 (the issues' own investigations); 1: a first seed that settles something; 2: a
    further seed a verdict hinges on (ranked with tier 1 by worth per hour); 3: the rest, in priority order."""
    if cell.priority == 1:
        return 0
    if worth.value > 0:  # NaN (finished) is not
        return 1 if cell.seed == 0 else 2
    return 3


def planned(budget_s: float = DEFAULT_BUDGET_S, workers: int = DEFAULT_WORKERS, root: Path | None = None,
            measure: bool = True, max_measure: int = 4) -> list[int]:
    """Numbers (in :data:`CELLS`) of the cells this machine trains, in the order it takes them."""
    df = plan(budget_s, workers, root=root, measure=measure, max_measure=max_measure).reset_index(names="n")
    return df.dropna(subset=["order"]).sort_values("order")["n"].astype(int).tolist()


def _epochs_done(config: Config, root: Path | None) -> tuple[int, str]:
    result = load(config, root)
    if result is not None:
        return len(result.metrics), "finished"
    progress = _progress(config, root)
    return (len(progress[0]), "partial") if progress is not None else (0, "not started")


def run(budget_s: float, device: str = "cpu", progress: bool = True, root: Path | None = None,
        cells: list[Cell] | None = None, profile: str | None = None, min_left_s: float = 60.0) -> int:
    """Train the first unfinished cells within ``budget_s`` seconds; returns how many cells are finished.

    Validation by goodness as the cell's profile sets it (every 10 epochs at the paper's settings:
    it costs ~20 s on two cores), by the linear classifier every epoch; weights are kept (CAMs,
    re-evaluation).
    """
    t0 = time.perf_counter()
    cells = CELLS if cells is None else cells
    for cell in cells:
        config = cell.config(profile)
        if load(config, root) is not None:
            continue
        left = budget_s - (time.perf_counter() - t0)
        if left < min_left_s:  # not even one epoch of the smallest cell fits
            break
        with claim(f"campaign-{config.run_id()}", root) as mine:
            if not mine:  # another worker (``--workers``) trains this cell: take the next one
                print(f"campaign: {cell.name}: another campaign process trains it; next cell", flush=True)
                continue
            print(f"campaign: {cell.name}: {config.run_id()} ({left / 60:.0f} min left)", flush=True)
            # max: a caller that starts a cell whatever is left (min_left_s < 0) may find the budget
            # already spent by the time it gets here, and a training's budget cannot be negative
            result = run_or_load(config, device=device, time_budget_s=max(left, 0.0), save_weights=True,
                                 progress=progress,
                                 goodness_every=PROFILE[cell.profile].goodness_every, root=root,
                                 checkpoint_dir=checkpoint_dir(root))
        if result is None:
            break  # out of budget: the resume point and the per-epoch record are in results/partial
        if root is None:  # a new paper-settings number: the README's status table says it at once
            update_readme()
    return sum(load(c.config(profile), root) is not None for c in cells)


def _progress(config: Config, root: Path | None) -> tuple[pd.DataFrame, dict] | None:
    """Per-epoch metrics of an unfinished run: from its resume point while it trains (newer), else
    from its partial record; with the partial record's provenance where there is one."""
    import torch

    partial = load_partial(config, root)
    info = partial[1] if partial else {"provenance": {"device": ""}}
    for folder in (checkpoint_dir(root), (root or results_dir()) / "checkpoints"):
        path = folder / f"{config.run_id()}.pt"
        if path.exists():
            try:
                state = torch.load(path, map_location="cpu", weights_only=True)
            except (RuntimeError, EOFError, OSError):  # being replaced this instant: use the record
                break
            if state["histories"][0]:
                return pd.DataFrame(state["histories"][0]), info
    return partial


def status(root: Path | None = None, cells: list[Cell] | None = None, profile: str | None = None,
           budget_s: float = DEFAULT_BUDGET_S, workers: int = DEFAULT_WORKERS,
           judge: value.Judge | None = None) -> pd.DataFrame:
    """One row per cell: finished, partial (epochs done) or not started, with accuracies so far,
    training time and device, and this machine's plan (:func:`plan`): the estimated hours left
    here and whether this machine trains the cell, or why not."""
    cells = CELLS if cells is None else cells
    here = plan(budget_s, workers, cells, root, profile=profile, judge=judge)
    rows = []
    for cell, (_, p) in zip(cells, here.iterrows()):
        c = cell.config(profile)
        row = {"cell": cell.name, "run_id": c.run_id(), "epochs": c.epochs}
        result = load(c, root)
        if result is not None:
            prov, final = result.summary["provenance"], result.summary["final"]
            row.update(status="finished", epochs_done=len(result.metrics), device=run_device(prov),
                       precision=run_precision(prov), train_hours=prov["train_seconds"] / 3600,
                       val_acc=final.get("val_acc_bp", final.get("val_acc_linear")),
                       val_acc_goodness=final.get("val_acc_goodness", math.nan))
        elif (progress := _progress(c, root)) is not None:
            metrics, info = progress
            val = _val_acc(metrics)
            good = metrics["val_acc_goodness"].dropna() if "val_acc_goodness" in metrics else pd.Series(dtype=float)
            row.update(status="partial", epochs_done=len(metrics), device=run_device(info["provenance"]),
                       precision=run_precision(info["provenance"]),
                       train_hours=metrics["epoch_s"].sum() / 3600, val_acc=val.iloc[-1],
                       val_acc_goodness=good.iloc[-1] if len(good) else math.nan)
        else:
            row.update(status="not started", epochs_done=0, device="", precision="", train_hours=0.0,
                       val_acc=math.nan, val_acc_goodness=math.nan)
        row.update(left_hours=0.0 if row["status"] == "finished" else p["left_hours_here"],
                   estimate=p["estimate"], plan=p["plan"], priority=cell.priority,
                   relative_cost=p["relative_cost"], claims=p["claims"], value=p["value"],
                   value_per_h=p["value_per_h"], order=p["order"], seed=cell.seed, settles=p["settles"])
        rows.append(row)
    return pd.DataFrame(rows)


def format_status(table: pd.DataFrame, width: int = 120) -> str:
    """:func:`status` as ``campaign --list`` prints it: the cells this machine trains, by rank (issue
    #31: what each settles per CPU hour here), each with the claims it enters; then the cells it
    leaves to faster machines, with why; then the finished ones. An estimate not from the cell's own
    measured step says where it comes from (:func:`~ffcnn_lib.step_times.step_estimate`). ``#`` is a
    cell's number in :data:`CELLS` (what ``--cells`` takes); names come last, whole (seeds differ only
    at their ends).
    A further seed also says which verdicts hinge on it (:meth:`value.Judge.worth`)."""
    import textwrap

    def pct(x: float) -> str:
        return "" if pd.isna(x) else f"{100 * x:.2f}"

    def done(r) -> str:
        return f"{r.epochs_done}/{r.epochs}"

    def name(r) -> str:  # and where its hours left come from, unless from its own measured step
        return r["cell"] + (f" (estimate {r['estimate']})" if r.get("estimate", "measured") not in ("measured", "") else "")

    here = table[table["order"].notna()].sort_values("order")
    lines = textwrap.wrap(
        f"Trained here, by rank ({len(here)}). value: what a cell settles, summed over its claims "
        f"({value.UNLOCKS:g} a claim's first comparison, {value.MOVES:g} a further one, {value.FIRST:g} the first "
        f"of a pair; {value.NUMBER:g} a reported number's first evidence); per h: value over the hours left here "
        "times this kind's relative cost (what it is relatively fastest at comes first).", width)
    lines.append(f"{'rank':>4} {'#':>3}  {'epochs':>7}  {'val %':>6}  {'left h':>6}  {'value':>5}  {'per h':>5}  cell")
    indent, before = " " * lines[-1].index("cell"), None  # a cell's claims under its name
    for n, r in here.iterrows():
        lines.append(f"{int(r['order']):>4} {n:>3}  {done(r):>7}  {pct(r['val_acc']):>6}  {r['left_hours']:>6.1f}  "
                     f"{r['value']:>5.1f}  {r['value_per_h']:>5.2f}  {name(r)}")
        if isinstance(r["claims"], str) and r["claims"]:
            lines += (textwrap.wrap("claims: " + r["claims"], width, initial_indent=indent, subsequent_indent=indent + "  ")
                      if r["claims"] != before else [indent + "claims: as above"])
        before = r["claims"]
        if r["seed"] > 0 and r["value"] > 0:  # of the claims it enters, which a further seed may still decide
            lines += textwrap.wrap("why a further seed: " + r["settles"], width, initial_indent=indent,
                                   subsequent_indent=indent + "  ")
    elsewhere = table[table["order"].isna() & (table["status"] != "finished")]
    if len(elsewhere):
        lines += ["", f"Left to faster machines ({len(elsewhere)}):", f"{'#':>8}  {'epochs':>7}  cell: why"]
        lines += [f"{n:>8}  {done(r):>7}  {name(r)}: {r['plan']}" for n, r in elsewhere.iterrows()]
    finished = table[table["status"] == "finished"]
    if len(finished):
        lines += ["", f"Finished ({len(finished)}): validation accuracy by the linear classifier (BP: its own "
                      "output) and by goodness, hours trained, precision",
                  f"{'#':>8}  {'val %':>6}  {'good %':>6}  {'hours':>5}  cell [precision]"]
        lines += [f"{n:>8}  {pct(r['val_acc']):>6}  {pct(r['val_acc_goodness']):>6}  {r['train_hours']:>5.1f}  "
                  f"{r['cell']} [{r['precision']}]" for n, r in finished.iterrows()]
    return "\n".join(lines)


def times_table(root: Path | None = None, cells: list[Cell] | None = None, profile: str | None = None) -> pd.DataFrame:
    """How long each finished cell took, as measured: wall time (``train_seconds`` of its
    provenance), the sessions it ran in, and per session the machine and the median of its
    epochs' ``epoch_s`` (each epoch's steps and validation). The README's table, never typed."""
    rows = []
    for cell in CELLS if cells is None else cells:
        result = load(cell.config(profile), root)
        if result is None:
            continue
        prov, m = result.summary["provenance"], result.metrics
        # Runs finished before sessions were recorded (2026-12-01) name one device for all epochs.
        recorded = "segments" in prov
        segments = prov["segments"] if recorded else [{"epochs": [1, len(m)], "device": prov["device"]}]
        parts = []
        for seg in segments:
            first, last = seg["epochs"]
            epochs = m[(m["epoch"] >= first) & (m["epoch"] <= last)]["epoch_s"]
            parts.append(f"{epochs.median():.1f} s on {_machine_words(seg['device'])} (epochs {first}-{last})"
                         if recorded else
                         f"{epochs.median():.1f} s (epochs {first}-{last}; the last session's machine: "
                         f"{_machine_words(seg['device'])})")
        rows.append({"run": cell.name, "wall time [h]": round(prov["train_seconds"] / 3600, 2),
                     "sessions": len(segments) if recorded else "not recorded",
                     "epoch, median, per session": "; ".join(parts),
                     "finished": prov.get("finished", "")[:10]})
    return pd.DataFrame(rows)


def _machine_words(device: str) -> str:
    """A provenance device string in words: "cpu (amx, 1 thread)" -> "amx, 1 thread". Before the
    CPU kind was recorded (2026-12-01) it read "cpu (x86_64, 1 threads)": the kind is unknown."""
    if device == UNRECORDED:
        return "a machine not recorded (its process stopped before it wrote its record)"
    parsed = machine.parse_cpu_device(device)
    if parsed is None:  # a GPU's name
        return device
    kind_name, threads = parsed
    where = f"a CPU ({machine.UNRECORDED_KIND_WORDS})" if kind_name == machine.UNRECORDED_KIND else kind_name
    return f"{where}, {machine.threads_words(threads)}"


README_TIMES = ("<!-- campaign-times: generated by `python -m ffcnn_lib campaign --readme` -->",
                "<!-- /campaign-times -->")


def times_markdown(root: Path | None = None) -> str:
    """:func:`times_table` as the README's markdown table."""
    t = times_table(root)
    if t.empty:
        return "No campaign cell has finished yet."
    lines = ["| " + " | ".join(t.columns) + " |", "|" + "---|" * len(t.columns)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in t.itertuples(index=False)]
    return "\n".join(lines)


def update_readme(path: Path | None = None) -> bool:
    """Rewrite the README's blocks that the campaign's results feed: the status table
    (:func:`ffcnn_lib.report.update_readme`) and the campaign's times; True if either changed."""
    from .report import replace_readme_block, speaks_for_readme
    from .report import update_readme as update_status

    if not speaks_for_readme(path):
        return False  # before computing the tables
    status = update_status(path)
    return replace_readme_block(README_TIMES, times_markdown(), path) or status


def _val_acc(metrics: pd.DataFrame) -> pd.Series:
    """Per-epoch validation accuracy: the network's output for BP, the linear classifier for FF."""
    return metrics["val_acc"] if "val_acc" in metrics else metrics["val_acc_linear"]


def reported_val(cell: Cell) -> float:
    """The validation accuracy (percent) the paper reports for the cell's configuration (linear
    classifier for FF, the network's output for BP), or NaN where it shows the cell only in a plot."""
    from .report import KEY, reported

    ours = cell_key(cell.paper())
    for artifact in (cell.artifact, *cell.also):
        rep = reported(artifact)
        rep = rep[(rep["split"] == "val") & rep["method"].isin(["linear", "bp"])]
        for _, r in rep.iterrows():
            if all(str(r[k]) == str(ours[k]) for k in KEY):
                return float(r["value"])
    return math.nan


def curves(root: Path | None = None, cells: list[Cell] | None = None, profile: str | None = None) -> pd.DataFrame:
    """Per-epoch validation accuracy of every started cell, finished or not, in long form: cell,
    epoch, val_acc (linear classifier for FF, the network's output for BP), val_acc_goodness (every
    10 epochs), status, the paper's reported value where it gives one (``reported_pct``), the run's
    seed, and its ``panel``: the name of the cell of its configuration's seed 0, so that a figure
    draws the seeds of one configuration together."""
    runs = [(cell, cell.config(profile)) for cell in (CELLS if cells is None else cells)]
    seed0 = {}
    for cell, c in runs:  # the first cell of each configuration at seed 0 names its panel
        seed0.setdefault(c, cell.name)
    frames = []
    for cell, c in runs:
        result = load(c, root)
        if result is not None:
            metrics = result.metrics
        elif (progress := _progress(c, root)) is not None:
            metrics = progress[0]
        else:
            continue
        if metrics.empty:
            continue
        good = metrics["val_acc_goodness"] if "val_acc_goodness" in metrics else math.nan
        frames.append(pd.DataFrame({"cell": cell.name, "epoch": metrics["epoch"], "val_acc": _val_acc(metrics),
                                    "val_acc_goodness": good, "epochs": c.epochs,
                                    "status": "finished" if result is not None else "partial",
                                    "reported_pct": reported_val(cell), "seed": c.seed,
                                    "panel": seed0.get(c.replace(seed=0), cell.name)}))
    columns = ["cell", "epoch", "val_acc", "val_acc_goodness", "epochs", "status", "reported_pct", "seed", "panel"]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)


def progress_text(artifact: str, root: Path | None = None) -> str:
    """For a chapter: the campaign's unfinished cells of ``artifact`` (markdown bullets, one
    :func:`progress_line` each); "" if the campaign has none under way."""
    return progress_lines(under_way(artifact, root))


def progress_lines(rows: pd.DataFrame) -> str:
    """Rows of :func:`under_way` as markdown bullets, one :func:`progress_line` each."""
    return "\n".join(progress_line(row) for _, row in rows.iterrows())


def under_way(artifact: str, root: Path | None = None) -> pd.DataFrame:
    """The rows of :func:`status` of the campaign's unfinished cells of ``artifact`` (empty if none)."""
    cells = [cell for cell in CELLS if cell.artifact == artifact or artifact in cell.also]
    if not cells:
        return pd.DataFrame()
    # whether the campaign here goes on with a cell depends on what it settles (a first seed that
    # enters a claim may take MAX_RUNS_CLAIM runs, other cells MAX_RUNS), so the evidence is read
    # (about a second): without it a long claim cell under way would read "too slow here"
    table = status(root, cells=cells)
    return table[table["status"] == "partial"]


def progress_line(row: pd.Series) -> str:
    """One partial cell of :func:`status` for a reader: epochs done, validation accuracy so far,
    machine, time left here, and whether this kind of machine's campaign goes on with it (and if not, why)."""
    left = f"about {row['left_hours']:.1f} h left on this kind of machine" if row["left_hours"] == row["left_hours"] \
        else "time left not measured on this kind of machine"
    plan = "the campaign on this kind goes on with it" if row["plan"] == "planned" \
        else f"the campaign on this kind leaves it: {row['plan']}"
    return (f"* {row['cell']}: under way in the CPU campaign, {row['epochs_done']} of {row['epochs']} epochs "
            f"({row['train_hours']:.1f} h so far on {row['device'] or 'a CPU'}; validation "
            f"{100 * row['val_acc']:.2f} % at epoch {row['epochs_done']}, not a result until it finishes); "
            f"{left}; {plan}")
