"""Image-aware inference: the image, not the composite, is the unit (docs/statistics.md §2-3).

Every composite involves two images; composites that share an image (in either role) may be
correlated, and the two orders of one trial share both. Three ways to get a standard error:

- ``dyadic`` (default): multi-membership ("dyadic-robust") sandwich on ONE image id space,
  ``M = Σ_g S_g S_gᵀ - Σ_d S_d S_dᵀ`` (S_g: score sum of the rows showing image g, S_d: of the
  rows showing the unordered image pair d), times ``G / (G - 1)``. Population inference: other
  faces of such people.
- ``bootstrap``: two-way "pigeonhole" bootstrap, images resampled within each group, a row kept
  with multiplicity = product of its two images' draw counts; seeded.
- ``independent``: composites as independent Bernoulli trials (exact test, Wilson/beta
  interval): conditional on these images, for comparison only.

All functions are vectorised over many estimates at once (one per group pair) through an integer
``unit`` code per row.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.stats import norm

Inference = Literal["dyadic", "bootstrap", "independent"]
INFERENCES = ("dyadic", "bootstrap", "independent")
INFERENCE_LABELS = {
    "dyadic": "image-aware (dyadic-robust over one image id space; population of images)",
    "bootstrap": "image-aware (two-way pigeonhole bootstrap over images; population of images)",
    "independent": ("conditional on these images, composites assumed independent "
                    "(exact/Wilson; for comparison only)"),
}

_MSG_INFERENCE = "analysis.inference must be one of {allowed}, got {value!r}"


def check_inference(value: str) -> None:
    """Raise ``ValueError`` naming the allowed values if ``value`` is not an inference method."""
    if value not in INFERENCES:
        raise ValueError(_MSG_INFERENCE.format(allowed=list(INFERENCES), value=value))


def image_codes(image_a: npt.ArrayLike, image_b: npt.ArrayLike
                ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], int]:
    """Integer codes for images in one id space shared by both roles.

    Returns
    -------
    (code_a, code_b, n_images)
    """
    a = np.asarray(image_a).astype(str)
    b = np.asarray(image_b).astype(str)
    codes, uniques = pd.factorize(np.concatenate([a, b]))
    return codes[: len(a)].astype(np.int64), codes[len(a):].astype(np.int64), len(uniques)


def dyadic_meat(
    scores: npt.ArrayLike,
    code_a: npt.ArrayLike,
    code_b: npt.ArrayLike,
    *,
    unit: npt.ArrayLike | None = None,
    n_units: int | None = None,
) -> npt.NDArray[np.float64]:
    """Dyadic meat ``Σ_g S_g² - Σ_d S_d²`` per estimation unit (e.g. per group pair).

    Parameters
    ----------
    scores : array_like, shape (n,) or (n, k)
        Per-row score contributions (for a mean: ``y - mean``).
    code_a, code_b : array_like of int, shape (n,)
        Image codes in one id space (:func:`image_codes`); a row whose two images coincide
        contributes its square once.
    unit : array_like of int, shape (n,), optional
        Which estimate each row belongs to (default: all rows one estimate).
    n_units : int, optional
        Number of estimates (default ``unit.max() + 1``).

    Returns
    -------
    numpy.ndarray
        Shape ``(n_units,)`` for 1-d scores, ``(n_units, k, k)`` otherwise.

    Examples
    --------
    Every image used once, one row per pair of images: the meat is ``Σ s²``.

    >>> float(dyadic_meat([0.5, -0.5, 0.5], [0, 2, 4], [1, 3, 5])[0])
    0.75
    """
    s = np.asarray(scores, dtype=float)
    vector = s.ndim == 1
    s2 = s[:, None] if vector else s
    a = np.asarray(code_a, dtype=np.int64)
    b = np.asarray(code_b, dtype=np.int64)
    u = np.zeros(len(a), dtype=np.int64) if unit is None else np.asarray(unit, dtype=np.int64)
    n_u = int(u.max()) + 1 if n_units is None else int(n_units)
    if len(a) == 0:
        k = s2.shape[1]
        return np.zeros(n_u) if vector else np.zeros((n_u, k, k))
    n_img = int(max(a.max(), b.max())) + 1
    # image clusters within each unit; a row with a == b is counted once for that image
    same = a == b
    idx = np.concatenate([u * n_img + a, (u * n_img + b)[~same]])
    rows = np.concatenate([s2, s2[~same]])
    meat = _cluster_outer(idx, rows, u_of=lambda key: key // n_img, n_units=n_u)
    # dyads: the unordered image pair within the unit
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    dyad, _ = pd.factorize(pd.MultiIndex.from_arrays([u, lo, hi]))
    dyad_unit = np.zeros(int(dyad.max()) + 1, dtype=np.int64)
    dyad_unit[dyad] = u
    dyads = _cluster_outer(dyad, s2, u_of=lambda key: dyad_unit[key], n_units=n_u)
    # rows with a == b were counted once as an image and once as a dyad: add that back
    meat = meat - dyads + (_cluster_outer(dyad[same], s2[same], u_of=lambda key: dyad_unit[key],
                                          n_units=n_u) if same.any() else 0.0)
    return meat[:, 0, 0] if vector else meat


def _cluster_outer(keys: np.ndarray, rows: np.ndarray, *, u_of, n_units: int) -> np.ndarray:
    """Σ over clusters of (Σ rows)(Σ rows)ᵀ, summed per unit; rows shape (n, k)."""
    codes, uniques = pd.factorize(keys)
    k = rows.shape[1]
    sums = np.zeros((len(uniques), k))
    np.add.at(sums, codes, rows)
    units = u_of(np.asarray(uniques))
    out = np.zeros((n_units, k, k))
    np.add.at(out, units, sums[:, :, None] * sums[:, None, :])
    return out


def dyadic_mean(
    y: npt.ArrayLike,
    code_a: npt.ArrayLike,
    code_b: npt.ArrayLike,
    *,
    unit: npt.ArrayLike | None = None,
    n_units: int | None = None,
    small_sample: bool = True,
) -> dict[str, npt.NDArray[np.float64]]:
    """Mean of ``y`` per unit with its dyadic-robust variance and the variance components.

    Parameters
    ----------
    y : array_like of float
        Outcome per row (1 = the oriented group won).
    code_a, code_b, unit, n_units
        As in :func:`dyadic_meat`.
    small_sample : bool
        Multiply by ``G / (G - 1)``, G = distinct images of the unit.

    Returns
    -------
    dict of arrays, one entry per unit
        ``n`` rows, ``mean``, ``var`` (dyadic, floored at the trial-level part), ``var_pair``
        (``Σ_d S_d² / n²``: conditional on the images, the two orders of a trial paired),
        ``var_image`` (``var - var_pair``, the part only more images can shrink) and
        ``n_images``.

    Examples
    --------
    >>> out = dyadic_mean([1, 0, 1, 1], [0, 0, 2, 2], [1, 1, 3, 3])
    >>> round(float(out["mean"][0]), 3), round(float(out["var"][0]), 4)
    (0.75, 0.0417)
    """
    yv = np.asarray(y, dtype=float)
    a = np.asarray(code_a, dtype=np.int64)
    b = np.asarray(code_b, dtype=np.int64)
    u = np.zeros(len(yv), dtype=np.int64) if unit is None else np.asarray(unit, dtype=np.int64)
    n_u = int(u.max()) + 1 if n_units is None else int(n_units)
    n = np.bincount(u, minlength=n_u).astype(float)
    mean = np.divide(np.bincount(u, weights=yv, minlength=n_u), n,
                     out=np.full(n_u, np.nan), where=n > 0)
    s = yv - mean[u]
    meat = dyadic_meat(s, a, b, unit=u, n_units=n_u)
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    dyad, _ = pd.factorize(pd.MultiIndex.from_arrays([u, lo, hi]))
    dsum = np.bincount(dyad, weights=s)
    dyad_unit = np.zeros(len(dsum), dtype=np.int64)
    dyad_unit[dyad] = u
    pair_meat = np.bincount(dyad_unit, weights=dsum**2, minlength=n_u)
    n_code = int(max(a.max(initial=0), b.max(initial=0))) + 1
    pairs = np.unique(np.concatenate([u * n_code + a, u * n_code + b]))
    n_images = np.bincount(pairs // n_code, minlength=n_u).astype(float)
    factor = np.where(n_images > 1, n_images / np.maximum(n_images - 1, 1), 1.0)
    if small_sample:
        meat = meat * factor
        pair_meat = pair_meat * factor
    # a dyadic meat can fall below the paired (conditional) one by chance; the population
    # variance cannot be smaller than the conditional one, so floor it there
    meat = np.maximum(meat, pair_meat)
    with np.errstate(invalid="ignore", divide="ignore"):
        var = meat / n**2
        var_pair = pair_meat / n**2
    return {"n": n, "mean": mean, "var": var, "var_pair": var_pair,
            "var_image": var - var_pair, "n_images": n_images}


def pigeonhole_bootstrap(
    y: npt.ArrayLike,
    code_a: npt.ArrayLike,
    code_b: npt.ArrayLike,
    image_group: npt.ArrayLike,
    *,
    unit: npt.ArrayLike | None = None,
    n_units: int | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    chunk: int = 50,
) -> npt.NDArray[np.float64]:
    """Bootstrap replicates of the per-unit mean, images resampled within their group.

    Parameters
    ----------
    y, code_a, code_b, unit, n_units
        As in :func:`dyadic_mean`.
    image_group : array_like of int, shape (n_images,)
        Group code of each image code (images are resampled within their group).
    n_boot : int
        Replicates.
    seed : int
        Seed of :func:`numpy.random.default_rng`; same seed, same replicates.
    chunk : int
        Replicates computed at once (bounds memory to ``chunk x rows`` floats).

    Returns
    -------
    numpy.ndarray, shape (n_boot, n_units)
        Replicate means (``NaN`` when a replicate kept no row of a unit).
    """
    yv = np.asarray(y, dtype=float)
    a = np.asarray(code_a, dtype=np.int64)
    b = np.asarray(code_b, dtype=np.int64)
    u = np.zeros(len(yv), dtype=np.int64) if unit is None else np.asarray(unit, dtype=np.int64)
    n_u = int(u.max()) + 1 if n_units is None else int(n_units)
    grp = np.asarray(image_group, dtype=np.int64)
    rng = np.random.default_rng(seed)
    members = [np.flatnonzero(grp == g) for g in range(int(grp.max()) + 1)]
    onehot = np.zeros((len(yv), n_u))
    onehot[np.arange(len(yv)), u] = 1.0
    out = np.empty((n_boot, n_u))
    for start in range(0, n_boot, chunk):
        b_n = min(chunk, n_boot - start)
        counts = np.zeros((b_n, len(grp)))
        for idx in members:
            if len(idx):
                draws = rng.integers(0, len(idx), size=(b_n, len(idx)))
                counts[:, idx] = np.apply_along_axis(np.bincount, 1, draws, minlength=len(idx))
        w = counts[:, a] * counts[:, b]
        den = w @ onehot
        num = (w * yv) @ onehot
        with np.errstate(invalid="ignore", divide="ignore"):
            out[start:start + b_n] = num / den
    return out


def normal_p_values(estimate: npt.ArrayLike, se: npt.ArrayLike, *, null: float = 0.5
                    ) -> npt.NDArray[np.float64]:
    """Two-sided z-test p-values of ``estimate == null``; ``se <= 0`` or NaN gives NaN."""
    est = np.asarray(estimate, dtype=float)
    sev = np.asarray(se, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = (est - null) / sev
    p = 2 * norm.sf(np.abs(z))
    return np.where(np.isfinite(z), p, np.nan)


def _min_group_images(image_a, image_b, group_a, group_b, unit, n_units, *, fallback):
    """Distinct images of the smallest group per unit (``fallback`` without groups)."""
    if group_a is None or group_b is None:
        return np.asarray(fallback, dtype=float)
    frame = pd.DataFrame({
        "unit": np.concatenate([unit, unit]),
        "group": np.concatenate([np.asarray(group_a).astype(str), np.asarray(group_b).astype(str)]),
        "image": np.concatenate([np.asarray(image_a).astype(str), np.asarray(image_b).astype(str)]),
    })
    counts = frame.groupby(["unit", "group"])["image"].nunique().groupby("unit").min()
    return counts.reindex(range(n_units)).to_numpy(dtype=float)


def pair_rate_table(frame: pd.DataFrame, *, outcome_col: str = "outcome", **kwargs) -> pd.DataFrame:
    """Rates per group pair of any binary crop outcome on pairwise-shaped records.

    The one public entry point for rates of other outcomes (e.g. "which crop kept the face",
    per cropper and aspect ratio): ``frame`` has the pairwise columns (``trial, order, design,
    group_a, group_b, image_a, image_b, position_a``) and ``outcome_col`` holds ``a``, ``b``,
    ``background`` or ``error``. Split the frame by cropper/aspect ratio yourself and call this
    once per part, or once with ``by=[...]``.

    Parameters
    ----------
    frame : pandas.DataFrame
        Pairwise-shaped records.
    outcome_col : str
        Column with the outcome (renamed to ``outcome`` internally).
    **kwargs
        Passed to :func:`audit.analysis.win_rates.compute_win_rates` (``inference``,
        ``margin``, ``alpha``, ``correction``, ``group_order``, ``by``, ...).

    Returns
    -------
    pandas.DataFrame
        The win-rate table (one row per pair and ``by`` level).
    """
    from audit.analysis.win_rates import compute_win_rates

    data = frame.drop(columns=["outcome"], errors="ignore") if outcome_col != "outcome" else frame
    if outcome_col not in frame.columns:
        raise ValueError(f"frame lacks outcome column {outcome_col!r}; it has {list(frame)}")
    data = data.assign(outcome=frame[outcome_col].astype(str).to_numpy())
    return compute_win_rates(data, **kwargs)


def rate_inference(
    y: npt.ArrayLike,
    image_a: npt.ArrayLike,
    image_b: npt.ArrayLike,
    *,
    unit: npt.ArrayLike | None = None,
    n_units: int | None = None,
    inference: Inference = "dyadic",
    group_a: npt.ArrayLike | None = None,
    group_b: npt.ArrayLike | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> dict[str, npt.NDArray[np.float64]]:
    """Image-aware standard error of a mean outcome per unit, by ``inference``.

    Parameters
    ----------
    y : array_like of float
        Outcome per decided composite.
    image_a, image_b : array_like of str
        The two images of each composite (one id space).
    unit, n_units
        Which estimate each row belongs to (see :func:`dyadic_meat`).
    inference : {"dyadic", "bootstrap", "independent"}
        How the standard error is computed; ``independent`` returns the binomial one.
    group_a, group_b : array_like, optional
        Groups of the two images (the bootstrap resamples within group; default: by role).
    n_boot, seed
        Bootstrap replicates and seed.
    alpha : float
        Level of the bootstrap percentile interval.

    Returns
    -------
    dict of arrays per unit
        ``mean``, ``n``, ``se``, ``var_image``, ``var_pair``, ``n_images`` and, for the bootstrap,
        ``ci_low``/``ci_high`` (percentile). A degenerate rate (0 or 1, so every score is 0)
        gets the binomial SE of the add-one-half rate on the number of image pairs instead of 0.
        A variance of exactly 0 at another rate (all scores cancel within image pairs, e.g.
        every trial's two orders split between the slots) gets the variance of half an image
        pair departing as far as it can, ``max(p, 1 - p)² · ½ / (D + 1) / D`` (D image pairs):
        not having seen a departure is no proof that none exists.
    """
    check_inference(inference)
    yv = np.asarray(y, dtype=float)
    ca, cb, n_img = image_codes(image_a, image_b)
    u = np.zeros(len(yv), dtype=np.int64) if unit is None else np.asarray(unit, dtype=np.int64)
    n_u = int(u.max()) + 1 if n_units is None else int(n_units)
    dm = dyadic_mean(yv, ca, cb, unit=u, n_units=n_u)
    n, mean = dm["n"], dm["mean"]
    with np.errstate(invalid="ignore", divide="ignore"):
        binom_var = mean * (1 - mean) / n
    out = dict(dm)
    # t reference with (images of the smallest group - 1) degrees of freedom: with few images
    # the robust meat is too small (calibrated in bench/calibration.py)
    out["df"] = np.maximum(_min_group_images(image_a, image_b, group_a, group_b, u, n_u,
                                             fallback=dm["n_images"] / 2) - 1, 1.0)
    if inference == "independent":
        out["se"] = np.sqrt(binom_var)
        return out
    var = dm["var"]
    lo, hi = np.minimum(ca, cb), np.maximum(ca, cb)
    dyads = pd.factorize(pd.MultiIndex.from_arrays([u, lo, hi]))[0]
    n_dyads = np.bincount(u[np.unique(dyads, return_index=True)[1]], minlength=n_u)
    with np.errstate(invalid="ignore", divide="ignore"):
        p_half = (mean * n + 0.5) / (n + 1)
        floor = p_half * (1 - p_half) / np.maximum(n_dyads, 1)
    degenerate = ((mean == 0) | (mean == 1)) & (n > 0)
    var = np.where(degenerate, floor, var)
    with np.errstate(invalid="ignore", divide="ignore"):
        d = np.maximum(n_dyads, 1)
        cancelled = np.maximum(mean, 1 - mean) ** 2 * 0.5 / (d + 1) / d
    var = np.where(~degenerate & (n > 0) & (var <= 0), cancelled, var)
    out["var"] = var
    out["se"] = np.sqrt(var)
    if inference == "bootstrap":
        ga = np.asarray(group_a if group_a is not None else np.zeros(len(yv))).astype(str)
        gb = np.asarray(group_b if group_b is not None else np.ones(len(yv))).astype(str)
        if group_a is None:
            ga, gb = np.char.add("a:", ga), np.char.add("b:", gb)
        image_group = np.zeros(n_img, dtype=np.int64)
        gcodes = pd.factorize(np.concatenate([ga, gb]))[0]
        image_group[np.concatenate([ca, cb])] = gcodes
        reps = pigeonhole_bootstrap(yv, ca, cb, image_group, unit=u, n_units=n_u,
                                    n_boot=n_boot, seed=seed)
        with np.errstate(invalid="ignore"):
            boot_se = np.nanstd(reps, axis=0, ddof=1)
        out["se"] = np.where(degenerate | ~np.isfinite(boot_se), np.sqrt(var), boot_se)
        out["ci_low"] = np.nanquantile(reps, alpha / 2, axis=0)
        out["ci_high"] = np.nanquantile(reps, 1 - alpha / 2, axis=0)
    return out
