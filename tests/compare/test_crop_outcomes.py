"""Crop-outcome geometry on hand-built composites with known boxes and heads."""

import math

import pytest

from audit.compare.crop_outcomes import (
    HeadTruth,
    area_kept,
    crop_outcome,
    crop_rows,
    judge_crop,
    place_head,
    slot_heads,
    to_crop_frame,
)
from audit.compare.layout import layout_boxes
from audit.compare.settings import LayoutConfig
from audit.crop.geometry import Box, Point
from audit.crop.rules import crop_box

# A horizontal pair: A is 100x80 at the left, B is 60x100 at the right (no padding).
(W, H), (A, B) = layout_boxes([(100, 80), (60, 100)], LayoutConfig())
HEAD_A = Box(30, 10, 40, 40)
HEAD_B = Box(110, 20, 30, 30)


def test_layout_of_the_hand_built_pair():
    assert (W, H) == (160, 100)
    assert A == Box(0, 0, 100, 80) and B == Box(100, 0, 60, 100)


@pytest.mark.parametrize(("crop", "expected"), [
    (Box(0, 0, 160, 100), ("both", 1.0, 1.0, True, True)),        # the whole canvas
    (Box(0, 0, 50, 100), ("neither", 0.5, 0.0, False, False)),    # cuts A's head
    (Box(20, 0, 60, 100), ("a", 0.6, 0.0, True, False)),
    (Box(100, 0, 50, 100), ("b", 0.0, 50 / 60, False, True)),
    (Box(60, 0, 100, 100), ("b", 0.4, 1.0, False, True)),         # A's head cut at x=70
    (Box(25, 5, 130, 50), ("both", 75 * 50 / 8000, 55 * 50 / 6000, True, True)),
])
def test_heads_decide_when_both_slots_have_one(crop, expected):
    kept = judge_crop(crop, A, B, HEAD_A, HEAD_B)
    outcome, area_a, area_b, head_a, head_b = expected
    assert kept.crop_outcome == outcome
    assert kept.area_kept_a == pytest.approx(area_a, abs=1e-12)
    assert kept.area_kept_b == pytest.approx(area_b, abs=1e-12)
    assert (kept.head_kept_a, kept.head_kept_b) == (head_a, head_b)


def test_head_on_the_crop_edge_is_kept_one_pixel_less_is_not():
    # HEAD_A covers columns 30..69: a crop ending at 70 (exclusive) keeps it, at 69 does not
    assert judge_crop(Box(0, 0, 70, 100), A, B, HEAD_A, HEAD_B).head_kept_a is True
    assert judge_crop(Box(0, 0, 69, 100), A, B, HEAD_A, HEAD_B).head_kept_a is False


def test_larger_kept_area_decides_without_heads():
    assert judge_crop(Box(0, 0, 100, 100), A, B).crop_outcome == "a"      # 1.0 vs 0
    assert judge_crop(Box(70, 0, 90, 100), A, B).crop_outcome == "b"      # 0.3 vs 1.0
    # only one slot has a head box: the area rule applies, the known head is still reported
    kept = judge_crop(Box(70, 0, 90, 100), A, B, HEAD_A, None)
    assert kept.crop_outcome == "b" and kept.head_kept_a is False and kept.head_kept_b is None


def test_area_ties_are_both_at_half_or_more_else_neither():
    # two equal 100x100 slots side by side
    (_, _), (p, q) = layout_boxes([(100, 100), (100, 100)], LayoutConfig())
    assert judge_crop(Box(50, 0, 100, 100), p, q).crop_outcome == "both"  # 0.5 and 0.5
    assert judge_crop(Box(60, 0, 80, 100), p, q).crop_outcome == "neither"  # 0.4 and 0.4
    assert judge_crop(Box(0, 0, 200, 100), p, q).crop_outcome == "both"   # 1.0 and 1.0
    assert crop_outcome(0.0, 0.0, None, None) == "neither"


def test_vertical_layout_with_padding_tall_and_wide_crops():
    layout = LayoutConfig(direction="vertical", padding=10)
    (w, h), (top, bottom) = layout_boxes([(100, 100), (100, 100)], layout)
    assert (w, h) == (120, 230)
    assert top == Box(10, 10, 100, 100) and bottom == Box(10, 120, 100, 100)
    heads = [Box(40, 30, 40, 40), Box(40, 140, 40, 40)]
    # a wide crop (ratio 0.56) of a tall stack keeps one face, centred on the lower one
    wide = crop_box(w, h, Point(60, 160), 0.56)
    assert wide == Box(0, 127, 120, 67)
    kept = judge_crop(wide, top, bottom, *heads)
    assert kept.crop_outcome == "b" and kept.area_kept_a == 0.0
    assert kept.area_kept_b == pytest.approx(67 * 100 / 100 ** 2)
    # a tall crop (ratio 2.0) is the full height: both images kept whole
    tall = crop_box(w, h, Point(60, 160), 2.0)
    assert tall == Box(3, 0, 115, 230)
    assert judge_crop(tall, top, bottom, *heads).crop_outcome == "both"


def test_horizontal_pair_cropped_tall_keeps_at_most_one_face():
    (w, h), boxes = layout_boxes([(200, 200), (200, 200)], LayoutConfig())
    heads = [Box(70, 40, 60, 70), Box(270, 40, 60, 70)]
    outcomes = {}
    for ar in (0.56, 1.0, 1.14, 2.0):
        for x in range(0, w, 25):
            crop = crop_box(w, h, Point(x, 100), ar)
            outcomes.setdefault(ar, set()).add(judge_crop(crop, *boxes, *heads).crop_outcome)
    assert "both" not in outcomes[2.0] and "both" not in outcomes[1.0]
    assert outcomes[0.56] == {"both"}  # 0.56 of a 400x200 canvas is the full width


def test_place_head_scales_and_offsets_into_the_composite():
    layout = LayoutConfig(scaling="fixed_height", fixed_height=100, padding=5)
    (_, _), (a, b) = layout_boxes([(100, 100), (50, 100)], layout)  # sizes after scaling
    # originals: A was 200x200 (scaled by 0.5), B was 100x200 (scaled by 0.5)
    truths = {"x": HeadTruth(Box(60, 40, 80, 81), (200, 200)),
              "y": HeadTruth(Box(0, 0, 100, 200), (100, 200))}
    ha, hb = slot_heads(["x", "y"], [a, b], truths)
    assert a == Box(5, 5, 100, 100) and b == Box(110, 5, 50, 100)
    assert ha == Box(5 + 30, 5 + 20, 40, 41)  # bottom 121 * 0.5 = 60.5 rounds outwards to 61
    assert hb == b                            # the whole image
    assert slot_heads(["x", "z"], [a, b], truths)[1] is None
    assert slot_heads(["x", "y"], [a, b], None) == [None, None]


def test_area_kept_needs_a_non_empty_slot():
    with pytest.raises(ValueError, match="no pixels"):
        area_kept(Box(0, 0, 5, 5), Box(0, 0, 0, 5))
    with pytest.raises(ValueError, match="positive"):
        place_head(Box(0, 0, 1, 1), (0, 5), Box(0, 0, 5, 5))


def test_crop_rows_follow_a_and_b_not_positions_and_record_errors():
    ids = {"trial": 3, "order": 1, "design": "pairwise", "group_a": "g1", "group_b": "g2",
           "image_a": "ia", "image_b": "ib", "position_a": "right"}
    # order 1: A sits in slot 1 (the right one, B's box above)
    crops = {1.0: Box(100, 0, 60, 100), 2.0: Box(0, 0, 50, 100)}
    rows = crop_rows(ids, 1, (A, B), crops, cropper="c", aspect_ratios=[1.0, 2.0, 0.56],
                     heads=[HEAD_A, HEAD_B])
    frame = to_crop_frame(rows)
    assert list(frame["crop_outcome"]) == ["a", "neither", "error"]
    assert frame.loc[0, "area_kept_a"] == 1.0 and frame.loc[0, "area_kept_b"] == 0.0
    assert "no crop for aspect ratio 0.56" in frame.loc[2, "error"]
    assert frame["crop_width"].dtype.name == "Int64" and frame["head_kept_a"].isna()[2]
    failed = to_crop_frame(crop_rows(ids, 1, (A, B), "ModelError: boom", cropper="c",
                                     aspect_ratios=[1.0], heads=[None, None]))
    assert failed.loc[0, "crop_outcome"] == "error" and failed.loc[0, "error"] == (
        "ModelError: boom")
    assert math.isnan(failed.loc[0, "area_kept_a"])
