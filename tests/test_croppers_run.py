"""experiment=croppers end to end: records_crops, cropper tables and figure, resume, shards."""

from __future__ import annotations

import pandas as pd
import pytest

from audit.compare.crop_outcomes import CROP_COLUMNS
from audit.merge import merge_shards

from .test_pipeline import CountingLuminance, run

CROPPERS = ("compare.croppers=[fastgaze,center]", "analysis.regression=false")
TONES = "data.synthetic.tones=[mst01,mst05,mst10]"


def test_croppers_experiment_writes_crop_records_tables_and_figure(tmp_path):
    result, model = run(tmp_path, "out", *CROPPERS, TONES, experiment="croppers")
    out = result.output_dir
    crops = pd.read_parquet(out / "records_crops.parquet")
    records = pd.read_parquet(out / "records.parquet")
    assert list(crops.columns) == list(CROP_COLUMNS)
    # smoke, 3 tones: 3 pairs x 4 portraits x 2 orders; 2 croppers x 4 ratios each
    n = 3 * 4 * 2
    assert len(crops) == n * 2 * 4 and model.scored == n + 4  # + the k-way composites
    assert set(crops.aspect_ratio) == {0.56, 1.0, 1.14, 2.0}
    # synthetic portraits know their heads: outcomes are decided by heads, none fails
    assert crops.head_kept_a.notna().all() and (crops.crop_outcome != "error").all()
    # the same composites for both croppers
    keys = ["trial", "order", "image_a", "image_b", "aspect_ratio"]
    by = {c: f[keys].reset_index(drop=True) for c, f in crops.groupby("cropper")}
    pd.testing.assert_frame_equal(by["fastgaze"], by["center"])
    # the counterfactual pair is the same portrait: the centred crop keeps the same share
    centre = crops[crops.cropper == "center"]
    assert set(records.cropper) == {"fastgaze", "center"}
    # the centred window of a counterfactual pair ignores the pixels: its wins follow position
    kept_a = centre[centre.crop_outcome == "a"]
    assert len(kept_a) and (kept_a.groupby("trial").size() == kept_a.groupby("trial").order
                            .nunique()).all()
    summary = pd.read_csv(out / "tables/cropper_summary.csv")
    assert {"measure", "aspect_ratio", "cropper", "max_abs_delta", "rank", "most_even"} <= set(
        summary.columns)
    assert set(summary.cropper) == {"fastgaze", "center"}
    for name in ("cropper_win_rates", "cropper_outcomes", "cropper_paired"):
        assert (out / "tables" / f"{name}.csv").is_file(), name
    assert (out / "figures/cropper_disparity.png").is_file()
    assert [c["name"] for c in result.manifest["croppers"]] == ["fastgaze", "center"]
    again, model2 = run(tmp_path, "again", *CROPPERS, TONES, model=CountingLuminance(),
                        experiment="croppers")
    assert model2.scored == 0
    assert (out / "records_crops.parquet").read_bytes() == (
        again.output_dir / "records_crops.parquet").read_bytes()


@pytest.mark.slow
def test_crop_records_of_shards_merge_to_the_single_run(tmp_path):
    # chunks of 3 so that both shards also hold k-way composites (4 of them)
    args = (*CROPPERS, TONES, "compare.chunk_size=3")
    whole, _ = run(tmp_path / "whole", "out", *args, experiment="croppers")
    shards = [run(tmp_path / "shards", f"s{i}", *args, f"compare.shard={i}/2",
                  experiment="croppers")[0] for i in range(2)]
    merged = merge_shards([s.output_dir for s in shards], tmp_path / "merged")
    for name in ("records_crops.parquet", "tables/cropper_summary.parquet",
                 "tables/cropper_paired.parquet"):
        assert (whole.output_dir / name).read_bytes() == (merged.output_dir / name).read_bytes()


@pytest.mark.slow
def test_robustness_experiment_flips_nothing_under_an_identical_layout(tmp_path):
    variants = "compare.perturbations=[{name:same,padding:0},{name:left_30,margin:[30,0,0,0]}]"
    result, model = run(tmp_path, "out", *CROPPERS, variants, experiment="robustness")
    out = result.output_dir
    long = pd.read_parquet(out / "records_robustness.parquet")
    n = 3 * 4 * 2 + 3 * 2 * 2  # smoke: 3 pairs x 4 draws + 3 baselines x 2 draws, 2 orders
    assert model.scored == 3 * n  # base + two variants, the same jobs each time
    # per composite: 2 argmax rows (both croppers have a point) + 2 croppers x 4 ratios
    assert len(long) == 3 * n * (2 + 8)
    assert set(long.variant) == {"base", "same", "left_30"}
    flips = pd.read_csv(out / "tables/robustness_flips.csv")
    same = flips[flips.variant == "same"]
    assert len(same) and (same.n_flipped == 0).all()
    assert (same.loc[same.group_a == "all", "n"] == 3 * 4 * 2).all()  # baselines left out
    # a 30-px margin on the left moves the centred windows: some crop outcome changes
    moved = flips[(flips.variant == "left_30") & (flips.cropper == "center")
                  & (flips.group_a == "all")]
    assert moved.n_flipped.sum() > 0
    assert (out / "figures/robustness_flips.png").is_file()
    assert set(flips.inference) == {"dyadic"} and flips.family.nunique() == 1
    assert set(flips.verdict) <= {"robust", "fragile", "inconclusive"}
    # the re-analysis of the run folder gives the same flip tables
    from audit import analyse

    assert analyse.main([str(out)]) == 0
    (redo,) = (out / "analyses").iterdir()
    for name in ("robustness_flips", "robustness_summary", "cropper_paired"):
        pd.testing.assert_frame_equal(pd.read_parquet(redo / "tables" / f"{name}.parquet"),
                                      pd.read_parquet(out / "tables" / f"{name}.parquet"))
    again, model2 = run(tmp_path, "again", *CROPPERS, variants, model=CountingLuminance(),
                        experiment="robustness")
    assert model2.scored == 0
    assert (out / "records_robustness.parquet").read_bytes() == (
        again.output_dir / "records_robustness.parquet").read_bytes()


def test_a_run_of_box_croppers_alone_judges_the_crops(tmp_path):
    from audit.crop.geometry import Point
    from audit.cropper.base import Cropper, CropResult, centered_box
    from audit.cropper.registry import register_cropper, unregister_cropper

    class LeftThird(Cropper):
        name, kind = "left_third", "box"

        def crop(self, rgb, aspect_ratios):
            h, w = rgb.shape[:2]
            return CropResult({float(r): centered_box(w, h, r, Point(w // 3, h // 2))
                               for r in aspect_ratios})

    register_cropper("left_third", lambda **_: LeftThird())
    try:
        result, model = run(tmp_path, "out", "compare.croppers=[left_third]",
                            "analysis.regression=false", "compare.baseline_trials=0")
    finally:
        unregister_cropper("left_third")
    assert model.scored == 0  # no cropper uses the model
    assert result.records["pairs"].empty and "win_rates" not in result.tables
    assert set(result.tables["cropper_summary"].cropper) == {"left_third"}
    crops = result.records["crops"]
    assert len(crops) == 3 * 4 * 2 * 4 and (crops.crop_outcome != "error").all()
    assert crops.head_kept_a.notna().all() and {"a", "b"} <= set(crops.crop_outcome)
    assert any("no cropper of this run has a focus point" in n for n in result.analysis.notes)
