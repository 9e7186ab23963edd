"""Position effect of the cropper: how often the first (left/top) slot wins.

Two sources, reported side by side with the group effects: the same-group ``baseline`` design
(two images of one group, so any departure from 0.5 is position) and the counterbalanced
pairwise records (each trial run in both orders). The two orders of a trial show the same two
images, so they are negatively correlated in "first slot won" (the stronger image wins once
first, once second): treating them as independent makes the test far too conservative. The
baseline and marginal rows therefore use the image-aware (dyadic) variance, which pairs them.

A trial whose two orders disagree about the winning *image* is informative about position: if
the first slot won both times, position beat the images. Among such discordant trials the share
π "first slot won both" is the conditional-logit (McNemar) estimate of ``exp(2γ)`` odds, with
γ the first-slot log-odds between two otherwise equal images. It is reported on the scale of the
other rows: ``rate_first = expit(logit(π) / 2)`` and ``odds_ratio = exp(γ) = sqrt(π / (1 - π))``
(exact interval for π, transformed).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import expit, logit
from scipy.stats import t as student_t

from audit.analysis.inference import Inference, rate_inference
from audit.analysis.validation import require_columns
from audit.analysis.win_rates import CiMethod, adjust_p_values, orient_pairs, rate_intervals
from audit.analysis.win_rates import binomial_p_values as _binom_p

POSITION_COLUMNS = (
    "source", "scope", "n", "wins_first", "rate_first", "delta", "ci_low", "ci_high",
    "ci_method", "p_value", "odds_ratio", "or_low", "or_high", "note", "se", "inference",
    "p_adjusted", "p_tost", "p_tost_adjusted", "family", "margin", "verdict", "favoured",
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
         note: str, se: float | None = None, df: float | None = None) -> dict:  # fmt: skip
    rate = wins / n if n else np.nan
    if se is None:
        low, high = rate_intervals([wins], [n], alpha=alpha, ci_method=ci_method)
        p_value = float(_binom_p([wins], [n])[0])
        se_out, inference = np.sqrt(rate * (1 - rate) / n) if n else np.nan, "independent"
    else:
        q = student_t.ppf(1 - alpha / 2, df if df and df >= 1 else np.inf)
        low, high = np.clip([rate - q * se], 0, 1), np.clip([rate + q * se], 0, 1)
        stat = (rate - 0.5) / se if se > 0 else np.nan
        p_value = float(2 * student_t.sf(abs(stat), df if df and df >= 1 else np.inf))
        se_out, inference, ci_method = se, "dyadic", "wald"
    with np.errstate(divide="ignore", invalid="ignore"):
        odds = np.array([rate, low[0], high[0]]) / (1 - np.array([rate, low[0], high[0]]))
    return {
        "source": source, "scope": scope, "n": int(n), "wins_first": int(wins),
        "rate_first": rate, "delta": rate - 0.5, "ci_low": low[0], "ci_high": high[0],
        "ci_method": ci_method, "p_value": p_value,
        "odds_ratio": odds[0], "or_low": odds[1], "or_high": odds[2], "note": note,
        "se": se_out, "inference": inference,
    }  # fmt: skip


def _dyadic(decided: pd.DataFrame, inference: Inference) -> tuple[float | None, float | None]:
    """Image-aware SE and df of the share "first slot won" (pairs the two orders)."""
    if inference == "independent" or not {"image_a", "image_b"} <= set(decided.columns):
        return None, None
    stats = rate_inference(decided["first_won"].to_numpy(dtype=float), decided["image_a"],
                           decided["image_b"], inference="dyadic")
    return float(stats["se"][0]), float(stats["df"][0])


def finish_position_table(rows: list[dict], *, alpha: float, margin: float,
                          correction: str = "holm") -> pd.DataFrame:
    """Position rows as one family: adjusted p-values and the verdict vocabulary."""
    from audit.analysis.verdicts import add_verdicts

    table = pd.DataFrame(rows, columns=[c for c in POSITION_COLUMNS
                                        if c not in ("p_adjusted", "p_tost", "p_tost_adjusted",
                                                     "family", "margin", "verdict",
                                                     "favoured")])
    if table.empty:
        return pd.DataFrame(columns=list(POSITION_COLUMNS))
    table["p_adjusted"], _ = adjust_p_values(table["p_value"], method=correction, alpha=alpha)
    table = add_verdicts(table.assign(_first="first slot", _second="second slot"),
                         margin=margin, alpha=alpha, correction=correction,
                         family=f"position: {len(table)} rows ({correction})",
                         estimate="rate_first", favour=("_first", "_second"))
    return table[list(POSITION_COLUMNS)]


def compute_position_baseline(
    records: pd.DataFrame, *, alpha: float = 0.05, ci_method: CiMethod = "wilson",
    inference: Inference = "dyadic", margin: float = 0.05,
) -> pd.DataFrame:
    """Share of same-group comparisons won by the first (left/top) slot, per group and overall.

    Parameters
    ----------
    records : pandas.DataFrame
        Pairwise-type records; only rows with ``group_a == group_b`` (the ``baseline`` design)
        are used.
    alpha, ci_method
        Interval settings (see :func:`audit.analysis.win_rates.rate_intervals`).
    inference : {"dyadic", "bootstrap", "independent"}
        ``dyadic``/``bootstrap``: image-aware SE that pairs the two orders of each trial (needs
        ``image_a``/``image_b``; bootstrap falls back to dyadic here); ``independent``: exact
        test treating composites as independent (very conservative with both orders).
    margin : float
        Equivalence margin of the verdicts.

    Returns
    -------
    pandas.DataFrame
        Columns ``POSITION_COLUMNS`` with ``source == "baseline"``; ``scope`` is the group, and
        ``"all"`` for the pooled row (last). ``odds_ratio`` = rate_first / (1 - rate_first).
        Empty if there are no baseline rows.
    """
    require_columns(records, ("group_a", "group_b", "outcome"), table="records")
    same = records[records["group_a"].astype(str) == records["group_b"].astype(str)]
    rows = []
    if not same.empty:
        decided = _first_won(same)
        note = "same-group pairs: any departure from 0.5 is position"
        for group, sub in decided.groupby("pair_a", sort=True):
            se, df = _dyadic(sub, inference)
            rows.append(_row("baseline", str(group), len(sub), int(sub["first_won"].sum()),
                             alpha=alpha, ci_method=ci_method, note=note, se=se, df=df))
        if rows:
            se, df = _dyadic(decided, inference)
            rows.append(_row("baseline", "all", len(decided), int(decided["first_won"].sum()),
                             alpha=alpha, ci_method=ci_method, note=note, se=se, df=df))
    return finish_position_table(rows, alpha=alpha, margin=margin)


def compute_position_effect(
    records: pd.DataFrame, *, alpha: float = 0.05, ci_method: CiMethod = "wilson",
    inference: Inference = "dyadic", margin: float = 0.05,
) -> pd.DataFrame:
    """Position effect estimated from counterbalanced pairwise records (different groups).

    Two rows:

    - ``counterbalanced_marginal``: share of all decided composites won by the first slot.
      Groups cancel because every trial is run in both orders; on the same scale as the group
      win rates, with the image-aware SE (``inference``) that pairs the two orders.
    - ``counterbalanced_paired``: trials with both orders decided; among the discordant ones
      (the orders disagree on the winning image) the share π where the first slot won both
      times, the conditional-logit / McNemar estimate of ``exp(2γ)``. Reported on the
      first-slot scale: ``rate_first = expit(logit(π)/2)``, ``odds_ratio = exp(γ)``; exact test
      of π = 0.5 and the exact interval, transformed.

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
    se, df = _dyadic(decided, inference)
    rows.append(_row(
        "counterbalanced_marginal", "all", len(decided), int(decided["first_won"].sum()),
        alpha=alpha, ci_method=ci_method, se=se, df=df,
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
    rows.append(_paired_row(n_first, n_second, alpha=alpha, ci_method=ci_method, note=(
        f"{len(paired)} trials with both orders decided; {n_first + n_second} discordant "
        "(position decided the winner); conditional-logit/McNemar estimate of exp(2γ), shown "
        "as the first-slot rate expit(γ) and odds exp(γ)")))
    return finish_position_table(rows, alpha=alpha, margin=margin)


def _paired_row(n_first: int, n_second: int, *, alpha: float, ci_method: CiMethod,
                note: str) -> dict:
    """McNemar row on the first-slot scale: π = n_first / n -> expit(logit(π) / 2)."""
    n = n_first + n_second
    row = _row("counterbalanced_paired", "all", n, n_first, alpha=alpha, ci_method=ci_method,
               note=note)
    low, high = rate_intervals([n_first], [n], alpha=alpha, ci_method="beta")
    pis = np.array([n_first / n if n else np.nan, low[0], high[0]])
    with np.errstate(divide="ignore", invalid="ignore"):
        gamma = logit(pis) / 2
        odds = np.exp(gamma)  # exp(γ)
        rates = expit(gamma)  # expit(γ)
    se_pi = np.sqrt(pis[0] * (1 - pis[0]) / n) if n else np.nan
    with np.errstate(divide="ignore", invalid="ignore"):
        # delta method: d expit(logit(π)/2) / dπ = r (1 - r) / (2 π (1 - π))
        se = rates[0] * (1 - rates[0]) / (2 * pis[0] * (1 - pis[0])) * se_pi
    row.update(rate_first=rates[0], delta=rates[0] - 0.5, ci_low=rates[1], ci_high=rates[2],
               ci_method="beta (transformed)", odds_ratio=odds[0], or_low=odds[1],
               or_high=odds[2], se=se, inference="conditional (paired orders)")
    return row
