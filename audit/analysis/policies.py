"""Argmax versus softer crop policies, per group pair (the paper's "argmax bias").

Input: pairwise-type records with ``a_wins`` (argmax), ``p_a_sample`` (sampling the centre with
P ∝ exp(score/T)), ``p_a_topk`` (mean of the top-k cells) and ``mass_a``/``mass_b`` (softmax
mass). Output: per oriented pair, the share of "a" under each policy, in long form.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from audit.analysis.validation import require_columns
from audit.analysis.win_rates import orient_pairs

POLICIES = {
    "argmax": "argmax (the cropper)",
    "sample": "sampled centre",
    "topk": "top-k mean",
    "mass": "softmax mass share",
}


def compute_policy_rates(
    records: pd.DataFrame, *, group_order: Sequence[str] | None = None
) -> pd.DataFrame:
    """Share of ``group_a`` under each crop policy, per oriented group pair.

    Parameters
    ----------
    records : pandas.DataFrame
        Pairwise-type records with ``outcome``, ``p_a_sample``, ``p_a_topk``, ``mass_a``,
        ``mass_b`` (plus ``group_a``/``group_b`` and ``position_a`` or ``order``).
    group_order : sequence of str, optional
        Pair orientation (default: sorted labels).

    Returns
    -------
    pandas.DataFrame
        Long form: ``group_a``, ``group_b``, ``policy`` (``argmax``/``sample``/``topk``/
        ``mass``), ``policy_label``, ``n`` (rows with a finite value) and ``rate`` (mean share
        of ``group_a``; for ``argmax`` the usual decided win rate). Same-group rows are left out.
    """
    needed = ("group_a", "group_b", "outcome", "p_a_sample", "p_a_topk", "mass_a", "mass_b")
    require_columns(records, needed, table="records")
    oriented = orient_pairs(records, group_order=group_order)
    oriented = oriented[oriented["pair_a"] != oriented["pair_b"]]
    flip = oriented["flipped"].to_numpy()

    def _orient(values: pd.Series) -> np.ndarray:
        v = values.to_numpy(dtype=float)
        return np.where(flip, 1.0 - v, v)

    mass_a = oriented["mass_a"].to_numpy(dtype=float)
    mass_b = oriented["mass_b"].to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(mass_a + mass_b > 0, mass_a / (mass_a + mass_b), np.nan)
    values = pd.DataFrame({
        "group_a": oriented["pair_a"].to_numpy(), "group_b": oriented["pair_b"].to_numpy(),
        "argmax": oriented["pair_a_wins"].to_numpy(dtype=float),
        "sample": _orient(oriented["p_a_sample"]), "topk": _orient(oriented["p_a_topk"]),
        "mass": np.where(flip, 1.0 - share, share),
    })  # fmt: skip
    long = values.melt(["group_a", "group_b"], var_name="policy", value_name="value")
    long = long.dropna(subset=["value"])
    table = (
        long.groupby(["group_a", "group_b", "policy"], sort=False)["value"]
        .agg(n="size", rate="mean")
        .reset_index()
    )
    table["policy"] = pd.Categorical(table["policy"], categories=list(POLICIES), ordered=True)
    table = table.sort_values(["group_a", "group_b", "policy"]).reset_index(drop=True)
    table["policy"] = table["policy"].astype(str)
    table.insert(3, "policy_label", table["policy"].map(POLICIES))
    table["n"] = table["n"].astype(np.int64)
    return table
