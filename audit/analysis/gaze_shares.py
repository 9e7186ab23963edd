"""Male-gaze shares: how often the salient point is on the head and the crop keeps the head.

Input: one row per image and aspect ratio with ``group``, ``aspect_ratio``, ``point_on_head``
and ``crop_contains_head`` (booleans or 0/1; missing = not judged). Output: shares per group and
aspect ratio with intervals.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from audit.analysis.validation import require_columns
from audit.analysis.win_rates import CiMethod, rate_intervals

GAZE_COLUMNS = (
    "group", "aspect_ratio", "n", "share_point_on_head", "point_on_head_low",
    "point_on_head_high", "share_crop_contains_head", "crop_contains_head_low",
    "crop_contains_head_high", "ci_method",
)  # fmt: skip


def compute_gaze_shares(
    table: pd.DataFrame, *, alpha: float = 0.05, ci_method: CiMethod = "wilson"
) -> pd.DataFrame:
    """Share of images whose salient point is on the head / whose crop contains the head.

    Parameters
    ----------
    table : pandas.DataFrame
        Columns ``group``, ``aspect_ratio``, ``point_on_head``, ``crop_contains_head``.
    alpha, ci_method
        Interval settings.

    Returns
    -------
    pandas.DataFrame
        ``GAZE_COLUMNS``, one row per group and aspect ratio; each share's ``n`` is the number
        of judged rows (non-missing ``point_on_head``).
    """
    require_columns(table, ("group", "aspect_ratio", "point_on_head", "crop_contains_head"),
                    table="gaze")  # fmt: skip
    rows = []
    for (group, ratio), sub in table.groupby(["group", "aspect_ratio"], sort=True):
        row = {"group": group, "aspect_ratio": float(ratio)}
        for col in ("point_on_head", "crop_contains_head"):
            vals = sub[col].dropna().astype(float)
            low, high = rate_intervals([vals.sum()], [len(vals)], alpha=alpha,
                                       ci_method=ci_method)  # fmt: skip
            row[f"share_{col}"] = vals.mean() if len(vals) else np.nan
            row[f"{col}_low"], row[f"{col}_high"] = low[0], high[0]
            if col == "point_on_head":
                row["n"] = len(vals)
        row["ci_method"] = ci_method
        rows.append(row)
    return pd.DataFrame(rows, columns=list(GAZE_COLUMNS))
