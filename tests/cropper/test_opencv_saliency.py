"""opencv_fine_grained against cv2.saliency called directly: the same map, Twitter's rule."""

from __future__ import annotations

import numpy as np
import pytest

from audit.crop.geometry import Point
from audit.crop.rules import crop_box
from audit.cropper.registry import build_named

from .conftest import textured

cv2 = pytest.importorskip("cv2")
RATIOS = [0.56, 1.0, 1.14, 2.0]


@pytest.mark.parametrize(("algorithm", "create"), [
    ("fine_grained", "StaticSaliencyFineGrained_create"),
    ("spectral_residual", "StaticSaliencySpectralResidual_create"),
])
def test_same_map_and_the_programs_rule(photo_rgb, algorithm, create):
    cropper = build_named("opencv_fine_grained", overrides={"algorithm": algorithm})
    for rgb in (photo_rgb, textured(300, 170, 7)):
        h, w = rgb.shape[:2]
        ok, expected = getattr(cv2.saliency, create)().computeSaliency(
            cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        assert ok
        result = cropper.crop(rgb, RATIOS)
        np.testing.assert_array_equal(result.saliency.scores, expected)
        assert result.saliency.image_size == (w, h)
        row, col = np.unravel_index(int(np.argmax(expected)), expected.shape)  # first maximum
        assert result.point == Point(int(col), int(row))
        assert result.boxes == {r: crop_box(w, h, result.point, r) for r in RATIOS}


def test_point_is_on_a_planted_dot():
    rgb = np.full((120, 240, 3), 90, np.uint8)
    rgb[70:76, 180:186] = 255
    point = build_named("opencv_fine_grained").crop(rgb, [2.0]).point
    assert 174 <= point.x <= 191 and 64 <= point.y <= 81


def test_symmetry_rule_centres_a_mirrored_image():
    half = textured(100, 160, 8)
    rgb = np.concatenate([half, half[:, ::-1]], axis=1)
    plain = build_named("opencv_fine_grained").crop(rgb, [2.0])
    sym = build_named("opencv_fine_grained", overrides={"symmetry": True}).crop(rgb, [2.0])
    assert sym.info["symmetric"] is True and plain.info["symmetric"] is False
    assert sym.point == plain.point
    assert sym.boxes[2.0] == crop_box(200, 160, Point(100, plain.point.y), 2.0)


def test_bad_algorithm_is_one_line():
    with pytest.raises(ValueError, match="algorithm must be one of"):
        build_named("opencv_fine_grained", overrides={"algorithm": "deep"})
