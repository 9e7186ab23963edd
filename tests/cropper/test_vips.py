"""vips_attention / vips_entropy against libvips smartcrop called directly."""

from __future__ import annotations

import numpy as np
import pytest

from audit.crop.geometry import Point
from audit.cropper.base import window_size
from audit.cropper.registry import build_named

from .conftest import textured

pyvips = pytest.importorskip("pyvips")
RATIOS = [0.56, 1.0, 1.14, 2.0]
GOLDEN = ["halt_01.jpg", "halt_05.jpg", "ica_dummy.jpeg", "wacv_obama_mcconnell.jpeg"]


def _images(golden_dir):
    from audit.data.images import load_image

    return [load_image(golden_dir / f) for f in GOLDEN] + [textured(333, 211, 5)]


@pytest.mark.parametrize("strategy", ["attention", "entropy"])
def test_regions_are_pixel_identical_to_libvips(golden_dir, strategy):
    cropper = build_named(f"vips_{strategy}")
    for rgb in _images(golden_dir):
        h, w = rgb.shape[:2]
        result = cropper.crop(rgb, RATIOS)
        image = pyvips.Image.new_from_array(rgb)
        for r in RATIOS:
            cw, ch = window_size(w, h, r)
            if strategy == "attention":
                out, opts = image.smartcrop(cw, ch, interesting=strategy, attention_x=True,
                                            attention_y=True)
                assert result.info["points"][repr(r)] == [opts["attention_x"],
                                                          opts["attention_y"]]
            else:
                out = image.smartcrop(cw, ch, interesting=strategy)
            b = result.boxes[r]
            assert (b.width, b.height) == (cw, ch) == (out.width, out.height)
            np.testing.assert_array_equal(rgb[b.top:b.bottom, b.left:b.right], out.numpy())
        if strategy == "attention":
            assert result.point == Point(*result.info["points"][repr(RATIOS[0])])
        else:
            assert result.point is None and result.info == {}


def test_attention_finds_a_planted_salient_patch():
    # a saturated, textured patch on flat grey, on either side: a tall crop must keep it
    rng = np.random.default_rng(1)
    for x0 in (30, 290):
        rgb = np.full((200, 400, 3), 128, np.uint8)
        rgb[60:140, x0:x0 + 80] = np.clip(np.array([220, 40, 40]) + rng.integers(
            -30, 31, size=(80, 80, 1)), 0, 255)
        box = build_named("vips_attention").crop(rgb, [2.0]).boxes[2.0]
        assert box.left <= x0 and x0 + 80 <= box.right


def test_manifest_has_the_libvips_version():
    info = build_named("vips_attention").describe()
    assert info["version"] == f"{pyvips.version(0)}.{pyvips.version(1)}.{pyvips.version(2)}"
    assert info["settings"]["interesting"] == "attention"


def test_bad_strategy_is_one_line():
    with pytest.raises(ValueError, match="interesting must be one of"):
        build_named("vips_attention", overrides={"interesting": "faces"})
