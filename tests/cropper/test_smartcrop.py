"""smartcrop against the PyPI smartcrop package called directly; the skin colour is a key."""

from __future__ import annotations

import dataclasses
import inspect

import numpy as np
import pytest

from audit.cropper.base import window_size
from audit.cropper.registry import build_named, cropper_config

smartcrop = pytest.importorskip("smartcrop")
RATIOS = [0.56, 1.0, 1.14, 2.0]
GOLDEN = ["halt_01.jpg", "halt_05.jpg", "halt_17.jpg", "ica_dummy.jpeg"]
BLUE = (0.332, 0.589, 0.737)


def test_boxes_equal_the_library_on_the_same_files(golden_dir):
    from PIL import Image

    from audit.data.images import load_image

    for settings in ({}, {"skin_color": list(BLUE), "skin_weight": 3.0, "step": 4}):
        cropper = build_named("smartcrop", overrides=settings)
        lib_settings = {k: v for k, v in settings.items() if k != "step"}
        if "skin_color" in lib_settings:
            lib_settings["skin_color"] = tuple(lib_settings["skin_color"])
        lib = smartcrop.SmartCrop(**lib_settings)
        for name in GOLDEN:
            path = golden_dir / name
            result = cropper.crop(load_image(path), RATIOS)
            with Image.open(path) as im:
                pil = im.convert("RGB")
            for r in RATIOS:
                cw, ch = window_size(pil.width, pil.height, r)
                top = lib.crop(pil, cw, ch, step=settings.get("step", 8))["top_crop"]
                b = result.boxes[r]
                assert (b.left, b.top, b.width, b.height) == (
                    top["x"], top["y"], top["width"], top["height"]), (name, r, settings)
                assert result.info["scores"][repr(r)] == pytest.approx(top["score"], abs=0)


def test_defaults_are_the_librarys():
    from audit.cropper.smartcrop import build

    fields = {f.name: f.default for f in dataclasses.fields(smartcrop.SmartCrop)}
    params = inspect.signature(build).parameters
    yaml = cropper_config("smartcrop")
    for key, default in fields.items():
        assert params[key].default == default, key
        expected = list(default) if isinstance(default, tuple) else default
        assert yaml[key] == expected, key
    crop_params = inspect.signature(smartcrop.SmartCrop.crop).parameters
    for key in ("prescale", "max_scale", "min_scale", "num_scale_steps", "step"):
        assert params[key].default == crop_params[key].default == yaml[key], key


def _two_patches(left_colour, right_colour):
    rng = np.random.default_rng(0)
    rgb = np.full((200, 400, 3), 128, np.uint8)
    for x0, colour in ((40, left_colour), (280, right_colour)):
        noise = rng.integers(-20, 21, size=(80, 80, 1))
        rgb[60:140, x0:x0 + 80] = np.clip(np.array(colour) + noise, 0, 255)
    return rgb


def test_a_skin_colour_sweep_moves_the_crop_to_that_colour():
    """Planted: a light-skin-coloured and a blue patch; the tall crop follows skin_color."""
    skin, blue = (200, 146, 112), (90, 160, 200)
    for left, right in ((skin, blue), (blue, skin)):
        rgb = _two_patches(left, right)
        for colour, target in (((0.78, 0.57, 0.44), skin), (BLUE, blue)):
            box = build_named("smartcrop", overrides={"skin_color": list(colour)}).crop(
                rgb, [2.0]).boxes[2.0]
            x0 = 40 if target == left else 280
            assert box.left <= x0 and x0 + 80 <= box.right, (colour, left)


def test_skin_color_override_through_the_config_group():
    from hydra import compose, initialize_config_dir

    from audit.config import CONF_DIR, register_configs, to_settings

    register_configs()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config",
                      overrides=["cropper=smartcrop", "cropper.skin_color=[0.36,0.25,0.2]"])
    settings = to_settings(cfg)
    from audit.cropper.registry import build_cropper

    cropper = build_cropper(settings.cropper)
    assert cropper.name == "smartcrop"
    assert cropper.settings()["skin_color"] == [0.36, 0.25, 0.2]


@pytest.mark.parametrize("bad", [[0.5, 0.5], [1.2, 0.5, 0.5], "pink"])
def test_bad_skin_colour_is_one_line(bad):
    with pytest.raises(ValueError, match="skin_color must be three numbers in"):
        build_named("smartcrop", overrides={"skin_color": bad})
