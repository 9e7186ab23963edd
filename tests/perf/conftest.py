"""A FastGaze-shaped network with random weights (no weights file needed) and small inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from audit.model.base import SaliencyModel
from audit.model.fastgaze import FastGazeNet
from audit.model.vxm import ConvSpec, PoolSpec

# Channel widths of fastgaze.vxm (docs/fastgaze.md section 2), so kernels match the real model.
_WIDTHS = [3, 43, 44, "pool", 49, 56, "pool", 44, 38, "pool", 31, 20, "pool", 18, 10]
_HEAD = [10, 7, 7, 2, 1]


def random_fastgaze_layers(seed: int = 0) -> list:
    rng = np.random.default_rng(seed)
    layers, c = [], 3
    for w in _WIDTHS[1:]:
        if w == "pool":
            layers.append(PoolSpec(2))
            continue
        wt = (rng.standard_normal((w, c, 3, 3)) * np.sqrt(2 / (9 * c))).astype(np.float32)
        layers.append(ConvSpec(wt, (rng.standard_normal(w) * 0.05).astype(np.float32), "relu"))
        c = w
    for a, b in zip(_HEAD[:-1], _HEAD[1:], strict=True):
        wt = (rng.standard_normal((b, a, 1, 1)) * np.sqrt(2 / a)).astype(np.float32)
        layers.append(ConvSpec(wt, np.zeros(b, np.float32), "leaky_relu", 0.3))
    return layers


class RandomGaze(SaliencyModel):
    """FastGaze's architecture with seeded random weights."""

    name = "random_gaze"
    weights_sha256 = "0" * 64

    def __init__(self, *, device: str = "cpu", batch_size: int = 16,
                 channels_last: bool = False) -> None:
        super().__init__(device=device, batch_size=batch_size)
        self.net = FastGazeNet(random_fastgaze_layers()).to(self.device).eval()
        self.channels_last = channels_last
        if channels_last:
            self.net = self.net.to(memory_format=torch.channels_last)

    def score(self, batch: torch.Tensor) -> torch.Tensor:
        batch = batch.to(self.device)
        if self.channels_last:
            batch = batch.contiguous(memory_format=torch.channels_last)
        return self.net(batch)[:, 0]


@pytest.fixture(scope="session")
def small_people(tmp_path_factory):
    """Six textured images in two groups, sizes chosen to give few distinct composite sizes."""
    folder = tmp_path_factory.mktemp("people")
    rng = np.random.default_rng(3)
    paths = {}
    for g in ("light", "dark"):
        for i in range(3):
            w, h = 240 + 40 * i, 180
            yy, xx = np.mgrid[0:h, 0:w]
            base = 140 + 60 * np.sin(xx / (9.0 + i)) * np.cos(yy / 13.0)
            if g == "dark":
                base = base * 0.5
            rgb = np.clip(base[..., None] + rng.integers(-30, 31, (h, w, 3)), 0, 255)
            paths[f"{g}{i}"] = str(folder / f"{g}{i}.png")
            Image.fromarray(rgb.astype(np.uint8)).save(paths[f"{g}{i}"])
    members = {"light": ["light0", "light1", "light2"], "dark": ["dark0", "dark1", "dark2"]}
    return paths, members
