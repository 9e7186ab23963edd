"""Verdicts with an equivalence margin (docs/statistics.md §5): disparity, parity, inconclusive.

For an estimate ``r`` of a rate with parity value ``r0`` (0.5 for a pair, 1/k for a k-way
share), standard error ``se`` and margin ``δ``:

- ``disparity``: the test of ``r == r0`` rejects after the family's correction (the corrected
  interval excludes ``r0``);
- ``parity``: both one-sided tests (TOST) reject ``|r - r0| >= δ`` after the same correction,
  i.e. the corrected interval lies inside ``[r0 - δ, r0 + δ]``;
- ``inconclusive``: neither.

The TOST p-value is the larger of the two one-sided p-values. ``favoured`` names the group the
estimate favours when the verdict is ``disparity`` (else ``None``).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.stats import norm

VERDICTS = ("disparity", "parity", "inconclusive")


def tost_p_values(estimate: npt.ArrayLike, se: npt.ArrayLike, *, margin: float,
                  null: npt.ArrayLike = 0.5) -> npt.NDArray[np.float64]:
    """Two one-sided z-tests of ``|estimate - null| >= margin``; NaN where ``se`` is unusable.

    Examples
    --------
    >>> round(float(tost_p_values([0.5], [0.01], margin=0.05)[0]), 6)
    0.0
    >>> round(float(tost_p_values([0.55], [0.01], margin=0.05)[0]), 3)
    0.5
    """
    est = np.asarray(estimate, dtype=float)
    sev = np.asarray(se, dtype=float)
    r0 = np.asarray(null, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        p_low = norm.sf((est - (r0 - margin)) / sev)
        p_high = norm.cdf((est - (r0 + margin)) / sev)
    p = np.maximum(p_low, p_high)
    return np.where(np.isfinite(sev) & (sev > 0), p, np.nan)


def add_verdicts(
    table: pd.DataFrame,
    *,
    margin: float = 0.05,
    alpha: float = 0.05,
    correction: str = "holm",
    family: str,
    estimate: str = "rate",
    null: float | npt.ArrayLike = 0.5,
    favour: tuple[str, str] | None = ("group_a", "group_b"),
) -> pd.DataFrame:
    """Add ``p_tost``, ``p_tost_adjusted``, ``margin``, ``family``, ``verdict``, ``favoured``.

    Parameters
    ----------
    table : pandas.DataFrame
        Needs ``estimate``, ``se`` and ``p_adjusted`` (the corrected test of ``null``); one row
        per member of the family.
    margin : float
        Equivalence margin on the rate scale.
    alpha : float
        Level of both the disparity and the equivalence tests.
    correction : {"holm", "fdr_bh"}
        Applied to the TOST p-values over the same family.
    family : str
        Name of the multiplicity family, written to every row.
    estimate : str
        Column of the estimate.
    null : float or array
        Parity value per row.
    favour : (str, str) or None
        Columns naming the group above / below parity (``None``: use the ``level`` column
        when above parity, for k-way shares).

    Returns
    -------
    pandas.DataFrame
        A copy with the added columns.
    """
    from audit.analysis.win_rates import adjust_p_values

    out = table.copy()
    est = out[estimate].to_numpy(dtype=float)
    r0 = np.broadcast_to(np.asarray(null, dtype=float), est.shape)
    out["p_tost"] = tost_p_values(est, out["se"].to_numpy(dtype=float), margin=margin, null=r0)
    out["p_tost_adjusted"], _ = adjust_p_values(out["p_tost"], method=correction, alpha=alpha)
    out["margin"] = float(margin)
    out["family"] = family
    disparity = out["p_adjusted"].to_numpy(dtype=float) < alpha
    parity = out["p_tost_adjusted"].to_numpy(dtype=float) < alpha
    out["verdict"] = np.where(disparity, "disparity", np.where(parity, "parity", "inconclusive"))
    if favour is None:
        fav = np.where(est > r0, out["level"].astype(str), None)
    else:
        fav = np.where(est > r0, out[favour[0]].astype(str), out[favour[1]].astype(str))
    out["favoured"] = pd.Series(np.where(disparity, fav, None), index=out.index, dtype=object)
    return out
