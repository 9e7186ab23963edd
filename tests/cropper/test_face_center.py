"""face_center: the program's windows around the largest face found by audit.gaze.faces."""

from __future__ import annotations

import numpy as np
import pytest

from audit.crop.geometry import Box, Point
from audit.crop.rules import crop_box
from audit.cropper.face_center import FaceCenterCropper
from audit.cropper.registry import build_named

pytest.importorskip("cv2")
RATIOS = [0.56, 1.0, 1.14, 2.0]


class Fixed:
    def __init__(self, faces):
        self.faces = faces

    def detect(self, rgb):
        return list(self.faces)


def test_centred_on_the_detectors_largest_face(photo_rgb):
    from audit.gaze.faces import HaarFaceDetector, primary_face

    face = primary_face(HaarFaceDetector().detect(photo_rgb))
    assert face is not None
    h, w = photo_rgb.shape[:2]
    result = build_named("face_center").crop(photo_rgb, RATIOS)
    centre = Point(int(face.left + face.width / 2), int(face.top + face.height / 2))
    assert result.point == centre
    assert result.boxes == {r: crop_box(w, h, centre, r) for r in RATIOS}
    assert result.info["face"] == [face.left, face.top, face.width, face.height]
    assert result.info["fallback"] is None


def test_largest_face_wins_and_windows_stay_inside():
    cropper = FaceCenterCropper(Fixed([Box(10, 10, 20, 20), Box(350, 40, 40, 40)]))
    result = cropper.crop(np.zeros((100, 400, 3), np.uint8), [2.0, 1.0])
    assert result.point == Point(370, 60)
    # 2.0: 50 wide around x=370; 1.0: 100 wide would pass the right edge, so it is shifted
    assert result.boxes == {2.0: Box(345, 0, 50, 100), 1.0: Box(300, 0, 100, 100)}
    assert result.info["n_faces"] == 2


def test_no_face_falls_back_to_the_centre_and_says_so():
    rgb = np.full((100, 300, 3), 200, np.uint8)
    result = build_named("face_center").crop(rgb, RATIOS)
    assert result.boxes == build_named("center").crop(rgb, RATIOS).boxes
    assert result.info == {"n_faces": 0, "face": None, "fallback": "center"}


def test_a_failing_detector_is_a_model_error_for_that_image():
    class Broken:
        def detect(self, rgb):
            raise RuntimeError("cascade exploded")

    out = FaceCenterCropper(Broken()).crop_many([np.zeros((10, 10, 3), np.uint8)], [1.0])
    assert out == ["face_center: face detection failed on a 10x10 image: cascade exploded"]
