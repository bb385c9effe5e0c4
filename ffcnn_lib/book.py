"""Build the book: ``python -m ffcnn_lib.book --profile auto`` (``make reproduce``).

1. Make sure every artifact has its runs in ``results/`` (training only what is missing, see
   :func:`ffcnn_lib.sweeps.collect`), so the notebooks themselves only load and plot.
2. Execute each notebook of ``book/`` with papermill into ``book/_build/src/`` (the sources stay
   clean), hiding the injected-parameters cell.
3. Render ``book/_build/src`` with Jupyter Book 1 into ``book/_build/html`` without executing again,
   strictly (warnings are errors).
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

from .equivalence import other_code
from .sweeps import ARTIFACTS, PROFILES, collect, profile_mix

BOOK = Path(__file__).resolve().parent.parent / "book"
BUILD = BOOK / "_build"
SRC = BUILD / "src"


def train_all(profile: str, force: bool, device: str = "auto") -> None:
    """Fill the result cache for every artifact. With ``auto`` each cell uses its most faithful
    finished runs and only the smoke runs of cells without one are trained (``force`` retrains
    those); with a named profile, every run of it (``force`` retrains them all).

    Warns about cached results made by other numerical code than this (see
    :func:`ffcnn_lib.equivalence.other_code`): a change that alters results without an
    ``ALGORITHM_VERSION`` bump is otherwise served from the cache."""
    used = {}  # run id -> profile
    for artifact in ARTIFACTS:
        t0 = time.perf_counter()
        df = collect(artifact, profile, force=force, device=device, progress=False)
        if "run_id" in df:
            used.update(zip(df["run_id"], df.get("profile", [""] * len(df))))
        print(f"  {artifact:9s} {len(df):3d} runs ({profile_mix(df)})  {time.perf_counter() - t0:6.1f} s", flush=True)
    other, unknown = other_code(list(used))
    if other:
        # Smoke runs only check the pipeline, so they are counted; runs that are evidence are named.
        evidence = [r for r in other if used[r] in ("paper", "short")]
        narrow = [r for r in other if r not in evidence]
        print(f"  warning: {len(other)} cached results were made by other numerical code (model, labels, train "
              f"or inference changed since; FORCE=1 retrains): {len(narrow)} of narrow profiles"
              + (f" ({', '.join(narrow)})" if 0 < len(narrow) <= 5 else "")
              + (f", and {len(evidence)} at the paper's widths: {', '.join(evidence)}" if evidence else ""), flush=True)
    if unknown:
        print(f"  ({unknown} cached results predate the code hash: not checked)", flush=True)


def execute_notebooks(profile: str, only: list[str] | None = None) -> list[Path]:
    import nbformat
    import papermill

    SRC.mkdir(parents=True, exist_ok=True)
    done = []
    for nb in sorted(BOOK.glob("*.ipynb")):
        if only and nb.stem not in only:
            continue
        out = SRC / nb.name
        t0 = time.perf_counter()
        papermill.execute_notebook(str(nb), str(out), parameters={"profile": profile}, kernel_name="python3",
                                   cwd=str(BOOK), progress_bar=False, log_output=False)
        executed = nbformat.read(out, as_version=4)
        for cell in executed.cells:  # the reader needs the parameters, not papermill's copy of them
            tags = cell.get("metadata", {}).get("tags", [])
            if "injected-parameters" in tags and "remove-cell" not in tags:
                cell["metadata"]["tags"] = [*tags, "remove-cell"]
        nbformat.write(executed, out)
        print(f"  {nb.name:40s} {time.perf_counter() - t0:6.1f} s", flush=True)
        for line in shown_stderr(executed):
            print(f"    warning: the page shows this on stderr (fix its cause): {line}", flush=True)
        done.append(out)
    return done


def shown_stderr(notebook) -> list[str]:
    """The first line of each stderr output that the rendered page shows (cells tagged
    ``remove-cell`` or ``remove-output`` hide theirs): a library warning there reaches every reader."""
    lines = []
    for cell in notebook.cells:
        if {"remove-cell", "remove-output", "remove-stderr"} & set(cell.get("metadata", {}).get("tags", [])):
            continue
        for o in cell.get("outputs", []):
            if o.get("name") == "stderr" and o.get("text", "").strip():
                lines.append(o["text"].strip().splitlines()[0])
    return lines


def render() -> Path:
    for f in BOOK.iterdir():
        if f.suffix in {".md", ".yml", ".bib"} or (f.is_dir() and f.name in {"images", "_static"}):
            target = SRC / f.name
            if f.is_dir():
                shutil.copytree(f, target, dirs_exist_ok=True)
            else:
                shutil.copy(f, target)
    cmd = [str(Path(sys.executable).with_name("jupyter-book")), "build", str(SRC), "--path-output", str(BOOK),
           "--warningiserror", "--keep-going", "--quiet"]
    subprocess.run(cmd, check=True)
    return BUILD / "html" / "index.html"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m ffcnn_lib.book", description=__doc__)
    p.add_argument("--profile", default="auto", choices=["auto", *PROFILES])
    p.add_argument("--force", action="store_true", help="retrain (see train_all)")
    p.add_argument("--device", default="auto")
    p.add_argument("--skip-train", action="store_true", help="only execute and render (results must exist)")
    p.add_argument("--only", nargs="*", help="execute only these notebooks (stems)")
    p.add_argument("--no-html", action="store_true")
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    if not args.skip_train:
        print(f"results (profile {args.profile}):", flush=True)
        train_all(args.profile, args.force, args.device)
    if not args.skip_train and args.profile == "auto":
        from .campaign import update_readme
        if update_readme():
            print("README: status and campaign-times tables updated from the results", flush=True)
    print("notebooks:", flush=True)
    execute_notebooks(args.profile, args.only)
    if not args.no_html:
        index = render()
        print(f"book: {index}")
    print(f"done in {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
