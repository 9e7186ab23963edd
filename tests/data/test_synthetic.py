from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from audit.data import DataConfig, SyntheticConfig, load_counterfactual, load_people
from audit.data.synthetic import (
    MST_HEX,
    generate_synthetic,
    plan_portraits,
    render_portrait,
    tone_band,
)


def read_rgb(path: str) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


SMALL = SyntheticConfig(n_portraits=4, min_side=96, max_side=128)


def test_monk_palette_is_the_documented_one():
    assert list(MST_HEX.values()) == [
        "f6ede4", "f3e7db", "f7ead0", "eadaba", "d7bd96",
        "a07e56", "825c43", "604134", "3a312a", "292420"]
    assert [tone_band(f"mst{i:02d}") for i in range(1, 11)] == (
        ["light"] * 3 + ["medium"] * 4 + ["dark"] * 3)


def test_same_seed_gives_identical_bytes_other_seed_differs(tmp_path):
    a = generate_synthetic(replace(SMALL, cache_dir="a"), root=tmp_path, seed=3)
    b = generate_synthetic(replace(SMALL, cache_dir="b"), root=tmp_path, seed=3)
    c = generate_synthetic(replace(SMALL, cache_dir="c"), root=tmp_path, seed=4)
    for pa, pb in zip(a["image_path"], b["image_path"], strict=True):
        assert Path(pa).read_bytes() == Path(pb).read_bytes()
    assert a["sha256"].tolist() == b["sha256"].tolist()
    assert (a["sha256"] != c["sha256"]).all()


def test_counterfactual_renders_differ_only_inside_skin_mask():
    plan = plan_portraits(replace(SMALL, counterfactual=True), seed=0)
    for params in plan.drop_duplicates("portrait")["params"]:
        light, dark = render_portrait(params, "mst01"), render_portrait(params, "mst10")
        assert np.array_equal(light.skin_mask, dark.skin_mask)
        changed = (light.image != dark.image).any(axis=2)
        # every skin pixel changes (the tones differ in each channel), nothing else does
        assert np.array_equal(changed, light.skin_mask)
        assert 0.02 < light.skin_mask.mean() < 0.5


def test_counterfactual_files_share_everything_but_skin(tmp_path):
    config = DataConfig(min_group_size=1, synthetic=replace(SMALL, n_portraits=2))
    people = load_counterfactual(config, root=tmp_path, seed=1)
    table = people.table
    assert len(table) == 20 and table["portrait"].nunique() == 2
    assert table.groupby("portrait")["skin_tone"].nunique().tolist() == [10, 10]
    plan = plan_portraits(replace(config.synthetic, counterfactual=True), seed=1)
    for portrait, rows in table.groupby("portrait"):
        params = plan.loc[plan["portrait"] == portrait, "params"].iloc[0]
        mask = render_portrait(params, "mst05").skin_mask
        pixels = [read_rgb(p) for p in rows["image_path"]]
        for other in pixels[1:]:
            assert np.array_equal(pixels[0][~mask], other[~mask])
            assert not np.array_equal(pixels[0][mask], other[mask])


def test_group_mode_is_balanced_by_band_and_hair(tmp_path):
    config = DataConfig(min_group_size=1, group_by=["tone_band", "hair"],
                        synthetic=replace(SMALL, n_portraits=6))
    people = load_people(config, root=tmp_path, seed=0)
    table = people.table
    assert people.synthetic and people.attribution is None
    assert table.groupby(["tone_band", "hair"]).size().tolist() == [3] * 6
    assert table.groupby("tone_band")["skin_tone"].agg(lambda s: sorted(set(s))).to_dict() == {
        "dark": ["mst08", "mst09", "mst10"], "light": ["mst01", "mst02", "mst03"],
        "medium": ["mst04", "mst05", "mst06", "mst07"]}
    assert table["id"].is_unique and table["portrait"].is_unique
    assert table["width"].between(96, 128).all() and table["height"].between(96, 128).all()
    assert table["group"].iloc[0] == "light_short"
    sizes = [read_rgb(p).shape[1::-1] for p in table["image_path"]]
    assert sizes == list(zip(table["width"], table["height"], strict=True))


def test_default_config_is_small_and_fast(tmp_path):
    people = load_people(DataConfig(min_group_size=1), root=tmp_path, seed=0)
    assert people.provenance["group_sizes"] == {"dark": 20, "light": 20, "medium": 20}
    assert people.table["width"].between(160, 360).all()


def test_cache_is_reused_and_repaired(tmp_path):
    first = generate_synthetic(SMALL, root=tmp_path, seed=0)
    path = first["image_path"].iloc[0]
    original = Path(path).read_bytes()
    Path(path).write_bytes(b"broken")
    second = generate_synthetic(SMALL, root=tmp_path, seed=0)
    assert second["sha256"].tolist() == first["sha256"].tolist()
    assert Path(path).read_bytes() == original


def test_tones_outside_the_scale_are_rejected():
    with pytest.raises(ValueError, match=r"data.synthetic.tones must be a non-empty subset"):
        SyntheticConfig(tones=["mst11"])
