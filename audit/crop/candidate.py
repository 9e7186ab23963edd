"""A drop-in for Twitter's ``candidate_crops``: image in, salient point and crops out, same text.

:func:`candidate_crops` runs any :class:`~audit.model.base.SaliencyModel` on one image and applies
the program's rules (:mod:`audit.crop.rules`); :func:`format_program_output` prints the result in
the program's stdout format (section 5 of ``docs/fastgaze.md``), which Twitter's study parsed.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from audit.crop.geometry import Box, Point
from audit.crop.rules import crop_box, default_aspect_ratios, is_symmetric, salient_point
from audit.model.base import SaliencyMap, SaliencyModel

log = logging.getLogger(__name__)

#: Significant digits of C's ``%g``.
_G_PRECISION = 6


@dataclass(frozen=True)
class CropResult:
    """What ``candidate_crops`` computes for one image.

    Attributes
    ----------
    point : Point
        Salient point ``(x, y)`` in original pixels (the argmax cell, truncated to ints).
    crops : list of (float, Box)
        ``(aspect_ratio, box)`` per requested ratio, in order.
    symmetric : bool
        Whether the symmetry rule fired (crops then centred at ``x = (int)(0.5 W)``).
    smap : SaliencyMap
        The model's grid and its cell positions.
    """

    point: Point
    crops: list[tuple[float, Box]]
    symmetric: bool
    smap: SaliencyMap


def candidate_crops(
    image: str | Path | npt.NDArray[np.uint8],
    model: SaliencyModel,
    aspect_ratios: Sequence[float] | None = None,
) -> CropResult:
    """Salient point and one crop per aspect ratio for one image, as the program computes them.

    Parameters
    ----------
    image : str | Path | ndarray of uint8, shape (H, W, 3)
        An image file (decoded as the program does, EXIF orientation applied) or an RGB array
        in display orientation.
    model : SaliencyModel
        Any saliency model; models that cannot take prepared tensors (the external program)
        are given the file or array directly.
    aspect_ratios : sequence of float | None
        Crop height / width ratios; ``None`` gives the program's defaults
        (:func:`~audit.crop.rules.default_aspect_ratios`, ending with ``H / W``).

    Returns
    -------
    CropResult
        Point, crops, symmetry flag and the saliency map.

    Raises
    ------
    ImageError
        If the image cannot be read.
    ValueError
        If a ratio is not a positive number or the model's grid holds NaN.
    """
    from audit.model.preprocess import prepare_array, prepare_file

    is_path = isinstance(image, (str, Path))
    prepared = prepare_file(image, box=model.box) if is_path else prepare_array(
        np.asarray(image), box=model.box)
    if getattr(model, "accepts_prepared", True):
        smap = model.predict([prepared])[0]
    else:
        # The external program resizes by itself; it must see the source, not our pixels.
        smap = model.predict_file(image) if is_path else model.predict_array(np.asarray(image))

    symmetric = is_symmetric(prepared.pixels)
    point, crops = place_crops(smap, symmetric=symmetric, aspect_ratios=aspect_ratios)
    log.debug("salient point %s, symmetric=%s, %d crops", point, symmetric, len(crops))
    return CropResult(point=point, crops=crops, symmetric=symmetric, smap=smap)


def place_crops(
    smap: SaliencyMap, *, symmetric: bool, aspect_ratios: Sequence[float] | None = None
) -> tuple[Point, list[tuple[float, Box]]]:
    """Salient point and one crop per aspect ratio, given a map and the symmetry verdict.

    Parameters
    ----------
    smap : SaliencyMap
        The model's grid for the image.
    symmetric : bool
        Result of :func:`~audit.crop.rules.is_symmetric` on the resized image.
    aspect_ratios : sequence of float | None
        Crop height / width ratios; ``None`` gives the program's defaults.

    Returns
    -------
    point : Point
        The salient point (the argmax cell, as printed by the program).
    crops : list of (float, Box)
        ``(aspect_ratio, box)`` per ratio, in order.
    """
    width, height = smap.image_size
    point = salient_point(smap)
    # Symmetric images are cropped around the horizontal centre; the printed point stays put.
    anchor = Point(int(0.5 * width), point.y) if symmetric else point
    ratios = list(aspect_ratios) if aspect_ratios is not None else default_aspect_ratios(
        width, height)
    return point, [(float(ar), crop_box(width, height, anchor, ar)) for ar in ratios]


def format_g(value: float) -> str:
    """Format a number like C's ``printf("%g")``: 6 significant digits, trailing zeros dropped.

    Parameters
    ----------
    value : float
        The number (a float32 score is promoted to double first, as in C varargs).

    Returns
    -------
    str
        E.g. ``1.32``, ``1.2345e-05``, ``1.23457e+08``, ``-0``, ``nan``, ``inf``.

    Examples
    --------
    >>> format_g(1.32), format_g(0.000012345), format_g(123456789.0), format_g(100000.0)
    ('1.32', '1.2345e-05', '1.23457e+08', '100000')
    """
    v = float(value)
    if math.isnan(v):
        return "-nan" if math.copysign(1.0, v) < 0 else "nan"
    if math.isinf(v):
        return "-inf" if v < 0 else "inf"
    # The exponent X is the one %e would print after rounding to P significant digits.
    mantissa, exp_text = f"{v:.{_G_PRECISION - 1}e}".split("e")
    exponent = int(exp_text)
    if -4 <= exponent < _G_PRECISION:
        text = f"{v:.{_G_PRECISION - 1 - exponent}f}"
        return _strip_zeros(text)
    sign = "-" if exponent < 0 else "+"
    return f"{_strip_zeros(mantissa)}e{sign}{abs(exponent):02d}"


def _strip_zeros(text: str) -> str:
    if "." not in text:
        return text
    return text.rstrip("0").rstrip(".")


def format_program_output(result: CropResult, *, show_all_points: bool) -> str:
    """Render a result as the program's stdout, byte for byte.

    Parameters
    ----------
    result : CropResult
        From :func:`candidate_crops`.
    show_all_points : bool
        Also print one ``x y score`` line per grid cell, row-major; ``x y`` are the cell's
        float32 position in the original image and, like the score, printed as ``%g``.

    Returns
    -------
    str
        ``x y`` line (ints), one ``left top width height`` line per ratio, then the cell
        lines; every line ends with a newline.
    """
    lines = [f"{result.point.x} {result.point.y}"]
    lines += [f"{b.left} {b.top} {b.width} {b.height}" for _, b in result.crops]
    if show_all_points:
        smap = result.smap
        # Cell positions are float32 in the program, printed by C++'s default operator<<
        # (%g, 6 digits): 25.5949, not 25. Only the salient point and crops are ints.
        xs = [format_g(float(np.float32(x))) for x in smap.xs]
        ys = [format_g(float(np.float32(y))) for y in smap.ys]
        for r, y in enumerate(ys):
            row = smap.scores[r]
            lines += [f"{x} {y} {format_g(float(row[c]))}" for c, x in enumerate(xs)]
    return "\n".join(lines) + "\n"
