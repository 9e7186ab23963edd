"""Find croppers by name: one ``conf/cropper/NAME.yaml`` (plus its module) per cropper.

A cropper config is a mapping ``{"name": ..., "factory": "package.module:callable", **params}``.
:func:`build_cropper` imports the factory only when it is built (so optional libraries such as
pyvips are needed only by the croppers that use them), passes the parameters as keywords, and
checks that it returns a :class:`~audit.cropper.base.Cropper`. Adding a cropper is one module and
one yaml file; nothing else is edited. Plugins and tests may also :func:`register_cropper` a
name programmatically.

Only OmegaConf is used to read the yaml files (no Hydra: this is not an entry point).
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from audit.cropper.base import Cropper

log = logging.getLogger(__name__)

#: Where the cropper configs live (the ``cropper`` config group).
CONF_DIR = Path(__file__).resolve().parents[2] / "conf" / "cropper"

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_\-]*$")
_FACTORY = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
#: Parameters the registry itself supplies to a factory that accepts them.
_SUPPLIED = ("name", "model")

_registered: dict[str, str | Callable[..., Any]] = {}


def _hint(key: str, known: list[str]) -> str:
    close = difflib.get_close_matches(key, known, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _check_name(name: object) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"cropper name must be a word of letters, digits, '_' or '-' starting "
                         f"with a letter, got {name!r}")
    return name


def register_cropper(name: str, factory: str | Callable[..., Any]) -> None:
    """Make a cropper available under ``name`` without a yaml file (plugins, tests).

    Parameters
    ----------
    name : str
        Registry name (also the ``cropper`` column of records).
    factory : str or callable
        ``"package.module:callable"`` or the callable itself; it is called with the config's
        parameters as keywords and must return a :class:`~audit.cropper.base.Cropper`.
        A yaml file of the same name still supplies the parameters (its ``factory`` wins).
    """
    _check_name(name)
    if isinstance(factory, str):
        if not _FACTORY.match(factory):
            raise ValueError(f"cropper {name}: factory must look like 'package.module:callable', "
                             f"got {factory!r}")
    elif not callable(factory):
        raise TypeError(f"cropper {name}: factory must be a string or a callable, "
                        f"got {type(factory).__name__}")
    if name in _registered:
        log.info("cropper %s: registration replaced", name)
    _registered[name] = factory


def unregister_cropper(name: str) -> None:
    """Forget a programmatic registration (no error if there is none)."""
    _registered.pop(name, None)


def available(conf_dir: Path | None = None) -> list[str]:
    """Names of all croppers: ``conf/cropper/*.yaml`` plus programmatic registrations, sorted."""
    folder = CONF_DIR if conf_dir is None else Path(conf_dir)
    names = {p.stem for p in folder.glob("*.yaml")} if folder.is_dir() else set()
    return sorted(names | set(_registered))


def unknown_cropper_message(name: str, conf_dir: Path | None = None) -> str:
    """One line: the name is unknown, the available ones, and a did-you-mean hint."""
    names = available(conf_dir)
    return (f"cropper {name!r} is unknown; available: {', '.join(names) or '(none)'}"
            f"{_hint(str(name), names)}")


def cropper_config(name: str, conf_dir: Path | None = None) -> dict[str, Any]:
    """Read the config of one cropper (``conf/cropper/NAME.yaml``) as a plain dict.

    Parameters
    ----------
    name : str
        Registry name.
    conf_dir : Path, optional
        Folder of the yaml files (default ``conf/cropper/`` of this checkout).

    Returns
    -------
    dict
        ``{"name": name, "factory": ..., **params}``, interpolations resolved.

    Raises
    ------
    ValueError
        The name is unknown (one line listing the available ones, with a did-you-mean), or
        the file is malformed.
    """
    folder = CONF_DIR if conf_dir is None else Path(conf_dir)
    path = folder / f"{name}.yaml"
    if isinstance(name, str) and _NAME.match(name) and path.is_file():
        from omegaconf import OmegaConf
        from omegaconf.errors import OmegaConfBaseException

        try:
            loaded = OmegaConf.to_container(OmegaConf.load(path), resolve=True)
        except (OmegaConfBaseException, OSError, ValueError) as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ValueError(f"{path}: cannot be read as a cropper config: {first}") from exc
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ValueError(f"{path}: a cropper config must be a mapping of keys, "
                             f"got {type(loaded).__name__}")
        declared = loaded.setdefault("name", name)
        if declared != name:
            raise ValueError(f"{path}: name is {declared!r} but the file is named {name!r}; "
                             f"make them equal (the file name is the registry name)")
        if "factory" not in loaded and name not in _registered:
            raise ValueError(f"{path}: no 'factory' key; add e.g. "
                             f"factory: audit.cropper.{name}:build")
        return loaded
    if name in _registered:
        return {"name": name}
    raise ValueError(unknown_cropper_message(name, conf_dir))


def _resolve_factory(name: str, factory: str | Callable[..., Any]) -> Callable[..., Any]:
    if callable(factory):
        return factory
    if not isinstance(factory, str) or not _FACTORY.match(factory):
        raise ValueError(f"cropper {name}: factory must look like 'package.module:callable', "
                         f"got {factory!r}")
    module_name, attr = factory.split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and (module_name == exc.name or module_name.startswith(exc.name + ".")):
            raise ValueError(f"cropper {name}: factory module {module_name!r} not found "
                             f"(factory {factory!r})") from exc
        raise
    try:
        obj = getattr(module, attr)
    except AttributeError as exc:
        raise ValueError(f"cropper {name}: module {module_name!r} has no {attr!r} "
                         f"(factory {factory!r})") from exc
    if not callable(obj):
        raise ValueError(f"cropper {name}: factory {factory!r} is not callable")
    return obj


def _config_dict(config: Mapping[str, Any]) -> dict[str, Any]:
    try:
        from omegaconf import DictConfig, OmegaConf
    except ImportError:  # pragma: no cover - omegaconf comes with hydra-core
        return dict(config)
    if isinstance(config, DictConfig):
        plain = OmegaConf.to_container(config, resolve=True)
        return dict(plain) if isinstance(plain, dict) else {}
    return {k: (OmegaConf.to_container(v, resolve=True) if OmegaConf.is_config(v) else v)
            for k, v in config.items()}


def build_cropper(config: Mapping[str, Any], *, model: Any | None = None) -> Cropper:
    """Build a cropper from its config.

    Parameters
    ----------
    config : mapping
        ``{"name": ..., "factory": "package.module:callable", **params}`` (from
        :func:`cropper_config`, with any overrides applied). ``factory`` may be left out for a
        name given to :func:`register_cropper`.
    model : SaliencyModel, optional
        The run's already-built saliency model; passed to factories that take a ``model``
        parameter (``fastgaze``).

    Returns
    -------
    Cropper
        Its :attr:`~audit.cropper.base.Cropper.name` is the config's ``name``.

    Raises
    ------
    ValueError
        Unknown name, malformed factory, or a parameter the factory does not take (one line,
        with a did-you-mean).
    TypeError
        The factory returned something other than a :class:`~audit.cropper.base.Cropper`.
    ImportError
        The cropper's library is not installed (the message names the extra to install).
    """
    if not isinstance(config, Mapping):
        raise TypeError(f"a cropper config must be a mapping, got {type(config).__name__}")
    params = _config_dict(config)
    name = _check_name(params.pop("name", None))
    factory = params.pop("factory", None) or _registered.get(name)
    if factory is None:
        raise ValueError(f"cropper {name}: no factory in its config and none registered; "
                         f"{unknown_cropper_message(name)}")
    func = _resolve_factory(name, factory)
    clash = [k for k in _SUPPLIED if k in params]
    if clash:
        raise ValueError(f"cropper {name}: {clash[0]!r} is set by the registry and cannot be a "
                         f"config key")
    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError):  # builtins without a signature: pass what we have
        sig = None
    if sig is not None:
        accepted = {p.name for p in sig.parameters.values()
                    if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
        takes_any = any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values())
        if not takes_any:
            unknown = sorted(set(params) - accepted)
            if unknown:
                keys = sorted(accepted - set(_SUPPLIED))
                raise ValueError(
                    f"cropper.{unknown[0]}: {name} has no such key{_hint(unknown[0], keys)}; "
                    f"its keys are: {', '.join(keys) or '(none)'}")
        if "name" in accepted or takes_any:
            params["name"] = name
        if "model" in accepted:
            params["model"] = model
    cropper = func(**params)
    if not isinstance(cropper, Cropper):
        raise TypeError(f"cropper {name}: factory {factory!r} returned a "
                        f"{type(cropper).__name__}, not an audit.cropper.base.Cropper")
    if cropper.kind not in ("saliency", "box"):
        raise TypeError(f"cropper {name}: kind must be 'saliency' or 'box', got {cropper.kind!r}")
    cropper.name = name
    log.debug("built cropper %s (%s)", name, type(cropper).__name__)
    return cropper


def build_named(name: str, *, model: Any | None = None, overrides: Mapping[str, Any] | None = None,
                conf_dir: Path | None = None) -> Cropper:
    """Build the cropper ``name`` from its yaml file, with ``overrides`` applied on top."""
    config = cropper_config(name, conf_dir)
    config.update(dict(overrides or {}))
    config["name"] = name
    return build_cropper(config, model=model)


def run_cropper_configs(names: Sequence[str] | None, selected: Mapping[str, Any],
                        conf_dir: Path | None = None) -> list[dict[str, Any]]:
    """Return the configs of a run's croppers (``compare.croppers`` + the ``cropper`` group).

    Parameters
    ----------
    names : sequence of str or None
        ``compare.croppers``; ``None`` (or empty) means just the selected cropper.
    selected : mapping
        The composed ``cropper`` group (``settings.cropper``), overrides applied.
    conf_dir : Path, optional
        Folder of the yaml files.

    Returns
    -------
    list of dict
        One config per name, in order: the selected group's config for its own name (so
        ``cropper.KEY=...`` overrides reach it), the yaml file's for every other name.

    Raises
    ------
    ValueError
        A name is unknown (one line with the available ones) or listed twice.

    Examples
    --------
    >>> [c["name"] for c in run_cropper_configs(["center", "fastgaze"], {"name": "fastgaze"})]
    ['center', 'fastgaze']
    >>> run_cropper_configs(None, {"name": "center", "factory": "audit.cropper.center:build"})
    [{'name': 'center', 'factory': 'audit.cropper.center:build'}]
    """
    chosen = _config_dict(selected)
    if not names:
        return [chosen]
    seen: set[str] = set()
    out = []
    for name in names:
        if name in seen:
            raise ValueError(f"compare.croppers lists {name!r} twice; each cropper runs once")
        seen.add(name)
        if name == chosen.get("name"):
            config = cropper_config(name, conf_dir)  # checks the name; then the overrides win
            config.update(chosen)
            out.append(config)
        else:
            out.append(cropper_config(name, conf_dir))
    return out


def build_croppers(configs: Sequence[Mapping[str, Any]], *, model: Any | None = None
                   ) -> list[Cropper]:
    """Build several croppers; if one fails, those already built are closed before raising."""
    built: list[Cropper] = []
    try:
        for config in configs:
            built.append(build_cropper(config, model=model))
    except BaseException:
        for cropper in built:
            cropper.close()
        raise
    return built
