"""Fixtures locating the golden outputs and the FastGaze weights (env variables, never network)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

GOLDEN_ENV = "AUDIT_GOLDEN_DIR"
WEIGHTS_ENV = "AUDIT_FASTGAZE_WEIGHTS"


def _env_path(var: str, what: str) -> Path:
    value = os.environ.get(var)
    if not value:
        pytest.skip(f"set {var} to {what} to run this test")
    path = Path(value)
    if not path.exists():
        pytest.skip(f"{var}={value} does not exist; point it at {what}")
    return path


@pytest.fixture(scope="session")
def golden_dir() -> Path:
    """Folder with the golden cases (``NAME.json`` + input image), from AUDIT_GOLDEN_DIR."""
    return _env_path(GOLDEN_ENV, "the golden folder (CI: ../shared/golden)")


@pytest.fixture(scope="session")
def fastgaze_weights() -> Path:
    """Path of fastgaze.vxm, from AUDIT_FASTGAZE_WEIGHTS."""
    return _env_path(WEIGHTS_ENV, "the weights file (CI: ../shared/models/fastgaze.vxm)")


@pytest.fixture(scope="session")
def fastgaze_model(fastgaze_weights: Path):
    """A CPU FastGaze engine loaded once per session."""
    from audit.model.fastgaze import FastGaze

    return FastGaze(weights=fastgaze_weights, device="cpu")
