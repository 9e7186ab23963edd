"""Shared fixtures of the cropper tests: a CPU FastGaze cropper and small test images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="session")
def fastgaze_cropper(weights_path: Path):
    """The ``fastgaze`` cropper built alone (CPU, weights from the shared fixture)."""
    from audit.cropper.registry import build_named

    return build_named("fastgaze", overrides={"weights": str(weights_path), "device": "cpu"})


@pytest.fixture(scope="session")
def photo_rgb(golden_dir: Path) -> np.ndarray:
    """One golden photo (500x750 portrait of a person) as an RGB array."""
    from audit.data.images import load_image

    return load_image(golden_dir / "halt_01.jpg")


def textured(width: int, height: int, seed: int = 0) -> np.ndarray:
    """A smooth random RGB image with a bright blob, so content-aware croppers have a target."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, size=(-(-height // 16), -(-width // 16), 3))
    img = np.kron(base, np.ones((16, 16, 1)))[:height, :width]
    yy, xx = np.mgrid[:height, :width]
    cx, cy = rng.uniform(0.15, 0.85) * width, rng.uniform(0.15, 0.85) * height
    blob = np.exp(-(((xx - cx) / (0.08 * width)) ** 2 + ((yy - cy) / (0.08 * height)) ** 2))
    img = img * 0.5 + 255 * 0.5 * blob[..., None]
    return np.clip(img, 0, 255).astype(np.uint8)
