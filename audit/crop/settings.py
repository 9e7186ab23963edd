"""Settings of the crop stage (``conf/crop/``): which aspect ratios ``candidate_crops`` uses."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

#: Bounds of a usable crop ratio (height / width): beyond them a crop of any image up to
#: 10 000 px is under one pixel on one side (and 1e-300 is 0 in the program's float32).
MIN_RATIO = 1e-4
MAX_RATIO = 1e4


@dataclass
class CropConfig:
    """Crop aspect ratios, as Twitter's study used them.

    Attributes
    ----------
    aspect_ratios : list of float
        Crop height / width ratios, each > 0 (Twitter's 0.56, 1.0, 1.14, 2.0).
    include_image_ratio : bool
        Also crop at the image's own ratio ``H / W`` (the program appends it when called
        without ratios).
    """

    aspect_ratios: list[float] = field(default_factory=lambda: [0.56, 1.0, 1.14, 2.0])
    include_image_ratio: bool = True

    def __post_init__(self) -> None:
        bad = [r for r in self.aspect_ratios
               if not isinstance(r, (int, float)) or not math.isfinite(r) or r <= 0]
        if bad:
            raise ValueError(f"crop.aspect_ratios must be > 0, got {bad}")
        extreme = [r for r in self.aspect_ratios if not MIN_RATIO <= r <= MAX_RATIO]
        if extreme:
            # e.g. 1e-300: > 0, but float32 (the program's arithmetic) makes it 0, and any
            # ratio past these bounds gives a crop under 1 pixel on one side.
            raise ValueError(
                f"crop.aspect_ratios {extreme} lie outside [{MIN_RATIO:g}, {MAX_RATIO:g}]: a crop "
                f"that narrow is under 1 pixel on one side for any image up to "
                f"{int(1 / MIN_RATIO)} px; ratios are height / width, e.g. 0.56 or 2.0")
        if not self.aspect_ratios and not self.include_image_ratio:
            raise ValueError(
                "crop.aspect_ratios is empty and crop.include_image_ratio is false: no crop "
                "would be made; give at least one ratio or set include_image_ratio=true"
            )

    def ratios_for(self, width: int, height: int) -> list[float]:
        """Return the ratios for a ``width`` x ``height`` image, ``H / W`` last if included."""
        extra = [int(height) / int(width)] if self.include_image_ratio else []
        return [float(r) for r in self.aspect_ratios] + extra
