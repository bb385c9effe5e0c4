"""The mutation check (``make mutants``, issue #30): would the tests notice a plausible real bug?

Each entry of :data:`MUTANTS` is one single-line bug: a file, the exact original snippet (it must
occur exactly once in that file), its replacement, and the fast unit tests that must catch it. The
script copies the library and the tests into a temporary folder (the checkout is never modified:
other processes, a running campaign among them, import the library from it), runs those tests there
once unmutated, then applies each mutant alone and runs its tests: *killed* if they fail, *survived*
if they pass. A snippet that is missing or ambiguous, tests that fail unmutated, or a pytest run that
errors are reported as ERROR, never as killed. Exit status 0 only if every mutant was killed.

    .venv/bin/python tests/mutants.py            # all, on the working tree
    .venv/bin/python tests/mutants.py --list     # the list
    .venv/bin/python tests/mutants.py --only 3 7 --rev HEAD   # some, on a commit (git archive)

Not part of ``make test`` or CI: it runs the listed tests once per mutant (a few minutes).
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
COPIED = ("ffcnn_lib", "tests", "book", "README.md", "pyproject.toml")  # what the tests read; data/ is linked


@dataclass(frozen=True)
class Mutant:
    name: str                # the bug, in words
    file: str                # relative to the repository root
    original: str            # exact snippet, exactly once in the file
    replacement: str
    tests: tuple[str, ...]   # pytest node ids or files that must catch it
    note: str = ""           # e.g. that the code it targets is being rewritten


SPLITS = "tests/test_splits.py::"
MUTANTS = [
    Mutant("validation taken from the start of the training file", "ffcnn_lib/data.py",
           "images, labels = images[N_TRAIN:], labels[N_TRAIN:]",
           "images, labels = images[:len(images) - N_TRAIN], labels[:len(labels) - N_TRAIN]",
           (SPLITS + "test_validation_is_images_50000_to_59999_of_the_training_file",
            SPLITS + "test_no_validation_image_is_one_of_the_50000_training_images")),
    Mutant("layer norm removed between layers", "ffcnn_lib/model.py",
           "h = layer_norm(z.detach())", "h = z.detach()", ("tests/test_by_hand.py",)),
    Mutant("detach removed: a layer's loss trains the layers below it", "ffcnn_lib/model.py",
           "h = layer_norm(z.detach())", "h = layer_norm(z)",
           ("tests/test_model.py::test_no_gradient_crosses_layers",
            "tests/test_guarantees.py::test_each_layer_learns_from_its_own_loss_only")),
    Mutant("cooldown off by one epoch in training (the schedule read at the 0-based epoch)", "ffcnn_lib/train.py",
           "lr = run.set_lr(epoch)", "lr = run.set_lr(run.epoch)", ("tests/test_schedule.py",)),
    Mutant("cooldown formula off by one epoch", "ffcnn_lib/train.py",
           "2 * lr / epochs * (1 + epochs - epoch)", "2 * lr / epochs * (epochs - epoch)",
           ("tests/test_model.py::test_lr_linear_cooldown",)),
    Mutant("the classifier's learning rate not cooled", "ffcnn_lib/train.py",
           "for g in self.opt.param_groups:", "for g in self.opt.param_groups[:1]:", ("tests/test_schedule.py",)),
    Mutant("a negative label allowed to equal the true one", "ffcnn_lib/labels.py",
           "offset = torch.randint(1, N_CLASSES,", "offset = torch.randint(0, N_CLASSES,",
           ("tests/test_labels.py::test_negative_labels_are_never_true_and_uniform_over_the_other_nine",)),
    Mutant("goodness inference summed over layer 1 too", "ffcnn_lib/inference.py",
           "g = sum(model.layer_goodness(i, z) for i, z in enumerate(zs) if i > 0)",
           "g = sum(model.layer_goodness(i, z) for i, z in enumerate(zs) if i >= 0)",
           ("tests/test_by_hand.py::test_goodness_inference_picks_the_label_a_constructed_network_prefers",)),
    Mutant("θ off by a factor of 2", "ffcnn_lib/model.py",
           "[float(math.prod(s)) for s in", "[float(2 * math.prod(s)) for s in",
           ("tests/test_model.py::test_threshold_is_number_of_neurons",)),
    Mutant("the confusion matrix transposed", "ffcnn_lib/inference.py",
           "idx = labels.cpu() * n + scores.argmax(1).cpu()", "idx = scores.argmax(1).cpu() * n + labels.cpu()",
           ("tests/test_by_hand.py::test_accuracy_and_the_confusion_matrix_rows_are_true_labels_columns_predictions",)),
    Mutant("report_test ignored: no test numbers for a run that asks for them", "ffcnn_lib/train.py",
           "    if config.report_test:\n", "    if False:\n",
           (SPLITS + "test_training_reads_validation_and_test_data_only_to_evaluate",)),
    Mutant("report_test ignored: the test set loaded for every run", "ffcnn_lib/train.py",
           "if config.report_test else None", "if True else None",
           (SPLITS + "test_a_run_without_report_test_never_loads_the_test_set",)),
    Mutant("test numbers from kept weights measured on the validation split", "ffcnn_lib/experiments.py",
           'x, y = load_split("test", c.n_test, dev', 'x, y = load_split("val", c.n_test, dev',
           ("tests/test_kept_weights.py",)),
    # Issue #29's Var d = s^2 (1/n + 1/m_eff) is symmetric in n and m: swapping them is no bug (an
    # equivalent mutant); mixing them up is: the paper's mean counted as n runs, like ours.
    Mutant("the tolerance's n and m mixed up (the paper's mean counted as worth our n seeds)", "ffcnn_lib/stats.py",
           "return s * math.sqrt(1 / n + 1 / m_eff)", "return s * math.sqrt(1 / n + 1 / n)",
           ("tests/test_report.py::test_tolerance_is_the_t_interval_of_the_seed_noise_on_shared_images",),
           note="on issue #29's noise model"),
    Mutant("a claim's sign flipped (BP's accuracy said to rise with the filters)", "ffcnn_lib/claims.py",
           '"val_acc_bp", None, "filters_n", -1,', '"val_acc_bp", None, "filters_n", +1,',
           ("tests/test_claims.py::test_claims_follow_the_data",),
           note="on issue #29's claim rules"),
    Mutant("a claim's arms keep their own 2-dof variance where the summary pool has 6", "ffcnn_lib/claims.py",
           "spread.known and spread.dof > dof:", "spread.known and not dof:",
           ("tests/test_claims.py::test_arms_share_the_pooled_spread_or_the_summary_pool_with_more_dof_else_the_binomial_bound",
            "tests/test_statistics.py::test_a_three_seed_arm_against_one_seed_with_the_summary_pool_keeps_its_nominal_rate"),
           note="on the claims' pooled spread (issue #31)"),
]


def copy_tree(dest: Path, rev: str | None) -> None:
    """The files the tests read, from the working tree or from commit ``rev``; data/ linked, and
    an empty results folder (``FFCNN_RESULTS``) so that nothing reads or writes the real one."""
    if rev:
        archive = subprocess.run(["git", "-C", str(REPO), "archive", rev, *COPIED], capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
    else:
        for name in COPIED:
            src = REPO / name
            if src.is_dir():
                shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__", "_build", ".*"))
            else:
                shutil.copy2(src, dest / name)
    (dest / "data").symlink_to(REPO / "data")
    (dest / "results").mkdir()


def pytest(copy: Path, tests: tuple[str, ...], stop_first: bool) -> tuple[int, str, float]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1",
           "FFCNN_RESULTS": str(copy / "results")}
    env.pop("FFCNN_DATA", None)
    cmd = [sys.executable, "-m", "pytest", "-q", "-rf", "-p", "no:cacheprovider", "-p", "no:randomly",
           *(["-x"] if stop_first else []), *tests]
    t0 = time.perf_counter()
    out = subprocess.run(cmd, cwd=copy, env=env, capture_output=True, text=True)
    return out.returncode, out.stdout + out.stderr, time.perf_counter() - t0


def failed_tests(output: str) -> list[str]:
    return re.findall(r"^(?:FAILED|ERROR) (\S+)", output, flags=re.M)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="tests/mutants.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--list", action="store_true", help="list the mutants and exit")
    p.add_argument("--only", type=int, nargs="+", metavar="N", help="run only these (numbers as in --list)")
    p.add_argument("--rev", help="test this commit (git archive) instead of the working tree")
    args = p.parse_args(argv)
    chosen = [(i, m) for i, m in enumerate(MUTANTS, 1) if not args.only or i in args.only]
    if args.list:
        for i, m in chosen:
            print(f"{i:2d}. {m.name}  [{m.file}]" + (f"  ({m.note})" if m.note else ""))
        return 0
    t_start = time.perf_counter()
    rows: list[tuple[int, str, str, float, str]] = []  # number, name, status, seconds, detail
    with tempfile.TemporaryDirectory(prefix="ffcnn-mutants-") as tmp:
        copy = Path(tmp)
        copy_tree(copy, args.rev)
        where = subprocess.run([sys.executable, "-c", "import ffcnn_lib; print(ffcnn_lib.__file__)"], cwd=copy,
                               capture_output=True, text=True, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
        if not where.stdout.strip().startswith(str(copy)):
            print(f"ERROR: the copy would import the library from {where.stdout.strip() or where.stderr[-300:]}, "
                  f"not from {copy}: nothing run", file=sys.stderr)
            return 2
        runnable = []
        for i, m in chosen:
            count = (copy / m.file).read_text().count(m.original) if (copy / m.file).exists() else 0
            if count != 1:
                rows.append((i, m.name, "ERROR", 0.0, f"original snippet found {count} times in {m.file} "
                             f"(must be exactly once): {m.original.strip()!r}" + (f"; {m.note}" if m.note else "")))
            else:
                runnable.append((i, m))
        tests = tuple(dict.fromkeys(t for _, m in runnable for t in m.tests))
        print(f"baseline: {len(tests)} test selections, unmutated ...", flush=True)
        rc, out, secs = pytest(copy, tests, stop_first=False) if tests else (0, "", 0.0)
        broken = failed_tests(out) if rc != 0 else []
        if rc not in (0, 1):
            print(out[-3000:], file=sys.stderr)
            print(f"ERROR: the unmutated tests did not run (pytest exit {rc}): nothing run", file=sys.stderr)
            return 2
        print(f"baseline: exit {rc} in {secs:.0f} s" + (f"; failing unmutated: {', '.join(broken)}" if broken else ""),
              flush=True)
        for i, m in runnable:
            blocked = [b for b in broken if any(b.startswith(t) or t.startswith(b) for t in m.tests)]
            if blocked:
                rows.append((i, m.name, "ERROR", 0.0, f"its tests fail unmutated: {', '.join(blocked)}"))
                continue
            path = copy / m.file
            original = path.read_text()
            path.write_text(original.replace(m.original, m.replacement))
            try:
                rc, out, secs = pytest(copy, m.tests, stop_first=True)
            finally:
                path.write_text(original)
            if rc == 1:
                status, detail = "killed", ", ".join(failed_tests(out)[:1]) or "tests failed"
            elif rc == 0:
                status, detail = "SURVIVED", "its tests pass with the bug in"
            else:
                status, detail = "ERROR", f"pytest exit {rc}: {out.strip().splitlines()[-1] if out.strip() else ''}"
            rows.append((i, m.name, status, secs, detail + (f" ({m.note})" if m.note else "")))
            print(f"{i:2d}. {status:8s} {secs:5.0f} s  {m.name}", flush=True)
    rows.sort()
    total = time.perf_counter() - t_start
    print(f"\n{'#':>2}  {'status':8s} {'time':>6}  mutant: what caught it")
    for i, name, status, secs, detail in rows:
        print(f"{i:2d}. {status:8s} {secs:5.0f} s  {name}: {detail}")
    killed = sum(r[2] == "killed" for r in rows)
    print(f"\n{killed} of {len(rows)} mutants killed in {total:.0f} s "
          f"({'working tree' if not args.rev else args.rev}; tests with one thread each)")
    return 0 if killed == len(rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
