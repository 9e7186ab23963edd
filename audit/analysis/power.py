"""Sample size per group pair to detect a win-rate difference Δ from parity.

Two-sided test of ``rate == 0.5`` at level ``alpha / k``: the first (strictest) step of Holm's
procedure over ``k`` pairs, so the numbers are a worst case for every pair. ``method="exact"``
searches the smallest ``n`` whose exact binomial test has the requested power (exact power is
saw-toothed in ``n``, so a slightly larger ``n`` can fall just short); ``method="normal"`` uses
the normal approximation ``n = ((z_{1-a/2} * 0.5 + z_{power} * sqrt(p (1 - p))) / Δ)^2``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd
from scipy.stats import binom, norm
from scipy.stats import t as student_t

PowerMethod = Literal["exact", "normal"]

_MSG_DELTA = "delta must satisfy 0 < |delta| < 0.5, got {value}"
_MSG_PROB = "{name} must be in (0, 1), got {value}"
_MSG_K = "k (number of pairs in the family) must be >= 1, got {value}"
_MSG_METHOD = "power method must be 'exact' or 'normal', got {value!r}"


def _check(delta: float, k: int, alpha: float, power: float) -> None:
    if not 0 < abs(delta) < 0.5:
        raise ValueError(_MSG_DELTA.format(value=delta))
    if k < 1:
        raise ValueError(_MSG_K.format(value=k))
    for name, value in (("alpha", alpha), ("power", power)):
        if not 0 < value < 1:
            raise ValueError(_MSG_PROB.format(name=name, value=value))


def exact_critical_count(n: int, alpha: float) -> int:
    """Largest ``c`` such that the exact two-sided test vs 0.5 rejects when min(k, n-k) <= c.

    Returns ``-1`` when no outcome rejects. Under p = 0.5 the two-sided p-value of ``k`` is
    ``2 * P(X <= min(k, n - k))``, matching :func:`scipy.stats.binomtest`.
    """
    c = int(binom.ppf(alpha / 2, n, 0.5))
    while c >= 0 and 2 * binom.cdf(c, n, 0.5) > alpha:
        c -= 1
    while 2 * binom.cdf(c + 1, n, 0.5) <= alpha and c + 1 < n / 2:
        c += 1
    return c


def exact_power(n: int, delta: float, *, alpha: float) -> float:
    """Power of the two-sided exact binomial test of 0.5 at level ``alpha`` when p = 0.5 + Δ."""
    c = exact_critical_count(n, alpha)
    if c < 0:
        return 0.0
    p = 0.5 + delta
    return float(binom.cdf(c, n, p) + binom.sf(n - c - 1, n, p))


def trials_needed(
    delta: float,
    *,
    k: int = 1,
    alpha: float = 0.05,
    power: float = 0.8,
    method: PowerMethod = "exact",
) -> int:
    """Decided comparisons needed per pair to detect ``rate = 0.5 + delta``.

    Parameters
    ----------
    delta : float
        Difference from parity, ``0 < |delta| < 0.5``.
    k : int
        Pairs in the family; the test uses ``alpha / k`` (Holm's first step, the worst case).
    alpha : float
        Family-wise level.
    power : float
        Target power 1 - β.
    method : {"exact", "normal"}
        Exact binomial search (smallest n reaching ``power``) or the normal approximation.

    Returns
    -------
    int
        Trials per pair (decided composites; add background/error losses on top).

    Examples
    --------
    >>> trials_needed(0.1, method="normal")
    194
    """
    _check(delta, k, alpha, power)
    level = alpha / k
    p = 0.5 + delta
    z_a, z_b = norm.ppf(1 - level / 2), norm.ppf(power)
    approx = ((z_a * 0.5 + z_b * math.sqrt(p * (1 - p))) / abs(delta)) ** 2
    if method == "normal":
        return int(math.ceil(approx))
    if method != "exact":
        raise ValueError(_MSG_METHOD.format(value=method))
    # every n up to 1.5x the approximation at once (vectorised); widen if none reaches power
    start, stop = 1, int(approx * 1.5) + 50
    while True:
        ns = np.arange(start, stop + 1)
        powers = _exact_powers(ns, delta, level)
        hits = np.flatnonzero(powers >= power)
        if hits.size:
            return int(ns[hits[0]])
        start, stop = stop + 1, stop * 2


def _exact_powers(ns: np.ndarray, delta: float, level: float) -> np.ndarray:
    """Exact two-sided power at level ``level`` for each sample size in ``ns``."""
    crit = binom.ppf(level / 2, ns, 0.5).astype(np.int64)
    # ppf can overshoot the largest rejecting count by one or two; step down until valid
    for _ in range(3):
        crit = np.where(2 * binom.cdf(crit, ns, 0.5) > level, crit - 1, crit)
    p = 0.5 + delta
    return np.where(crit >= 0, binom.cdf(crit, ns, p) + binom.sf(ns - crit - 1, ns, p), 0.0)


def predicted_power(delta: float, se: float, *, alpha_per_test: float,
                    df: float | None = None) -> float:
    """Power of a two-sided test at ``alpha_per_test`` when the estimate has SE ``se``.

    With ``df`` the critical value is Student's t (as the image-aware tests use), else normal.

    Examples
    --------
    >>> round(predicted_power(0.1, 0.0357, alpha_per_test=0.05), 3)
    0.8
    """
    if not se > 0:
        return float("nan")
    z = norm.ppf(1 - alpha_per_test / 2) if df is None else student_t.ppf(
        1 - alpha_per_test / 2, df)
    r = abs(delta) / se
    return float(norm.cdf(r - z) + norm.cdf(-r - z))


def variance_components(win_rates: pd.DataFrame) -> dict[str, float]:
    """Per-image and per-trial variance units of a run, averaged over its pairs.

    ``Var(rate) ≈ tau2 / m + omega2 / T`` with m images per group and T trials per pair:
    ``tau2 = var_image * m`` and ``omega2 = var_pair * T`` of each pair (see
    :func:`audit.analysis.win_rates.compute_win_rates`), averaged over pairs.
    """
    m = (win_rates["n_images_a"] + win_rates["n_images_b"]).to_numpy(dtype=float) / 2
    t = win_rates["n_trials"].to_numpy(dtype=float)
    tau2 = np.nan_to_num(win_rates["var_image"].to_numpy(dtype=float)) * m
    omega2 = win_rates["var_pair"].to_numpy(dtype=float) * t
    return {"tau2": float(np.nanmean(tau2)), "omega2": float(np.nanmean(omega2)),
            "images_per_group": float(np.nanmean(m)), "trials_per_pair": float(np.nanmean(t)),
            "deff": float(np.nanmean(win_rates["deff"])) if "deff" in win_rates else np.nan}


def power_table(
    deltas: Sequence[float],
    k: int = 1,
    alpha: float = 0.05,
    power: float = 0.8,
    win_rates: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Trials per pair and images per group needed for several Δ, with the design effect.

    Without ``win_rates`` only the composite-level numbers (independent binomial trials) are
    given. With an image-aware ``win_rates`` table the run itself is the pilot: its variance
    splits into a part that shrinks with more images per group (``tau2 / m``) and one that
    shrinks with more trials per pair (``omega2 / T``); the test uses ``alpha / k`` (Holm's
    first step).

    Returns
    -------
    pandas.DataFrame
        Columns ``delta``, ``k``, ``alpha``, ``alpha_per_test``, ``power``, ``n_exact``,
        ``n_normal``, ``total_exact`` (composites, as if independent) and, with ``win_rates``:
        ``images_per_group`` and ``trials_per_pair`` (this run), ``deff``, ``power_now`` (this
        design), ``trials_needed`` (per pair at this run's images; ``inf`` when no number of
        trials suffices), ``images_needed`` (per group at this run's trials),
        ``images_needed_unlimited_trials``, ``only_more_images`` and ``advice``.
    """
    comp = None
    if win_rates is not None and {"var_image", "var_pair", "n_trials"} <= set(win_rates):
        if win_rates["var_pair"].notna().any() and win_rates["var_image"].notna().any():
            comp = variance_components(win_rates)
    rows = []
    for delta in deltas:
        n_exact = trials_needed(delta, k=k, alpha=alpha, power=power, method="exact")
        row = {
            "delta": float(delta), "k": int(k), "alpha": alpha, "alpha_per_test": alpha / k,
            "power": power, "n_exact": n_exact,
            "n_normal": trials_needed(delta, k=k, alpha=alpha, power=power, method="normal"),
            "total_exact": n_exact * k,
        }  # fmt: skip
        if comp is not None:
            row.update(_design_power(delta, comp, alpha_per_test=alpha / k, power=power))
        rows.append(row)
    return pd.DataFrame(rows)


def _design_power(delta: float, comp: dict[str, float], *, alpha_per_test: float,
                  power: float) -> dict:
    tau2, omega2 = comp["tau2"], comp["omega2"]
    m, t = comp["images_per_group"], comp["trials_per_pair"]
    target = (abs(delta) / (norm.ppf(1 - alpha_per_test / 2) + norm.ppf(power))) ** 2
    se_now = math.sqrt(tau2 / m + omega2 / t)
    left_for_trials = target - tau2 / m
    trials = math.ceil(omega2 / left_for_trials) if left_for_trials > 0 else math.inf
    left_for_images = target - omega2 / t
    images = math.ceil(tau2 / left_for_images) if left_for_images > 0 else math.inf
    images_unlimited = math.ceil(tau2 / target) if tau2 > 0 else 1
    only_images = left_for_trials <= 0
    if only_images:
        advice = (f"more trials cannot reach this power with {m:.0f} images per group; "
                  f"use at least {images_unlimited} images per group")
    elif trials <= t:
        advice = "this design already has the power"
    else:
        advice = f"{trials} trials per pair at {m:.0f} images per group"
    return {
        "images_per_group": m, "trials_per_pair": t, "deff": comp["deff"],
        "power_now": predicted_power(delta, se_now, alpha_per_test=alpha_per_test,
                                     df=max(m - 1, 1)),
        "trials_needed": trials, "images_needed": images,
        "images_needed_unlimited_trials": images_unlimited, "only_more_images": only_images,
        "advice": advice,
    }  # fmt: skip
