"""Twitter's crop rules: salient cell, symmetry check and crop windows, as ``candidate_crops`` does.

Plain functions on plain values, following section 4 of the FastGaze reference
(``docs/fastgaze.md``). Arithmetic that the program does in single precision (aspect ratios,
``H / W``, ``W * ar``) is done here in ``numpy.float32`` so that borderline cases round the same
way; rounding is C's ``lroundf`` (half away from zero), not numpy's half-to-even.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from audit.crop.geometry import Box, Point
from audit.model.base import SaliencyMap

#: The program's default aspect ratios (height / width); ``H / W`` is appended per image.
DEFAULT_ASPECT_RATIOS: tuple[float, ...] = (0.56, 1.0, 1.14, 2.0)
#: Side of the symmetry thumbnail.
THUMB_SIDE = 10
#: Index into the sorted 300 mirror differences: ``(n - 1) * 95 // 100``.
SYMMETRY_INDEX = (THUMB_SIDE * THUMB_SIDE * 3 - 1) * 95 // 100
#: Scale and threshold of the program's symmetry score.
SYMMETRY_SCALE = 137.0
SYMMETRY_THRESHOLD = 25.0

_MSG_WINDOW = "crop window of length {length} does not fit in {maximum} pixels (center {center})"
_MSG_NAN = "saliency scores contain NaN at (row, col) = {cell}; the model output is invalid"
_MSG_EMPTY = "saliency scores are empty (shape {shape}); expected a (rows, cols) grid"
_MSG_THUMB = "symmetry thumbnail must be uint8 of shape (10, 10, 3), got {dtype} {shape}"
_MSG_RATIO = "aspect ratio must be a finite number > 0, got {ratio!r}"
_MSG_SIZE = "image size must be positive integers, got width={width}, height={height}"


def lroundf(x: float) -> int:
    """Round like C's ``lroundf``: the value as float32, halves away from zero.

    Parameters
    ----------
    x : float
        Value to round; it is first converted to float32, as the C function receives it.

    Returns
    -------
    int
        The nearest integer, ties rounded away from zero.

    Examples
    --------
    >>> lroundf(2.5), lroundf(-2.5), lroundf(0.49999997)
    (3, -3, 0)
    """
    v = float(np.float32(x))
    if not math.isfinite(v):
        raise ValueError(f"lroundf of a non-finite value {x!r}")
    # float64 holds every float32 plus 0.5 exactly, so this has no double-rounding trap.
    return int(math.copysign(math.floor(abs(v) + 0.5), v))


def salient_cell(scores: npt.ArrayLike) -> tuple[int, int]:
    """Find the first maximum of a score grid in row-major order, as ``(row, col)``.

    Only a strictly greater score replaces the current best, so ties go to the earliest cell.

    Parameters
    ----------
    scores : array_like of float, shape (rows, cols)
        One score per grid cell.

    Returns
    -------
    tuple of int
        ``(row, col)`` of the winning cell.

    Raises
    ------
    ValueError
        If the grid is empty or not 2-D, or holds NaN (the program's comparison would skip it
        silently; here it is a model failure).
    """
    grid = np.asarray(scores)
    if grid.ndim != 2 or grid.size == 0:
        raise ValueError(_MSG_EMPTY.format(shape=grid.shape))
    nan = np.isnan(grid)
    if nan.any():
        r, c = np.argwhere(nan)[0]
        raise ValueError(_MSG_NAN.format(cell=(int(r), int(c))))
    # np.argmax returns the first occurrence of the maximum, i.e. strict-greater updates.
    r, c = np.unravel_index(int(np.argmax(grid)), grid.shape)
    return int(r), int(c)


def salient_point(smap: SaliencyMap) -> Point:
    """Map the salient cell to original-image pixels, truncated to ints as the program does.

    Parameters
    ----------
    smap : SaliencyMap
        Scores and the grid's cell positions.

    Returns
    -------
    Point
        ``(x, y)`` = ``((int) xs[col], (int) ys[row])`` of :func:`salient_cell`.
    """
    r, c = salient_cell(smap.scores)
    return Point(int(smap.xs[c]), int(smap.ys[r]))


def symmetry_score(thumb10: npt.NDArray[np.uint8]) -> float:
    """Compute the program's mirror-symmetry score of a 10x10 RGB thumbnail.

    ``d = |p[y][x][c] - p[y][9-x][c]|`` over all 300 values, sorted; ``d[284]`` divided by
    ``(vmax - vmin + 10)`` (range of the thumbnail's pixel values) times 137. This is the
    compiled program's variant, not Twitter's Python ``is_symmetric`` (which uses
    ``np.percentile`` and the range of the differences).

    Parameters
    ----------
    thumb10 : ndarray of uint8, shape (10, 10, 3)
        The 320-box image resized to 10x10 with the program's resampler.

    Returns
    -------
    float
        The score; below 25 means symmetric. Computed in float32 like the program [G].

    Examples
    --------
    >>> t = np.zeros((10, 10, 3), np.uint8); t[:, 0] = 100
    >>> round(symmetry_score(t), 4)  # d[284] = 100, range 100
    124.5455
    """
    t = np.asarray(thumb10)
    if t.dtype != np.uint8 or t.shape != (THUMB_SIDE, THUMB_SIDE, 3):
        raise ValueError(_MSG_THUMB.format(dtype=t.dtype, shape=t.shape))
    p = t.astype(np.int32)
    d = np.sort(np.abs(p - p[:, ::-1, :]).ravel())
    spread = int(p.max()) - int(p.min()) + 10
    score = np.float32(d[SYMMETRY_INDEX]) / np.float32(spread) * np.float32(SYMMETRY_SCALE)
    return float(score)


def is_symmetric(rgb_resized: npt.NDArray[np.uint8]) -> bool:
    """Whether the program treats an image as mirror-symmetric (crops then centred in x).

    Parameters
    ----------
    rgb_resized : ndarray of uint8, shape (rh, rw, 3)
        The image resized into the 320 box (``Prepared.pixels``).

    Returns
    -------
    bool
        ``symmetry_score(thumbnail) < 25``.
    """
    from audit.model.preprocess import symmetry_thumbnail

    return symmetry_score(symmetry_thumbnail(rgb_resized)) < SYMMETRY_THRESHOLD


def fit_window(center: int, length: int, maximum: int) -> tuple[int, int]:
    """Place a window of ``length`` pixels around ``center`` inside ``[0, maximum)``.

    Parameters
    ----------
    center : int
        Desired centre (pixels).
    length : int
        Window length (pixels), ``>= 0``.
    maximum : int
        Size of the axis (pixels).

    Returns
    -------
    tuple of int
        ``(start, stop)`` with ``stop - start == length``, shifted to lie in the axis.

    Raises
    ------
    ValueError
        If ``length > maximum``.

    Examples
    --------
    >>> fit_window(50, 20, 100)
    (40, 60)
    >>> fit_window(5, 20, 100)   # clamped at the start
    (0, 20)
    >>> fit_window(95, 20, 100)  # clamped at the end
    (80, 100)
    >>> fit_window(10, 5, 100)   # odd length: C integer division puts the extra pixel after
    (8, 13)
    """
    center, length, maximum = int(center), int(length), int(maximum)
    if length > maximum or length < 0:
        raise ValueError(_MSG_WINDOW.format(length=length, maximum=maximum, center=center))
    start = center - length // 2
    stop = start + length
    if start < 0:
        return 0, length
    if stop > maximum:
        return maximum - length, maximum
    return start, stop


def crop_box(width: int, height: int, point: Point, aspect_ratio: float) -> Box:
    """Place the program's crop of one aspect ratio around a point.

    The crop keeps the full width when the image is taller than ``aspect_ratio`` (height /
    width), otherwise the full height, and slides along the other axis to centre ``point``.

    Parameters
    ----------
    width, height : int
        Original image size ``W, H`` (pixels).
    point : Point
        Centre wanted, ``(x, y)`` in original pixels (truncated to int).
    aspect_ratio : float
        Crop height / width (compared in float32 with ``H / W``).

    Returns
    -------
    Box
        ``(left, top, width, height)`` inside the image; a side is at least 1 pixel.

    Examples
    --------
    >>> crop_box(1034, 851, Point(129, 336), 0.56)   # wide crop: full width, window on y
    Box(left=0, top=47, width=1034, height=579)
    >>> crop_box(1034, 851, Point(129, 336), 2.0)    # tall crop: full height, window on x
    Box(left=0, top=0, width=426, height=851)
    >>> crop_box(1034, 851, Point(900, 336), 1.0)    # clamped at the right edge
    Box(left=183, top=0, width=851, height=851)
    """
    w_img, h_img = int(width), int(height)
    if w_img <= 0 or h_img <= 0:
        raise ValueError(_MSG_SIZE.format(width=width, height=height))
    ar = np.float32(aspect_ratio)
    if not (np.isfinite(ar) and ar > 0):
        raise ValueError(_MSG_RATIO.format(ratio=aspect_ratio))
    r = np.float32(h_img) / np.float32(w_img)
    if r > ar:
        h = lroundf(np.float32(w_img) * ar)
        top, _ = fit_window(int(point.y), h, h_img)
        return Box(0, top, w_img, max(h, 1))
    w = lroundf(np.float32(h_img) / ar)
    left, _ = fit_window(int(point.x), w, w_img)
    return Box(left, 0, max(w, 1), h_img)


def default_aspect_ratios(width: int, height: int) -> list[float]:
    """Return the program's ratios when none are given: 0.56, 1.0, 1.14, 2.0, then ``H / W``.

    Examples
    --------
    >>> default_aspect_ratios(200, 100)
    [0.56, 1.0, 1.14, 2.0, 0.5]
    """
    if int(width) <= 0 or int(height) <= 0:
        raise ValueError(_MSG_SIZE.format(width=width, height=height))
    return [*DEFAULT_ASPECT_RATIOS, int(height) / int(width)]
