"""Every shipped cropper: boxes inside the image at every ratio, on tiny and extreme shapes."""

from __future__ import annotations

import pytest

from audit.cropper.base import Cropper, check_result, window_size
from audit.cropper.registry import build_named

from .conftest import textured

RATIOS = [0.56, 1.0, 1.14, 2.0, 0.1, 10.0]
SHAPES = [(1, 1), (50, 1), (1, 50), (3, 3), (9, 17), (400, 40), (37, 251)]
#: Croppers whose sizes are the program's windows (smartcrop picks its own).
PROGRAM_SIZED = ["center", "vips_attention", "vips_entropy", "opencv_fine_grained",
                 "face_center", "fastgaze"]


@pytest.fixture(scope="module")
def croppers(fastgaze_cropper) -> dict[str, Cropper]:
    pytest.importorskip("pyvips")
    pytest.importorskip("smartcrop")
    pytest.importorskip("cv2")
    names = [n for n in PROGRAM_SIZED if n != "fastgaze"] + ["smartcrop"]
    return {"fastgaze": fastgaze_cropper, **{n: build_named(n) for n in names}}


@pytest.mark.parametrize(("w", "h"), SHAPES)
def test_boxes_fit_on_tiny_and_extreme_shapes(croppers, w, h):
    rgb = textured(w, h, seed=w * 1000 + h)
    for name, cropper in croppers.items():
        out = cropper.crop_many([rgb], RATIOS)[0]
        assert not isinstance(out, str), (name, out)
        check_result(out, (w, h), RATIOS, name)
        if name in PROGRAM_SIZED:
            assert {r: (b.width, b.height) for r, b in out.boxes.items()} == {
                r: window_size(w, h, r) for r in RATIOS}, name


def test_smartcrop_sizes_are_90_to_100_percent_of_the_window(croppers):
    for seed, (w, h) in enumerate([(640, 480), (300, 700), (512, 512)]):
        out = croppers["smartcrop"].crop(textured(w, h, seed), RATIOS[:4])
        for r, b in out.boxes.items():
            cw, ch = window_size(w, h, r)
            assert 0.9 * cw - 1 <= b.width <= cw and 0.9 * ch - 1 <= b.height <= ch, (r, b)
