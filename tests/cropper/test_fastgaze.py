"""The fastgaze cropper gives exactly the crops of candidate_crops / place_crops."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from audit.crop.candidate import candidate_crops, place_crops
from audit.crop.rules import default_aspect_ratios, is_symmetric
from audit.cropper.base import SaliencyCropper
from audit.cropper.registry import build_cropper, build_named, cropper_config
from audit.exceptions import WeightsError
from audit.model.preprocess import prepare_array

from .conftest import textured

RATIOS = [0.56, 1.0, 1.14, 2.0]


@pytest.mark.slow
def test_golden_points_and_crops_equal_the_program(golden_dir: Path, fastgaze_cropper):
    """All 44 golden photos give the program's salient point; every 5th is also checked box by
    box against candidate_crops (an independent call of the model and rules)."""
    cases = [json.loads(p.read_text()) for p in sorted(golden_dir.glob("*.json"))]
    assert len(cases) == 44
    bad_point, bad_box = [], []
    for i, case in enumerate(cases):
        path = golden_dir / case["input"]["file"]
        ratios = default_aspect_ratios(case["input"]["width"], case["input"]["height"])
        result = fastgaze_cropper.crop_file(path, ratios)
        if [result.point.x, result.point.y] != case["salient_point"]:
            bad_point.append(case["case"])
        if i % 5 == 0:
            reference = candidate_crops(path, fastgaze_cropper.model, ratios)
            # dict: a square image's H/W ratio 1.0 repeats the ratio 1.0 (same box, one key)
            if (result.boxes != dict(reference.crops) or result.point != reference.point
                    or result.info["symmetric"] != reference.symmetric):
                bad_box.append(case["case"])
    assert bad_point == [] and bad_box == []


def test_arrays_and_batches_equal_place_crops(fastgaze_cropper, photo_rgb):
    images = [photo_rgb, textured(320, 200, 1), textured(200, 320, 2), textured(320, 200, 3)]
    results = fastgaze_cropper.crop_many(images, RATIOS)
    model = fastgaze_cropper.model
    # the same batches as the runner's fast path: equal sizes scored together
    prepared_all = [prepare_array(rgb) for rgb in images]
    maps = model.predict(prepared_all)
    for prepared, smap, result in zip(prepared_all, maps, results, strict=True):
        point, crops = place_crops(smap, symmetric=is_symmetric(prepared.pixels),
                                   aspect_ratios=RATIOS)
        assert result.point == point
        assert list(result.boxes.items()) == crops
        np.testing.assert_array_equal(result.saliency.scores, smap.scores)
    single = fastgaze_cropper.crop(images[1], RATIOS)
    assert single.boxes == results[1].boxes and single.point == results[1].point


def test_symmetric_image_is_cropped_about_the_centre(fastgaze_cropper):
    rgb = textured(160, 320, 4)
    rgb = np.concatenate([rgb[:, :80], rgb[:, :80][:, ::-1]], axis=1)  # mirror-symmetric
    result = fastgaze_cropper.crop(rgb, [2.0])
    assert result.info["symmetric"] is True
    box = result.boxes[2.0]
    assert box.left + box.width // 2 == 80          # centred at int(0.5 W), point ignored


def test_one_bad_image_in_a_batch_costs_only_itself(fastgaze_cropper, photo_rgb):
    out = fastgaze_cropper.crop_many([photo_rgb, np.zeros((5, 5), np.uint8)], RATIOS)
    assert out[0].boxes == fastgaze_cropper.crop(photo_rgb, RATIOS).boxes
    assert isinstance(out[1], str) and "fastgaze: expected a uint8" in out[1]


def test_wraps_the_runs_model_and_records_a_fallback():
    from audit.model.spectral_residual import SpectralResidual

    model = SpectralResidual(device="cpu")
    model.fallback_reason = "FastGaze weights unavailable"
    cropper = build_cropper(cropper_config("fastgaze"), model=model)
    assert isinstance(cropper, SaliencyCropper) and cropper.model is model
    info = cropper.describe()
    assert info["kind"] == "saliency" and info["model"]["name"] == "spectral_residual"
    assert info["settings"]["fallback_reason"] == "FastGaze weights unavailable"


def test_alone_without_weights_stops_and_downloads_nothing(monkeypatch):
    monkeypatch.delenv("AUDIT_FASTGAZE_WEIGHTS", raising=False)
    with pytest.raises(WeightsError):
        build_named("fastgaze", overrides={"device": "cpu"})
