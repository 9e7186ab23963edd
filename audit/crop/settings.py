"""Settings of the crop stage (``conf/crop/``): which aspect ratios ``candidate_crops`` uses."""

from __future__ import annotations

import math
from dataclasses import dataclass, field


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
        if not self.aspect_ratios and not self.include_image_ratio:
            raise ValueError(
                "crop.aspect_ratios is empty and crop.include_image_ratio is false: no crop "
                "would be made; give at least one ratio or set include_image_ratio=true"
            )

    def ratios_for(self, width: int, height: int) -> list[float]:
        """Return the ratios for a ``width`` x ``height`` image, ``H / W`` last if included."""
        extra = [int(height) / int(width)] if self.include_image_ratio else []
        return [float(r) for r in self.aspect_ratios] + extra
