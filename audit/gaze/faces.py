"""Face boxes from an image, and the head box grown from a face box.

Detectors whose model ships inside a package (nothing downloads at run time), by name
(:data:`DETECTORS`, ``gaze.detector``): OpenCV's Haar cascades ``haar`` (frontalface_default,
the default), ``haar_alt``, ``haar_alt2``, ``haar_alt_tree`` and ``haar_profile`` from the pinned
``opencv-contrib-python-headless`` 4.14 (OpenCV 5 wheels carry no cascade files; the wheels ship
no LBP face cascade), and ``dlib_hog`` (dlib-bin's HOG frontal detector). Measured recall per
Monk Skin Tone on the synthetic portraits (``bench/detectors.py``, ``bench/README.md``): every
candidate falls to about 0 at MST 8-10, so none qualifies as an unbiased judge; ``haar`` has the
highest recall in every band and stays the default detector, while the head check itself is
judged by the generator's truth or people's labels where they exist
(:mod:`audit.gaze.source`). Both libraries are optional (``pip install cropaudit[faces]``) and
imported only when a detector is built. Any object with a ``detect(rgb) -> list[Box]`` method
can stand in (:class:`FaceDetector`).

A frontal-face box spans roughly eyebrows to mouth and cheek to cheek; :func:`head_box` widens it
to cover hair and chin, so "the salient point is on the head" is judged on the whole head.
"""

from __future__ import annotations

import importlib
import logging
import math
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from audit.crop.geometry import Box

log = logging.getLogger(__name__)

#: Cascade file used by :class:`HaarFaceDetector` (inside ``cv2.data.haarcascades``).
HAAR_CASCADE = "haarcascade_frontalface_default.xml"
#: The cascade's training window; smaller faces cannot be found.
HAAR_WINDOW = 24
#: Longer side images are shrunk to before detection (speed; faces stay well above the window).
DETECT_MAX_SIDE = 1024

_MSG_NO_CV2 = (
    "face detection needs OpenCV, which is not installed: install cropaudit[faces] "
    "(pip install 'cropaudit[faces]', which pins opencv-contrib-python-headless 4.14)"
)
_MSG_NO_CASCADE = (
    "OpenCV could not load the Haar cascade {path}; this OpenCV build ships no cascade files "
    "(OpenCV 5 wheels do not). Install cropaudit[faces] (opencv-contrib-python-headless 4.14)"
)
_MSG_RGB = "face detection needs a uint8 (H, W, 3) RGB array, got dtype {dtype} shape {shape}"
_MSG_FACTOR = "{name} must be >= 1, got {value}"
_MSG_SHIFT = (
    "head_shift_up must be within ±(head_height_factor - 1) / 2 = ±{limit:g} so the head box "
    "still covers the face, got {value}"
)
_MSG_SIZE = "image_size must be (W, H) with both >= 1, got {size}"
_MSG_DETECTOR = "unknown face detector {name!r}; choose one of: {names}"
_MSG_NO_DLIB = (
    "the dlib_hog face detector needs dlib, which is not installed: pip install dlib-bin "
    "(a binary wheel; it is in cropaudit[test]), or pick gaze.detector=haar"
)
#: OpenCV cascade file of each Haar detector name.
HAAR_CASCADES = {
    "haar": HAAR_CASCADE,
    "haar_alt": "haarcascade_frontalface_alt.xml",
    "haar_alt2": "haarcascade_frontalface_alt2.xml",
    "haar_alt_tree": "haarcascade_frontalface_alt_tree.xml",
    "haar_profile": "haarcascade_profileface.xml",
}
#: Every detector name :func:`make_detector` accepts; the first is the default.
DETECTORS = (*HAAR_CASCADES, "dlib_hog")
#: Smallest face side dlib's HOG window finds without upsampling (its 80x80 training window).
DLIB_WINDOW = 80


@runtime_checkable
class FaceDetector(Protocol):
    """Anything that finds face boxes in an RGB image."""

    def detect(self, rgb: npt.NDArray[np.uint8]) -> list[Box]:
        """Face boxes in image pixels, sorted by ``(top, left)``."""
        ...


def _import_cv2() -> Any:
    try:
        return importlib.import_module("cv2")
    except ImportError as exc:
        raise ImportError(_MSG_NO_CV2) from exc


def _check_rgb(rgb: npt.NDArray[np.uint8]) -> None:
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(_MSG_RGB.format(dtype=rgb.dtype, shape=rgb.shape))


class HaarFaceDetector:
    """OpenCV Haar-cascade frontal-face detector with fixed, deterministic parameters.

    Parameters
    ----------
    scale_factor : float, default 1.1
        Step between pyramid scales.
    min_neighbors : int, default 5
        Overlapping raw detections needed to accept a face (higher: fewer false faces).
    min_face_frac : float, default 0.05
        Smallest face side as a fraction of the image's shorter side (never below the
        cascade's 24-px window).

    Raises
    ------
    ImportError
        If OpenCV is missing (message says to install ``cropaudit[faces]``).
    """

    name = "haar"

    def __init__(
        self, *, scale_factor: float = 1.1, min_neighbors: int = 5, min_face_frac: float = 0.05,
        cascade: str = HAAR_CASCADE,
    ) -> None:
        self._cv2 = _import_cv2()
        path = str(self._cv2.data.haarcascades) + cascade
        self._cascade = self._cv2.CascadeClassifier(path)
        if self._cascade.empty():
            raise RuntimeError(_MSG_NO_CASCADE.format(path=path))
        self.cascade = cascade
        self.name = next((k for k, v in HAAR_CASCADES.items() if v == cascade), cascade)
        self.scale_factor = float(scale_factor)
        self.min_neighbors = int(min_neighbors)
        self.min_face_frac = float(min_face_frac)

    def detect(self, rgb: npt.NDArray[np.uint8]) -> list[Box]:
        """Face boxes in ``rgb``'s pixels, sorted by ``(top, left)``; empty when none."""
        _check_rgb(rgb)
        cv2 = self._cv2
        h, w = rgb.shape[:2]
        scale = min(1.0, DETECT_MAX_SIDE / max(h, w))
        img = rgb
        if scale < 1.0:
            img = cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))),
                             interpolation=cv2.INTER_AREA)
        grey = cv2.equalizeHist(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY))
        side = max(HAAR_WINDOW, int(round(self.min_face_frac * min(grey.shape[:2]))))
        found = self._cascade.detectMultiScale(
            grey, scaleFactor=self.scale_factor, minNeighbors=self.min_neighbors,
            minSize=(side, side),
        )
        boxes = []
        for x, y, bw, bh in np.asarray(found, dtype=np.int64).reshape(-1, 4):
            # Map back to original pixels, rounding outward so the face stays covered.
            left, top = math.floor(x / scale), math.floor(y / scale)
            right = min(w, math.ceil((x + bw) / scale))
            bottom = min(h, math.ceil((y + bh) / scale))
            boxes.append(Box(left, top, right - left, bottom - top))
        return sorted(boxes, key=lambda b: (b.top, b.left))


class DlibHogFaceDetector:
    """dlib's HOG + linear SVM frontal-face detector (the model is compiled into dlib-bin).

    Parameters
    ----------
    upsample : int, default 1
        Times dlib doubles the image before scanning; each step halves the smallest face found
        (80 px at 0, 40 px at 1). Images are first shrunk to :data:`DETECT_MAX_SIDE`.
    min_face_frac : float, default 0.05
        Faces whose side is below this fraction of the image's shorter side are dropped
        (the same rule as :class:`HaarFaceDetector`).

    Raises
    ------
    ImportError
        If dlib is missing (message says to install ``dlib-bin``).
    """

    name = "dlib_hog"

    def __init__(self, *, upsample: int = 1, min_face_frac: float = 0.05) -> None:
        try:
            dlib = importlib.import_module("dlib")
        except ImportError as exc:
            raise ImportError(_MSG_NO_DLIB) from exc
        if int(upsample) < 0:
            raise ValueError(f"upsample must be >= 0, got {upsample}")
        self._detector = dlib.get_frontal_face_detector()
        self.upsample = int(upsample)
        self.min_face_frac = float(min_face_frac)

    def detect(self, rgb: npt.NDArray[np.uint8]) -> list[Box]:
        """Face boxes in ``rgb``'s pixels, sorted by ``(top, left)``; empty when none."""
        _check_rgb(rgb)
        h, w = rgb.shape[:2]
        scale = min(1.0, DETECT_MAX_SIDE / max(h, w))
        img = np.ascontiguousarray(rgb)
        if scale < 1.0:
            cv2 = _import_cv2()
            img = cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))),
                             interpolation=cv2.INTER_AREA)
        found = self._detector(img, self.upsample)
        side = self.min_face_frac * min(h, w)
        boxes = []
        for r in found:
            # dlib rectangles are inclusive and may reach past the border: clip to the image.
            left = max(0, math.floor(r.left() / scale))
            top = max(0, math.floor(r.top() / scale))
            right = min(w, math.ceil((r.right() + 1) / scale))
            bottom = min(h, math.ceil((r.bottom() + 1) / scale))
            if right - left >= side and bottom - top >= side:
                boxes.append(Box(left, top, right - left, bottom - top))
        return sorted(boxes, key=lambda b: (b.top, b.left))


def make_detector(
    detector: str = DETECTORS[0], *, scale_factor: float = 1.1, min_neighbors: int = 5,
    min_face_frac: float = 0.05, upsample: int = 1,
) -> FaceDetector:
    """Build the detector named in ``gaze.detector`` (one of :data:`DETECTORS`).

    Haar parameters (``scale_factor``, ``min_neighbors``) are ignored by ``dlib_hog`` and
    ``upsample`` by the Haar cascades.
    """
    if detector == "dlib_hog":
        return DlibHogFaceDetector(upsample=upsample, min_face_frac=min_face_frac)
    if detector in HAAR_CASCADES:
        return HaarFaceDetector(scale_factor=scale_factor, min_neighbors=min_neighbors,
                                min_face_frac=min_face_frac, cascade=HAAR_CASCADES[detector])
    raise ValueError(_MSG_DETECTOR.format(name=detector, names=", ".join(DETECTORS)))


_DEFAULT: FaceDetector | None = None


def detect_faces(rgb: npt.NDArray[np.uint8], detector: FaceDetector | None = None) -> list[Box]:
    """Face boxes in an RGB image.

    Parameters
    ----------
    rgb : ndarray of uint8, shape (H, W, 3)
        The image in display orientation.
    detector : FaceDetector, optional
        Defaults to a shared ``make_detector()`` (the default detector, default parameters).

    Returns
    -------
    list of Box
        Sorted by ``(top, left)``; empty when no face is found.
    """
    global _DEFAULT
    if detector is None:
        if _DEFAULT is None:
            _DEFAULT = make_detector()
        detector = _DEFAULT
    return detector.detect(rgb)


def primary_face(faces: list[Box]) -> Box | None:
    """Return the largest face (first in ``(top, left)`` order on ties), or None if none."""
    best: Box | None = None
    for f in sorted(faces, key=lambda b: (b.top, b.left)):
        if best is None or f.area > best.area:
            best = f
    return best


def head_box(
    face: Box,
    image_size: tuple[int, int],
    *,
    head_width_factor: float = 1.6,
    head_height_factor: float = 2.0,
    head_shift_up: float = 0.1,
) -> Box:
    """Grow a frontal-face box into a head box, clamped to the image.

    The head box is ``head_width_factor`` × the face width, centred on the face horizontally,
    and ``head_height_factor`` × the face height, its centre ``head_shift_up`` face heights
    above the face centre. With the defaults (1.6, 2.0, 0.1) it adds 0.3 face widths on each side,
    0.6 face heights above (hair) and 0.4 below (chin). Edges are rounded outward.

    Parameters
    ----------
    face : Box
        Face box in image pixels.
    image_size : tuple of int
        ``(W, H)``; the result is clipped to it.
    head_width_factor, head_height_factor : float
        Growth factors, >= 1.
    head_shift_up : float
        Upward shift of the centre in face heights, within ``±(head_height_factor - 1) / 2``.

    Returns
    -------
    Box

    Examples
    --------
    >>> head_box(Box(100, 100, 50, 50), (1000, 1000))
    Box(left=85, top=70, width=80, height=100)
    """
    for name, value in (("head_width_factor", head_width_factor),
                        ("head_height_factor", head_height_factor)):
        if not value >= 1:
            raise ValueError(_MSG_FACTOR.format(name=name, value=value))
    limit = (head_height_factor - 1) / 2
    if not -limit <= head_shift_up <= limit:
        raise ValueError(_MSG_SHIFT.format(limit=limit, value=head_shift_up))
    w_img, h_img = int(image_size[0]), int(image_size[1])
    if w_img < 1 or h_img < 1:
        raise ValueError(_MSG_SIZE.format(size=image_size))
    cx = face.left + face.width / 2
    cy = face.top + face.height / 2 - head_shift_up * face.height
    half_w = head_width_factor * face.width / 2
    half_h = head_height_factor * face.height / 2
    # Round outward (small epsilon absorbs float noise such as 69.99999 for an exact 70).
    eps = 1e-9
    left = max(0, math.floor(cx - half_w + eps))
    top = max(0, math.floor(cy - half_h + eps))
    right = min(w_img, math.ceil(cx + half_w - eps))
    bottom = min(h_img, math.ceil(cy + half_h - eps))
    return Box(left, top, max(0, right - left), max(0, bottom - top))
