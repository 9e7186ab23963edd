"""Position effect of the cropper: how often the first (left/top) slot wins.

Two sources, reported side by side with the group effects: the same-group ``baseline`` design
(two images of one group, so any departure from 0.5 is position) and the counterbalanced
pairwise records (each trial run in both orders). For the latter, a trial whose two orders
disagree about the winning *image* is informative about position: if the first slot won both
times, position beat the images. Among such discordant trials the share "first slot won both"
is the conditional-logit (McNemar) estimate; its exact binomial test and interval are exact.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from audit.analysis.validation import require_columns
from audit.analysis.win_rates import CiMethod, orient_pairs, rate_intervals
from audit.analysis.win_rates import binomial_p_values as _binom_p

POSITION_COLUMNS = (
    "source", "scope", "n", "wins_first", "rate_first", "delta", "ci_low", "ci_high",
    "ci_method", "p_value", "odds_ratio", "or_low", "or_high", "note",
)  # fmt: skip

_MSG_PAIRING = (
    "records need columns 'trial', 'image_a', 'image_b' to pair the two orders of a trial"
)


def _first_won(records: pd.DataFrame) -> pd.DataFrame:
    """Decided rows with ``first_won`` (the first-slot image won) and the winning image id."""
    oriented = orient_pairs(records)
    decided = oriented[oriented["outcome"].astype(str).isin(["a", "b"])].copy()
    a_won = (decided["outcome"].astype(str) == "a").to_numpy()
    decided["first_won"] = a_won == decided["a_first"].to_numpy()
    if {"image_a", "image_b"} <= set(decided.columns):
        decided["winner"] = np.where(a_won, decided["image_a"], decided["image_b"])
    return decided


def _row(source: str, scope: str, n: int, wins: int, *, alpha: float, ci_method: CiMethod,
         note: str) -> dict:  # fmt: skip
    low, high = rate_intervals([wins], [n], alpha=alpha, ci_method=ci_method)
    rate = wins / n if n else np.nan
    with np.errstate(divide="ignore", invalid="ignore"):
        odds = np.array([rate, low[0], high[0]]) / (1 - np.array([rate, low[0], high[0]]))
    return {
        "source": source, "scope": scope, "n": int(n), "wins_first": int(wins),
        "rate_first": rate, "delta": rate - 0.5, "ci_low": low[0], "ci_high": high[0],
        "ci_method": ci_method, "p_value": float(_binom_p([wins], [n])[0]),
        "odds_ratio": odds[0], "or_low": odds[1], "or_high": odds[2], "note": note,
    }  # fmt: skip


def compute_position_baseline(
    records: pd.DataFrame, *, alpha: float = 0.05, ci_method: CiMethod = "wilson"
) -> pd.DataFrame:
    """Share of same-group comparisons won by the first (left/top) slot, per group and overall.

    Parameters
    ----------
    records : pandas.DataFrame
        Pairwise-type records; only rows with ``group_a == group_b`` (the ``baseline`` design)
        are used.
    alpha, ci_method
        Interval settings (see :func:`audit.analysis.win_rates.rate_intervals`).

    Returns
    -------
    pandas.DataFrame
        Columns ``POSITION_COLUMNS`` with ``source == "baseline"``; ``scope`` is the group, and
        ``"all"`` for the pooled row (last). ``p_value`` is the exact two-sided test vs 0.5;
        ``odds_ratio`` = rate_first / (1 - rate_first). Empty if there are no baseline rows.
    """
    require_columns(records, ("group_a", "group_b", "outcome"), table="records")
    same = records[records["group_a"].astype(str) == records["group_b"].astype(str)]
    rows = []
    if not same.empty:
        decided = _first_won(same)
        note = "same-group pairs: any departure from 0.5 is position"
        for group, sub in decided.groupby("pair_a", sort=True):
            rows.append(_row("baseline", str(group), len(sub), int(sub["first_won"].sum()),
                             alpha=alpha, ci_method=ci_method, note=note))  # fmt: skip
        if rows:
            rows.append(_row("baseline", "all", len(decided), int(decided["first_won"].sum()),
                             alpha=alpha, ci_method=ci_method, note=note))  # fmt: skip
    return pd.DataFrame(rows, columns=list(POSITION_COLUMNS))


def compute_position_effect(
    records: pd.DataFrame, *, alpha: float = 0.05, ci_method: CiMethod = "wilson"
) -> pd.DataFrame:
    """Position effect estimated from counterbalanced pairwise records (different groups).

    Two rows:

    - ``counterbalanced_marginal``: share of all decided composites won by the first slot.
      Groups cancel because every trial is run in both orders; on the same scale as the group
      win rates (its test ignores the pairing of the two orders, so treat it as descriptive).
    - ``counterbalanced_paired``: trials with both orders decided; among those whose orders
      disagree on the winning image, the share where the first slot won both times. This is the
      conditional-logit / McNemar estimate: ``odds_ratio`` is the odds that the first slot wins
      between two otherwise exchangeable images, with an exact test and an exact-based interval.

    Parameters
    ----------
    records : pandas.DataFrame
        Pairwise-type records with ``trial``, ``image_a``, ``image_b``, ``position_a`` (or
        ``order``), ``group_a``, ``group_b``, ``outcome``.
    alpha, ci_method
        Interval settings.

    Returns
    -------
    pandas.DataFrame
        Columns ``POSITION_COLUMNS``; empty if there are no cross-group decided rows.
    """
    require_columns(records, ("group_a", "group_b", "outcome"), table="records")
    cross = records[records["group_a"].astype(str) != records["group_b"].astype(str)]
    rows = []
    if cross.empty:
        return pd.DataFrame(rows, columns=list(POSITION_COLUMNS))
    decided = _first_won(cross)
    if decided.empty:
        return pd.DataFrame(rows, columns=list(POSITION_COLUMNS))
    rows.append(_row(
        "counterbalanced_marginal", "all", len(decided), int(decided["first_won"].sum()),
        alpha=alpha, ci_method=ci_method,
        note="all decided composites; groups cancel across the two orders",
    ))  # fmt: skip
    if not {"trial", "winner"} <= set(decided.columns):
        raise ValueError(_MSG_PAIRING)
    keys = ["design", "trial"] if "design" in decided.columns else ["trial"]
    per_trial = decided.groupby(keys).agg(
        k=("first_won", "size"), first_both=("first_won", "all"),
        first_none=("first_won", lambda s: not s.any()), n_winners=("winner", "nunique"),
    )  # fmt: skip
    paired = per_trial[per_trial["k"] == 2]
    n_first = int(paired["first_both"].sum())
    n_second = int(paired["first_none"].sum())
    rows.append(_row(
        "counterbalanced_paired", "all", n_first + n_second, n_first, alpha=alpha,
        ci_method=ci_method,
        note=(f"{len(paired)} trials with both orders decided; {n_first + n_second} discordant "
              "(position decided the winner); conditional-logit/McNemar estimate"),
    ))  # fmt: skip
    return pd.DataFrame(rows, columns=list(POSITION_COLUMNS))
