"""Files that change during or between runs are never served stale (issue 11, item 1).

Real files on disk are overwritten or truncated while a run is going (from inside the model
call, the moment the issue's reproduction used) and between runs; the per-image cache and
the pairwise checkpoints must only ever hold results of the bytes their key names.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from audit import pipeline
from audit.compare.single import MapCache, score_images
from audit.model.luminance import Luminance

from tests.conftest import compose_with_yaml


def _sha(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _image(path: Path, value: int, spot: int) -> Path:
    rgb = np.full((48, 64, 3), value, np.uint8)
    rgb[8:20, spot:spot + 12] = 255 - value
    Image.fromarray(rgb).save(path)
    return path


class Tamper(Luminance):
    """Luminance that runs ``action`` once, right after its first batch is scored."""

    def __init__(self, action=None):
        super().__init__(device="cpu")
        self.action, self.scored = action, 0

    def score(self, batch):
        self.scored += batch.shape[0]
        out = super().score(batch)
        if self.action is not None:
            self.action()
            self.action = None
        return out


# ---------------------------------------------------------------------- per-image cache
def test_image_overwritten_during_a_run_is_an_error_and_is_never_cached(tmp_path):
    paths = [_image(tmp_path / f"im{i}.png", 40 + 50 * i, 4 + 10 * i) for i in range(4)]
    shas = [_sha(p) for p in paths]
    other = _image(tmp_path / "other.png", 250, 30)
    ids = [f"i{n}" for n in range(4)]
    cache = MapCache(tmp_path / "cache")

    def overwrite():  # copy another file over im3 after the first image was scored
        shutil.copyfile(other, paths[3])

    out = score_images(ids, [str(p) for p in paths], shas, Tamper(overwrite), cache=cache,
                       chunk_size=1, progress=False)
    assert isinstance(out["i3"], str)
    assert out["i3"] == (
        f"ImageChangedError: {paths[3]}: file changed since the people table was built "
        f"(table sha256 {shas[3]}, file now {_sha(other)}); nothing computed from it was kept. "
        "Restore the file or rebuild the table (rerun; data=folder rehashes), then rerun")
    assert all(not isinstance(out[i], str) for i in ids[:3])
    assert len(list((tmp_path / "cache").rglob("*.npz"))) == 3  # nothing stored for im3

    # A rerun with the table still claiming the old hash: an error again, never a cache hit.
    again = score_images(ids, [str(p) for p in paths], shas, Luminance(device="cpu"),
                         cache=cache, progress=False)
    assert again["i3"].startswith("ImageChangedError: ")
    # A rebuilt table (new hash) gets the new file's own scores, equal to scoring it afresh.
    fresh = score_images(["i3"], [str(paths[3])], [_sha(paths[3])], Luminance(device="cpu"),
                         cache=cache, progress=False)
    direct = score_images(["x"], [str(other)], [_sha(other)], Luminance(device="cpu"),
                          progress=False)
    np.testing.assert_array_equal(fresh["i3"].smap.scores, direct["x"].smap.scores)
    # and the old file's entry is still the old file's: restore it and it is a hit
    assert cache.hits == 3


# ---------------------------------------------------------------------- pairwise checkpoints
def _images_of(tmp_path: Path) -> list[Path]:
    return sorted(p for p in (tmp_path / "synthetic").rglob("*")
                  if p.suffix.lower() in (".png", ".jpg", ".jpeg"))


def _run(tmp_path, name, model):
    settings, config_yaml = compose_with_yaml(tmp_path, "compare.chunk_size=4")
    return pipeline.run(settings, model=model, output_dir=tmp_path / name, progress=False,
                        config_yaml=config_yaml)


def test_truncated_then_restored_images_are_recomputed_not_resumed(tmp_path):
    clean = _run(tmp_path / "clean", "out", Luminance(device="cpu")).records["pairs"]
    assert (clean["outcome"] != "error").all()

    saved: dict[Path, bytes] = {}
    shas: dict[Path, str] = {}

    def truncate():  # every image cut to half its bytes after the first chunk
        for p in _images_of(tmp_path):
            saved[p], shas[p] = p.read_bytes(), _sha(p)
            p.write_bytes(saved[p][: len(saved[p]) // 2])

    first = _run(tmp_path, "first", Tamper(truncate)).records["pairs"]
    assert len(saved) >= 8
    changed = first[first["error"].fillna("").str.startswith("ImageChangedError: ")]
    assert len(changed) > 0
    # the error names the image and both hashes
    msg = changed["error"].iloc[0]
    path = Path(re.search(r"ImageChangedError: (\S+): file changed", msg).group(1))
    assert shas[path] in msg and hashlib.sha256(saved[path][: len(saved[path]) // 2]
                                                ).hexdigest() in msg
    work = next((tmp_path / "work").iterdir())
    kept = {int(p.stem.rsplit("-", 1)[1]) for p in work.glob("pairs-*.parquet")}
    bad_chunks = set(changed.index // 4)  # records are in plan order, 4 per chunk
    assert 0 in kept and not kept & bad_chunks  # no chunk from changed bytes was kept

    for p, data in saved.items():  # restore the files, rerun the same configuration
        p.write_bytes(data)
    model = Tamper()
    second = _run(tmp_path, "second", model).records["pairs"]
    assert model.scored == int((first.index // 4).isin(bad_chunks).sum())  # only those redone
    assert (second["outcome"] != "error").all()
    pd.testing.assert_frame_equal(second, clean)
