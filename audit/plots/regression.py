"""Coefficient plot of a tidy regression table (odds ratios for the win regression)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from audit.analysis.validation import require_columns
from audit.plots.style import PARITY_COLOR, new_figure, palette, theme


def plot_coefficients(
    table: pd.DataFrame, *, exponentiate: bool = True, context: str = "paper"
) -> Figure:
    """Points with interval whiskers per term, reference line at 1 (odds ratio) or 0.

    Parameters
    ----------
    table : pandas.DataFrame
        From :func:`audit.analysis.regression.fit_win_regression` or
        :func:`~audit.analysis.regression.fit_saliency_regression`.
    exponentiate : bool
        Plot odds ratios on a log axis (needs finite ``odds_ratio``); otherwise raw estimates.
        Falls back to raw estimates when the table has no odds ratios (OLS).
    context : str
        Seaborn plotting context.

    Returns
    -------
    matplotlib.figure.Figure
        One Axes; the ``Intercept`` row is left out.
    """
    require_columns(table, ("term", "estimate", "ci_low", "ci_high"), table="regression")
    data = table[table["term"] != "Intercept"]
    # a separated fit gives infinite intervals: leave those terms out rather than draw nonsense
    data = data[np.isfinite(data[["estimate", "ci_low", "ci_high"]].to_numpy(dtype=float))
                .all(axis=1)].reset_index(drop=True)
    ors = data[["odds_ratio", "or_low", "or_high"]] if "odds_ratio" in data else None
    use_or = (exponentiate and ors is not None and bool(len(data))
              and np.isfinite(ors.to_numpy(dtype=float)).all()
              and bool((ors.to_numpy(dtype=float) > 0).all()))
    est, low, high = (("odds_ratio", "or_low", "or_high") if use_or
                      else ("estimate", "ci_low", "ci_high"))  # fmt: skip
    y = np.arange(len(data))[::-1]
    with theme(context):
        fig, ax = new_figure(figsize=(5.5, 1.2 + 0.45 * max(len(data), 1)))
        value = data[est].to_numpy(dtype=float)
        ax.errorbar(value, y, xerr=[value - data[low], data[high] - value], fmt="o",
                    color=palette(1)[0], ecolor="black", capsize=3)  # fmt: skip
        ax.axvline(1.0 if use_or else 0.0, color=PARITY_COLOR, linestyle="--", linewidth=1,
                   label="no effect")  # fmt: skip
        if use_or:
            ax.set_xscale("log")
        ax.set_yticks(y, data["term"].tolist())
        ax.set_xlabel("odds ratio (log scale)" if use_or else "estimate")
        ax.set_title("Coefficients with intervals")
    return fig
