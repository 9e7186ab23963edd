from __future__ import annotations

import re
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest

from audit.crop.geometry import Box, Point
from audit.gaze import regions as rg
from audit.gaze.regions import (
    close_mask,
    label_regions,
    otsu_threshold,
    salient_mask,
    salient_regions,
    select_male_gaze_images,
)
from audit.model.base import SaliencyMap

ROWS, COLS = 20, 10
SIZE = (200, 400)  # W, H: every grid cell becomes an exact 20x20 px block


def two_blob_grid() -> np.ndarray:
    """-5 everywhere; two 3x3-cell blobs and one single-cell blob at +5.

    19 of 200 cells are high (< 10 %), so the 90th percentile falls on the background value.
    """
    g = np.full((ROWS, COLS), -5.0, dtype=np.float32)
    g[2:5, 2:5] = 5.0  # 60x60 px at (40, 40)
    g[12:15, 5:8] = 5.0  # 60x60 px at (100, 240)
    g[8, 8] = 5.0  # 20x20 = 400 px: under min_area
    return g


def brute_otsu(values: np.ndarray) -> tuple[int, Fraction]:
    v = [int(x) for x in values.ravel()]
    best_t, best = None, Fraction(-1)
    for t in range(min(v), max(v)):
        lo = [x for x in v if x <= t]
        hi = [x for x in v if x > t]
        if not lo or not hi:
            continue
        w0, w1 = Fraction(len(lo), len(v)), Fraction(len(hi), len(v))
        m0, m1 = Fraction(sum(lo), len(lo)), Fraction(sum(hi), len(hi))
        var = w0 * w1 * (m0 - m1) ** 2
        if var > best:
            best_t, best = t, var
    return best_t, best


def between_var(values: np.ndarray, t: int) -> Fraction:
    v = [int(x) for x in values.ravel()]
    lo = [x for x in v if x <= t]
    hi = [x for x in v if x > t]
    w0, w1 = Fraction(len(lo), len(v)), Fraction(len(hi), len(v))
    return w0 * w1 * (Fraction(sum(lo), len(lo)) - Fraction(sum(hi), len(hi))) ** 2


@pytest.mark.parametrize("seed", range(10))
def test_otsu_maximises_between_class_variance_like_brute_force(seed):
    rng = np.random.default_rng(seed)
    # Two clusters plus noise, small range so the brute force stays fast.
    vals = np.concatenate([rng.integers(0, 8, 30), rng.integers(10, 20, rng.integers(5, 30))])
    t = otsu_threshold(vals.astype(np.uint8))
    bt, best = brute_otsu(vals)
    assert between_var(vals, t) == best
    assert t == bt  # first maximum on ties, in both


def test_otsu_hand_case_and_constant_input():
    assert otsu_threshold(np.array([0, 0, 0, 200, 210], dtype=np.uint8)) == 0
    assert otsu_threshold(np.array([1, 2, 9, 10], dtype=np.uint8)) == 2
    assert otsu_threshold(np.full(5, 7, dtype=np.uint8)) == 7
    with pytest.raises(ValueError, match=re.escape(rg._MSG_OTSU_EMPTY)):
        otsu_threshold(np.array([], dtype=np.uint8))
    with pytest.raises(ValueError, match="non-negative integer"):
        otsu_threshold(np.array([0.5, 1.0]))


def test_salient_regions_finds_two_blobs_and_drops_the_tiny_one():
    regions = salient_regions(two_blob_grid(), SIZE, min_area=1000)
    assert [r.bbox for r in regions] == [Box(40, 40, 60, 60), Box(100, 240, 60, 60)]
    assert [r.area for r in regions] == [3600, 3600]
    assert regions[0].centroid == Point(69.5, 69.5)
    everything = salient_regions(two_blob_grid(), SIZE, min_area=0)
    assert len(everything) == 3
    assert everything[1].bbox == Box(160, 160, 20, 20) and everything[1].area == 400


def test_min_area_is_strict_like_the_study():
    assert len(salient_regions(two_blob_grid(), SIZE, min_area=3600)) == 0
    assert len(salient_regions(two_blob_grid(), SIZE, min_area=3599)) == 2


def test_label_uses_eight_connectivity():
    mask = np.array([[1, 0, 0],
                     [0, 1, 0],
                     [0, 0, 0]], dtype=bool)
    regs = label_regions(mask)
    assert len(regs) == 1
    assert regs[0].area == 2 and regs[0].bbox == Box(0, 0, 2, 2)


def test_close_mask_bridges_one_pixel_gap():
    mask = np.zeros((7, 9), dtype=bool)
    mask[2:5, 1:4] = True
    mask[2:5, 5:8] = True  # column 4 is a one-pixel gap
    assert len(label_regions(mask)) == 2
    closed = close_mask(mask)
    assert closed[2:5, 4].all()
    # +3 for the gap, and +3 +3 for columns 0 and 8: with the edge pixel standing in for the
    # outside (scikit-image's reflect mode), a one-pixel strip between object and edge fills too.
    assert closed.sum() == mask.sum() + 9
    assert closed[2:5, 0].all() and closed[2:5, 8].all() and not closed[1].any()
    assert len(label_regions(closed)) == 1


def test_closing_keeps_pixels_on_the_image_border():
    # A 3x2-cell block in the top-left corner of the image.
    g = np.full((ROWS, COLS), -5.0, dtype=np.float32)
    g[0:3, 0:2] = 5.0
    mask = salient_mask(g, SIZE)
    # The corner pixel survives closing (scipy's binary_closing would erode it).
    assert mask[0, 0] and mask[59, 39]
    assert mask.sum() == 60 * 40


def test_salient_mask_validates_inputs():
    with pytest.raises(ValueError, match=re.escape(rg._MSG_GRID.format(shape=(3,)))):
        salient_mask(np.zeros(3), SIZE)
    with pytest.raises(ValueError, match="image_size must be"):
        salient_mask(two_blob_grid(), (0, 10))


def one_blob_grid() -> np.ndarray:
    g = np.full((ROWS, COLS), -5.0, dtype=np.float32)
    g[2:5, 2:5] = 5.0
    return g


def make_map(grid: np.ndarray, size: tuple[int, int]) -> SaliencyMap:
    return SaliencyMap.from_scores(grid, size, (COLS * 16, ROWS * 16))


def selection_table() -> tuple[pd.DataFrame, dict[str, SaliencyMap]]:
    rows = [
        # id, gender, path, W, H, grid
        ("f_png", "female", "f_png.PNG", 200, 400, two_blob_grid()),
        ("f_wide", "female", "f_wide.jpg", 400, 400, two_blob_grid()),
        ("f_one", "female", "f_one.jpeg", 200, 400, one_blob_grid()),
        ("f_ok1", "female", "f_ok1.JPG", 200, 400, two_blob_grid()),
        ("f_ok2", "female", "dir/f_ok2.jpeg", 200, 250, two_blob_grid()),  # 1.25 exactly
        ("m_ok1", "male", "m_ok1.jpg", 200, 400, two_blob_grid()),
        ("m_png", "male", "m_png.png", 200, 400, two_blob_grid()),
    ]
    table = pd.DataFrame([r[:5] for r in rows], columns=["id", "gender", "path", "width",
                                                         "height"])
    maps = {r[0]: make_map(r[5], (r[3], r[4])) for r in rows}
    return table, maps


def test_select_gives_each_image_its_reason():
    table, maps = selection_table()
    out = select_male_gaze_images(table, maps, group="gender", n_per_group=100, seed=1)
    reason = {i: (None if pd.isna(r) else r) for i, r in zip(out.id, out.reason, strict=True)}
    assert reason == {"f_png": "not_jpeg", "f_wide": "too_wide", "f_one": "few_regions",
                      "f_ok1": None, "f_ok2": None, "m_ok1": None, "m_png": "not_jpeg"}
    assert set(out.loc[out.selected, "id"]) == {"f_ok1", "f_ok2", "m_ok1"}
    assert out.set_index("id").loc["f_one", "n_regions"] == 1
    assert out.set_index("id").loc["f_ok2", "aspect"] == 1.25


def test_select_without_jpeg_filter_keeps_png():
    table, maps = selection_table()
    out = select_male_gaze_images(table, maps, group="gender", jpeg_only=False)
    assert bool(out.set_index("id").loc["m_png", "selected"])


def test_select_stops_at_quota_and_is_seeded():
    table, maps = selection_table()
    a = select_male_gaze_images(table, maps, group="gender", n_per_group=1, seed=5)
    b = select_male_gaze_images(table, maps, group="gender", n_per_group=1, seed=5)
    pd.testing.assert_frame_equal(a, b)
    fem = a[a.group == "female"].sort_values("rank")
    assert fem.selected.sum() == 1
    first = int(fem.loc[fem.selected, "rank"].iloc[0])
    assert (fem.loc[fem["rank"] > first, "reason"] == "not_reached").all()
    assert fem.loc[fem.selected, "id"].iloc[0] in {"f_ok1", "f_ok2"}


def test_select_computes_maps_lazily_only_for_tall_jpegs():
    table, maps = selection_table()
    calls: list[str] = []

    def get(img_id: str) -> SaliencyMap:
        calls.append(img_id)
        return maps[img_id]

    select_male_gaze_images(table, get, group="gender")
    assert sorted(calls) == ["f_ok1", "f_ok2", "f_one", "m_ok1"]


def test_select_missing_column_and_missing_map_are_named():
    table, maps = selection_table()
    with pytest.raises(KeyError, match="no column 'path'"):
        select_male_gaze_images(table.drop(columns="path"), maps, group="gender")
    del maps["m_ok1"]
    with pytest.raises(KeyError, match="no saliency map for image 'm_ok1'"):
        select_male_gaze_images(table, maps, group="gender")
