"""The program's input pipeline: decode, 320-box aspect-fit resize, channel constants.

Follows section 3 of the FastGaze reference pipeline (../shared/docs/fastgaze.md): libjpeg's
DCT-domain scaled decode, 2x2 box reductions, one fixed-point Lanczos-3 pass (or the 4-tap
upsampler), then the Caffe channel means subtracted in the program's (RGB) order.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import numpy.typing as npt
import torch

#: Side of the square box the program fits every image into.
BOX = 320
#: Subtracted from channels 0, 1, 2 (R, G, B) in this order (the Caffe VGG means, BGR-ordered).
CHANNEL_MEANS = (103.939, 116.779, 123.68)


@dataclass(frozen=True)
class Prepared:
    """An image as the network sees it, plus the geometry to map back to the original.

    Attributes
    ----------
    pixels : ndarray of uint8, shape (rh, rw, 3)
        The resized RGB image, in display (EXIF-applied) orientation.
    size : tuple of int
        ``(W, H)`` of the original image in display orientation.
    """

    pixels: npt.NDArray[np.uint8]
    size: tuple[int, int]

    @property
    def resized_size(self) -> tuple[int, int]:
        """``(rw, rh)`` of the network input."""
        return int(self.pixels.shape[1]), int(self.pixels.shape[0])


def fit_size(width: int, height: int, box: int = BOX) -> tuple[int, int]:
    """Aspect-fit ``(width, height)`` into a ``box`` square, float32 maths as the program."""
    raise NotImplementedError


def resize_rgb(rgb: npt.NDArray[np.uint8], width: int, height: int) -> npt.NDArray[np.uint8]:
    """Resize an RGB array with the program's resampler (box reductions, then Lanczos-3)."""
    raise NotImplementedError


def prepare_file(source: str | Path | bytes | BinaryIO, *, box: int = BOX) -> Prepared:
    """Decode an image file (DCT-scaled for JPEG) and resize it as the program does."""
    raise NotImplementedError


def prepare_array(rgb: npt.NDArray[np.uint8], *, box: int = BOX) -> Prepared:
    """Resize an in-memory RGB array (display orientation) as the program does."""
    raise NotImplementedError


def to_tensor(images: list[Prepared]) -> torch.Tensor:
    """Stack equal-size prepared images into a float32 ``(B, 3, rh, rw)`` tensor minus the means."""
    sizes = {p.resized_size for p in images}
    if len(sizes) != 1:
        raise ValueError(f"to_tensor needs images of one size, got {sorted(sizes)}")
    batch = np.stack([p.pixels for p in images]).astype(np.float32)
    batch -= np.asarray(CHANNEL_MEANS, dtype=np.float32)
    return torch.from_numpy(batch).permute(0, 3, 1, 2).contiguous()
