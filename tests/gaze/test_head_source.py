"""Who judges the head, detector recall per group, and the shipped detectors (issue 12 §4)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from PIL import Image

from audit import pipeline
from audit.config import register_configs, to_settings
from audit.crop.geometry import Box
from audit.data.settings import SyntheticConfig
from audit.data.synthetic import _rng, draw_params, render_portrait
from audit.gaze.faces import DETECTORS, HAAR_CASCADES, DlibHogFaceDetector, make_detector
from audit.gaze.source import choose_head_source, detector_recall, face_found
from audit.model.luminance import Luminance

CONF_DIR = Path(__file__).resolve().parents[2] / "conf"


def test_auto_prefers_truth_then_review_then_the_detector() -> None:
    pick = choose_head_source
    assert pick("auto", has_truth=True, has_review=True, detector="haar")[0] == "truth"
    assert pick("auto", has_truth=False, has_review=True, detector="haar")[0] == "review"
    source, why = pick("auto", has_truth=False, has_review=False, detector="haar")
    assert source == "detector" and "did NOT qualify" in why and "gaze.review_csv" in why
    assert pick("detector", has_truth=True, has_review=True, detector="haar")[0] == "detector"
    with pytest.raises(ValueError, match="data=synthetic"):
        pick("truth", has_truth=False, has_review=True, detector="haar")
    with pytest.raises(ValueError, match="gaze.review_csv=PATH"):
        pick("review", has_truth=True, has_review=False, detector="haar")
    with pytest.raises(ValueError, match="gaze.head_source must be one of"):
        pick("eyes", has_truth=True, has_review=False, detector="haar")


def test_detector_recall_counts_and_wilson_intervals() -> None:
    per_image = pd.DataFrame({"group": ["a"] * 10 + ["b"] * 4,
                              "tone": ["x"] * 7 + ["y"] * 7,
                              "true_face_found": [True] * 8 + [False] * 2 + [False] * 4})
    table = detector_recall(per_image, ["group", "tone", "absent"]).set_index(["by", "group"])
    assert table.loc[("group", "a"), ["n", "n_found"]].tolist() == [10, 8]
    assert table.loc[("group", "b"), "recall"] == 0.0
    assert table.loc[("tone", "y"), ["n", "n_found"]].tolist() == [7, 1]
    # Wilson 95% for 8/10: 0.4902 .. 0.9433
    assert table.loc[("group", "a"), "recall_low"] == pytest.approx(0.4902, abs=1e-4)
    assert table.loc[("group", "a"), "recall_high"] == pytest.approx(0.9433, abs=1e-4)
    assert len(table) == 4  # the absent column is skipped


def test_face_found_needs_the_centre_and_a_plausible_size() -> None:
    truth = Box(100, 100, 40, 50)  # centre (120, 125)
    assert face_found(Box(105, 105, 30, 30), truth)
    assert not face_found(Box(0, 0, 30, 30), truth)  # elsewhere
    assert not face_found(Box(110, 110, 15, 15), truth)  # a speck on the nose
    assert not face_found(Box(0, 0, 200, 200), truth)  # the whole frame


def test_every_named_detector_builds_from_shipped_files() -> None:
    assert DETECTORS[0] == "haar" and "dlib_hog" in DETECTORS
    for name in DETECTORS:
        det = make_detector(name)
        assert det.name == name
        assert det.detect(np.zeros((64, 64, 3), np.uint8)) == []
    assert set(HAAR_CASCADES) < set(DETECTORS)


def test_dlib_hog_finds_the_face_on_a_real_photo(golden_dir) -> None:
    with Image.open(golden_dir / "halt_11.jpg") as im:
        rgb = np.asarray(im.convert("RGB"))
    haar = make_detector("haar").detect(rgb)
    found = DlibHogFaceDetector().detect(rgb)
    assert len(found) >= 1
    h, w = rgb.shape[:2]
    assert all(0 <= b.left and b.right <= w and 0 <= b.top and b.bottom <= h for b in found)
    # both detectors agree on where the face is
    best = max(found, key=lambda b: b.area)
    cx, cy = best.left + best.width / 2, best.top + best.height / 2
    assert any(b.contains(cx, cy) for b in haar)


def test_light_synthetic_faces_are_found_and_dark_ones_missed_by_haar() -> None:
    """The bias bench/detectors.py measures, on four portraits: it is why truth judges."""
    config = SyntheticConfig(n_portraits=4, counterfactual=True)
    rng = _rng(0, config)
    params = [draw_params(rng, hair=("short", "long")[i % 2], min_side=config.min_side,
                          max_side=config.max_side) for i in range(4)]
    det = make_detector("haar")

    def recall(tone: str) -> float:
        hits = 0
        for p in params:
            truth = Box(int(p.head_x - p.head_rx), int(p.head_y - p.head_ry),
                        round(2 * p.head_rx), round(2 * p.head_ry))
            faces = det.detect(render_portrait(p, tone).image)
            hits += any(face_found(f, truth) for f in faces)
        return hits / len(params)

    assert recall("mst01") >= 0.75 and recall("mst10") == 0.0


def test_male_gaze_run_reports_recall_per_group_and_judges_by_truth(tmp_path) -> None:
    register_configs()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=[
            "experiment=male_gaze", "debug=smoke", "gaze.min_regions=0",
            f"data.synthetic.cache_dir={tmp_path / 'synthetic'}",
            f"paths.work_dir={tmp_path / 'work'}", f"paths.cache_dir={tmp_path / 'cache'}"])
    settings = to_settings(cfg)
    result = pipeline.run(settings, model=Luminance(device="cpu"), output_dir=tmp_path / "out",
                          progress=False)
    tables = result.output_dir / "tables"
    recall = pd.read_csv(tables / "gaze_detector_recall.csv")
    assert {"group", "tone_band", "skin_tone"} <= set(recall["by"])
    per_group = recall[recall["by"] == "group"]
    images = pd.read_parquet(result.output_dir / "images.parquet")
    judged = images[images["true_face_found"].notna()]
    assert per_group["n"].sum() == len(judged) > 0
    assert per_group["n_found"].sum() == int(judged["true_face_found"].astype(bool).sum())
    assert (recall["detector"] == "haar").all()
    shares = pd.read_csv(tables / "gaze_shares.csv")
    assert (shares["head_source"] == "truth").all()
    # judged by the truth: every selected image counts, none is lost to a missed face
    assert (shares["n_no_face"] == 0).all()
    point = shares.drop_duplicates("group").set_index("group")["share_point_on_head"]
    expected = judged.groupby("group")["true_point_on_head"].mean()
    assert point.sort_index().tolist() == pytest.approx(expected.sort_index().tolist())
    notes = (result.output_dir / "report.md").read_text()
    assert "generator's truth" in notes


@pytest.mark.slow
def test_review_labels_judge_the_head_when_asked(tmp_path) -> None:
    def settings(*extra: str):
        register_configs()
        GlobalHydra.instance().clear()
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            return to_settings(compose(config_name="config", overrides=[
                "experiment=male_gaze", "debug=smoke", "gaze.min_regions=0",
                f"data.synthetic.cache_dir={tmp_path / 'synthetic'}",
                f"paths.work_dir={tmp_path / 'work'}", f"paths.cache_dir={tmp_path / 'cache'}",
                *extra]))

    model = Luminance(device="cpu")
    first = pipeline.run(settings(), model=model, output_dir=tmp_path / "a", progress=False)
    ids = sorted(pd.read_csv(first.output_dir / "tables/gaze_selection.csv")
                 .query("selected")["id"].astype(str))
    # people say: on the head for the first two images, not for the third, unsure for the rest
    labels = ["on_head", "on_head", "not_on_head"] + ["unsure"] * (len(ids) - 3)
    review = tmp_path / "review.csv"
    pd.DataFrame({"id": ids, "label": labels, "reviewer": "r1", "notes": ""}).to_csv(
        review, index=False)
    second = pipeline.run(settings("gaze.head_source=review", f"gaze.review_csv={review}"),
                          model=model, output_dir=tmp_path / "b", progress=False)
    shares = pd.read_csv(second.output_dir / "tables/gaze_shares.csv")
    assert (shares["head_source"] == "review").all()
    assert shares["n"].sum() == len(ids) and shares["n_face"].sum() == 3  # unsure: not judged
    on_head = (shares["share_point_on_head"] * shares["n_face"]).sum()
    assert on_head == pytest.approx(2)
