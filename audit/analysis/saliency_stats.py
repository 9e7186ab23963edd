"""Per-image saliency-score statistics and exact between-group comparisons of them.

The study summarises each image's grid scores by their 50th, 95th and 100th percentiles and mean,
then asks how likely a random image of group A scores at least as high as one of group B. Those
probabilities are computed here exactly (all ``n_a × n_b`` pairs, by sorting), not by sampling.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from itertools import permutations

import numpy as np
import numpy.typing as npt
import pandas as pd

log = logging.getLogger(__name__)

_MSG_EMPTY_SCORES = "score grid is empty; cannot summarise an image with no grid cells"
_MSG_NONFINITE_SCORES = (
    "score grid has {n} non-finite value(s) (NaN or inf); model output is broken"
)
_MSG_EMPTY_SAMPLE = "prob_greater_equal needs non-empty samples, got len(a)={n_a}, len(b)={n_b}"
_MSG_NAN_SAMPLE = "prob_greater_equal got NaN in {which}; drop missing values first"
_MSG_MISSING_COL = "per-image table has no column {col!r}; columns are {cols}"
_MSG_FEW_GROUPS = "prob_table needs at least 2 groups with values in {col!r}, found {groups}"


def score_summary(scores: npt.ArrayLike) -> dict[str, float]:
    """Summarise one image's score grid as the study did.

    Parameters
    ----------
    scores : array_like
        Grid scores of one image (any shape).

    Returns
    -------
    dict
        ``score_p50``, ``score_p95``, ``score_max``, ``score_mean`` as floats; percentiles use
        numpy's default linear interpolation, as the authors' numpy did.

    Raises
    ------
    ValueError
        If the grid is empty or holds NaN / inf.

    Examples
    --------
    >>> score_summary([1.0, 2.0, 3.0, 5.0])["score_max"]
    5.0
    """
    s = np.asarray(scores, dtype=np.float64).ravel()
    if s.size == 0:
        raise ValueError(_MSG_EMPTY_SCORES)
    bad = int(np.count_nonzero(~np.isfinite(s)))
    if bad:
        raise ValueError(_MSG_NONFINITE_SCORES.format(n=bad))
    p50, p95 = np.percentile(s, [50, 95])
    return {
        "score_p50": float(p50),
        "score_p95": float(p95),
        "score_max": float(s.max()),
        "score_mean": float(s.mean()),
    }


def _clean(x: npt.ArrayLike, which: str) -> npt.NDArray[np.float64]:
    arr = np.asarray(x, dtype=np.float64).ravel()
    if np.isnan(arr).any():
        raise ValueError(_MSG_NAN_SAMPLE.format(which=which))
    return arr


def _pair_probs(a: npt.NDArray[np.float64], b: npt.NDArray[np.float64]) -> tuple[float, float]:
    """Exact ``P(X >= Y)`` and ``P(X > Y)`` for X ~ U(a), Y ~ U(b)."""
    if a.size == 0 or b.size == 0:
        raise ValueError(_MSG_EMPTY_SAMPLE.format(n_a=a.size, n_b=b.size))
    bs = np.sort(b)
    # For each x: #{y <= x} (side=right) and #{y < x} (side=left). Integer sums are exact.
    ge = int(np.searchsorted(bs, a, side="right").sum())
    gt = int(np.searchsorted(bs, a, side="left").sum())
    denom = a.size * b.size
    return ge / denom, gt / denom


def prob_greater_equal(a: npt.ArrayLike, b: npt.ArrayLike) -> float:
    """Exact ``P(X >= Y)`` for ``X`` uniform over ``a`` and ``Y`` uniform over ``b``.

    Counts all ``len(a) * len(b)`` pairs in ``O((n_a + n_b) log n_b)`` by sorting ``b`` and
    binary-searching each ``a``.

    Parameters
    ----------
    a, b : array_like
        Samples (e.g. per-image max scores of two groups); must be non-empty and NaN-free.

    Returns
    -------
    float

    Examples
    --------
    >>> prob_greater_equal([1, 2, 3], [2, 2])
    0.6666666666666666
    """
    return _pair_probs(_clean(a, "a"), _clean(b, "b"))[0]


def prob_greater(a: npt.ArrayLike, b: npt.ArrayLike) -> float:
    """Exact ``P(X > Y)`` (strict), otherwise as :func:`prob_greater_equal`."""
    return _pair_probs(_clean(a, "a"), _clean(b, "b"))[1]


def _require(df: pd.DataFrame, cols: Sequence[str]) -> None:
    for col in cols:
        if col not in df.columns:
            raise KeyError(_MSG_MISSING_COL.format(col=col, cols=list(df.columns)))


def prob_table(per_image: pd.DataFrame, *, value: str, group: str = "group") -> pd.DataFrame:
    """``P(a ≥ b)`` for every ordered pair of distinct groups.

    Parameters
    ----------
    per_image : DataFrame
        One row per image with a group column and the value column.
    value : str
        Column compared, e.g. ``"score_max"`` or ``"score_p95"``. Missing values are dropped.
    group : str, default "group"
        Column holding the group label.

    Returns
    -------
    DataFrame
        Columns ``group_a, group_b, n_a, n_b, value, p_a_ge_b, p_a_gt_b, auc`` where
        ``auc = P(a > b) + P(a = b) / 2`` (the Mann-Whitney effect size; 0.5 = no difference).
        Groups are in sorted order.

    Raises
    ------
    KeyError
        If a column is missing.
    ValueError
        If fewer than two groups have values.
    """
    _require(per_image, [value, group])
    data = per_image[[group, value]].dropna()
    samples = {
        str(g): sub[value].to_numpy(dtype=np.float64)
        for g, sub in data.groupby(group, sort=True)
    }
    if len(samples) < 2:
        raise ValueError(_MSG_FEW_GROUPS.format(col=value, groups=sorted(samples)))
    rows = []
    for ga, gb in permutations(samples, 2):
        ge, gt = _pair_probs(samples[ga], samples[gb])
        rows.append({
            "group_a": ga, "group_b": gb,
            "n_a": samples[ga].size, "n_b": samples[gb].size,
            "value": value, "p_a_ge_b": ge, "p_a_gt_b": gt,
            "auc": gt + (ge - gt) / 2,
        })
    return pd.DataFrame(rows)


def group_summary(
    per_image: pd.DataFrame, value_cols: Sequence[str], *, group: str = "group"
) -> pd.DataFrame:
    """Distribution summary of each value column per group.

    Parameters
    ----------
    per_image : DataFrame
        One row per image.
    value_cols : sequence of str
        Columns to summarise, e.g. ``["score_p50", "score_p95", "score_max", "score_mean"]``.
    group : str, default "group"
        Column holding the group label.

    Returns
    -------
    DataFrame
        Long format: ``group, value, n, mean, std, min, p05, p25, p50, p75, p95, max``
        (``n`` counts non-missing values; percentiles are linear, ``std`` uses ``ddof=1``).
    """
    _require(per_image, [group, *value_cols])
    rows = []
    for g, sub in per_image.groupby(group, sort=True):
        for col in value_cols:
            v = sub[col].dropna().to_numpy(dtype=np.float64)
            row: dict[str, object] = {"group": str(g), "value": col, "n": int(v.size)}
            if v.size:
                q = np.percentile(v, [5, 25, 50, 75, 95])
                row.update(
                    mean=float(v.mean()),
                    std=float(v.std(ddof=1)) if v.size > 1 else np.nan,
                    min=float(v.min()),
                    p05=q[0], p25=q[1], p50=q[2], p75=q[3], p95=q[4],
                    max=float(v.max()),
                )
            rows.append(row)
    cols = ["group", "value", "n", "mean", "std", "min", "p05", "p25", "p50", "p75", "p95", "max"]
    return pd.DataFrame(rows).reindex(columns=cols)


def group_ecdf(per_image: pd.DataFrame, *, value: str, group: str = "group") -> pd.DataFrame:
    """Empirical cumulative distribution of one value per group (for the CDF plots).

    Returns
    -------
    DataFrame
        ``group, x, ecdf``: for each group the sorted distinct values and ``P(X <= x)``.
    """
    _require(per_image, [group, value])
    frames = []
    for g, sub in per_image[[group, value]].dropna().groupby(group, sort=True):
        v = np.sort(sub[value].to_numpy(dtype=np.float64))
        xs = np.unique(v)
        below = np.searchsorted(v, xs, side="right")
        frames.append(pd.DataFrame({"group": str(g), "x": xs, "ecdf": below / v.size}))
    if not frames:
        return pd.DataFrame({"group": [], "x": [], "ecdf": []})
    return pd.concat(frames, ignore_index=True)
