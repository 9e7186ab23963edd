"""Typed schema of the whole configuration and its registration with Hydra.

Each config group is validated by the settings dataclass of the package it configures; this
module only assembles them. ``model`` is the one group built by ``hydra.utils.instantiate``
(its ``_target_`` names a factory in :mod:`audit.model`).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

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
    cropper: Any = field(default_factory=dict)  # conf/cropper/NAME.yaml, built by the registry
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

    The ``model`` and ``cropper`` groups stay plain dicts (built by their factories, not
    validated, here).
    """
    settings = OmegaConf.to_object(cfg)
    if not isinstance(settings, AuditConfig):  # composed without the schema (tests, tools)
        raise TypeError("config was not composed with base_config; add it to the defaults")
    if isinstance(settings.model, DictConfig):
        settings.model = OmegaConf.to_container(settings.model, resolve=True)
    if isinstance(settings.cropper, DictConfig):
        settings.cropper = OmegaConf.to_container(settings.cropper, resolve=True)
    return settings


CONF_DIR = Path(__file__).resolve().parents[1] / "conf"


def composition_error(overrides: list[str], *, conf_dir: Path = CONF_DIR) -> str | None:
    """Compose ``conf/config.yaml`` with ``overrides``; on failure, one line naming the key.

    Hydra reports a mistyped key, a wrong type or an unknown option over several lines; an
    audit should stop with one sentence that names the key and, where it can, the fix.
    Returns ``None`` when the overrides compose.
    """
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import ConfigCompositionException, MissingConfigException

    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(conf_dir), version_base="1.3"):
            compose(config_name="config", overrides=overrides)
    except MissingConfigException as exc:
        return _missing_option(str(exc), conf_dir)
    except ConfigCompositionException as exc:
        cause = exc.__cause__
        if isinstance(cause, OmegaConfBaseException) and getattr(cause, "full_key", None):
            key = str(cause.full_key)
            problem = str(cause).splitlines()[0]
            parent, _, leaf = key.rpartition(".")
            hint = ""
            if "not in" in problem:
                node = _schema_node(parent)
                hint = suggest_key(leaf, list(node)) if node is not None else ""
            return f"{key}: {problem}{hint}"
        return str(exc).splitlines()[0]
    finally:
        GlobalHydra.instance().clear()
    return None


def _schema_node(dotted: str):
    node: Any = OmegaConf.structured(AuditConfig)
    for part in filter(None, dotted.split(".")):
        node = node.get(part) if isinstance(node, DictConfig) else None
    return node if isinstance(node, DictConfig) else None


def _missing_option(message: str, conf_dir: Path) -> str:
    """``Could not find 'model/nope'`` -> ``model=nope: no such option (choose one of ...)``."""
    match = re.search(r"Could not find '([\w/]+)/([^']+)'", message)
    if not match:
        return message.splitlines()[0]
    group, option = match.groups()
    options = sorted(p.stem for p in (conf_dir / group).glob("*.yaml"))
    return (f"{group}={option}: no such option in conf/{group}/ (choose one of "
            f"{', '.join(options)}){suggest_key(option, options)}")


def suggest_key(key: str, known: list[str]) -> str:
    """Return a ' (did you mean X?)' hint for a mistyped key, or an empty string."""
    close = difflib.get_close_matches(key, known, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
