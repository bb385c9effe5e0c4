"""Command line: ``python -m ffcnn_lib train|sweep|campaign|evaluate ...`` (``--help`` on each)."""
from __future__ import annotations

import argparse
import contextlib
import json
import logging
import signal
import sys
import threading
import time

from .config import PRECISIONS, Config
from .data import DATASETS, DataError
from .experiments import ResultError
from .labels import CLASSIFIER_INPUTS, LABEL_SETS
from .model import INITS
from .train import CheckpointError, check_seconds


def _filters(text: str) -> tuple[int, ...]:
    parts = [int(p) for p in text.split(",")]
    return tuple(parts * 3) if len(parts) == 1 else tuple(parts)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m ffcnn_lib", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    d = Config()
    t = sub.add_parser("train", help="train one configuration (or load its cached result)")
    t.add_argument("--model", choices=["ff", "bp"], default="ff")
    t.add_argument("--filters", type=_filters, default=None,
                   help="filters per layer: '128' (three equal layers) or '32,64,128'")
    t.add_argument("--kernel", type=int, default=None)
    t.add_argument("--max-pool", action="store_true")
    t.add_argument("--label-set", choices=LABEL_SETS, default=d.label_set)
    t.add_argument("--K", type=float, default=d.K, help="relative label intensity in (0, 1)")
    t.add_argument("--label-cycles", type=lambda s: tuple(int(k) for k in s.split(",")), default=d.label_cycles,
                   help="label wave frequencies in cycles per image, e.g. 2,4,6")
    t.add_argument("--padding", choices=["same", "valid"], default=d.padding)
    t.add_argument("--input-norm", action="store_true", help="FF: divide each input by its RMS first (Loewe's code)")
    t.add_argument("--init", choices=list(INITS), default=None,
                   help=f"FF conv initialization (default {d.init}; BP always uses PyTorch's)")
    t.add_argument("--classifier-input", choices=list(CLASSIFIER_INPUTS), default=d.classifier_input,
                   help="FF: what the linear classifier sees (image: without a label; neutral: the mean label added)")
    t.add_argument("--precision", choices=list(PRECISIONS), default=d.precision,
                   help="training precision: auto (the device's fast path), fp32, or bf16 (a precision twin)")
    t.add_argument("--batch-size", type=int, default=d.batch_size)
    t.add_argument("--lr", type=float, default=None)
    t.add_argument("--classifier-lr", type=float, default=d.classifier_lr)
    t.add_argument("--epochs", type=int, default=d.epochs)
    t.add_argument("--include-first-layer", action="store_true")
    t.add_argument("--seed", type=int, default=d.seed)
    t.add_argument("--dataset", choices=list(DATASETS), default=d.dataset,
                   help="the paper's MNIST, or Fashion-MNIST (beyond the paper; same split: train[:50000], val[50000:])")
    t.add_argument("--n-train", type=int, default=d.n_train)
    t.add_argument("--n-val", type=int, default=d.n_val)
    t.add_argument("--test", action="store_true", help="also evaluate on the test set (headline runs only)")
    t.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1 ...")
    t.add_argument("--no-fast", action="store_true", help="plain fp32 eager even on CUDA")
    t.add_argument("--compile-mode", default=None,
                   help="torch.compile mode on the fast path, e.g. reduce-overhead (CUDA graphs)")
    t.add_argument("--layerwise-backward", action="store_true",
                   help="FF: a backward pass per layer (eager; same gradients, less memory)")
    t.add_argument("--time-budget", type=float, default=None, metavar="SECONDS",
                   help="stop after the last epoch that fits, keep a checkpoint; rerun to resume")
    t.add_argument("--checkpoint-every", type=float, default=None, metavar="SECONDS",
                   help="write the resume checkpoint at least this often (default 120); it is also "
                        "written after the last epoch")
    t.add_argument("--save-weights", action="store_true")
    t.add_argument("--force", action="store_true", help="retrain even if a result is cached")
    w = sub.add_parser("sweep", help="train the missing runs of paper artifacts (figures/tables) under a profile")
    w.add_argument("artifacts", nargs="+", help="e.g. headline fig3a fig5 (see ffcnn_lib.sweeps.ARTIFACTS), or all")
    w.add_argument("--profile", choices=["smoke", "cpu", "short", "paper"], required=True)
    w.add_argument("--device", default="auto")
    w.add_argument("--time-budget", type=float, default=None, metavar="SECONDS",
                   help="stop when it is spent, keeping checkpoints; rerun to resume")
    c = sub.add_parser("campaign", help="train the paper's small networks at its exact settings on a CPU, "
                                        "within a budget, resumably (see ffcnn_lib.campaign)")
    c.add_argument("--budget-minutes", type=float, default=150.0,
                   help="stop at the first epoch boundary after which the next epoch would not fit (default 150)")
    c.add_argument("--list", action="store_true",
                   help="print this machine's plan by rank (each cell's epochs done, hours left, value and claims), "
                        "the cells left to faster machines and why, and the finished ones; train nothing")
    c.add_argument("--readme", action="store_true",
                   help="rewrite the README's status and campaign-times tables from the committed results, train nothing")
    c.add_argument("--device", default="cpu")
    c.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores)")
    c.add_argument("--cells", default=None, help="only these cells, in this order, by their number in --list "
                                                 "(e.g. 0,1; default: this machine's plan, see ffcnn_lib.campaign.plan)")
    c.add_argument("--measure", action="store_true",
                   help="time a few steps of every cell the plan could take that is not measured on this kind of "
                        "CPU yet (about 40 s each; run it with the CPU otherwise idle), then list")
    c.add_argument("--check-estimates", action="store_true",
                   help="time 50 fresh steps of each cell of this machine's plan (or --cells) and compare them with "
                        "the estimate --list uses (issue #25: within 30 %%); trains nothing")
    c.add_argument("--store", action="store_true",
                   help="with --check-estimates: keep the fresh timings as this kind's measured steps, replacing "
                        "older ones (refused while campaign runs train here)")
    c.add_argument("--workers", type=int, default=2,
                   help="processes training different cells side by side, each with cores/workers threads; "
                        "their progress goes to results/checkpoints/campaign-worker-<i>.log (default 2, as "
                        "make campaign)")
    e = sub.add_parser("evaluate", help="re-evaluate a stored run's weights on the test set")
    e.add_argument("run", help="a run folder under results/runs (or its id)")
    e.add_argument("--device", default="auto")
    return p


def _train(args: argparse.Namespace) -> int:
    from .experiments import run_or_load

    check_seconds("time budget", args.time_budget)
    check_seconds("checkpoint interval", args.checkpoint_every)
    every = {} if args.checkpoint_every is None else {"checkpoint_every_s": args.checkpoint_every}
    base = Config.bp() if args.model == "bp" else Config()
    overrides = {k: v for k, v in dict(filters=args.filters, kernel=args.kernel, lr=args.lr).items() if v is not None}
    config = base.replace(max_pool=args.max_pool, padding=args.padding, input_norm=args.input_norm,
                          label_set=args.label_set, K=args.K,
                          label_cycles=args.label_cycles,
                          batch_size=args.batch_size,
                          classifier_lr=args.classifier_lr, epochs=args.epochs,
                          include_first_layer=args.include_first_layer, seed=args.seed, n_train=args.n_train,
                          n_val=args.n_val, report_test=args.test, precision=args.precision, dataset=args.dataset,
                          **overrides,
                          **({"classifier_input": args.classifier_input} if args.model == "ff" else {}),
                          **({"init": args.init} if args.init else {}))
    result = run_or_load(config, device=args.device, force=args.force, save_weights=args.save_weights,
                         time_budget_s=args.time_budget, fast=False if args.no_fast else None,
                         compile=args.compile_mode, layerwise=args.layerwise_backward, **every)
    if result is None:
        print(f"{config.run_id()}: stopped at the time budget; rerun the same command to resume")
        return 3
    final = {k: v for k, v in result.summary["final"].items() if "confusion" not in k}
    print(json.dumps({"run": str(result.path), **final,
                      "train_seconds": result.summary["provenance"]["train_seconds"],
                      "device": result.summary["provenance"]["device"]}, indent=1))
    return 0


def _sweep(args: argparse.Namespace) -> int:
    import time

    from .sweeps import ARTIFACTS, run_artifact

    check_seconds("time budget", args.time_budget)
    names = list(ARTIFACTS) if args.artifacts == ["all"] else args.artifacts
    unknown = [a for a in names if a not in ARTIFACTS]
    if unknown:
        raise ValueError(f"unknown artifacts {unknown}; allowed: {', '.join(ARTIFACTS)} or all")
    t0, complete = time.perf_counter(), True
    for name in names:
        left = None if args.time_budget is None else args.time_budget - (time.perf_counter() - t0)
        done, total = run_artifact(name, args.profile, device=args.device, time_budget_s=left)
        print(f"{name}: {done}/{total} runs stored ({args.profile} profile)", flush=True)
        complete &= done == total
    return 0 if complete else 3


def _evaluate(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .experiments import evaluate_test, load, results_dir

    path = Path(args.run)
    if not path.exists():
        path = results_dir() / "runs" / args.run
    cfg_file = path / "config.json"
    if not cfg_file.exists():
        raise SystemExit(f"no run at {args.run!r}: expected a folder with config.json under results/runs")
    try:
        config = Config.from_dict(json.loads(cfg_file.read_text()))
    except ValueError as err:  # JSON errors are ValueErrors: name the file, not only the value
        raise ResultError(f"{cfg_file} is corrupt ({err}); restore it from git or delete the run folder") from err
    result = load(config, path.parent.parent)
    if result is None:
        raise SystemExit(f"run {path.name} is not finished (no summary.json)")
    out = {k: v for k, v in evaluate_test(result, args.device).items() if k.startswith("test_acc_")}
    print(json.dumps({"run": path.name, **out, "note": "weights stored in fp16; evaluated in fp32"}, indent=1))
    return 0


def _cell_numbers(text: str) -> list[int]:
    """``--cells 0,1`` -> [0, 1]: numbers of cells of :data:`ffcnn_lib.campaign.CELLS` (see ``--list``)."""
    from .campaign import CELLS

    picked = [int(i) for i in text.split(",")]
    bad = [i for i in picked if not 0 <= i < len(CELLS)]
    if bad:
        raise ValueError(f"--cells {bad}: no such cell; allowed 0..{len(CELLS) - 1} (see --list)")
    return picked


def _campaign(args: argparse.Namespace) -> int:
    import pandas as pd
    import torch

    from . import campaign, machine, step_times

    if args.budget_minutes <= 0:
        raise ValueError(f"--budget-minutes must be positive; got {args.budget_minutes}")
    if args.workers < 1:
        raise ValueError(f"--workers must be at least 1; got {args.workers}")
    if args.readme:
        print("README " + ("updated" if campaign.update_readme() else "unchanged"))
        return 0
    if args.store and not args.check_estimates:
        raise ValueError("--store keeps the timings of --check-estimates; give both")
    if args.check_estimates:  # issue #25: every planned cell's estimate against a fresh timing of it
        try:
            checked = campaign.check_estimates(_cell_numbers(args.cells) if args.cells else None, args.workers,
                                               store=args.store)
        except RuntimeError as err:  # --store while campaign runs train here
            print(f"error: {err}", file=sys.stderr)
            return 1
        with pd.option_context("display.width", 250, "display.max_colwidth", 60):
            print(checked.round(2).to_string(index=False))
        return 0 if checked["within"].all() else 1
    args.list = args.list or args.measure  # --measure times the cells and lists them; it trains nothing
    cells, budget_s = campaign.CELLS, args.budget_minutes * 60
    if args.cells:
        _cell_numbers(args.cells)
    elif not args.list or args.measure:
        # This machine's plan: by priority and worth per hour, among the cells it can finish within a
        # few runs (campaign.MAX_RUNS; campaign.MAX_RUNS_CLAIM for a first seed a claim needs)
        # (measuring the steps of cells not timed on this kind of CPU yet, before any worker starts).
        t0 = time.perf_counter()
        # --measure: every cell the plan could take; a training call: the first few (the rest are scaled)
        picked = campaign.planned(budget_s, args.workers, measure=True,
                                  max_measure=len(campaign.CELLS) if args.measure else 4)
        args.budget_minutes -= (time.perf_counter() - t0) / 60  # measuring is part of the budget
        if args.budget_minutes <= 0:
            raise ValueError("measuring the plan's cells took the whole budget; rerun with a larger --budget-minutes")
        print(f"campaign on a {machine.capabilities()['cores']}-core {machine.describe(machine.kind())} CPU "
              f"({machine.kind()}): cells {', '.join(map(str, picked)) or 'none'}", flush=True)
        args.cells = ",".join(map(str, picked))
    if not args.list and args.cells:
        budget_s = args.budget_minutes * 60
        if args.workers > 1:
            failed = _campaign_workers(args)
            if failed:
                return failed
        else:
            if args.threads:
                torch.set_num_threads(args.threads)
            campaign.run(budget_s, device=args.device, cells=[cells[int(i)] for i in args.cells.split(",")])
    table = campaign.status(budget_s=budget_s, workers=args.workers)
    print(campaign.format_status(table))
    started = table[table["status"] == "partial"]
    threads = campaign.threads_per_worker(args.workers)
    pace, sessions = step_times.campaign_pace(threads=threads)
    print(f"{(table['status'] == 'finished').sum()} of {len(table)} cells finished; about "
          f"{started['left_hours'].sum():.1f} h left here for the {len(started)} started ones "
          f"({machine.kind()}, {machine.threads_words(threads)} per worker; " + (
              f"epochs take {pace:.2f}x their steps timed alone, the median of {sessions} recorded sessions here)"
              if sessions >= step_times.PACE_SESSIONS else
              f"epochs as their steps timed alone: {sessions} recorded session(s) here, too few to say otherwise)"))
    return 0 if (table["status"] == "finished").all() else 3


def _campaign_workers(args: argparse.Namespace) -> int:
    """Run ``args.workers`` campaign processes side by side; each claims the first unfinished cell no
    other one trains. Returns the first failing worker's exit status (0 if none failed)."""
    import subprocess

    from . import campaign, machine
    from .experiments import results_dir

    threads = args.threads or campaign.threads_per_worker(args.workers)
    cmd = [sys.executable, "-m", "ffcnn_lib", "campaign", "--budget-minutes", str(args.budget_minutes),
           "--device", args.device, "--threads", str(threads), "--workers", "1"] \
        + (["--cells", args.cells] if args.cells else [])
    logs = results_dir() / "checkpoints"
    logs.mkdir(parents=True, exist_ok=True)
    workers = []
    for i in range(args.workers):
        log = logs / f"campaign-worker-{i}.log"
        print(f"campaign worker {i}: {machine.threads_words(threads)}, progress in {log}", flush=True)
        with open(log, "w") as fh:
            workers.append(subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT))
    try:
        codes = [w.wait() for w in workers]
    except KeyboardInterrupt:  # pass it on (SIGTERM, which a worker Ctrl-C reached already ignores)...
        for w in workers:
            w.send_signal(signal.SIGTERM)
        for w in workers:  # ...and let each go back to its resume point and write its record
            w.wait()
        raise KeyboardInterrupt("each worker went back to its run's last resume point and recorded it; "
                                "its log says where; the same command resumes") from None
    # 3 means "ran to its budget with cells left", not a failure
    return next((c for c in codes if c not in (0, 3)), 0)


@contextlib.contextmanager
def _interrupt_once():
    """SIGTERM taken as Ctrl-C, and only the first of the two: an interrupted run goes back to its
    last resume point and writes its record (``train.Interrupted``), which a second signal would cut
    short. The handlers before are restored on the way out (``main`` also runs inside tests)."""
    if threading.current_thread() is not threading.main_thread():  # only the main thread may set them
        yield
        return

    def once(signum, frame):
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_IGN)
        raise KeyboardInterrupt

    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in saved:
        signal.signal(sig, once)
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # On a machine with a CUDA toolkit but no GPU, torch's C++ compiler helper warns "No CUDA runtime
    # is found" when the fast path compiles: harmless, and it opened every campaign worker's log.
    logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)
    try:
        with _interrupt_once():
            return {"train": _train, "sweep": _sweep, "campaign": _campaign, "evaluate": _evaluate}[args.command](args)
    except KeyboardInterrupt as err:  # Ctrl-C or SIGTERM; a run in training says where it stands
        print("interrupted" + (f": {err}" if str(err) else ""), file=sys.stderr)
        return 130
    except ValueError as err:  # bad configuration: say what and stop before any training
        print(f"error: {err}", file=sys.stderr)
        return 2
    except (DataError, ResultError, CheckpointError, PermissionError, FileNotFoundError) as err:
        # a damaged or missing file, a closed folder: one line that names it and the fix
        print(f"error: {' '.join(str(err).split())}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
