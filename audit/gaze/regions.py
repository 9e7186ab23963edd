"""The study's salient-region recipe and its selection of images for the male-gaze check.

Recipe (reconstructed from the authors' code, re-implemented with numpy/scipy/Pillow):

1. ``sigmoid(score / T)`` per grid cell;
2. keep values strictly above the ``q``-th percentile (linear), set the rest to 0, quantise to
   uint8 as ``ceil(v * 255)``;
3. resize the grid to the image size with nearest-neighbour (Pillow);
4. Otsu threshold on the uint8 histogram, foreground = values above the threshold;
5. closing with a 3×3 square;
6. connected components with full (8-) connectivity — scikit-image's ``label`` default, which the
   study used; :func:`scipy.ndimage.label` defaults to 4-connectivity, so the structure is passed.

Two deliberate deviations from the authors' code, both removing artefacts rather than changing
intent: the resized map is not round-tripped through a lossy JPEG file before thresholding, and
the foreground is ``value > t`` (Otsu's own class split) rather than ``value >= t`` — with no JPEG
noise, ``>=`` at the typical threshold ``t = 0`` would mark the whole image as one region.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import PurePath

import numpy as np
import numpy.typing as npt
import pandas as pd
from PIL import Image
from scipy import ndimage

from audit.crop.geometry import Box, Point
from audit.model.base import SaliencyMap

log = logging.getLogger(__name__)

#: File suffixes the study counted as JPEG.
JPEG_SUFFIXES = (".jpg", ".jpeg")
#: Exclusion reasons written by :func:`select_male_gaze_images`.
REASONS = ("not_jpeg", "too_wide", "few_regions", "not_reached")

_MSG_GRID = "salient_regions needs a 2-D score grid, got shape {shape}"
_MSG_SIZE = "image_size must be (W, H) with both >= 1, got {size}"
_MSG_Q = "percentile q must be in [0, 100], got {q}"
_MSG_OTSU_EMPTY = "otsu_threshold needs at least one value"
_MSG_OTSU_DTYPE = "otsu_threshold needs non-negative integer values (e.g. uint8), got dtype {dtype}"
_MSG_COLUMN = "image table has no column {col!r} (needed for {why}); columns are {cols}"
_MSG_NO_MAP = "no saliency map for image {id!r}; pass a map for every id in the table"


@dataclass(frozen=True)
class Region:
    """One connected salient region, in image pixels.

    Attributes
    ----------
    label : int
        Component label (1-based, in scan order).
    area : int
        Number of pixels.
    bbox : Box
        Tightest box around the region.
    centroid : Point
        Mean pixel position (``x`` = column, ``y`` = row).
    """

    label: int
    area: int
    bbox: Box
    centroid: Point


def otsu_threshold(values: npt.ArrayLike) -> int:
    """Otsu's threshold of non-negative integer values.

    Maximises the between-class variance ``w0 w1 (m0 - m1)^2`` over splits ``{v <= t}`` /
    ``{v > t}``, with ``t`` running over the integers from the minimum to one below the maximum;
    the first maximum wins. Foreground is ``values > t``.

    Parameters
    ----------
    values : array_like of int
        E.g. a uint8 image.

    Returns
    -------
    int
        ``t``; when all values are equal, that value (everything is background).

    Examples
    --------
    >>> otsu_threshold([0, 0, 0, 200, 210])
    0
    """
    v = np.asarray(values)
    if v.size == 0:
        raise ValueError(_MSG_OTSU_EMPTY)
    if not np.issubdtype(v.dtype, np.integer) or v.min() < 0:
        raise ValueError(_MSG_OTSU_DTYPE.format(dtype=v.dtype))
    lo, hi = int(v.min()), int(v.max())
    if lo == hi:
        return lo
    hist = np.bincount((v.ravel() - lo).astype(np.int64)).astype(np.float64)
    levels = np.arange(lo, hi + 1, dtype=np.float64)
    w0 = np.cumsum(hist)[:-1]
    s0 = np.cumsum(hist * levels)[:-1]
    total_w, total_s = hist.sum(), (hist * levels).sum()
    w1 = total_w - w0
    m0 = s0 / w0  # w0 >= 1: the first level holds the minimum
    with np.errstate(invalid="ignore", divide="ignore"):
        m1 = (total_s - s0) / w1
    between = np.where(w1 > 0, w0 * w1 * (m0 - m1) ** 2, -1.0)
    return lo + int(np.argmax(between))


def _quantised_map(scores: npt.NDArray[np.float64], q: float, temperature: float) -> np.ndarray:
    """Run steps 1-2: sigmoid, keep above the q-th percentile, ``ceil(v * 255)`` as uint8."""
    # Stable sigmoid: exp(-|z|) never overflows.
    z = scores / temperature
    e = np.exp(-np.abs(z))
    sig = np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
    thr = np.percentile(sig, q)
    kept = np.where(sig > thr, sig, 0.0)
    return np.ceil(kept * 255).astype(np.uint8)


def salient_mask(
    scores: npt.ArrayLike,
    image_size: tuple[int, int],
    *,
    q: float = 90.0,
    temperature: float = 1.0,
) -> npt.NDArray[np.bool_]:
    """Run steps 1-5 of the recipe: the closed foreground mask, shape (H, W)."""
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 2 or s.size == 0:
        raise ValueError(_MSG_GRID.format(shape=s.shape))
    w, h = int(image_size[0]), int(image_size[1])
    if w < 1 or h < 1:
        raise ValueError(_MSG_SIZE.format(size=image_size))
    if not 0 <= q <= 100:
        raise ValueError(_MSG_Q.format(q=q))
    small = _quantised_map(s, q, temperature)
    big = np.asarray(
        Image.fromarray(small).resize((w, h), Image.Resampling.NEAREST), dtype=np.uint8
    )
    return close_mask(big > otsu_threshold(big))


def close_mask(mask: npt.ArrayLike) -> npt.NDArray[np.bool_]:
    """Close a boolean mask with a 3×3 square, never eroding from the image edge."""
    # Grey closing in "reflect" mode = dilation then erosion where the edge pixel stands in for
    # the outside (scikit-image's closing); scipy's binary_closing erodes edge pixels instead.
    m = np.asarray(mask, dtype=bool).astype(np.uint8)
    return ndimage.grey_closing(m, size=(3, 3), mode="reflect").astype(bool)


def label_regions(mask: npt.ArrayLike) -> list[Region]:
    """Find the connected components (8-connectivity) of a boolean mask, in label order."""
    m = np.asarray(mask, dtype=bool)
    labels, n = ndimage.label(m, structure=np.ones((3, 3), dtype=bool))
    if n == 0:
        return []
    idx = np.arange(1, n + 1)
    areas = ndimage.sum_labels(np.ones_like(labels), labels, idx)
    centres = ndimage.center_of_mass(m, labels, idx)
    out = []
    for lab, sl, area, (cy, cx) in zip(idx, ndimage.find_objects(labels), areas, centres,
                                       strict=True):
        rows, cols = sl
        box = Box(int(cols.start), int(rows.start),
                  int(cols.stop - cols.start), int(rows.stop - rows.start))
        out.append(Region(int(lab), int(area), box, Point(float(cx), float(cy))))
    return out


def salient_regions(
    scores: npt.ArrayLike,
    image_size: tuple[int, int],
    *,
    min_area: int = 1000,
    q: float = 90.0,
    temperature: float = 1.0,
) -> list[Region]:
    """Find the study's salient regions of one image, larger than ``min_area`` pixels.

    Parameters
    ----------
    scores : array_like, shape (rows, cols)
        The model's grid scores for the image.
    image_size : tuple of int
        ``(W, H)`` of the original image; the grid is stretched over it.
    min_area : int, default 1000
        Regions must be strictly larger than this (the study: ``area > 1000``); 0 keeps all.
    q : float, default 90
        Percentile of the sigmoid scores below which cells are zeroed.
    temperature : float, default 1
        Scores are divided by this before the sigmoid.

    Returns
    -------
    list of Region
        In label (row-major scan) order.
    """
    regions = label_regions(salient_mask(scores, image_size, q=q, temperature=temperature))
    return [r for r in regions if r.area > min_area]


def _is_jpeg(name: object) -> bool:
    return isinstance(name, str) and PurePath(name).suffix.lower() in JPEG_SUFFIXES


def select_male_gaze_images(
    table: pd.DataFrame,
    maps: Mapping[str, SaliencyMap] | Callable[[str], SaliencyMap],
    *,
    min_aspect: float = 1.25,
    min_regions: int = 2,
    min_area: int = 1000,
    n_per_group: int = 100,
    jpeg_only: bool = True,
    seed: int = 42,
    group: str = "group",
    path_col: str = "path",
) -> pd.DataFrame:
    """Walk each group in a seeded random order and keep images as the study did.

    An image is kept when it is a JPEG (if ``jpeg_only``), tall (``H / W >= min_aspect``) and its
    map has at least ``min_regions`` regions larger than ``min_area`` px; a group stops once
    ``n_per_group`` are kept. Checks run cheapest first, so maps are only needed (and, when
    ``maps`` is a callable, only computed) for tall JPEGs reached before the quota.

    Parameters
    ----------
    table : DataFrame
        One row per image: ``id``, the group column, and ``path_col`` (file name, used for the
        JPEG check) when ``jpeg_only``. Image size comes from ``width``/``height`` columns when
        present, else from the map.
    maps : mapping or callable
        ``id -> SaliencyMap``.
    min_aspect, min_regions, min_area, n_per_group, jpeg_only, seed
        See :class:`audit.gaze.settings.GazeConfig`.
    group : str, default "group"
        Group column (e.g. gender).
    path_col : str, default "path"
        Column holding the file name or path.

    Returns
    -------
    DataFrame
        Every image of the table, one row each: ``id, group, rank`` (position in the group's
        shuffled walk), ``aspect`` (H / W, NaN if never looked at), ``n_regions`` (NaN if not
        computed), ``selected`` (bool) and ``reason`` (missing when selected, else one of
        ``not_jpeg, too_wide, few_regions, not_reached``). Sorted by group then rank.
    """
    needed = ["id", group] + ([path_col] if jpeg_only else [])
    for col in needed:
        if col not in table.columns:
            why = "the JPEG check" if col == path_col else "selection"
            raise KeyError(_MSG_COLUMN.format(col=col, why=why, cols=list(table.columns)))
    get = maps if callable(maps) else maps.get
    has_size = {"width", "height"} <= set(table.columns)
    rng = np.random.default_rng(seed)
    rows: list[dict[str, object]] = []
    for g, sub in table.groupby(group, sort=True):
        order = rng.permutation(len(sub))
        kept = 0
        for rank, pos in enumerate(order):
            rec = sub.iloc[int(pos)]
            img_id = str(rec["id"])
            row: dict[str, object] = {"id": img_id, "group": str(g), "rank": rank,
                                      "aspect": np.nan, "n_regions": np.nan,
                                      "selected": False, "reason": None}
            rows.append(row)
            if kept >= n_per_group:
                row["reason"] = "not_reached"
                continue
            if jpeg_only and not _is_jpeg(rec[path_col]):
                row["reason"] = "not_jpeg"
                continue
            smap = None
            if has_size:
                w, h = int(rec["width"]), int(rec["height"])
            else:
                smap = get(img_id)
                if smap is None:
                    raise KeyError(_MSG_NO_MAP.format(id=img_id))
                w, h = smap.image_size
            row["aspect"] = h / w
            if h / w < min_aspect:
                row["reason"] = "too_wide"
                continue
            if smap is None:
                smap = get(img_id)
                if smap is None:
                    raise KeyError(_MSG_NO_MAP.format(id=img_id))
            n_reg = len(salient_regions(smap.scores, smap.image_size, min_area=min_area))
            row["n_regions"] = n_reg
            if n_reg < min_regions:
                row["reason"] = "few_regions"
                continue
            row["selected"] = True
            kept += 1
        if kept < n_per_group:
            log.info("male gaze: group %s has only %d of %d wanted images", g, kept, n_per_group)
    cols = ["id", "group", "rank", "aspect", "n_regions", "selected", "reason"]
    out = pd.DataFrame(rows, columns=cols)
    out["n_regions"] = out["n_regions"].astype("Int64")
    return out
