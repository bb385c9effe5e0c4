"""The README's generated blocks say what the committed results say (issue #15)."""
from pathlib import Path

from ffcnn_lib import report

README = Path(__file__).resolve().parent.parent / "README.md"


def _block(markers: tuple[str, str]) -> str:
    text = README.read_text()
    start, end = markers
    assert start in text and end in text
    return text.split(start)[1].split(end)[0].strip()


def test_the_readme_status_table_is_the_one_the_committed_results_give(committed_results):
    assert _block(report.README_STATUS) == report.readme_status(), \
        "README out of date: python -m ffcnn_lib campaign --readme"


def test_the_status_table_counts_the_25_distinct_quantities_and_never_reproduces_on_one_seed(committed_results):
    table = report.status_table()
    assert len(table) == 25
    assert (table["n_seeds"] > 0).any(), "no quantity has evidence: the checks below would pass vacuously"
    assert not ((table["verdict"] == "reproduced") & (table["n_seeds"] < report.MIN_SEEDS)).any()
    assert set(table.loc[table["n_seeds"] == 0, "verdict"]) <= {"not run"}


def test_update_readme_leaves_the_readme_alone_for_results_elsewhere(results_root, tmp_path):
    copy = tmp_path / "README.md"
    copy.write_text("x\n" + "\n".join(report.README_STATUS) + "\n")
    assert not report.update_readme()  # FFCNN_RESULTS points elsewhere: the committed README stays
    assert report.update_readme(copy) and "25 distinct quantities" in copy.read_text()


def test_the_readme_campaign_times_are_the_ones_the_committed_runs_recorded(committed_results):
    from ffcnn_lib import campaign

    assert _block(campaign.README_TIMES) == campaign.times_markdown(), \
        "README out of date: python -m ffcnn_lib campaign --readme"


def test_campaign_times_name_machines_in_words_and_never_guess_an_unrecorded_kind():
    from ffcnn_lib.campaign import _machine_words

    assert _machine_words("cpu (amx, 1 thread)") == "amx, 1 thread"
    assert _machine_words("cpu (x86_64, 1 threads)") == "a CPU (kind not recorded), 1 thread"
    from ffcnn_lib.experiments import UNRECORDED
    assert _machine_words(UNRECORDED).startswith("a machine not recorded")


def test_campaign_update_readme_rewrites_both_blocks_of_a_given_readme(results_root, tmp_path):
    from ffcnn_lib import campaign

    copy = tmp_path / "README.md"
    copy.write_text("\n".join([*report.README_STATUS, "between", *campaign.README_TIMES]) + "\n")
    assert not campaign.update_readme()  # FFCNN_RESULTS points elsewhere: the committed README stays
    assert campaign.update_readme(copy)
    text = copy.read_text()
    assert "25 distinct quantities" in text and "No campaign cell has finished yet." in text and "between" in text


def test_every_finished_plot_only_cell_is_listed_below_the_status_table(committed_results):
    """Issue #31: a cell the paper only plots (FF 16x7x7 of Fig. 3A and 4B) has no row in the status
    table of reported numbers; it gets one in the table below it, with its validation accuracy."""
    import pandas as pd

    table = report.plotted_only()
    assert len(table), "no plot-only cell has finished: the checks below would pass vacuously"
    assert "FF 16-16-16 7x7" in set(table["cell"])  # finished 2026-12-05, plotted in Fig. 3A and 4B
    assert "FF 16-16-16 5x5" not in set(table["cell"])  # Table 3 reports it: the status table's row
    assert set(", ".join(table["figures"]).split(", ")) <= set(report.PLOTS.values())
    assert (table["seeds"] >= 1).all()
    assert report.plotted_markdown(pd.DataFrame()) == ""
    assert report.plotted_markdown(table) in report.readme_status()


def test_the_status_line_names_reproduced_once_with_its_rule_and_says_when_nothing_is():
    import pandas as pd

    def table(verdicts: list[str]) -> pd.DataFrame:
        return pd.DataFrame({"quantity": "q", "source": "Table 3", "split": "val", "method": "linear",
                             "reported_pct": 98.0, "ours_pct": 98.1, "ours_std_pct": 0.05,
                             "n_seeds": [3 if v == "reproduced" else (0 if v == "not run" else 1) for v in verdicts],
                             "profile": "paper", "verdict": verdicts})

    head = report.status_markdown(table(["reproduced", "reproduced", "below (1 seed, indicative)", "not run"]))
    head = head.splitlines()[0]
    assert head.startswith("Of the 4 distinct quantities the paper reports, 3 have evidence")
    assert head.count("reproduced") == 1 and f"2 reproduced (at least {report.MIN_SEEDS} seeds" in head
    head = report.status_markdown(table(["below (1 seed, indicative)", "not run"])).splitlines()[0]
    assert "1 has evidence" in head and "none reproduced yet" in head
