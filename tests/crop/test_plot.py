from __future__ import annotations

import numpy as np
import pytest
from matplotlib.patches import Rectangle

from audit.crop.candidate import candidate_crops
from audit.crop.plot import plot_crops, saliency_overlay
from audit.model.luminance import Luminance


@pytest.fixture
def image() -> np.ndarray:
    img = np.full((100, 200, 3), 40, np.uint8)
    img[20:40, 150:170] = 250
    return img


def test_plot_crops_draws_one_panel_per_crop(image: np.ndarray) -> None:
    result = candidate_crops(image, Luminance(device="cpu"), [0.56, 1.0, 2.0])
    fig = plot_crops(image, result)
    panels = [ax for ax in fig.axes if ax.images]
    assert len(panels) == 3
    for ax, (_, box) in zip(panels, result.crops, strict=True):
        rects = [p for p in ax.patches if isinstance(p, Rectangle)]
        assert len(rects) == 1
        assert (rects[0].get_x(), rects[0].get_y()) == (box.left, box.top)
        assert (rects[0].get_width(), rects[0].get_height()) == (box.width, box.height)
        assert len(ax.images) == 2  # photo + heat map
        xs, ys = ax.lines[0].get_data()
        assert (xs[0], ys[0]) == (result.point.x, result.point.y)


def test_saliency_overlay_peaks_where_the_grid_peaks(image: np.ndarray) -> None:
    result = candidate_crops(image, Luminance(device="cpu"), [1.0])
    heat, extent = saliency_overlay(result)
    assert heat.max() == pytest.approx(result.smap.scores.max(), rel=0.05)
    r, c = np.unravel_index(np.argmax(heat), heat.shape)
    x = extent[0] + (c + 0.5) / heat.shape[1] * (extent[1] - extent[0])
    y = extent[3] + (r + 0.5) / heat.shape[0] * (extent[2] - extent[3])
    assert abs(x - 160) < 16 and abs(y - 30) < 16


def test_plot_crops_rejects_image_of_another_size(image: np.ndarray) -> None:
    result = candidate_crops(image, Luminance(device="cpu"), [1.0])
    with pytest.raises(ValueError, match="200x100"):
        plot_crops(image[:50], result)
