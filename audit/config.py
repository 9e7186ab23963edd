"""Typed schema of the whole configuration and its registration with Hydra.

Each config group is validated by the settings dataclass of the package it configures; this
module only assembles them. ``model`` is the one group built by ``hydra.utils.instantiate``
(its ``_target_`` names a factory in :mod:`audit.model`).
"""

from __future__ import annotations

import difflib
import os
import re
import secrets
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
from audit.io import PathsConfig, project_root, resolve_path
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


#: Tells apart run folders started in the same second: the process id (unique on a host at
#: any moment) and two random bytes (for processes on other hosts sharing the folder).
RUN_TOKEN = f"{os.getpid()}-{secrets.token_hex(2)}"


def _run_path(root: str | None, value: str) -> str:
    # The run folder resolves against paths.root like every other relative path of a run.
    return str(resolve_path(project_root(root), value))


def register_configs() -> None:
    """Register the schema so ``conf/config.yaml`` can extend it (``defaults: [base_config]``).

    Also registers the resolvers ``conf/hydra/default.yaml`` uses for the run folder:
    ``audit.path`` (a path against ``paths.root``) and ``audit.run_token`` (see
    :data:`RUN_TOKEN`).
    """
    ConfigStore.instance().store(name="base_config", node=AuditConfig)
    if not OmegaConf.has_resolver("audit.path"):
        OmegaConf.register_new_resolver("audit.path", _run_path)
    if not OmegaConf.has_resolver("audit.run_token"):
        OmegaConf.register_new_resolver("audit.run_token", lambda: RUN_TOKEN, use_cache=True)


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
    return _compose_all([overrides], conf_dir)[0][1]


def _compose_all(jobs: list[list[str]], conf_dir: Path
                 ) -> list[tuple[DictConfig | None, str | None]]:
    """Compose each override list in one Hydra context: ``(config, None)`` or ``(None, line)``."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import (
        ConfigCompositionException,
        MissingConfigException,
        OverrideParseException,
    )

    register_configs()
    out: list[tuple[DictConfig | None, str | None]] = []
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(conf_dir), version_base="1.3"):
            for overrides in jobs:
                try:
                    out.append((compose(config_name="config", overrides=overrides), None))
                except MissingConfigException as exc:
                    out.append((None, _missing_option(str(exc), conf_dir)))
                except ConfigCompositionException as exc:
                    out.append((None, _composition_problem(exc)))
                except OverrideParseException as exc:
                    out.append((None, f"cannot parse the overrides {' '.join(overrides)}: "
                                      f"{str(exc).splitlines()[0]} (quote values holding "
                                      "brackets, commas or spaces)"))
    finally:
        GlobalHydra.instance().clear()
    return out


def _composition_problem(exc: Exception) -> str:
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


#: Hints for mandatory keys (``???`` in conf/) left unset.
_MISSING_HINTS = {
    "model.command": ("model=external runs a program: give its argument list, e.g. "
                      "model.command='[/path/candidate_crops,/path/fastgaze.vxm,{image},"
                      "show_all_points]'"),
}
#: Fewest free bytes a results folder needs before a run starts (tables, figures, report).
MIN_FREE_BYTES = 16 * 2**20


def _is_hydra(arg: str) -> bool:
    return arg.startswith(("hydra.", "hydra/", "+hydra", "~hydra"))


def _settings_problem(cfg: DictConfig) -> str | None:
    missing = sorted(OmegaConf.missing_keys(cfg))
    if missing:
        key = missing[0]
        return f"{key} has no value (??? in conf/); " + _MISSING_HINTS.get(
            key, f"set it on the command line: {key}=VALUE")
    try:
        to_settings(cfg)
    except (ValueError, TypeError) as exc:
        return str(exc).splitlines()[0]
    return None


def output_problem(folder: Path, *, min_free: int = MIN_FREE_BYTES) -> str | None:
    """Return one line saying why run folders cannot be made under ``folder``, or ``None``.

    Checked before Hydra creates the run folder, whose own failure is a traceback: the
    nearest existing folder on the way must be a writable directory with ``min_free`` bytes.
    """
    probe = Path(folder)
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        return (f"cannot create the run folder under {folder}: {probe} is not a directory; "
                "choose another paths.results_dir (or hydra.run.dir)")
    if not os.access(probe, os.W_OK | os.X_OK):
        return (f"cannot create the run folder under {folder}: {probe} is not writable; "
                "choose a writable paths.results_dir (or hydra.run.dir)")
    st = os.statvfs(probe)
    free = st.f_bavail * st.f_frsize
    if free < min_free:
        return (f"cannot write a run under {folder}: only {free} bytes free on {probe} (a run "
                f"needs at least {min_free}); free space or choose another paths.results_dir")
    return None


def precheck(argv: list[str], *, conf_dir: Path = CONF_DIR) -> list[str]:
    """Problems of a command line found before any job starts, one line each (empty: none).

    A plain run is composed once; a sweep (``-m``) is expanded into its jobs and every job
    is composed and validated, so a bad value stops the sweep before a good job has started
    instead of aborting the remaining jobs half-way. The results folder must be writable.
    Other Hydra flags (``--help``, ``--cfg`` ...) are left to Hydra.
    """
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    sweep = any(a in ("-m", "--multirun") for a in argv)
    args = [a for a in argv if a not in ("-m", "--multirun")]
    if any(a.startswith("-") for a in args):
        return []
    hydra_args = {a.split("=", 1)[0]: a.split("=", 1)[1] for a in args
                  if _is_hydra(a) and "=" in a}
    overrides = [a for a in args if not _is_hydra(a)]
    if sweep:
        try:
            parsed = OverridesParser.create().parse_overrides(overrides)
        except Exception as exc:  # noqa: BLE001 - Hydra's parser errors have no common base
            return [f"cannot parse the sweep {' '.join(overrides)}: "
                    f"{str(exc).splitlines()[0]}"]
        jobs = [job for batch in BasicSweeper.split_arguments(parsed, None) for job in batch]
    else:
        jobs = [overrides]
    problems, cfg = [], None
    for n, (job, (cfg, problem)) in enumerate(zip(jobs, _compose_all(jobs, conf_dir),
                                                  strict=True)):
        problem = problem or _settings_problem(cfg)
        if problem:
            label = f"job {n} ({' '.join(job) or 'no overrides'}): " if sweep else ""
            problems.append(label + problem)
    if problems or cfg is None:
        return problems
    key = "hydra.sweep.dir" if sweep else "hydra.run.dir"
    target = (Path(hydra_args[key]) if key in hydra_args else
              resolve_path(project_root(cfg.paths.root), cfg.paths.results_dir))
    problem = output_problem(target)
    return [problem] if problem else []
