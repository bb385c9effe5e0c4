"""JupyterLab for editing the book's chapters: ``python -m ffcnn_lib.lab`` (``make lab``), issue #28.

The third use of the companion beside reading the book and ``make reproduce``: open a chapter, change
its parameters cell (``profile = "cpu"``), run all cells. Runs missing from the result cache train in
the kernel with a progress bar (tqdm's widget, ``ipywidgets``), are stored in the cache
(``$FFCNN_RESULTS``, else ``results/``) and the figure is drawn again from them.

:func:`command` is the one place that says how JupyterLab is started; :func:`running` starts it for a
script or a test (a free port, a token, private Jupyter folders) and always stops it.
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from .experiments import results_dir

REPO = Path(__file__).resolve().parent.parent
BOOK_URL = "/lab/tree/book"  # the file browser opens in book/; the library stays reachable from the root
CHAPTER = "11_bp_baseline"  # the chapter the tests edit: one BP run of 2x2x2 filters per seed trains in seconds


def chapter_copy(root: Path, chapter: str = CHAPTER) -> Path:
    """``root/book/<chapter>.ipynb``, a copy of the chapter for a server serving ``root``: what it edits
    or saves can never change ``book/``. Returns its path."""
    (root / "book").mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy(REPO / "book" / f"{chapter}.ipynb", root / "book"))


def command(root: Path = REPO, port: int = 8888, *, token: str | None = None, open_browser: bool = True,
            port_retries: int = 50) -> list[str]:
    """The JupyterLab command line: this Python's JupyterLab, so the kernel is this Python's (Jupyter
    runs a ``python`` kernelspec with the server's interpreter), on 127.0.0.1 only."""
    argv = [sys.executable, "-m", "jupyterlab", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
            f"--ServerApp.port_retries={port_retries}", f"--ServerApp.root_dir={root}",
            f"--LabApp.default_url={BOOK_URL}"]
    if token is not None:
        argv.append(f"--IdentityProvider.token={token}")
    if not open_browser:
        argv.append("--no-browser")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        argv.append("--allow-root")  # containers run as root, which Jupyter refuses without this
    return argv


@dataclass
class Server:
    """A running JupyterLab: its address, token and log."""

    port: int
    token: str
    root: Path
    log: Path
    process: subprocess.Popen

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def api(self, method: str, path: str, body: dict | None = None, timeout_s: float = 30) -> dict | list | None:
        """A call of the server's REST API (``/api/...``), the answer decoded."""
        request = urllib.request.Request(f"{self.url}{path}", method=method,
                                         data=None if body is None else json.dumps(body).encode(),
                                         headers={"Authorization": f"token {self.token}",
                                                  "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=timeout_s) as answer:
            data = answer.read()
        return json.loads(data) if data else None

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running(root: Path, results: Path, workdir: Path, *, timeout_s: float = 120,
            user_settings: dict[str, dict] | None = None) -> Iterator[Server]:
    """JupyterLab serving ``root``, its kernels writing runs to ``results`` (``FFCNN_RESULTS``).

    Jupyter's runtime, config, settings and workspace folders are private ones under ``workdir``, so
    nothing of the user's applies or changes; ``user_settings`` maps a settings file
    (``"@jupyterlab/docmanager-extension/plugin"``) to its JSON. Waits until the server answers
    (``TimeoutError`` with its log after ``timeout_s``); on the way out its kernels are shut down and
    its process group stopped, whatever happened.
    """
    token = secrets.token_hex(16)
    port = free_port()
    dirs = {name: workdir / name for name in ("runtime", "config", "settings", "workspaces")}
    for d in dirs.values():
        d.mkdir(parents=True, exist_ok=True)
    for name, values in (user_settings or {}).items():
        path = dirs["settings"] / f"{name}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    env = {**os.environ, "FFCNN_RESULTS": str(results), "JUPYTER_RUNTIME_DIR": str(dirs["runtime"]),
           "JUPYTER_CONFIG_DIR": str(dirs["config"]), "JUPYTERLAB_SETTINGS_DIR": str(dirs["settings"]),
           "JUPYTERLAB_WORKSPACES_DIR": str(dirs["workspaces"])}
    log = workdir / "jupyterlab.log"
    argv = command(root, port, token=token, open_browser=False, port_retries=0)
    # Checking for updates and fetching news would ask the network, which a test may not have.
    argv += ["--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
             "--LabApp.extension_manager=readonly"]
    with open(log, "w") as out:
        process = subprocess.Popen(argv, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)  # its own process group, stopped as one
    server = Server(port, token, root, log, process)
    try:
        _wait_until_up(server, timeout_s)
        yield server
    finally:
        stop(server)


def _wait_until_up(server: Server, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        if server.process.poll() is not None:
            raise RuntimeError(f"JupyterLab exited with code {server.process.returncode} before it answered; "
                               f"its log ({server.log}):\n{server.log_tail()}")
        try:
            server.api("GET", "/api/status", timeout_s=5)
            return
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"JupyterLab did not answer on port {server.port} within {timeout_s:.0f} s; "
                               f"its log ({server.log}):\n{server.log_tail()}")
        time.sleep(0.3)


def stop(server: Server, timeout_s: float = 30) -> None:
    """Shut the server's kernels down (they run in process groups of their own), then stop the server:
    SIGTERM to its group, SIGKILL after ``timeout_s``."""
    if server.process.poll() is None:
        try:
            for kernel in server.api("GET", "/api/kernels", timeout_s=10) or []:
                server.api("DELETE", f"/api/kernels/{kernel['id']}", timeout_s=timeout_s)
        except (urllib.error.URLError, OSError, ValueError):
            pass  # the server's own shutdown stops its kernels as well
    for sig, wait in ((signal.SIGTERM, timeout_s), (signal.SIGKILL, 10)):
        if server.process.poll() is not None:
            return
        try:
            os.killpg(server.process.pid, sig)
        except ProcessLookupError:
            return
        try:
            server.process.wait(wait)
        except subprocess.TimeoutExpired:
            continue


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m ffcnn_lib.lab", description=__doc__.split("\n\n")[0])
    p.add_argument("--port", type=int, default=8888, help="the first port to try (default 8888)")
    p.add_argument("--no-browser", action="store_true", help="only print the URL")
    args = p.parse_args(argv)
    where = results_dir()
    print(f"JupyterLab on 127.0.0.1 with book/ open; kernel: {sys.executable}\n"
          f"Runs, figures and tables of the notebooks go to {where}"
          + ("" if os.environ.get("FFCNN_RESULTS") else
             " (FFCNN_RESULTS=/tmp/myresults make lab keeps the committed results untouched)")
          + "\nOpen the URL with the token that JupyterLab prints below (http://127.0.0.1:PORT/lab/...?token=...); "
            "Ctrl-C twice stops it.", flush=True)
    argv = command(port=args.port, open_browser=not args.no_browser)
    os.chdir(REPO)
    os.execv(argv[0], argv)  # JupyterLab in this process: Ctrl-C and its shutdown prompt reach it alone


if __name__ == "__main__":
    raise SystemExit(main())
