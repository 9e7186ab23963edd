"""Aggregate win rates per demographic factor (e.g. black vs white), pooled over group pairs.

Input: a per-pair counts table (``group_a``, ``group_b``, ``wins_a``, ``n``; from
:func:`audit.analysis.win_rates.compute_win_rates` or the authors' counts) and a groups table
(``tables/groups.csv``: ``group`` plus one column per factor). Output: one row per factor and
pair of levels. A group pair is relevant to factor F when its two groups differ in F; each
relevant pair is oriented so that the ``level_a`` group counts as "a". The ``"paper"`` method
instead reproduces the study's arithmetic: it sums only the pairs already keyed ``level_a``
first and drops the others (the study's female-vs-male total used BF-BM, BF-WM and WF-WM only).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import combinations
from typing import Literal

import numpy as np
import pandas as pd

from audit.analysis.inference import Inference, rate_inference
from audit.analysis.validation import require_columns
from audit.analysis.win_rates import CiMethod, Correction, add_rate_statistics, orient_pairs

AggregateMethod = Literal["all_pairs", "paper"]

METHOD_LABELS = {
    "all_pairs": "all relevant pairs, oriented (cropaudit)",
    "paper": "study's arithmetic: level_a-first pairs only (reproduces the published aggregate)",
}
NON_FACTOR_COLUMNS = ("group", "n_images")

_MSG_UNKNOWN_GROUPS = (
    "groups table lacks group(s) {missing} that appear in the win-rate table; "
    "check tables/groups.csv against compare.group_by"
)
_MSG_BAD_LABEL = (
    "group label {label!r} does not split into {k} parts on {sep!r} for factors {factors}"
)
_MSG_METHOD = "aggregate method must be 'all_pairs' or 'paper', got {value!r}"


def groups_from_labels(
    labels: Sequence[str], *, factors: Sequence[str] = ("race", "gender"), sep: str = "_"
) -> pd.DataFrame:
    """Build a groups table from joined labels such as ``"black_female"``.

    Parameters
    ----------
    labels : sequence of str
        Group labels, factor values joined with ``sep`` in ``factors`` order.
    factors : sequence of str
        Factor (column) names.
    sep : str
        Separator used when the labels were joined.

    Returns
    -------
    pandas.DataFrame
        Columns ``group`` and one per factor, one row per distinct label (sorted).

    Examples
    --------
    >>> groups_from_labels(["white_male", "black_female"]).to_dict("records")[0]
    {'group': 'black_female', 'race': 'black', 'gender': 'female'}
    """
    rows = []
    for label in sorted(set(labels)):
        parts = label.split(sep)
        if len(parts) != len(factors):
            raise ValueError(
                _MSG_BAD_LABEL.format(label=label, k=len(factors), sep=sep, factors=list(factors))
            )
        rows.append({"group": label, **dict(zip(factors, parts, strict=True))})
    return pd.DataFrame(rows, columns=["group", *factors])


def compute_aggregates(
    win_rates: pd.DataFrame,
    groups: pd.DataFrame,
    *,
    factors: Sequence[str] | None = None,
    levels: Mapping[str, Sequence[str]] | None = None,
    method: AggregateMethod = "all_pairs",
    alpha: float = 0.05,
    ci_method: CiMethod = "wilson",
    correction: Correction = "holm",
    records: pd.DataFrame | None = None,
    inference: Inference = "dyadic",
    margin: float = 0.05,
    n_boot: int = 1000,
    seed: int = 0,
    group_order: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Pool per-pair counts into one win rate per factor and pair of factor levels.

    Parameters
    ----------
    win_rates : pandas.DataFrame
        Per-pair counts: ``group_a``, ``group_b``, ``wins_a`` (wins of ``group_a``), ``n``.
    groups : pandas.DataFrame
        ``group`` plus one column per factor (``tables/groups.csv``).
    factors : sequence of str, optional
        Factors to aggregate over (default: every column except ``group``/``n_images``).
    levels : mapping of str to sequence of str, optional
        Level order per factor; the first of two levels is ``level_a`` (default: sorted).
    method : {"all_pairs", "paper"}
        ``all_pairs`` pools every relevant pair, flipping pairs keyed ``level_b`` first;
        ``paper`` keeps only pairs keyed ``level_a`` first, as the study did.
    alpha, ci_method, correction
        As in :func:`audit.analysis.win_rates.add_rate_statistics`; the aggregates of one
        call form their own test family.
    records : pandas.DataFrame, optional
        The pairwise records behind ``win_rates``; with them (and image ids) the aggregate's
        interval and test are image-aware (``inference``). Without them the composites are
        treated as independent (``inference == "independent"`` in the table), as for the
        study's counts.
    inference, margin, n_boot, seed
        As in :func:`audit.analysis.win_rates.compute_win_rates`.
    group_order : sequence of str, optional
        The orientation ``win_rates`` was computed with (to match the records to its pairs).

    Returns
    -------
    pandas.DataFrame
        Columns ``factor``, ``group_a`` (= level_a), ``group_b`` (= level_b), ``method``,
        ``method_label``, ``n_pairs``, ``pairs`` (``"a|b"`` joined by ``"; "``, as keyed),
        ``wins_a``, ``n``, the statistics of :func:`add_rate_statistics` and the verdict
        columns (one family per call, named in ``family``).
    """
    from audit.analysis.verdicts import add_verdicts

    if method not in METHOD_LABELS:
        raise ValueError(_MSG_METHOD.format(value=method))
    require_columns(win_rates, ("group_a", "group_b", "wins_a", "n"), table="win_rates")
    require_columns(groups, ("group",), table="groups")
    table = groups.drop_duplicates("group").set_index("group")
    if factors is None:
        factors = [c for c in groups.columns if c not in NON_FACTOR_COLUMNS]
    require_columns(groups, factors, table="groups")
    used = set(win_rates["group_a"]) | set(win_rates["group_b"])
    missing = sorted(used - set(table.index))
    if missing:
        raise ValueError(_MSG_UNKNOWN_GROUPS.format(missing=missing))
    rows, members = [], []
    for factor in factors:
        fa = win_rates["group_a"].map(table[factor]).astype(str)
        fb = win_rates["group_b"].map(table[factor]).astype(str)
        order = list(levels[factor]) if levels and factor in levels else sorted(
            table[factor].astype(str).unique()
        )
        for level_a, level_b in combinations(order, 2):
            keyed_a = ((fa == level_a) & (fb == level_b)).to_numpy()
            keyed_b = ((fa == level_b) & (fb == level_a)).to_numpy()
            use = keyed_a | keyed_b if method == "all_pairs" else keyed_a
            if not use.any():
                continue
            sub = win_rates[use]
            wins = np.where(keyed_a[use], sub["wins_a"], sub["n"] - sub["wins_a"])
            rows.append({
                "factor": factor, "group_a": level_a, "group_b": level_b, "method": method,
                "method_label": METHOD_LABELS[method], "n_pairs": int(use.sum()),
                "pairs": "; ".join(f"{a}|{b}" for a, b in zip(sub["group_a"], sub["group_b"],
                                                              strict=True)),
                "wins_a": int(wins.sum()), "n": int(sub["n"].sum()),
            })  # fmt: skip
            members.append({(a, b): bool(k) for a, b, k in zip(
                sub["group_a"], sub["group_b"], keyed_a[use], strict=True)})
    columns = ["factor", "group_a", "group_b", "method", "method_label", "n_pairs", "pairs",
               "wins_a", "n"]  # fmt: skip
    out = pd.DataFrame(rows, columns=columns)
    stats = None
    if records is not None and inference != "independent" and len(out):
        stats = _aggregate_inference(records, members, inference=inference, n_boot=n_boot,
                                     seed=seed, alpha=alpha, group_order=group_order)
    out = add_rate_statistics(out, alpha=alpha, ci_method=ci_method, correction=correction,
                              se=None if stats is None else stats["se"],
                              df=None if stats is None else stats["df"])
    if stats is not None and inference == "bootstrap":
        out["ci_low"], out["ci_high"], out["ci_method"] = (stats["ci_low"], stats["ci_high"],
                                                           "percentile")
    out["inference"] = inference if stats is not None else "independent"
    out["deff"] = out["n"] * out["se"] ** 2 / (out["rate"] * (1 - out["rate"]))
    family = f"aggregates ({method}): {len(out)} factor contrasts ({correction})"
    return add_verdicts(out, margin=margin, alpha=alpha, correction=correction, family=family)


def _aggregate_inference(records: pd.DataFrame, members: list[dict[tuple[str, str], bool]], *,
                         inference: Inference, n_boot: int, seed: int, alpha: float,
                         group_order: Sequence[str] | None) -> dict[str, np.ndarray]:
    """Image-aware SE of each aggregate: its member pairs' composites, oriented to level_a."""
    oriented = orient_pairs(records, group_order=group_order)
    decided = oriented[oriented["pair_a_wins"].notna()
                       & (oriented["pair_a"] != oriented["pair_b"])]
    codes, uniques = pd.factorize(pd.MultiIndex.from_arrays(
        [decided["pair_a"].astype(str), decided["pair_b"].astype(str)]))
    lookup = {key: i for i, key in enumerate(uniques)}
    wins = decided["pair_a_wins"].to_numpy(dtype=float)
    parts = []
    for unit, keyed in enumerate(members):
        level_first = np.zeros(len(uniques), dtype=bool)
        member = np.zeros(len(uniques), dtype=bool)
        for pair, first in keyed.items():
            if pair in lookup:
                member[lookup[pair]], level_first[lookup[pair]] = True, first
        keep = member[codes]
        sub = decided[keep]
        y = np.where(level_first[codes[keep]], wins[keep], 1 - wins[keep])
        parts.append(pd.DataFrame({"y": y, "image_a": sub["image_a"].astype(str).to_numpy(),
                                   "image_b": sub["image_b"].astype(str).to_numpy(),
                                   "group_a": sub["group_a"].astype(str).to_numpy(),
                                   "group_b": sub["group_b"].astype(str).to_numpy(),
                                   "unit": unit}))
    stacked = pd.concat(parts, ignore_index=True)
    return rate_inference(stacked["y"], stacked["image_a"], stacked["image_b"],
                          unit=stacked["unit"], n_units=len(members), inference=inference,
                          group_a=stacked["group_a"], group_b=stacked["group_b"],
                          n_boot=n_boot, seed=seed, alpha=alpha)


def group_code(label: str, *, sep: str = "_") -> str:
    """Short code of a group label: the upper-cased initial of each part.

    Examples
    --------
    >>> group_code("black_female"), group_code("white")
    ('BF', 'W')
    """
    return "".join(part[:1].upper() for part in label.split(sep))


def pair_labels(group_a: Sequence[str], group_b: Sequence[str], *, sep: str = "_") -> list[str]:
    """Labels ``"BF↔WF"`` for pairs; full labels when the short codes would collide.

    Examples
    --------
    >>> pair_labels(["black_female"], ["white_female"])
    ['BF↔WF']
    """
    names = sorted(set(group_a) | set(group_b))
    codes = {g: group_code(g, sep=sep) for g in names}
    if len(set(codes.values())) < len(codes):
        codes = {g: g for g in names}
    return [f"{codes[a]}↔{codes[b]}" for a, b in zip(group_a, group_b, strict=True)]


def assign_panels(win_rates: pd.DataFrame, groups: pd.DataFrame) -> list[str]:
    """Panel name per pair: the one factor the two groups differ in (title case), else ``Cross``.

    Parameters
    ----------
    win_rates : pandas.DataFrame
        Needs ``group_a`` and ``group_b``.
    groups : pandas.DataFrame
        ``group`` plus one column per factor.

    Returns
    -------
    list of str
        For example ``"Race"``, ``"Gender"`` or ``"Cross"`` (differ in several factors).
    """
    table = groups.drop_duplicates("group").set_index("group")
    factors = [c for c in table.columns if c not in NON_FACTOR_COLUMNS]
    panels = []
    for a, b in zip(win_rates["group_a"], win_rates["group_b"], strict=True):
        differ = [f for f in factors if table.at[a, f] != table.at[b, f]]
        panels.append(differ[0].replace("_", " ").title() if len(differ) == 1 else "Cross")
    return panels
