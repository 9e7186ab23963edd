from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from audit.exceptions import ModelError, WeightsError
from audit.model.base import grid_shape
from audit.model.fastgaze import FastGaze, FastGazeNet
from audit.model.preprocess import prepare_array
from audit.model.vxm import BlurSpec, ConvSpec, PoolSpec


def test_net_structure(fastgaze_model: FastGaze) -> None:
    mods = list(fastgaze_model.net.body)
    convs = [m for m in mods if isinstance(m, nn.Conv2d)]
    pools = [m for m in mods if isinstance(m, nn.MaxPool2d)]
    leaky = [m for m in mods if isinstance(m, nn.LeakyReLU)]
    assert len(convs) == 14 and len(pools) == 4 and len(leaky) == 4
    assert sum(isinstance(m, nn.ReLU) for m in mods) == 10
    assert [c.out_channels for c in convs] == [43, 44, 49, 56, 44, 38, 31, 20, 18, 10, 7, 7, 2, 1]
    assert all(c.padding == (c.kernel_size[0] // 2,) * 2 for c in convs)
    assert all(p.ceil_mode and p.kernel_size == 2 and p.stride == 2 for p in pools)
    assert [round(m.negative_slope, 4) for m in leaky] == [0.2747, 0.2713, 0.3741, 0.3894]
    assert isinstance(mods[-1], nn.LeakyReLU)            # last layer activated, blur not applied
    assert fastgaze_model.net.blur == [BlurSpec(19, 3)]
    assert not fastgaze_model.net.training
    assert fastgaze_model.weights_sha256 == (
        "b76cefc218ec8969cc62b26ad0f41111800421287e7f2725d808da1d90afbdf7")


@pytest.mark.parametrize("size", [(1034, 851), (583, 3000), (300, 299), (17, 1000), (960, 321)])
def test_grid_shape_matches_base(fastgaze_model: FastGaze, size: tuple[int, int]) -> None:
    w, h = size
    rng = np.random.default_rng(0)
    p = prepare_array(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
    smap = fastgaze_model.predict([p])[0]
    assert smap.scores.shape == grid_shape(p.resized_size)
    assert smap.xs.shape == (smap.scores.shape[1],) and smap.image_size == (w, h)


def test_cpu_runs_are_deterministic(fastgaze_model: FastGaze) -> None:
    rng = np.random.default_rng(3)
    p = prepare_array(rng.integers(0, 256, (200, 300, 3), dtype=np.uint8))
    a = fastgaze_model.predict([p])[0].scores
    np.testing.assert_array_equal(fastgaze_model.predict([p])[0].scores, a)
    # Batching may change the CPU convolution algorithm: equal to float32 rounding only.
    b = fastgaze_model.predict([p, p])[1].scores
    np.testing.assert_allclose(b, a, atol=1e-4)


def test_score_is_raw_output_without_normalisation() -> None:
    # A 1x1 conv with weight 1, bias -5 and leaky slope 0.5: the score is leaky(x - 5).
    conv = ConvSpec(np.ones((1, 3, 1, 1), np.float32) / 3, np.array([-5.0], np.float32),
                    "leaky_relu", 0.5)
    net = FastGazeNet([conv, PoolSpec(2), BlurSpec(19, 3)])
    x = torch.zeros(1, 3, 3, 5)
    x[0, :, 0, 0] = 9.0
    out = net(x)
    assert out.shape == (1, 1, 2, 3)                     # ceil mode keeps the odd edges
    assert out[0, 0, 0, 0].item() == pytest.approx(4.0)
    assert out[0, 0, 1, 2].item() == pytest.approx(-2.5)


def test_missing_weights(tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match=r"FastGaze weights not found at .*nope\.vxm"):
        FastGaze(weights=tmp_path / "nope.vxm", device="cpu")


def test_corrupt_weights(tmp_path: Path) -> None:
    p = tmp_path / "bad.vxm"
    p.write_bytes(b"\x01\x74\x50\x4d\x05\x00\x00\x00")
    with pytest.raises(ModelError, match=r"bad\.vxm are unusable: .*truncated at offset 8"):
        FastGaze(weights=p, device="cpu")
