"""Scale images and paste them into one composite, keeping each image's box.

The composite carries the box of every slot, so the winner of a trial is decided by the box
that contains the salient point, and a point on the canvas fill is a ``background`` outcome.
Coordinates are ``(x, y)`` in composite pixels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from PIL import Image

from audit.compare.settings import LayoutConfig
from audit.crop.geometry import Box


@dataclass(frozen=True)
class Composite:
    """A canvas of pasted images.

    Attributes
    ----------
    pixels : ndarray of uint8, shape (H, W, 3)
        The composite.
    boxes : tuple of Box
        Where each input image sits, in slot (input) order.
    """

    pixels: npt.NDArray[np.uint8]
    boxes: tuple[Box, ...]

    @property
    def size(self) -> tuple[int, int]:
        """``(W, H)`` of the canvas."""
        return int(self.pixels.shape[1]), int(self.pixels.shape[0])

    def slot_of(self, x: float, y: float) -> int:
        """Index of the box holding ``(x, y)``, or -1 when it falls on the canvas fill."""
        return slot_of(self.boxes, x, y)


def slot_of(boxes: Sequence[Box], x: float, y: float) -> int:
    """Return the index of the box holding ``(x, y)``, or -1 for the canvas fill.

    Examples
    --------
    >>> slot_of([Box(0, 0, 10, 10), Box(10, 0, 10, 5)], 12, 7)
    -1
    """
    return next((i for i, box in enumerate(boxes) if box.contains(x, y)), -1)


def scaled_size(width: int, height: int, *, scaling: str, fixed_height: int,
                max_side: int, rounding: str = "round") -> tuple[int, int]:
    """Target ``(w, h)`` of one image under a scaling rule; the aspect ratio is kept.

    ``rounding`` round takes the nearest pixel; floor truncates like the study's
    ``int(w * 256 / h)`` (and never goes below 1 pixel).

    Examples
    --------
    >>> scaled_size(400, 200, scaling="fixed_height", fixed_height=256, max_side=0)
    (512, 256)
    >>> scaled_size(335, 500, scaling="fixed_height", fixed_height=256, max_side=0)
    (172, 256)
    >>> scaled_size(335, 500, scaling="fixed_height", fixed_height=256, max_side=0,
    ...             rounding="floor")
    (171, 256)
    >>> scaled_size(400, 200, scaling="max_side", fixed_height=0, max_side=100)
    (100, 50)
    >>> scaled_size(400, 200, scaling="none", fixed_height=0, max_side=0)
    (400, 200)
    """
    if rounding not in ("round", "floor"):
        raise ValueError(f"compare.layout.size_rounding must be round or floor, got {rounding!r}")
    whole = round if rounding == "round" else int
    if scaling == "none":
        return width, height
    if scaling == "fixed_height":
        # The study's expression, in this order: int(w * 256 / h).
        return max(1, whole(width * fixed_height / height)), fixed_height
    if scaling == "max_side":
        side = max(width, height)
        if side <= max_side:
            return width, height
        f = max_side / side
        return max(1, whole(width * f)), max(1, whole(height * f))
    raise ValueError(
        f"compare.layout.scaling must be none, fixed_height or max_side, got {scaling!r}")


def scale_image(rgb: npt.NDArray[np.uint8], layout: LayoutConfig) -> npt.NDArray[np.uint8]:
    """Apply ``layout.scaling`` to one image with Pillow's ``layout.resample`` filter.

    The paper configs use bicubic, which is what the study's bare ``Image.resize(size)`` does
    in Pillow >= 7 (``resample=None`` means bicubic for RGB images).
    """
    h, w = rgb.shape[:2]
    tw, th = scaled_size(w, h, scaling=layout.scaling, fixed_height=layout.fixed_height,
                         max_side=layout.max_side, rounding=layout.size_rounding)
    if (tw, th) == (w, h):
        return rgb
    out = Image.fromarray(rgb).resize((tw, th), Image.Resampling[layout.resample.upper()])
    return np.asarray(out, dtype=np.uint8)


def study_slot(boxes: Sequence[Box], x: float, y: float, direction: str = "horizontal") -> int:
    """Slot the study's ``locate_which_img`` gives a point, or -1 outside every image's band.

    The study judged by the point's column only (``x`` within the image's x-range), so a point
    on the canvas fill below a shorter image counts for that image. For a vertical layout the
    band is the image's row range. A point in no band (padding) is -1, ``background``.

    Examples
    --------
    >>> boxes = [Box(0, 0, 10, 10), Box(10, 0, 10, 5)]
    >>> study_slot(boxes, 12, 7), slot_of(boxes, 12, 7)
    (1, -1)
    >>> study_slot([Box(1, 1, 10, 10), Box(12, 1, 10, 10)], 11.5, 3)
    -1
    """
    if direction == "horizontal":
        return next((i for i, b in enumerate(boxes) if b.left <= x < b.right), -1)
    return next((i for i, b in enumerate(boxes) if b.top <= y < b.bottom), -1)


def layout_boxes(sizes: Sequence[tuple[int, int]], layout: LayoutConfig
                 ) -> tuple[tuple[int, int], tuple[Box, ...]]:
    """Return the canvas ``(W, H)`` and slot boxes of :func:`compose`, from the sizes only.

    Examples
    --------
    >>> layout_boxes([(30, 20), (10, 40)], LayoutConfig())
    ((40, 40), (Box(left=0, top=0, width=30, height=20), Box(left=30, top=0, width=10, height=40)))
    >>> layout_boxes([(30, 20), (10, 40)], LayoutConfig(margin=[5, 2, 0, 0]))[0]
    (45, 42)
    """
    pad = int(layout.padding)
    horizontal = layout.direction == "horizontal"
    if horizontal:
        canvas = (sum(w for w, _ in sizes) + pad * (len(sizes) + 1),
                  max(h for _, h in sizes) + 2 * pad)
    else:
        canvas = (max(w for w, _ in sizes) + 2 * pad,
                  sum(h for _, h in sizes) + pad * (len(sizes) + 1))
    boxes, cursor = [], pad
    for w, h in sizes:
        if horizontal:
            slack = canvas[1] - 2 * pad - h
            boxes.append(Box(cursor, pad + (slack // 2 if layout.align == "center" else 0), w, h))
            cursor += w + pad
        else:
            slack = canvas[0] - 2 * pad - w
            boxes.append(Box(pad + (slack // 2 if layout.align == "center" else 0), cursor, w, h))
            cursor += h + pad
    ml, mt, mr, mb = (int(m) for m in layout.margin)
    if ml or mt or mr or mb:
        # extra fill on some sides (experiment=robustness): shifts every slot by (ml, mt)
        canvas = (canvas[0] + ml + mr, canvas[1] + mt + mb)
        boxes = [Box(b.left + ml, b.top + mt, b.width, b.height) for b in boxes]
    return canvas, tuple(boxes)


def filled_canvas(height: int, width: int, colour: Sequence[int]) -> npt.NDArray[np.uint8]:
    """Return an RGB canvas of one colour (numpy's broadcast of a 3-vector is ~70x slower)."""
    r, g, b = (int(c) for c in colour)
    if r == g == b:
        return np.full((height, width, 3), r, dtype=np.uint8)
    canvas = np.empty((height, width, 3), dtype=np.uint8)
    canvas[..., 0], canvas[..., 1], canvas[..., 2] = r, g, b
    return canvas


def compose(images: Sequence[npt.NDArray[np.uint8]], layout: LayoutConfig) -> Composite:
    """Paste already-scaled images side by side (or stacked) on a filled canvas.

    Parameters
    ----------
    images : sequence of uint8 arrays, shape (h_i, w_i, 3)
        In slot order: the first goes left (horizontal) or top (vertical).
    layout : LayoutConfig
        Direction, padding between and around images, fill colour and alignment.

    Returns
    -------
    Composite
        The canvas and each image's box.
    """
    if not images:
        raise ValueError("compose needs at least one image")
    (canvas_w, canvas_h), boxes = layout_boxes(
        [(int(im.shape[1]), int(im.shape[0])) for im in images], layout)
    canvas = filled_canvas(canvas_h, canvas_w, layout.pad_color)
    for im, b in zip(images, boxes, strict=True):
        canvas[b.top:b.bottom, b.left:b.right] = im
    return Composite(canvas, boxes)


def position_name(slot: int, n_slots: int, direction: str) -> str:
    """Human name of a slot: left/right or top/bottom for two slots, else ``pos<i>``."""
    if n_slots == 2:
        names = ("left", "right") if direction == "horizontal" else ("top", "bottom")
        return names[slot]
    return f"pos{slot}"
