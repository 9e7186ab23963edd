"""Win shares when k groups share one composite (``all_groups``, ``counterfactual_kway``).

Input: k-way records (``groups``, ``outcome``, ``winner_group``, ``winner_slot``, ``k``). Output:
per group, the share of decided composites it won, with an interval and an exact test against
parity 1/k; and per slot (position), the same, since groups are permuted over slots per trial.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from audit.analysis.validation import require_columns
from audit.analysis.win_rates import CiMethod, Correction, adjust_p_values, rate_intervals
from audit.analysis.win_rates import binomial_p_values as _binom_p

KWAY_COLUMNS = (
    "by", "level", "n", "wins", "share", "parity", "delta", "ci_low", "ci_high", "ci_method",
    "p_value", "p_adjusted", "correction", "n_background", "n_error", "se", "inference",
    "p_tost", "p_tost_adjusted", "family", "margin", "verdict", "favoured",
)  # fmt: skip

_MSG_MIXED_K = "k-way records mix several k values {ks}; analyse one design at a time"


def compute_kway_shares(
    records: pd.DataFrame,
    *,
    alpha: float = 0.05,
    ci_method: CiMethod = "wilson",
    correction: Correction = "holm",
    margin: float = 0.05,
) -> pd.DataFrame:
    """Win share per group (``by == "group"``) and per slot (``by == "slot"``) against 1/k.

    Parameters
    ----------
    records : pandas.DataFrame
        k-way records, one row per composite; all rows must have the same ``k`` and each
        composite holds every group once.
    alpha, ci_method, correction
        Interval, test level and correction (the groups form one family, the slots another).

    Returns
    -------
    pandas.DataFrame
        Columns ``KWAY_COLUMNS``; ``n`` counts decided composites (outcome ``win``), ``parity``
        is 1/k and ``delta = share - parity``; background and error composites are counted in
        ``n_background``/``n_error``, not in ``n``. Verdicts (``margin`` around 1/k) per family
        (groups, slots). Inference is ``independent`` (composites as independent, conditional
        on these images): k-way records are not yet given an image-aware variance.
    """
    from audit.analysis.verdicts import add_verdicts

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
    parts = []
    by_group = decided["winner_group"].astype(str).value_counts()
    by_slot = decided["winner_slot"].astype("Int64").value_counts()
    for by, names, counts in (
        ("group", levels, [int(by_group.get(g, 0)) for g in levels]),
        ("slot", [str(s) for s in range(k)], [int(by_slot.get(s, 0)) for s in range(k)]),
    ):
        wins = np.asarray(counts)
        low, high = rate_intervals(wins, np.full(len(wins), n), alpha=alpha, ci_method=ci_method)
        p = _binom_p(wins, np.full(len(wins), n), p0=1.0 / k) if n else np.full(len(wins), np.nan)
        adjusted, _ = adjust_p_values(p, method=correction, alpha=alpha)
        share = wins / n if n else np.full(len(wins), np.nan)
        part = pd.DataFrame({
            "by": by, "level": names, "n": n, "wins": wins, "share": share, "parity": 1.0 / k,
            "delta": share - 1.0 / k, "ci_low": low, "ci_high": high, "ci_method": ci_method,
            "p_value": p, "p_adjusted": adjusted, "correction": correction,
            "n_background": n_bg, "n_error": n_err,
            "se": np.sqrt(share * (1 - share) / n) if n else np.nan, "inference": "independent",
        })  # fmt: skip
        parts.append(add_verdicts(part, margin=margin, alpha=alpha, correction=correction,
                                  family=f"kway_shares by {by}: {len(part)} ({correction})",
                                  estimate="share", null=1.0 / k, favour=None))
    return pd.concat(parts, ignore_index=True)[list(KWAY_COLUMNS)]
