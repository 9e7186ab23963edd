from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from audit.crop.candidate import CropResult, candidate_crops, format_g, format_program_output
from audit.crop.geometry import Box, Point
from audit.model.base import SaliencyMap
from audit.model.luminance import Luminance


def c_printf_g(value: float) -> str:
    # printf-style formatting follows C's %g, which is exactly what the program uses.
    return "%g" % value  # noqa: UP031


@pytest.mark.parametrize(
    ("value", "expected"),
    [(1.32, "1.32"), (0.000012345, "1.2345e-05"), (123456789.0, "1.23457e+08"),
     (100000.0, "100000"), (1000000.0, "1e+06"), (0.0001, "0.0001"), (0.0, "0"), (-0.0, "-0"),
     (-2.5, "-2.5"), (999999.5, "1e+06"), (9.9999996, "10"), (0.00009999996, "0.0001")],
)
def test_format_g_known_values(value: float, expected: str) -> None:
    assert format_g(value) == expected
    assert format_g(value) == c_printf_g(value)


def test_format_g_matches_c_printf_on_many_values() -> None:
    rng = np.random.default_rng(7)
    mags = 10.0 ** rng.uniform(-12, 12, size=3000)
    values = np.concatenate([
        mags * rng.choice([-1, 1], size=3000),
        rng.normal(0, 3, size=2000).astype(np.float32).astype(np.float64),  # float32 scores
        np.round(rng.uniform(-10, 10, size=500), 5),  # short decimals: ties in the 6th digit
        [float("inf"), -float("inf"), float("nan"), 5e-324, 1.7976931348623157e308],
    ])
    bad = [(v, format_g(v), c_printf_g(v)) for v in values if format_g(v) != c_printf_g(v)]
    assert bad == []


def _result(symmetric: bool = False) -> CropResult:
    scores = np.array([[0.5, 1.25, -0.000012345], [2.0, 123456789.0, 0.0]], np.float32)
    smap = SaliencyMap.from_scores(scores, image_size=(100, 50), resized_size=(320, 160))
    return CropResult(point=Point(81, 25), crops=[(1.0, Box(56, 0, 50, 50)),
                                                  (0.5, Box(0, 0, 100, 50))],
                      symmetric=symmetric, smap=smap)


def test_format_program_output_without_points() -> None:
    assert format_program_output(_result(), show_all_points=False) == (
        "81 25\n56 0 50 50\n0 0 100 50\n")


def test_format_program_output_with_points_row_major() -> None:
    text = format_program_output(_result(), show_all_points=True)
    # f = min(100/320, 50/160) = 0.3125; x = 8 f, 24 f, 40 f = 2.5, 7.5, 12.5, printed as
    # float32 in %g like the program (the salient point above them stays an int).
    assert text.splitlines()[3:] == [
        "2.5 2.5 0.5", "7.5 2.5 1.25", "12.5 2.5 -1.2345e-05",
        "2.5 7.5 2", "7.5 7.5 1.23457e+08", "12.5 7.5 0",
    ]
    assert text.endswith("\n")


def _two_squares(mirrored: bool) -> np.ndarray:
    img = np.full((160, 320, 3), 100, np.uint8)
    img[40:72, 32:64] = 255  # left square: cells rows 2-4, cols 2-3
    if mirrored:
        img[40:72, 256:288] = 255
    return img


def test_candidate_crops_follows_salient_point_when_not_symmetric() -> None:
    result = candidate_crops(_two_squares(mirrored=False), Luminance(device="cpu"))
    assert not result.symmetric
    assert result.point == Point(40, 56)  # cell (3, 2): first of the brightest cells
    ratios = [ar for ar, _ in result.crops]
    assert ratios == [0.56, 1.0, 1.14, 2.0, 0.5]
    # Tall 2.0 crop: w = lroundf(160 / 2) = 80, centred at x = 40 -> clamped to the left edge.
    assert dict(result.crops)[2.0] == Box(0, 0, 80, 160)
    assert dict(result.crops)[0.56] == Box(0, 0, 286, 160)


def test_candidate_crops_centres_crops_when_symmetric() -> None:
    result = candidate_crops(_two_squares(mirrored=True), Luminance(device="cpu"), [2.0, 1.0])
    assert result.symmetric
    assert result.point == Point(40, 56)  # the printed point stays the argmax
    # Crops centred at x = (int)(0.5 * 320) = 160.
    assert result.crops == [(2.0, Box(120, 0, 80, 160)), (1.0, Box(80, 0, 160, 160))]


def test_candidate_crops_file_and_array_agree(tmp_path) -> None:
    img = _two_squares(mirrored=False)
    path = tmp_path / "squares.png"
    Image.fromarray(img).save(path)
    from_file = candidate_crops(path, Luminance(device="cpu"), [1.0])
    from_array = candidate_crops(img, Luminance(device="cpu"), [1.0])
    assert from_file.point == from_array.point == Point(40, 56)
    assert from_file.crops == from_array.crops == [(1.0, Box(0, 0, 160, 160))]
    np.testing.assert_array_equal(from_file.smap.scores, from_array.smap.scores)
