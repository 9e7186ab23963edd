"""The per-image output cache misses whenever the image, the weights or a setting changes."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from audit.compare.single import MapCache, cache_key, score_images
from audit.model.center_bias import CenterBias
from audit.model.luminance import Luminance


@pytest.fixture
def two_images(tmp_path):
    paths = []
    for i, value in enumerate((60, 200)):
        rgb = np.full((50, 70, 3), value, dtype=np.uint8)
        rgb[10:20, 10 + 20 * i:30 + 20 * i] = 255 - value
        p = tmp_path / f"im{i}.png"
        Image.fromarray(rgb).save(p)
        paths.append(str(p))
    return paths


def _sha(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _score(paths, model, cache):
    return score_images([f"i{n}" for n in range(len(paths))], paths, [_sha(p) for p in paths],
                        model, cache=cache, progress=False)


def test_second_run_hits_every_entry(two_images, tmp_path):
    cache = MapCache(tmp_path / "cache")
    first = _score(two_images, Luminance(device="cpu"), cache)
    assert (cache.hits, cache.misses) == (0, 2)
    second = _score(two_images, Luminance(device="cpu"), cache)
    assert (cache.hits, cache.misses) == (2, 2)
    for k in first:
        np.testing.assert_array_equal(first[k].smap.scores, second[k].smap.scores)


def test_changed_image_misses(two_images, tmp_path):
    cache = MapCache(tmp_path / "cache")
    _score(two_images, Luminance(device="cpu"), cache)
    Image.fromarray(np.zeros((50, 70, 3), np.uint8)).save(two_images[0])
    _score(two_images, Luminance(device="cpu"), cache)
    assert (cache.hits, cache.misses) == (1, 3)


def test_changed_weights_or_box_or_params_change_the_key():
    model = Luminance(device="cpu")
    base = cache_key("ab" * 32, model)
    assert cache_key("ab" * 32, model) == base
    assert cache_key("cd" * 32, model) != base
    other_weights = Luminance(device="cpu")
    other_weights.weights_sha256 = "f" * 64
    assert cache_key("ab" * 32, other_weights) != base
    other_box = Luminance(device="cpu")
    other_box.box = 256
    assert cache_key("ab" * 32, other_box) != base
    center = CenterBias(device="cpu", sigma=0.25)
    assert cache_key("ab" * 32, center) != base
    assert cache_key("ab" * 32, CenterBias(device="cpu", sigma=0.5)) != cache_key(
        "ab" * 32, center)
    # where and how fast a model runs does not change its scores, so it shares the entry
    assert cache_key("ab" * 32, Luminance(device="cpu", batch_size=3)) == base


def test_changed_weights_miss_the_cache(two_images, tmp_path):
    cache = MapCache(tmp_path / "cache")
    _score(two_images, Luminance(device="cpu"), cache)
    model = Luminance(device="cpu")
    model.weights_sha256 = "e" * 64
    _score(two_images, model, cache)
    assert (cache.hits, cache.misses) == (0, 4)


def test_corrupt_entry_is_a_miss_and_is_rewritten(two_images, tmp_path):
    cache = MapCache(tmp_path / "cache")
    model = Luminance(device="cpu")
    _score(two_images[:1], model, cache)
    entry = next((tmp_path / "cache").rglob("*.npz"))
    entry.write_bytes(b"not a zip")
    _score(two_images[:1], model, cache)
    assert (cache.hits, cache.misses) == (0, 2)
    _score(two_images[:1], model, cache)
    assert cache.hits == 1
