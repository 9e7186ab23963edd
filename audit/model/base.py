"""The saliency-model interface shared by FastGaze, the weight-free baselines and the adapter.

A model turns prepared images (:class:`audit.model.preprocess.Prepared`) into a
:class:`SaliencyMap`: a score per 16-px grid cell plus where each cell sits in the original
image. Subclasses implement :meth:`SaliencyModel.score` on a batch tensor; this base class
handles device choice, batching of equal sizes and ``torch.inference_mode``.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
import torch

from audit.model.preprocess import BOX, Prepared, prepare_array, prepare_file, to_tensor

log = logging.getLogger(__name__)

Device = Literal["auto", "cpu", "cuda"]
#: Total stride of the network: one grid cell per 16 resized pixels.
CELL = 16


def resolve_device(device: str) -> torch.device:
    """Turn ``auto | cpu | cuda`` (or ``cuda:N``) into a :class:`torch.device`.

    Raises
    ------
    ValueError
        If CUDA is asked for but not available, or the name is unknown.
    """
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cpu":
        return torch.device("cpu")
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError(
                f"model.device={device} but CUDA is not available here; "
                "use model.device=cpu or model.device=auto"
            )
        return torch.device(device)
    raise ValueError(f"model.device must be auto, cpu or cuda, got {device!r}")


def grid_shape(resized_size: tuple[int, int]) -> tuple[int, int]:
    """``(rows, cols)`` of the output grid: four ceil-halvings of each resized side."""
    rw, rh = resized_size
    for _ in range(4):
        rw, rh = -(-rw // 2), -(-rh // 2)
    return rh, rw


def grid_coordinates(
    image_size: tuple[int, int], resized_size: tuple[int, int], shape: tuple[int, int]
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """Original-image ``x`` of each column and ``y`` of each row of the grid.

    Cell ``(r, c)`` sits at resized pixel ``(min(16c + 8, rw - 1), min(16r + 8, rh - 1))``,
    scaled back by ``f = min(W / rw, H / rh)`` in float32, as the program does.
    """
    (w, h), (rw, rh) = image_size, resized_size
    f = min(np.float32(w) / np.float32(rw), np.float32(h) / np.float32(rh))
    rows, cols = shape
    xs = np.minimum(np.arange(cols) * CELL + CELL // 2, rw - 1).astype(np.float32) * f
    ys = np.minimum(np.arange(rows) * CELL + CELL // 2, rh - 1).astype(np.float32) * f
    return xs.astype(np.float32), ys.astype(np.float32)


@dataclass(frozen=True)
class SaliencyMap:
    """Scores on the model's grid and the grid's position in the original image.

    Attributes
    ----------
    scores : ndarray of float32, shape (rows, cols)
        Raw model output per cell (FastGaze: unnormalised, roughly -2..8 on photos).
    xs : ndarray of float32, shape (cols,)
        Original-image ``x`` (pixels) of each column's cell centre.
    ys : ndarray of float32, shape (rows,)
        Original-image ``y`` (pixels) of each row's cell centre.
    image_size : tuple of int
        ``(W, H)`` of the original image.
    resized_size : tuple of int
        ``(rw, rh)`` of the network input.
    """

    scores: npt.NDArray[np.float32]
    xs: npt.NDArray[np.float32]
    ys: npt.NDArray[np.float32]
    image_size: tuple[int, int]
    resized_size: tuple[int, int]

    @classmethod
    def from_scores(
        cls, scores: npt.NDArray[np.float32], image_size: tuple[int, int],
        resized_size: tuple[int, int],
    ) -> SaliencyMap:
        """Attach the program's cell-to-pixel mapping to a score grid."""
        xs, ys = grid_coordinates(image_size, resized_size, scores.shape)
        return cls(np.asarray(scores, dtype=np.float32), xs, ys, image_size, resized_size)


class SaliencyModel(ABC):
    """Base class: prepared images in, :class:`SaliencyMap` out.

    Parameters
    ----------
    device : {"auto", "cpu", "cuda"}
        Where the network runs; resolved once here.
    batch_size : int
        Largest number of equal-size images sent through the network at once.
    """

    #: Short name recorded in manifests and records.
    name: str = "base"
    #: SHA-256 of the weights file, or ``None`` for weight-free models.
    weights_sha256: str | None = None
    #: Side of the box the input is fitted into (the program's 320).
    box: int = BOX

    def __init__(self, *, device: str = "auto", batch_size: int = 16) -> None:
        if batch_size < 1:
            raise ValueError(f"model.batch_size must be >= 1, got {batch_size}")
        self.device = resolve_device(device)
        self.batch_size = int(batch_size)

    @abstractmethod
    def score(self, batch: torch.Tensor) -> torch.Tensor:
        """Score a batch.

        Parameters
        ----------
        batch : torch.Tensor, shape (B, 3, rh, rw), float32 on ``self.device``
            Mean-subtracted RGB (see :func:`audit.model.preprocess.to_tensor`).

        Returns
        -------
        torch.Tensor, shape (B, rows, cols)
            One score per grid cell, rows and cols given by :func:`grid_shape`.
        """

    def describe(self) -> dict[str, object]:
        """Return what the run manifest records about this model."""
        return {"name": self.name, "weights_sha256": self.weights_sha256,
                "device": str(self.device), "batch_size": self.batch_size}

    def output_identity(self) -> dict[str, object]:
        """Return what determines this model's scores (for cache and checkpoint keys).

        :meth:`describe` without the settings that only decide where and how fast it runs.
        """
        info = self.describe()
        for key in ("device", "batch_size", "weights"):
            info.pop(key, None)
        return info

    def predict(self, images: Sequence[Prepared]) -> list[SaliencyMap]:
        """Score prepared images, batching those of equal resized size; order is kept."""
        out: list[SaliencyMap | None] = [None] * len(images)
        by_size: dict[tuple[int, int], list[int]] = {}
        for i, p in enumerate(images):
            by_size.setdefault(p.resized_size, []).append(i)
        with torch.inference_mode():
            for size, idx in by_size.items():
                for start in range(0, len(idx), self.batch_size):
                    chunk = idx[start:start + self.batch_size]
                    batch = to_tensor([images[i] for i in chunk]).to(self.device)
                    scores = self.score(batch).float().cpu().numpy()
                    expected = grid_shape(size)
                    if scores.shape[1:] != expected:
                        raise RuntimeError(
                            f"{self.name} returned a {scores.shape[1:]} grid for a {size} input; "
                            f"expected {expected}"
                        )
                    for j, i in enumerate(chunk):
                        out[i] = SaliencyMap.from_scores(scores[j], images[i].size, size)
        return [m for m in out if m is not None]

    def predict_file(self, path: str | Path) -> SaliencyMap:
        """Decode, prepare and score one image file."""
        return self.predict([prepare_file(path, box=self.box)])[0]

    def predict_array(self, rgb: npt.NDArray[np.uint8]) -> SaliencyMap:
        """Prepare and score one in-memory RGB image (display orientation)."""
        return self.predict([prepare_array(rgb, box=self.box)])[0]
