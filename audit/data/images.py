"""Open, validate and decode image files into RGB arrays, the way the whole project reads images.

Every failure (missing, empty, not a raster image, too large, truncated) raises
:class:`audit.exceptions.ImageError` with a message naming the file and the problem.
Colour conventions follow Twitter's program (../shared/docs/fastgaze.md, section 3): grayscale
becomes R=G=B, alpha is ignored as stored (transparent pixels keep their RGB), ICC profiles
are not applied, CMYK goes through Pillow's conversion and palettes are expanded.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import stat
import threading
from pathlib import Path
from typing import BinaryIO

import numpy as np
import numpy.typing as npt
from PIL import Image, UnidentifiedImageError

from audit.exceptions import ImageError

log = logging.getLogger(__name__)

#: Largest image (width x height) opened by default: 16 000 x 12 500. Larger files are refused
#: before any pixel is decoded (decompression-bomb guard).
DEFAULT_MAX_PIXELS = 200_000_000
#: Largest file read into memory (1 GiB): a bound on what one image may cost before decoding.
MAX_FILE_BYTES = 1 << 30
#: EXIF tag of the orientation.
ORIENTATION_TAG = 0x0112

_MSG_MISSING = "{name}: file does not exist; check the path or re-download it"
_MSG_EMPTY = "{name}: file is empty (0 bytes); re-download it or remove it from the table"
_MSG_VECTOR = ("{name}: is {kind}, not a raster image; convert it to PNG or JPEG first "
               "(e.g. rsvg-convert / pdftoppm)")
_MSG_UNKNOWN = ("{name}: not an image Pillow can read ({detail}); re-download it or remove it "
                "from the table")
_MSG_TOO_BIG = ("{name}: {width}x{height} = {pixels} pixels exceeds max_pixels={limit} "
                "(decompression-bomb guard); downscale the file or raise max_pixels")
_MSG_TRUNCATED = ("{name}: truncated or corrupt {fmt} ({detail}); re-download it or remove it "
                  "from the table")
_MSG_ZERO = "{name}: image has a zero side ({width}x{height})"
_MSG_FILE_TOO_BIG = ("{name}: file is {size} bytes, more than MAX_FILE_BYTES={limit}; "
                     "no image this project audits is that large, check the file")
_MSG_MODE = "{name}: unsupported pixel mode {mode!r}"
_MSG_NAN = ("{name}: {n} of {total} pixels are NaN or infinite (floating-point image); no "
            "colour can be read from them, so the image is refused rather than read as black; "
            "export it again with finite values")
_MSG_NOT_FILE = ("{name}: is {kind}, not an image file; point the table at the image file "
                 "itself")
_MSG_CHANGED = ("{name}: file changed since the people table was built (table sha256 "
                "{expected}, file now {actual}); nothing computed from it was kept. Restore the "
                "file or rebuild the table (rerun; data=folder rehashes), then rerun")

Source = str | Path | bytes | BinaryIO

# Pillow's own guard reads the process-global Image.MAX_IMAGE_PIXELS at open time; we replace
# it by our per-call ``max_pixels`` check, switching the global off only while opening.
_OPEN_LOCK = threading.Lock()


class ImageChangedError(ImageError):
    """The bytes read now are not the bytes the people table recorded (by SHA-256)."""


class ImageBytes(bytes):
    """The bytes of one image file, read once, with the name used in messages and their hash.

    Decoding from these bytes (not from the path again) is what makes a hash taken here the
    hash of exactly what was decoded.
    """

    name: str

    def __new__(cls, data: bytes, name: str) -> ImageBytes:  # noqa: D102 - see class
        obj = super().__new__(cls, data)
        obj.name = name
        obj._sha256 = None
        return obj

    @property
    def sha256(self) -> str:
        """SHA-256 of the bytes (computed once, on first use)."""
        if self._sha256 is None:
            self._sha256 = hashlib.sha256(self).hexdigest()
        return self._sha256


def file_kind(mode: int) -> str | None:
    """Name what a non-regular file is, in words (``None`` for a regular file)."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def read_image_bytes(path: str | Path, expected_sha256: str | None = None) -> ImageBytes:
    """Read an image file once, bounded, and hash the bytes read.

    Parameters
    ----------
    path : str or Path
        The file. Directories, FIFOs and devices are refused by what they are, without
        opening them (opening a FIFO would block).
    expected_sha256 : str or None
        The hash the people table recorded; when given and different from the bytes read,
        :class:`ImageChangedError` names the file and both hashes.

    Returns
    -------
    ImageBytes
        The bytes, their ``name`` and ``sha256``.

    Raises
    ------
    ImageError
        Missing, not a regular file, larger than ``MAX_FILE_BYTES``, or changed.
    """
    name = str(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise ImageError(_MSG_MISSING.format(name=name)) from None
    except OSError as exc:
        raise ImageError(f"{name}: cannot be read ({exc.strerror or exc})") from None
    kind = file_kind(st.st_mode)
    if kind is not None:
        raise ImageError(_MSG_NOT_FILE.format(name=name, kind=kind))
    if st.st_size > MAX_FILE_BYTES:
        raise ImageError(_MSG_FILE_TOO_BIG.format(name=name, size=st.st_size,
                                                  limit=MAX_FILE_BYTES))
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ImageError(f"{name}: cannot be read ({exc.strerror or exc})") from None
    if len(data) > MAX_FILE_BYTES:
        raise ImageError(_MSG_FILE_TOO_BIG.format(name=name, size=f">{MAX_FILE_BYTES}",
                                                  limit=MAX_FILE_BYTES))
    out = ImageBytes(data, name)
    if expected_sha256 and out.sha256 != expected_sha256:
        raise ImageChangedError(_MSG_CHANGED.format(name=name, expected=expected_sha256,
                                                    actual=out.sha256))
    return out


def _name(source: Source) -> str:
    if isinstance(source, str | Path):
        return str(source)
    if isinstance(source, bytes | bytearray):
        return getattr(source, "name", "<bytes>")
    return str(getattr(source, "name", "<stream>"))


def _sniff_vector(head: bytes) -> str | None:
    text = head.lstrip()[:256].lower()
    if text.startswith(b"%pdf"):
        return "a PDF document"
    if text.startswith(b"<svg") or (text.startswith(b"<?xml") and b"<svg" in head.lower()):
        return "an SVG (vector) image"
    return None


def open_header(source: Source, *, max_pixels: int | None = DEFAULT_MAX_PIXELS
                ) -> tuple[Image.Image, str]:
    """Open an image lazily (header only) and check everything that needs no pixels.

    A JPEG is returned undecoded, so it can still be given a DCT-scaling ``draft``; finish
    with :func:`decode`. Other formats come back decoded (their metadata may need the pixels).

    Parameters
    ----------
    source : str, Path, bytes or binary file object
        The image.
    max_pixels : int or None
        Refuse images with more pixels than this; ``None`` disables the guard.

    Returns
    -------
    (PIL.Image.Image, str)
        The opened image (first frame; lazy for JPEG) and the name used in messages.

    Raises
    ------
    ImageError
        Missing, empty or oversized file, a vector/PDF file, something that is not an image,
        an image larger than ``max_pixels``, or (non-JPEG) truncated/corrupt pixel data.
    """
    name = _name(source)
    if isinstance(source, str | Path):
        data = read_image_bytes(source)
    elif isinstance(source, bytes | bytearray):
        data = bytes(source)
    else:
        data = source.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise ImageError(_MSG_FILE_TOO_BIG.format(name=name, size=f">{MAX_FILE_BYTES}",
                                                  limit=MAX_FILE_BYTES))
    if not data:
        raise ImageError(_MSG_EMPTY.format(name=name))
    kind = _sniff_vector(data[:1024])
    if kind is not None:
        raise ImageError(_MSG_VECTOR.format(name=name, kind=kind))
    with _OPEN_LOCK:
        saved = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = None
        try:
            im = Image.open(io.BytesIO(data))
        except UnidentifiedImageError as exc:
            # Pillow's message names our in-memory buffer, which tells the user nothing.
            raise ImageError(_MSG_UNKNOWN.format(name=name, detail="unknown format")) from exc
        except (OSError, SyntaxError, ValueError) as exc:
            raise ImageError(_MSG_UNKNOWN.format(name=name, detail=exc)) from exc
        finally:
            Image.MAX_IMAGE_PIXELS = saved
    im.audit_name = name  # type: ignore[attr-defined] - names the file in later messages
    width, height = im.size
    if width < 1 or height < 1:
        raise ImageError(_MSG_ZERO.format(name=name, width=width, height=height))
    if max_pixels is not None and width * height > max_pixels:
        raise ImageError(_MSG_TOO_BIG.format(name=name, width=width, height=height,
                                             pixels=width * height, limit=max_pixels))
    if getattr(im, "n_frames", 1) > 1:
        log.debug("%s: %d frames, using the first", name, im.n_frames)
        im.seek(0)
    if im.format != "JPEG":
        # Only JPEG gains from a lazy decode (DCT draft). Other formats may decode just to read
        # metadata (PNG's eXIf chunk can follow the pixels); a decoder error raised there would
        # be swallowed and a second load() then "succeeds" on partial pixels. Decode now.
        decode(im, name)
    return im, name


def decode(im: Image.Image, name: str) -> Image.Image:
    """Decode the pixels of a lazily opened image, turning decoder failures into ImageError."""
    try:
        im.load()
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageError(_MSG_TRUNCATED.format(name=name, fmt=im.format or "image",
                                               detail=exc)) from exc
    return im


def open_image(source: Source, *, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Open, validate and fully decode an image (first frame, stored orientation).

    Parameters
    ----------
    source : str, Path, bytes or binary file object
        The image.
    max_pixels : int or None
        Refuse images with more pixels than this (checked before decoding); ``None``
        disables the guard.

    Returns
    -------
    PIL.Image.Image
        The decoded image, in its stored mode and orientation.

    Raises
    ------
    ImageError
        With the file name and the problem: missing, empty, vector/PDF, not an image,
        over ``max_pixels``, or truncated/corrupt data.
    """
    im, name = open_header(source, max_pixels=max_pixels)
    return decode(im, name)


def _sixteen_to_eight(values: npt.NDArray[np.generic]) -> npt.NDArray[np.uint8]:
    # 0..65535 -> 0..255 with rounding, so 257*k maps exactly to k.
    v = np.clip(values.astype(np.int64), 0, 65535)
    return ((v * 255 + 32767) // 65535).astype(np.uint8)


def to_rgb(im: Image.Image) -> npt.NDArray[np.uint8]:
    """Pixels of a decoded image as ``uint8 (H, W, 3)`` RGB, by the program's conventions.

    Grayscale gives R=G=B; alpha is dropped as stored (no compositing, no premultiplication);
    palettes are expanded (transparent entries keep their colour); CMYK and other colour
    spaces go through Pillow's conversion; 16-bit (``I;16*``, ``I``) values are scaled
    0..65535 -> 0..255; ICC profiles are not applied.

    Raises
    ------
    ImageError
        For a pixel mode that has no sensible RGB reading.
    """
    mode = im.mode
    if mode == "RGB":
        arr = np.asarray(im)
    elif mode in ("RGBA", "RGBX"):
        arr = np.asarray(im)[..., :3]
    elif mode in ("L", "1"):
        arr = np.repeat(np.asarray(im.convert("L"))[..., None], 3, axis=2)
    elif mode == "LA":
        arr = np.repeat(np.asarray(im)[..., :1], 3, axis=2)
    elif mode in ("P", "PA", "RGBa", "La"):
        # Via RGBA so palette transparency does not trigger compositing or a warning.
        arr = np.asarray(im.convert("RGBA"))[..., :3]
    elif mode.startswith("I;16") or mode == "I":
        arr = np.repeat(_sixteen_to_eight(np.asarray(im))[..., None], 3, axis=2)
    elif mode == "F":
        n_bad = int(np.count_nonzero(~np.isfinite(np.asarray(im, dtype=np.float64))))
        if n_bad:
            raise ImageError(_MSG_NAN.format(name=_image_name(im), n=n_bad,
                                             total=im.width * im.height))
        gray = np.clip(np.rint(np.asarray(im, dtype=np.float64)), 0, 255).astype(np.uint8)
        arr = np.repeat(gray[..., None], 3, axis=2)
    elif mode in ("CMYK", "YCbCr", "LAB", "HSV"):
        arr = np.asarray(im.convert("RGB"))
    else:
        raise ImageError(_MSG_MODE.format(name=_image_name(im), mode=mode))
    return np.ascontiguousarray(arr, dtype=np.uint8)


def exif_orientation(im: Image.Image) -> int:
    """EXIF orientation (1..8) of an opened image; 1 when absent or invalid."""
    try:
        value = im.getexif().get(ORIENTATION_TAG, 1)
    except (OSError, SyntaxError, ValueError, TypeError):
        return 1
    if not isinstance(value, int) or isinstance(value, bool):
        # Pillow's exif_transpose ignores a tag stored with another type (e.g. ASCII "6");
        # so does the program, so rotating here would crop other pixels than it does.
        log.warning("%s: EXIF orientation stored as %s %r, not an integer; ignored (as Pillow "
                    "does)", _image_name(im), type(value).__name__, value)
        return 1
    return value if 1 <= value <= 8 else 1


def _image_name(im: Image.Image) -> str:
    return getattr(im, "audit_name", None) or getattr(im, "filename", "") or "<image>"


def apply_orientation(arr: npt.NDArray[np.generic], orientation: int) -> npt.NDArray[np.generic]:
    """Turn an array in stored orientation into display orientation (EXIF 1..8).

    Same geometry as :func:`PIL.ImageOps.exif_transpose`: 2 mirror, 3 rotate 180, 4 flip,
    5 transpose, 6 rotate 90 clockwise, 7 transverse, 8 rotate 90 counter-clockwise. Works
    on ``(H, W)`` or ``(H, W, C)`` arrays, so it can run after resizing.
    """
    if orientation == 2:
        out = arr[:, ::-1]
    elif orientation == 3:
        out = arr[::-1, ::-1]
    elif orientation == 4:
        out = arr[::-1]
    elif orientation == 5:
        out = np.swapaxes(arr, 0, 1)
    elif orientation == 6:
        out = np.swapaxes(arr, 0, 1)[:, ::-1]
    elif orientation == 7:
        out = np.swapaxes(arr, 0, 1)[::-1, ::-1]
    elif orientation == 8:
        out = np.swapaxes(arr, 0, 1)[::-1]
    else:
        out = arr
    return np.ascontiguousarray(out)


def load_image(source: Source, *, max_pixels: int | None = DEFAULT_MAX_PIXELS
               ) -> npt.NDArray[np.uint8]:
    """Fully decode an image into ``uint8 (H, W, 3)`` RGB in display (EXIF) orientation.

    Raises
    ------
    ImageError
        See :func:`open_image`.
    """
    im = open_image(source, max_pixels=max_pixels)
    return apply_orientation(to_rgb(im), exif_orientation(im))
