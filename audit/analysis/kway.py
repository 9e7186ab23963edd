"""Win shares when k groups share one composite (``all_groups``, ``counterfactual_kway``).

Input: k-way records (``groups``, ``images``, ``outcome``, ``winner_group``, ``winner_slot``,
``k``). Output: per group, the share of decided composites it won, with an interval and a test
against parity 1/k; and per slot (position), the same, since groups are permuted over slots per
trial. Standard errors are image-aware by default: every composite shows k images, and two
composites are correlated iff they share one (:func:`audit.analysis.inference.kway_meat`).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from scipy.stats import t as student_t

from audit.analysis.inference import Inference, check_inference, kway_share_inference
from audit.analysis.validation import require_columns
from audit.analysis.win_rates import CiMethod, Correction, adjust_p_values, rate_intervals
from audit.analysis.win_rates import binomial_p_values as _binom_p

log = logging.getLogger(__name__)

KWAY_COLUMNS = (
    "by", "level", "n", "wins", "share", "parity", "delta", "ci_low", "ci_high", "ci_method",
    "p_value", "p_adjusted", "correction", "n_background", "n_error", "se", "inference",
    "p_tost", "p_tost_adjusted", "family", "margin", "verdict", "favoured",
    "n_images", "n_eff", "deff", "var_image", "var_pair",
)  # fmt: skip

_MSG_MIXED_K = "k-way records mix several k values {ks}; analyse one design at a time"


def compute_kway_shares(
    records: pd.DataFrame,
    *,
    alpha: float = 0.05,
    ci_method: CiMethod = "wilson",
    correction: Correction = "holm",
    margin: float = 0.05,
    inference: Inference = "dyadic",
    n_boot: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """Win share per group (``by == "group"``) and per slot (``by == "slot"``) against 1/k.

    Parameters
    ----------
    records : pandas.DataFrame
        k-way records, one row per composite; all rows must have the same ``k`` and each
        composite holds every group once. ``groups`` and ``images`` (per-slot lists) are
        needed for image-aware inference; without ``images`` it is ``independent``.
    alpha, ci_method, correction
        Test level, interval under ``inference="independent"`` and correction (the groups form
        one family, the slots another; each is named in ``family``).
    margin : float
        Equivalence margin around 1/k for the verdicts.
    inference : {"dyadic", "bootstrap", "independent"}
        ``dyadic`` (default): multi-membership sandwich over the k images of each composite
        (inclusion-exclusion over shared image sets), t reference with (images of the smallest
        group - 1) df; ``bootstrap``: k-image pigeonhole bootstrap (percentile interval,
        ``n_boot`` replicates, ``seed``); ``independent``: composites as independent (exact
        test, ``ci_method`` interval), conditional on these images, for comparison only.
    n_boot, seed
        Bootstrap replicates and seed (``inference="bootstrap"``).

    Returns
    -------
    pandas.DataFrame
        Columns ``KWAY_COLUMNS``; ``n`` counts decided composites (outcome ``win``), ``parity``
        is 1/k and ``delta = share - parity``; background and error composites are counted in
        ``n_background``/``n_error``, not in ``n``. ``se`` is image-aware unless ``inference``
        says ``independent``; ``n_eff = share (1 - share) / se²``, ``deff = n / n_eff``,
        ``var_image``/``var_pair`` the parts only more images / more trials shrink,
        ``n_images`` distinct images. Verdicts (``margin`` around 1/k) per family.

    Examples
    --------
    >>> recs = pd.DataFrame({"k": 2, "groups": [["x", "y"]] * 4, "outcome": "win",
    ...                      "images": [["x1", "y1"], ["y2", "x2"], ["x3", "y3"], ["y4", "x4"]],
    ...                      "winner_group": ["x", "x", "x", "y"], "winner_slot": [0, 1, 0, 0]})
    >>> table = compute_kway_shares(recs)
    >>> row = table.iloc[0]
    >>> str(row["level"]), float(row["share"]), str(row["inference"]), str(row["verdict"])
    ('x', 0.75, 'dyadic', 'inconclusive')
    """
    from audit.analysis.verdicts import add_verdicts

    check_inference(inference)
    require_columns(records, ("k", "outcome", "winner_group", "winner_slot"), table="records")
    ks = sorted(set(records["k"].astype(int)))
    if len(ks) != 1:
        raise ValueError(_MSG_MIXED_K.format(ks=ks))
    k = ks[0]
    outcome = records["outcome"].astype(str)
    decided = records[outcome == "win"]
    n = len(decided)
    n_bg = int((outcome == "background").sum())
    n_err = int((outcome == "error").sum())
    if "groups" in records.columns and len(records):
        levels = sorted({str(g) for gs in records["groups"] for g in gs})
    else:
        levels = sorted(decided["winner_group"].astype(str).unique())
    images = _slot_images(decided, k) if inference != "independent" and n else None
    if images is None:
        inference = "independent"
    winner_group = decided["winner_group"].astype(str).to_numpy()
    winner_slot = decided["winner_slot"].astype("Int64").to_numpy(dtype=float, na_value=-1)
    parts = []
    for by, names, y in (
        ("group", levels, winner_group[:, None] == np.asarray(levels, dtype=str)[None, :]),
        ("slot", [str(s) for s in range(k)], winner_slot[:, None] == np.arange(k)[None, :]),
    ):
        wins = y.sum(axis=0).astype(np.int64)
        part = pd.DataFrame({
            "by": by, "level": names, "n": n, "wins": wins, "parity": 1.0 / k,
            "correction": correction, "n_background": n_bg, "n_error": n_err,
        })  # fmt: skip
        part = part.assign(**_share_statistics(
            wins, n, y, images, k=k, inference=inference, alpha=alpha, ci_method=ci_method,
            correction=correction, n_boot=n_boot, seed=seed))
        parts.append(add_verdicts(part, margin=margin, alpha=alpha, correction=correction,
                                  family=f"kway_shares by {by}: {len(part)} ({correction})",
                                  estimate="share", null=1.0 / k, favour=None))
    return pd.concat(parts, ignore_index=True)[list(KWAY_COLUMNS)]


def _slot_images(decided: pd.DataFrame, k: int) -> tuple[np.ndarray, np.ndarray] | None:
    """(images, groups) as (n, k) string arrays, or ``None`` (logged) when unusable."""
    if not {"images", "groups"} <= set(decided.columns):
        log.info("k-way records lack images/groups columns: k-way shares use "
                 "inference=independent")
        return None
    imgs, grps = list(decided["images"]), list(decided["groups"])
    ok = all(isinstance(i, (list, tuple, np.ndarray)) and len(i) == k
             and not any(pd.isna(v) for v in i) for i in imgs)
    ok = ok and all(isinstance(g, (list, tuple, np.ndarray)) and len(g) == k for g in grps)
    if not ok:
        log.warning("k-way records have missing or wrong-length images/groups lists (need %d "
                    "per row): k-way shares use inference=independent", k)
        return None
    return np.asarray([list(i) for i in imgs], dtype=str), np.asarray([list(g) for g in grps],
                                                                       dtype=str)


def _share_statistics(wins: np.ndarray, n: int, y: np.ndarray,
                      images: tuple[np.ndarray, np.ndarray] | None, *, k: int, inference: str,
                      alpha: float, ci_method: CiMethod, correction: Correction, n_boot: int,
                      seed: int) -> dict[str, object]:
    """Share, interval, test of 1/k, adjusted p, se, n_eff, deff of one family."""
    q = len(wins)
    share = wins / n if n else np.full(q, np.nan)
    if inference == "independent":
        low, high = rate_intervals(wins, np.full(q, n), alpha=alpha, ci_method=ci_method)
        p = _binom_p(wins, np.full(q, n), p0=1.0 / k) if n else np.full(q, np.nan)
        with np.errstate(invalid="ignore", divide="ignore"):
            var = share * (1 - share) / n if n else np.full(q, np.nan)
        stats = {"ci_low": low, "ci_high": high, "ci_method": ci_method, "se": np.sqrt(var),
                 "var_image": np.nan, "var_pair": var,
                 "n_images": np.nan if images is None else len(np.unique(images[0]))}
    else:
        out = kway_share_inference(y.astype(float), images[0], images[1], inference=inference,
                                   n_boot=n_boot, seed=seed, alpha=alpha)
        inference = str(out["inference"])
        se = np.asarray(out["se"], dtype=float)
        df = np.asarray(out["df"], dtype=float)
        crit = student_t.ppf(1 - alpha / 2, df)
        with np.errstate(invalid="ignore", divide="ignore"):
            tstat = (share - 1.0 / k) / se
        p = np.where(np.isfinite(tstat), 2 * student_t.sf(np.abs(tstat), df), np.nan)
        stats = {"ci_low": np.clip(share - crit * se, 0.0, 1.0),
                 "ci_high": np.clip(share + crit * se, 0.0, 1.0), "ci_method": "wald", "se": se,
                 "var_image": out["var_image"], "var_pair": out["var_pair"],
                 "n_images": out["n_images"]}
        if inference == "bootstrap":
            stats.update(ci_low=out["ci_low"], ci_high=out["ci_high"], ci_method="percentile")
    adjusted, _ = adjust_p_values(p, method=correction, alpha=alpha)
    with np.errstate(invalid="ignore", divide="ignore"):
        n_eff = share * (1 - share) / np.asarray(stats["se"], dtype=float) ** 2
        deff = n / n_eff
    return {"share": share, "delta": share - 1.0 / k, **stats, "p_value": p,
            "p_adjusted": adjusted, "inference": inference, "n_eff": n_eff, "deff": deff}
