"""Figure of ``tables/robustness_flips``: how often each cropper's outcome flips per variant."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from audit.analysis.validation import require_columns
from audit.plots.style import new_figure, palette, theme


def plot_flip_rates(flips: pd.DataFrame, *, title: str | None = None,
                    context: str = "paper") -> Figure:
    """Draw the pooled flip share (all group pairs) with its interval, per cropper and variant.

    One panel per measure (argmax, then the crop at each ratio), one row per variant, one
    colour per cropper.
    """
    require_columns(flips, ("cropper", "measure", "aspect_ratio", "variant", "group_a",
                            "share_flipped", "ci_low", "ci_high"), table="robustness flips")
    pooled = flips[flips["group_a"] == "all"].copy()
    pooled["panel"] = np.where(pooled["measure"] == "argmax", "argmax",
                               "crop " + pooled["aspect_ratio"].map("{:g}".format))
    panels = (["argmax"] if (pooled["measure"] == "argmax").any() else []) + list(
        dict.fromkeys(pooled[pooled["measure"] == "crop"].sort_values("aspect_ratio")["panel"]))
    croppers = list(dict.fromkeys(pooled["cropper"]))
    variants = list(dict.fromkeys(pooled["variant"]))
    colours = dict(zip(croppers, palette(len(croppers)), strict=True))
    step = 0.8 / max(len(croppers), 1)
    with theme(context):
        fig, axes = new_figure(1, len(panels), sharey=True, squeeze=False,
                               figsize=(1.8 + 2.0 * len(panels), 1.4 + 0.5 * len(variants)))
        for ax, panel in zip(axes[0], panels, strict=True):
            sub = pooled[pooled["panel"] == panel]
            for k, cropper in enumerate(croppers):
                part = sub[sub["cropper"] == cropper]
                y = np.array([variants.index(v) for v in part["variant"]]) - 0.4 + step * (k + .5)
                x = part["share_flipped"].to_numpy(dtype=float)
                err = np.clip([x - part["ci_low"].to_numpy(dtype=float),
                               part["ci_high"].to_numpy(dtype=float) - x], 0, None)
                ax.errorbar(x, y, xerr=err, fmt="o", color=colours[cropper], markersize=4,
                            linewidth=1, label=cropper if panel == panels[0] else None)
            ax.set_xlim(-0.02, 1.02)
            ax.set_title(panel)
            ax.set_xlabel("share of composites flipped")
        axes[0][0].set_yticks(range(len(variants)), variants)
        axes[0][0].invert_yaxis()
        fig.legend(loc="outside lower center", ncols=min(len(croppers), 4), fontsize="small")
        if title:
            fig.suptitle(title)
    return fig
