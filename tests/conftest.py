"""Shared fixtures: paths to ../shared data (env-gated), Hydra composition, result folders."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parents[1]
CONF_DIR = ROOT / "conf"


def shared_path(var: str, what: str) -> Path:
    """A folder or file named by an environment variable, or skip (fail in CI) when absent.

    CI (``.ci/run``) sets ``AUDIT_REQUIRE_SHARED=1`` so that these tests can never silently
    skip there.
    """
    value = os.environ.get(var)
    if value and Path(value).exists():
        return Path(value)
    msg = f"set {var} to {what} (CI sets it to ../shared/...); got {value!r}"
    if os.environ.get("AUDIT_REQUIRE_SHARED"):
        pytest.fail(msg)
    pytest.skip(msg)


@pytest.fixture(scope="session")
def weights_path() -> Path:
    return shared_path("AUDIT_FASTGAZE_WEIGHTS", "the path of fastgaze.vxm")


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    return shared_path("AUDIT_REFERENCE_DIR", "the folder holding twitter_results.txt")


@pytest.fixture(scope="session")
def golden_dir() -> Path:
    return shared_path("AUDIT_GOLDEN_DIR", "the golden cases folder")


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """No test may touch the user's cache or download the weights behind its back."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.getbasetemp() / "xdg-cache"))
