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


def power_table(
    deltas: Sequence[float],
    k: int = 1,
    alpha: float = 0.05,
    power: float = 0.8,
) -> pd.DataFrame:
    """Trials per pair for several Δ, by exact search and by the normal approximation.

    Returns
    -------
    pandas.DataFrame
        Columns ``delta``, ``k``, ``alpha``, ``alpha_per_test`` (alpha / k), ``power``,
        ``n_exact``, ``n_normal``, ``total_exact`` (n_exact * k).
    """
    rows = []
    for delta in deltas:
        n_exact = trials_needed(delta, k=k, alpha=alpha, power=power, method="exact")
        rows.append({
            "delta": float(delta), "k": int(k), "alpha": alpha, "alpha_per_test": alpha / k,
            "power": power, "n_exact": n_exact,
            "n_normal": trials_needed(delta, k=k, alpha=alpha, power=power, method="normal"),
            "total_exact": n_exact * k,
        })  # fmt: skip
    return pd.DataFrame(rows)
