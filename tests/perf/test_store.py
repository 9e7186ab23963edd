"""The compact image store builds network inputs bit-identical to the full-size composite."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from audit.compare.layout import compose
from audit.compare.settings import LayoutConfig
from audit.compare.store import ImageStore, box_reductions
from audit.model.preprocess import fit_size, prepare_array

# Sizes chosen so composites need 0..3 box reductions and odd offsets/heights occur.
SIZES = [(224, 224), (1501, 903), (977, 1333), (2600, 1735), (61, 1500), (1282, 41),
         (640, 480)]


@pytest.fixture(scope="module")
def paths(tmp_path_factory):
    folder = tmp_path_factory.mktemp("store")
    rng = np.random.default_rng(7)
    out = {}
    for n, (w, h) in enumerate(SIZES):
        # Smooth structure plus noise: box reductions and Lanczos both see real variation.
        yy, xx = np.mgrid[0:h, 0:w]
        base = (np.sin(xx / 37.0 + n) * 60 + np.cos(yy / 23.0) * 60 + 128)[..., None]
        rgb = np.clip(base + rng.integers(-40, 41, (h, w, 3)), 0, 255).astype(np.uint8)
        out[f"im{n}"] = str(folder / f"im{n}.png")
        Image.fromarray(rgb).save(out[f"im{n}"])
    return out


def _direct(store: ImageStore, ids, box=320):
    comp = compose([store.get(i) for i in ids], store.layout)
    return prepare_array(comp.pixels, box=box), comp


LAYOUTS = [
    LayoutConfig(),
    LayoutConfig(padding=3, pad_color=[10, 200, 30]),
    LayoutConfig(align="center", padding=1),
    LayoutConfig(direction="vertical"),
]


@pytest.mark.parametrize("layout", LAYOUTS, ids=["study", "padded", "centred", "vertical"])
def test_compact_prepare_equals_full_composite(paths, layout):
    store = ImageStore(paths, layout)
    reference = ImageStore(paths, layout)
    ids = list(paths)
    levels = set()
    for a in ids:
        for b in ids:
            if a == b:
                continue
            prepared, boxes, size = store.prepare([a, b])
            expected, comp = _direct(reference, [a, b])
            assert boxes == comp.boxes and size == comp.size
            assert prepared.size == expected.size
            np.testing.assert_array_equal(prepared.pixels, expected.pixels)
            levels.add(box_reductions(*size, *fit_size(*size)))
    assert levels >= {1, 2, 3}  # the test exercised reduced entries, not only level 0


def test_three_slot_composite_is_exact(paths):
    store = ImageStore(paths, LayoutConfig(padding=5))
    ids = ["im1", "im0", "im3"]
    prepared, _, _ = store.prepare(ids)
    expected, _ = _direct(ImageStore(paths, LayoutConfig(padding=5)), ids)
    np.testing.assert_array_equal(prepared.pixels, expected.pixels)


def test_each_image_is_decoded_once_and_entries_are_small(paths):
    store = ImageStore(paths, LayoutConfig())
    ids = list(paths)
    for a in ids:
        for b in ids:
            if a != b:
                store.prepare([a, b])
    assert store.fallbacks == 0 and store.misses == len(ids)
    full = sum(w * h * 3 for w, h in SIZES)
    assert store.cached_bytes < full / 2


def test_lru_budget_is_respected(paths):
    store = ImageStore(paths, LayoutConfig(), max_bytes=2 * 2**20)
    for a in paths:
        store.prepare([a, "im0"])
    assert store.cached_bytes <= 2 * 2**20
