"""One figure of disparity per cropper and aspect ratio (``figures/cropper_disparity``)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from audit.analysis.validation import require_columns
from audit.plots.style import PARITY_COLOR, new_figure, palette, theme

_MARKERS = {"disparity": "o", "parity": "s", "inconclusive": "D"}


def _panel(row: pd.Series) -> str:
    return "argmax" if row["measure"] == "argmax" else f"crop {row['aspect_ratio']:g}"


def plot_cropper_disparity(win_rates: pd.DataFrame, *, title: str | None = None,
                           context: str = "paper") -> Figure:
    """Draw rates with intervals per cropper: one panel per measure, one row per group pair.

    Panels are the crop at each aspect ratio, then the argmax outcome; one colour per cropper;
    the marker shows the verdict (circle disparity, square parity, diamond inconclusive).

    Parameters
    ----------
    win_rates : pandas.DataFrame
        :func:`audit.analysis.croppers.cropper_win_rates` output (``cropper, measure,
        aspect_ratio, group_a, group_b, rate, ci_low, ci_high`` and optionally ``verdict``).
    title : str, optional
        Figure title.
    context : str
        Seaborn plotting context.

    Returns
    -------
    matplotlib.figure.Figure
        One Axes per panel, each with a vertical parity line at 0.5.
    """
    require_columns(win_rates, ("cropper", "measure", "aspect_ratio", "group_a", "group_b",
                                "rate", "ci_low", "ci_high"), table="cropper win rates")
    table = win_rates.assign(panel=win_rates.apply(_panel, axis=1),
                             pair=win_rates["group_a"] + " vs " + win_rates["group_b"])
    crops = table[table["measure"] == "crop"].sort_values("aspect_ratio")
    panels = list(dict.fromkeys(crops["panel"])) + (
        ["argmax"] if (table["measure"] == "argmax").any() else [])
    croppers = list(dict.fromkeys(table["cropper"]))
    pairs = list(dict.fromkeys(table["pair"]))
    # the palette's 4th colour (vermillion) is too close to its 2nd (orange) side by side
    order = [0, 1, 2, 4, 5, 6, 7, 8, 9, 3]
    colours = {c: palette(10)[order[k % 10]] for k, c in enumerate(croppers)}
    span = np.nanmax(np.abs(table[["ci_low", "ci_high", "rate"]].to_numpy(dtype=float) - 0.5))
    half = min(0.5, max(0.15, float(span) + 0.05))
    step = 0.8 / max(len(croppers), 1)
    with theme(context):
        fig, axes = new_figure(1, len(panels), sharey=True, squeeze=False,
                               figsize=(1.6 + 2.2 * len(panels), 1.2 + 0.45 * len(pairs)
                                        * max(1, len(croppers) / 2)))
        for ax, panel in zip(axes[0], panels, strict=True):
            sub = table[table["panel"] == panel]
            for k, cropper in enumerate(croppers):
                part = sub[sub["cropper"] == cropper]
                y = np.array([pairs.index(p) for p in part["pair"]]) - 0.4 + step * (k + 0.5)
                rate = part["rate"].to_numpy(dtype=float)
                # clipped: a Wilson bound can sit a rounding error past a rate of 0 or 1
                err = np.clip([rate - part["ci_low"].to_numpy(dtype=float),
                               part["ci_high"].to_numpy(dtype=float) - rate], 0, None)
                ax.errorbar(rate, y, xerr=err,
                            fmt="none", ecolor=colours[cropper], linewidth=1.2)
                verdicts = (part["verdict"] if "verdict" in part
                            else pd.Series(["inconclusive"] * len(part), index=part.index))
                for v in dict.fromkeys(verdicts):
                    m = (verdicts == v).to_numpy()
                    ax.plot(rate[m], y[m], _MARKERS.get(v, "o"), color=colours[cropper],
                            markersize=5, label=cropper if panel == panels[0] else None)
            ax.axvline(0.5, color=PARITY_COLOR, linestyle="--", linewidth=1)
            ax.set_xlim(0.5 - half - 0.03, 0.5 + half + 0.03)  # room for markers at 0 and 1
            ax.set_title(panel)
            ax.set_xlabel("share kept for first group")
        axes[0][0].set_yticks(range(len(pairs)), pairs)
        axes[0][0].invert_yaxis()
        handles, labels = axes[0][0].get_legend_handles_labels()
        seen = dict(zip(labels, handles, strict=True))
        fig.legend(list(seen.values()), list(seen), loc="outside lower center",
                   ncols=min(len(seen), 4), fontsize="small")
        if title:
            fig.suptitle(title)
    return fig
