"""Record schemas: one tidy row per composite, columns fixed and documented here.

Pairwise designs (pairwise, baseline, counterfactual) use ``_a``/``_b`` columns; A is the
first group of the pair whatever its position, and ``position_a`` says where it sat. k-way
designs (all_groups, counterfactual_kway) keep per-slot lists in position order.

Two attributions of the salient point are kept side by side. ``outcome`` is cropaudit's: the
image whose *box* holds the point, ``background`` on the canvas fill. ``outcome_study`` is the
study's (``locate_which_img``): the image whose *column* (x-range; row range when stacked
vertically) holds the point, so fill under a shorter image counts for that image, and only a
point in no image's band (padding) is ``background``. k-way records add ``winner_group_study``.

``cropper`` names the cropper whose focus point decided ``outcome`` (``compare.croppers``: one
row per composite and cropper with a point; ``model`` is the saliency model, or the cropper's
name for croppers without one). What each crop keeps is in ``records_crops``
(:mod:`audit.compare.crop_outcomes`).
"""

from __future__ import annotations

import pandas as pd

PAIR_DESIGNS = ("pairwise", "baseline", "counterfactual")
KWAY_DESIGNS = ("all_groups", "counterfactual_kway")
OUTCOMES_PAIR = ("a", "b", "background", "error")
OUTCOMES_KWAY = ("win", "background", "error")

_COMMON = [
    "trial", "order", "design", "trial_seed", "model", "composite_w", "composite_h",
    "point_x", "point_y", "outcome", "score_max", "error",
]
_BOX = ["left", "top", "width", "height"]

#: Columns of pairwise-type records, in file order.
PAIR_COLUMNS = (
    _COMMON[:4]
    + ["group_a", "group_b", "image_a", "image_b", "position_a", "position_b"]
    + [f"box_a_{k}" for k in _BOX] + [f"box_b_{k}" for k in _BOX]
    + _COMMON[4:] + ["cropper"]
    + ["a_wins", "score_max_a", "score_max_b", "p_a_sample", "p_a_topk", "mass_a", "mass_b",
       "outcome_study"]
)

#: Columns of k-way records, in file order.
KWAY_COLUMNS = (
    _COMMON[:4] + ["k", "groups", "images", "boxes"] + _COMMON[4:]
    + ["winner_group", "winner_slot", "mass_shares", "p_sample_slots", "outcome_study",
       "winner_group_study"]
)

_PAIR_DTYPES = {
    "trial": "int64", "order": "int8", "trial_seed": "int64", "composite_w": "int64",
    "composite_h": "int64", "point_x": "float64", "point_y": "float64",
    "score_max": "float64", "a_wins": "Int8", "score_max_a": "float64",
    "score_max_b": "float64", "p_a_sample": "float64", "p_a_topk": "float64",
    "mass_a": "float64", "mass_b": "float64",
    **{f"box_{s}_{k}": "int64" for s in "ab" for k in _BOX},
}
_KWAY_DTYPES = {
    "trial": "int64", "order": "int8", "trial_seed": "int64", "k": "int64",
    "composite_w": "int64", "composite_h": "int64", "point_x": "float64",
    "point_y": "float64", "score_max": "float64", "winner_slot": "Int64",
}
_STR_COLUMNS = ("design", "model", "cropper", "outcome", "error", "group_a", "group_b", "image_a",
                "image_b", "position_a", "position_b", "winner_group", "outcome_study",
                "winner_group_study")


def to_frame(rows: list[dict], *, kway: bool) -> pd.DataFrame:
    """Build a records table with the fixed column order and dtypes, sorted by trial and order."""
    columns = KWAY_COLUMNS if kway else PAIR_COLUMNS
    dtypes = _KWAY_DTYPES if kway else _PAIR_DTYPES
    frame = pd.DataFrame(rows, columns=columns)
    for col, dtype in dtypes.items():
        frame[col] = frame[col].astype(dtype)
    for col in _STR_COLUMNS:
        if col in frame:
            frame[col] = frame[col].astype("object").where(frame[col].notna(), None)
    return frame.sort_values(["trial", "order"], kind="stable").reset_index(drop=True)


def validate_records(records: pd.DataFrame, *, kway: bool) -> None:
    """Check columns and outcome values; raise ``ValueError`` naming what is wrong."""
    columns = KWAY_COLUMNS if kway else PAIR_COLUMNS
    missing = [c for c in columns if c not in records.columns]
    if missing:
        raise ValueError(f"records table lacks columns {missing}")
    allowed = OUTCOMES_KWAY if kway else OUTCOMES_PAIR
    for col in ("outcome", "outcome_study"):
        bad = sorted(set(records[col].dropna()) - set(allowed))
        if bad:
            raise ValueError(f"records table has unknown values {bad} in {col}; "
                             f"allowed {list(allowed)}")
