"""Bad-input corpus: functions that write one kind of awkward input into a folder.

Nothing is downloaded; every file is generated here. Each writer returns the path(s) it made and
the behaviour the project must show for it, so the tests can parametrize over :data:`DECODE`
(image files, met by ``load_image`` / ``prepare_file`` and by the trial runner) and
:data:`FOLDER` (a ``data=folder`` dataset, met by ``load_people``).
"""

from __future__ import annotations

import io
import os
import re
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

#: Four solid quadrants (top-left, top-right, bottom-left, bottom-right): orientation is visible
#: after JPEG compression and after any transpose.
QUADRANTS = ((230, 30, 30), (30, 230, 30), (30, 30, 230), (230, 230, 30))


@dataclass(frozen=True)
class DecodeCase:
    """An image file and what decoding it must give.

    Attributes
    ----------
    kind : str
        Name of the kind (the test id).
    path : Path
        The file.
    error : str | None
        Regex the :class:`audit.exceptions.ImageError` message must match (it always starts
        with the file's path), or None when the file must decode.
    shape : tuple[int, int] | None
        ``(H, W)`` of the decoded RGB array in display orientation (decodable kinds).
    expected : np.ndarray | None
        Expected RGB pixels (compared with ``atol``), or None to check only the shape.
    atol : int
        Tolerance for ``expected`` (lossy formats).
    """

    kind: str
    path: Path
    error: str | None = None
    shape: tuple[int, int] | None = None
    expected: np.ndarray | None = field(default=None, repr=False)
    atol: int = 0


def _quadrants(width: int, height: int) -> np.ndarray:
    arr = np.zeros((height, width, 3), np.uint8)
    h2, w2 = height // 2, width // 2
    arr[:h2, :w2], arr[:h2, w2:] = QUADRANTS[0], QUADRANTS[1]
    arr[h2:, :w2], arr[h2:, w2:] = QUADRANTS[2], QUADRANTS[3]
    return arr


def _jpeg_bytes(arr: np.ndarray, **kw: object) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "JPEG", quality=95, subsampling=0, **kw)
    return buf.getvalue()


def _noise_jpeg(size: int = 128) -> bytes:
    arr = np.random.default_rng(7).integers(0, 256, (size, size, 3), dtype=np.uint8)
    return _jpeg_bytes(arr)


def _write(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _err(name: str, text: str) -> str:
    # Every message starts with the path of the file, as given.
    return r"^" + re.escape(name) + r".*" + text


# ----------------------------------------------------------------------------- decode kinds
def truncated_jpeg(folder: Path) -> DecodeCase:
    data = _noise_jpeg()
    path = _write(folder, "truncated.jpg", data[: len(data) // 2])
    return DecodeCase("truncated_jpeg", path, error=_err(str(path), r"truncated or corrupt JPEG"))


def jpeg_missing_scan(folder: Path) -> DecodeCase:
    data = _noise_jpeg()
    cut = data.find(b"\xff\xda")  # start of scan: headers only, then end of image
    path = _write(folder, "noscan.jpg", data[:cut] + b"\xff\xd9")
    return DecodeCase("jpeg_missing_scan", path,
                      error=_err(str(path), r"truncated or corrupt JPEG"))


def jpeg_corrupt_huffman(folder: Path) -> DecodeCase:
    data = _noise_jpeg()
    at = data.find(b"\xff\xc4")  # overwrite the code counts of the first Huffman table
    path = _write(folder, "badhuff.jpg", data[: at + 5] + b"\xff" * 16 + data[at + 21:])
    return DecodeCase("jpeg_corrupt_huffman", path,
                      error=_err(str(path), r"truncated or corrupt JPEG \(broken data stream"))


def jpeg_garbage_header(folder: Path) -> DecodeCase:
    data = _noise_jpeg()
    path = _write(folder, "garbled.jpg", data[:2] + bytes(100) + data[102:])
    return DecodeCase("jpeg_garbage_header", path,
                      error=_err(str(path), r"not an image Pillow can read"))


def jpeg_corrupt_scan_data(folder: Path) -> DecodeCase:
    # Zeroed entropy-coded bytes are not detectable (libjpeg decodes garbage); the guard for
    # this is the SHA-1 check at download time, so the documented behaviour is "decodes".
    arr = _quadrants(64, 64)
    data = _jpeg_bytes(arr)
    mid = len(data) // 2
    path = _write(folder, "zeroed.jpg", data[:mid] + bytes(64) + data[mid + 64:])
    return DecodeCase("jpeg_corrupt_scan_data", path, shape=(64, 64))


def progressive_jpeg(folder: Path) -> DecodeCase:
    arr = _quadrants(48, 32)  # quadrant edges on 8x8 block edges: no ringing to tolerate
    path = _write(folder, "progressive.jpg", _jpeg_bytes(arr, progressive=True, optimize=True))
    with Image.open(path) as im:
        assert im.info.get("progressive") == 1
    return DecodeCase("progressive_jpeg", path, shape=(32, 48), expected=arr, atol=6)


def cmyk_jpeg(folder: Path) -> DecodeCase:
    path = folder / "cmyk.jpg"
    Image.new("CMYK", (24, 16), (0, 255, 255, 0)).save(path, "JPEG", quality=95)
    expected = np.zeros((16, 24, 3), np.uint8)
    expected[...] = (255, 0, 0)
    return DecodeCase("cmyk_jpeg", path, shape=(16, 24), expected=expected, atol=15)


def grayscale_jpeg(folder: Path) -> DecodeCase:
    gray = np.repeat(np.arange(0, 256, 16, dtype=np.uint8)[None, :], 8, axis=0)
    path = folder / "gray.jpg"
    Image.fromarray(gray, "L").save(path, "JPEG", quality=100)
    return DecodeCase("grayscale_jpeg", path, shape=(8, 16),
                      expected=np.repeat(gray[..., None], 3, axis=2), atol=4)


def png_named_jpg(folder: Path) -> DecodeCase:
    arr = _quadrants(20, 10)
    path = folder / "really_a_png.jpg"
    Image.fromarray(arr).save(path, "PNG")
    return DecodeCase("png_named_jpg", path, shape=(10, 20), expected=arr)


def jpeg_named_png(folder: Path) -> DecodeCase:
    arr = _quadrants(32, 16)
    path = _write(folder, "really_a_jpeg.png", _jpeg_bytes(arr))
    return DecodeCase("jpeg_named_png", path, shape=(16, 32), expected=arr, atol=6)


def palette_png_transparency(folder: Path) -> DecodeCase:
    im = Image.new("P", (6, 3), 0)
    im.putpalette([10, 20, 30, 200, 100, 50] + [0] * 762)
    for x in range(3, 6):
        for y in range(3):
            im.putpixel((x, y), 1)
    path = folder / "palette.png"
    im.save(path, "PNG", transparency=0)
    expected = np.zeros((3, 6, 3), np.uint8)
    expected[:, :3], expected[:, 3:] = (10, 20, 30), (200, 100, 50)  # transparent keeps RGB
    return DecodeCase("palette_png_transparency", path, shape=(3, 6), expected=expected)


def png_16bit(folder: Path) -> DecodeCase:
    values = np.array([[0, 257, 257 * 128, 65535]], dtype=np.uint16)
    path = folder / "deep.png"
    Image.fromarray(values).save(path, "PNG")
    eight = np.array([[0, 1, 128, 255]], np.uint8)
    return DecodeCase("png_16bit", path, shape=(1, 4),
                      expected=np.repeat(eight[..., None], 3, axis=2))


def rgba_png(folder: Path) -> DecodeCase:
    arr = np.zeros((2, 3, 4), np.uint8)
    arr[..., :3], arr[..., 3] = (40, 50, 60), 0  # fully transparent: RGB is kept as stored
    path = folder / "alpha.png"
    Image.fromarray(arr, "RGBA").save(path, "PNG")
    return DecodeCase("rgba_png_transparent", path, shape=(2, 3), expected=arr[..., :3])


def one_by_one(folder: Path) -> DecodeCase:
    path = folder / "dot.png"
    Image.new("RGB", (1, 1), (9, 8, 7)).save(path, "PNG")
    return DecodeCase("one_by_one_png", path, shape=(1, 1),
                      expected=np.array([[[9, 8, 7]]], np.uint8))


def very_wide(folder: Path) -> DecodeCase:
    path = folder / "wide.png"
    Image.new("RGB", (40_000, 2), (120, 60, 30)).save(path, "PNG")
    return DecodeCase("wide_40000px_png", path, shape=(2, 40_000))


def _png_chunk(tag: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + tag + body + struct.pack(
        ">I", zlib.crc32(tag + body) & 0xFFFFFFFF)


def bomb_png_bytes(width: int = 20_000, height: int = 20_000) -> bytes:
    """A PNG whose header declares ``width x height`` grey pixels over a few KB of data."""
    rows = zlib.compress(b"".join(b"\x00" + bytes(width) for _ in range(4)), 9)
    return (b"\x89PNG\r\n\x1a\n"
            + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + _png_chunk(b"IDAT", rows) + _png_chunk(b"IEND", b""))


def decompression_bomb(folder: Path) -> DecodeCase:
    path = _write(folder, "bomb.png", bomb_png_bytes())
    return DecodeCase("decompression_bomb_png", path,
                      error=_err(str(path), r"20000x20000 = 400000000 pixels exceeds "
                                 r"max_pixels=200000000 \(decompression-bomb guard\)"))


def png_bad_crc(folder: Path) -> DecodeCase:
    buf = io.BytesIO()
    Image.fromarray(_quadrants(32, 32)).save(buf, "PNG")
    data = bytearray(buf.getvalue())
    data[data.find(b"IDAT") + 10] ^= 0xFF
    path = _write(folder, "badcrc.png", bytes(data))
    return DecodeCase("png_bad_crc", path, error=_err(str(path), r"truncated or corrupt PNG"))


def zero_bytes(folder: Path) -> DecodeCase:
    path = _write(folder, "empty.jpg", b"")
    return DecodeCase("zero_bytes", path, error=_err(str(path), r"file is empty \(0 bytes\)"))


def one_byte(folder: Path) -> DecodeCase:
    path = _write(folder, "onebyte.jpg", b"\xff")
    return DecodeCase("one_byte", path, error=_err(str(path), r"not an image Pillow can read"))


def text_named_jpg(folder: Path) -> DecodeCase:
    path = _write(folder, "notes.jpg", b"this is not an image\n")
    return DecodeCase("text_named_jpg", path,
                      error=_err(str(path), r"not an image Pillow can read"))


def html_named_jpg(folder: Path) -> DecodeCase:
    # What a proxy or an error page saved under an image name looks like.
    path = _write(folder, "error_page.jpg",
                  b"<!DOCTYPE html><html><body><h1>429 Too Many Requests</h1></body></html>")
    return DecodeCase("html_named_jpg", path,
                      error=_err(str(path), r"not an image Pillow can read \(unknown format\)"))


def svg(folder: Path) -> DecodeCase:
    path = _write(folder, "drawing.svg", b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org'
                  b'/2000/svg" width="9" height="9"><rect width="9" height="9"/></svg>\n')
    return DecodeCase("svg", path, error=_err(str(path), r"is an SVG \(vector\) image"))


def pdf(folder: Path) -> DecodeCase:
    path = _write(folder, "scan.pdf", b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n")
    return DecodeCase("pdf", path, error=_err(str(path), r"is a PDF document, not a raster"))


def multipage_tiff(folder: Path) -> DecodeCase:
    pages = [Image.new("RGB", (10, 6), c) for c in ((250, 0, 0), (0, 0, 250), (0, 250, 0))]
    path = folder / "pages.tif"
    pages[0].save(path, "TIFF", save_all=True, append_images=pages[1:])
    with Image.open(path) as im:
        assert im.n_frames == 3
    expected = np.zeros((6, 10, 3), np.uint8)
    expected[...] = (250, 0, 0)  # the first page
    return DecodeCase("multipage_tiff", path, shape=(6, 10), expected=expected)


def animated_gif(folder: Path) -> DecodeCase:
    frames = [Image.new("RGB", (8, 8), c) for c in ((255, 0, 0), (0, 0, 255))]
    path = folder / "anim.gif"
    frames[0].save(path, "GIF", save_all=True, append_images=frames[1:], duration=50, loop=0)
    expected = np.zeros((8, 8, 3), np.uint8)
    expected[...] = (255, 0, 0)
    return DecodeCase("animated_gif", path, shape=(8, 8), expected=expected)


def webp(folder: Path) -> DecodeCase:
    arr = _quadrants(16, 12)
    path = folder / "photo.webp"
    Image.fromarray(arr).save(path, "WEBP", lossless=True)
    return DecodeCase("webp_lossless", path, shape=(12, 16), expected=arr)


def _orientation(value: int) -> Callable[[Path], DecodeCase]:
    def write(folder: Path) -> DecodeCase:
        stored = _quadrants(32, 16)
        exif = Image.Exif()
        exif[0x0112] = value
        path = _write(folder, f"exif{value}.jpg", _jpeg_bytes(stored, exif=exif.tobytes()))
        # Independent reference: Pillow's own EXIF transpose of the same file.
        with Image.open(path) as im:
            expected = np.asarray(ImageOps.exif_transpose(im).convert("RGB"))
        shape = (16, 32) if value < 5 else (32, 16)
        assert expected.shape[:2] == shape
        return DecodeCase(f"exif_orientation_{value}", path, shape=shape, expected=expected,
                          atol=2)

    return write


def name_with_spaces_and_unicode(folder: Path) -> DecodeCase:
    arr = _quadrants(10, 10)
    path = folder / "Zoë Ñandú (2019) 写真.png"
    Image.fromarray(arr).save(path, "PNG")
    return DecodeCase("unicode_spaces_name", path, shape=(10, 10), expected=arr)


def broken_unicode_name(folder: Path) -> DecodeCase:
    path = _write(folder, "Ünïcode name — broken.jpg", b"\xff\xd8\xff\xe0 not really")
    return DecodeCase("broken_unicode_name", path,
                      error=_err(str(path), r"not an image Pillow can read"))


def missing_file(folder: Path) -> DecodeCase:
    path = folder / "gone.jpg"
    return DecodeCase("missing_file", path, error=_err(str(path), r"file does not exist"))


def directory_named_jpg(folder: Path) -> DecodeCase:
    path = folder / "adir.jpg"
    path.mkdir()
    return DecodeCase("directory_named_jpg", path,
                      error=_err(str(path), r": is a directory, not an image file"))


def fifo_named_jpg(folder: Path) -> DecodeCase:
    # Opening a FIFO blocks until a writer comes: it must be refused by what it is, unopened.
    path = folder / "pipe.jpg"
    os.mkfifo(path)
    return DecodeCase("fifo_named_jpg", path,
                      error=_err(str(path), r": is a named pipe \(FIFO\), not an image file"))


def device_named_jpg(folder: Path) -> DecodeCase:
    path = folder / "null.jpg"
    path.symlink_to("/dev/null")
    return DecodeCase("device_named_jpg", path,
                      error=_err(str(path), r": is a character device, not an image file"))


def nan_float_tiff(folder: Path) -> DecodeCase:
    # A 32-bit float image with NaN pixels: reading them as 0 (black) would be silent damage.
    arr = np.full((8, 8), 100.0, np.float32)
    arr[2:4, 2:5] = np.nan
    path = folder / "nan.tif"
    Image.fromarray(arr, mode="F").save(path, "TIFF")
    return DecodeCase("nan_float_tiff", path,
                      error=_err(str(path), r": 6 of 64 pixels are NaN or infinite"))


def _exif_ascii_orientation() -> bytes:
    # Little-endian TIFF with one IFD entry: tag 0x0112, type 2 (ASCII), count 2, value "6\0".
    ifd = struct.pack("<H", 1) + struct.pack("<HHI4s", 0x0112, 2, 2, b"6\x00\x00\x00")
    return b"Exif\x00\x00" + b"II*\x00" + struct.pack("<I", 8) + ifd + struct.pack("<I", 0)


def exif_orientation_ascii(folder: Path) -> DecodeCase:
    # Orientation stored as the text "6": Pillow's exif_transpose (and so the program) ignores
    # it; the image must come back in stored orientation (with a logged warning).
    stored = _quadrants(32, 16)
    path = _write(folder, "exif_ascii.jpg", _jpeg_bytes(stored, exif=_exif_ascii_orientation()))
    with Image.open(path) as im:
        assert im.getexif().get(0x0112) == "6"
        expected = np.asarray(ImageOps.exif_transpose(im).convert("RGB"))
    assert expected.shape[:2] == (16, 32)
    return DecodeCase("exif_orientation_ascii", path, shape=(16, 32), expected=expected, atol=2)


def symlink_to_image(folder: Path) -> DecodeCase:
    # The decoder follows links (policing paths is the folder loader's job, see FOLDER).
    arr = _quadrants(10, 10)
    target = folder / "target.png"
    Image.fromarray(arr).save(target, "PNG")
    link = folder / "link.png"
    link.symlink_to(target)
    return DecodeCase("symlink_to_image", link, shape=(10, 10), expected=arr)


#: kind -> writer, for every image-file kind.
DECODE: dict[str, Callable[[Path], DecodeCase]] = {
    "truncated_jpeg": truncated_jpeg,
    "jpeg_missing_scan": jpeg_missing_scan,
    "jpeg_corrupt_huffman": jpeg_corrupt_huffman,
    "jpeg_garbage_header": jpeg_garbage_header,
    "jpeg_corrupt_scan_data": jpeg_corrupt_scan_data,
    "progressive_jpeg": progressive_jpeg,
    "cmyk_jpeg": cmyk_jpeg,
    "grayscale_jpeg": grayscale_jpeg,
    "png_named_jpg": png_named_jpg,
    "jpeg_named_png": jpeg_named_png,
    "palette_png_transparency": palette_png_transparency,
    "png_16bit": png_16bit,
    "rgba_png_transparent": rgba_png,
    "one_by_one_png": one_by_one,
    "wide_40000px_png": very_wide,
    "decompression_bomb_png": decompression_bomb,
    "png_bad_crc": png_bad_crc,
    "zero_bytes": zero_bytes,
    "one_byte": one_byte,
    "text_named_jpg": text_named_jpg,
    "html_named_jpg": html_named_jpg,
    "svg": svg,
    "pdf": pdf,
    "multipage_tiff": multipage_tiff,
    "animated_gif": animated_gif,
    "webp_lossless": webp,
    **{f"exif_orientation_{v}": _orientation(v) for v in range(1, 9)},
    "unicode_spaces_name": name_with_spaces_and_unicode,
    "broken_unicode_name": broken_unicode_name,
    "missing_file": missing_file,
    "directory_named_jpg": directory_named_jpg,
    "fifo_named_jpg": fifo_named_jpg,
    "device_named_jpg": device_named_jpg,
    "nan_float_tiff": nan_float_tiff,
    "exif_orientation_ascii": exif_orientation_ascii,
    "symlink_to_image": symlink_to_image,
}
#: The decode kinds that must fail (the runner turns each into an ``error`` record).
DECODE_ERRORS = (
    "truncated_jpeg", "jpeg_missing_scan", "jpeg_corrupt_huffman", "jpeg_garbage_header",
    "decompression_bomb_png", "png_bad_crc", "zero_bytes", "one_byte", "text_named_jpg",
    "html_named_jpg", "svg", "pdf", "broken_unicode_name", "missing_file", "directory_named_jpg",
    "fifo_named_jpg", "device_named_jpg", "nan_float_tiff",
)


# ----------------------------------------------------------------------------- folder kinds
@dataclass(frozen=True)
class FolderCase:
    """A ``data=folder`` dataset and what ``load_people`` must do with it.

    Attributes
    ----------
    kind : str
        Name of the kind.
    folder, csv : Path
        The image folder and the label CSV.
    group_by : list[str]
        ``data.group_by``.
    min_group_size : int
        ``data.min_group_size``.
    error : type[Exception] | None
        Exception class expected, or None when the load succeeds.
    message : str | None
        Exact expected message (errors) or regex of the expected warning (``warns``).
    warns : bool
        An :class:`audit.exceptions.AuditDataWarning` is expected.
    ids : list[str] | None
        Ids of the loaded table, in order (successful loads).
    groups : list[str] | None
        ``group`` labels of the loaded table (successful loads).
    """

    kind: str
    folder: Path
    csv: Path
    group_by: list[str] = field(default_factory=lambda: ["race"])
    min_group_size: int = 1
    error: type[Exception] | None = None
    message: str | None = None
    warns: bool = False
    ids: list[str] | None = None
    groups: list[str] | None = None


def _dataset(root: Path, rows: str, files: tuple[str, ...] = ("a.png", "b.png", "c.png")
             ) -> tuple[Path, Path]:
    folder = root / "images"
    folder.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(files):
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (4, 4), (i * 40, 0, 0)).save(target, "PNG")
    csv = root / "labels.csv"
    csv.write_text(rows, encoding="utf-8")
    return folder, csv


def folder_duplicate_ids(root: Path) -> FolderCase:
    folder, csv = _dataset(root, "id,file,race\nx,a.png,black\ny,b.png,white\nx,c.png,white\n")
    return FolderCase("duplicate_ids", folder, csv, error=ValueError,
                      message=f"{csv} has duplicate ids: x; every id must be unique")


def folder_duplicate_ids_after_strip(root: Path) -> FolderCase:
    folder, csv = _dataset(root, "id,file,race\nx,a.png,black\n x ,b.png,white\n")
    return FolderCase("duplicate_ids_whitespace", folder, csv, error=ValueError,
                      message=f"{csv} has duplicate ids: x; every id must be unique")


def folder_missing_files(root: Path) -> FolderCase:
    folder, csv = _dataset(root, "id,file,race\nx,a.png,black\ny,gone.png,white\n"
                                 "z,also gone.jpg,white\n")
    return FolderCase("missing_files", folder, csv, error=FileNotFoundError,
                      message=f"{csv} names 2 file(s) not found in data.folder={folder}: "
                              "gone.png, also gone.jpg")


def folder_unknown_group_value(root: Path) -> FolderCase:
    # Free-text labels: a typo forms its own group, which the size filter drops with a warning.
    folder, csv = _dataset(root, "id,file,race\nx,a.png,black\ny,b.png,black\nz,c.png,blak\n")
    return FolderCase("unknown_group_value", folder, csv, min_group_size=2, warns=True,
                      message=r"Dropped 1 group\(s\) of the folder people table with fewer than "
                              r"data\.min_group_size=2 images: blak \(1\)",
                      ids=["x", "y"], groups=["black", "black"])


def folder_empty_group_value(root: Path) -> FolderCase:
    folder, csv = _dataset(root, "id,file,race\nx,a.png,black\ny,b.png,\n")
    return FolderCase("empty_group_value", folder, csv, error=ValueError,
                      message=f"{csv} has empty race values in row(s) 3; fill them in")


def folder_empty_group(root: Path) -> FolderCase:
    # A group with too few images everywhere: nothing left to audit.
    folder, csv = _dataset(root, "id,file,race\nx,a.png,black\ny,b.png,white\n")
    return FolderCase("every_group_too_small", folder, csv, min_group_size=2, error=ValueError,
                      message="No group of the folder people table has at least "
                              "data.min_group_size=2 images (sizes: {'black': 1, 'white': 1}); "
                              "lower data.min_group_size or add images")


def folder_header_only(root: Path) -> FolderCase:
    folder, csv = _dataset(root, "id,file,race\n")
    return FolderCase("header_only_csv", folder, csv, error=ValueError,
                      message="No group of the folder people table has at least "
                              "data.min_group_size=1 images (sizes: {}); "
                              "lower data.min_group_size or add images")


def folder_unknown_group_column(root: Path) -> FolderCase:
    folder, csv = _dataset(root, "id,file,race\nx,a.png,black\n")
    return FolderCase("group_column_missing", folder, csv, group_by=["gender"], error=ValueError,
                      message=f"{csv} lacks column(s) ['gender']; it needs id and file plus the "
                              "data.group_by columns ['gender'] (found ['id', 'file', 'race'])")


def folder_dotdot(root: Path) -> FolderCase:
    folder, csv = _dataset(root, "id,file,race\nx,a.png,black\ny,../secret.png,white\n")
    Image.new("RGB", (2, 2)).save(root / "secret.png")
    return FolderCase("path_dotdot", folder, csv, error=ValueError,
                      message=f"{csv} names file(s) outside data.folder={folder} (through '..', "
                              "an absolute path or a symlink): ../secret.png; copy the images "
                              "into the folder")


def folder_symlink_out(root: Path) -> FolderCase:
    outside = root / "elsewhere"
    outside.mkdir()
    Image.new("RGB", (2, 2)).save(outside / "private.png")
    folder, csv = _dataset(root, "id,file,race\nx,a.png,black\ny,innocent.png,white\n")
    (folder / "innocent.png").symlink_to(outside / "private.png")
    return FolderCase("symlink_out_of_folder", folder, csv, error=ValueError,
                      message=f"{csv} names file(s) outside data.folder={folder} (through '..', "
                              "an absolute path or a symlink): innocent.png; copy the images "
                              "into the folder")


def folder_symlinked_dir_out(root: Path) -> FolderCase:
    outside = root / "elsewhere"
    outside.mkdir()
    Image.new("RGB", (2, 2)).save(outside / "private.png")
    folder, csv = _dataset(root, "id,file,race\nx,a.png,black\ny,sub/private.png,white\n")
    (folder / "sub").symlink_to(outside, target_is_directory=True)
    return FolderCase("symlinked_dir_out_of_folder", folder, csv, error=ValueError,
                      message=f"{csv} names file(s) outside data.folder={folder} (through '..', "
                              "an absolute path or a symlink): sub/private.png; copy the images "
                              "into the folder")


def folder_absolute(root: Path) -> FolderCase:
    Image.new("RGB", (2, 2)).save(root / "abs.png")
    folder, csv = _dataset(root, f"id,file,race\nx,a.png,black\ny,{root / 'abs.png'},white\n")
    return FolderCase("absolute_path", folder, csv, error=ValueError,
                      message=f"{csv} names file(s) outside data.folder={folder} (through '..', "
                              f"an absolute path or a symlink): {root / 'abs.png'}; copy the "
                              "images into the folder")


def folder_unicode_names(root: Path) -> FolderCase:
    folder, csv = _dataset(root, "id,file,race\nx,Zoë Ñandú 2019.png,black\n"
                                 "y,sub dir/写真 1.png,white\n",
                           files=("Zoë Ñandú 2019.png", "sub dir/写真 1.png"))
    return FolderCase("unicode_and_spaces_in_names", folder, csv, ids=["x", "y"],
                      groups=["black", "white"])


def folder_inner_dotdot(root: Path) -> FolderCase:
    # '..' that stays inside the folder is harmless and accepted.
    folder, csv = _dataset(root, "id,file,race\nx,sub/../a.png,black\n",
                           files=("a.png", "sub/keep.png"))
    return FolderCase("dotdot_staying_inside", folder, csv, ids=["x"], groups=["black"])


def folder_bom(root: Path) -> FolderCase:
    # Spreadsheet programs write a UTF-8 byte-order mark; the id column must still be found.
    folder, csv = _dataset(root, "\ufeffid,file,race\nx,a.png,black\n")
    return FolderCase("csv_with_utf8_bom", folder, csv, ids=["x"], groups=["black"])


def folder_na_like_values(root: Path) -> FolderCase:
    # Strings pandas would read as missing ("NA", "null") are labels here, kept verbatim.
    folder, csv = _dataset(root, "id,file,race\nNA,a.png,null\nnan,b.png,NA\n")
    return FolderCase("na_like_strings_kept", folder, csv, ids=["NA", "nan"],
                      groups=["null", "NA"])


def folder_utf16_csv(root: Path) -> FolderCase:
    # Excel's "Unicode text" export: UTF-16 with a byte-order mark.
    folder, csv = _dataset(root, "")
    csv.write_text("id,file,race\nx,a.png,black\n", encoding="utf-16")
    return FolderCase("csv_utf16", folder, csv, error=ValueError,
                      message=f"{csv} is UTF-16 (little-endian), byte-order mark FF FE; save it "
                              "as UTF-8 (spreadsheet: 'CSV UTF-8'; or iconv -f UTF-16 -t UTF-8 "
                              "in.csv > out.csv) and point data.csv at that file")


def folder_duplicate_columns(root: Path) -> FolderCase:
    # pandas would silently read the second "race" as "race.1": the grouping would be a guess.
    folder, csv = _dataset(root, "id,file,race,gender,race\nx,a.png,black,f,white\n")
    return FolderCase("csv_duplicate_columns", folder, csv, error=ValueError,
                      message=f"{csv} has duplicate column names ('race' in columns 3, 5); "
                              "rename or remove one so each column is read as what it says")


def folder_directory_as_image(root: Path) -> FolderCase:
    folder, csv = _dataset(root, "id,file,race\nx,a.png,black\ny,sub,white\nz,pipe,white\n")
    (folder / "sub").mkdir()
    os.mkfifo(folder / "pipe")
    return FolderCase("csv_names_directory_and_fifo", folder, csv, error=ValueError,
                      message=f"{csv} names 2 entr(ies) in data.folder that are not image files: "
                              "sub (a directory), pipe (a named pipe (FIFO)); point the file "
                              "column at the images themselves")


#: kind -> writer, for every folder-dataset kind.
FOLDER: dict[str, Callable[[Path], FolderCase]] = {
    "duplicate_ids": folder_duplicate_ids,
    "duplicate_ids_whitespace": folder_duplicate_ids_after_strip,
    "missing_files": folder_missing_files,
    "unknown_group_value": folder_unknown_group_value,
    "empty_group_value": folder_empty_group_value,
    "every_group_too_small": folder_empty_group,
    "header_only_csv": folder_header_only,
    "group_column_missing": folder_unknown_group_column,
    "path_dotdot": folder_dotdot,
    "symlink_out_of_folder": folder_symlink_out,
    "symlinked_dir_out_of_folder": folder_symlinked_dir_out,
    "absolute_path": folder_absolute,
    "unicode_and_spaces_in_names": folder_unicode_names,
    "dotdot_staying_inside": folder_inner_dotdot,
    "csv_with_utf8_bom": folder_bom,
    "na_like_strings_kept": folder_na_like_values,
    "csv_utf16": folder_utf16_csv,
    "csv_duplicate_columns": folder_duplicate_columns,
    "csv_names_directory_and_fifo": folder_directory_as_image,
}
