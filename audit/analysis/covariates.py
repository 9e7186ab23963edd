"""Per-image covariates for the regressions: size, brightness, contrast, face size, skin tone.

Input: one ``uint8`` RGB image (H x W x 3) and optionally a face box in image pixels ``(x, y)``.
Output: a flat dict of floats. Colour conversion (sRGB -> CIE XYZ -> CIELAB, D65 white) is done
here in numpy so the numbers do not depend on an imaging library's defaults.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import numpy as np
import numpy.typing as npt
import pandas as pd
from tqdm.auto import tqdm

from audit.crop.geometry import Box

log = logging.getLogger(__name__)

COVARIATE_COLUMNS = (
    "log_area", "mean_luminance", "rms_contrast", "mean_lightness", "face_area_share",
    "skin_lightness", "skin_b", "ita",
)  # fmt: skip

# sRGB primaries to XYZ, D65 white (IEC 61966-2-1)
_SRGB_TO_XYZ = np.array(
    [[0.4124564, 0.3575761, 0.1804375],
     [0.2126729, 0.7151522, 0.0721750],
     [0.0193339, 0.1191920, 0.9503041]]
)  # fmt: skip
_D65_WHITE = np.array([0.95047, 1.0, 1.08883])
# central share (per side) of the face box taken as skin: keeps hair and background out
_SKIN_FRACTION = 0.5
#: Rows converted at a time when streaming the colour statistics (bounded memory).
_ROWS_PER_BLOCK = 256
_MSG_IMAGE = "covariates need a uint8 RGB array of shape (H, W, 3), got dtype {dtype} shape {shape}"


def srgb_to_linear(rgb: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Undo the sRGB transfer curve; input ``uint8`` (0-255) or float in [0, 1]."""
    c = np.asarray(rgb)
    c = c.astype(np.float64) / 255.0 if c.dtype == np.uint8 else c.astype(np.float64)
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def srgb_to_lab(rgb: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Convert sRGB (``uint8`` or float in [0, 1], last axis RGB) to CIELAB under D65.

    Returns
    -------
    numpy.ndarray
        Same shape, last axis ``(L*, a*, b*)``; L* in [0, 100].

    Examples
    --------
    >>> bool(np.allclose(srgb_to_lab(np.array([255, 255, 255], np.uint8)), [100, 0, 0], atol=1e-3))
    True
    """
    xyz = srgb_to_linear(rgb) @ _SRGB_TO_XYZ.T / _D65_WHITE
    eps = (6.0 / 29.0) ** 3
    f = np.where(xyz > eps, np.cbrt(xyz), xyz / (3 * (6.0 / 29.0) ** 2) + 4.0 / 29.0)
    lab = np.empty_like(f)
    lab[..., 0] = 116.0 * f[..., 1] - 16.0
    lab[..., 1] = 500.0 * (f[..., 0] - f[..., 1])
    lab[..., 2] = 200.0 * (f[..., 1] - f[..., 2])
    return lab


def individual_typology_angle(lightness: float, b_star: float) -> float:
    """ITA in degrees, ``arctan((L* - 50) / b*) * 180 / pi`` (higher = lighter skin).

    ``b* == 0`` gives +/-90 degrees (the limit), ``NaN`` inputs give ``NaN``.

    Examples
    --------
    >>> round(individual_typology_angle(65.0, 15.0), 1)
    45.0
    """
    if np.isnan(lightness) or np.isnan(b_star):
        return float("nan")
    if b_star == 0:
        return float(np.sign(lightness - 50.0) * 90.0)
    return float(np.degrees(np.arctan((lightness - 50.0) / b_star)))


def compute_image_covariates(
    rgb: npt.NDArray[np.uint8], *, face_box: Box | None = None
) -> dict[str, float]:
    """Per-image covariates for the win and saliency regressions.

    Parameters
    ----------
    rgb : numpy.ndarray of uint8, shape (H, W, 3)
        The image as fed to the cropper.
    face_box : Box, optional
        Face rectangle in image pixels (``left, top, width, height``, x first); clipped to the
        image. Without it the face and skin covariates are ``NaN``.

    Returns
    -------
    dict of str to float
        ``log_area`` (natural log of W*H), ``mean_luminance`` and ``rms_contrast`` (mean and
        standard deviation of relative luminance Y from linear sRGB, 0-1), ``mean_lightness``
        (mean L*), ``face_area_share`` (face box area / image area), ``skin_lightness`` and
        ``skin_b`` (mean L* and b* over the central half, per side, of the face box) and ``ita``
        (individual typology angle from those two means, degrees).

    Raises
    ------
    ValueError
        If ``rgb`` is not a ``uint8`` (H, W, 3) array.
    """
    arr = np.asarray(rgb)
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3 or 0 in arr.shape:
        raise ValueError(_MSG_IMAGE.format(dtype=arr.dtype, shape=arr.shape))
    height, width = arr.shape[:2]
    # Streamed over row blocks: float Lab of a 25-megapixel scan at once would take gigabytes.
    total = total_sq = total_l = 0.0
    for start in range(0, height, _ROWS_PER_BLOCK):
        block = arr[start:start + _ROWS_PER_BLOCK]
        lum = srgb_to_linear(block) @ _SRGB_TO_XYZ[1]
        total += float(lum.sum())
        total_sq += float(np.square(lum).sum())
        total_l += float(srgb_to_lab(block)[..., 0].sum())
    n = width * height
    mean = total / n
    out = {
        "log_area": float(np.log(n)),
        "mean_luminance": mean,
        "rms_contrast": float(np.sqrt(max(total_sq / n - mean * mean, 0.0))),
        "mean_lightness": total_l / n,
        "face_area_share": float("nan"),
        "skin_lightness": float("nan"),
        "skin_b": float("nan"),
        "ita": float("nan"),
    }
    if face_box is None:
        return out
    left, top = max(face_box.left, 0), max(face_box.top, 0)
    right, bottom = min(face_box.right, width), min(face_box.bottom, height)
    if right <= left or bottom <= top:
        log.warning("face box %s lies outside the %dx%d image; skin covariates NaN",
                    face_box, width, height)  # fmt: skip
        return out
    out["face_area_share"] = (right - left) * (bottom - top) / (width * height)
    margin_x = (right - left) * (1 - _SKIN_FRACTION) / 2
    margin_y = (bottom - top) * (1 - _SKIN_FRACTION) / 2
    x0, x1 = int(round(left + margin_x)), int(round(right - margin_x))
    y0, y1 = int(round(top + margin_y)), int(round(bottom - margin_y))
    skin = srgb_to_lab(arr[y0 : max(y1, y0 + 1), x0 : max(x1, x0 + 1)]).reshape(-1, 3)
    out["skin_lightness"] = float(skin[:, 0].mean())
    out["skin_b"] = float(skin[:, 2].mean())
    out["ita"] = individual_typology_angle(out["skin_lightness"], out["skin_b"])
    return out


def build_covariate_table(
    items: Iterable[tuple[str, npt.NDArray[np.uint8], Box | None]], *, progress: bool = False
) -> pd.DataFrame:
    """Covariates for many images: one row per ``(image_id, rgb, face_box)`` item.

    Returns
    -------
    pandas.DataFrame
        Index ``id`` (image id), columns ``COVARIATE_COLUMNS``.
    """
    rows = {
        image_id: compute_image_covariates(rgb, face_box=box)
        for image_id, rgb, box in tqdm(items, desc="covariates", disable=not progress)
    }
    table = pd.DataFrame.from_dict(rows, orient="index", columns=list(COVARIATE_COLUMNS))
    table.index.name = "id"
    return table
