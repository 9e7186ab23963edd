"""Score images one at a time (saliency_stats, male_gaze), with a per-image output cache.

The cache key joins the SHA-256 of the bytes decoded, the model (name and weights SHA-256) and the
preprocessing version and box, so a changed image, weights file or setting misses the cache,
and a second run or a sweep over analysis options costs no model time. Entries are ``.npz``
files read with ``allow_pickle=False``.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from audit.crop.rules import is_symmetric
from audit.data.images import ImageBytes, read_image_bytes
from audit.io import atomic_write_bytes
from audit.model.base import SaliencyMap, SaliencyModel
from audit.model.preprocess import prepare_file

log = logging.getLogger(__name__)

#: Bump when preprocessing changes in a way that alters model inputs (invalidates caches).
PREPROCESS_VERSION = 1


@dataclass(frozen=True)
class ImageScore:
    """One image's saliency map and whether the program's symmetry rule fires on it."""

    smap: SaliencyMap
    symmetric: bool


def cache_key(image_sha256: str, model: SaliencyModel) -> str:
    """Key of one image's output under one model and preprocessing setting."""
    spec = {"image": image_sha256, "model": model.output_identity(), "box": model.box,
            "preprocess": PREPROCESS_VERSION}
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()


class MapCache:
    """Folder of ``<key>.npz`` files, one per scored image."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.hits = 0
        self.misses = 0

    def _path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.npz"

    def get(self, key: str) -> ImageScore | None:
        """Return the cached output, or ``None`` (a corrupt entry counts as a miss)."""
        path = self._path(key)
        if not path.is_file():
            self.misses += 1
            return None
        try:
            with np.load(path, allow_pickle=False) as z:
                smap = SaliencyMap(z["scores"], z["xs"], z["ys"],
                                   tuple(int(v) for v in z["image_size"]),
                                   tuple(int(v) for v in z["resized_size"]))
                symmetric = bool(z["symmetric"])
        except (OSError, ValueError, KeyError):
            log.warning("ignoring unreadable cache entry %s", path)
            self.misses += 1
            return None
        self.hits += 1
        return ImageScore(smap, symmetric)

    def put(self, key: str, score: ImageScore) -> None:
        """Store one output atomically."""
        buf = io.BytesIO()
        s = score.smap
        np.savez(buf, scores=s.scores, xs=s.xs, ys=s.ys, image_size=np.asarray(s.image_size),
                 resized_size=np.asarray(s.resized_size), symmetric=np.asarray(score.symmetric))
        atomic_write_bytes(self._path(key), buf.getvalue())


def score_images(
    ids: Sequence[str],
    paths: Sequence[str],
    sha256s: Sequence[str],
    model: SaliencyModel,
    *,
    cache: MapCache | None = None,
    chunk_size: int = 32,
    progress: bool = True,
) -> dict[str, ImageScore | str]:
    """Score each image file alone; failures come back as their message, keyed by id.

    Each file is read once and hashed; the cache is looked up, and a computed output
    stored, under the hash of those bytes, and the image is decoded from the same bytes. When
    they do not hash to ``sha256s`` (the file changed since the table was built, or during
    the run) the image gets an error naming both hashes and nothing is cached or served
    for it, so a cache entry always holds the output of the bytes its key names.

    Parameters
    ----------
    ids, paths, sha256s : sequences of str
        One entry per image (``sha256s`` as the people table recorded them).
    model : SaliencyModel
        The model.
    cache : MapCache or None
        Where outputs are looked up first and stored after scoring.
    chunk_size : int
        Images prepared before one call to the model (which batches equal sizes).
    progress : bool
        Show a tqdm bar.
    """
    out: dict[str, ImageScore | str] = {}
    rows = list(zip(ids, paths, sha256s, strict=True))
    bar = tqdm(total=len(rows), desc="images", unit="img", disable=not progress or not rows)
    for start in range(0, len(rows), chunk_size):
        ready = []
        for i, p, h in rows[start:start + chunk_size]:
            try:
                data = read_image_bytes(p, h)
            except (ValueError, OSError) as exc:
                out[i] = f"{type(exc).__name__}: {exc}"
                continue
            hit = cache.get(cache_key(data.sha256, model)) if cache is not None else None
            if hit is not None:
                out[i] = hit
                continue
            try:
                ready.append((i, data, prepare_file(data, box=model.box)))
            except (ValueError, OSError) as exc:
                out[i] = f"{type(exc).__name__}: {exc}"
        if getattr(model, "accepts_prepared", True):
            try:
                maps = model.predict([r[2] for r in ready])
            except Exception as exc:  # noqa: BLE001 - recorded per image below
                maps = [f"{type(exc).__name__}: {exc}"] * len(ready)
        else:
            maps = [_predict_file(model, data) for _, data, _ in ready]
        for (i, data, prepared), smap in zip(ready, maps, strict=True):
            if isinstance(smap, str):
                out[i] = smap
                continue
            score = ImageScore(smap, is_symmetric(prepared.pixels))
            out[i] = score
            if cache is not None:
                cache.put(cache_key(data.sha256, model), score)
        bar.update(len(rows[start:start + chunk_size]))
    bar.close()
    return out


def _predict_file(model: SaliencyModel, data: ImageBytes) -> SaliencyMap | str:
    """Score a model that reads the file itself, then check the file still holds ``data``.

    Such a model (an external program) opens the path on its own; reading the file again
    afterwards and comparing hashes is the only way to know what it saw was what was hashed.
    """
    try:
        smap = model.predict_file(data.name)
        read_image_bytes(data.name, data.sha256)
    except Exception as exc:  # noqa: BLE001 - recorded per image
        return f"{type(exc).__name__}: {exc}"
    return smap
