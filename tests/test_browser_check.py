"""The smoke-number scan of ``tests/browser_check.py`` on constructed HTML (no browser)."""
import importlib.util
import json
import sys
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location("browser_check", Path(__file__).with_name("browser_check.py"))
bc = sys.modules.setdefault("browser_check", importlib.util.module_from_spec(_spec))
_spec.loader.exec_module(bc)

REPORTED = [99.20, 99.13, 98.72]
SMOKE = bc.SmokeIndex.from_values({"ff-2-2-2-k7-e2": [0.072, 0.824]}, other=[0.9886, 0.1])


def page(body: str) -> str:
    return f"<html><head><title>99.20 7.20</title><style>.x {{width: 7.20px}}</style></head><body>{body}</body></html>"


@pytest.mark.parametrize("body", [
    # a pandas table row: the smoke accuracy beside the paper's
    "<table class='dataframe'><tr><th>network</th><th>ours [%]</th><th>paper [%]</th></tr>"
    "<tr><td>FF 16x7x7</td><td>7.20</td><td>99.20</td></tr></table>",
    # the same with pandas' trimmed column (82.4 for 82.40) and a reported number as 99.2
    "<table><tr><td>FF</td><td>82.4</td><td>99.2</td></tr></table>",
    # a sentence, the number as a fraction
    "<p>Our network reaches 0.8240 on validation. The paper reports 99.13 % for it.</p>"
    "<p>Ours 0.0720, the paper's 98.72 %.</p>",
    # printed output, one line
    "<pre>FF 16x5x5: ours 82.40 %, reported 99.20 %\nnext line</pre>",
])
def test_scan_flags_smoke_accuracy_beside_reported(body):
    found = bc.scan_html(page(body), SMOKE, REPORTED)
    assert len(found) == 1, found
    assert "ff-2-2-2-k7-e2" in found[0]


@pytest.mark.parametrize("body", [
    # the smoke accuracy alone, without a reported number in its row or sentence
    "<table><tr><td>FF</td><td>7.20</td><td>n/a</td></tr><tr><td>paper</td><td>-</td><td>99.20</td></tr></table>",
    "<p>The smoke run reaches 82.40 %. The paper reports 99.20 %.</p>",
    # a faithful run's accuracy beside the paper's
    "<table><tr><td>FF</td><td>98.86</td><td>99.20</td></tr></table>",
    # a number that a faithful run has too (10.00 % chance) is ambiguous; 82.4 outside a table is not a form the book prints
    "<p>Chance is 10.00 %, the paper reports 99.20 %; a note 82.4 beside 99.13.</p>",
    # differences and spreads are signed, versions are not numbers
    "<p>ours 98.86 % (-7.20 pp, ± 7.20) against 99.20 %, torch 7.20.1, run K0.8240 99.13</p>",
])
def test_scan_passes_clean_pages(body):
    assert bc.scan_html(page(body), SMOKE, REPORTED) == []


def test_smoke_runs_from_results(tmp_path):
    def run(name, epochs, n_train, final):
        d = tmp_path / "runs" / name
        d.mkdir(parents=True)
        config = {"epochs": epochs, "n_train": n_train}
        (d / "config.json").write_text(json.dumps(config))
        (d / "summary.json").write_text(json.dumps({"config": config, "final": final}))

    run("smoke", 2, 1000, {"val_acc_linear": 0.072, "val_inference_s_linear": 0.5, "test_acc_goodness": 0.25})
    run("paper", 200, 50000, {"val_acc_linear": 0.9886})
    index = bc.SmokeIndex.from_results(tmp_path)
    assert index.match("7.20", False) == {"smoke"} and index.match("0.0720", False) == {"smoke"}
    assert index.match("25.00", False) == {"smoke"} and index.match("25.0", True) == {"smoke"}
    assert index.match("25.0", False) == set() and index.match("50.00", False) == set()  # inference time is no accuracy
    assert index.match("98.86", False) == set()


def test_toc_pages(tmp_path):
    toc = tmp_path / "_toc.yml"
    toc.write_text("format: jb-book\nroot: intro\nparts:\n  - caption: A\n    chapters:\n      - file: 01_a\n"
                   "        sections:\n          - file: 01_b.ipynb\n  - caption: B\n    chapters:\n      - file: 12_summary\n")
    assert bc.toc_pages(toc) == ["intro.html", "01_a.html", "01_b.html", "12_summary.html"]
    assert "12_summary.html" in bc.toc_pages(Path(__file__).parent.parent / "book" / "_toc.yml")


def test_reported_values_read():
    values = bc.reported_values()
    assert 99.20 in values and all(0 < v <= 100 for v in values)


def test_hours_and_other_units_are_not_read_as_accuracies():
    from browser_check import SmokeIndex, scan_html
    smoke = SmokeIndex.from_values({"run-a": [0.028]})
    page = "<table><tr><td>16 filters 5x5</td><td>98.16</td><td>about 1.0 h on amx, 2.8 h on avx2</td></tr></table>"
    assert scan_html(page, smoke, [98.16]) == []
    shown = "<table><tr><td>16 filters 5x5</td><td>98.16</td><td>2.80</td></tr></table>"
    assert scan_html(shown, smoke, [98.16])  # the same number as an accuracy still fails
