"""Male-gaze shares: point on head and crop keeps head, per group and aspect ratio."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from audit.analysis.validation import require_columns
from audit.gaze.head import SUMMARY_COLUMNS
from audit.plots.style import group_palette, new_figure, theme


def plot_gaze_shares(table: pd.DataFrame, *, context: str = "paper") -> Figure:
    """Two panels of grouped bars with intervals: x = aspect ratio, one colour per group.

    Parameters
    ----------
    table : pandas.DataFrame
        From :func:`audit.gaze.head.summarize_gaze` (``SUMMARY_COLUMNS``).
    context : str
        Seaborn plotting context.

    Returns
    -------
    matplotlib.figure.Figure
        Axes "salient point on head" and "crop contains head".
    """
    require_columns(table, [c for c in SUMMARY_COLUMNS if not c.startswith("n_")],
                    table="gaze shares")
    groups = sorted(table["group"].astype(str).unique())
    ratios = sorted(table["aspect_ratio"].unique())
    colours = group_palette(groups)
    width = 0.8 / max(len(groups), 1)
    with theme(context):
        fig, axes = new_figure(1, 2, figsize=(9.0, 3.6), sharey=True)
        for ax, key, title in zip(axes, ("point_on_head", "crop_contains_head"),
                                  ("salient point on head", "crop contains head"),
                                  strict=True):  # fmt: skip
            for i, group in enumerate(groups):
                sub = table[table["group"] == group].set_index("aspect_ratio").reindex(ratios)
                share = sub[f"share_{key}"].to_numpy(dtype=float)
                x = np.arange(len(ratios)) + (i - (len(groups) - 1) / 2) * width
                ax.bar(x, share, width=width, color=colours[group], label=group)
                ax.errorbar(x, share, yerr=[share - sub[f"{key}_low"], sub[f"{key}_high"] - share],
                            fmt="none", ecolor="black", capsize=2, linewidth=1)  # fmt: skip
            ax.set_xticks(np.arange(len(ratios)), [f"{r:g}" for r in ratios])
            ax.set_xlabel("crop aspect ratio")
            ax.set_title(title)
            ax.set_ylim(0, 1.05)
        axes[0].set_ylabel("share of images")
        axes[0].legend(fontsize="small")
    return fig
