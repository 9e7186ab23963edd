from __future__ import annotations

import numpy as np
import pytest
import torch

from audit.crop.rules import salient_cell
from audit.model.base import grid_shape
from audit.model.center_bias import CenterBias
from audit.model.luminance import Luminance
from audit.model.preprocess import CHANNEL_MEANS, Prepared, to_tensor
from audit.model.spectral_residual import SpectralResidual

SIZES = [(320, 107), (107, 320), (33, 17), (1, 1), (319, 161), (320, 320)]  # (rw, rh)


def _models():
    return [CenterBias(device="cpu"), Luminance(device="cpu"), SpectralResidual(device="cpu")]


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("model", _models(), ids=lambda m: m.name)
def test_baselines_return_the_network_grid_shape(model, size: tuple[int, int]) -> None:
    rw, rh = size
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 256, size=(rh, rw, 3), dtype=np.uint8)
    maps = model.predict([Prepared(pixels, (rw * 3, rh * 3)), Prepared(pixels, (rw * 3, rh * 3))])
    assert len(maps) == 2
    assert maps[0].scores.shape == grid_shape(size)
    assert maps[0].scores.dtype == np.float32
    assert np.isfinite(maps[0].scores).all()


def test_grid_shape_examples() -> None:
    assert grid_shape((320, 107)) == (7, 20)
    assert grid_shape((107, 320)) == (20, 7)


@pytest.mark.parametrize(("size", "cell"), [((112, 112), (3, 3)), ((107, 320), (9, 3))])
def test_center_bias_peaks_at_the_centre_cell(size: tuple[int, int], cell) -> None:
    rw, rh = size
    scores = CenterBias(device="cpu").score(torch.zeros(1, 3, rh, rw))[0].numpy()
    assert salient_cell(scores) == cell
    if size == (112, 112):  # centre cell 56 px vs centre 55.5 px: offset 0.5 / 112
        assert scores[3, 3] == pytest.approx(np.exp(-2 * (0.5 / 112) ** 2 / (2 * 0.25**2)))
        assert scores[0, 0] < scores[1, 1] < scores[3, 3]
        np.testing.assert_allclose(scores, scores.T, rtol=1e-6)


def test_center_bias_ignores_content() -> None:
    model = CenterBias(sigma=0.1, device="cpu")
    a = model.score(torch.zeros(1, 3, 64, 96))
    b = model.score(torch.randn(1, 3, 64, 96) * 50)
    torch.testing.assert_close(a, b)


@pytest.mark.parametrize("sigma", [0, -1, float("nan")])
def test_center_bias_rejects_bad_sigma(sigma: float) -> None:
    with pytest.raises(ValueError, match="model.sigma must be a finite number > 0"):
        CenterBias(sigma=sigma, device="cpu")


def test_luminance_picks_the_brightest_cell() -> None:
    pixels = np.full((48, 64, 3), 30, np.uint8)
    pixels[16:32, 32:48] = 255  # cell (1, 2)
    pixels[0:16, 0:16] = 200  # a dimmer bright cell earlier in row-major order
    smap = Luminance(device="cpu").predict([Prepared(pixels, (64, 48))])[0]
    assert salient_cell(smap.scores) == (1, 2)
    assert smap.scores[1, 2] == pytest.approx(255.0)
    assert smap.scores[0, 0] == pytest.approx(200.0)
    assert smap.scores[2, 3] == pytest.approx(30.0)


def test_luminance_averages_partial_edge_cells() -> None:
    pixels = np.zeros((20, 20, 3), np.uint8)
    pixels[16:, 16:] = 120  # the 4x4 corner forms the last (partial) cell
    scores = Luminance(device="cpu").predict([Prepared(pixels, (20, 20))])[0].scores
    assert scores.shape == (2, 2)
    assert scores[1, 1] == pytest.approx(120.0)


def test_tensor_means_round_trip() -> None:
    # The baselines add the channel means back: check they see the original 0..255 values.
    pixels = np.array([[[10, 20, 30]]], np.uint8)
    t = to_tensor([Prepared(pixels, (1, 1))])
    assert t[0, :, 0, 0].tolist() == pytest.approx([10 - CHANNEL_MEANS[0], 20 - CHANNEL_MEANS[1],
                                                    30 - CHANNEL_MEANS[2]])


@pytest.mark.parametrize("noise", [0.0, 10.0])
@pytest.mark.parametrize("cell", [(5, 12), (2, 3), (0, 0), (14, 19)])
def test_spectral_residual_finds_a_lone_bright_square(cell: tuple[int, int], noise: float) -> None:
    rng = np.random.default_rng(5)
    pixels = np.clip(128 + rng.normal(0, noise, (240, 320, 3)), 0, 255).astype(np.uint8)
    r, c = cell
    pixels[16 * r:16 * r + 16, 16 * c:16 * c + 16] = 255
    smap = SpectralResidual(device="cpu").predict([Prepared(pixels, (320, 240))])[0]
    assert salient_cell(smap.scores) == cell
    assert 0.5 < smap.scores.max() <= 1.0  # cell means of a map scaled to peak 1
    assert smap.scores.min() >= 0.0


def test_spectral_residual_on_a_flat_image_is_zero() -> None:
    pixels = np.full((64, 80, 3), 77, np.uint8)
    smap = SpectralResidual(device="cpu").predict([Prepared(pixels, (80, 64))])[0]
    assert smap.scores.shape == (4, 5)
    assert (smap.scores == 0).all()


def test_spectral_residual_is_deterministic() -> None:
    rng = np.random.default_rng(3)
    pixels = rng.integers(0, 256, size=(100, 150, 3), dtype=np.uint8)
    model = SpectralResidual(device="cpu")
    a = model.predict([Prepared(pixels, (150, 100))])[0].scores
    b = model.predict([Prepared(pixels, (150, 100))])[0].scores
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(("key", "value"), [("scale", 4), ("avg_size", 2), ("blur_sigma", 0.0)])
def test_spectral_residual_rejects_bad_settings(key: str, value: float) -> None:
    with pytest.raises(ValueError, match=f"model.{key} must be"):
        SpectralResidual(device="cpu", **{key: value})


@pytest.mark.parametrize("option", ["center_bias", "spectral_residual", "luminance"])
def test_model_yaml_builds_the_model(option: str) -> None:
    from pathlib import Path

    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    conf = Path(__file__).resolve().parents[2] / "conf" / "model" / f"{option}.yaml"
    model = instantiate(OmegaConf.load(conf), device="cpu")
    assert model.name == option
    assert model.describe()["device"] == "cpu"
