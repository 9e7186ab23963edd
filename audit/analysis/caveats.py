"""Statistics caveats that depend on the design and the tables (added to the report's list)."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

CAVEAT_NEVER_SWAPPED = (
    "positions were never swapped within a pair ({pairs}): group and position are confounded "
    "in every such pair; only the Bradley-Terry model separates them, and only through its "
    "additive assumption"
)
CAVEAT_COUNTS_UNSWAPPED = (
    "the study never swapped positions: in its counts the first-named group always sat in the "
    "same slot, so group and position are confounded in every published pair"
)
CAVEAT_COUNTS_IMAGES = (
    "the study's counts carry no image ids, so its tests cannot be corrected for recurring "
    "images: every interval and p-value here treats composites as independent (conditional on "
    "its images) and is too narrow for claims about people; e.g. BM vs WM loses significance "
    "once the design effect exceeds about 5.7"
)
CAVEAT_INDEPENDENT = (
    "analysis.inference=independent: intervals and tests are conditional on these images and "
    "treat composites as independent; they are too narrow for claims about other images"
)


def never_swapped_pairs(win_rates: pd.DataFrame | None) -> list[str]:
    """Pairs of a win-rate table whose first group only ever sat in one position."""
    if win_rates is None or win_rates.empty or "n_a_first" not in win_rates:
        return []
    one_sided = (win_rates["n_a_first"] == 0) | (win_rates["n_a_second"] == 0)
    return [f"{a}|{b}" for a, b in zip(win_rates.loc[one_sided, "group_a"],
                                       win_rates.loc[one_sided, "group_b"], strict=True)]


def statistics_caveats(design: str, tables: Mapping[str, pd.DataFrame]) -> list[str]:
    """Caveats for the run's design and statistics tables, in a fixed order.

    Examples
    --------
    >>> statistics_caveats("paper_counts", {})[0].startswith("the study never swapped")
    True
    """
    out = []
    if design == "paper_counts":
        return [CAVEAT_COUNTS_UNSWAPPED, CAVEAT_COUNTS_IMAGES]
    win_rates = tables.get("win_rates")
    pairs = never_swapped_pairs(win_rates)
    if pairs:
        shown = ", ".join(pairs[:6]) + (" ..." if len(pairs) > 6 else "")
        out.append(CAVEAT_NEVER_SWAPPED.format(pairs=shown))
    if win_rates is not None and "inference" in win_rates and len(win_rates) and (
            win_rates["inference"] == "independent").all():
        out.append(CAVEAT_INDEPENDENT)
    return out
