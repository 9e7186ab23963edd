"""Which croppers one run compares (``compare.croppers``), built once from their configs.

``compare.croppers: null`` runs just the selected ``cropper`` group; a list names several
croppers that see the same composites. Each listed name takes its parameters from
``conf/cropper/NAME.yaml``; the selected ``cropper`` group (with its command-line overrides)
replaces the entry of the same name. The run's saliency model is handed to every factory, so
``fastgaze`` wraps the model already built (weights fallback included) and is scored by the
runner's batched path.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

log = logging.getLogger(__name__)

#: Cropper of runs whose configuration has no ``cropper`` group.
DEFAULT_CROPPER = "fastgaze"


def cropper_names(croppers: Sequence[str] | None, selected: Mapping[str, Any] | None) -> list[str]:
    """Names a run compares: ``compare.croppers``, else the selected cropper's name.

    Examples
    --------
    >>> cropper_names(None, {"name": "smartcrop"}), cropper_names(["center", "fastgaze"], None)
    (['smartcrop'], ['center', 'fastgaze'])
    """
    if croppers:
        return [str(c) for c in croppers]
    if selected and selected.get("name"):
        return [str(selected["name"])]
    return [DEFAULT_CROPPER]


def cropper_configs(names: Sequence[str], selected: Mapping[str, Any] | None) -> list[dict]:
    """One config per name (the selected group's for its own name, else the yaml file's)."""
    from audit.cropper.registry import cropper_config

    out = []
    for name in names:
        if selected and selected.get("name") == name:
            out.append(dict(selected))
        else:
            out.append(dict(cropper_config(name)))
    return out


def build_croppers(croppers: Sequence[str] | None, selected: Mapping[str, Any] | None, *,
                   model: Any) -> list[Any]:
    """Build the run's croppers (see the module docstring); close them with :func:`close_all`."""
    from audit.cropper.registry import build_cropper

    built: list[Any] = []
    try:
        for cfg in cropper_configs(cropper_names(croppers, selected), selected):
            built.append(build_cropper(cfg, model=model))
    except BaseException:
        close_all(built)
        raise
    log.info("croppers: %s", ", ".join(c.name for c in built))
    return built


def close_all(croppers: Sequence[Any]) -> None:
    """End every cropper's external resources (processes), even when one fails to close."""
    for c in croppers:
        try:
            c.close()
        except Exception as exc:  # noqa: BLE001 - closing must not hide the run's outcome
            log.warning("closing cropper %s failed: %s", getattr(c, "name", c), exc)


def describe_croppers(croppers: Sequence[Any]) -> list[dict]:
    """Return what manifests record per cropper (library, version, settings)."""
    return [dict(c.describe()) for c in croppers]


def croppers_identity(croppers: Sequence[Any]) -> list[dict]:
    """Return what decides the croppers' boxes (checkpoint keys; no device or batch size)."""
    return [dict(getattr(c, "output_identity", c.describe)()) for c in croppers]
