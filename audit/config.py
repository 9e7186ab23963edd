"""Typed schema of the whole configuration and its registration with Hydra.

Each config group is validated by the settings dataclass of the package it configures; this
module only assembles them. ``model`` is the one group built by ``hydra.utils.instantiate``
(its ``_target_`` names a factory in :mod:`audit.model`).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf

from audit.analysis.settings import AnalysisConfig
from audit.compare.settings import CompareConfig
from audit.crop.settings import CropConfig
from audit.data.settings import DataConfig
from audit.gaze.settings import GazeConfig
from audit.io import PathsConfig
from audit.plots.settings import PlotsConfig


@dataclass
class AuditConfig:
    """Everything one ``python -m audit.run`` needs (``conf/config.yaml``)."""

    name: str = "default"
    seed: int = 0
    data: DataConfig = field(default_factory=DataConfig)
    model: Any = field(default_factory=dict)
    crop: CropConfig = field(default_factory=CropConfig)
    compare: CompareConfig = field(default_factory=CompareConfig)
    analysis: AnalysisConfig = field(default_factory=AnalysisConfig)
    plots: PlotsConfig = field(default_factory=PlotsConfig)
    gaze: GazeConfig = field(default_factory=GazeConfig)
    paths: PathsConfig = field(default_factory=PathsConfig)

    def __post_init__(self) -> None:
        if not self.name or "/" in self.name or self.name.startswith("."):
            raise ValueError(f"name must be a plain folder name, got {self.name!r}")
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")


def register_configs() -> None:
    """Register the schema so ``conf/config.yaml`` can extend it (``defaults: [base_config]``)."""
    ConfigStore.instance().store(name="base_config", node=AuditConfig)


def to_settings(cfg: DictConfig) -> AuditConfig:
    """Convert a composed config into typed settings (runs every ``__post_init__`` check).

    The ``model`` group stays a plain dict (it is instantiated, not validated, here).
    """
    settings = OmegaConf.to_object(cfg)
    if not isinstance(settings, AuditConfig):  # composed without the schema (tests, tools)
        raise TypeError("config was not composed with base_config; add it to the defaults")
    if isinstance(settings.model, DictConfig):
        settings.model = OmegaConf.to_container(settings.model, resolve=True)
    return settings


def suggest_key(key: str, known: list[str]) -> str:
    """Return a ' (did you mean X?)' hint for a mistyped key, or an empty string."""
    close = difflib.get_close_matches(key, known, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
