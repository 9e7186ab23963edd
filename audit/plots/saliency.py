"""Distributions of per-image saliency scores by group: histogram and cumulative distribution."""

from __future__ import annotations

import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from audit.analysis.validation import require_columns
from audit.plots.style import group_palette, new_figure, theme


def plot_score_distributions(
    images: pd.DataFrame, *, score: str = "score_max", context: str = "paper"
) -> Figure:
    """Histogram (density) and empirical CDF of one score column, one colour per group.

    Parameters
    ----------
    images : pandas.DataFrame
        Per-image records with ``group`` and ``score``.
    score : str
        ``score_max``, ``score_p95``, ``score_p50`` or ``score_mean``.
    context : str
        Seaborn plotting context.

    Returns
    -------
    matplotlib.figure.Figure
        Two Axes: histogram, then CDF.
    """
    require_columns(images, ("group", score), table="images")
    data = images[["group", score]].dropna()
    colours = group_palette(data["group"].astype(str))
    order = sorted(colours)
    with theme(context):
        fig, (ax_hist, ax_cdf) = new_figure(1, 2, figsize=(9.0, 3.6))
        sns.histplot(data=data, x=score, hue="group", hue_order=order, palette=colours,
                     stat="density", common_norm=False, element="step", ax=ax_hist)  # fmt: skip
        sns.ecdfplot(data=data, x=score, hue="group", hue_order=order, palette=colours,
                     ax=ax_cdf)  # fmt: skip
        ax_hist.set_title(f"{score}: histogram")
        ax_cdf.set_title(f"{score}: cumulative distribution")
    return fig
