"""Draw a crop result: the image, its saliency heat map, the salient point and each crop.

One panel per crop, like the original ``plot_img_crops`` view. Returns a matplotlib
:class:`~matplotlib.figure.Figure` built without pyplot, so it works headless (Agg) and never
touches global figure state; saving is the caller's job.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from audit.crop.candidate import CropResult
from audit.model.base import CELL

#: Heat-map opacity over the photo.
_HEAT_ALPHA = 0.45
#: Longest side of the upsampled heat map; enough for a screen figure, cheap for big photos.
_HEAT_MAX_SIDE = 640


def saliency_overlay(result: CropResult) -> tuple[npt.NDArray[np.float32], tuple[float, ...]]:
    """Upsample the grid bilinearly and give its extent in original-image pixels.

    Parameters
    ----------
    result : CropResult
        Holds the grid and the image/resized sizes.

    Returns
    -------
    heat : ndarray of float32, shape (h, w)
        Bilinear upsampling of the score grid (cell centres aligned).
    extent : tuple of float
        ``(left, right, bottom, top)`` for :meth:`~matplotlib.axes.Axes.imshow`: the grid covers
        ``16 * cols`` by ``16 * rows`` resized pixels, mapped back to original pixels.
    """
    smap = result.smap
    rows, cols = smap.scores.shape
    (w, h), (rw, rh) = smap.image_size, smap.resized_size
    f = min(w / rw, h / rh)
    scale = _HEAT_MAX_SIDE / max(rows, cols)
    out = (max(1, round(rows * scale)), max(1, round(cols * scale)))
    grid = torch.from_numpy(np.ascontiguousarray(smap.scores, dtype=np.float32))[None, None]
    heat = F.interpolate(grid, size=out, mode="bilinear", align_corners=False)[0, 0].numpy()
    extent = (0.0, cols * CELL * f, rows * CELL * f, 0.0)
    return heat, extent


def plot_crops(
    rgb: npt.NDArray[np.uint8], result: CropResult, *, max_cols: int = 3, panel_size: float = 4.0
) -> Figure:
    """One panel per crop: image, translucent saliency heat map, salient point, crop rectangle.

    Parameters
    ----------
    rgb : ndarray of uint8, shape (H, W, 3)
        The original image in display orientation (the size the result's coordinates use).
    result : CropResult
        From :func:`audit.crop.candidate.candidate_crops`.
    max_cols : int
        Panels per figure row.
    panel_size : float
        Width of one panel in inches.

    Returns
    -------
    Figure
        A figure with ``len(result.crops)`` image panels (one when there are no crops).
    """
    w, h = result.smap.image_size
    if rgb.shape[1] != w or rgb.shape[0] != h:
        raise ValueError(
            f"plot_crops got an image of {rgb.shape[1]}x{rgb.shape[0]} px but the result is for "
            f"{w}x{h} px; pass the image in display orientation"
        )
    n = max(1, len(result.crops))
    ncols = min(n, max_cols)
    nrows = math.ceil(n / ncols)
    aspect = h / w
    fig = Figure(figsize=(panel_size * ncols, (panel_size * aspect + 0.4) * nrows + 0.3),
                 layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    heat, extent = saliency_overlay(result)
    crops = result.crops or [(float("nan"), None)]
    for ax, (ratio, box) in zip(axes.ravel(), crops, strict=False):
        ax.imshow(rgb, extent=(0, w, h, 0))
        ax.imshow(heat, extent=extent, cmap="inferno", alpha=_HEAT_ALPHA)
        ax.set_xlim(0, w)
        ax.set_ylim(h, 0)
        ax.plot([result.point.x], [result.point.y], "o", color="yellow", ms=10, mec="black")
        if box is not None:
            ax.add_patch(Rectangle((box.left, box.top), box.width, box.height, fill=False,
                                   edgecolor="yellow", linewidth=2))
            ax.set_title(f"ratio {ratio:.3g}: {box.width}x{box.height} at ({box.left}, {box.top})",
                         fontsize=9)
        ax.set_axis_off()
    for ax in axes.ravel()[len(crops):]:
        ax.set_axis_off()
    title = f"salient point ({result.point.x}, {result.point.y})"
    if result.symmetric:
        title += "; symmetric: crops centred horizontally"
    fig.suptitle(title, fontsize=10)
    return fig
