"""libvips ``smartcrop`` (the cropper behind sharp and imgproxy) through pyvips.

``vips_attention`` and ``vips_entropy`` are this module with ``interesting`` set to
``attention`` or ``entropy`` (libvips also accepts ``centre``, ``low``, ``high``, ``all``).
libvips needs an explicit crop size, so each ratio's size is the program's window
(:func:`~audit.cropper.base.window_size`); libvips then chooses only the position. The crop's
top-left is ``(-out.xoffset, -out.yoffset)`` of the image libvips returns.

The ``attention`` strategy (edges, a skin-colour box in LAB, saturation, blurred) also returns
its attention centre. That centre depends on the crop size, so :attr:`CropResult.point` is the
one returned for the first ratio asked for and ``info["points"]`` holds every ratio's
(``{"1.0": [x, y], ...}``), so ``vips_attention`` sets :attr:`has_point` and gets
``records`` rows. ``entropy`` (and the other strategies) return no point: libvips 8.18 reports
``attention_x = attention_y = 0`` for them, which is not a focus point, so none is recorded.

pyvips forwards every libvips GLib message to its ``pyvips`` logger at INFO/DEBUG, which would
flood ``run.log``; :func:`import_pyvips` sets that logger to WARNING.

Needs ``pyvips[binary]`` (``pip install 'cropaudit[croppers]'``), imported when the cropper is
built; the libvips version goes into the manifest through :meth:`VipsCropper.describe`.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from audit.crop.geometry import Box, Point
from audit.cropper.base import Cropper, CropResult, check_ratios, check_rgb, window_size
from audit.exceptions import ModelError

log = logging.getLogger(__name__)

#: Strategies of ``vips_smartcrop`` (``VipsInteresting``).
STRATEGIES = ("attention", "entropy", "centre", "low", "high", "all", "none")

_MSG_NO_PYVIPS = ("{name} needs pyvips with libvips, which is not importable ({error}); install "
                  "it with pip install 'cropaudit[croppers]' (pyvips[binary], no system package)")
_MSG_STRATEGY = "{name}: interesting must be one of {choices}, got {value!r}"


def import_pyvips(name: str) -> Any:
    """Import pyvips, or raise ImportError naming the extra to install."""
    # set before the import: pyvips logs at INFO while it loads libvips
    logging.getLogger("pyvips").setLevel(logging.WARNING)
    try:
        return importlib.import_module("pyvips")
    except (ImportError, OSError) as exc:  # OSError: pyvips present but libvips not loadable
        raise ImportError(_MSG_NO_PYVIPS.format(name=name, error=exc)) from exc


class VipsCropper(Cropper):
    """libvips ``smartcrop`` at the program's window sizes.

    Parameters
    ----------
    interesting : str
        libvips strategy: ``attention`` or ``entropy`` (or the other ``VipsInteresting``
        values).
    name : str
        Registry name.
    """

    kind = "box"
    library = "libvips"

    def __init__(self, *, interesting: str = "attention", name: str = "vips_attention") -> None:
        self.name = name
        if interesting not in STRATEGIES:
            raise ValueError(_MSG_STRATEGY.format(name=name, choices=list(STRATEGIES),
                                                  value=interesting))
        self.interesting = interesting
        #: only ``attention`` returns a focus point (the runner's ``has_point``)
        self.has_point = interesting == "attention"
        self._pyvips = import_pyvips(name)

    def crop(self, rgb: npt.NDArray[np.uint8], aspect_ratios: Sequence[float]) -> CropResult:
        """Ask libvips for the window of each ratio; the program's size, libvips' position."""
        arr = np.ascontiguousarray(check_rgb(rgb, self.name))
        ratios = check_ratios(aspect_ratios, self.name)
        h, w = arr.shape[:2]
        pyvips = self._pyvips
        attention = self.interesting == "attention"
        try:
            image = pyvips.Image.new_from_array(arr)
            boxes: dict[float, Box] = {}
            points: dict[str, list[int]] = {}
            for r in ratios:
                cw, ch = window_size(w, h, r)
                if attention:
                    out, opts = image.smartcrop(cw, ch, interesting=self.interesting,
                                                attention_x=True, attention_y=True)
                    points[repr(r)] = [int(opts["attention_x"]), int(opts["attention_y"])]
                else:
                    out = image.smartcrop(cw, ch, interesting=self.interesting)
                boxes[r] = Box(-int(out.xoffset), -int(out.yoffset), int(out.width),
                               int(out.height))
        except pyvips.Error as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else "pyvips.Error"
            raise ModelError(f"{self.name}: libvips smartcrop failed on a {w}x{h} image: "
                             f"{first}") from exc
        point = Point(*points[repr(ratios[0])]) if points else None
        info: dict[str, Any] = {"points": points} if points else {}
        return CropResult(boxes=boxes, point=point, info=info)

    def library_version(self) -> str:
        """Return the libvips version, e.g. ``8.18.7`` (and pyvips' in :meth:`settings`)."""
        v = self._pyvips.version
        return f"{v(0)}.{v(1)}.{v(2)}"

    def settings(self) -> dict[str, Any]:
        """Return the strategy and the pyvips version."""
        return {"interesting": self.interesting,
                "pyvips": getattr(self._pyvips, "__version__", None)}


def build(*, interesting: str = "attention", name: str = "vips_attention") -> VipsCropper:
    """Build the cropper named by ``conf/cropper/vips_attention.yaml`` or ``vips_entropy.yaml``."""
    return VipsCropper(interesting=interesting, name=name)
