"""The null cropper: the program's window of each ratio, centred on the image (geometry only).

Any disparity a content-aware cropper shows beyond this one comes from the content it looks at;
on a counterbalanced design the centre crop itself treats every group alike by construction.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from audit.crop.geometry import Point
from audit.cropper.base import Cropper, CropResult, centered_box, check_ratios, check_rgb


class CenterCropper(Cropper):
    """Centred windows of each ratio; the returned point is the centre.

    Full width if ``H / W > ar`` else full height, centred on ``(int(0.5 W), int(0.5 H))``
    (the anchor Twitter's program uses for symmetric images).
    """

    kind = "box"

    def __init__(self, *, name: str = "center") -> None:
        self.name = name

    def crop(self, rgb: npt.NDArray[np.uint8], aspect_ratios: Sequence[float]) -> CropResult:
        """Centred window per ratio (see the class docstring)."""
        h, w = check_rgb(rgb, self.name).shape[:2]
        ratios = check_ratios(aspect_ratios, self.name)
        center = Point(int(0.5 * w), int(0.5 * h))
        return CropResult(boxes={r: centered_box(w, h, r, center) for r in ratios}, point=center)


def build(*, name: str = "center") -> CenterCropper:
    """Build the cropper named by ``conf/cropper/center.yaml``."""
    return CenterCropper(name=name)
