from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from audit.analysis.aggregates import compute_aggregates, groups_from_labels  # noqa: E402
from audit.analysis.counts import paper_table, parse_counts_lines  # noqa: E402
from audit.plots.gaze import plot_gaze_shares  # noqa: E402
from audit.plots.kway import plot_kway_shares  # noqa: E402
from audit.plots.pairwise import panel_table, plot_pairwise  # noqa: E402
from audit.plots.policies import plot_policies  # noqa: E402
from audit.plots.regression import plot_coefficients  # noqa: E402
from audit.plots.saliency import plot_score_distributions  # noqa: E402
from audit.plots.settings import PlotsConfig  # noqa: E402
from audit.plots.style import save_figure  # noqa: E402

COUNTS = {
    ("black", "female", "black", "male"): 5695, ("black", "female", "white", "female"): 4336,
    ("black", "female", "white", "male"): 5547, ("black", "male", "white", "female"): 3648,
    ("black", "male", "white", "male"): 4767, ("white", "female", "white", "male"): 6171,
}


def _lines():
    return [
        f"{{'group_name_list': (('{a}', '{b}'), ('{c}', '{d}')), 'stats': array([{w}., "
        f"{10000 - w}.]), 'num_iterations': 10000, 'setting': 'wiki_no_scaling_intersect'}}"
        for (a, b, c, d), w in COUNTS.items()
    ]


def _parity_lines(ax, y=0.5):
    return [ln for ln in ax.get_lines() if ln.get_label() == "parity"
            and np.allclose(ln.get_ydata(), y)]


def test_pairwise_chart_from_paper_table_has_bars_at_the_rates(tmp_path):
    table = paper_table(parse_counts_lines(_lines()), include_oriented_aggregates=False)
    fig = plot_pairwise(table, interval=("wald_low", "wald_high"))
    assert isinstance(fig, Figure)
    assert [ax.get_title() for ax in fig.axes] == ["Race", "Gender", "Cross", "Aggregate"]
    heights = [p.get_height() for ax in fig.axes for p in ax.patches]
    assert heights == pytest.approx(table["rate"].tolist())
    assert all(len(_parity_lines(ax)) == 1 for ax in fig.axes)
    assert "-6.6%" in [t.get_text() for t in fig.axes[0].texts]
    assert list(tmp_path.iterdir()) == []


def test_pairwise_chart_from_a_new_run():
    win_rates = pd.DataFrame({"group_a": ["black_female", "black_female"],
                              "group_b": ["white_female", "black_male"], "n": [100, 100],
                              "wins_a": [40, 60]})
    from audit.analysis.win_rates import add_rate_statistics

    win_rates = add_rate_statistics(win_rates)
    groups = groups_from_labels(["black_female", "white_female", "black_male"])
    agg = compute_aggregates(win_rates, groups)
    fig = plot_pairwise(panel_table(win_rates, groups, agg))
    assert [ax.get_title() for ax in fig.axes] == ["Race", "Gender", "Aggregate"]
    assert [len(ax.patches) for ax in fig.axes] == [1, 1, 2]
    assert fig.axes[0].patches[0].get_height() == pytest.approx(0.4)


def test_kway_chart_has_parity_at_one_over_k():
    table = pd.DataFrame({"by": ["group"] * 4 + ["slot"] * 4,
                          "level": ["a", "b", "c", "d", "0", "1", "2", "3"],
                          "share": [0.24, 0.18, 0.35, 0.23, 0.25, 0.25, 0.26, 0.24],
                          "ci_low": 0.1, "ci_high": 0.4, "parity": 0.25})
    fig = plot_kway_shares(table)
    assert [len(ax.patches) for ax in fig.axes] == [4, 4]
    assert [p.get_height() for p in fig.axes[0].patches] == [0.24, 0.18, 0.35, 0.23]
    assert all(len(_parity_lines(ax, 0.25)) == 1 for ax in fig.axes)


def test_score_distributions_draw_histogram_and_cdf_per_group():
    rng = np.random.default_rng(0)
    images = pd.DataFrame({"group": ["x"] * 30 + ["y"] * 30,
                           "score_max": np.r_[rng.normal(0, 1, 30), rng.normal(1, 1, 30)]})
    fig = plot_score_distributions(images)
    hist, cdf = fig.axes[:2]
    assert len(hist.patches) + len(hist.collections) + len(hist.lines) >= 2
    assert len(cdf.get_lines()) == 2


def test_policy_chart_has_one_bar_per_pair_and_policy():
    table = pd.DataFrame({"group_a": ["x"] * 4 + ["x"] * 4, "group_b": ["y"] * 4 + ["z"] * 4,
                          "policy": ["argmax", "sample", "topk", "mass"] * 2,
                          "policy_label": ["A", "S", "T", "M"] * 2,
                          "rate": [0.6, 0.55, 0.58, 0.52, 0.4, 0.45, 0.42, 0.48]})
    fig = plot_policies(table)
    ax = fig.axes[0]
    assert len(ax.patches) == 8
    assert sorted(p.get_height() for p in ax.patches) == sorted(table["rate"])
    assert len(_parity_lines(ax)) == 1


def test_gaze_and_coefficient_plots_render():
    gaze = pd.DataFrame({"group": ["f", "m"], "aspect_ratio": [0.56, 0.56], "n": [10, 10],
                         "share_point_on_head": [0.9, 0.8], "point_on_head_low": [0.6, 0.5],
                         "point_on_head_high": [0.98, 0.95],
                         "share_crop_contains_head": [0.7, 0.9],
                         "crop_contains_head_low": [0.4, 0.6],
                         "crop_contains_head_high": [0.9, 0.98]})
    fig = plot_gaze_shares(gaze)
    assert [p.get_height() for p in fig.axes[0].patches] == [0.9, 0.8]
    coef = pd.DataFrame({"term": ["position", "race_white"], "estimate": [0.3, -0.2],
                         "ci_low": [0.1, -0.4], "ci_high": [0.5, 0.0]})
    coef["odds_ratio"], coef["or_low"], coef["or_high"] = (np.exp(coef[c]) for c in
                                                           ("estimate", "ci_low", "ci_high"))
    ax = plot_coefficients(coef).axes[0]
    assert ax.get_xscale() == "log"
    assert [t.get_text() for t in ax.get_yticklabels()] == ["position", "race_white"]


def test_save_figure_writes_each_format(tmp_path):
    fig = plot_pairwise(pd.DataFrame({"panel": ["Race"], "label": ["A↔B"], "rate": [0.6],
                                      "ci_low": [0.5], "ci_high": [0.7]}))
    paths = save_figure(fig, tmp_path / "figures" / "win_rates", formats=("png", "pdf"), dpi=50)
    assert [p.name for p in paths] == ["win_rates.png", "win_rates.pdf"]
    assert paths[0].read_bytes()[:4] == b"\x89PNG" and paths[1].read_bytes()[:4] == b"%PDF"


def test_plots_config_checks():
    with pytest.raises(ValueError, match="plots.formats"):
        PlotsConfig(formats=["gif"])
    with pytest.raises(ValueError, match="plots.dpi"):
        PlotsConfig(dpi=0)
