"""The README's generated blocks say what the committed results say (issue #15)."""
from pathlib import Path

from ffcnn_lib import report

README = Path(__file__).resolve().parent.parent / "README.md"


def test_the_readme_status_table_is_the_one_the_committed_results_give():
    text = README.read_text()
    start, end = report.README_STATUS
    assert start in text and end in text
    block = text.split(start)[1].split(end)[0].strip()
    assert block == report.status_markdown(), "README out of date: python -m ffcnn_lib.report --readme"


def test_the_status_table_counts_the_25_distinct_quantities_and_never_reproduces_on_one_seed():
    table = report.status_table()
    assert len(table) == 25
    assert not ((table["verdict"] == "reproduced") & (table["n_seeds"] < report.MIN_SEEDS)).any()
    assert set(table.loc[table["n_seeds"] == 0, "verdict"]) <= {"not run"}


def test_update_readme_leaves_the_readme_alone_for_results_elsewhere(results_root, tmp_path):
    copy = tmp_path / "README.md"
    copy.write_text("x\n" + "\n".join(report.README_STATUS) + "\n")
    assert not report.update_readme()  # FFCNN_RESULTS points elsewhere: the committed README stays
    assert report.update_readme(copy) and "25 distinct quantities" in copy.read_text()
