"""Open every page of the built book in headless Chromium, at 1280 px and at 390 px (a phone).

``make browser-check`` (needs Debian's ``chromium`` and ``chromium-driver``). Serves
``book/_build/html`` on 127.0.0.1 and opens each page of the table of contents (``_toc.yml`` of the
build, else ``book/_toc.yml``) at both widths. A page fails, with its name, the width and the
element, when

* **table overflow**: a table is wider than its content column: its full width (``scrollWidth``, or
  its box) reaches past the content box of the article or of any element between the two. A table
  in a scroll wrapper that the reader would have to scroll sideways counts too, since the wrapper is
  such an element;
* **NaN**: ``NaN`` (any case, as a word) is in the page's visible text (``innerText``);
* **broken image**: an ``<img>`` did not decode (``naturalWidth == 0``);
* **failed request**: a request failed or answered 400 or more (the browser's own favicon ask aside);
* **smoke number**: (no browser needed, :func:`scan_html`) the page was not executed under
  ``PROFILE=smoke`` and one table row or sentence of its HTML shows an accuracy of a smoke-profile
  run (``results/runs/*``, 2 epochs on 1,000 images) together with a number the paper reports
  (``ffcnn_lib/paper_reported.csv``): a smoke run's result shown as a result against the paper.

It also writes the screenshots of the summary page: ``book/images/summary_screenshot.png`` (1280 px,
shown in the README) and ``book/images/summary_screenshot_390.png`` (390 px).

``python tests/browser_check.py --html DIR`` checks another build; ``--no-screenshot`` leaves the
images alone; ``--results DIR`` reads the runs from another results folder. Exit code 1 lists every
failure, 2 when there is no built book.
"""
from __future__ import annotations

import argparse
import csv
import functools
import http.server
import json
import os
import re
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HTML = ROOT / "book" / "_build" / "html"
WIDTHS = {1280: 1600, 390: 844}  # viewport width: height (the 1280 one is the README screenshot's size)
SUMMARY = "12_summary.html"

# ---------------------------------------------------------------------------------------------
# Smoke-profile numbers shown as results: a scan of the HTML, no browser needed.
# ---------------------------------------------------------------------------------------------

SMOKE_EPOCHS, SMOKE_N_TRAIN = 2, 1000  # what sweeps.PROFILE["smoke"] trains; no other profile matches both
ACC_KEY = re.compile(r"^(val|test)_acc_")
# A decimal number standing alone: not signed (differences are printed with a sign), not part of a
# version, run id or longer number; a spread after "±" is left out too (see _numbers).
NUMBER = re.compile(r"(?<![\w.+\-\u2212\u00b1])(\d+\.\d+)(?![\w]|\.\d)")


@dataclass
class SmokeIndex:
    """How the book can print the accuracies of the smoke runs, and of the other runs.

    A token matches an accuracy ``a`` printed as a percentage with 2 or more decimals
    (``f"{100 * a:.2f}"``, as the book's sentences and rounded tables do, or pandas' longer
    default) or as a fraction with 4 or more; in a table row also pandas' shorter form, where it
    drops a trailing zero from a whole column (``82.4`` for 82.40 %, ``0.824`` for 0.8240). A token
    that an accuracy of a non-smoke run prints as well is ambiguous and not counted.
    """

    smoke: dict[str, set[str]] = field(default_factory=dict)  # token -> run ids (any context)
    smoke_in_table: dict[str, set[str]] = field(default_factory=dict)  # the short forms, table rows only
    other: set[str] = field(default_factory=set)

    @classmethod
    def from_values(cls, smoke: dict[str, list[float]] | list[float], other: list[float] = ()) -> SmokeIndex:
        """From accuracies as fractions: ``smoke`` a list, or run id -> list."""
        if not isinstance(smoke, dict):
            smoke = {"smoke run": list(smoke)}
        index = cls()
        for run_id, values in smoke.items():
            for a in values:
                for token in _forms(a):
                    index.smoke.setdefault(token, set()).add(run_id)
                for token in _short_forms(a):
                    index.smoke_in_table.setdefault(token, set()).add(run_id)
        for a in other:
            index.other |= _forms(a) | _short_forms(a)
        return index

    @classmethod
    def from_results(cls, results: Path) -> SmokeIndex:
        """From the runs stored under ``results/runs``: smoke runs are those of 2 epochs on 1,000
        training images (``config.json``), their accuracies the ``*_acc_*`` values of ``summary.json``."""
        smoke: dict[str, list[float]] = {}
        other: list[float] = []
        for run in sorted((results / "runs").glob("*/summary.json")):
            try:
                summary = json.loads(run.read_text())
                config = summary.get("config") or json.loads((run.parent / "config.json").read_text())
            except (OSError, ValueError):
                continue
            values = [v for k, v in (summary.get("final") or {}).items()
                      if ACC_KEY.match(k) and isinstance(v, (int, float)) and v == v]
            if config.get("epochs") == SMOKE_EPOCHS and config.get("n_train") == SMOKE_N_TRAIN:
                smoke[run.parent.name] = values
            else:
                other += values
        return cls.from_values(smoke, other)

    def match(self, token: str, in_table: bool) -> set[str]:
        """The smoke runs that print ``token`` (empty when none, or when ambiguous)."""
        if token in self.other:
            return set()
        runs = set(self.smoke.get(token, ()))
        if in_table:
            runs |= self.smoke_in_table.get(token, set())
        return runs


def _forms(a: float) -> set[str]:
    return {f"{100 * a:.{k}f}" for k in range(2, 9)} | {f"{a:.{k}f}" for k in range(4, 11)}


def _short_forms(a: float) -> set[str]:
    out = set()
    if f"{100 * a:.2f}".endswith("0"):
        out.add(f"{100 * a:.1f}")
    if f"{a:.4f}".endswith("0"):
        out.add(f"{a:.3f}")
    return out


def reported_values(csv_path: Path = ROOT / "ffcnn_lib" / "paper_reported.csv") -> list[float]:
    """The numbers the paper reports (percent), from the ``value`` column."""
    with open(csv_path, newline="") as f:
        return [float(row["value"]) for row in csv.DictReader(f) if row.get("value", "").strip()]


def _is_reported(token: str, reported: list[float]) -> bool:
    t = float(token)
    if any(abs(t - v) < 1e-9 for v in reported):  # 99.20 or 99.2 for 99.20
        return True
    decimals = len(token.split(".")[1])
    return token.startswith("0.") and decimals >= 3 and any(abs(100 * t - v) < 1e-7 for v in reported)


BLOCK = {"p", "div", "li", "ul", "ol", "dd", "dt", "dl", "pre", "h1", "h2", "h3", "h4", "h5", "h6", "table",
         "thead", "tbody", "tr", "td", "th", "caption", "figcaption", "figure", "blockquote", "section",
         "article", "main", "aside", "header", "footer", "nav", "br", "hr", "details", "summary", "body"}
SKIP = {"script", "style", "noscript", "template", "head", "title"}


class _Units(HTMLParser):
    """Splits a page's text into units: each table row (its cells together), each sentence of
    the text outside tables (and each line of a ``<pre>``)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.units: list[tuple[str, str]] = []
        self.skip = 0
        self.pre = 0
        self.rows: list[list[str]] = []  # a stack, for tables in tables
        self.buffer: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in SKIP:
            self.skip += 1
        elif tag == "tr":
            self._flush()
            self.rows.append([])
        elif tag in BLOCK:
            if self.rows and tag in {"td", "th"}:
                self.rows[-1].append(" | ")
            elif not self.rows:
                self._flush()
            if tag == "pre":
                self.pre += 1

    def handle_startendtag(self, tag, attrs):
        if tag in {"br", "hr"} and not self.rows:
            self._flush()

    def handle_endtag(self, tag):
        if tag in SKIP:
            self.skip = max(0, self.skip - 1)
        elif tag == "tr" and self.rows:
            self.units.append(("table row", _squash("".join(self.rows.pop()))))
        elif tag in BLOCK and not self.rows:
            self._flush()
            if tag == "pre":
                self.pre = max(0, self.pre - 1)

    def handle_data(self, data):
        if self.skip:
            return
        (self.rows[-1] if self.rows else self.buffer).append(data)

    def _flush(self):
        text = "".join(self.buffer)
        self.buffer = []
        for line in text.split("\n") if self.pre else [text]:
            for sentence in re.split(r"(?<=[.!?])\s+(?=\S)", _squash(line)):
                if sentence:
                    self.units.append(("sentence", sentence))

    def close(self):
        super().close()
        self._flush()
        while self.rows:
            self.units.append(("table row", _squash("".join(self.rows.pop()))))


def _squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def text_units(html: str) -> list[tuple[str, str]]:
    """``(kind, text)`` for each table row and sentence of ``html``."""
    parser = _Units()
    parser.feed(html)
    parser.close()
    return parser.units


# A number with a unit of time, size, speed or a difference is not an accuracy ("2.8 h", "4.8 h per run").
UNIT = re.compile(r"\s*(?:h|min|s|ms|MiB|MB|GB|GPU|TFLOP|GFLOP|pp|x)\b")


def _numbers(text: str) -> list[str]:
    return [m.group(1) for m in NUMBER.finditer(text) if not text[:m.start()].rstrip().endswith("\u00b1")
            and not UNIT.match(text, m.end())]


def scan_html(html: str, smoke: SmokeIndex, reported: list[float]) -> list[str]:
    """Each table row or sentence of ``html`` that shows a smoke run's accuracy beside a number
    the paper reports (two different numbers of the unit), described in one line."""
    found = []
    for kind, text in text_units(html):
        tokens = _numbers(text)
        if len(tokens) < 2:
            continue
        for i, token in enumerate(tokens):
            runs = smoke.match(token, kind == "table row")
            if not runs:
                continue
            others = [t for j, t in enumerate(tokens) if j != i and _is_reported(t, reported)]
            if others:
                snippet = text if len(text) <= 160 else text[:157] + "..."
                found.append(f"{kind} shows smoke-run accuracy {token} ({', '.join(sorted(runs)[:3])}"
                             f"{' ...' if len(runs) > 3 else ''}) beside reported {others[0]}: {snippet!r}")
                break
    return found


# ---------------------------------------------------------------------------------------------
# The pages and the profile they were executed under.
# ---------------------------------------------------------------------------------------------

def toc_pages(toc: Path) -> list[str]:
    """The html pages of a Jupyter Book ``_toc.yml`` (root first, then parts, chapters, sections)."""
    import yaml

    data = yaml.safe_load(toc.read_text())
    pages = []

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                pages.append(str(Path(node["file"]).with_suffix("")) + ".html")
            for key in ("parts", "chapters", "sections"):
                for child in node.get(key) or []:
                    walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    pages.append(str(Path(data["root"]).with_suffix("")) + ".html")
    walk(data)
    return list(dict.fromkeys(pages))


def page_profiles(src: Path) -> dict[str, str]:
    """page -> the profile its notebook was executed with (papermill's record in ``_build/src``)."""
    out = {}
    for nb in sorted(src.glob("*.ipynb")):
        try:
            params = json.loads(nb.read_text())["metadata"]["papermill"]["parameters"]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if "profile" in params:
            out[nb.stem + ".html"] = params["profile"]
    return out


# ---------------------------------------------------------------------------------------------
# The browser.
# ---------------------------------------------------------------------------------------------

MEASURE = r"""
const done = arguments[arguments.length - 1];
(async () => {
  try { if (window.MathJax && MathJax.startup && MathJax.startup.promise) await MathJax.startup.promise; } catch (e) {}
  try { await document.fonts.ready; } catch (e) {}
  window.scrollTo(0, document.body.scrollHeight);
  for (let i = 0; i < 50 && !Array.from(document.images).every(i => i.complete); i++)
    await new Promise(r => setTimeout(r, 100));
  window.scrollTo(0, 0);
  const column = document.querySelector('article.bd-article') || document.querySelector('main') || document.body;
  const name = el => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
      (el.classList.length ? '.' + Array.from(el.classList).slice(0, 3).join('.') : '');
  const box = el => {  // the content box, in viewport coordinates
    const r = el.getBoundingClientRect(), s = getComputedStyle(el);
    const left = r.left + el.clientLeft + parseFloat(s.paddingLeft);
    return [left, r.left + el.clientLeft + el.clientWidth - parseFloat(s.paddingRight)];
  };
  const tables = Array.from(column.querySelectorAll('table'));
  const overflow = [];
  tables.forEach((t, n) => {
    const r = t.getBoundingClientRect();
    const width = Math.max(t.scrollWidth, r.width);
    const head = (t.querySelector('caption') || t.querySelector('tr') || t).innerText.replace(/\s+/g, ' ').trim();
    const what = `table ${n + 1}/${tables.length} (${head.slice(0, 60)})`;
    if (t.scrollWidth > t.clientWidth + 1)
      overflow.push(`${what}: its cells are ${t.scrollWidth} px wide, the table ${t.clientWidth} px`);
    for (let a = t.parentElement; a; a = a.parentElement) {
      const [left, right] = box(a);
      if (r.left + width > right + 1 || r.left < left - 1) {
        let scroller = null, labelled = a;
        for (let b = t.parentElement; b; b = b.parentElement) {
          if (!scroller && /(auto|scroll)/.test(getComputedStyle(b).overflowX) && b.scrollWidth > b.clientWidth + 1)
            scroller = b;
          if (labelled === a && !a.classList.length && b !== a && b.contains(a) && b.classList.length) labelled = b;
          if (b === column) break;
        }
        const where = labelled === a ? name(a) : `${name(a)} in ${name(labelled)}`;
        overflow.push(`${what}: ${Math.round(width)} px wide in ${Math.round(right - left)} px of ${where}, ` +
                      (scroller ? `which the reader must scroll sideways (${name(scroller)})` : 'spilling out of it'));
        break;
      }
      // A cell tagged full-width spans the margin on purpose (Jupyter Book): its own box is its column.
      if (a === column || a.classList.contains('tag_full-width')) break;
    }
  });
  const text = document.body.innerText;
  const nan = [];
  for (const m of text.matchAll(/\bnan\b/gi))
    nan.push(text.slice(Math.max(0, m.index - 40), m.index + 40).replace(/\s+/g, ' '));
  done({
    viewport: window.innerWidth,
    column: Math.round(box(column)[1] - box(column)[0]),
    tables: tables.length,
    overflow: overflow,
    nan: nan,
    pageScroll: document.documentElement.scrollWidth > window.innerWidth + 1 ? document.documentElement.scrollWidth : 0,
    images: Array.from(document.images).map(i => [i.currentSrc || i.src, i.complete && i.naturalWidth > 0]),
  });
})();
"""


def _requests_failed(driver) -> list[str]:
    failed = []
    for entry in driver.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        if msg["method"] == "Network.loadingFailed" and not msg["params"].get("canceled"):
            failed.append(f"request failed: {msg['params'].get('errorText')}")
        if (msg["method"] == "Network.responseReceived" and msg["params"]["response"]["status"] >= 400
                and not msg["params"]["response"]["url"].endswith("/favicon.ico")):  # the browser's own ask
            failed.append(f"request failed: {msg['params']['response']['status']} {msg['params']['response']['url']}")
    return failed


def _driver(user_data_dir: str):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--hide-scrollbars", f"--user-data-dir={user_data_dir}", "--window-size=1280,1600"):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
    driver.set_script_timeout(30)
    return driver


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--html", type=Path, default=HTML, help="the built book (default book/_build/html)")
    p.add_argument("--results", type=Path, default=None, help="results folder (default $FFCNN_RESULTS or results/)")
    p.add_argument("--no-screenshot", action="store_true")
    args = p.parse_args(argv)
    html_dir = args.html.resolve()
    if not (html_dir / "index.html").exists():
        print(f"no built book at {html_dir}: run `make reproduce` first", file=sys.stderr)
        return 2
    build = html_dir.parent
    toc = build / "src" / "_toc.yml"
    pages = toc_pages(toc if toc.exists() else ROOT / "book" / "_toc.yml")
    profiles = page_profiles(build / "src")
    book_profile = "smoke" if profiles and set(profiles.values()) == {"smoke"} else None
    results = args.results or Path(os.environ.get("FFCNN_RESULTS") or ROOT / "results")
    smoke = SmokeIndex.from_results(results)
    reported = reported_values()

    failures: list[str] = []
    counts: dict[str, int] = {}
    seen: set[tuple[str, str, str]] = set()

    def fail(page, width, rule, what):
        if rule != "table overflow":  # the same NaN, image or request at the other width: once
            if (page, rule, what) in seen:
                return
            seen.add((page, rule, what))
        counts[rule] = counts.get(rule, 0) + 1
        failures.append(f"{page} @ {width} px: {rule}: {what}" if width else f"{page}: {rule}: {what}")

    # 1. smoke numbers, from the HTML files themselves
    for page in pages:
        path = html_dir / page
        if not path.exists():
            fail(page, None, "missing page", f"{path} was not built")
            continue
        if profiles.get(page, book_profile) == "smoke":
            continue  # built under PROFILE=smoke: smoke numbers are what it shows, and it says so
        for line in scan_html(path.read_text(errors="replace"), smoke, reported):
            fail(page, None, "smoke number", line)

    # 2. the browser, page by page, at each width
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):  # keep the report readable
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(html_dir)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    with tempfile.TemporaryDirectory(prefix="browser-check-") as profile_dir:
        driver = _driver(profile_dir)
        try:
            for width, height in WIDTHS.items():
                driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                                       {"width": width, "height": height, "deviceScaleFactor": 1,
                                        "mobile": width < 600})
                for page in pages:
                    if not (html_dir / page).exists():
                        continue
                    driver.get_log("performance")  # drop what the previous page left
                    driver.get(f"{base}/{page}")
                    m = driver.execute_async_script(MEASURE)
                    if m["viewport"] != width:
                        fail(page, width, "viewport", f"the page is {m['viewport']} px wide, not {width}")
                    broken = [src for src, ok in m["images"] if not ok]
                    for src in broken:
                        fail(page, width, "broken image", src[:120])
                    for what in m["overflow"]:
                        fail(page, width, "table overflow", what)
                    for context in m["nan"]:
                        fail(page, width, "NaN", repr(context))
                    for what in _requests_failed(driver):
                        fail(page, width, "failed request", what)
                    print(f"{page:34s} {width:4d} px: column {m['column']:4d} px, {m['tables']:2d} tables "
                          f"({len(m['overflow'])} overflow), images {len(m['images']) - len(broken)}/"
                          f"{len(m['images'])}, NaN {len(m['nan'])}"
                          + (f", page {m['pageScroll']} px wide" if m["pageScroll"] else ""), flush=True)
                    if page == SUMMARY and not args.no_screenshot:
                        suffix = "" if width == 1280 else f"_{width}"
                        out = ROOT / "book" / "images" / f"summary_screenshot{suffix}.png"
                        out.parent.mkdir(exist_ok=True)
                        driver.save_screenshot(str(out))
                        print(f"screenshot: {out.relative_to(ROOT)}")
        finally:
            driver.quit()
            server.shutdown()
    if failures:
        print("\n".join(failures), file=sys.stderr)
        print(f"FAILED: {len(failures)} ({', '.join(f'{k} {v}' for k, v in sorted(counts.items()))}) "
              f"on {len({f.split(' ')[0].rstrip(':') for f in failures})} of {len(pages)} pages", file=sys.stderr)
        return 1
    print(f"ok: {len(pages)} pages at {', '.join(map(str, WIDTHS))} px")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
