"""OpenCV's static saliency (contrib ``cv2.saliency``) under Twitter's crop rule.

The map is OpenCV's, one score per pixel (fine-grained: centre-surround differences on the
grey image, normalised to [0, 1]); it is exposed as a :class:`~audit.model.base.SaliencyMap`
whose cells are the pixels (``xs = 0..W-1``, ``ys = 0..H-1``), so the program's rule applies
unchanged: first maximum in row-major order -> point -> the program's window of each ratio around
it (:func:`audit.crop.candidate.place_crops`, i.e. :func:`audit.crop.rules.crop_box`). The
program's symmetry rule (crops centred in x for mirror-symmetric images) is off by default and
can be switched on with ``symmetry: true``. Kind ``saliency`` without a batched model: the
runner calls :meth:`crop` per image. No weights are needed.

Needs OpenCV contrib (``pip install 'cropaudit[faces]'``, already used for face detection),
imported when the cropper is built.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from audit.cropper.base import Cropper, CropResult, check_ratios, check_rgb
from audit.exceptions import ModelError
from audit.model.base import SaliencyMap

#: ``algorithm`` key -> the ``cv2.saliency`` constructor.
ALGORITHMS = {"fine_grained": "StaticSaliencyFineGrained_create",
              "spectral_residual": "StaticSaliencySpectralResidual_create"}

_MSG_NO_CV2 = ("{name} needs OpenCV with the contrib saliency module, which is not importable "
               "({error}); install it with pip install 'cropaudit[faces]' "
               "(opencv-contrib-python-headless)")
_MSG_ALGO = "{name}: algorithm must be one of {choices}, got {value!r}"


def saliency_map(cv2: Any, algorithm: str, rgb: npt.NDArray[np.uint8]
                 ) -> npt.NDArray[np.float32]:
    """OpenCV's static saliency of an RGB image (given to OpenCV as BGR), float32 ``(H, W)``.

    Raises
    ------
    ModelError
        OpenCV reports failure or returns a map of the wrong shape.
    """
    bgr = np.ascontiguousarray(rgb[..., ::-1])
    engine = getattr(cv2.saliency, ALGORITHMS[algorithm])()
    try:
        ok, smap = engine.computeSaliency(bgr)
    except cv2.error as exc:
        raise ModelError(f"OpenCV {algorithm} saliency failed: "
                         f"{str(exc).strip().splitlines()[-1]}") from exc
    if not ok or smap is None or smap.shape[:2] != rgb.shape[:2]:
        shape = None if smap is None else smap.shape
        raise ModelError(f"OpenCV {algorithm} saliency failed on a {rgb.shape[1]}x"
                         f"{rgb.shape[0]} image (ok={ok}, map shape {shape})")
    return np.asarray(smap, dtype=np.float32)


class OpenCVSaliencyCropper(Cropper):
    """OpenCV static saliency map -> argmax pixel -> the program's crop windows.

    Parameters
    ----------
    algorithm : {"fine_grained", "spectral_residual"}
        Which ``cv2.saliency`` static algorithm.
    symmetry : bool
        Apply the program's symmetry rule (centre the crops in x for mirror-symmetric images).
    name : str
        Registry name.
    """

    kind = "saliency"
    library = "opencv-contrib"

    def __init__(self, *, algorithm: str = "fine_grained", symmetry: bool = False,
                 name: str = "opencv_fine_grained") -> None:
        self.name = name
        if algorithm not in ALGORITHMS:
            raise ValueError(_MSG_ALGO.format(name=name, choices=list(ALGORITHMS),
                                              value=algorithm))
        try:
            self._cv2 = importlib.import_module("cv2")
            getattr(self._cv2.saliency, ALGORITHMS[algorithm])
        except (ImportError, AttributeError) as exc:
            raise ImportError(_MSG_NO_CV2.format(name=name, error=exc)) from exc
        self.algorithm = algorithm
        self.symmetry = bool(symmetry)

    def saliency(self, rgb: npt.NDArray[np.uint8]) -> SaliencyMap:
        """Return OpenCV's per-pixel map of ``rgb`` as a SaliencyMap (cells = pixels)."""
        arr = check_rgb(rgb, self.name)
        h, w = arr.shape[:2]
        try:
            scores = saliency_map(self._cv2, self.algorithm, arr)
        except ModelError as exc:
            raise ModelError(f"{self.name}: {exc}") from exc
        return SaliencyMap(scores, np.arange(w, dtype=np.float32),
                           np.arange(h, dtype=np.float32), (w, h), (w, h))

    def crop(self, rgb: npt.NDArray[np.uint8], aspect_ratios: Sequence[float]) -> CropResult:
        """Map, argmax point, one program window per ratio around it."""
        from audit.crop.candidate import place_crops

        ratios = check_ratios(aspect_ratios, self.name)
        smap = self.saliency(rgb)
        symmetric = False
        if self.symmetry:
            from audit.crop.rules import is_symmetric
            from audit.model.preprocess import prepare_array

            symmetric = is_symmetric(prepare_array(np.asarray(rgb)).pixels)
        point, crops = place_crops(smap, symmetric=symmetric, aspect_ratios=ratios)
        return CropResult(boxes=dict(crops), point=point, saliency=smap,
                          info={"symmetric": symmetric})

    def library_version(self) -> str:
        """Return the OpenCV version, e.g. ``4.14.0``."""
        return str(self._cv2.__version__)

    def settings(self) -> dict[str, Any]:
        """Return the algorithm and whether the symmetry rule applies."""
        return {"algorithm": self.algorithm, "symmetry": self.symmetry}


def build(*, algorithm: str = "fine_grained", symmetry: bool = False,
          name: str = "opencv_fine_grained") -> OpenCVSaliencyCropper:
    """Build the cropper named by ``conf/cropper/opencv_fine_grained.yaml``."""
    return OpenCVSaliencyCropper(algorithm=algorithm, symmetry=symmetry, name=name)
