"""The study's attribution rule beside cropaudit's, with the same statistics on both.

Records carry two outcomes (:mod:`audit.compare.records`): ``outcome`` (the image whose box
holds the salient point; the canvas fill is ``background``) and ``outcome_study`` (the image
whose column holds it, as Twitter's ``locate_which_img`` decided). :func:`study_vs_cropaudit`
runs :func:`~audit.analysis.win_rates.compute_win_rates` once per rule and puts the rates side
by side, so a reader sees what the study's rule did and what the corrected rule gives;
:func:`study_vs_cropaudit_kway` does the same with
:func:`~audit.analysis.kway.compute_kway_shares`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import pandas as pd

from audit.analysis.kway import compute_kway_shares
from audit.analysis.win_rates import compute_win_rates

#: Rules compared, as column suffixes.
RULES = ("cropaudit", "study")
#: Per-rule columns of :func:`study_vs_cropaudit` (each appears as ``<col>_<rule>``).
PAIR_FIELDS = ("n", "wins_a", "rate", "ci_low", "ci_high", "p_adjusted", "n_background")
#: Per-rule columns of :func:`study_vs_cropaudit_kway`.
KWAY_FIELDS = ("n", "wins", "share", "ci_low", "ci_high", "p_adjusted", "n_background")


def _pair(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a <= b else (b, a)


def study_records(records: pd.DataFrame) -> pd.DataFrame:
    """Pairwise records with ``outcome`` replaced by the study's ``outcome_study``.

    Examples
    --------
    >>> recs = pd.DataFrame({"outcome": ["background"], "outcome_study": ["a"]})
    >>> study_records(recs)["outcome"].tolist()
    ['a']
    """
    if "outcome_study" not in records.columns:
        raise KeyError("records have no outcome_study column (written by cropaudit >= the "
                       "study-attribution change); rerun the comparison to get it")
    out = records.assign(outcome=records["outcome_study"])
    if "a_wins" in out.columns:
        out["a_wins"] = out["outcome"].map({"a": 1, "b": 0}).astype("Int8")
    return out


def study_vs_cropaudit(
    records: pd.DataFrame, *, group_order: Sequence[str] | None = None, alpha: float = 0.05,
    ci_method: str = "wilson", correction: str = "holm",
) -> pd.DataFrame:
    """Win rates under cropaudit's rule and under the study's, one row per group pair.

    Parameters
    ----------
    records : DataFrame
        Pairwise records with ``outcome`` and ``outcome_study`` (baseline rows are left out
        by :func:`compute_win_rates` itself).
    group_order, alpha, ci_method, correction
        Passed to :func:`compute_win_rates` for both rules.

    Returns
    -------
    DataFrame
        ``group_a, group_b``, then ``<field>_cropaudit`` and ``<field>_study`` for each field of
        :data:`PAIR_FIELDS`, then ``rate_diff = rate_study - rate_cropaudit`` and
        ``n_moved`` (decided trials whose winner or decidedness differs between the rules).
    """
    stats = {"group_order": group_order, "alpha": alpha, "ci_method": ci_method,
             "correction": correction}
    keys = ["group_a", "group_b"]
    tables = {"cropaudit": compute_win_rates(records, **stats),
              "study": compute_win_rates(study_records(records), **stats)}
    merged = None
    for rule, table in tables.items():
        part = table[keys + list(PAIR_FIELDS)].rename(
            columns={f: f"{f}_{rule}" for f in PAIR_FIELDS})
        merged = part if merged is None else merged.merge(part, on=keys, how="outer")
    merged["rate_diff"] = merged["rate_study"] - merged["rate_cropaudit"]
    moved = records[(records["outcome"] != records["outcome_study"])
                    & (records["group_a"] != records["group_b"])]
    moved_n = Counter(_pair(a, b) for a, b in zip(moved["group_a"], moved["group_b"],
                                                  strict=True))
    merged["n_moved"] = [moved_n[_pair(a, b)] for a, b in zip(
        merged["group_a"], merged["group_b"], strict=True)]
    return merged.reset_index(drop=True)


def study_vs_cropaudit_kway(records: pd.DataFrame, **stats: object) -> pd.DataFrame:
    """Per-group shares of k-way records under cropaudit's rule and under the study's.

    Parameters
    ----------
    records : DataFrame
        k-way records with ``outcome_study`` and ``winner_group_study``.
    **stats
        ``alpha``, ``ci_method``, ``correction`` for :func:`compute_kway_shares`.

    Returns
    -------
    DataFrame
        ``by, level``, then ``<field>_cropaudit`` and ``<field>_study`` for each field of
        :data:`KWAY_FIELDS`, and ``share_diff``.
    """
    slots = [list(g).index(w) if isinstance(w, str) else None
             for g, w in zip(records["groups"], records["winner_group_study"], strict=True)]
    study = records.assign(outcome=records["outcome_study"],
                           winner_group=records["winner_group_study"],
                           winner_slot=pd.array(slots, dtype="Int64"))
    keys = ["by", "level"]
    merged = None
    for rule, recs in (("cropaudit", records), ("study", study)):
        part = compute_kway_shares(recs, **stats)[keys + list(KWAY_FIELDS)].rename(
            columns={f: f"{f}_{rule}" for f in KWAY_FIELDS})
        merged = part if merged is None else merged.merge(part, on=keys, how="outer")
    merged["share_diff"] = merged["share_study"] - merged["share_cropaudit"]
    return merged
