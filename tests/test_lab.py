"""A chapter runs in JupyterLab's kernel, as a reader editing it runs it (issue #28), without a browser.

Starts JupyterLab the way ``make lab`` does (:func:`ffcnn_lib.lab.command`), on a free port with a
private result cache, opens a session on a copy of the chapter through the REST API, executes its
code cells one by one over the kernel's websocket with ``profile = "smoke"`` written into the
parameters cell, and checks what the reader would see: a progress bar while the missing run trains,
the run in the cache, the figure, no error. The browser version is ``tests/lab_check.py``
(``make browser-check``).
"""
from __future__ import annotations

import json
import re
import sys
import time
import uuid
from pathlib import Path

import psutil
import pytest
import websocket

from ffcnn_lib import lab

CHAPTER = lab.CHAPTER  # under smoke, one run of 2 epochs: seconds
CELL_TIMEOUT_S = 180  # the first cell imports torch in a fresh kernel, beside a training campaign
WIDGET = "application/vnd.jupyter.widget-view+json"


def with_profile(source: str, profile: str) -> str:
    """The parameters cell with ``profile`` set, as a reader edits it."""
    new, n = re.subn(r"(?m)^profile\s*=.*$", f"profile = {profile!r}", source)
    assert n == 1, f"the parameters cell should assign profile once, not {n} times:\n{source}"
    return new


def code_cells(notebook: dict, profile: str) -> list[str]:
    cells = [c for c in notebook["cells"] if c["cell_type"] == "code"]
    params = [c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(params) == 1, "the chapter needs exactly one cell tagged 'parameters'"
    return [with_profile("".join(c["source"]), profile) if c is params[0] else "".join(c["source"]) for c in cells]


class Kernel:
    """A kernel of the server, spoken to over ``/api/kernels/<id>/channels`` (the messages as JSON)."""

    def __init__(self, server: lab.Server, kernel_id: str):
        url = f"ws://127.0.0.1:{server.port}/api/kernels/{kernel_id}/channels?token={server.token}"
        self.ws = websocket.create_connection(url, timeout=30)
        self.session = uuid.uuid4().hex

    def execute(self, code: str, timeout_s: float = CELL_TIMEOUT_S) -> tuple[list[dict], dict]:
        """Run ``code``; its outputs (iopub ``stream``, ``display_data``, ``execute_result``, ``error``,
        comm messages) and its ``execute_reply`` content."""
        msg_id = uuid.uuid4().hex
        self.ws.send(json.dumps({
            "header": {"msg_id": msg_id, "session": self.session, "username": "test", "msg_type": "execute_request",
                       "version": "5.3"},
            "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
            "content": {"code": code, "silent": False, "store_history": True, "user_expressions": {},
                        "allow_stdin": False, "stop_on_error": True}}))
        outputs, reply, idle = [], None, False
        deadline = time.monotonic() + timeout_s
        while reply is None or not idle:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"the cell did not finish within {timeout_s} s; its outputs so far: "
                                   f"{[o['msg_type'] for o in outputs]}\n{code[:300]}")
            self.ws.settimeout(left)
            frame = self.ws.recv()
            if isinstance(frame, bytes):
                continue  # a binary frame (a widget's buffers): nothing to check here
            msg = json.loads(frame)
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind = msg["msg_type"]
            if msg["channel"] == "shell" and kind == "execute_reply":
                reply = msg["content"]
            elif kind == "status":
                idle = msg["content"]["execution_state"] == "idle"
            elif msg["channel"] == "iopub" and kind != "execute_input":
                outputs.append({"msg_type": kind, **msg["content"]})
        return outputs, reply

    def close(self):
        self.ws.close()


def errors(outputs: list[dict]) -> list[str]:
    return [f"{o['ename']}: {o['evalue']}" for o in outputs if o["msg_type"] == "error"]


def test_a_chapter_runs_with_another_profile_through_the_kernel_api(tmp_path):
    chapter_root, results = tmp_path / "root", tmp_path / "results"
    notebook = json.loads(lab.chapter_copy(chapter_root).read_text())
    cells = code_cells(notebook, "smoke")
    t0 = time.perf_counter()
    with lab.running(chapter_root, results, tmp_path / "jupyter") as server:
        session = server.api("POST", "/api/sessions", {"path": f"book/{CHAPTER}.ipynb", "type": "notebook",
                                                        "name": f"{CHAPTER}.ipynb", "kernel": {"name": "python3"}})
        kernel = Kernel(server, session["kernel"]["id"])
        try:
            first, _ = kernel.execute("import os, sys; print(sys.executable); print(os.environ['FFCNN_RESULTS'])")
            shown = "".join(o.get("text", "") for o in first if o["msg_type"] == "stream").split()
            assert shown == [sys.executable, str(results)], \
                f"the kernel should be this venv's Python writing to the temporary cache, not {shown}"
            pid = int(kernel.execute("print(os.getpid())")[0][0]["text"])
            ran = []
            for n, code in enumerate(cells, 1):
                outputs, reply = kernel.execute(code)
                assert not errors(outputs) and reply["status"] == "ok", \
                    f"code cell {n} of {CHAPTER} failed: {errors(outputs) or reply}\n{code[:300]}"
                ran.append((code, outputs))
        finally:
            kernel.close()
    seconds = time.perf_counter() - t0
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE, \
        "the kernel outlived its server"

    collect = [outputs for code, outputs in ran if "sweeps.collect(" in code]
    assert collect, "the chapter should call sweeps.collect"
    bars = [o for o in collect[0] if o["msg_type"] == "display_data" and WIDGET in o["data"]]
    assert bars, f"the missing run should train with a progress bar (a widget); the cell showed {collect[0]}"
    stored = list((results / "runs").glob("*/summary.json"))
    assert len(stored) == 1, f"the smoke run should be stored in the temporary cache: {stored}"
    figures = [o for _, outputs in ran for o in outputs if o["msg_type"] == "display_data" and "image/png" in o["data"]]
    assert len(figures) == 1, "the chapter should show its figure"
    assert list((results / "figures").glob("*.png")), "the figure should be written to the cache's figures/"
    stderr = [o["text"] for _, outputs in ran for o in outputs if o["msg_type"] == "stream" and o["name"] == "stderr"]
    assert not stderr, f"a cell wrote to stderr (a reader sees it): {stderr}"
    print(f"{CHAPTER} under profile smoke through the kernel API: {seconds:.1f} s with the server's start and stop")
