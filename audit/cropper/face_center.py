"""Focal-point cropping on the largest detected face (as CDNs' ``gravity=face`` croppers do).

Faces come from :mod:`audit.gaze.faces` (OpenCV's Haar frontal-face cascade, the detector the
male-gaze check uses, with the same parameters). The focus point is the centre of the largest
face, ``(int(left + w / 2), int(top + h / 2))``; each ratio's crop is the program's window
around it (:func:`audit.crop.rules.crop_box`, shifted to stay inside the image). When no face is
found the crop falls back to the centred window (:mod:`audit.cropper.center`) and this is
recorded per image: ``info["fallback"] = "center"``, ``info["face"] = None``; otherwise
``info["face"]`` is the face box ``[left, top, width, height]`` and ``info["n_faces"]`` the
number found. A detector that misses darker faces more often therefore shows up as more
centred crops, which is itself worth reporting.

Needs OpenCV (``pip install 'cropaudit[faces]'``), imported when the cropper is built.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from audit.crop.geometry import Point
from audit.crop.rules import crop_box
from audit.cropper.base import Cropper, CropResult, check_ratios, check_rgb
from audit.exceptions import ModelError


class FaceCenterCropper(Cropper):
    """Windows centred on the largest face, or on the image when there is none.

    Parameters
    ----------
    detector : FaceDetector
        Anything with ``detect(rgb) -> list[Box]`` (:class:`audit.gaze.faces.FaceDetector`).
    settings : dict
        The detector's parameters, for the manifest.
    name : str
        Registry name.
    """

    kind = "box"
    library = "opencv (Haar frontal-face cascade)"
    #: always a focus point (the face centre, or the image centre as fallback), so the runner
    #: records its argmax outcome in ``records``
    has_point = True

    def __init__(self, detector: Any, *, settings: dict[str, Any] | None = None,
                 name: str = "face_center") -> None:
        self.name = name
        self.detector = detector
        self._settings = dict(settings or {})

    def crop(self, rgb: npt.NDArray[np.uint8], aspect_ratios: Sequence[float]) -> CropResult:
        """Detect faces, centre each ratio's window on the largest (else on the image)."""
        from audit.gaze.faces import primary_face

        arr = check_rgb(rgb, self.name)
        ratios = check_ratios(aspect_ratios, self.name)
        h, w = arr.shape[:2]
        cv2_error = getattr(getattr(self.detector, "_cv2", None), "error", RuntimeError)
        try:
            faces = self.detector.detect(arr)
        except (cv2_error, RuntimeError) as exc:
            first = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
            raise ModelError(f"{self.name}: face detection failed on a {w}x{h} image: "
                             f"{first}") from exc
        face = primary_face(faces)
        info: dict[str, Any] = {"n_faces": len(faces)}
        if face is None:
            point = Point(int(0.5 * w), int(0.5 * h))
            info.update(face=None, fallback="center")
        else:
            point = Point(int(face.left + face.width / 2), int(face.top + face.height / 2))
            info.update(face=[face.left, face.top, face.width, face.height], fallback=None)
        return CropResult(boxes={r: crop_box(w, h, point, r) for r in ratios}, point=point,
                          info=info)

    def library_version(self) -> str | None:
        """Return the OpenCV version when the detector is OpenCV's."""
        cv2 = getattr(self.detector, "_cv2", None)
        return None if cv2 is None else str(cv2.__version__)

    def settings(self) -> dict[str, Any]:
        """Return the detector name and parameters."""
        return dict(self._settings)


def build(*, name: str = "face_center", detector: str = "haar", scale_factor: float = 1.1,
          min_neighbors: int = 5, min_face_frac: float = 0.05) -> FaceCenterCropper:
    """Build the cropper named by ``conf/cropper/face_center.yaml`` (defaults = ``conf/gaze``)."""
    from audit.gaze.faces import make_detector

    settings = {"detector": detector, "scale_factor": float(scale_factor),
                "min_neighbors": int(min_neighbors), "min_face_frac": float(min_face_frac)}
    engine = make_detector(detector, scale_factor=scale_factor, min_neighbors=min_neighbors,
                           min_face_frac=min_face_frac)
    return FaceCenterCropper(engine, settings=settings, name=name)
