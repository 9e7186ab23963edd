"""The study's four-panel pairwise chart (Race, Gender, Cross, Aggregate) with parity at 0.5.

Input: a panel table (``panel``, ``label``, ``rate``, ``delta`` and interval columns), either
:func:`audit.analysis.counts.paper_table` or :func:`panel_table` of a new run. Output: a Figure.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from audit.analysis.aggregates import assign_panels, group_code, pair_labels
from audit.analysis.counts import PANEL_ORDER
from audit.analysis.validation import require_columns
from audit.plots.style import PARITY_COLOR, new_figure, palette, theme


def panel_table(
    win_rates: pd.DataFrame, groups: pd.DataFrame, aggregates: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Combine a run's win rates and aggregates into the table :func:`plot_pairwise` draws.

    Parameters
    ----------
    win_rates : pandas.DataFrame
        From :func:`audit.analysis.win_rates.compute_win_rates`.
    groups : pandas.DataFrame
        ``tables/groups.csv`` (``group`` plus factor columns).
    aggregates : pandas.DataFrame, optional
        From :func:`audit.analysis.aggregates.compute_aggregates`; a ``"paper"`` method row is
        labelled "(study's arithmetic)".

    Returns
    -------
    pandas.DataFrame
        ``panel``, ``label``, ``group_a``, ``group_b``, ``n``, ``rate``, ``delta``, ``ci_low``,
        ``ci_high`` (pairs then aggregates, in panel order).
    """
    cols = ["group_a", "group_b", "n", "rate", "delta", "ci_low", "ci_high"]
    pairs = win_rates[cols].copy()
    pairs["panel"] = assign_panels(pairs, groups)
    pairs["label"] = pair_labels(pairs["group_a"], pairs["group_b"])
    parts = [pairs]
    if aggregates is not None and not aggregates.empty:
        agg = aggregates[cols + (["method"] if "method" in aggregates else [])].copy()
        agg["panel"] = "Aggregate"
        suffix = agg.get("method", pd.Series("", index=agg.index)).map(
            {"paper": " (study's arithmetic)"}).fillna("")  # fmt: skip
        agg["label"] = [
            f"{group_code(a)}↔{group_code(b)}{s}"
            for a, b, s in zip(agg["group_a"], agg["group_b"], suffix, strict=True)
        ]
        parts.append(agg.drop(columns=["method"], errors="ignore"))
    table = pd.concat(parts, ignore_index=True)
    rank = {p: i for i, p in enumerate(PANEL_ORDER)}
    table["_rank"] = table["panel"].map(rank).fillna(len(rank))
    table = table.sort_values("_rank", kind="stable").drop(columns="_rank")
    return table[["panel", "label", *cols]].reset_index(drop=True)


def plot_pairwise(
    table: pd.DataFrame,
    *,
    interval: tuple[str, str] = ("ci_low", "ci_high"),
    panels: Sequence[str] | None = None,
    title: str | None = None,
    context: str = "paper",
) -> Figure:
    """Draw win rates as bars with intervals, one panel per comparison kind.

    Parameters
    ----------
    table : pandas.DataFrame
        Needs ``panel``, ``label``, ``rate`` and the two ``interval`` columns; ``delta`` is
        annotated above each bar if present (else computed as rate - 0.5).
    interval : (str, str)
        Columns of the interval bounds, e.g. ``("wald_low", "wald_high")`` for the study's bars.
    panels : sequence of str, optional
        Panel order (default: Race, Gender, Cross, Aggregate, then any others present).
    title : str, optional
        Figure title.
    context : str
        Seaborn plotting context.

    Returns
    -------
    matplotlib.figure.Figure
        One Axes per panel; each bar's height is the rate, and each Axes has a horizontal
        line at 0.5 labelled ``"parity"``.
    """
    require_columns(table, ("panel", "label", "rate", *interval), table="pairwise table")
    present = list(dict.fromkeys(table["panel"]))
    if panels is None:
        panels = [p for p in PANEL_ORDER if p in present] + [
            p for p in present if p not in PANEL_ORDER
        ]
    widths = [max(int((table["panel"] == p).sum()), 1) for p in panels]
    lows = table[interval[0]].to_numpy(dtype=float)
    highs = table[interval[1]].to_numpy(dtype=float)
    span = np.nanmax(np.abs(np.r_[lows, highs, table["rate"].to_numpy(dtype=float)] - 0.5))
    half = max(0.15, float(span) + 0.06)
    colours = palette(len(panels))
    with theme(context):
        fig, axes = new_figure(1, len(panels), figsize=(2.2 + 1.1 * sum(widths), 3.8),
                               sharey=True, squeeze=False,
                               gridspec_kw={"width_ratios": widths})  # fmt: skip
        for ax, panel, colour in zip(axes[0], panels, colours, strict=True):
            sub = table[table["panel"] == panel]
            x = np.arange(len(sub))
            rate = sub["rate"].to_numpy(dtype=float)
            low = sub[interval[0]].to_numpy(dtype=float)
            high = sub[interval[1]].to_numpy(dtype=float)
            ax.bar(x, rate, color=colour, width=0.65)
            # clipped: a Wilson bound can sit a rounding error inside a rate of 0 or 1
            ax.errorbar(x, rate, yerr=np.clip([rate - low, high - rate], 0, None), fmt="none",
                        ecolor="black",
                        capsize=3, linewidth=1)  # fmt: skip
            ax.axhline(0.5, color=PARITY_COLOR, linestyle="--", linewidth=1, label="parity")
            delta = sub["delta"].to_numpy(dtype=float) if "delta" in sub else rate - 0.5
            for xi, hi, d in zip(x, high, delta, strict=True):
                ax.annotate(f"{100 * d:+.1f}%", (xi, hi), xytext=(0, 3),
                            textcoords="offset points", ha="center", fontsize="small")  # fmt: skip
            ax.set_xticks(x, sub["label"].tolist(), rotation=30, ha="right")
            ax.set_title(panel)
            ax.set_ylim(0.5 - half, 0.5 + half)
        axes[0][0].set_ylabel("share won by first-named group")
        if title:
            fig.suptitle(title)
    return fig
