from __future__ import annotations

import re
import sys

import numpy as np
import pytest
from PIL import Image

from audit.crop.geometry import Box
from audit.gaze import faces
from audit.gaze.faces import (
    FaceDetector,
    HaarFaceDetector,
    detect_faces,
    head_box,
    make_detector,
    primary_face,
)


def test_head_box_default_factors():
    # 50x50 face: 1.6x width centred (15 px each side), 2.0x height with the centre 5 px up,
    # so 30 px above the face top (hair) and 20 px below its bottom (chin).
    assert head_box(Box(100, 100, 50, 50), (1000, 1000)) == Box(85, 70, 80, 100)


def test_head_box_custom_factors_round_outward():
    b = head_box(Box(10, 20, 11, 11), (100, 100), head_width_factor=1.5,
                 head_height_factor=1.5, head_shift_up=0.0)
    # centre (15.5, 25.5); half sides 8.25 -> [7.25, 23.75) -> floor/ceil -> [7, 24)
    assert b == Box(7, 17, 17, 17)


def test_head_box_clamps_to_image():
    assert head_box(Box(0, 0, 50, 50), (100, 100)) == Box(0, 0, 65, 70)
    # centre (80, 76), half sides 32 x 40 -> [48, 112) x [36, 116), clipped at 100.
    assert head_box(Box(60, 60, 40, 40), (100, 100)) == Box(48, 36, 52, 64)


def test_head_box_rejects_bad_factors():
    with pytest.raises(ValueError, match="head_width_factor must be >= 1, got 0.5"):
        head_box(Box(0, 0, 10, 10), (100, 100), head_width_factor=0.5)
    with pytest.raises(ValueError, match=re.escape("±0.5")):
        head_box(Box(0, 0, 10, 10), (100, 100), head_shift_up=0.6)


def test_primary_face_is_largest_then_first():
    a, b, c = Box(50, 10, 20, 20), Box(0, 40, 30, 30), Box(5, 0, 30, 30)
    assert primary_face([a, b, c]) == c  # b and c tie on area; c is higher up
    assert primary_face([]) is None


def test_missing_opencv_error_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "cv2", None)
    with pytest.raises(ImportError, match=re.escape("install cropaudit[faces]")):
        HaarFaceDetector()


def test_haar_finds_no_face_on_blank_image():
    det = HaarFaceDetector()
    assert isinstance(det, FaceDetector)
    assert det.detect(np.full((240, 320, 3), 128, dtype=np.uint8)) == []
    assert detect_faces(np.zeros((64, 64, 3), dtype=np.uint8)) == []


def test_detect_rejects_non_rgb():
    with pytest.raises(ValueError, match=re.escape("got dtype float64 shape (4, 4)")):
        HaarFaceDetector().detect(np.zeros((4, 4)))


def test_make_detector_names():
    assert isinstance(make_detector("haar"), HaarFaceDetector)
    with pytest.raises(ValueError, match=re.escape(faces._MSG_DETECTOR.format(
            name="dlib", names=", ".join(faces.DETECTORS)))):
        make_detector("dlib")


def test_haar_finds_a_face_on_a_real_photo(golden_dir):
    rgb = np.asarray(Image.open(golden_dir / "halt_11.jpg").convert("RGB"))
    found = HaarFaceDetector().detect(rgb)
    assert len(found) >= 1
    h, w = rgb.shape[:2]
    face = primary_face(found)
    assert face is not None
    assert 0 <= face.left and face.right <= w and 0 <= face.top and face.bottom <= h
    # A face in a portrait-sized photo is neither a speck nor the whole frame.
    assert 0.01 < face.area / (w * h) < 0.9


def test_haar_downscaled_detection_maps_back_to_original_pixels(golden_dir, monkeypatch):
    import cv2

    small = Image.open(golden_dir / "halt_11.jpg").convert("RGB")
    big = np.asarray(small.resize((small.width * 5, small.height * 5),
                                  Image.Resampling.BICUBIC))
    h, w = big.shape[:2]
    det = HaarFaceDetector()
    found = det.detect(big)  # longer side 1290 > 1024: detected on a shrunk copy
    # Reference: shrink the same way by hand, detect without shrinking, scale up by hand.
    s = faces.DETECT_MAX_SIDE / max(h, w)
    shrunk = cv2.resize(big, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
    monkeypatch.setattr(faces, "DETECT_MAX_SIDE", 10**6)
    ref = det.detect(shrunk)
    assert len(found) == len(ref) >= 1
    for f, r in zip(found, ref, strict=True):
        assert abs(f.left - r.left / s) <= 1 and abs(f.top - r.top / s) <= 1
        assert abs(f.right - r.right / s) <= 1 and abs(f.bottom - r.bottom / s) <= 1
        assert f.right <= w and f.bottom <= h
