"""The program's input pipeline: decode, 320-box aspect-fit resize, channel constants.

Follows section 3 of the FastGaze reference pipeline (../shared/docs/fastgaze.md): libjpeg's
DCT-domain scaled decode, 2x2 box reductions, one fixed-point Lanczos-3 pass (or the 4-tap
upsampler), then the Caffe channel means subtracted in the program's (RGB) order.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import BinaryIO

import numpy as np
import numpy.typing as npt
import torch

from audit.data.images import apply_orientation, decode, exif_orientation, open_header, to_rgb

log = logging.getLogger(__name__)

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


#: At most this many DCT halvings (libjpeg scale_denom 8).
MAX_DCT_HALVINGS = 3
#: Largest number of Lanczos taps per output pixel.
MAX_TAPS = 12
_F32 = np.float32
_MSG_SHAPE = "expected a uint8 (H, W, 3) RGB array, got dtype {dtype} shape {shape}"
_MSG_TARGET = "resize target must be >= 1x1, got {width}x{height}"


def fit_size(width: int, height: int, box: int = BOX) -> tuple[int, int]:
    """Aspect-fit ``(width, height)`` into a ``box`` square, float32 maths as the program.

    ``s = min(box / W, box / H)`` in float32, then ``roundf(s * side)`` (half away from
    zero). Small images are enlarged. Sides are kept >= 1 (a guard the program lacks).
    """
    if width < 1 or height < 1:
        raise ValueError(f"image size must be >= 1x1, got {width}x{height}")
    s = min(_F32(box) / _F32(width), _F32(box) / _F32(height))
    tw = int(np.floor(np.abs(s * _F32(width)) + _F32(0.5)))
    th = int(np.floor(np.abs(s * _F32(height)) + _F32(0.5)))
    return max(tw, 1), max(th, 1)


def dct_read_size(width: int, height: int, target_w: int, target_h: int) -> tuple[int, int, int]:
    """Return the number of JPEG DCT halvings ``n`` and the decoded size ``(readW, readH)``.

    Halve (rounding up) while both halves stay >= the target, at most three times; libjpeg
    then decodes at ``scale_denom = 2**n`` to exactly ``(ceil(W / 2**n), ceil(H / 2**n))``.
    """
    n, w, h = 0, width, height
    while n < MAX_DCT_HALVINGS and -(-w // 2) >= target_w and -(-h // 2) >= target_h:
        n, w, h = n + 1, -(-w // 2), -(-h // 2)
    return n, w, h


def _box_reduce(rgb: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    h, w = rgb.shape[0] // 2 * 2, rgb.shape[1] // 2 * 2
    a = rgb[:h:2, :w:2].astype(np.uint16)
    a += rgb[1:h:2, :w:2]
    a += rgb[:h:2, 1:w:2]
    a += rgb[1:h:2, 1:w:2]
    return (a >> 2).astype(np.uint8)


def _sinc_f32(x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    # sin evaluated in double, result stored as float, as the program's C code does.
    xd = x.astype(np.float64) * np.pi
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(xd == 0.0, 1.0, np.sin(xd) / xd)
    return out.astype(_F32)


def _normalise_q16(weights: npt.NDArray[np.float32]) -> npt.NDArray[np.int64]:
    # Sum in tap order in float32 (no pairwise summation), scale by 1/sum, truncate to Q16.
    total = np.zeros(weights.shape[0], dtype=_F32)
    for k in range(weights.shape[1]):
        total = (total + weights[:, k]).astype(_F32)
    inv = (_F32(1.0) / total).astype(_F32)
    scaled = (weights * inv[:, None]).astype(_F32) * _F32(65536.0)
    return np.trunc(scaled.astype(_F32)).astype(np.int64)


@lru_cache(maxsize=256)
def _lanczos_table(n_in: int, n_out: int) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.int64]]:
    """Source indices (edge-clamped) and Q16 weights of the adaptive Lanczos-3 downsampler."""
    ratio = _F32(n_in) / _F32(n_out)
    scale = _F32(n_out) / _F32(n_in)
    i = np.arange(n_out, dtype=_F32)
    centre = ((i + _F32(0.5)) * ratio - _F32(0.00001)).astype(_F32)
    half = min(_F32(5.99999), _F32(3.0) * ratio)
    # C's (int) cast truncates toward zero, also for negative values.
    start = np.trunc(centre - half + _F32(0.5)).astype(np.int64)
    end = np.trunc(centre + half + _F32(0.5)).astype(np.int64)
    ntaps = np.minimum(end - start, MAX_TAPS)
    width = int(ntaps.max())
    k = np.arange(width, dtype=np.int64)
    pos = start[:, None] + k[None, :]
    x = (((pos.astype(_F32) - centre[:, None]) + _F32(0.5)) * scale).astype(_F32)
    lanczos = (_sinc_f32(x) * _sinc_f32((x / _F32(3.0)).astype(_F32))).astype(_F32)
    lanczos[k[None, :] >= ntaps[:, None]] = 0
    weights = _normalise_q16(lanczos)
    weights[k[None, :] >= ntaps[:, None]] = 0
    return np.clip(pos, 0, n_in - 1).astype(np.intp), weights


def _up_kernel(x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    # sin(pi x) sin(pi x / 2) / (pi x)^2, limit 1/2 at 0.
    xd = x.astype(np.float64) * np.pi
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(xd == 0.0, 0.5, np.sin(xd) * np.sin(xd / 2) / (xd * xd))
    return out.astype(_F32)


@lru_cache(maxsize=256)
def _upsample_table(n_in: int, n_out: int) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.int64]]:
    """Source indices (edge-clamped) and Q16 weights of the 4-tap enlarging filter."""
    ratio = _F32(n_in) / _F32(n_out)
    i = np.arange(n_out, dtype=_F32)
    pos = np.maximum(_F32(0.0), ((i + _F32(0.5)) * ratio - _F32(0.5)).astype(_F32))
    base = np.floor(pos).astype(np.int64)
    k = np.arange(-1, 3, dtype=np.int64)
    taps = base[:, None] + k[None, :]
    x = (pos[:, None] - taps.astype(_F32)).astype(_F32)
    weights = _normalise_q16(_up_kernel(x))
    return np.clip(taps, 0, n_in - 1).astype(np.intp), weights


def _apply_taps(src: npt.NDArray[np.integer], idx: npt.NDArray[np.intp],
                weights: npt.NDArray[np.int64], axis: int,
                dtype: type[np.signedinteger] = np.int64) -> npt.NDArray[np.signedinteger]:
    """Fixed-point weighted sum of gathered source lines along ``axis`` (one gather per tap)."""
    # Resampled axis first and the rest flattened, so each tap is one contiguous row gather.
    moved = np.moveaxis(src, axis, 0)
    rest = moved.shape[1:]
    flat = moved.reshape(moved.shape[0], -1)
    w = weights.astype(dtype)
    acc = np.zeros((idx.shape[0], flat.shape[1]), dtype=dtype)
    for k in range(idx.shape[1]):
        term = flat[idx[:, k]].astype(dtype)
        term *= w[:, k, None]
        acc += term
    return np.moveaxis(acc.reshape((idx.shape[0], *rest)), 0, axis)


def _lanczos_axis(rgb: npt.NDArray[np.uint8], n_out: int, axis: int) -> npt.NDArray[np.uint8]:
    idx, weights = _lanczos_table(rgb.shape[axis], n_out)
    # int32 is exact here: |sum of Q16 weights| stays below 2 * 65536, times 255.
    acc = _apply_taps(rgb, idx, weights, axis, np.int32)
    return np.clip((acc + 32767) >> 16, 0, 255).astype(np.uint8)


def _upsample(rgb: npt.NDArray[np.uint8], width: int, height: int) -> npt.NDArray[np.uint8]:
    h, w = rgb.shape[:2]
    if width != w:
        idx, weights = _upsample_table(w, width)
        horiz = _apply_taps(rgb, idx, weights, axis=1) >> 10
    else:
        horiz = rgb.astype(np.int64) << 6
    if height != h:
        idx, weights = _upsample_table(h, height)
        acc = _apply_taps(horiz, idx, weights, axis=0)
    else:
        acc = horiz << 16
    return np.clip((acc + (1 << 21) - 1) >> 22, 0, 255).astype(np.uint8)


def _check_rgb(rgb: npt.NDArray[np.generic]) -> None:
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(_MSG_SHAPE.format(dtype=rgb.dtype, shape=rgb.shape))


def resize_rgb(rgb: npt.NDArray[np.uint8], width: int, height: int) -> npt.NDArray[np.uint8]:
    """Resize an RGB array with the program's resampler (box reductions, then Lanczos-3).

    While both halves stay >= the target, 2x2 box reductions ``(a+b+c+d) >> 2`` (odd last
    row/column dropped); then, if the size still differs, the fixed-point adaptive Lanczos-3
    downsampler (horizontal pass, then vertical, each rounded to uint8), or the 4-tap
    upsampler when enlarging. See section 3 step 4 of the reference document.

    Parameters
    ----------
    rgb : ndarray of uint8, shape (H, W, 3)
        Source pixels.
    width, height : int
        Target size.

    Returns
    -------
    ndarray of uint8, shape (height, width, 3)
    """
    _check_rgb(rgb)
    if width < 1 or height < 1:
        raise ValueError(_MSG_TARGET.format(width=width, height=height))
    out = np.ascontiguousarray(rgb)
    while out.shape[1] // 2 >= width and out.shape[0] // 2 >= height:
        out = _box_reduce(out)
    h, w = out.shape[:2]
    if (w, h) == (width, height):
        return out
    if width > w or height > h:
        if width >= w and height >= h:
            return _upsample(out, width, height)
        # Mixed (one side up, one down): enlarge one axis, shrink the other.
        if width > w:
            out = _upsample(out, width, h)
            return _lanczos_axis(out, height, axis=0)
        out = _upsample(out, w, height)
        return _lanczos_axis(out, width, axis=1)
    if width != w:
        out = _lanczos_axis(out, width, axis=1)
    if height != h:
        out = _lanczos_axis(out, height, axis=0)
    return out


def symmetry_thumbnail(pixels: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """Shrink the resized 320-box image to 10x10 with the same resampler (symmetry check)."""
    return resize_rgb(pixels, 10, 10)


def _decode_for_box(source: str | Path | bytes | BinaryIO, box: int
                    ) -> tuple[npt.NDArray[np.uint8], int, tuple[int, int], tuple[int, int]]:
    """Decode in stored orientation (DCT-scaled for JPEG) for a ``box`` fit.

    Returns the stored-orientation RGB, the EXIF orientation, the display size ``(W, H)``
    and the resize target in stored orientation.
    """
    im, name = open_header(source)
    orientation = exif_orientation(im)
    stored_w, stored_h = im.size
    rotated = orientation >= 5
    width, height = (stored_h, stored_w) if rotated else (stored_w, stored_h)
    tw, th = fit_size(width, height, box)
    stw, sth = (th, tw) if rotated else (tw, th)
    if im.format == "JPEG":
        n, read_w, read_h = dct_read_size(stored_w, stored_h, stw, sth)
        # Pillow cannot request a scale whose floor-divided size is 0 (1-px wide strips).
        while n and (stored_w >> n == 0 or stored_h >> n == 0):
            n -= 1
            read_w, read_h = -(-stored_w // (1 << n)), -(-stored_h // (1 << n))
        if n:
            # Must run on the freshly opened file: draft is a no-op once decoded or copied.
            im.draft("RGB", (stored_w >> n, stored_h >> n))
            if im.size != (read_w, read_h):
                log.warning("%s: DCT-scaled decode gave %s, expected %s; resizing from there "
                            "(scores may differ slightly from the program)", name, im.size,
                            (read_w, read_h))
    return to_rgb(decode(im, name)), orientation, (width, height), (stw, sth)


def prepare_file(source: str | Path | bytes | BinaryIO, *, box: int = BOX) -> Prepared:
    """Decode an image file (DCT-scaled for JPEG) and resize it as the program does.

    JPEGs are decoded by libjpeg at ``1 / 2**n`` scale (Pillow ``draft``) before any
    transpose; resizing runs in the stored orientation (targets swapped for EXIF 5-8) and
    the result is then turned to the display orientation.

    Raises
    ------
    audit.exceptions.ImageError
        The file cannot be read (see :func:`audit.data.images.open_image`).
    """
    rgb, orientation, (width, height), (stw, sth) = _decode_for_box(source, box)
    pixels = apply_orientation(resize_rgb(rgb, stw, sth), orientation)
    return Prepared(pixels, (width, height))


def prepare_array(rgb: npt.NDArray[np.uint8], *, box: int = BOX) -> Prepared:
    """Resize an in-memory RGB array (display orientation) as the program does.

    No DCT scaling applies: the array is taken as a fully decoded image.
    """
    _check_rgb(rgb)
    height, width = rgb.shape[:2]
    tw, th = fit_size(width, height, box)
    return Prepared(resize_rgb(rgb, tw, th), (width, height))


def to_tensor(images: list[Prepared]) -> torch.Tensor:
    """Stack equal-size prepared images into a float32 ``(B, 3, rh, rw)`` tensor minus the means.

    The tensor keeps the pixels' interleaved layout (``torch.channels_last`` strides), which is
    what channels-last convolutions want; models that need NCHW memory call ``.contiguous()``.
    """
    sizes = {p.resized_size for p in images}
    if len(sizes) != 1:
        raise ValueError(f"to_tensor needs images of one size, got {sorted(sizes)}")
    batch = np.stack([p.pixels for p in images]).astype(np.float32)
    batch -= np.asarray(CHANNEL_MEANS, dtype=np.float32)
    return torch.from_numpy(batch).permute(0, 3, 1, 2)
