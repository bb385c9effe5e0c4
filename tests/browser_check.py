"""Open the built book in headless Chromium: pages load, figures are visible, no request fails.

``make browser-check`` (needs Debian's ``chromium`` and ``chromium-driver``). Serves
``book/_build/html`` on 127.0.0.1, opens the index, a figure page and the summary page, checks every
<img> decoded (naturalWidth > 0) and that no request failed, and writes a screenshot of the summary
page to ``book/images/summary_screenshot.png`` (shown in the README).
"""
from __future__ import annotations

import functools
import http.server
import json
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HTML = ROOT / "book" / "_build" / "html"
PAGES = ["index.html", "03_filters_ff_vs_bp.html", "07_class_activation_maps.html", "13_performance.html",
         "14_open_choices.html", "12_summary.html"]


def main() -> int:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    if not (HTML / "index.html").exists():
        print(f"no built book at {HTML}: run `make reproduce` first", file=sys.stderr)
        return 2
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):  # keep the report readable
            pass

    handler = functools.partial(Quiet, directory=str(HTML))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"

    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1280,1600"):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
    failures = []
    try:
        for page in PAGES:
            driver.get(f"{base}/{page}")
            driver.execute_script("return document.readyState")
            images = driver.execute_script(
                "return Array.from(document.images).map(i => [i.currentSrc, i.complete && i.naturalWidth > 0])")
            broken = [src for src, ok in images if not ok]
            failed = []
            for entry in driver.get_log("performance"):
                msg = json.loads(entry["message"])["message"]
                if msg["method"] == "Network.loadingFailed" and not msg["params"].get("canceled"):
                    failed.append(msg["params"].get("errorText"))
                if (msg["method"] == "Network.responseReceived" and msg["params"]["response"]["status"] >= 400
                        and not msg["params"]["response"]["url"].endswith("/favicon.ico")):  # the browser's own ask
                    failed.append(f"{msg['params']['response']['status']} {msg['params']['response']['url']}")
            print(f"{page:34s} images {len(images) - len(broken)}/{len(images)} visible, failed requests: {len(failed)}")
            failures += [f"{page}: broken image {s}" for s in broken] + [f"{page}: {f}" for f in failed]
            if page == "12_summary.html":
                out = ROOT / "book" / "images" / "summary_screenshot.png"
                out.parent.mkdir(exist_ok=True)
                driver.save_screenshot(str(out))
                print(f"screenshot: {out.relative_to(ROOT)}")
        figures = driver.execute_script("return document.images.length")
    finally:
        driver.quit()
        server.shutdown()
    if failures:
        print("\n".join(failures), file=sys.stderr)
        return 1
    print(f"ok ({figures} images on the last page)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
