"""A FastGaze engine built once per session from the weights named by the shared fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def fastgaze_model(weights_path: Path):
    """A CPU FastGaze engine loaded once per session."""
    from audit.model.fastgaze import FastGaze

    return FastGaze(weights=weights_path, device="cpu")
