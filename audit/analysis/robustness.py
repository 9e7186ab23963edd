"""How fragile is a verdict: the share of composites whose outcome changes under layout changes.

Input: ``records_robustness`` (see :mod:`audit.compare.robustness`): the same composites under
the base layout and each variant, per cropper and measure (``argmax`` or ``crop`` at a ratio).
For each variant a composite *flips* when its outcome differs from the base layout's
(``a``/``b``/``background`` for argmax, ``a``/``b``/``both``/``neither`` for crops); a
*winner flip* is the narrower change ``a`` <-> ``b``. Composites with an error in either
layout are left out. Intervals are image-aware: composites that share an image (the two
orders of a trial, recurring images) are correlated (:func:`audit.analysis.croppers.dyadic_se`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.stats import norm

from audit.analysis.croppers import dyadic_se
from audit.analysis.validation import require_columns

_KEYS = ["trial", "order", "cropper", "measure", "aspect_ratio"]
FLIP_COLUMNS = (
    "cropper", "measure", "aspect_ratio", "variant", "group_a", "group_b", "n", "n_flipped",
    "share_flipped", "se", "ci_low", "ci_high", "n_winner_flipped", "share_winner_flipped",
)


def _rows(part: pd.DataFrame, z: float) -> dict:
    flipped = part["_flip"].to_numpy(dtype=float)
    winner = part["_winner"].to_numpy(dtype=float)
    share = float(flipped.mean())
    se = dyadic_se(flipped, part["image_a"], part["image_b"])
    return {"n": len(part), "n_flipped": int(flipped.sum()), "share_flipped": share, "se": se,
            "ci_low": max(0.0, share - z * se) if np.isfinite(se) else np.nan,
            "ci_high": min(1.0, share + z * se) if np.isfinite(se) else np.nan,
            "n_winner_flipped": int(winner.sum()),
            "share_winner_flipped": float(winner.mean())}


def flip_rates(long: pd.DataFrame, *, group_order: Sequence[str] | None = None,
               alpha: float = 0.05, base: str = "base") -> pd.DataFrame:
    """Share of composites whose outcome flips, per cropper, measure, variant and group pair.

    Parameters
    ----------
    long : pandas.DataFrame
        ``records_robustness``.
    group_order : sequence of str, optional
        Orders each pair's two labels (default sorted); the pair ``all`` pools every pair.
    alpha : float
        1 - confidence level of the normal interval ``share +/- z * SE`` (clipped to [0, 1]).
    base : str
        Name of the unperturbed layout.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`FLIP_COLUMNS`; ``group_a == group_b == "all"`` rows pool the pairs.
    """
    require_columns(long, ("variant", "outcome", "group_a", "group_b", "image_a", "image_b",
                           *_KEYS), table="records_robustness")
    long = long[long["group_a"] != long["group_b"]]
    ref = long[long["variant"] == base].set_index(_KEYS)["outcome"].rename("base_outcome")
    other = long[long["variant"] != base]
    if other.empty or ref.empty:
        return pd.DataFrame(columns=list(FLIP_COLUMNS))
    frame = other.join(ref, on=_KEYS, how="inner")
    frame = frame[(frame["outcome"] != "error") & (frame["base_outcome"] != "error")].copy()
    labels = sorted(set(frame["group_a"]) | set(frame["group_b"]))
    rank = {g: i for i, g in enumerate(group_order or labels)}
    first = frame["group_a"].map(rank).fillna(len(rank)) <= frame["group_b"].map(rank).fillna(
        len(rank))
    frame["pair_a"] = np.where(first, frame["group_a"], frame["group_b"])
    frame["pair_b"] = np.where(first, frame["group_b"], frame["group_a"])
    frame["_flip"] = frame["outcome"] != frame["base_outcome"]
    decided = frame["outcome"].isin(("a", "b")) & frame["base_outcome"].isin(("a", "b"))
    frame["_winner"] = frame["_flip"] & decided
    z = float(norm.ppf(1 - alpha / 2))
    rows = []
    keys = ["cropper", "measure", "aspect_ratio", "variant"]
    for key, part in frame.groupby(keys, sort=False, dropna=False):
        for (ga, gb), sub in part.groupby(["pair_a", "pair_b"], sort=True):
            rows.append({**dict(zip(keys, key, strict=True)), "group_a": ga, "group_b": gb,
                         **_rows(sub, z)})
        rows.append({**dict(zip(keys, key, strict=True)), "group_a": "all", "group_b": "all",
                     **_rows(part, z)})
    return pd.DataFrame(rows, columns=list(FLIP_COLUMNS))
