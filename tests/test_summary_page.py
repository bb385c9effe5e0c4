"""The book's summary page shows the numbers that ``report`` computes from ``results/`` (issue #30).

The page is made by executing ``book/12_summary.ipynb``; this test runs the notebook's own cells up
to its two tables of the paper's numbers (in this process, not a kernel: seconds instead of the
half minute a kernel and the rest of the page take; the HTML is what the notebook stores and the
book renders), parses those tables, and checks every reported number, ours (mean, spread, seeds),
the difference and the verdict against :func:`ffcnn_lib.report.status_table`, the README's source,
computed from the committed results. Nothing about the statistics is written here: whatever
``report`` computes, the page must show.
"""
import json
import re
from html.parser import HTMLParser
from pathlib import Path

from ffcnn_lib import report, sweeps

NOTEBOOK = Path(__file__).resolve().parent.parent / "book" / "12_summary.ipynb"
SPLIT = {"val": "validation", "test": "test"}          # as the page names them
METHOD = {"linear": "linear", "goodness": "goodness", "bp": "BP"}
OURS = "ours [%]: mean ± std (n seeds)"
DIFF = "Δ [pp] (tolerance)"


class _Tables(HTMLParser):
    """Every <table> of an HTML fragment as a list of rows, each a list of its cells' text."""

    def __init__(self):
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append(" ".join("".join(self._cell).replace("\u00a0", " ").split()))
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def _table(obj) -> list[dict[str, str]]:
    """A displayed table (a pandas Styler, as the notebook shows it) as one dict per row."""
    parser = _Tables()
    parser.feed(obj._repr_html_())
    (rows,) = parser.tables
    header, body = rows[0], rows[1:]
    return [dict(zip(header, r)) for r in body]


def _close(shown: str, value: float) -> bool:
    """Whether ``shown`` (a number as the page prints it) is ``value`` to the digits it prints."""
    digits = len(shown.split(".")[1]) if "." in shown else 0
    return abs(float(shown) - value) <= 0.5 * 10 ** -digits + 1e-9


def _run_page(monkeypatch) -> dict[str, list]:
    """Execute the notebook's code cells, in order, up to the table of numbers without evidence;
    what each displayed, by the first line of the call that made it (``comparison``, ``missing``)."""
    def no_training(*args, **kwargs):
        raise AssertionError("the summary page would train or evaluate runs that results/ lacks: commit them first")

    monkeypatch.setattr(sweeps, "run_or_load_many", no_training)
    monkeypatch.setattr(sweeps, "add_test_numbers", no_training)
    cells = [c for c in json.loads(NOTEBOOK.read_text())["cells"] if c["cell_type"] == "code"]
    shown: dict[str, list] = {}
    namespace: dict = {}
    for cell in cells:
        source = "".join(cell["source"])
        key = "comparison" if "pages.comparison(" in source else "missing" if "missing_table(" in source else "other"
        namespace["display"] = lambda *objs, _k=key, **kw: shown.setdefault(_k, []).extend(objs)
        exec(compile(source, f"{NOTEBOOK.name} cell", "exec"), namespace)
        if "parameters" in cell["metadata"].get("tags", []):
            namespace["profile"] = "auto"  # what the book builds
        if key == "missing":
            return shown
        namespace.pop("display", None)  # the import cell binds IPython's: ours goes back in before each cell
    raise AssertionError(f"{NOTEBOOK.name} has no cell calling pages.missing_table: the test no longer fits the page")


def test_the_summary_page_shows_the_numbers_report_computes_from_results(committed_results, monkeypatch):
    expected = report.status_table()
    shown = _run_page(monkeypatch)
    comparison = shown.get("comparison", [])
    evidence = _table(comparison[0]) if comparison and hasattr(comparison[0], "_repr_html_") else []
    (missing_styler,) = shown["missing"]
    missing = _table(missing_styler)
    page = {(r["quantity"], r["split, method"]): r for r in evidence}
    assert len(page) == len(evidence), "a quantity shows twice among the numbers with evidence"
    has = expected[expected["n_seeds"] > 0]
    assert len(evidence) == len(has), (sorted(page), has[["quantity", "split", "method"]].values.tolist())
    for _, r in expected.iterrows():
        key = (f"{r['quantity']} ({r['source']})", f"{SPLIT[r['split']]}, {METHOD[r['method']]}")
        if r["n_seeds"] == 0:
            assert key not in page, key
            row = [m for m in missing if m["quantity"] == r["quantity"] and m["source"] == r["source"]]
            assert len(row) == 1, key
            listed = dict((f"{s}, {m}", v) for s, m, v in re.findall(r"(\w+), (\w+) ([\d.]+)", row[0]["reported [%]"]))
            assert _close(listed[key[1]], r["reported_pct"]), (key, row[0])
            continue
        row = page[key]
        assert _close(row["reported [%]"], r["reported_pct"]), (key, row)
        ours = re.fullmatch(r"([\d.]+)(?: ± ([\d.]+))? \(n = (\d+)\)", row[OURS])
        assert ours, (key, row[OURS])
        mean, std, n = ours.groups()
        assert int(n) == r["n_seeds"] and _close(mean, r["ours_pct"]), (key, row[OURS], r["ours_pct"])
        assert (std is None) == (r["n_seeds"] < 2 or r["ours_std_pct"] != r["ours_std_pct"]), (key, row[OURS])
        if std is not None:
            assert _close(std, r["ours_std_pct"]), (key, row[OURS], r["ours_std_pct"])
        assert _close(row[DIFF].split()[0], r["diff_pp"]), (key, row[DIFF], r["diff_pp"])
        assert row["verdict"] == r["verdict"], (key, row["verdict"], r["verdict"])
    assert len(evidence) + sum(len(re.findall(r"\w+, \w+ [\d.]+", m["reported [%]"])) for m in missing) == len(expected)


def test_the_page_parser_reads_a_styled_table():
    """The check can fail: the parser reads the cells a styled table shows, no-break spaces and all."""
    import pandas as pd

    from ffcnn_lib import pages

    rows = _table(pages.show(pd.DataFrame({"quantity": ["a (T1)"], OURS: ["98.98\u00a0±\u00a00.06 (n\u00a0=\u00a03)"],
                                           "reported [%]": [99.13]})))
    assert rows == [{"quantity": "a (T1)", OURS: "98.98 ± 0.06 (n = 3)", "reported [%]": "99.13"}]
    assert _close("98.98", 98.984) and not _close("98.98", 98.99)
