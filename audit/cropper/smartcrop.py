"""The smartcrop.js algorithm as ported to Python (PyPI ``smartcrop``, MIT).

Scores candidate windows by skin (a single skin colour, default the light tone
(0.78, 0.57, 0.44)), edge detail and saturation, weighted towards the centre and the thirds. Every
model constant is a config key, so ``-m cropper.skin_color=[0.78,0.57,0.44],[0.36,0.25,0.2]``
sweeps the skin model.

Size: the library decides it. It is asked for the program's window of each ratio
(:func:`~audit.cropper.base.window_size`), scales that to the largest window of the same ratio
that fits, and then also tries windows down to ``min_scale`` (0.9) of it; the top-scoring one is
returned, so a crop may be up to 10% smaller than the program's window and its ratio is only
approximately the one asked for (floor rounding). Position is on a grid of ``step`` (8) pixels.
No focus point; ``info["scores"]`` holds the library's score per ratio.

Needs ``smartcrop`` (``pip install 'cropaudit[croppers]'``), imported when the cropper is built.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from audit.crop.geometry import Box
from audit.cropper.base import Cropper, CropResult, check_ratios, check_rgb, window_size
from audit.exceptions import ModelError

_MSG_NO_LIB = ("{name} needs the smartcrop package, which is not installed; install it with "
               "pip install 'cropaudit[croppers]'")
_MSG_COLOR = "{name}: skin_color must be three numbers in [0, 1] (r, g, b), got {value!r}"

#: Model constants of ``smartcrop.SmartCrop`` (its dataclass fields), with the library defaults.
MODEL_KEYS = ("detail_weight", "edge_radius", "edge_weight", "outside_importance",
              "rule_of_thirds", "saturation_bias", "saturation_brightness_max",
              "saturation_brightness_min", "saturation_threshold", "saturation_weight",
              "score_down_sample", "skin_bias", "skin_brightness_max", "skin_brightness_min",
              "skin_color", "skin_threshold", "skin_weight")
#: Search settings of ``SmartCrop.crop``.
SEARCH_KEYS = ("prescale", "max_scale", "min_scale", "num_scale_steps", "step")


def _skin_color(value: Any, name: str) -> tuple[float, float, float]:
    try:
        rgb = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        rgb = ()
    if len(rgb) != 3 or not all(0.0 <= v <= 1.0 for v in rgb):
        raise ValueError(_MSG_COLOR.format(name=name, value=value))
    return rgb  # type: ignore[return-value]


class SmartcropCropper(Cropper):
    """``smartcrop.SmartCrop(**model).crop(image, w, h, **search)['top_crop']`` per ratio.

    Parameters
    ----------
    model : dict
        ``SmartCrop`` constructor keywords (:data:`MODEL_KEYS`).
    search : dict
        ``SmartCrop.crop`` keywords (:data:`SEARCH_KEYS`).
    name : str
        Registry name.
    """

    kind = "box"
    library = "smartcrop"

    def __init__(self, *, model: dict[str, Any], search: dict[str, Any],
                 name: str = "smartcrop") -> None:
        self.name = name
        try:
            lib = importlib.import_module("smartcrop")
        except ImportError as exc:
            raise ImportError(_MSG_NO_LIB.format(name=name)) from exc
        model = dict(model)
        model["skin_color"] = _skin_color(model.get("skin_color", (0.78, 0.57, 0.44)), name)
        self.model_settings = model
        self.search_settings = dict(search)
        self._lib = lib
        self._smartcrop = lib.SmartCrop(**model)

    def crop(self, rgb: npt.NDArray[np.uint8], aspect_ratios: Sequence[float]) -> CropResult:
        """Ask the library for each ratio's window (it chooses the size within 90-100%)."""
        from PIL import Image

        arr = check_rgb(rgb, self.name)
        ratios = check_ratios(aspect_ratios, self.name)
        h, w = arr.shape[:2]
        image = Image.fromarray(np.ascontiguousarray(arr))
        boxes: dict[float, Box] = {}
        scores: dict[str, float] = {}
        for r in ratios:
            cw, ch = window_size(w, h, r)
            try:
                # tiny windows make the library divide by a zero area; its score is then inf
                with np.errstate(divide="ignore", invalid="ignore"):
                    top = self._smartcrop.crop(image, cw, ch, **self.search_settings)["top_crop"]
            except (ValueError, ZeroDivisionError) as exc:
                first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                raise ModelError(f"{self.name}: smartcrop failed on a {w}x{h} image for ratio "
                                 f"{r:g} ({cw}x{ch}): {first[:200]}") from exc
            boxes[r] = Box(int(top["x"]), int(top["y"]), int(top["width"]), int(top["height"]))
            score = float(top["score"])
            scores[repr(r)] = score if math.isfinite(score) else None  # type: ignore[assignment]
        return CropResult(boxes=boxes, info={"scores": scores})

    def library_version(self) -> str | None:
        """Return the installed smartcrop version."""
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("smartcrop")
        except PackageNotFoundError:  # pragma: no cover - vendored copies
            return getattr(self._lib, "__version__", None)

    def settings(self) -> dict[str, Any]:
        """Return every model constant and search setting (skin colour as a list)."""
        model = dict(self.model_settings, skin_color=list(self.model_settings["skin_color"]))
        return {**model, **self.search_settings}


def build(
    *,
    name: str = "smartcrop",
    skin_color: Sequence[float] = (0.78, 0.57, 0.44),
    skin_weight: float = 1.8,
    skin_bias: float = 0.01,
    skin_threshold: float = 0.8,
    skin_brightness_min: float = 0.2,
    skin_brightness_max: float = 1.0,
    saturation_weight: float = 0.3,
    saturation_bias: float = 0.2,
    saturation_threshold: float = 0.4,
    saturation_brightness_min: float = 0.05,
    saturation_brightness_max: float = 0.9,
    detail_weight: float = 0.2,
    edge_radius: float = 0.4,
    edge_weight: float = -20.0,
    outside_importance: float = -0.5,
    rule_of_thirds: bool = True,
    score_down_sample: int = 8,
    prescale: bool = True,
    max_scale: float = 1.0,
    min_scale: float = 0.9,
    num_scale_steps: int = 2,
    step: int = 8,
) -> SmartcropCropper:
    """Build the cropper named by ``conf/cropper/smartcrop.yaml`` (defaults = the library's)."""
    values = locals()
    model = {k: values[k] for k in MODEL_KEYS}
    search = {k: values[k] for k in SEARCH_KEYS}
    for key in ("score_down_sample", "num_scale_steps", "step"):
        if not isinstance(values[key], int) or values[key] < 1:
            raise ValueError(f"{name}: {key} must be an integer >= 1, got {values[key]!r}")
    return SmartcropCropper(model=model, search=search, name=name)
