"""Edit a chapter in JupyterLab, in headless Chromium, as a reader does (issue #28).

``make browser-check`` (needs Debian's ``chromium`` and ``chromium-driver``). Starts JupyterLab as
``make lab`` does (:mod:`ffcnn_lib.lab`) on a free port, serving a copy of the chapter (so that nothing
can change ``book/``) with a temporary result cache (``FFCNN_RESULTS``) that holds the committed runs the
chapter shows. In the browser it

1. opens the chapter and runs all cells from the Run menu: the figure of the committed runs appears;
2. types ``profile = "cpu"`` into the parameters cell and runs all cells again: the missing runs train
   with a progress bar (an ipywidgets bar, seen by a ``MutationObserver``), land in the cache, and the
   figure is drawn again, a different one.

It fails, naming the step, when a cell shows an error (a traceback) or did not run, when there is no
figure, no progress bar, or no new run in the cache, or when a step does not finish in its time. It
writes the screenshot ``book/images/lab_screenshot.png`` (the README shows it) and stops JupyterLab
and Chromium whatever happens.

``python tests/lab_check.py --profile smoke`` is quicker; ``--no-screenshot`` leaves the image alone.
Exit code 1 on a failure.
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from browser_check import _driver  # noqa: E402  (the same headless Chromium as the book's check)

from ffcnn_lib import lab, sweeps  # noqa: E402
from ffcnn_lib.experiments import load  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CHAPTER = lab.CHAPTER
SCREENSHOT = ROOT / "book" / "images" / "lab_screenshot.png"
VIEWPORT = (1280, 1900)  # the book's screenshot is 1280 px wide too; this height shows the edited cell and the figure
# Private JupyterLab settings: no autosave (the notebook is a copy, but a test never writes what it
# edits), no news or update prompt over the notebook.
SETTINGS = {"@jupyterlab/docmanager-extension/plugin": {"autosave": False},
            "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False}}

STATE = r"""
const cells = Array.from(document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell'));
const bar = document.querySelector('#jp-main-statusbar');
// "Python 3 (ipykernel) | Idle" once the kernel is connected (the toolbar's indicator says idle before)
const status = bar ? (bar.innerText.match(/\|\s*(\w+)/) || [])[1] : null;
return {
  kernel: status ? status.toLowerCase() : null,
  cells: cells.filter(c => c.classList.contains('jp-CodeCell')).map(c => ({
    source: (c.querySelector('.cm-content') || {innerText: ''}).innerText,
    prompt: (c.querySelector('.jp-InputPrompt') || {innerText: ''}).innerText.trim(),
    outputs: Array.from(c.querySelectorAll('.jp-OutputArea-output')).map(o => ({
      mime: o.dataset.mimeType || '',
      text: o.innerText.slice(0, 2000),
      images: Array.from(o.querySelectorAll('img')).map(i => [i.src.length, i.src.slice(-200), i.naturalWidth]),
    })),
  })),
  progress: window.__progress || [],
};
"""

# Every progress bar added to the page while the cells run (a tqdm bar with leave=False is removed
# when its run ends, so it is seen here, not looked for afterwards).
OBSERVE = r"""
window.__progress = [];
const seen = new Set();
new MutationObserver(() => {
  for (const bar of document.querySelectorAll('.jp-OutputArea-output .widget-hprogress')) {
    const box = bar.closest('.widget-hbox') || bar;
    const text = box.innerText.replace(/\s+/g, ' ').trim() || 'progress bar';
    if (!seen.has(text)) { seen.add(text); window.__progress.push(text); }
  }
}).observe(document.body, {childList: true, subtree: true, attributes: true, characterData: true});
"""


SCROLL = r"""
const figure = document.querySelector(".jp-OutputArea-output[data-mime-type^='image/']");
const params = Array.from(document.querySelectorAll('.jp-CodeCell'))
    .find(c => /^\s*profile\s*=/.test((c.querySelector('.cm-content') || {innerText: ''}).innerText));
params.scrollIntoView({block: 'start'});
if (figure.getBoundingClientRect().bottom > window.innerHeight) figure.scrollIntoView({block: 'end'});
"""


class Failure(Exception):
    pass


def _wait(driver, what: str, until, timeout_s: float) -> dict:
    """Poll the notebook's state until ``until(state)`` holds; ``Failure`` naming ``what`` otherwise."""
    deadline = time.monotonic() + timeout_s
    while True:
        state = driver.execute_script(STATE)
        if until(state):
            return state
        if time.monotonic() > deadline:
            prompts = [c["prompt"] for c in state["cells"]]
            raise Failure(f"{what}: not within {timeout_s:.0f} s (kernel {state['kernel']}, prompts {prompts})")
        time.sleep(0.5)


def _kernel_connected(server: lab.Server) -> bool:
    """The server has the chapter's kernel, idle, with the page connected to it."""
    kernels = [s["kernel"] for s in server.api("GET", "/api/sessions") or [] if s.get("kernel")]
    return any(k.get("execution_state") == "idle" and k.get("connections", 0) > 0 for k in kernels)


def _numbers(state: dict) -> list[int | None]:
    return [int(m.group(1)) if (m := re.fullmatch(r"\[(\d+)\]:", c["prompt"])) else None for c in state["cells"]]


def check_outputs(state: dict, step: str) -> list[str]:
    """Each error a cell shows (its traceback's last line), and a cell that did not run."""
    problems = []
    for n, (cell, number) in enumerate(zip(state["cells"], _numbers(state)), 1):
        if number is None:
            problems.append(f"{step}: code cell {n} did not run (prompt {cell['prompt']!r})")
        for out in cell["outputs"]:  # JupyterLab shows an exception as stderr (its mime type), with its traceback
            if "Traceback" in out["text"] or (out["mime"] == "application/vnd.jupyter.stderr"
                                              and re.search(r"(?m)^\w*(Error|Exception)\b", out["text"])):
                last = [line for line in out["text"].splitlines() if line.strip()][-1:]
                problems.append(f"{step}: code cell {n} shows an error: {last}")
    return problems


def figures(state: dict) -> list[tuple[int, str]]:
    """(length, end) of the source of every decoded figure (image output)."""
    return [(length, end) for cell in state["cells"] for out in cell["outputs"] if out["mime"].startswith("image/")
            for length, end, width in out["images"] if width > 0]


def run_all(driver, step: str, timeout_s: float) -> dict:
    """Run > Run All Cells, then wait until every code cell has run once more and the kernel is idle."""
    from selenium.webdriver.common.by import By

    before = max([n for n in _numbers(driver.execute_script(STATE)) if n is not None], default=0)
    driver.find_element(By.XPATH, "//li[contains(@class, 'lm-MenuBar-item')][normalize-space()='Run']").click()
    driver.find_element(By.XPATH, "//li[contains(@class, 'lm-Menu-item')]"
                                  "[.//div[contains(@class, 'lm-Menu-itemLabel')][normalize-space()='Run All Cells']]").click()
    # Run All stops at a cell that fails: then the wait ends at its traceback.
    return _wait(driver, f"{step}: every code cell run", lambda s: s["kernel"] == "idle" and s["cells"] and (all(
        n is not None and n > before for n in _numbers(s)) or any(
        "Traceback" in o["text"] for c in s["cells"] for o in c["outputs"])), timeout_s)


def set_profile(driver, profile: str) -> None:
    """Type ``profile = "..."`` over the parameters cell, as a reader does."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    editors = [e for e in driver.find_elements(By.CSS_SELECTOR, ".jp-CodeCell .cm-content")
               if re.match(r"\s*profile\s*=", e.text)]
    if len(editors) != 1:
        raise Failure(f"the chapter should have one parameters cell assigning profile, found {len(editors)}")
    editors[0].click()
    editors[0].send_keys(Keys.CONTROL, "a")
    editors[0].send_keys(f'profile = "{profile}"', Keys.ESCAPE)
    text = editors[0].text.strip()
    if text != f'profile = "{profile}"':
        raise Failure(f"typing into the parameters cell gave {text!r}")


def seed_results(artifact: str, results: Path) -> int:
    """Copy the committed runs that the chapter shows by default into ``results``; how many."""
    n = 0
    for _, _, runs in sweeps.cell_plan(artifact):
        for run in runs:
            stored = load(run)
            if stored is not None:
                shutil.copytree(stored.path, results / "runs" / stored.path.name)
                n += 1
    return n


def check(profile: str, screenshot: bool, timeout_s: float) -> list[str]:
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.common.by import By

    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="lab-check-") as tmp:
        tmp = Path(tmp)
        source = json.loads(lab.chapter_copy(tmp / "root").read_text())
        code = "\n".join("".join(c["source"]) for c in source["cells"] if c["cell_type"] == "code")
        artifact = re.search(r'sweeps\.collect\("(\w+)"', code).group(1)
        results = tmp / "results"
        seeded = seed_results(artifact, results)
        print(f"{CHAPTER}: {seeded} committed runs of {artifact!r} copied to a temporary cache", flush=True)
        with lab.running(tmp / "root", results, tmp / "jupyter", user_settings=SETTINGS) as server:
            print(f"JupyterLab up in {time.perf_counter() - t0:.1f} s on port {server.port}", flush=True)
            driver = _driver(str(tmp / "chromium"))
            try:
                driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
                    "width": VIEWPORT[0], "height": VIEWPORT[1], "deviceScaleFactor": 1, "mobile": False})
                driver.get(f"{server.url}/lab/tree/book/{CHAPTER}.ipynb?token={server.token}")
                _wait(driver, "the chapter open with its kernel idle",
                      lambda s: s["kernel"] == "idle" and len(s["cells"]) > 0 and _kernel_connected(server), 120)
                t1 = time.perf_counter()
                first = run_all(driver, "run all (profile as committed)", timeout_s)
                problems = check_outputs(first, "run all (as committed)")
                if seeded and len(figures(first)) != 1:
                    problems.append(f"run all (as committed): {len(figures(first))} figures shown, not 1")
                print(f"run all, as committed: {time.perf_counter() - t1:.1f} s, {len(figures(first))} figure",
                      flush=True)
                if problems:
                    return problems
                runs_before = set((results / "runs").glob("*"))
                set_profile(driver, profile)
                driver.execute_script(OBSERVE)
                t1 = time.perf_counter()
                second = run_all(driver, f"run all (profile {profile})", timeout_s)
                print(f"run all, profile {profile}: {time.perf_counter() - t1:.1f} s; progress bars seen: "
                      f"{second['progress'][:3]}", flush=True)
                problems = check_outputs(second, f"run all (profile {profile})")
                shown = figures(second)
                if len(shown) != 1:
                    problems.append(f"profile {profile}: {len(shown)} figures shown, not 1")
                elif figures(first) and shown == figures(first):
                    problems.append(f"profile {profile}: the figure did not change")
                if not second["progress"]:
                    problems.append(f"profile {profile}: no progress bar appeared while the runs trained")
                new = set((results / "runs").glob("*")) - runs_before
                if not new:
                    problems.append(f"profile {profile}: no new run in the cache {results / 'runs'}")
                print(f"new runs in the cache: {sorted(p.name for p in new)}", flush=True)
                if screenshot and not problems:
                    # The edited parameters cell at the top of the window, the figure below it (or, if
                    # the figure would not fit, the figure at the bottom).
                    driver.execute_script(SCROLL)
                    time.sleep(1)
                    SCREENSHOT.parent.mkdir(exist_ok=True)
                    driver.save_screenshot(str(SCREENSHOT))
                    print(f"screenshot: {SCREENSHOT.relative_to(ROOT)}", flush=True)
                return problems
            except (Failure, WebDriverException) as failure:
                failed = tmp.parent / f"lab-check-failure-{int(time.time())}.png"
                driver.save_screenshot(str(failed))
                return [f"{failure} (screenshot of the page: {failed})"]
            finally:
                driver.quit()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--profile", default="cpu", choices=list(sweeps.PROFILES),
                   help="the profile typed into the parameters cell (default cpu, as the chapter says)")
    p.add_argument("--timeout", type=float, default=600, help="seconds each run of all cells may take")
    p.add_argument("--no-screenshot", action="store_true")
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    problems = check(args.profile, not args.no_screenshot, args.timeout)
    if problems:
        print("\n".join(problems), file=sys.stderr)
        print(f"FAILED: {CHAPTER} in JupyterLab ({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
        return 1
    print(f"ok: {CHAPTER} in JupyterLab, profile {args.profile} typed in and run, in {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
