"""Decoded source images, each read once per run and kept in a bounded cache.

Keys are image ids; values are RGB arrays already scaled by the layout's rule, so repeated draws
of the same image (common: 10,000 trials over a few hundred images) cost one decode.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

from audit.compare.layout import scale_image
from audit.compare.settings import LayoutConfig
from audit.data.images import load_image

log = logging.getLogger(__name__)


class ImageStore:
    """Id to scaled RGB array, least recently used entries evicted past ``max_bytes``.

    Parameters
    ----------
    paths : mapping of str to str
        Image id to file path.
    layout : LayoutConfig
        Scaling applied once at load time.
    max_bytes : int
        Memory budget for cached pixels (default 512 MiB).
    max_pixels : int or None
        Decompression-bomb guard passed to the loader.
    """

    def __init__(self, paths: Mapping[str, str], layout: LayoutConfig, *,
                 max_bytes: int = 512 * 2**20, max_pixels: int | None = None) -> None:
        self.paths = dict(paths)
        self.layout = layout
        self.max_bytes = int(max_bytes)
        self.max_pixels = max_pixels
        self._cache: OrderedDict[str, npt.NDArray[np.uint8]] = OrderedDict()
        self._bytes = 0
        self.hits = 0
        self.misses = 0

    def get(self, image_id: str) -> npt.NDArray[np.uint8]:
        """Scaled RGB pixels of one image (read-only array)."""
        cached = self._cache.get(image_id)
        if cached is not None:
            self._cache.move_to_end(image_id)
            self.hits += 1
            return cached
        self.misses += 1
        try:
            path = self.paths[image_id]
        except KeyError:
            raise KeyError(f"image id {image_id!r} is not in the people table") from None
        kwargs = {} if self.max_pixels is None else {"max_pixels": self.max_pixels}
        rgb = scale_image(load_image(path, **kwargs), self.layout)
        rgb.setflags(write=False)
        if rgb.nbytes <= self.max_bytes:
            self._cache[image_id] = rgb
            self._bytes += rgb.nbytes
            while self._bytes > self.max_bytes:
                _, old = self._cache.popitem(last=False)
                self._bytes -= old.nbytes
        return rgb
