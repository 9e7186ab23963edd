"""Source images for composites: each decoded once per run and kept small but exact.

Two views of one image are served. :meth:`ImageStore.get` returns the scaled RGB array
(for composites that must exist at full size: the JPEG round trip and models that take
pixels). :meth:`ImageStore.prepare` builds the network input of a composite without ever
building the composite at full size, from a compact per-image entry that is still exact.

Why a compact entry can be exact: the program's resampler first applies ``k`` 2x2 box
reductions ``(a+b+c+d) >> 2`` to the whole composite, and after ``m <= k`` of them every output
pixel depends only on one aligned ``2**m`` x ``2**m`` block of the composite. A block that lies
inside one source image is that image's own ``m``-fold reduction, taken at the image's offset
modulo ``2**m`` (its *phase*); a block that lies on the canvas fill is the fill colour; only
the blocks that straddle an image border mix sources, and they lie within ``2**m - 1`` pixels
of a border. An entry therefore keeps the ``m``-fold reductions for every phase a layout can
produce plus full-resolution border strips, about ``1 / 2**m`` of the decoded bytes (8x-16x
smaller for 5-25 MP photos), and the reduced composite it yields is bit-identical to reducing
the full composite (tests/perf/test_store.py checks this against the direct path).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from audit.compare.layout import filled_canvas, layout_boxes, scale_image
from audit.compare.settings import LayoutConfig
from audit.crop.geometry import Box
from audit.data.images import ImageChangedError, load_image, read_image_bytes
from audit.model.preprocess import BOX, Prepared, fit_size, resize_rgb

log = logging.getLogger(__name__)

#: Largest number of box reductions served from compact entries; border strips are
#: ``2**MAX_LEVEL - 1`` pixels wide. 5 covers composites up to 20 480 px on the long side.
MAX_LEVEL = 5
_STRIP = 2**MAX_LEVEL - 1
_U8 = npt.NDArray[np.uint8]
#: How the error of a composite built from changed bytes starts (``records.error``); the
#: pipeline never checkpoints a chunk holding one, so a rerun recomputes it.
CHANGED_ERROR = f"{ImageChangedError.__name__}:"


def box_reductions(width: int, height: int, target_w: int, target_h: int) -> int:
    """How many 2x2 box reductions :func:`audit.model.preprocess.resize_rgb` applies."""
    n = 0
    while width // 2 >= target_w and height // 2 >= target_h:
        width, height, n = width // 2, height // 2, n + 1
    return n


def _reduce(rgb: _U8, times: int) -> _U8:
    # Same arithmetic as the program's box reduction (each level truncated to uint8).
    out = rgb
    for _ in range(times):
        h, w = out.shape[-3] // 2 * 2, out.shape[-2] // 2 * 2
        a = out[..., :h:2, :w:2, :].astype(np.uint16)
        a += out[..., 1:h:2, :w:2, :]
        a += out[..., :h:2, 1:w:2, :]
        a += out[..., 1:h:2, 1:w:2, :]
        out = (a >> 2).astype(np.uint8)
    return out


@dataclass
class _Entry:
    """Compact exact view of one scaled image at reduction level ``level``."""

    size: tuple[int, int]
    level: int
    #: ``(phase_x, phase_y)`` -> reduction of the aligned interior blocks at that phase.
    phases: dict[tuple[int, int], _U8] = field(default_factory=dict)
    #: Full image when small or ``level == 0``; else None and ``strips`` is used.
    full: _U8 | None = None
    #: left, right, top, bottom border strips at full resolution.
    strips: tuple[_U8, _U8, _U8, _U8] | None = None

    @property
    def nbytes(self) -> int:
        arrays = {id(a): a for a in (*self.phases.values(), *(self.strips or ()))}
        if self.full is not None:
            arrays[id(self.full)] = self.full
        return sum(a.nbytes for a in arrays.values())

    def region(self, x0: int, x1: int, y0: int, y1: int) -> _U8:
        """Full-resolution pixels ``[y0:y1, x0:x1]``, which must lie in a border strip."""
        if self.full is not None:
            return self.full[y0:y1, x0:x1]
        w, h = self.size
        left, right, top, bottom = self.strips  # type: ignore[misc]
        if x1 <= _STRIP:
            return left[y0:y1, x0:x1]
        if x0 >= w - _STRIP:
            return right[y0:y1, x0 - (w - _STRIP):x1 - (w - _STRIP)]
        if y1 <= _STRIP:
            return top[y0:y1, x0:x1]
        if y0 >= h - _STRIP:
            return bottom[y0 - (h - _STRIP):y1 - (h - _STRIP), x0:x1]
        raise AssertionError(f"region {x0}:{x1}x{y0}:{y1} is not on a border of {self.size}")


def _phase_view(rgb: _U8, level: int, px: int, py: int) -> _U8:
    """``level``-fold reduction of the interior blocks of an image placed at phase (px, py)."""
    step = 1 << level
    x0, y0 = (-px) % step, (-py) % step
    nx, ny = (rgb.shape[1] - x0) // step, (rgb.shape[0] - y0) // step
    crop = rgb[y0:y0 + max(ny, 0) * step, x0:x0 + max(nx, 0) * step]
    return np.ascontiguousarray(_reduce(crop, level))


def _paste_band(patches: _U8, ids: npt.NDArray[np.int64], e: _Entry, b: Box,
                band: tuple[int, int, int, int], step: int) -> None:
    """Paste one image's full-resolution pixels into a rectangle of border blocks.

    ``ids`` maps the rectangle's blocks to rows of ``patches`` (``step`` x ``step`` pixels
    each); pixels of the blocks outside the image keep what is there (fill or a neighbour).
    """
    by0, by1, bx0, bx1 = band
    Y0, X0 = by0 * step, bx0 * step
    y0, y1 = max(Y0, b.top), min(by1 * step, b.top + b.height)
    x0, x1 = max(X0, b.left), min(bx1 * step, b.left + b.width)
    if x0 >= x1 or y0 >= y1:
        return
    try:
        src = e.region(x0 - b.left, x1 - b.left, y0 - b.top, y1 - b.top)
    except AssertionError:
        # deeper than one border strip: paste block by block (each lies in one strip)
        for gy in range(by0, by1):
            for gx in range(bx0, bx1):
                _paste_band(patches, ids[gy - by0:gy - by0 + 1, gx - bx0:gx - bx0 + 1], e, b,
                            (gy, gy + 1, gx, gx + 1), step)
        return
    nby, nbx = ids.shape
    flat = ids.reshape(-1)
    big = (patches[flat].reshape(nby, nbx, step, step, 3).transpose(0, 2, 1, 3, 4)
           .reshape(nby * step, nbx * step, 3))
    big[y0 - Y0:y1 - Y0, x0 - X0:x1 - X0] = src
    patches[flat] = (big.reshape(nby, step, nbx, step, 3).transpose(0, 2, 1, 3, 4)
                     .reshape(-1, step, step, 3))


class ImageStore:
    """Image id to decoded pixels, least recently used entries evicted past ``max_bytes``.

    Parameters
    ----------
    paths : mapping of str to str
        Image id to file path (ids are unique per file content in the people table).
    layout : LayoutConfig
        Scaling applied once at load time, and where slots sit.
    max_bytes : int
        Memory budget for cached pixels (default 512 MiB), shared by both views.
    max_pixels : int or None
        Decompression-bomb guard passed to the loader.
    sha256s : mapping of str to str, optional
        Image id to the SHA-256 the people table recorded. Each file is read once per decode,
        hashed, and decoded from those very bytes; bytes that hash differently raise
        :class:`audit.data.images.ImageChangedError` (an ``error`` outcome whose message
        starts with :data:`CHANGED_ERROR`), so nothing is computed from other bytes than the
        table (and the checkpoint key) claims.

    Attributes
    ----------
    hits, misses : int
        Cache hits and decodes (a decode is a miss).
    fallbacks : int
        Composites built at full size because an entry was reduced further than the
        composite is (exact either way; rare, see :meth:`prepare`).
    """

    def __init__(self, paths: Mapping[str, str], layout: LayoutConfig, *,
                 max_bytes: int = 512 * 2**20, max_pixels: int | None = None,
                 sha256s: Mapping[str, str] | None = None) -> None:
        self.paths = dict(paths)
        self.sha256s = dict(sha256s or {})
        self.layout = layout
        self.max_bytes = int(max_bytes)
        self.max_pixels = max_pixels
        self._cache: OrderedDict[tuple, object] = OrderedDict()
        self._sizes: dict[tuple, int] = {}
        self._bytes = 0
        self.hits = 0
        self.misses = 0
        self.fallbacks = 0

    # -- cache plumbing ------------------------------------------------------------------
    def _lookup(self, key: tuple) -> object | None:
        value = self._cache.get(key)
        if value is not None:
            self._cache.move_to_end(key)
            self.hits += 1
        return value

    def _insert(self, key: tuple, value: object, nbytes: int) -> None:
        if nbytes > self.max_bytes:
            return
        if key in self._cache:
            self._bytes -= self._sizes[key]
        self._cache[key] = value
        self._sizes[key] = nbytes
        self._bytes += nbytes
        while self._bytes > self.max_bytes:
            old, _ = self._cache.popitem(last=False)
            self._bytes -= self._sizes.pop(old)

    def _decode(self, image_id: str) -> _U8:
        self.misses += 1
        try:
            path = self.paths[image_id]
        except KeyError:
            raise KeyError(f"image id {image_id!r} is not in the people table") from None
        kwargs = {} if self.max_pixels is None else {"max_pixels": self.max_pixels}
        data = read_image_bytes(path, self.sha256s.get(image_id))
        rgb = scale_image(load_image(data, **kwargs), self.layout)
        rgb.setflags(write=False)
        return rgb

    @property
    def cached_bytes(self) -> int:
        """Bytes of pixels held now."""
        return self._bytes

    # -- full view -----------------------------------------------------------------------
    def get(self, image_id: str) -> _U8:
        """Scaled RGB pixels of one image (read-only array)."""
        cached = self._lookup(("full", image_id))
        if cached is not None:
            return cached  # type: ignore[return-value]
        rgb = self._decode(image_id)
        self._insert(("full", image_id), rgb, rgb.nbytes)
        return rgb

    # -- compact view --------------------------------------------------------------------
    def _phases_needed(self, level: int) -> list[tuple[int, int]]:
        # Start-aligned layouts fix the offset across the stacking direction (the padding),
        # so only the other axis's phases occur; centred layouts are filled in lazily.
        step, pad = 1 << level, int(self.layout.padding)
        if self.layout.align != "start":
            return []
        ml, mt = (int(m) for m in self.layout.margin[:2])
        if self.layout.direction == "horizontal":
            return [(p, (pad + mt) % step) for p in range(step)]
        return [((pad + ml) % step, p) for p in range(step)]

    def _entry(self, image_id: str, box: int, need: tuple[int, int] | None = None) -> _Entry:
        key = ("entry", image_id, box)
        entry = self._lookup(key)
        if isinstance(entry, _Entry) and (need is None or need in entry.phases):
            return entry
        rgb = self._decode(image_id)
        h, w = rgb.shape[:2]
        level = min(box_reductions(w, h, *fit_size(w, h, box)), MAX_LEVEL)
        if not isinstance(entry, _Entry) or entry.level != level:
            entry = _Entry((w, h), level)
            if level == 0 or (w <= 2 * _STRIP or h <= 2 * _STRIP):
                entry.full = rgb
            else:
                entry.strips = (rgb[:, :_STRIP].copy(), rgb[:, w - _STRIP:].copy(),
                                rgb[:_STRIP].copy(), rgb[h - _STRIP:].copy())
        wanted = [(0, 0)] if level == 0 else self._phases_needed(level)
        wanted += [need] if need is not None else []
        for phase in wanted:
            if phase not in entry.phases:
                entry.phases[phase] = (rgb if level == 0 else
                                       _phase_view(rgb, level, *phase))
        self._insert(key, entry, entry.nbytes)
        return entry

    def prepare(self, image_ids: Sequence[str], *, box: int = BOX
                ) -> tuple[Prepared, tuple[Box, ...], tuple[int, int]]:
        """Network input of the composite of ``image_ids``, without building it at full size.

        Bit-identical to ``prepare_array(compose([get(i) for i in image_ids], layout).pixels)``.

        Parameters
        ----------
        image_ids : sequence of str
            Images in slot order.
        box : int
            Side of the model's fit box.

        Returns
        -------
        (Prepared, tuple of Box, (W, H))
            The resized composite, each slot's box and the canvas size.
        """
        entries = [self._entry(i, box) for i in image_ids]
        (cw, ch), boxes = layout_boxes([e.size for e in entries], self.layout)
        tw, th = fit_size(cw, ch, box)
        k = box_reductions(cw, ch, tw, th)
        level = max(e.level for e in entries)
        if level > k:
            # An entry is reduced further than this composite is: build it at full size.
            self.fallbacks += 1
            log.debug("composite %s needs %d reductions, entries hold %d; full path",
                      list(image_ids), k, level)
            canvas = self._full_canvas(image_ids, (cw, ch), boxes)
            return Prepared(resize_rgb(canvas, tw, th), (cw, ch)), boxes, (cw, ch)
        reduced = self._reduced_canvas(image_ids, entries, boxes, (cw, ch), level, box)
        return Prepared(resize_rgb(reduced, tw, th), (cw, ch)), boxes, (cw, ch)

    def _full_canvas(self, image_ids: Sequence[str], size: tuple[int, int],
                     boxes: Sequence[Box]) -> _U8:
        canvas = filled_canvas(size[1], size[0], self.layout.pad_color)
        for i, b in zip(image_ids, boxes, strict=True):
            canvas[b.top:b.top + b.height, b.left:b.left + b.width] = self.get(i)
        return canvas

    def _reduced_canvas(self, image_ids: Sequence[str], entries: list[_Entry],
                        boxes: Sequence[Box], size: tuple[int, int], level: int,
                        box: int) -> _U8:
        step = 1 << level
        cols, rows = size[0] >> level, size[1] >> level
        canvas = filled_canvas(rows, cols, self.layout.pad_color)
        if level == 0:
            for e, b in zip(entries, boxes, strict=True):
                canvas[b.top:b.top + b.height, b.left:b.left + b.width] = e.phases[(0, 0)]
            return canvas
        mixed = np.zeros((rows, cols), dtype=bool)
        bands: list[tuple[_Entry, Box, tuple[int, int, int, int]]] = []
        for n, (e, b) in enumerate(zip(entries, boxes, strict=True)):
            sub = (1 << e.level)
            phase = (b.left % sub, b.top % sub)
            if phase not in e.phases:
                e = entries[n] = self._entry(image_ids[n], box, need=phase)
            view = e.phases[phase]
            # Level-e.level block index of the view's first block, then whole level-`level`
            # blocks inside it; the view is reduced the remaining levels.
            bx0, by0 = -(-b.left // sub), -(-b.top // sub)
            r = 1 << (level - e.level)
            cx0, cy0 = -(-bx0 // r), -(-by0 // r)
            cx1 = min((bx0 + view.shape[1]) // r, cols)
            cy1 = min((by0 + view.shape[0]) // r, rows)
            if cx1 > cx0 and cy1 > cy0:
                part = view[cy0 * r - by0:cy1 * r - by0, cx0 * r - bx0:cx1 * r - bx0]
                canvas[cy0:cy1, cx0:cx1] = _reduce(part, level - e.level)
            # Every block touching this image but not inside it straddles its border.
            gx0, gx1 = b.left // step, min(-(-(b.left + b.width) // step), cols)
            gy0, gy1 = b.top // step, min(-(-(b.top + b.height) // step), rows)
            ix0, ix1 = max(cx0, gx0), max(min(cx1, gx1), max(cx0, gx0))
            iy0, iy1 = max(cy0, gy0), max(min(cy1, gy1), max(cy0, gy0))
            border = np.zeros((rows, cols), dtype=bool)
            border[gy0:gy1, gx0:gx1] = True
            border[iy0:iy1, ix0:ix1] = False
            mixed |= border
            # The ring of border blocks as four rectangles (top, bottom, left, right).
            for band in ((gy0, iy0, gx0, gx1), (iy1, gy1, gx0, gx1), (iy0, iy1, gx0, ix0),
                         (iy0, iy1, ix1, gx1)):
                if band[1] > band[0] and band[3] > band[2]:
                    bands.append((e, b, band))
        if mixed.any():
            order = np.argwhere(mixed)  # row-major
            index = np.full((rows, cols), -1, dtype=np.int64)
            index[order[:, 0], order[:, 1]] = np.arange(len(order))
            patches = filled_canvas(len(order) * step, step, self.layout.pad_color).reshape(
                len(order), step, step, 3)
            for e, b, band in bands:
                _paste_band(patches, index[band[0]:band[1], band[2]:band[3]], e, b, band, step)
            values = _reduce(patches, level)[:, 0, 0]
            idx = order
            canvas[idx[:, 0], idx[:, 1]] = values
        return canvas
