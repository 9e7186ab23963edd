from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from audit.data.images import (
    apply_orientation,
    exif_orientation,
    load_image,
    open_image,
    to_rgb,
)
from audit.exceptions import ImageError


def _save(im: Image.Image, path: Path, fmt: str, **kw) -> Path:
    im.save(path, fmt, **kw)
    return path


def _jpeg(tmp_path: Path, name: str = "ok.jpg", size=(64, 48)) -> Path:
    rng = np.random.default_rng(0)
    arr = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    return _save(Image.fromarray(arr), tmp_path / name, "JPEG", quality=90)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match=r"nope\.jpg: file does not exist"):
        open_image(tmp_path / "nope.jpg")


def test_zero_byte_file(tmp_path: Path) -> None:
    p = tmp_path / "empty.jpg"
    p.write_bytes(b"")
    with pytest.raises(ImageError, match=r"empty\.jpg: file is empty \(0 bytes\)"):
        open_image(p)


def test_text_file_named_jpg(tmp_path: Path) -> None:
    p = tmp_path / "notes.jpg"
    p.write_text("this is not an image\n")
    with pytest.raises(ImageError, match=r"notes\.jpg: not an image Pillow can read"):
        open_image(p)


def test_svg_is_refused_as_vector(tmp_path: Path) -> None:
    p = tmp_path / "logo.jpg"
    p.write_text('<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="10" '
                 'height="10"><rect width="10" height="10"/></svg>\n')
    with pytest.raises(ImageError, match=r"logo\.jpg: is an SVG \(vector\) image, not a raster"):
        open_image(p)


def test_pdf_is_refused(tmp_path: Path) -> None:
    p = tmp_path / "scan.png"
    p.write_bytes(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n")
    with pytest.raises(ImageError, match=r"scan\.png: is a PDF document, not a raster image"):
        open_image(p)


def test_truncated_jpeg(tmp_path: Path) -> None:
    p = _jpeg(tmp_path, "Q1.jpg", size=(256, 256))
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError, match=r"Q1\.jpg: truncated or corrupt JPEG \(.*truncated.*\); "
                       r"re-download it"):
        open_image(p)


def test_truncated_png(tmp_path: Path) -> None:
    arr = np.random.default_rng(0).integers(0, 256, (128, 128, 3), dtype=np.uint8)
    p = _save(Image.fromarray(arr), tmp_path / "cut.png", "PNG")
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError, match=r"cut\.png: truncated or corrupt PNG"):
        open_image(p)


def test_over_max_pixels_is_refused_before_decoding(tmp_path: Path) -> None:
    p = _jpeg(tmp_path, size=(100, 60))
    with pytest.raises(ImageError, match=r"ok\.jpg: 100x60 = 6000 pixels exceeds "
                       r"max_pixels=5000 \(decompression-bomb guard\)"):
        open_image(p, max_pixels=5000)
    assert open_image(p, max_pixels=6000).size == (100, 60)
    assert open_image(p, max_pixels=None).size == (100, 60)


def test_pillow_global_limit_is_not_relied_on(tmp_path: Path, monkeypatch) -> None:
    p = _jpeg(tmp_path, size=(100, 60))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    assert load_image(p).shape == (60, 100, 3)   # no DecompressionBomb warning/error
    assert Image.MAX_IMAGE_PIXELS == 1000        # restored


def test_one_by_one_png(tmp_path: Path) -> None:
    p = _save(Image.new("RGB", (1, 1), (9, 8, 7)), tmp_path / "dot.png", "PNG")
    assert load_image(p).tolist() == [[[9, 8, 7]]]


def test_grayscale_becomes_r_equals_g_equals_b(tmp_path: Path) -> None:
    arr = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    p = _save(Image.fromarray(arr, "L"), tmp_path / "g.png", "PNG")
    out = load_image(p)
    assert out.shape == (3, 4, 3)
    for c in range(3):
        np.testing.assert_array_equal(out[..., c], arr)


def test_cmyk_jpeg_goes_through_pillow_conversion(tmp_path: Path) -> None:
    im = Image.new("CMYK", (16, 16), (0, 255, 255, 0))   # pure red in CMYK
    p = _save(im, tmp_path / "cmyk.jpg", "JPEG", quality=95)
    out = load_image(p)
    assert out.shape == (16, 16, 3)
    r, g, b = out[8, 8].astype(int)
    assert r > 240 and g < 15 and b < 15


def test_palette_with_transparency_keeps_the_stored_colour(tmp_path: Path) -> None:
    im = Image.new("P", (4, 2), 0)
    im.putpalette([10, 20, 30, 200, 100, 50] + [0] * 762)
    im.putpixel((3, 1), 1)
    p = _save(im, tmp_path / "pal.png", "PNG", transparency=0)
    out = load_image(p)
    assert out[0, 0].tolist() == [10, 20, 30]      # transparent index keeps its RGB
    assert out[1, 3].tolist() == [200, 100, 50]


def test_rgba_alpha_is_ignored_as_stored(tmp_path: Path) -> None:
    arr = np.zeros((2, 2, 4), np.uint8)
    arr[..., :3] = (40, 50, 60)
    arr[0, 0, 3] = 0            # fully transparent, RGB kept
    arr[1, 1, 3] = 255
    p = _save(Image.fromarray(arr, "RGBA"), tmp_path / "a.png", "PNG")
    assert load_image(p).reshape(-1, 3).tolist() == [[40, 50, 60]] * 4


def test_la_is_gray(tmp_path: Path) -> None:
    im = Image.fromarray(np.dstack([np.full((2, 2), 77, np.uint8), np.zeros((2, 2), np.uint8)]),
                         "LA")
    p = _save(im, tmp_path / "la.png", "PNG")
    assert load_image(p).reshape(-1, 3).tolist() == [[77, 77, 77]] * 4


def test_sixteen_bit_png_is_scaled_to_eight_bits(tmp_path: Path) -> None:
    arr = np.array([[0, 257, 257 * 128], [65535, 65280, 128]], dtype=np.uint16)
    p = _save(Image.fromarray(arr), tmp_path / "deep.png", "PNG")
    im = open_image(p)
    assert im.mode.startswith("I")
    assert load_image(p)[..., 0].tolist() == [[0, 1, 128], [255, 254, 0]]


def test_mode_i_is_scaled_like_16_bit() -> None:
    im = Image.fromarray(np.array([[0, 65535, 70000, -5]], dtype=np.int32), "I")
    assert to_rgb(im)[..., 1].tolist() == [[0, 255, 255, 0]]


def test_multi_frame_uses_first_frame(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (8, 8), c) for c in [(255, 0, 0), (0, 0, 255)]]
    p = tmp_path / "anim.gif"
    frames[0].save(p, "GIF", save_all=True, append_images=frames[1:])
    out = load_image(p)
    assert out[4, 4].tolist() == [255, 0, 0]


def test_bytes_and_stream_sources(tmp_path: Path) -> None:
    p = _jpeg(tmp_path)
    from_path = load_image(p)
    np.testing.assert_array_equal(load_image(p.read_bytes()), from_path)
    with open(p, "rb") as fh:
        np.testing.assert_array_equal(load_image(fh), from_path)
    with pytest.raises(ImageError, match=r"<bytes>: file is empty"):
        load_image(b"")


def test_exif_orientation_read_and_invalid_values(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6
    p = _save(Image.new("RGB", (8, 4)), tmp_path / "o.jpg", "JPEG", exif=exif.tobytes())
    assert exif_orientation(open_image(p)) == 6
    assert load_image(p).shape == (8, 4, 3)
    exif[0x0112] = 42
    p2 = _save(Image.new("RGB", (8, 4)), tmp_path / "bad.jpg", "JPEG", exif=exif.tobytes())
    assert exif_orientation(open_image(p2)) == 1
    assert exif_orientation(Image.new("RGB", (2, 2))) == 1


_PIL = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
        4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
        6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
        8: Image.Transpose.ROTATE_90}


@pytest.mark.parametrize("orientation", range(1, 9))
def test_apply_orientation_matches_pillow(orientation: int) -> None:
    arr = np.arange(5 * 3 * 3, dtype=np.uint8).reshape(5, 3, 3)
    im = Image.fromarray(arr)
    expected = np.asarray(im if orientation == 1 else im.transpose(_PIL[orientation]))
    np.testing.assert_array_equal(apply_orientation(arr, orientation), expected)


def test_open_image_returns_decoded_pillow_image(tmp_path: Path) -> None:
    im = open_image(io.BytesIO(_jpeg(tmp_path).read_bytes()))
    assert im.size == (64, 48) and im.format == "JPEG"
