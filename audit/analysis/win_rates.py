"""Win rates per group pair from pairwise records: counts, intervals, tests, verdicts.

Input: the pairwise-type records table (``records.parquet``, one row per composite, both orders
of each trial). Output: one tidy row per unordered group pair, oriented so that ``group_a`` is the
pair's first group in ``group_order`` (sorted labels by default). Because every trial is run in
both orders, pooling the two orders gives a position-normalised rate. ``background`` and
``error`` outcomes are counted (:func:`count_outcomes`), never folded into the rates. Standard
errors are image-aware by default (:mod:`audit.analysis.inference`); ``inference="independent"``
gives the composite-level exact test and Wilson/beta interval for comparison.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.stats import binom
from scipy.stats import t as student_t
from statsmodels.stats.proportion import proportion_confint

from audit.analysis.inference import (
    Inference,
    check_inference,
    rate_inference,
)
from audit.analysis.validation import require_columns

CiMethod = Literal["wilson", "beta", "wald2se"]
Correction = Literal["holm", "fdr_bh"]

FIRST_POSITIONS = ("left", "top")
DECIDED = ("a", "b")
OUTCOMES = ("a", "b", "background", "error")

WIN_RATE_COLUMNS = (
    "group_a", "group_b", "n", "wins_a", "losses_a", "rate", "delta", "ratio",
    "ci_low", "ci_high", "ci_method", "p_value", "p_holm", "p_bh", "p_adjusted", "correction",
    "reject", "n_a_first", "rate_a_first", "n_a_second", "rate_a_second",
    "n_background", "n_error", "n_total",
    "n_trials", "n_images_a", "n_images_b", "se", "n_eff", "deff", "var_image", "var_pair",
    "inference", "p_tost", "p_tost_adjusted", "family", "margin", "verdict", "favoured",
)  # fmt: skip

_MSG_CI_METHOD = "analysis.ci_method must be one of ['wilson', 'beta', 'wald2se'], got {value!r}"
_MSG_CORRECTION = "analysis.correction must be one of ['holm', 'fdr_bh'], got {value!r}"
_MSG_GROUP_ORDER = (
    "analysis.group_order lacks group(s) {missing} found in the records; "
    "list every group or set group_order to null"
)
_MSG_NO_PAIRS = (
    "records hold no decided comparisons between two different groups "
    "(outcomes a/b with group_a != group_b); check compare.design and the outcomes table"
)


def rate_intervals(
    wins: npt.ArrayLike, n: npt.ArrayLike, *, alpha: float = 0.05, ci_method: CiMethod = "wilson"
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Confidence interval of a binomial proportion, vectorised.

    Parameters
    ----------
    wins, n : array_like of int
        Successes and trials. ``n == 0`` gives ``NaN`` bounds.
    alpha : float
        1 - confidence level (ignored by ``"wald2se"``, which is always p +/- 2 SE).
    ci_method : {"wilson", "beta", "wald2se"}
        ``wilson`` score interval, ``beta`` Clopper-Pearson, or the study's ``p +/- 2 SE`` with
        ``SE = sqrt(p (1 - p) / n)`` (unclipped, as published; for comparison only).

    Returns
    -------
    (low, high) : tuple of float arrays

    Examples
    --------
    >>> lo, hi = rate_intervals([60], [100])
    >>> round(float(lo[0]), 4), round(float(hi[0]), 4)
    (0.502, 0.6906)
    """
    wins = np.asarray(wins, dtype=float)
    n = np.asarray(n, dtype=float)
    low = np.full(np.broadcast(wins, n).shape, np.nan)
    high = low.copy()
    ok = n > 0
    if ci_method == "wald2se":
        p = np.divide(wins, n, out=np.full_like(low, np.nan), where=ok)
        se = np.sqrt(np.divide(p * (1 - p), n, out=np.full_like(low, np.nan), where=ok))
        return p - 2 * se, p + 2 * se
    if ci_method not in ("wilson", "beta"):
        raise ValueError(_MSG_CI_METHOD.format(value=ci_method))
    if ok.any():
        lo, hi = proportion_confint(wins[ok], n[ok], alpha=alpha, method=ci_method)
        low[ok], high[ok] = lo, hi
    return low, high


def binomial_p_values(
    wins: npt.ArrayLike, n: npt.ArrayLike, *, p0: float = 0.5
) -> npt.NDArray[np.float64]:
    """Two-sided exact binomial test p-values against ``p0``, vectorised.

    Uses the same rule as :func:`scipy.stats.binomtest` (sum of the probabilities of all
    outcomes no more likely than the observed one); ``n == 0`` gives ``NaN``.

    Examples
    --------
    >>> round(float(binomial_p_values([60], [100])[0]), 6)
    0.056888
    """
    wins = np.atleast_1d(np.asarray(wins, dtype=np.int64))
    n = np.atleast_1d(np.asarray(n, dtype=np.int64))
    wins, n = np.broadcast_arrays(wins, n)
    out = np.full(wins.shape, np.nan)
    for i, (k, m) in enumerate(zip(wins.ravel(), n.ravel(), strict=True)):
        if m <= 0:
            continue
        pmf = binom.pmf(np.arange(m + 1), m, p0)
        # relative tolerance as in scipy, so symmetric outcomes count as "as extreme"
        out.flat[i] = min(1.0, float(pmf[pmf <= pmf[k] * (1 + 1e-7)].sum()))
    return out


def adjust_p_values(
    p_values: npt.ArrayLike, *, method: Correction = "holm", alpha: float = 0.05
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    """Multiplicity-adjusted p-values over one family, ignoring ``NaN`` entries.

    Parameters
    ----------
    p_values : array_like of float
        Raw p-values; ``NaN`` (untestable pairs) stay ``NaN`` and are not counted in the family.
    method : {"holm", "fdr_bh"}
        Holm step-down (family-wise error) or Benjamini-Hochberg (false discovery rate).
    alpha : float
        Level for the ``reject`` flags.

    Returns
    -------
    (adjusted, reject) : arrays of float and bool
    """
    if method not in ("holm", "fdr_bh"):
        raise ValueError(_MSG_CORRECTION.format(value=method))
    p = np.asarray(p_values, dtype=float)
    adjusted = np.full(p.shape, np.nan)
    reject = np.zeros(p.shape, dtype=bool)
    ok = ~np.isnan(p)
    if ok.any():
        # same numbers as statsmodels' multipletests, which is avoided here because it calls
        # gc.collect() on every use (0.2 s each; calibration calls this thousands of times)
        adjusted[ok] = _holm(p[ok]) if method == "holm" else _bh(p[ok])
        reject[ok] = adjusted[ok] <= alpha
    return adjusted, reject


def _holm(p: np.ndarray) -> np.ndarray:
    m = len(p)
    order = np.argsort(p, kind="stable")
    stepped = np.maximum.accumulate((m - np.arange(m)) * p[order])
    out = np.empty(m)
    out[order] = np.minimum(stepped, 1.0)
    return out


def _bh(p: np.ndarray) -> np.ndarray:
    m = len(p)
    order = np.argsort(p, kind="stable")
    scaled = p[order] * m / np.arange(1, m + 1)
    stepped = np.minimum.accumulate(scaled[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(stepped, 1.0)
    return out


def add_rate_statistics(
    counts: pd.DataFrame,
    *,
    alpha: float = 0.05,
    ci_method: CiMethod = "wilson",
    correction: Correction = "holm",
    se: npt.ArrayLike | None = None,
    null: float = 0.5,
    df: npt.ArrayLike | None = None,
) -> pd.DataFrame:
    """Add rate, Δ, ratio, interval, exact p-value and adjusted p-values to a counts table.

    Parameters
    ----------
    counts : pandas.DataFrame
        Needs integer columns ``wins_a`` and ``n``; every row is one member of the test family.
    alpha, ci_method, correction
        See :func:`rate_intervals` and :func:`adjust_p_values`.
    se : array_like, optional
        Image-aware standard errors of ``rate``: then the interval is ``rate ± z·se`` (clipped
        to [0, 1], ``ci_method = "wald"``) and ``p_value`` the z-test of ``null``; without it,
        the composites are treated as independent (exact test, ``ci_method`` interval) and
        ``se`` is the binomial one.
    null : float
        Parity value of the test.
    df : array_like, optional
        Degrees of freedom of a t reference for the image-aware test and interval (few images
        make the robust variance too small; ``None``: normal).

    Returns
    -------
    pandas.DataFrame
        A copy with ``losses_a``, ``rate`` (wins_a / n), ``delta`` (rate - 0.5), ``ratio``
        (rate / (1 - rate)), ``ci_low``, ``ci_high``, ``ci_method``, ``p_value`` (exact, vs 0.5),
        ``p_holm``, ``p_bh``, ``p_adjusted`` (by ``correction``), ``correction`` and ``reject``.
    """
    require_columns(counts, ("wins_a", "n"), table="counts")
    out = counts.copy()
    wins = out["wins_a"].to_numpy(dtype=float)
    n = out["n"].to_numpy(dtype=float)
    rate = np.divide(wins, n, out=np.full_like(wins, np.nan), where=n > 0)
    out["losses_a"] = (n - wins).astype(np.int64)
    out["rate"] = rate
    out["delta"] = rate - 0.5
    with np.errstate(divide="ignore", invalid="ignore"):
        out["ratio"] = np.where(rate < 1, rate / (1 - rate), np.inf)
    if se is None:
        out["ci_low"], out["ci_high"] = rate_intervals(wins, n, alpha=alpha,
                                                       ci_method=ci_method)
        out["ci_method"] = ci_method
        p = binomial_p_values(wins.astype(np.int64), n.astype(np.int64), p0=null)
        with np.errstate(invalid="ignore", divide="ignore"):
            out["se"] = np.sqrt(rate * (1 - rate) / n)
    else:
        sev = np.asarray(se, dtype=float)
        dfv = np.full(sev.shape, np.inf) if df is None else np.asarray(df, dtype=float)
        dfv = np.where(dfv >= 1, dfv, np.inf)
        z = student_t.ppf(1 - alpha / 2, dfv)
        out["ci_low"] = np.clip(rate - z * sev, 0.0, 1.0)
        out["ci_high"] = np.clip(rate + z * sev, 0.0, 1.0)
        out["ci_method"] = "wald"
        out["se"] = sev
        with np.errstate(invalid="ignore", divide="ignore"):
            tstat = (rate - null) / sev
        p = np.where(np.isfinite(tstat), 2 * student_t.sf(np.abs(tstat), dfv), np.nan)
    out["p_value"] = p
    out["p_holm"], reject_holm = adjust_p_values(p, method="holm", alpha=alpha)
    out["p_bh"], reject_bh = adjust_p_values(p, method="fdr_bh", alpha=alpha)
    if correction not in ("holm", "fdr_bh"):
        raise ValueError(_MSG_CORRECTION.format(value=correction))
    out["p_adjusted"] = out["p_holm"] if correction == "holm" else out["p_bh"]
    out["correction"] = correction
    out["reject"] = reject_holm if correction == "holm" else reject_bh
    return out


def orient_pairs(
    records: pd.DataFrame, *, group_order: Sequence[str] | None = None
) -> pd.DataFrame:
    """Return a copy of pairwise records with the pair's canonical orientation added.

    Adds ``pair_a``, ``pair_b`` (the two groups, ``pair_a`` first in ``group_order``),
    ``flipped`` (record's A is ``pair_b``), ``a_first`` (record's A sat left/top),
    ``pair_a_first`` (``pair_a``'s image sat left/top) and ``pair_a_wins`` (float, NaN unless
    decided). Same-group rows (baseline) get ``pair_a == pair_b`` and ``flipped == False``.
    """
    require_columns(records, ("group_a", "group_b", "outcome"), table="records")
    out = records.copy()
    ga = out["group_a"].astype(str)
    gb = out["group_b"].astype(str)
    groups = sorted(set(ga) | set(gb))
    if group_order is None:
        rank = {g: i for i, g in enumerate(groups)}
    else:
        missing = [g for g in groups if g not in group_order]
        if missing:
            raise ValueError(_MSG_GROUP_ORDER.format(missing=missing))
        rank = {g: i for i, g in enumerate(group_order)}
    flipped = ga.map(rank) > gb.map(rank)
    out["pair_a"] = np.where(flipped, gb, ga)
    out["pair_b"] = np.where(flipped, ga, gb)
    out["flipped"] = flipped.to_numpy()
    out["a_first"] = _a_first(out)
    out["pair_a_first"] = out["a_first"] ^ out["flipped"]
    outcome = out["outcome"].astype(str)
    a_won = (outcome == "a").to_numpy()
    decided = outcome.isin(DECIDED).to_numpy()
    out["pair_a_wins"] = np.where(decided, np.where(flipped, ~a_won, a_won), np.nan)
    return out


def _a_first(records: pd.DataFrame) -> npt.NDArray[np.bool_]:
    """Whether image A sat in the first slot (left/top); from position_a, else from order."""
    if "position_a" in records.columns:
        return records["position_a"].astype(str).isin(FIRST_POSITIONS).to_numpy()
    if "order" in records.columns:
        return (records["order"].astype(int) == 0).to_numpy()
    raise ValueError(
        "records need column 'position_a' (or 'order') to tell which slot image A sat in"
    )


def count_outcomes(
    records: pd.DataFrame, *, group_order: Sequence[str] | None = None
) -> pd.DataFrame:
    """Count every outcome (a, b, background, error) per oriented group pair, plus a total row.

    Parameters
    ----------
    records : pandas.DataFrame
        Pairwise-type records (columns ``group_a``, ``group_b``, ``outcome``).
    group_order : sequence of str, optional
        Fixes the pair orientation (default: sorted labels).

    Returns
    -------
    pandas.DataFrame
        Columns ``group_a``, ``group_b``, ``n_total``, ``n_a``, ``n_b``, ``n_background``,
        ``n_error``, ``share_background``, ``share_error``; ``n_a`` counts wins of ``group_a``
        (the oriented pair's first group). The last row has ``group_a == group_b == "all"``.
    """
    oriented = orient_pairs(records, group_order=group_order)
    outcome = oriented["outcome"].astype(str)
    oriented["_a"] = oriented["pair_a_wins"] == 1
    oriented["_b"] = oriented["pair_a_wins"] == 0
    oriented["_bg"] = outcome == "background"
    oriented["_err"] = outcome == "error"
    keys = ["pair_a", "pair_b"]
    table = oriented.groupby(keys, sort=True).agg(
        n_total=("outcome", "size"), n_a=("_a", "sum"), n_b=("_b", "sum"),
        n_background=("_bg", "sum"), n_error=("_err", "sum"),
    )  # fmt: skip
    table = table.reset_index().rename(columns={"pair_a": "group_a", "pair_b": "group_b"})
    total = table.drop(columns=["group_a", "group_b"]).sum().to_frame().T
    total.insert(0, "group_a", "all")
    total.insert(1, "group_b", "all")
    table = pd.concat([table, total], ignore_index=True)
    counts = ["n_total", "n_a", "n_b", "n_background", "n_error"]
    table[counts] = table[counts].astype(np.int64)
    table["share_background"] = table["n_background"] / table["n_total"]
    table["share_error"] = table["n_error"] / table["n_total"]
    return table


def compute_win_rates(
    records: pd.DataFrame,
    *,
    alpha: float = 0.05,
    ci_method: CiMethod = "wilson",
    correction: Correction = "holm",
    group_order: Sequence[str] | None = None,
    inference: Inference = "dyadic",
    margin: float = 0.05,
    n_boot: int = 1000,
    seed: int = 0,
    by: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Position-normalised win rate of ``group_a`` over ``group_b`` for each group pair.

    Both orders of every trial are pooled, so with counterbalanced records a position preference
    of the model cancels out of ``rate``; ``rate_a_first`` and ``rate_a_second`` show the two
    orders separately. Same-group (baseline) rows are left out: see
    :func:`audit.analysis.position.compute_position_baseline`.

    Parameters
    ----------
    records : pandas.DataFrame
        Pairwise-type records (``group_a``, ``group_b``, ``outcome`` and ``position_a`` or
        ``order``; ``image_a``, ``image_b`` and ``trial`` for image-aware inference), schema in
        ``records.parquet``.
    alpha : float
        1 - confidence level, also the level of the ``reject`` flags and verdicts.
    ci_method : {"wilson", "beta", "wald2se"}
        Interval for ``rate`` under ``inference="independent"`` (see :func:`rate_intervals`).
    correction : {"holm", "fdr_bh"}
        Which adjusted p-value goes to ``p_adjusted``/``reject`` (both are always reported);
        every row of the table is one member of the family named in ``family``.
    group_order : sequence of str, optional
        Orientation of each pair (default: sorted labels).
    inference : {"dyadic", "bootstrap", "independent"}
        Standard errors, intervals and tests: image-aware (default; see
        :mod:`audit.analysis.inference`) or composites as independent (exact test, for
        comparison). Records without image ids fall back to ``independent``.
    margin : float
        Equivalence margin for the ``parity`` verdict (see :mod:`audit.analysis.verdicts`).
    n_boot, seed
        Bootstrap replicates and seed (``inference="bootstrap"`` only).
    by : sequence of str, optional
        Extra columns (e.g. ``cropper``, ``aspect_ratio``) to split the pairs by.

    Returns
    -------
    pandas.DataFrame
        One row per pair (and ``by`` level) with the ``by`` columns and ``WIN_RATE_COLUMNS``:
        ``n`` decided composites, ``wins_a``, ``rate``, ``delta = rate - 0.5``, ``ratio``,
        interval, p-value vs 0.5, Holm and BH adjusted p-values, the per-order rates, the
        excluded background/error counts, ``n_trials``, ``n_images_a``/``n_images_b``
        (distinct images), ``se``, ``n_eff = rate (1 - rate) / se²``, ``deff = n / n_eff``,
        the variance components ``var_image`` (shrinks only with more images) and
        ``var_pair`` (shrinks with more trials), ``inference``, the TOST p-values, ``family``,
        ``margin``, ``verdict`` (``disparity``/``parity``/``inconclusive``) and ``favoured``.

    Raises
    ------
    ValueError
        If required columns are missing or no pair has a decided comparison.

    Examples
    --------
    >>> recs = pd.DataFrame({"group_a": ["x", "x", "y"], "group_b": ["y", "y", "x"],
    ...                      "outcome": ["a", "b", "b"], "position_a": ["left", "right", "left"]})
    >>> compute_win_rates(recs)[["group_a", "group_b", "n", "wins_a"]].to_dict("records")
    [{'group_a': 'x', 'group_b': 'y', 'n': 3, 'wins_a': 2}]
    """
    from audit.analysis.verdicts import add_verdicts

    check_inference(inference)
    by = list(by or [])
    require_columns(records, by, table="records")
    oriented = orient_pairs(records, group_order=group_order)
    oriented = oriented[oriented["pair_a"] != oriented["pair_b"]]
    decided = oriented[oriented["pair_a_wins"].notna()]
    if decided.empty:
        raise ValueError(_MSG_NO_PAIRS)
    keys = [*by, "pair_a", "pair_b"]
    first = decided["pair_a_first"].to_numpy()
    wins = decided["pair_a_wins"].to_numpy()
    decided = decided.assign(
        _first_n=first, _first_w=np.where(first, wins, 0.0),
        _second_n=~first, _second_w=np.where(first, 0.0, wins),
    )  # fmt: skip
    table = decided.groupby(keys, sort=True).agg(
        n=("pair_a_wins", "size"), wins_a=("pair_a_wins", "sum"),
        n_a_first=("_first_n", "sum"), wins_a_first=("_first_w", "sum"),
        n_a_second=("_second_n", "sum"), wins_a_second=("_second_w", "sum"),
    )  # fmt: skip
    table.index = table.index.set_names([*by, "group_a", "group_b"])
    if by:
        outcomes = pd.concat(
            [count_outcomes(part, group_order=group_order).assign(
                **dict(zip(by, level if isinstance(level, tuple) else (level,), strict=True)))
             for level, part in records.groupby(by, sort=True)], ignore_index=True)
    else:
        outcomes = count_outcomes(records, group_order=group_order)
    outcomes = outcomes.set_index([*by, "group_a", "group_b"])
    table = table.join(outcomes[["n_background", "n_error", "n_total"]]).reset_index()
    for col in ("n", "wins_a", "n_a_first", "n_a_second", "n_background", "n_error", "n_total"):
        table[col] = table[col].astype(np.int64)
    table["rate_a_first"] = table["wins_a_first"] / table["n_a_first"].replace(0, np.nan)
    table["rate_a_second"] = table["wins_a_second"] / table["n_a_second"].replace(0, np.nan)
    unit = _unit_codes(decided, keys, table)
    has_images = {"image_a", "image_b"} <= set(decided.columns)
    table = table.assign(**_trial_image_counts(decided, unit, len(table), has_images))
    if not has_images:
        inference = "independent"
    stats = None
    if inference != "independent":
        pa_img = np.where(decided["flipped"], decided["image_b"], decided["image_a"])
        pb_img = np.where(decided["flipped"], decided["image_a"], decided["image_b"])
        stats = rate_inference(
            wins, pa_img, pb_img, unit=unit, n_units=len(table), inference=inference,
            group_a=decided["pair_a"].to_numpy(), group_b=decided["pair_b"].to_numpy(),
            n_boot=n_boot, seed=seed, alpha=alpha)
    table = add_rate_statistics(table, alpha=alpha, ci_method=ci_method, correction=correction,
                                se=None if stats is None else stats["se"],
                                df=None if stats is None else stats["df"])
    if stats is not None:
        table["var_image"], table["var_pair"] = stats["var_image"], stats["var_pair"]
        if inference == "bootstrap":
            table["ci_low"], table["ci_high"] = stats["ci_low"], stats["ci_high"]
            table["ci_method"] = "percentile"
    else:
        table["var_image"], table["var_pair"] = np.nan, table["se"] ** 2
    with np.errstate(invalid="ignore", divide="ignore"):
        table["n_eff"] = table["rate"] * (1 - table["rate"]) / table["se"] ** 2
        table["deff"] = table["n"] / table["n_eff"]
    table["inference"] = inference
    family = f"win_rates: {len(table)} group pairs ({correction})"
    table = add_verdicts(table, margin=margin, alpha=alpha, correction=correction, family=family)
    return table[[*by, *WIN_RATE_COLUMNS]]


def _unit_codes(decided: pd.DataFrame, keys: list[str], table: pd.DataFrame) -> np.ndarray:
    """Row index of ``table`` (one row per key) for every decided record."""
    index = pd.MultiIndex.from_frame(table[[*keys[:-2], "group_a", "group_b"]].astype(str))
    rows = pd.MultiIndex.from_frame(decided[keys].astype(str))
    codes = index.get_indexer(rows)
    return codes.astype(np.int64)


def _trial_image_counts(decided: pd.DataFrame, unit: np.ndarray, n_units: int,
                        has_images: bool) -> dict[str, np.ndarray]:
    """Distinct trials and distinct images of each side per unit."""
    def distinct(values: np.ndarray) -> np.ndarray:
        codes = pd.factorize(values)[0].astype(np.int64)
        pairs = np.unique(unit * (codes.max(initial=0) + 1) + codes)
        return np.bincount(pairs // (codes.max(initial=0) + 1), minlength=n_units)

    if "trial" in decided.columns:
        design = decided["design"].astype(str) if "design" in decided.columns else ""
        n_trials = distinct((design + ":" + decided["trial"].astype(str)).to_numpy())
    else:
        n_trials = np.bincount(unit, minlength=n_units)
    if not has_images:
        nan = np.full(n_units, np.nan)
        return {"n_trials": n_trials, "n_images_a": nan, "n_images_b": nan}
    flipped = decided["flipped"].to_numpy()
    img_a = np.where(flipped, decided["image_b"], decided["image_a"]).astype(str)
    img_b = np.where(flipped, decided["image_a"], decided["image_b"]).astype(str)
    return {"n_trials": n_trials, "n_images_a": distinct(img_a), "n_images_b": distinct(img_b)}
