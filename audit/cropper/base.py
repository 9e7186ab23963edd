"""The cropper interface: an RGB image and aspect ratios in, one crop box per ratio out.

Two kinds of cropper exist (``../shared/docs/croppers.md``):

* ``"saliency"``: a score per location, a focus point and a rule placing the window around it
  (FastGaze, OpenCV saliency). Such croppers also return the point and the map, so the study's
  argmax outcome can be computed. :class:`SaliencyCropper` wraps any
  :class:`~audit.model.base.SaliencyModel` with Twitter's rule, keeping the model's batching.
* ``"box"``: a crop window directly, sometimes with a focus point (libvips ``smartcrop``,
  smartcrop.py, face-centred croppers, cloud APIs).

Crop boxes are :class:`~audit.crop.geometry.Box` values ``(left, top, width, height)`` in the
input image's own pixels, keyed by aspect ratio (height / width, as Twitter's program). Unless a
library decides its own size, a crop is the program's window: for ratio ``ar`` and a ``W x H``
image, full width if ``H / W > ar`` else full height, the other side ``lroundf(W * ar)`` or
``lroundf(H / ar)`` (:func:`window_size`).
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from audit.crop.geometry import Box, Point
from audit.crop.rules import crop_box
from audit.exceptions import ModelError
from audit.model.base import SaliencyMap, SaliencyModel

log = logging.getLogger(__name__)

#: The two kinds of cropper.
KINDS = ("saliency", "box")

_MSG_RGB = "{name}: expected a uint8 (H, W, 3) RGB array, got dtype {dtype} shape {shape}"
_MSG_NO_RATIOS = "{name}: no aspect ratios given; pass at least one (height / width), e.g. [1.0]"
_MSG_BOX = "{name}: crop for ratio {ratio:g} is {box}, which is not inside the {w}x{h} image"
_MSG_MISSING = "{name}: no crop for ratio(s) {missing} (got ratios {got})"


@dataclass(frozen=True)
class CropResult:
    """What a cropper returns for one image.

    Attributes
    ----------
    boxes : dict of float to Box
        Aspect ratio (height / width) -> crop box in the input image's pixels, in the order
        the ratios were asked for (keys are ``float(ratio)``; a repeated ratio, such as a
        square image's ``H / W`` beside 1.0, appears once).
    point : Point or None
        The focus point, where the cropper has one (saliency argmax, libvips attention
        centre, face centre, ...).
    saliency : SaliencyMap or None
        The score map, where the cropper has one.
    info : dict
        Per-image facts worth recording, e.g. ``{"symmetric": True}`` (FastGaze),
        ``{"fallback": "no face found; centred crop"}`` (face_center), ``{"score": ...}``.
        Values are plain JSON types.
    """

    boxes: dict[float, Box]
    point: Point | None = None
    saliency: SaliencyMap | None = None
    info: dict[str, Any] = field(default_factory=dict)


def window_size(width: int, height: int, aspect_ratio: float) -> tuple[int, int]:
    """Size ``(w, h)`` of the program's crop window of one ratio in a ``width x height`` image.

    Full width when ``H / W > ar`` (float32 comparison), otherwise full height; the other side
    is ``lroundf`` of the product, as :func:`audit.crop.rules.crop_box` computes it.

    Examples
    --------
    >>> window_size(1034, 851, 0.56), window_size(1034, 851, 2.0), window_size(100, 100, 1.0)
    ((1034, 579), (426, 851), (100, 100))
    """
    box = crop_box(width, height, Point(0, 0), aspect_ratio)
    return box.width, box.height


def centered_box(width: int, height: int, aspect_ratio: float, center: Point | None = None
                 ) -> Box:
    """Place the program's window of one ratio around ``center`` (default the image centre).

    The default centre is ``(int(0.5 W), int(0.5 H))``, the anchor the program uses for
    symmetric images; the window is shifted to stay inside the image.

    Examples
    --------
    >>> centered_box(1000, 500, 1.0)
    Box(left=250, top=0, width=500, height=500)
    >>> centered_box(1000, 500, 1.0, Point(900, 10))
    Box(left=500, top=0, width=500, height=500)
    """
    if center is None:
        center = Point(int(0.5 * int(width)), int(0.5 * int(height)))
    return crop_box(width, height, center, aspect_ratio)


def check_rgb(rgb: npt.NDArray[Any], name: str) -> npt.NDArray[np.uint8]:
    """Return ``rgb`` if it is a ``uint8 (H, W, 3)`` array with both sides >= 1, else raise.

    Raises
    ------
    ValueError
        One line naming the cropper and what was given.
    """
    arr = np.asarray(rgb)
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3 or 0 in arr.shape:
        raise ValueError(_MSG_RGB.format(name=name, dtype=arr.dtype, shape=arr.shape))
    return arr


def check_ratios(aspect_ratios: Sequence[float], name: str) -> list[float]:
    """Return the ratios as floats; raise ``ValueError`` if empty, non-finite or not > 0."""
    ratios = [float(r) for r in aspect_ratios]
    if not ratios:
        raise ValueError(_MSG_NO_RATIOS.format(name=name))
    bad = [r for r in ratios if not np.isfinite(r) or r <= 0]
    if bad:
        raise ValueError(f"{name}: aspect ratios must be finite and > 0, got {bad}")
    return ratios


def check_result(result: CropResult, image_size: tuple[int, int],
                 aspect_ratios: Sequence[float], name: str) -> CropResult:
    """Check that ``result`` has a box inside the image for every ratio asked for.

    Parameters
    ----------
    result : CropResult
        The cropper's answer.
    image_size : tuple of int
        ``(W, H)`` of the input image.
    aspect_ratios : sequence of float
        The ratios that were asked for.
    name : str
        Cropper name, for the message.

    Returns
    -------
    CropResult
        ``result`` unchanged.

    Raises
    ------
    ModelError
        A ratio has no box, or a box is empty or outside the image.
    """
    w, h = image_size
    missing = [r for r in aspect_ratios if float(r) not in result.boxes]
    if missing:
        raise ModelError(_MSG_MISSING.format(name=name, missing=missing,
                                             got=list(result.boxes)))
    for ratio, b in result.boxes.items():
        if not (b.width >= 1 and b.height >= 1 and b.left >= 0 and b.top >= 0
                and b.right <= w and b.bottom <= h):
            raise ModelError(_MSG_BOX.format(name=name, ratio=ratio, box=b, w=w, h=h))
    return result


class Cropper(ABC):
    """Base class of every cropper: ``crop(rgb, aspect_ratios) -> CropResult``.

    Subclasses set :attr:`name` (the registry name, also the ``cropper`` column of records),
    :attr:`kind`, and implement :meth:`crop`. :meth:`crop_many` loops by default; croppers
    that batch (FastGaze) override it. A cropper holding external resources (a process)
    releases them in :meth:`close`; every cropper is a context manager.
    """

    #: Registry name; also the ``cropper`` column in records.
    name: str = "base"
    #: ``"saliency"`` (map + rule: point and map) or ``"box"`` (boxes, maybe a point).
    kind: str = "box"
    #: Library the cropper calls, for the manifest (``None`` for pure geometry).
    library: str | None = None

    @abstractmethod
    def crop(self, rgb: npt.NDArray[np.uint8], aspect_ratios: Sequence[float]) -> CropResult:
        """Crop one image.

        Parameters
        ----------
        rgb : ndarray of uint8, shape (H, W, 3)
            The image in display orientation.
        aspect_ratios : sequence of float
            Crop height / width ratios, each > 0.

        Returns
        -------
        CropResult
            One box per ratio, keyed by ``float(ratio)``.

        Raises
        ------
        ModelError or ValueError
            On bad input or a library failure; the message names the cropper.
        """

    def crop_many(self, images: Sequence[npt.NDArray[np.uint8]],
                  aspect_ratios: Sequence[float]) -> list[CropResult | str]:
        """Crop several images; a failed image gives its one-line error message instead.

        Only :class:`~audit.exceptions.ModelError` and ``ValueError`` are turned into messages;
        anything else is a bug and propagates.
        """
        out: list[CropResult | str] = []
        for rgb in images:
            try:
                out.append(self.crop(rgb, aspect_ratios))
            except (ModelError, ValueError) as exc:
                log.debug("%s failed on an image: %s", self.name, exc)
                out.append(str(exc) or type(exc).__name__)
        return out

    def crop_file(self, path: str | Path, aspect_ratios: Sequence[float]) -> CropResult:
        """Crop an image file (decoded with EXIF orientation applied).

        Saliency croppers override this to use the program's own decode (libjpeg DCT scaling).

        Raises
        ------
        audit.exceptions.ImageError
            The file cannot be read.
        """
        from audit.data.images import load_image

        return self.crop(load_image(path), aspect_ratios)

    def library_version(self) -> str | None:
        """Return the version of the library the cropper calls (``None`` when it calls none)."""
        return None

    def settings(self) -> dict[str, Any]:
        """Return the parameters that decide this cropper's output (plain JSON values)."""
        return {}

    def describe(self) -> dict[str, Any]:
        """Return what the run manifest records: name, kind, library and version, settings."""
        return {"name": self.name, "kind": self.kind, "library": self.library,
                "version": self.library_version(), "settings": self.settings()}

    def output_identity(self) -> dict[str, Any]:
        """Return what determines this cropper's boxes (for cache and checkpoint keys)."""
        return self.describe()

    def close(self) -> None:  # noqa: B027 - optional hook, most croppers hold nothing
        """Release external resources (processes); the default has none."""

    def __enter__(self) -> Cropper:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, kind={self.kind!r})"


class SaliencyCropper(Cropper):
    """A :class:`SaliencyModel` under Twitter's rule: map -> argmax point -> crop windows.

    ``crop()`` is :func:`~audit.model.preprocess.prepare_array` + ``model.predict`` +
    :meth:`crops_from_map`, i.e. exactly :func:`audit.crop.candidate.candidate_crops`. The
    runner's batched fast path scores composites with :attr:`model` directly and calls
    :meth:`crops_from_map` on each map.

    Parameters
    ----------
    model : SaliencyModel
        The saliency model (the run's model for ``fastgaze``).
    name : str
        Registry name.
    """

    kind = "saliency"

    def __init__(self, model: SaliencyModel, *, name: str = "fastgaze") -> None:
        if not isinstance(model, SaliencyModel):
            raise TypeError(f"{name}: model must be an audit.model.base.SaliencyModel, "
                            f"got {type(model).__name__}")
        self.model = model
        self.name = name
        self.library = f"audit.model ({model.name})"

    def crops_from_map(self, smap: SaliencyMap, *, symmetric: bool,
                       aspect_ratios: Sequence[float]) -> CropResult:
        """Point and one crop per ratio from a map, as :func:`~audit.crop.candidate.place_crops`.

        Parameters
        ----------
        smap : SaliencyMap
            The model's map of the image.
        symmetric : bool
            :func:`~audit.crop.rules.is_symmetric` of the resized image (crops are then centred
            horizontally; the point stays the argmax).
        aspect_ratios : sequence of float
            Crop height / width ratios.
        """
        from audit.crop.candidate import place_crops

        ratios = check_ratios(aspect_ratios, self.name)
        point, crops = place_crops(smap, symmetric=symmetric, aspect_ratios=ratios)
        return CropResult(boxes=dict(crops), point=point, saliency=smap,
                          info={"symmetric": bool(symmetric)})

    def _maps(self, prepared: list[Any], images: Sequence[npt.NDArray[np.uint8]]
              ) -> list[SaliencyMap]:
        if getattr(self.model, "accepts_prepared", True):
            return self.model.predict(prepared)
        # An external program decodes and resizes by itself; it must see the source pixels.
        return [self.model.predict_array(rgb) for rgb in images]

    def crop(self, rgb: npt.NDArray[np.uint8], aspect_ratios: Sequence[float]) -> CropResult:
        """Crop one image: prepare, score, place the crops (see the class docstring)."""
        return self._crop_batch([check_rgb(rgb, self.name)], aspect_ratios)[0]

    def _crop_batch(self, images: Sequence[npt.NDArray[np.uint8]],
                    aspect_ratios: Sequence[float]) -> list[CropResult]:
        from audit.crop.rules import is_symmetric
        from audit.model.preprocess import prepare_array

        ratios = check_ratios(aspect_ratios, self.name)
        prepared = [prepare_array(rgb, box=self.model.box) for rgb in images]
        maps = self._maps(prepared, images)
        return [self.crops_from_map(smap, symmetric=is_symmetric(p.pixels), aspect_ratios=ratios)
                for smap, p in zip(maps, prepared, strict=True)]

    def crop_many(self, images: Sequence[npt.NDArray[np.uint8]],
                  aspect_ratios: Sequence[float]) -> list[CropResult | str]:
        """Crop several images in the model's batches (equal sizes together).

        If the batch fails, each image is retried alone so that one bad image costs only its
        own result.
        """
        try:
            return list(self._crop_batch([check_rgb(rgb, self.name) for rgb in images],
                                         aspect_ratios))
        except (ModelError, ValueError) as exc:
            log.debug("%s: batch failed (%s); retrying image by image", self.name, exc)
            return super().crop_many(images, aspect_ratios)

    def crop_file(self, path: str | Path, aspect_ratios: Sequence[float]) -> CropResult:
        """Crop a file with the program's own decode (JPEG DCT-scaled), as ``candidate_crops``."""
        from audit.crop.rules import is_symmetric
        from audit.model.preprocess import prepare_file

        ratios = check_ratios(aspect_ratios, self.name)
        prepared = prepare_file(path, box=self.model.box)
        if getattr(self.model, "accepts_prepared", True):
            smap = self.model.predict([prepared])[0]
        else:
            smap = self.model.predict_file(path)
        return self.crops_from_map(smap, symmetric=is_symmetric(prepared.pixels),
                                   aspect_ratios=ratios)

    def library_version(self) -> str | None:
        """Return the model's weights hash (the weights decide the cropper's output)."""
        return self.model.weights_sha256

    def settings(self) -> dict[str, Any]:
        """Return the model's identity (and its fallback reason, if it is a fallback)."""
        info: dict[str, Any] = {"model": self.model.output_identity()}
        reason = getattr(self.model, "fallback_reason", None)
        if reason:
            info["fallback_reason"] = reason
        return info

    def describe(self) -> dict[str, Any]:
        """Return the base fields plus the model's full manifest entry (device, batch size)."""
        info = super().describe()
        info["model"] = self.model.describe()
        return info

    def output_identity(self) -> dict[str, Any]:
        """Name, kind and the model's output identity (no device or batch size)."""
        return super().describe()

