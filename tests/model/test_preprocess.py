from __future__ import annotations

import io
import math

import numpy as np
import pytest
from PIL import Image, ImageOps

from audit.model.base import grid_shape
from audit.model.preprocess import (
    CHANNEL_MEANS,
    _decode_for_box,
    _lanczos_table,
    _upsample_table,
    dct_read_size,
    fit_size,
    prepare_array,
    prepare_file,
    resize_rgb,
    symmetry_thumbnail,
    to_tensor,
)


@pytest.mark.parametrize(("size", "expected"), [
    ((1034, 851), (320, 263)),   # ica_dummy
    ((583, 3000), (62, 320)),    # wacv_obama_mcconnell
    ((6100, 4067), (320, 213)),
    ((224, 224), (320, 320)),    # enlargement
    ((310, 163), (320, 168)),    # enlargement, 163*320/310 = 168.26
    ((1, 1), (320, 320)),
    ((640, 425), (320, 213)),    # 212.5 rounds half away from zero (numpy would give 212)
    ((1000, 1), (320, 1)),       # 0.32 would round to 0: kept at 1
])
def test_fit_size(size: tuple[int, int], expected: tuple[int, int]) -> None:
    assert fit_size(*size) == expected


@pytest.mark.parametrize(("size", "target", "expected"), [
    ((6100, 4067), (320, 213), (3, 763, 509)),
    ((1034, 851), (320, 263), (1, 517, 426)),
    ((1023, 688), (320, 215), (1, 512, 344)),
    ((583, 3000), (62, 320), (3, 73, 375)),
    ((224, 224), (320, 320), (0, 224, 224)),
    ((1280, 1024), (320, 256), (2, 320, 256)),
])
def test_dct_read_size(size, target, expected) -> None:
    assert dct_read_size(*size, *target) == expected


def _jpeg(arr: np.ndarray, **kw) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "JPEG", quality=90, **kw)
    return buf.getvalue()


@pytest.mark.parametrize("size", [(1023, 689), (1001, 2999), (2047, 1365), (641, 641)])
def test_jpeg_is_decoded_at_the_dct_scaled_size_for_odd_sizes(size, caplog) -> None:
    w, h = size
    rng = np.random.default_rng(1)
    data = _jpeg(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
    tw, th = fit_size(w, h)
    n, read_w, read_h = dct_read_size(w, h, tw, th)
    assert n >= 1
    rgb, orientation, display, target = _decode_for_box(data, 320)
    assert rgb.shape == (read_h, read_w, 3)
    assert (orientation, display, target) == (1, (w, h), (tw, th))
    assert "DCT-scaled decode gave" not in caplog.text


def test_box_reduction_is_truncating_average_and_drops_odd_edges() -> None:
    a = np.zeros((5, 5, 3), np.uint8)
    a[:2, :2] = [[0], [1]]            # 0+0+1+1 = 2 >> 2 = 0
    a[:2, 2:4] = 255                  # stays 255
    a[2:4, :2] = [[10], [13]]         # 46 >> 2 = 11 (11.5 truncated)
    a[2:4, 2:4, 0] = [[1, 2], [3, 4]]  # 10 >> 2 = 2
    a[4, :] = 200                     # odd row/col dropped
    a[:, 4] = 200
    out = resize_rgb(a, 2, 2)
    assert out.shape == (2, 2, 3)
    assert out[0, 0].tolist() == [0, 0, 0]
    assert out[0, 1].tolist() == [255, 255, 255]
    assert out[1, 0].tolist() == [11, 11, 11]
    assert out[1, 1].tolist() == [2, 0, 0]


def test_lanczos_weights_match_a_hand_computed_row() -> None:
    # 5 -> 3, output 1: centre 2.49999, taps -2..6 at x = 0.6 (p - 1.99999):
    # L(0)=1, L(.6)=.47200, L(1.2)=-.11800, L(1.8)=-.05245, L(2.4)=.02950; sum 1.6621;
    # Q16: 39430/39429, 18611, -4652, -2067, 1163 (truncated toward zero).
    idx, w = _lanczos_table(5, 3)
    assert idx[1].tolist() == [0, 0, 0, 1, 2, 3, 4, 4, 4]
    assert w[1].tolist() == [1163, -2067, -4652, 18611, 39429, 18610, -4652, -2067, 1163]
    assert all(abs(int(s) - 65536) <= w.shape[1] for s in w.sum(axis=1))


def test_upsample_weights_are_normalised_q16() -> None:
    idx, w = _upsample_table(3, 5)
    assert all(abs(int(s) - 65536) <= 4 for s in w.sum(axis=1))
    assert w[0].tolist() == [0, 65536, 0, 0]   # position max(0, 0.3 - 0.5) = 0: the pixel itself
    assert w[1].tolist() == [-5124, 45610, 27900, -2850]
    assert idx[4].tolist() == [1, 2, 2, 2]     # edge replicated


@pytest.mark.parametrize("value", [0, 17, 128, 255])
@pytest.mark.parametrize(("src", "dst"), [((97, 61), (50, 33)), ((20, 13), (37, 24)),
                                          ((640, 427), (320, 213))])
def test_constant_image_stays_constant(value, src, dst) -> None:
    a = np.full((src[1], src[0], 3), value, np.uint8)
    out = resize_rgb(a, *dst)
    assert out.shape == (dst[1], dst[0], 3)
    assert np.all(out == value)


def test_lanczos_preserves_a_horizontal_ramp_in_the_interior() -> None:
    x = np.arange(300)
    a = np.repeat(np.repeat((x * 200 // 299)[None, :, None], 40, 0), 3, 2).astype(np.uint8)
    out = resize_rgb(a, 200, 40).astype(int)
    expected = (np.arange(200) + 0.5) * 1.5 - 0.5   # source coordinate of each output centre
    expected = expected * 200 / 299
    assert np.max(np.abs(out[20, 10:-10, 0] - expected[10:-10])) <= 1.0
    assert np.all(out[:, :, 0] == out[:, :, 2])


def test_resize_is_fast_enough() -> None:
    import time

    a = np.random.default_rng(0).integers(0, 256, (639, 639, 3), dtype=np.uint8)
    resize_rgb(a, 320, 320)
    t0 = time.perf_counter()
    resize_rgb(a, 320, 320)
    assert time.perf_counter() - t0 < 0.2   # ~13 ms measured; generous for loaded CI


_INVERSE = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
            4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
            6: Image.Transpose.ROTATE_90, 7: Image.Transpose.TRANSVERSE,
            8: Image.Transpose.ROTATE_270}


def _display_pattern() -> Image.Image:
    a = np.full((240, 400, 3), 128, np.uint8)
    a[:80, :100] = (255, 0, 0)     # red: top-left
    a[-40:, :] = (0, 0, 255)       # blue: bottom strip
    return Image.fromarray(a)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_gives_display_orientation(orientation: int) -> None:
    display = _display_pattern()
    stored = display if orientation == 1 else display.transpose(_INVERSE[orientation])
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = _jpeg(np.asarray(stored), exif=exif.tobytes())
    prepared = prepare_file(data)
    assert prepared.size == (400, 240)
    assert prepared.resized_size == (320, 192)
    px = prepared.pixels.astype(int)
    assert px[:60, :75, 0].mean() > 230 and px[:60, :75, 2].mean() < 30      # red top-left
    assert px[-25:, :, 2].mean() > 230 and px[-25:, :, 0].mean() < 30        # blue bottom
    assert px[60:120, 120:300].std() < 6                                     # grey elsewhere
    # Same decode through Pillow's own transpose: identical pixels before resizing.
    from audit.data.images import load_image
    pil = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB"))
    np.testing.assert_array_equal(load_image(data), pil)


@pytest.mark.parametrize(("size", "grid"), [((1034, 851), (17, 20)), ((583, 3000), (20, 4)),
                                            ((960, 321), (7, 20)), ((50, 50), (20, 20))])
def test_prepared_grid_shape(size, grid) -> None:
    w, h = size
    p = prepare_array(np.zeros((h, w, 3), np.uint8))
    assert grid_shape(p.resized_size) == grid


def test_prepare_array_rejects_non_rgb() -> None:
    with pytest.raises(ValueError, match=r"expected a uint8 \(H, W, 3\) RGB array"):
        prepare_array(np.zeros((10, 10), np.uint8))


def test_symmetry_thumbnail_is_10x10() -> None:
    p = prepare_array(np.full((300, 500, 3), 77, np.uint8))
    thumb = symmetry_thumbnail(p.pixels)
    assert thumb.shape == (10, 10, 3) and np.all(thumb == 77)


def test_to_tensor_subtracts_means_in_rgb_order() -> None:
    p = prepare_array(np.full((32, 32, 3), 200, np.uint8))
    t = to_tensor([p])
    assert t.shape == (1, 3, 320, 320)
    for c in range(3):
        assert math.isclose(float(t[0, c, 0, 0]), 200 - CHANNEL_MEANS[c], rel_tol=1e-6)
