from __future__ import annotations

import numpy as np
import pytest

from audit.crop.geometry import Box, Point
from audit.cropper.base import check_result, window_size
from audit.cropper.registry import build_named

RATIOS = [0.56, 1.0, 1.14, 2.0]


def test_center_boxes_on_the_program_example():
    # 1034x851 (the bird logo): 0.56 -> 1034x579 centred at y=425; 2.0 -> 426x851 at x=517.
    result = build_named("center").crop(np.zeros((851, 1034, 3), np.uint8), RATIOS)
    assert result.boxes == {0.56: Box(0, 136, 1034, 579), 1.0: Box(92, 0, 851, 851),
                            1.14: Box(144, 0, 746, 851), 2.0: Box(304, 0, 426, 851)}
    assert result.point == Point(517, 425)
    assert result.saliency is None


@pytest.mark.parametrize("seed", range(3))
def test_center_boxes_are_the_largest_centred_windows(seed):
    rng = np.random.default_rng(seed)
    cropper = build_named("center")
    for _ in range(30):
        w, h = (int(v) for v in rng.integers(1, 700, size=2))
        ratios = [float(r) for r in rng.uniform(0.2, 4.0, size=3)]
        result = check_result(cropper.crop(np.zeros((h, w, 3), np.uint8), ratios), (w, h),
                              ratios, "center")
        for r, b in result.boxes.items():
            assert (b.width, b.height) == window_size(w, h, r)
            # largest: one side is full, the other the rounded product (>= 1 pixel)
            if b.width == w and h / w > r:
                assert abs(b.height - w * r) <= 0.5 + 1e-4 or b.height == 1
            else:
                assert b.height == h and (abs(b.width - h / r) <= 0.5 + 1e-4 or b.width == 1)
            # centred: the two margins differ by at most one pixel
            assert abs(b.left - (w - b.right)) <= 1 and abs(b.top - (h - b.bottom)) <= 1


def test_bad_input_is_one_line():
    cropper = build_named("center")
    with pytest.raises(ValueError, match="center: expected a uint8"):
        cropper.crop(np.zeros((4, 4), np.uint8), [1.0])
    with pytest.raises(ValueError, match="center: aspect ratios must be finite and > 0"):
        cropper.crop(np.zeros((4, 4, 3), np.uint8), [0.0])
    out = cropper.crop_many([np.zeros((4, 4, 3), np.uint8), np.zeros((4, 4), np.float32)],
                            [1.0])
    assert out[0].boxes == {1.0: Box(0, 0, 4, 4)}
    assert isinstance(out[1], str) and out[1].startswith("center: expected a uint8")
