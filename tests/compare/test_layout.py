import numpy as np
import pytest

from audit.compare.layout import compose, position_name, scale_image, scaled_size
from audit.compare.settings import LayoutConfig
from audit.crop.geometry import Box


def _img(w, h, value):
    return np.full((h, w, 3), value, dtype=np.uint8)


def test_horizontal_top_aligned_boxes_and_fill():
    comp = compose([_img(30, 20, 100), _img(10, 40, 200)], LayoutConfig())
    assert comp.size == (40, 40)
    assert comp.boxes == (Box(0, 0, 30, 20), Box(30, 0, 10, 40))
    assert comp.pixels[30, 5].tolist() == [0, 0, 0]  # fill under the shorter image
    assert comp.pixels[5, 5, 0] == 100 and comp.pixels[39, 35, 0] == 200
    assert comp.slot_of(5, 30) == -1 and comp.slot_of(35, 39) == 1


def test_vertical_centred_with_padding_and_colour():
    layout = LayoutConfig(direction="vertical", padding=4, pad_color=[255, 0, 0], align="center")
    comp = compose([_img(10, 10, 50), _img(20, 6, 60)], layout)
    assert comp.size == (28, 28)
    assert comp.boxes == (Box(9, 4, 10, 10), Box(4, 18, 20, 6))
    assert comp.pixels[0, 0].tolist() == [255, 0, 0]


@pytest.mark.parametrize(
    ("scaling", "size", "expected"),
    [("none", (640, 480), (640, 480)), ("fixed_height", (640, 480), (341, 256)),
     ("max_side", (640, 480), (100, 75)), ("max_side", (50, 40), (50, 40))],
)
def test_scaled_size_rules(scaling, size, expected):
    assert scaled_size(*size, scaling=scaling, fixed_height=256, max_side=100) == expected


def test_scale_image_fixed_height_keeps_aspect():
    out = scale_image(_img(300, 150, 9), LayoutConfig(scaling="fixed_height", fixed_height=256))
    assert out.shape == (256, 512, 3)


def test_position_names():
    assert position_name(0, 2, "horizontal") == "left"
    assert position_name(1, 2, "vertical") == "bottom"
    assert position_name(2, 4, "horizontal") == "pos2"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"direction": "diagonal"}, "compare.layout.direction"),
     ({"padding": -1}, "compare.layout.padding must be >= 0, got -1"),
     ({"pad_color": [0, 0]}, "compare.layout.pad_color"),
     ({"scaling": "stretch"}, "compare.layout.scaling")],
)
def test_bad_layout_values_name_the_key(kwargs, message):
    with pytest.raises(ValueError, match=message):
        LayoutConfig(**kwargs)
