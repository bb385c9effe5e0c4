"""The book's accuracy axes: every plotted point inside, and differences of tenths of a point visible."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from ffcnn_lib import plotting  # noqa: E402


def _points(width, acc, profile="paper"):
    return pd.DataFrame({"width": width, "acc": acc, "std": [float("nan")] * len(acc), "profile": profile})


def test_what_is_plotted_after_plot_profiles_stays_inside_the_axis():
    """Fig. 3A: a lone FF point at 85.9 %, then BP at 99.2 % and the paper's star. Capping the axis
    at 100 % inside ``plot_profiles`` froze it around the first point and hid the rest."""
    fig, ax = plt.subplots()
    plotting.plot_profiles(ax, _points([16], [0.859]), "width", "acc", yerr="std", label="FF")
    plotting.plot_profiles(ax, _points([16, 32], [0.9919, 0.9907]), "width", "acc", yerr="std", label="BP")
    ax.scatter([128], [99.20])
    assert ax.get_autoscaley_on()
    lo, hi = ax.get_ylim()
    assert lo < 85.9 and 99.2 < hi  # a chapter that never fits its axis still shows every point
    plotting.fit_accuracy_axis(ax)
    lo, hi = ax.get_ylim()
    assert lo < 85.9 and 99.2 < hi <= 100.2
    plt.close(fig)


def test_a_lone_point_gets_an_axis_a_few_tenths_wide_shared_across_panels():
    """Fig. 4: panel A holds one point (98.31 %), which matplotlib alone widens to 93-103 %."""
    fig, axes = plt.subplots(1, 2, sharey=True, squeeze=False)
    plotting.plot_profiles(axes[0, 0], _points([50], [0.9831]), "width", "acc", yerr="std")
    plotting.plot_profiles(axes[0, 1], _points([16, 32, 64], [0.9797, 0.9819, 0.9831]), "width", "acc", yerr="std")
    plotting.fit_accuracy_axis(axes)
    for ax in axes.ravel():
        assert ax.get_ylim() == pytest.approx((97.97 - 0.3, 98.31 + 0.3))
    plt.close(fig)


def test_the_accuracy_axis_never_goes_beyond_100_percent():
    fig, ax = plt.subplots()
    plotting.plot_profiles(ax, _points([16, 32], [0.60, 0.999]), "width", "acc", yerr="std")
    plotting.fit_accuracy_axis(ax)
    lo, hi = ax.get_ylim()
    assert hi == pytest.approx(100.2) and lo == pytest.approx(60 - 0.05 * 39.9)
    plt.close(fig)


def test_an_empty_figure_is_left_as_it_is():
    fig, ax = plt.subplots()
    before = ax.get_ylim()
    plotting.fit_accuracy_axis(ax)
    assert ax.get_ylim() == before
    plt.close(fig)
