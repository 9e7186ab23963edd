from __future__ import annotations

import numpy as np
import pytest

from audit.crop.geometry import Box, Point
from audit.crop.rules import (
    crop_box,
    default_aspect_ratios,
    fit_window,
    is_symmetric,
    lroundf,
    salient_cell,
    salient_point,
    symmetry_score,
)
from audit.model.base import SaliencyMap


@pytest.mark.parametrize(
    ("x", "expected"),
    [(2.5, 3), (-2.5, -3), (0.5, 1), (-0.5, -1), (1.4999999, 1), (2.4, 2), (-2.6, -3),
     (0.0, 0), (579.04, 579), (425.5, 426), (0.49999997, 0)],
)
def test_lroundf_rounds_halves_away_from_zero(x: float, expected: int) -> None:
    assert lroundf(x) == expected


def test_lroundf_uses_float32_input() -> None:
    # 2.4999999999 is exactly 2.5 in float32, so it rounds up; double maths would give 2.
    assert lroundf(2.4999999999) == 3
    assert lroundf(np.float32(1034) * np.float32(0.56)) == 579


def test_lroundf_rejects_nan() -> None:
    with pytest.raises(ValueError, match="non-finite"):
        lroundf(float("nan"))


@pytest.mark.parametrize(
    ("center", "length", "maximum", "expected"),
    [
        (50, 20, 100, (40, 60)),
        (5, 20, 100, (0, 20)),        # clamped at the start
        (95, 20, 100, (80, 100)),     # clamped at the end
        (10, 5, 100, (8, 13)),        # odd length: 5 // 2 = 2 before the centre
        (0, 100, 100, (0, 100)),      # full axis
        (99, 100, 100, (0, 100)),
        (7, 0, 10, (7, 7)),           # empty window stays at the centre
        (10, 20, 20, (0, 20)),
    ],
)
def test_fit_window_table(center: int, length: int, maximum: int,
                          expected: tuple[int, int]) -> None:
    assert fit_window(center, length, maximum) == expected


def test_fit_window_longer_than_axis_is_an_error() -> None:
    with pytest.raises(ValueError, match="length 101 does not fit in 100 pixels"):
        fit_window(50, 101, 100)


@pytest.mark.parametrize(
    ("w", "h", "point", "ar", "expected"),
    [
        # Twitter's dummy image (1034x851) with its salient point (129, 336).
        (1034, 851, Point(129, 336), 0.56, Box(0, 47, 1034, 579)),
        (1034, 851, Point(129, 336), 1.0, Box(0, 0, 851, 851)),
        (1034, 851, Point(129, 336), 1.14, Box(0, 0, 746, 851)),
        (1034, 851, Point(129, 336), 2.0, Box(0, 0, 426, 851)),
        (1034, 851, Point(129, 336), 851 / 1034, Box(0, 0, 1034, 851)),  # ratio == H/W
        (1034, 851, Point(900, 336), 1.0, Box(183, 0, 851, 851)),  # clamped right
        (100, 400, Point(50, 10), 1.0, Box(0, 0, 100, 100)),  # clamped top
        (100, 400, Point(50, 390), 1.0, Box(0, 300, 100, 100)),  # clamped bottom
        (100, 400, Point(50, 200), 1.0, Box(0, 150, 100, 100)),  # centred
        (200, 100, Point(30, 50), 0.5, Box(0, 0, 200, 100)),  # ratio == H/W exactly
        (5, 100, Point(2, 50), 0.5, Box(0, 49, 5, 3)),  # lroundf(2.5) = 3, not 2
        (1000, 1, Point(500, 0), 2.0, Box(500, 0, 1, 1)),  # lroundf(0.5) = 1: 1-px crop
        (1, 1000, Point(0, 10), 0.4, Box(0, 10, 1, 1)),  # lroundf(0.4) = 0 -> max(h, 1)
        (1, 1, Point(0, 0), 1.0, Box(0, 0, 1, 1)),
    ],
)
def test_crop_box_table(w: int, h: int, point: Point, ar: float, expected: Box) -> None:
    box = crop_box(w, h, point, ar)
    assert box == expected
    assert 0 <= box.left and box.right <= w and 0 <= box.top and box.bottom <= h


def test_crop_box_truncates_float_point() -> None:
    assert crop_box(100, 400, Point(50.9, 200.9), 1.0) == Box(0, 150, 100, 100)


@pytest.mark.parametrize("ar", [0.0, -1.0, float("nan"), float("inf")])
def test_crop_box_rejects_bad_ratio(ar: float) -> None:
    with pytest.raises(ValueError, match="aspect ratio must be a finite number > 0"):
        crop_box(100, 100, Point(5, 5), ar)


def test_default_aspect_ratios_end_with_image_ratio() -> None:
    assert default_aspect_ratios(1034, 851) == [0.56, 1.0, 1.14, 2.0, 851 / 1034]


def test_salient_cell_ties_go_to_first_in_row_major_order() -> None:
    scores = np.array([[1.0, 3.0, 3.0], [3.0, 2.0, 0.0]], dtype=np.float32)
    assert salient_cell(scores) == (0, 1)
    assert salient_cell(np.array([[0.0, 1.0], [2.0, 2.0]])) == (1, 0)


def test_salient_cell_negative_scores() -> None:
    assert salient_cell(np.array([[-5.0, -2.0], [-3.0, -2.5]])) == (0, 1)


def test_salient_cell_rejects_nan() -> None:
    with pytest.raises(ValueError, match=r"NaN at \(row, col\) = \(1, 0\)"):
        salient_cell(np.array([[0.0, 1.0], [np.nan, 2.0]]))


def test_salient_point_truncates_cell_coordinates() -> None:
    smap = SaliencyMap(
        scores=np.array([[0.0, 1.0], [0.5, 0.2]], np.float32),
        xs=np.array([25.9, 77.99], np.float32), ys=np.array([25.9, 77.5], np.float32),
        image_size=(100, 100), resized_size=(32, 32),
    )
    assert salient_point(smap) == Point(77, 25)


def _thumb(base: int = 5) -> np.ndarray:
    t = np.full((10, 10, 3), base, np.uint8)
    for y in range(10):
        for c in range(3):
            t[y, 0, c] = base + 3 * y + c + 1  # differences 1..30, each twice (x=0 and x=9)
    return t


def test_symmetry_score_takes_sorted_index_284() -> None:
    # 240 zero differences, then 1,1,2,2,...,30,30: d[284] = 23; pixel range 5..35 -> 30 + 10.
    assert symmetry_score(_thumb()) == pytest.approx(23 / 40 * 137, rel=1e-6)


def test_symmetry_score_uses_pixel_range_not_difference_range() -> None:
    t = _thumb()
    t[0, 4, 0] = t[0, 5, 0] = 200  # mirrored pair: no new difference, pixel max 200
    score = symmetry_score(t)
    assert score == pytest.approx(23 / (200 - 5 + 10) * 137, rel=1e-6)  # 15.37...
    assert score < 25  # Twitter's Python helper (difference range 30) would say asymmetric


def test_symmetry_score_rejects_wrong_shape() -> None:
    with pytest.raises(ValueError, match=r"\(10, 10, 3\)"):
        symmetry_score(np.zeros((10, 9, 3), np.uint8))


def test_mirrored_image_is_symmetric() -> None:
    rng = np.random.default_rng(0)
    left = rng.integers(0, 256, size=(200, 160, 3), dtype=np.uint8)
    img = np.concatenate([left, left[:, ::-1]], axis=1)
    assert is_symmetric(img)


def test_half_dark_half_bright_image_is_not_symmetric() -> None:
    img = np.zeros((200, 320, 3), np.uint8)
    img[:, 160:] = 255
    assert not is_symmetric(img)
