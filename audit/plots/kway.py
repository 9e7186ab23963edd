"""Win shares when all groups share one composite, with the parity line at 1/k."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from audit.analysis.validation import require_columns
from audit.plots.style import PARITY_COLOR, group_palette, new_figure, palette, theme


def plot_kway_shares(table: pd.DataFrame, *, context: str = "paper") -> Figure:
    """Bars of the win share per group (left) and per slot (right), parity line at 1/k.

    Parameters
    ----------
    table : pandas.DataFrame
        From :func:`audit.analysis.kway.compute_kway_shares` (``by``, ``level``, ``share``,
        ``ci_low``, ``ci_high``, ``parity``).
    context : str
        Seaborn plotting context.

    Returns
    -------
    matplotlib.figure.Figure
        Axes titled "By group" and "By slot (position)", each with a ``"parity"`` line.
    """
    require_columns(table, ("by", "level", "share", "ci_low", "ci_high", "parity"),
                    table="k-way shares")  # fmt: skip
    parts = [(by, title) for by, title in (("group", "By group"), ("slot", "By slot (position)"))
             if (table["by"] == by).any()]  # fmt: skip
    with theme(context):
        fig, axes = new_figure(1, len(parts), figsize=(4.0 * len(parts), 3.6), squeeze=False,
                               sharey=True)  # fmt: skip
        for ax, (by, title) in zip(axes[0], parts, strict=True):
            sub = table[table["by"] == by]
            x = np.arange(len(sub))
            share = sub["share"].to_numpy(dtype=float)
            if by == "group":
                colours = [group_palette(sub["level"])[g] for g in sub["level"]]
            else:
                colours = [palette(1)[0]] * len(sub)
            ax.bar(x, share, color=colours, width=0.65)
            ax.errorbar(x, share, yerr=np.clip([share - sub["ci_low"], sub["ci_high"] - share],
                                               0, None),
                        fmt="none", ecolor="black", capsize=3, linewidth=1)  # fmt: skip
            ax.axhline(float(sub["parity"].iloc[0]), color=PARITY_COLOR, linestyle="--",
                       linewidth=1, label="parity")  # fmt: skip
            ax.set_xticks(x, sub["level"].astype(str).tolist(), rotation=30, ha="right")
            ax.set_title(title)
        axes[0][0].set_ylabel("share of composites won")
    return fig
