from __future__ import annotations

import numpy as np
import pytest

from audit.analysis.covariates import (
    build_covariate_table,
    compute_image_covariates,
    individual_typology_angle,
    srgb_to_lab,
    srgb_to_linear,
)
from audit.crop.geometry import Box


def test_lab_of_reference_colours():
    lab = srgb_to_lab(np.array([[0, 0, 0], [255, 255, 255], [255, 0, 0]], dtype=np.uint8))
    np.testing.assert_allclose(lab[0], [0, 0, 0], atol=1e-6)
    np.testing.assert_allclose(lab[1], [100, 0, 0], atol=1e-3)
    np.testing.assert_allclose(lab[2], [53.24, 80.09, 67.20], atol=0.02)  # standard sRGB red


def test_ita_formula_and_limits():
    assert individual_typology_angle(65.0, 15.0) == pytest.approx(45.0)
    assert individual_typology_angle(40.0, 10.0) == pytest.approx(np.degrees(np.arctan(-1.0)))
    assert individual_typology_angle(60.0, 0.0) == 90.0
    assert np.isnan(individual_typology_angle(np.nan, 1.0))


def test_covariates_of_a_half_black_half_white_image_with_face_box():
    rgb = np.zeros((10, 20, 3), dtype=np.uint8)
    rgb[:, 10:] = 255
    skin = np.array([200, 150, 120], dtype=np.uint8)
    rgb[2:6, 2:6] = skin
    cov = compute_image_covariates(rgb, face_box=Box(2, 2, 4, 4))
    assert cov["log_area"] == pytest.approx(np.log(200))
    # 100 white pixels (Y = 1), 16 skin pixels, the rest black (Y = 0)
    assert cov["mean_luminance"] == pytest.approx((100 * 1.0 + 16 * _y(skin)) / 200)
    assert cov["face_area_share"] == pytest.approx(16 / 200)
    lab = srgb_to_lab(skin)
    assert cov["skin_lightness"] == pytest.approx(lab[0])
    assert cov["ita"] == pytest.approx(np.degrees(np.arctan((lab[0] - 50) / lab[2])))


def _y(rgb):
    c = rgb / 255.0
    lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return float(lin @ [0.2126729, 0.7151522, 0.0721750])


def test_without_face_box_skin_covariates_are_nan_and_table_is_indexed_by_id():
    rgb = np.full((4, 4, 3), 128, dtype=np.uint8)
    table = build_covariate_table([("img1", rgb, None)])
    assert list(table.index) == ["img1"]
    assert np.isnan(table.loc["img1", "ita"]) and table.loc["img1", "rms_contrast"] == 0.0


def test_non_uint8_image_is_rejected():
    with pytest.raises(ValueError, match="uint8 RGB"):
        compute_image_covariates(np.zeros((4, 4, 3), dtype=np.float32))


def test_streamed_statistics_equal_whole_image_statistics():
    rng = np.random.default_rng(0)
    big = rng.integers(0, 256, size=(700, 300, 3), dtype=np.uint8)  # several row blocks
    got = compute_image_covariates(big)
    lum = srgb_to_linear(big) @ np.array([0.2126729, 0.7151522, 0.0721750])
    assert got["mean_luminance"] == pytest.approx(lum.mean(), rel=1e-3)
    assert got["rms_contrast"] == pytest.approx(lum.std(), rel=1e-3)
    assert got["mean_lightness"] == pytest.approx(srgb_to_lab(big)[..., 0].mean(), rel=1e-9)
