"""Score images one at a time (saliency_stats, male_gaze), with a per-image output cache.

The cache key joins the image's SHA-256, the model (name and weights SHA-256) and the
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

    Parameters
    ----------
    ids, paths, sha256s : sequences of str
        One entry per image (the SHA-256 keys the cache).
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
    todo = []
    for i, p, h in zip(ids, paths, sha256s, strict=True):
        hit = cache.get(cache_key(h, model)) if cache is not None else None
        if hit is not None:
            out[i] = hit
        else:
            todo.append((i, p, h))
    path_of = dict(zip(ids, paths, strict=True))
    bar = tqdm(total=len(todo), desc="images", unit="img", disable=not progress or not todo)
    for start in range(0, len(todo), chunk_size):
        chunk = todo[start:start + chunk_size]
        ready = []
        for i, p, h in chunk:
            try:
                ready.append((i, h, prepare_file(p, box=model.box)))
            except (ValueError, OSError) as exc:
                out[i] = f"{type(exc).__name__}: {exc}"
        if getattr(model, "accepts_prepared", True):
            try:
                maps = model.predict([r[2] for r in ready])
            except Exception as exc:  # noqa: BLE001 - recorded per image below
                maps = [f"{type(exc).__name__}: {exc}"] * len(ready)
        else:
            maps = []
            for i, _, _ in ready:
                try:
                    maps.append(model.predict_file(path_of[i]))
                except Exception as exc:  # noqa: BLE001 - recorded per image
                    maps.append(f"{type(exc).__name__}: {exc}")
        for (i, h, prepared), smap in zip(ready, maps, strict=True):
            if isinstance(smap, str):
                out[i] = smap
                continue
            score = ImageScore(smap, is_symmetric(prepared.pixels))
            out[i] = score
            if cache is not None:
                cache.put(cache_key(h, model), score)
        bar.update(len(chunk))
    bar.close()
    return out
