"""Several croppers on the same composites: disparity per cropper and ratio, paired comparisons.

Inputs are the run's ``records`` (argmax outcome, one row per composite and cropper with a
focus point, column ``cropper``) and ``records_crops`` (one row per composite, cropper and
aspect ratio; see :mod:`audit.compare.crop_outcomes`). Outputs are tidy tables:

- :func:`cropper_win_rates`: for each cropper and measure (``crop`` at each aspect ratio,
  ``argmax`` where the cropper has a point) the win-rate table of
  :func:`audit.analysis.win_rates.compute_win_rates` on records-shaped frames. A crop "win" of
  A is a crop that keeps A's head (or the larger share of A) and not B's; ``both`` and
  ``neither`` are left out of the rate like ``background`` and reported as shares.
- :func:`crop_outcome_shares`: shares of ``a``/``b``/``both``/``neither`` and mean kept areas.
- :func:`paired_cropper_differences`: per ratio and group pair, the difference between two
  croppers of the net advantage ``P(only A kept) - P(only B kept)`` on identical composites,
  with an image-aware interval from :mod:`audit.analysis.inference` (``analysis.inference``:
  composites that share an image, in either role, are correlated; ``docs/statistics.md`` §2)
  and a verdict (the croppers differ / parity within ±margin / inconclusive).
- :func:`cropper_summary`: which cropper treats the groups most evenly at each ratio.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.stats import t as student_t

from audit.analysis.inference import (
    Inference,
    check_inference,
    dyadic_mean,
    image_codes,
    pigeonhole_bootstrap,
)
from audit.analysis.validation import require_columns
from audit.analysis.verdicts import add_verdicts
from audit.analysis.win_rates import adjust_p_values, compute_win_rates, orient_pairs

#: How a crop outcome enters a records-shaped frame (``both``/``neither`` are undecided).
CROP_TO_OUTCOME = {"a": "a", "b": "b", "both": "background", "neither": "background",
                   "error": "error"}
_KEYS = ["cropper", "measure", "aspect_ratio"]
_MSG_NO_CROPS = "records_crops is empty: no composite was cropped (check compare.croppers)"


def primary_records(records: pd.DataFrame, croppers: Sequence[str] | None
                    ) -> tuple[pd.DataFrame, str | None]:
    """Return one cropper's records for the single-cropper tables, and a note if others ran.

    The first name of ``compare.croppers`` that has records wins, else the first cropper in
    the records; with one cropper the records are returned unchanged.
    """
    if "cropper" not in records.columns or records["cropper"].nunique(dropna=True) <= 1:
        return records, None
    present = list(dict.fromkeys(records["cropper"].dropna()))
    primary = next((c for c in (croppers or []) if c in present), present[0])
    note = (f"several croppers ran ({', '.join(present)}); the single-cropper tables (win "
            f"rates, position, policies, regression) describe {primary}; the cropper_* tables "
            "compare them all")
    return records[records["cropper"] == primary].reset_index(drop=True), note


def crops_as_records(crops: pd.DataFrame) -> pd.DataFrame:
    """``records_crops`` in the records schema ``compute_win_rates`` reads (``outcome``)."""
    require_columns(crops, ("cropper", "aspect_ratio", "group_a", "group_b", "image_a",
                            "image_b", "position_a", "crop_outcome"), table="records_crops")
    return crops.assign(outcome=crops["crop_outcome"].map(CROP_TO_OUTCOME).fillna("error"))


def _measures(records: pd.DataFrame | None, crops: pd.DataFrame | None):
    """Yield ``(cropper, measure, aspect_ratio, records-shaped frame)`` in report order."""
    if crops is not None and not crops.empty:
        frame = crops_as_records(crops)
        frame = frame[frame["group_a"] != frame["group_b"]]
        for (cropper, ratio), part in frame.groupby(["cropper", "aspect_ratio"], sort=False):
            yield cropper, "crop", float(ratio), part
    if records is not None and "cropper" in records.columns:
        pairs = records[records["group_a"] != records["group_b"]]
        for cropper, part in pairs.groupby("cropper", sort=False):
            yield cropper, "argmax", math.nan, part


def cropper_win_rates(records: pd.DataFrame | None, crops: pd.DataFrame | None, *,
                      group_order: Sequence[str] | None = None, **stats) -> pd.DataFrame:
    """Win rates per cropper, measure and aspect ratio (one multiplicity family per row group).

    Parameters
    ----------
    records : pandas.DataFrame or None
        The run's ``records`` (argmax outcomes with a ``cropper`` column), or ``None``.
    crops : pandas.DataFrame or None
        ``records_crops``; ``None`` or empty for argmax outcomes alone (a records table with a
        ``cropper`` column made elsewhere).
    group_order : sequence of str, optional
        Pair orientation.
    **stats
        ``alpha``, ``ci_method``, ``correction`` (and whatever else
        :func:`~audit.analysis.win_rates.compute_win_rates` accepts) passed through.

    Returns
    -------
    pandas.DataFrame
        ``cropper, measure (crop|argmax), aspect_ratio (NaN for argmax)`` followed by the
        columns of ``compute_win_rates``; a measure with no decided composite is left out.
    """
    argmax_only = records is not None and "cropper" in records.columns
    if (crops is None or crops.empty) and not argmax_only:
        raise ValueError(_MSG_NO_CROPS)
    tables = []
    for cropper, measure, ratio, part in _measures(records, crops):
        try:
            table = compute_win_rates(part, group_order=group_order, **stats)
        except ValueError as exc:
            if "no decided comparisons" not in str(exc):
                raise
            continue
        table.insert(0, "aspect_ratio", ratio)
        table.insert(0, "measure", measure)
        table.insert(0, "cropper", cropper)
        tables.append(table)
    if not tables:
        raise ValueError("no cropper kept exactly one of two different groups' images in any "
                         "composite; nothing to compare (see tables/cropper_outcomes)")
    return pd.concat(tables, ignore_index=True)


def undecided_measures(records: pd.DataFrame | None, crops: pd.DataFrame,
                       win_rates: pd.DataFrame) -> pd.DataFrame:
    """``cropper, measure, aspect_ratio`` that never kept exactly one image (no win rate)."""
    have = set(zip(win_rates["cropper"], win_rates["measure"],
                   win_rates["aspect_ratio"].fillna(-1.0), strict=True))
    rows = [{"cropper": c, "measure": m, "aspect_ratio": r}
            for c, m, r, _ in _measures(records, crops)
            if (c, m, -1.0 if math.isnan(r) else r) not in have]
    return pd.DataFrame(rows, columns=_KEYS)


def _oriented(crops: pd.DataFrame, group_order: Sequence[str] | None) -> pd.DataFrame:
    frame = orient_pairs(crops_as_records(crops), group_order=group_order)
    frame = frame[frame["pair_a"] != frame["pair_b"]].copy()
    o = frame["crop_outcome"].astype(str).to_numpy()
    flipped = frame["flipped"].to_numpy()
    frame["only_pair_a"] = np.where(flipped, o == "b", o == "a")
    frame["only_pair_b"] = np.where(flipped, o == "a", o == "b")
    # area of the pair's first group's image, whatever role it had in the record
    frame["area_pair_a"] = np.where(flipped, frame["area_kept_b"], frame["area_kept_a"])
    frame["area_pair_b"] = np.where(flipped, frame["area_kept_a"], frame["area_kept_b"])
    return frame


def crop_outcome_shares(crops: pd.DataFrame, *, group_order: Sequence[str] | None = None
                        ) -> pd.DataFrame:
    """Shares of crop outcomes per cropper, ratio and oriented group pair.

    Returns
    -------
    pandas.DataFrame
        ``cropper, aspect_ratio, group_a, group_b, n_total, n_error, n`` (cropped without
        error), ``share_a_only, share_b_only, share_both, share_neither`` (of ``n``, A being the
        pair's first group), ``mean_area_kept_a, mean_area_kept_b``.
    """
    frame = _oriented(crops, group_order)
    o = frame["crop_outcome"].astype(str)
    frame = frame.assign(_err=o == "error", _ok=o != "error", _both=o == "both",
                         _neither=o == "neither")
    keys = ["cropper", "aspect_ratio", "pair_a", "pair_b"]
    g = frame.groupby(keys, sort=False)
    out = g.agg(n_total=("crop_outcome", "size"), n_error=("_err", "sum"), n=("_ok", "sum"),
                a_only=("only_pair_a", "sum"), b_only=("only_pair_b", "sum"),
                both=("_both", "sum"), neither=("_neither", "sum"),
                mean_area_kept_a=("area_pair_a", "mean"),
                mean_area_kept_b=("area_pair_b", "mean")).reset_index()
    n = out["n"].replace(0, np.nan)
    for col in ("a_only", "b_only", "both", "neither"):
        out[f"share_{col}"] = out.pop(col) / n
    out = out.rename(columns={"pair_a": "group_a", "pair_b": "group_b"})
    cols = ["cropper", "aspect_ratio", "group_a", "group_b", "n_total", "n_error", "n",
            "share_a_only", "share_b_only", "share_both", "share_neither", "mean_area_kept_a",
            "mean_area_kept_b"]
    return out[cols].sort_values(["aspect_ratio", "cropper", "group_a", "group_b"],
                                 kind="stable").reset_index(drop=True)


def mean_inference(values: npt.ArrayLike, image_a: npt.ArrayLike, image_b: npt.ArrayLike,
                   group_a: npt.ArrayLike, group_b: npt.ArrayLike, *,
                   inference: Inference = "dyadic", n_boot: int = 1000, seed: int = 0,
                   alpha: float = 0.05) -> dict[str, float]:
    """Mean of a per-composite value with an image-aware interval (:mod:`audit.analysis.inference`).

    The variance is :func:`~audit.analysis.inference.dyadic_mean`'s (``dyadic``), the
    :func:`~audit.analysis.inference.pigeonhole_bootstrap` over images within their group
    (``bootstrap``: its SD and percentile interval) or the i.i.d. one ``s² / n``
    (``independent``: conditional on these images, for comparison). Image-aware intervals use a
    t reference with (distinct images of the smaller group - 1) degrees of freedom, as the win
    rates do. When every value is the same (e.g. two croppers that never disagree) all scores are
    0; instead of a zero SE it gets the binomial SE of half a discordant image pair,
    ``p(1-p)/D`` with ``p = 0.5 / (D + 1)`` over ``D`` image pairs (the add-one-half floor of
    :func:`~audit.analysis.inference.rate_inference`), so such a table can still show parity.

    Returns
    -------
    dict
        ``n, mean, se, df, ci_low, ci_high, p_value`` (two-sided test of mean 0),
        ``n_images``, ``var_pair`` (the part more trials can shrink).

    Examples
    --------
    Every image used once: the dyadic SE is the i.i.d. one times ``G / (G - 1)``.

    >>> out = mean_inference([1, 0, 1, 0], list("aceg"), list("bdfh"), list("xxxx"),
    ...                      list("yyyy"))
    >>> round(out["se"], 6), out["df"]
    (0.267261, 3.0)
    """
    check_inference(inference)
    x = np.asarray(values, dtype=float)
    n = len(x)
    if n == 0:
        return {"n": 0, "mean": math.nan, "se": math.nan, "df": math.nan, "ci_low": math.nan,
                "ci_high": math.nan, "p_value": math.nan, "n_images": 0, "var_pair": math.nan}
    ca, cb, n_img = image_codes(image_a, image_b)
    dm = dyadic_mean(x, ca, cb)
    mean = float(dm["mean"][0])
    ga = np.asarray(group_a).astype(str)
    gb = np.asarray(group_b).astype(str)
    per_group = pd.Series(np.concatenate([ca, cb])).groupby(np.concatenate([ga, gb])).nunique()
    df = max(float(per_group.min()) - 1.0, 1.0)
    if inference == "independent":
        se = float(x.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan
        df = math.inf
    else:
        se = math.sqrt(float(dm["var"][0]))
    if n > 0 and np.all(x == x[0]):
        dyads = len(set(zip(np.minimum(ca, cb).tolist(), np.maximum(ca, cb).tolist(),
                            strict=True)))
        p_half = 0.5 / (dyads + 1)
        se = math.sqrt(p_half * (1 - p_half) / dyads)
    q = float(student_t.ppf(1 - alpha / 2, df))
    lo, hi = mean - q * se, mean + q * se
    if inference == "bootstrap" and not np.all(x == x[0]):
        image_group = np.zeros(n_img, dtype=np.int64)
        image_group[np.concatenate([ca, cb])] = pd.factorize(np.concatenate([ga, gb]))[0]
        reps = pigeonhole_bootstrap(x, ca, cb, image_group, n_boot=n_boot, seed=seed)[:, 0]
        reps = reps[np.isfinite(reps)]
        if len(reps) > 1:
            se = float(reps.std(ddof=1))
            lo, hi = (float(v) for v in np.quantile(reps, [alpha / 2, 1 - alpha / 2]))
    p = (float(2 * student_t.sf(abs(mean) / se, df)) if np.isfinite(se) and se > 0
         else math.nan)
    return {"n": n, "mean": mean, "se": se, "df": df, "ci_low": lo, "ci_high": hi,
            "p_value": p, "n_images": int(dm["n_images"][0]),
            "var_pair": float(dm["var_pair"][0])}


#: Columns of :func:`paired_cropper_differences`.
PAIRED_COLUMNS = (
    "aspect_ratio", "group_a", "group_b", "cropper_1", "cropper_2", "n", "n_discordant",
    "n_images", "net_1", "net_2", "difference", "se", "df", "ci_low", "ci_high", "p_value",
    "p_adjusted", "correction", "reject", "inference", "p_tost", "p_tost_adjusted", "margin",
    "family", "verdict", "favoured")


def paired_cropper_differences(crops: pd.DataFrame, *, group_order: Sequence[str] | None = None,
                               alpha: float = 0.05, correction: str = "holm",
                               inference: Inference = "dyadic", margin: float = 0.05,
                               n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Differences between croppers on identical composites, per ratio and group pair.

    For each composite let ``d_c = 1[only A kept] - 1[only B kept]`` under cropper ``c`` (A the
    pair's first group). For two croppers the estimate is the mean of ``d_1 - d_2`` over the
    composites both cropped without error, a paired (McNemar-type) difference of net
    advantages, with the image-aware interval of :func:`mean_inference` (``inference``).
    Verdicts as in :mod:`audit.analysis.verdicts` with parity value 0: ``disparity`` = the
    croppers differ (the corrected test of 0 rejects), ``parity`` = the corrected interval lies
    within ``±margin`` (TOST), else ``inconclusive``; ``favoured`` names the cropper whose crops
    favour the pair's first group more when they differ. One Holm/BH family per table, named
    in ``family``.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`PAIRED_COLUMNS`: ``n`` (paired composites), ``n_discordant``
        (composites whose outcomes differ), ``n_images`` (distinct images), ``net_1, net_2,
        difference, se, df, ci_low, ci_high, p_value, p_adjusted, correction, reject,
        inference`` and the verdict columns.
    """
    check_inference(inference)
    frame = _oriented(crops, group_order)
    frame = frame[frame["crop_outcome"] != "error"]
    frame = frame.assign(d=frame["only_pair_a"].astype(float) - frame["only_pair_b"])
    names = list(dict.fromkeys(frame["cropper"]))
    rows = []
    for (ratio, ga, gb), part in frame.groupby(["aspect_ratio", "pair_a", "pair_b"], sort=True):
        # images in the pair's orientation, so the bootstrap resamples each group's own images
        part = part.assign(img_pa=np.where(part["flipped"], part["image_b"], part["image_a"]),
                           img_pb=np.where(part["flipped"], part["image_a"], part["image_b"]))
        wide = part.pivot_table(index=["trial", "order", "img_pa", "img_pb"],
                                columns="cropper", values="d", aggfunc="first")
        outcome = part.pivot_table(index=["trial", "order"], columns="cropper",
                                   values="crop_outcome", aggfunc="first")
        for c1, c2 in itertools.combinations([c for c in names if c in wide.columns], 2):
            both = wide[[c1, c2]].dropna()
            if both.empty:
                continue
            diff = (both[c1] - both[c2]).to_numpy()
            images = both.index.to_frame(index=False)
            stats = mean_inference(diff, images["img_pa"], images["img_pb"],
                                   np.full(len(diff), ga), np.full(len(diff), gb),
                                   inference=inference, n_boot=n_boot, seed=seed, alpha=alpha)
            pair_out = outcome[[c1, c2]].dropna()
            rows.append({
                "aspect_ratio": ratio, "group_a": ga, "group_b": gb, "cropper_1": c1,
                "cropper_2": c2, "n": len(both),
                "n_discordant": int((pair_out[c1] != pair_out[c2]).sum()),
                "n_images": stats["n_images"],
                "net_1": float(both[c1].mean()), "net_2": float(both[c2].mean()),
                "difference": stats["mean"], "se": stats["se"], "df": stats["df"],
                "ci_low": stats["ci_low"], "ci_high": stats["ci_high"],
                "p_value": stats["p_value"]})
    out = pd.DataFrame(rows, columns=list(PAIRED_COLUMNS[:16]))
    adjusted, reject = adjust_p_values(out["p_value"].to_numpy(dtype=float), method=correction,
                                       alpha=alpha)
    out["p_adjusted"], out["correction"], out["reject"] = adjusted, correction, reject
    out["inference"] = inference
    family = (f"cropper_paired: {len(out)} cropper pairs x aspect ratios x group pairs "
              f"({correction})")
    out = add_verdicts(out, margin=margin, alpha=alpha, correction=correction, family=family,
                       estimate="difference", null=0.0, favour=("cropper_1", "cropper_2"))
    return out[list(PAIRED_COLUMNS)]


def cropper_summary(win_rates: pd.DataFrame, shares: pd.DataFrame,
                    undecided: pd.DataFrame | None = None) -> pd.DataFrame:
    """Which cropper treats the groups most evenly, per measure and aspect ratio.

    Returns
    -------
    pandas.DataFrame
        Plain columns: ``measure, aspect_ratio, cropper, n_pairs, n_decided`` (composites
        that kept exactly one image), ``max_abs_delta`` (largest ``|rate - 0.5|`` over group
        pairs), ``worst_pair``, ``mean_abs_delta``, ``n_disparity``, ``n_parity``,
        ``n_inconclusive`` (verdicts; without a ``verdict`` column a rejected pair counts as
        disparity, the others as inconclusive), ``share_both``, ``share_neither``, ``rank``
        (1 = most even at this measure and ratio, by ``max_abs_delta``) and ``most_even``.
        Measures in ``undecided`` (never exactly one image kept) get ``n_decided = 0``, no
        delta and the last ranks: they treat the groups alike only by keeping both or neither.
    """
    wr = win_rates.copy()
    if "verdict" not in wr.columns:
        wr["verdict"] = np.where(wr["reject"].astype(bool), "disparity", "inconclusive")
    wr["_abs"] = wr["delta"].abs()
    rows = []
    for (cropper, measure, ratio), part in wr.groupby(_KEYS, sort=False, dropna=False):
        worst = part.loc[part["_abs"].idxmax()]
        share = shares[(shares["cropper"] == cropper) & (shares["aspect_ratio"] == ratio)]
        weights = share["n"].to_numpy(dtype=float)
        total = weights.sum()
        rows.append({
            "measure": measure, "aspect_ratio": ratio, "cropper": cropper,
            "n_pairs": len(part), "n_decided": int(part["n"].sum()),
            "max_abs_delta": float(worst["_abs"]),
            "worst_pair": f"{worst['group_a']} vs {worst['group_b']}",
            "mean_abs_delta": float(part["_abs"].mean()),
            "n_disparity": int((part["verdict"] == "disparity").sum()),
            "n_parity": int((part["verdict"] == "parity").sum()),
            "n_inconclusive": int((part["verdict"] == "inconclusive").sum()),
            "share_both": (float((share["share_both"] * weights).sum() / total)
                           if measure == "crop" and total else math.nan),
            "share_neither": (float((share["share_neither"] * weights).sum() / total)
                              if measure == "crop" and total else math.nan),
        })
    for rec in (undecided if undecided is not None else pd.DataFrame()).itertuples():
        share = shares[(shares["cropper"] == rec.cropper)
                       & (shares["aspect_ratio"] == rec.aspect_ratio)]
        weights = share["n"].to_numpy(dtype=float)
        total = weights.sum()
        rows.append({
            "measure": rec.measure, "aspect_ratio": rec.aspect_ratio, "cropper": rec.cropper,
            "n_pairs": 0, "n_decided": 0, "max_abs_delta": math.nan, "worst_pair": None,
            "mean_abs_delta": math.nan, "n_disparity": 0, "n_parity": 0, "n_inconclusive": 0,
            "share_both": (float((share["share_both"] * weights).sum() / total)
                           if total else math.nan),
            "share_neither": (float((share["share_neither"] * weights).sum() / total)
                              if total else math.nan)})
    out = pd.DataFrame(rows)
    out["_ratio"] = out["aspect_ratio"].fillna(np.inf)
    out = out.sort_values(["measure", "_ratio", "max_abs_delta", "cropper"],
                          ascending=[False, True, True, True], kind="stable")
    out["rank"] = out.groupby(["measure", "_ratio"]).cumcount() + 1
    out["most_even"] = out["rank"] == 1
    return out.drop(columns="_ratio").reset_index(drop=True)
