from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from audit.crop.geometry import Box, Point
from audit.gaze.head import crop_column, gaze_outcomes, summarize_gaze

HEAD = Box(40, 10, 20, 30)
CROPS = {1.0: Box(30, 0, 50, 50), 0.56: Box(45, 0, 28, 50)}


def test_crop_column_names():
    assert crop_column(1.0) == "crop_contains_head_1"
    assert crop_column(0.56) == "crop_contains_head_0.56"


@pytest.mark.parametrize(
    ("point", "on_head"),
    [(Point(50, 20), True), (Point(40, 10), True), (Point(60, 20), False),
     (Point(50, 40), False), (Point(5, 5), False)],
)
def test_gaze_outcomes_truth_table(point, on_head):
    out = gaze_outcomes(point, CROPS, HEAD)
    assert out == {"has_face": True, "point_on_head": on_head,
                   "crop_contains_head_1": True, "crop_contains_head_0.56": False}


def test_gaze_outcomes_without_face_are_missing():
    out = gaze_outcomes(Point(50, 20), CROPS, None)
    assert out == {"has_face": False, "point_on_head": None,
                   "crop_contains_head_1": None, "crop_contains_head_0.56": None}


def wilson(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def test_summarize_gaze_counts_shares_and_wilson_intervals():
    per_image = pd.DataFrame({
        "gender": ["female"] * 5 + ["male"] * 3,
        "point_on_head": [True, True, True, False, None, True, False, False],
        "crop_contains_head_1": [True, True, False, False, None, True, True, True],
        "crop_contains_head_0.56": [False, False, False, False, None, True, False, False],
    })
    s = summarize_gaze(per_image, group="gender")
    assert len(s) == 4  # 2 groups x 2 aspect ratios
    f1 = s[(s.group == "female") & (s.aspect_ratio == 1.0)].iloc[0]
    assert (f1.n, f1.n_no_face, f1.n_face) == (5, 1, 4)
    assert f1.share_point_on_head == 0.75
    lo, hi = wilson(3, 4)
    assert f1.point_on_head_low == pytest.approx(lo) and f1.point_on_head_high == pytest.approx(hi)
    assert f1.share_crop_contains_head == 0.5
    f056 = s[(s.group == "female") & (s.aspect_ratio == 0.56)].iloc[0]
    assert f056.share_crop_contains_head == 0.0
    assert f056.crop_contains_head_low == pytest.approx(0.0, abs=1e-12)
    assert f056.crop_contains_head_high == pytest.approx(wilson(0, 4)[1])
    m = s[(s.group == "male") & (s.aspect_ratio == 1.0)].iloc[0]
    assert m.share_point_on_head == pytest.approx(1 / 3) and m.n_no_face == 0


def test_summarize_gaze_without_crop_columns_and_all_missing():
    per_image = pd.DataFrame({"gender": ["f", "f"], "point_on_head": [None, None]})
    s = summarize_gaze(per_image, group="gender")
    assert len(s) == 1
    row = s.iloc[0]
    assert row.n_no_face == 2 and row.n_face == 0
    assert np.isnan(row.share_point_on_head) and np.isnan(row.aspect_ratio)


def test_summarize_gaze_names_missing_column():
    with pytest.raises(KeyError, match="no column 'gender'"):
        summarize_gaze(pd.DataFrame({"point_on_head": [True]}))
