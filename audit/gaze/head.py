"""Per-image male-gaze outcomes (point on head? crop keeps head?) and their per-group summary.

The study had people judge by eye whether the most salient point fell on the head. Here a face
detector's head box judges it automatically for every image; :mod:`audit.gaze.review` lets people
check the detector on a sample.
"""

from __future__ import annotations

import logging
import re

import numpy as np
import pandas as pd
from statsmodels.stats.proportion import proportion_confint

from audit.crop.geometry import Box, Point

log = logging.getLogger(__name__)

#: Prefix of the per-aspect-ratio columns; the ratio follows, formatted with ``:g``.
CROP_PREFIX = "crop_contains_head_"
#: Columns of :func:`summarize_gaze`, in order.
SUMMARY_COLUMNS = (
    "group", "aspect_ratio", "n", "n_no_face", "n_face", "share_point_on_head",
    "point_on_head_low", "point_on_head_high", "share_crop_contains_head",
    "crop_contains_head_low", "crop_contains_head_high",
)

_MSG_COLUMN = "per-image gaze table has no column {col!r}; columns are {cols}"
_MSG_ALPHA = "alpha must be in (0, 1), got {alpha}"


def crop_column(aspect_ratio: float) -> str:
    """Column name of one aspect ratio's outcome, e.g. ``crop_contains_head_0.56``."""
    return f"{CROP_PREFIX}{float(aspect_ratio):g}"


def gaze_outcomes(point: Point, crops: dict[float, Box], head: Box | None) -> dict[str, object]:
    """Whether the salient point lies on the head, and whether each crop keeps the whole head.

    Parameters
    ----------
    point : Point
        The model's most salient point, image pixels.
    crops : dict
        Aspect ratio (as the cropper keys it) → crop box, image pixels.
    head : Box or None
        Head box from :func:`audit.gaze.faces.head_box`; None when no face was found.

    Returns
    -------
    dict
        ``has_face`` (bool), ``point_on_head`` (bool, or None without a face), and one
        :func:`crop_column` key per aspect ratio (bool, or None without a face).
    """
    out: dict[str, object] = {"has_face": head is not None}
    out["point_on_head"] = None if head is None else bool(head.contains(point.x, point.y))
    for ar, box in crops.items():
        out[crop_column(ar)] = None if head is None else bool(box.contains_box(head))
    return out


def _share_ci(successes: int, n: int, alpha: float) -> tuple[float, float, float]:
    if n == 0:
        return np.nan, np.nan, np.nan
    lo, hi = proportion_confint(successes, n, alpha=alpha, method="wilson")
    return successes / n, float(lo), float(hi)


def _count_true(s: pd.Series) -> tuple[int, int]:
    """Count (#True, #non-missing) in a boolean-ish column holding True/False/None/NA."""
    vals = s.dropna().astype(bool)
    return int(vals.sum()), int(vals.size)


def _crop_columns(per_image: pd.DataFrame) -> dict[float, str]:
    pattern = re.compile(re.escape(CROP_PREFIX) + r"(.+)$")
    found = {}
    for col in per_image.columns:
        m = pattern.match(str(col))
        if m:
            found[float(m.group(1))] = str(col)
    return found


def summarize_gaze(
    per_image: pd.DataFrame, *, group: str = "gender", alpha: float = 0.05
) -> pd.DataFrame:
    """Per group and aspect ratio: how often the point is on the head and crops keep the head.

    Parameters
    ----------
    per_image : DataFrame
        One row per image with the group column, ``point_on_head`` and the
        ``crop_contains_head_<ratio>`` columns of :func:`gaze_outcomes` (None/NA = no face).
    group : str, default "gender"
        Column holding the group label.
    alpha : float, default 0.05
        1 − confidence level of the Wilson intervals.

    Returns
    -------
    DataFrame
        One row per (group, aspect ratio): ``group, aspect_ratio, n, n_no_face, n_face,
        share_point_on_head, point_on_head_low, point_on_head_high, share_crop_contains_head,
        crop_contains_head_low, crop_contains_head_high``. Shares are over images with a face;
        the point share is the same for every aspect ratio of a group. Without crop columns there
        is one row per group with ``aspect_ratio`` NaN.
    """
    for col in (group, "point_on_head"):
        if col not in per_image.columns:
            raise KeyError(_MSG_COLUMN.format(col=col, cols=list(per_image.columns)))
    if not 0 < alpha < 1:
        raise ValueError(_MSG_ALPHA.format(alpha=alpha))
    crop_cols = _crop_columns(per_image)
    rows = []
    for g, sub in per_image.groupby(group, sort=True):
        k_point, n_face = _count_true(sub["point_on_head"])
        point = _share_ci(k_point, n_face, alpha)
        base = {"group": str(g), "n": int(len(sub)), "n_no_face": int(len(sub) - n_face),
                "n_face": n_face, "share_point_on_head": point[0],
                "point_on_head_low": point[1], "point_on_head_high": point[2]}
        if not crop_cols:
            rows.append({**base, "aspect_ratio": np.nan, "share_crop_contains_head": np.nan,
                         "crop_contains_head_low": np.nan, "crop_contains_head_high": np.nan})
        for ar in sorted(crop_cols):
            k_crop, n_crop = _count_true(sub[crop_cols[ar]])
            crop = _share_ci(k_crop, n_crop, alpha)
            rows.append({**base, "aspect_ratio": ar, "share_crop_contains_head": crop[0],
                         "crop_contains_head_low": crop[1], "crop_contains_head_high": crop[2]})
    return pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))
