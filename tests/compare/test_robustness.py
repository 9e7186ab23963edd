"""Robustness variants: layouts, the long outcome table and flip shares with known answers."""

import numpy as np
import pandas as pd
import pytest

from audit.analysis.robustness import flip_rates
from audit.compare.layout import compose, layout_boxes
from audit.compare.robustness import long_outcomes, variant_layouts
from audit.compare.settings import CompareConfig, LayoutConfig
from audit.compare.store import ImageStore
from audit.model.preprocess import prepare_array


def test_variants_change_only_their_keys_and_bad_entries_get_one_line():
    base = LayoutConfig(padding=4)
    (name, layout), = variant_layouts(base, [{"name": "white", "pad_color": [255, 255, 255]}])
    assert name == "white" and layout.pad_color == [255, 255, 255] and layout.padding == 4
    for bad, match in [([{"margin": [1, 0, 0, 0]}], "name must be"),
                       ([{"name": "x"}, {"name": "x"}], "unique"),
                       ([{"name": "x", "scaling": "none"}], "unknown key"),
                       ([{"name": "x", "margin": [1, 2]}], r"perturbations\[0\] \(x\).*margin"),
                       (["left"], "must be a mapping")]:
        with pytest.raises(ValueError, match=match):
            variant_layouts(base, bad)
    with pytest.raises(ValueError, match="perturbations"):
        CompareConfig(perturbations=[{"name": "base"}])


def test_margin_shifts_the_slots_and_keeps_the_compact_store_exact(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    paths = {}
    for i, (w, h) in enumerate([(203, 151), (97, 180)]):
        paths[f"i{i}"] = str(tmp_path / f"{i}.png")
        Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(paths[f"i{i}"])
    layout = LayoutConfig(margin=[13, 3, 30, 0], pad_color=[9, 200, 30])
    (w, h), boxes = layout_boxes([(203, 151), (97, 180)], layout)
    assert (w, h) == (13 + 300 + 30, 3 + 180) and boxes[0].left == 13 and boxes[1].top == 3
    store = ImageStore(paths, layout)
    prepared, got_boxes, size = store.prepare(["i0", "i1"], box=64)
    direct = compose([store.get("i0"), store.get("i1")], layout)
    assert got_boxes == boxes and size == direct.size
    assert (direct.pixels[:, :13] == [9, 200, 30]).all()
    np.testing.assert_array_equal(prepared.pixels, prepare_array(direct.pixels, box=64).pixels)


def _long():
    ids = {"design": "pairwise", "group_a": "x", "group_b": "y", "cropper": "c"}
    rows = []
    for t in range(10):
        for order in (0, 1):
            rec = {**ids, "trial": t, "order": order, "image_a": f"x{t}", "image_b": f"y{t}",
                   "position_a": "left" if order == 0 else "right"}
            base = "a" if order == 0 else "b"       # a left-preferring argmax
            # the variant flips the first 4 trials (both orders): 8 of 20 composites
            moved = {"a": "b", "b": "a"}[base] if t < 4 else base
            rows.append({**rec, "outcome": base, "variant": "base"})
            rows.append({**rec, "outcome": moved if t != 9 else "error", "variant": "v"})
    frame = pd.DataFrame(rows)
    return frame.assign(measure="argmax", aspect_ratio=np.nan)


def test_flip_shares_count_changed_outcomes_with_image_aware_intervals():
    flips = flip_rates(_long(), group_order=["x", "y"])
    pooled = flips[flips.group_a == "all"].iloc[0]
    # trial 9's variant errored: 18 composites compared, 8 flipped, all of them winners
    assert pooled.n == 18 and pooled.n_flipped == 8 and pooled.n_winner_flipped == 8
    assert pooled.share_flipped == pytest.approx(8 / 18)
    # both orders of a trial flip together: 9 clusters, not 18 independent composites
    naive = np.sqrt(8 / 18 * 10 / 18 / 18)
    assert pooled.se > naive
    assert pooled.ci_low < 8 / 18 < pooled.ci_high
    assert len(flips) == 2 and flips.iloc[0].group_a == "x"


def test_long_outcomes_stack_argmax_and_crop_rows():
    records = pd.DataFrame([{"trial": 0, "order": 0, "design": "pairwise", "group_a": "x",
                             "group_b": "y", "image_a": "i", "image_b": "j",
                             "position_a": "left", "cropper": "c", "outcome": "a"}])
    crops = records.drop(columns="outcome").assign(aspect_ratio=[1.0], crop_outcome=["both"])
    long = long_outcomes(records, crops, "v")
    assert list(long.measure) == ["argmax", "crop"] and list(long.outcome) == ["a", "both"]
    assert (long.variant == "v").all() and np.isnan(long.aspect_ratio[0])


def test_flip_shares_use_the_statistics_module_and_get_verdicts_against_a_margin():
    from audit.analysis.inference import rate_inference

    long = _long()
    flips = flip_rates(long, group_order=["x", "y"], margin=0.05)
    pooled = flips[flips.group_a == "all"].iloc[0]
    # the same SE as the statistics module on the same rows (trial 9's error left out)
    kept = long[(long.variant == "v") & (long.outcome != "error")].sort_values(["trial", "order"])
    flipped = (kept.trial < 4).to_numpy(dtype=float)
    ref = rate_inference(flipped, kept.image_a, kept.image_b, group_a=kept.group_a,
                         group_b=kept.group_b)
    assert pooled.se == pytest.approx(float(ref["se"][0]))
    assert pooled.inference == "dyadic" and pooled.df == 8  # 9 images of x - 1
    # 8 of 18 flip: far above a 5% margin
    assert pooled.verdict == "fragile" and set(flips.verdict) == {"fragile"}
    # no flip at all in 200 trials of 200 distinct image pairs: robust at a 5% margin
    ids = {"design": "pairwise", "group_a": "x", "group_b": "y", "cropper": "c",
           "measure": "argmax", "aspect_ratio": np.nan}
    rows = [{**ids, "trial": t, "order": o, "image_a": f"x{t}", "image_b": f"y{t}",
             "position_a": "left" if o == 0 else "right", "outcome": "ab"[(t + o) % 2],
             "variant": v} for t in range(200) for o in (0, 1) for v in ("base", "same")]
    same = flip_rates(pd.DataFrame(rows), group_order=["x", "y"], margin=0.05)
    assert (same.n_flipped == 0).all() and set(same.verdict) == {"robust"}
    assert (same.se > 0).all() and same.family.str.contains("margin 0.05").all()
    boot = flip_rates(long, group_order=["x", "y"], inference="bootstrap", n_boot=200, seed=1)
    assert boot.equals(flip_rates(long, group_order=["x", "y"], inference="bootstrap",
                                  n_boot=200, seed=1))
    # 9 distinct image pairs: the pigeonhole bootstrap is wider, the share the same
    assert set(boot.inference) == {"bootstrap"} and (boot.se >= flips.se).all()
    assert (boot.share_flipped == flips.share_flipped).all()
    assert set(boot.verdict) <= {"robust", "fragile", "inconclusive"}
