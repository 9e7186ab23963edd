"""How fragile is a verdict: the share of composites whose outcome changes under layout changes.

Input: ``records_robustness`` (see :mod:`audit.compare.robustness`): the same composites under
the base layout and each variant, per cropper and measure (``argmax`` or ``crop`` at a ratio).
For each variant a composite *flips* when its outcome differs from the base layout's
(``a``/``b``/``background`` for argmax, ``a``/``b``/``both``/``neither`` for crops); a
*winner flip* is the narrower change ``a`` <-> ``b``. Composites with an error in either
layout are left out. Intervals are image-aware: composites that share an image (the two
orders of a trial, recurring images) are correlated, so the share's standard error comes from
:func:`audit.analysis.inference.rate_inference` (``analysis.inference``: dyadic, bootstrap or
independent) and the interval is ``share ± t·SE`` (t with images-of-the-smaller-group - 1
degrees of freedom, clipped to [0, 1]; the bootstrap's percentile interval under
``bootstrap``).

Verdicts against a flip margin ``m`` (``analysis.margin``): ``robust`` when the one-sided test
of ``share_flipped >= m`` rejects after the family's correction (fewer than ``m`` of the
outcomes flip), ``fragile`` when the test of ``share_flipped <= m`` rejects, else
``inconclusive``. One Holm/BH family per table, named in ``family`` (the pooled ``all`` rows
are members too).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.stats import t as student_t

from audit.analysis.inference import Inference, check_inference, rate_inference
from audit.analysis.validation import require_columns
from audit.analysis.win_rates import adjust_p_values

_KEYS = ["trial", "order", "cropper", "measure", "aspect_ratio"]
FLIP_COLUMNS = (
    "cropper", "measure", "aspect_ratio", "variant", "group_a", "group_b", "n", "n_flipped",
    "share_flipped", "se", "ci_low", "ci_high", "n_winner_flipped", "share_winner_flipped",
    "n_images", "df", "inference", "p_robust", "p_fragile", "p_robust_adjusted",
    "p_fragile_adjusted", "correction", "margin", "family", "verdict",
)
#: Verdicts of :func:`flip_rates`.
FLIP_VERDICTS = ("robust", "fragile", "inconclusive")


def _rows(part: pd.DataFrame, stats: dict) -> dict:
    flipped = part["_flip"].to_numpy(dtype=float)
    winner = part["_winner"].to_numpy(dtype=float)
    out = rate_inference(flipped, part["image_a"].to_numpy(), part["image_b"].to_numpy(),
                         group_a=part["group_a"].to_numpy(), group_b=part["group_b"].to_numpy(),
                         **stats)
    share, se, df = float(out["mean"][0]), float(out["se"][0]), float(out["df"][0])
    if "ci_low" in out:
        lo, hi = float(out["ci_low"][0]), float(out["ci_high"][0])
    else:
        q = float(student_t.ppf(1 - stats["alpha"] / 2, np.inf if stats["inference"] ==
                                "independent" else df))
        lo, hi = share - q * se, share + q * se
    return {"n": len(part), "n_flipped": int(flipped.sum()), "share_flipped": share, "se": se,
            "ci_low": max(0.0, lo) if np.isfinite(se) else np.nan,
            "ci_high": min(1.0, hi) if np.isfinite(se) else np.nan,
            "n_winner_flipped": int(winner.sum()),
            "share_winner_flipped": float(winner.mean()), "n_images": int(out["n_images"][0]),
            "df": np.inf if stats["inference"] == "independent" else df}


def flip_rates(long: pd.DataFrame, *, group_order: Sequence[str] | None = None,
               alpha: float = 0.05, base: str = "base", inference: Inference = "dyadic",
               margin: float = 0.05, correction: str = "holm", n_boot: int = 1000,
               seed: int = 0) -> pd.DataFrame:
    """Share of composites whose outcome flips, per cropper, measure, variant and group pair.

    Parameters
    ----------
    long : pandas.DataFrame
        ``records_robustness``.
    group_order : sequence of str, optional
        Orders each pair's two labels (default sorted); the pair ``all`` pools every pair.
    alpha : float
        1 - confidence level of the interval, level of the verdict tests.
    base : str
        Name of the unperturbed layout.
    inference : {"dyadic", "bootstrap", "independent"}
        How the share's standard error is computed (:mod:`audit.analysis.inference`).
    margin : float
        Flip margin of the verdicts (share of outcomes that may flip and still be ``robust``).
    correction : {"holm", "fdr_bh"}
        Multiplicity correction over every row of the table.
    n_boot, seed
        Bootstrap replicates and seed (``inference="bootstrap"``).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`FLIP_COLUMNS`; ``group_a == group_b == "all"`` rows pool the pairs.
    """
    check_inference(inference)
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
    stats = {"inference": inference, "n_boot": n_boot, "seed": seed, "alpha": alpha}
    rows = []
    keys = ["cropper", "measure", "aspect_ratio", "variant"]
    for key, part in frame.groupby(keys, sort=False, dropna=False):
        for (ga, gb), sub in part.groupby(["pair_a", "pair_b"], sort=True):
            rows.append({**dict(zip(keys, key, strict=True)), "group_a": ga, "group_b": gb,
                         **_rows(sub, stats)})
        rows.append({**dict(zip(keys, key, strict=True)), "group_a": "all", "group_b": "all",
                     **_rows(part, stats)})
    out = pd.DataFrame(rows, columns=list(FLIP_COLUMNS[:16]))
    return _verdicts(out, margin=margin, alpha=alpha, correction=correction,
                     inference=inference)


def _verdicts(out: pd.DataFrame, *, margin: float, alpha: float, correction: str,
              inference: str) -> pd.DataFrame:
    """One-sided tests of the flip share against ``margin``, corrected over the table."""
    share = out["share_flipped"].to_numpy(dtype=float)
    se = out["se"].to_numpy(dtype=float)
    df = out["df"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        tstat = (share - margin) / se
    usable = np.isfinite(tstat)
    out["inference"] = inference
    out["p_robust"] = np.where(usable, student_t.cdf(tstat, df), np.nan)
    out["p_fragile"] = np.where(usable, student_t.sf(tstat, df), np.nan)
    out["p_robust_adjusted"], robust = adjust_p_values(out["p_robust"], method=correction,
                                                       alpha=alpha)
    out["p_fragile_adjusted"], fragile = adjust_p_values(out["p_fragile"], method=correction,
                                                         alpha=alpha)
    out["correction"] = correction
    out["margin"] = float(margin)
    out["family"] = (f"robustness_flips: {len(out)} croppers x measures x variants x pairs, "
                     f"flip share vs margin {margin:g} ({correction})")
    out["verdict"] = np.where(robust, "robust", np.where(fragile, "fragile", "inconclusive"))
    return out[list(FLIP_COLUMNS)]
