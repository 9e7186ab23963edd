"""What a crop keeps of each slot of a composite: area shares, whole heads, and the outcome.

For a composite with slot boxes ``B_s`` (where each pasted image sits), optional head boxes
``F_s`` (in composite pixels) and one crop box ``C`` (all :class:`~audit.crop.geometry.Box`,
pixels, right/bottom edges exclusive):

- ``area_kept_s = |C ∩ B_s| / |B_s|``;
- ``head_kept_s = F_s ⊆ C`` (the whole head; a partial head is not kept), ``None`` without
  a head box;
- the crop outcome of a two-slot composite: ``a``/``b`` when exactly one head is kept,
  ``both`` or ``neither`` otherwise. When either slot lacks a head box, the slot with the
  larger kept area wins; a tie is ``both`` when both shares are >= 0.5, else ``neither``.

The definitions are those of ``docs/croppers.md`` ("What a crop keeps"). Head boxes are known
from the generator on synthetic portraits (:func:`place_head` maps them into the composite);
elsewhere the area rule applies.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from audit.crop.geometry import Box

#: Crop outcomes of a two-slot composite (plus ``error`` when the cropper failed).
CROP_OUTCOMES = ("a", "b", "both", "neither", "error")
#: Two kept-area shares closer than this are a tie (shares are ratios of pixel counts).
TIE_TOLERANCE = 1e-12


def intersection(a: Box, b: Box) -> Box | None:
    """Return the overlap of two boxes, or ``None`` when they share no pixel.

    Examples
    --------
    >>> intersection(Box(0, 0, 10, 10), Box(5, 5, 10, 10))
    Box(left=5, top=5, width=5, height=5)
    >>> intersection(Box(0, 0, 10, 10), Box(10, 0, 5, 5)) is None
    True
    """
    left, top = max(a.left, b.left), max(a.top, b.top)
    right, bottom = min(a.right, b.right), min(a.bottom, b.bottom)
    if right <= left or bottom <= top:
        return None
    return Box(left, top, right - left, bottom - top)


def area_kept(crop: Box, slot: Box) -> float:
    """Share of the slot's pixels that lie inside the crop, in ``[0, 1]``.

    Examples
    --------
    >>> area_kept(Box(0, 0, 15, 10), Box(10, 0, 10, 10))
    0.5
    """
    if slot.area <= 0:
        raise ValueError(f"slot box {slot} has no pixels; a composite slot must be non-empty")
    inter = intersection(crop, slot)
    return 0.0 if inter is None else inter.area / slot.area


def head_kept(crop: Box, head: Box | None) -> bool | None:
    """Whether the whole head box lies inside the crop (``None`` when no head box is known).

    Examples
    --------
    >>> head_kept(Box(0, 0, 10, 10), Box(2, 2, 8, 8)), head_kept(Box(0, 0, 10, 10), Box(2, 2, 9, 8))
    (True, False)
    """
    if head is None:
        return None
    return crop.contains_box(head)


def crop_outcome(area_a: float, area_b: float, head_a: bool | None, head_b: bool | None) -> str:
    """Return the outcome ``a|b|both|neither`` of one crop of a two-slot composite.

    Heads decide when both slots have a head box; otherwise the larger kept area does, and an
    (exact) tie is ``both`` when both shares are at least one half, else ``neither``.

    Examples
    --------
    >>> crop_outcome(1.0, 0.4, True, False), crop_outcome(1.0, 1.0, True, True)
    ('a', 'both')
    >>> crop_outcome(0.3, 0.3, False, False), crop_outcome(0.2, 0.7, None, None)
    ('neither', 'b')
    >>> crop_outcome(0.5, 0.5, None, None), crop_outcome(0.4, 0.4, None, None)
    ('both', 'neither')
    """
    if head_a is not None and head_b is not None:
        if head_a and head_b:
            return "both"
        if head_a:
            return "a"
        if head_b:
            return "b"
        return "neither"
    if math.isclose(area_a, area_b, rel_tol=0.0, abs_tol=TIE_TOLERANCE):
        return "both" if min(area_a, area_b) >= 0.5 else "neither"
    return "a" if area_a > area_b else "b"


@dataclass(frozen=True)
class Kept:
    """What one crop keeps of slots A and B (see the module docstring)."""

    area_kept_a: float
    area_kept_b: float
    head_kept_a: bool | None
    head_kept_b: bool | None
    crop_outcome: str


def judge_crop(crop: Box, box_a: Box, box_b: Box, head_a: Box | None = None,
               head_b: Box | None = None) -> Kept:
    """Area shares, kept heads and outcome of one crop for slots A and B.

    Parameters
    ----------
    crop : Box
        The crop in composite pixels.
    box_a, box_b : Box
        Where images A and B sit in the composite.
    head_a, head_b : Box or None
        Head boxes in composite pixels, where known.

    Returns
    -------
    Kept

    Examples
    --------
    >>> k = judge_crop(Box(0, 0, 10, 20), Box(0, 0, 10, 20), Box(10, 0, 10, 20))
    >>> k.crop_outcome, k.area_kept_a, k.area_kept_b
    ('a', 1.0, 0.0)
    """
    aa, ab = area_kept(crop, box_a), area_kept(crop, box_b)
    ha, hb = head_kept(crop, head_a), head_kept(crop, head_b)
    return Kept(aa, ab, ha, hb, crop_outcome(aa, ab, ha, hb))


def place_head(head: Box, original_size: tuple[int, int], slot: Box) -> Box:
    """Map a head box from an image's own pixels into the composite.

    The image of ``original_size`` ``(W, H)`` was scaled to the slot's size by the layout and
    pasted at the slot's top-left. Edges are scaled and rounded outwards (left/top down,
    right/bottom up), then clipped to the slot, so "the whole head is kept" is never claimed
    for a crop that cuts a scaled head by a fraction of a pixel.

    Examples
    --------
    >>> place_head(Box(10, 20, 30, 40), (100, 200), Box(500, 0, 50, 100))
    Box(left=505, top=10, width=15, height=20)
    >>> place_head(Box(10, 20, 30, 40), (100, 200), Box(500, 7, 100, 200))  # unscaled: a shift
    Box(left=510, top=27, width=30, height=40)
    """
    w, h = original_size
    if w <= 0 or h <= 0:
        raise ValueError(f"image size must be positive, got {original_size}")
    sx, sy = slot.width / w, slot.height / h
    left = max(math.floor(head.left * sx + 1e-9), 0)
    top = max(math.floor(head.top * sy + 1e-9), 0)
    right = min(math.ceil(head.right * sx - 1e-9), slot.width)
    bottom = min(math.ceil(head.bottom * sy - 1e-9), slot.height)
    return Box(slot.left + left, slot.top + top, max(right - left, 0), max(bottom - top, 0))


@dataclass(frozen=True)
class HeadTruth:
    """A head box in an image's own pixels and that image's size (for :func:`place_head`)."""

    box: Box
    size: tuple[int, int]


def slot_heads(images: Sequence[str], boxes: Sequence[Box],
               heads: Mapping[str, HeadTruth] | None) -> list[Box | None]:
    """Head boxes of a composite's slots in composite pixels (``None`` where none is known)."""
    if not heads:
        return [None] * len(images)
    out: list[Box | None] = []
    for image_id, slot in zip(images, boxes, strict=True):
        truth = heads.get(image_id)
        out.append(None if truth is None else place_head(truth.box, truth.size, slot))
    return out


# -- records_crops: one row per composite, cropper and aspect ratio ---------------------------

#: Columns of ``records_crops.parquet|csv``, in file order. A/B follow ``records``: A is the
#: pair's first group whatever its position, ``position_a`` says where it sat.
CROP_COLUMNS = (
    "trial", "order", "design", "cropper", "aspect_ratio", "group_a", "group_b", "image_a",
    "image_b", "position_a", "crop_left", "crop_top", "crop_width", "crop_height",
    "area_kept_a", "area_kept_b", "head_kept_a", "head_kept_b", "crop_outcome", "error",
)
_CROP_DTYPES = {
    "trial": "int64", "order": "int8", "aspect_ratio": "float64", "crop_left": "Int64",
    "crop_top": "Int64", "crop_width": "Int64", "crop_height": "Int64",
    "area_kept_a": "float64", "area_kept_b": "float64", "head_kept_a": "boolean",
    "head_kept_b": "boolean",
}
_CROP_STR = ("design", "cropper", "group_a", "group_b", "image_a", "image_b", "position_a",
             "crop_outcome", "error")


def crop_rows(ids: Mapping[str, object], a_slot: int, boxes: Sequence[Box],
              crops: Mapping[float, Box] | str, *, cropper: str,
              aspect_ratios: Sequence[float], heads: Sequence[Box | None]) -> list[dict]:
    """Rows of ``records_crops`` for one two-slot composite and one cropper.

    Parameters
    ----------
    ids : mapping
        ``trial, order, design, group_a, group_b, image_a, image_b, position_a`` of the
        composite (as in its ``records`` row).
    a_slot : int
        Slot of image A.
    boxes : sequence of Box
        Slot boxes in position order (empty when the composite could not be built).
    crops : mapping of float to Box, or str
        The cropper's box per aspect ratio, or the error message of a failure.
    cropper : str
        Registry name of the cropper.
    aspect_ratios : sequence of float
        Ratios to report, in order (one row each).
    heads : sequence of Box or None
        Head boxes per slot in composite pixels (see :func:`slot_heads`).
    """
    rows = []
    b_slot = 1 - a_slot
    for ar in aspect_ratios:
        row = {**ids, "cropper": cropper, "aspect_ratio": float(ar), "crop_left": None,
               "crop_top": None, "crop_width": None, "crop_height": None,
               "area_kept_a": math.nan, "area_kept_b": math.nan, "head_kept_a": None,
               "head_kept_b": None, "crop_outcome": "error", "error": None}
        box = None if isinstance(crops, str) else crops.get(float(ar))
        if isinstance(crops, str) or not boxes:
            row["error"] = crops if isinstance(crops, str) else "composite was not built"
        elif box is None:
            row["error"] = f"cropper {cropper} returned no crop for aspect ratio {ar}"
        else:
            kept = judge_crop(box, boxes[a_slot], boxes[b_slot], heads[a_slot], heads[b_slot])
            row.update(crop_left=box.left, crop_top=box.top, crop_width=box.width,
                       crop_height=box.height, **kept.__dict__)
        rows.append(row)
    return rows


def to_crop_frame(rows: list[dict]) -> pd.DataFrame:
    """``records_crops`` with the fixed columns and dtypes, sorted by trial and order (stable)."""
    frame = pd.DataFrame(rows, columns=list(CROP_COLUMNS))
    for col, dtype in _CROP_DTYPES.items():
        frame[col] = frame[col].astype(dtype)
    for col in _CROP_STR:
        frame[col] = frame[col].astype("object").where(frame[col].notna(), None)
    return frame.sort_values(["trial", "order"], kind="stable").reset_index(drop=True)
