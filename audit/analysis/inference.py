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

k images per composite (k-way shares): :func:`kway_meat` generalises the dyadic meat by
inclusion-exclusion over shared image sets, :func:`kway_pigeonhole_bootstrap` the bootstrap (a
row's multiplicity is the product of its k images' draw counts; conservative for k >= 3), and
:func:`kway_share_inference` puts them together as :func:`rate_inference` does.
"""

from __future__ import annotations

import logging
from itertools import combinations
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

log = logging.getLogger(__name__)

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


# --- k images per composite (k-way shares: one image per group in one composite) -------------

#: Largest k for which :func:`kway_meat` enumerates the 2^k - 1 image subsets of a composite.
KWAY_MAX_SUBSET_K = 8

_MSG_KWAY_K = ("k-way image-aware variance: k = {k} images per composite exceeds {max_k} (the "
               "sandwich enumerates 2^k - 1 image subsets per composite); use "
               "analysis.inference=bootstrap")


def kway_image_codes(images: npt.ArrayLike) -> tuple[npt.NDArray[np.int64], int]:
    """Integer codes of the images of each composite, duplicates within a row dropped.

    Parameters
    ----------
    images : array_like, shape (n, k)
        Image ids per composite and slot (any hashable values, compared as strings).

    Returns
    -------
    (codes, n_images)
        ``codes`` has shape (n, k): each row's distinct image codes in increasing order,
        padded with ``-1`` where a row showed an image more than once; ``n_images`` counts the
        distinct images of all rows.

    Examples
    --------
    >>> codes, n = kway_image_codes([["a", "b", "a"], ["c", "b", "d"]])
    >>> codes.tolist(), n
    ([[0, 1, -1], [1, 2, 3]], 4)
    """
    arr = np.asarray(images).astype(str)
    if arr.ndim != 2:
        raise ValueError(f"images must be a 2-d array (composites x slots), got shape {arr.shape}")
    n, k = arr.shape
    flat, uniques = pd.factorize(arr.ravel())
    codes = np.sort(flat.reshape(n, k).astype(np.int64), axis=1)
    dup = np.zeros_like(codes, dtype=bool)
    dup[:, 1:] = codes[:, 1:] == codes[:, :-1]
    codes = np.where(dup, -1, codes)
    # keep the padding at the end of each row (sorted ascending, -1 last)
    order = np.argsort(np.where(codes < 0, np.iinfo(np.int64).max, codes), axis=1, kind="stable")
    return np.take_along_axis(codes, order, axis=1), len(uniques)


def kway_meat(scores: npt.ArrayLike, codes: npt.ArrayLike, *,
              max_k: int = KWAY_MAX_SUBSET_K, alternating: bool = True
              ) -> npt.NDArray[np.float64]:
    """Multi-membership meat for rows showing up to k images each, by inclusion-exclusion.

    Rows ``i`` and ``j`` are correlated iff they share at least one image, and
    ``1[|I_i ∩ I_j| >= 1] = Σ_{nonempty T ⊆ I_i ∩ I_j} (-1)^{|T|+1}``, so
    ``M = Σ_{nonempty image sets T} (-1)^{|T|+1} (Σ_{i: T ⊆ I_i} s_i)²``: every image, minus
    every pair of images, plus every triple, ... For k = 2 this is :func:`dyadic_meat` (images
    minus image pairs).

    Parameters
    ----------
    scores : array_like, shape (n,) or (n, q)
        Per-row score contributions of q estimates that share the rows (diagonal only).
    codes : array_like of int, shape (n, k)
        Distinct image codes per row, ``-1`` padded (:func:`kway_image_codes`).
    max_k : int
        Refuse larger k (2^k - 1 subsets per row).
    alternating : bool
        ``False`` sums every ``S_T²`` with sign +1, i.e. ``Σ_ij (2^{|I_i ∩ I_j|} - 1) s_i s_j``:
        the (Poisson-count, linearised) expectation of the pigeonhole bootstrap's meat, which
        counts a row with itself 2^k - 1 times (:func:`kway_pigeonhole_bootstrap` is
        conservative by the ratio of the two).

    Returns
    -------
    numpy.ndarray
        Shape ``()`` for 1-d scores, ``(q,)`` otherwise.

    Examples
    --------
    Two composites sharing two of their three images, one sharing none (hand-computed:
    ``s1² + s2² + 2 s1 s2 + s3² = 1 + 4 + 4 + 9``):

    >>> float(kway_meat([1.0, 2.0, -3.0], [[0, 1, 2], [0, 1, 3], [4, 5, 6]]))
    18.0
    """
    s = np.asarray(scores, dtype=float)
    vector = s.ndim == 1
    s2 = s[:, None] if vector else s
    c = np.asarray(codes, dtype=np.int64)
    if c.ndim != 2 or len(c) != len(s2):
        raise ValueError(f"codes must have shape (n, k) with n = {len(s2)}, got {c.shape}")
    k = c.shape[1]
    if k > max_k:
        raise ValueError(_MSG_KWAY_K.format(k=k, max_k=max_k))
    meat = np.zeros(s2.shape[1])
    n_code = int(c.max(initial=0)) + 1
    packed = n_code ** k < 2**62  # pack a sorted subset into one int64 key
    for size in range(1, k + 1):
        # one set T of this size can come from different slot subsets in different rows:
        # collect every row's subsets of this size, then sum the scores per distinct set
        keys, rows = [], []
        for cols in combinations(range(k), size):
            sub = c[:, list(cols)]
            ok = np.flatnonzero((sub >= 0).all(axis=1))  # a padded slot: no such subset
            if not len(ok):
                continue
            if packed:
                key = np.zeros(len(ok), dtype=np.int64)
                for j in range(size):
                    key = key * n_code + sub[ok, j]
                keys.append(key)
            else:
                keys.append(sub[ok])
            rows.append(ok)
        if not rows:
            continue
        idx = np.concatenate(rows)
        if packed:
            inv = pd.factorize(np.concatenate(keys))[0]
        else:
            inv = np.unique(np.concatenate(keys), axis=0, return_inverse=True)[1].ravel()
        sums = np.zeros((int(inv.max()) + 1, s2.shape[1]))
        np.add.at(sums, inv, s2[idx])
        meat += (1.0 if size % 2 or not alternating else -1.0) * (sums**2).sum(axis=0)
    return meat[0] if vector else meat


def kway_pigeonhole_bootstrap(
    y: npt.ArrayLike,
    codes: npt.ArrayLike,
    image_group: npt.ArrayLike,
    *,
    n_boot: int = 1000,
    seed: int = 0,
    chunk: int = 50,
) -> npt.NDArray[np.float64]:
    """Pigeonhole bootstrap of q means over rows showing k images each.

    Images are resampled with replacement within their group; a row is kept with multiplicity
    the product of the draw counts of its (distinct) images, so a row survives only if all its
    images were drawn. For k = 2 this is :func:`pigeonhole_bootstrap`.

    It is conservative: two rows sharing ``j`` images get covariance weight ``2^j - 1`` instead
    of 1 (a row with itself ``2^k - 1``, e.g. 15 for k = 4), so its variance is about
    ``kway_meat(..., alternating=False) / n²``, close to the sandwich only when image effects
    dominate the row-level (trial) noise, i.e. with many composites per image.

    Parameters
    ----------
    y : array_like, shape (n,) or (n, q)
        Outcomes of q estimates sharing the rows.
    codes : array_like of int, shape (n, k)
        Distinct image codes per row, ``-1`` padded (:func:`kway_image_codes`).
    image_group : array_like of int, shape (n_images,)
        Group code of each image code.
    n_boot, seed, chunk
        Replicates, seed of :func:`numpy.random.default_rng` (same seed, same replicates) and
        replicates computed at once (memory ``chunk x n`` floats).

    Returns
    -------
    numpy.ndarray, shape (n_boot, q)
        Replicate means (``NaN`` when a replicate kept no row).
    """
    yv = np.asarray(y, dtype=float)
    y2 = yv[:, None] if yv.ndim == 1 else yv
    c = np.asarray(codes, dtype=np.int64)
    grp = np.asarray(image_group, dtype=np.int64)
    rng = np.random.default_rng(seed)
    members = [np.flatnonzero(grp == g) for g in range(int(grp.max(initial=-1)) + 1)]
    # a padded slot points at an extra image whose count is always 1
    cp = np.where(c < 0, len(grp), c)
    out = np.empty((n_boot, y2.shape[1]))
    for start in range(0, n_boot, chunk):
        b_n = min(chunk, n_boot - start)
        counts = np.ones((b_n, len(grp) + 1))
        for idx in members:
            if len(idx):
                counts[:, idx] = rng.multinomial(len(idx), np.full(len(idx), 1.0 / len(idx)),
                                                 size=b_n)
        w = np.prod(counts[:, cp], axis=2)  # (b_n, n)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[start:start + b_n] = (w @ y2) / w.sum(axis=1, keepdims=True)
    return out


def kway_share_inference(
    y: npt.ArrayLike,
    images: npt.ArrayLike,
    image_groups: npt.ArrayLike,
    *,
    inference: Inference = "dyadic",
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
    small_sample: bool = True,
) -> dict[str, npt.NDArray[np.float64] | str]:
    """Image-aware standard errors of q shares over the same k-image composites.

    Parameters
    ----------
    y : array_like, shape (n, q)
        One column per estimate (e.g. ``1[group g won]`` for every group g), decided rows only.
    images : array_like, shape (n, k)
        Image ids per composite and slot.
    image_groups : array_like, shape (n, k)
        Group of each slot's image (the bootstrap resamples within group; the t reference has
        images of the smallest group - 1 degrees of freedom).
    inference : {"dyadic", "bootstrap", "independent"}
        ``dyadic``: :func:`kway_meat` times ``G / (G - 1)`` (G distinct images), floored at the
        trial-level part ``Σ_D S_D²`` over distinct image sets D (conditional on the images;
        the population variance cannot be smaller); ``bootstrap``:
        :func:`kway_pigeonhole_bootstrap`; ``independent``: binomial. With k above
        :data:`KWAY_MAX_SUBSET_K`, ``dyadic`` falls back to ``bootstrap`` (logged).
    n_boot, seed, alpha
        Bootstrap replicates, seed and percentile-interval level.
    small_sample : bool
        Apply ``G / (G - 1)``.

    Returns
    -------
    dict
        Arrays of shape (q,): ``n``, ``mean``, ``se``, ``var``, ``var_pair``, ``var_image``,
        ``n_images``, ``df``, and for the bootstrap ``ci_low``/``ci_high``; ``inference`` (str,
        the method actually used). A degenerate share (0 or 1) gets the binomial variance of
        the add-one-half share on the number of distinct image sets, as :func:`rate_inference`.

    Examples
    --------
    Every image shown once: the dyadic variance is the binomial one times ``G / (G - 1)``.

    >>> out = kway_share_inference([[1], [0], [1], [1]], [[0, 1], [2, 3], [4, 5], [6, 7]],
    ...                            [["x", "y"]] * 4)
    >>> round(float(out["var"][0]), 6), round(0.75 * 0.25 / 4 * 8 / 7, 6)
    (0.053571, 0.053571)
    """
    check_inference(inference)
    yv = np.asarray(y, dtype=float)
    y2 = yv[:, None] if yv.ndim == 1 else yv
    n_rows, q = y2.shape
    img = np.asarray(images).astype(str)
    grp = np.asarray(image_groups).astype(str)
    if img.shape != grp.shape or img.ndim != 2 or len(img) != n_rows:
        raise ValueError(f"images {img.shape} and image_groups {grp.shape} must both be "
                         f"(composites x slots) with {n_rows} composites")
    k = img.shape[1]
    if inference == "dyadic" and k > KWAY_MAX_SUBSET_K:
        log.warning("k = %d > %d images per composite: k-way shares use inference=bootstrap "
                    "instead of the dyadic sandwich (2^k - 1 subsets per composite)",
                    k, KWAY_MAX_SUBSET_K)
        inference = "bootstrap"
    n = np.full(q, float(n_rows))
    mean = y2.mean(axis=0) if n_rows else np.full(q, np.nan)
    codes, n_img = kway_image_codes(img) if n_rows else (np.zeros((0, k), np.int64), 0)
    # images per group (distinct ids per group label) for the t reference
    per_group = pd.DataFrame({"g": grp.ravel(), "i": img.ravel()}).groupby("g")["i"].nunique()
    df = np.full(q, max(float(per_group.min()) - 1.0, 1.0) if len(per_group) else 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        binom_var = mean * (1 - mean) / n
    out: dict[str, npt.NDArray[np.float64] | str] = {
        "n": n, "mean": mean, "n_images": np.full(q, float(n_img)), "df": df}
    if inference == "independent" or n_rows == 0:
        out.update(se=np.sqrt(binom_var), var=binom_var, var_pair=binom_var,
                   var_image=np.full(q, np.nan), inference=inference)
        return out
    s = y2 - mean
    # trial level: rows showing the same image set (e.g. permutations of one trial)
    sets = pd.factorize(pd.MultiIndex.from_arrays(codes.T))[0]
    dsum = np.zeros((int(sets.max()) + 1, q))
    np.add.at(dsum, sets, s)
    pair_meat = (dsum**2).sum(axis=0)
    factor = n_img / (n_img - 1) if small_sample and n_img > 1 else 1.0
    # k above the limit (bootstrap then): the sandwich is only the fallback for degenerate SEs
    meat = np.maximum(kway_meat(s, codes) if k <= KWAY_MAX_SUBSET_K else pair_meat,
                      pair_meat) * factor
    pair_meat = pair_meat * factor
    var, var_pair = meat / n**2, pair_meat / n**2
    p_half = (mean * n + 0.5) / (n + 1)
    degenerate = (mean == 0) | (mean == 1)
    var = np.where(degenerate, p_half * (1 - p_half) / (int(sets.max()) + 1), var)
    out.update(var=var, var_pair=var_pair, var_image=var - var_pair, se=np.sqrt(var),
               inference=inference)
    if inference == "bootstrap":
        image_group = np.zeros(n_img, dtype=np.int64)
        flat = pd.factorize(img.ravel())[0]
        image_group[flat] = pd.factorize(grp.ravel())[0]
        reps = kway_pigeonhole_bootstrap(y2, codes, image_group, n_boot=n_boot, seed=seed)
        with np.errstate(invalid="ignore"):
            boot_se = np.nanstd(reps, axis=0, ddof=1)
        out["se"] = np.where(degenerate | ~np.isfinite(boot_se), np.sqrt(var), boot_se)
        out["ci_low"] = np.nanquantile(reps, alpha / 2, axis=0)
        out["ci_high"] = np.nanquantile(reps, 1 - alpha / 2, axis=0)
    return out
