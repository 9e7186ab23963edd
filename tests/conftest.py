"""Shared fixtures: paths to ../shared data (env-gated), Hydra composition, result folders."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parents[1]
CONF_DIR = ROOT / "conf"


def compose_with_yaml(tmp_path: Path, *overrides: str, experiment: str = "pairwise"):
    """Settings and composed YAML of a smoke run whose data, checkpoints and cache live under
    ``tmp_path``."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from omegaconf import OmegaConf

    from audit.config import register_configs, to_settings

    register_configs()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=[
            f"experiment={experiment}", "debug=smoke",
            f"data.synthetic.cache_dir={tmp_path / 'synthetic'}",
            f"paths.work_dir={tmp_path / 'work'}", f"paths.cache_dir={tmp_path / 'cache'}",
            *overrides])
    return to_settings(cfg), OmegaConf.to_yaml(cfg, resolve=True)


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
