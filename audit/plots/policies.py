"""Argmax versus softer crop policies: share of group A per pair under each policy."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from audit.analysis.aggregates import pair_labels
from audit.analysis.validation import require_columns
from audit.plots.style import PARITY_COLOR, new_figure, palette, theme


def plot_policies(table: pd.DataFrame, *, context: str = "paper") -> Figure:
    """Draw grouped bars: for each pair, the share of ``group_a`` under each policy.

    Parameters
    ----------
    table : pandas.DataFrame
        From :func:`audit.analysis.policies.compute_policy_rates` (``group_a``, ``group_b``,
        ``policy``, ``policy_label``, ``rate``).
    context : str
        Seaborn plotting context.

    Returns
    -------
    matplotlib.figure.Figure
        One Axes; one bar per pair and policy, a legend of policies and a ``"parity"`` line.
    """
    require_columns(table, ("group_a", "group_b", "policy", "rate"), table="policy rates")
    pairs = table[["group_a", "group_b"]].drop_duplicates().reset_index(drop=True)
    policies = list(dict.fromkeys(table["policy"]))
    labels = dict(zip(table["policy"], table.get("policy_label", table["policy"]), strict=True))
    width = 0.8 / max(len(policies), 1)
    with theme(context):
        fig, ax = new_figure(figsize=(1.5 + 1.2 * len(pairs), 3.8))
        for i, (policy, colour) in enumerate(zip(policies, palette(len(policies)), strict=True)):
            sub = pairs.merge(table[table["policy"] == policy], on=["group_a", "group_b"],
                              how="left")  # fmt: skip
            x = np.arange(len(pairs)) + (i - (len(policies) - 1) / 2) * width
            ax.bar(x, sub["rate"].to_numpy(dtype=float), width=width, color=colour,
                   label=labels[policy])  # fmt: skip
        ax.axhline(0.5, color=PARITY_COLOR, linestyle="--", linewidth=1, label="parity")
        ax.set_xticks(np.arange(len(pairs)), pair_labels(pairs["group_a"], pairs["group_b"]),
                      rotation=30, ha="right")  # fmt: skip
        ax.set_ylabel("share for first-named group")
        ax.set_title("Argmax vs other crop policies")
        ax.legend(fontsize="small")
    return fig
