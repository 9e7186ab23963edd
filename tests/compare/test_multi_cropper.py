"""Several croppers on the same composites: records, records_crops, one composite per job."""

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from audit.compare.crop_outcomes import CROP_COLUMNS, HeadTruth
from audit.compare.layout import compose
from audit.compare.runner import run_jobs
from audit.compare.sampling import plan_pairwise
from audit.compare.settings import CompareConfig
from audit.compare.store import ImageStore
from audit.crop.candidate import candidate_crops, place_crops
from audit.crop.geometry import Box, Point
from audit.crop.rules import crop_box
from audit.exceptions import ModelError
from audit.model.luminance import Luminance

RATIOS = [0.56, 1.0, 2.0]


class Rule:
    """The run's model plus Twitter's rule (what audit.cropper's fastgaze is)."""

    kind = "saliency"

    def __init__(self, model, name="fastgaze"):
        self.model, self.name = model, name

    def crops_from_map(self, smap, *, symmetric, aspect_ratios):
        point, crops = place_crops(smap, symmetric=symmetric, aspect_ratios=aspect_ratios)
        return type("R", (), {"boxes": dict(crops), "point": point, "saliency": smap})()


class Boxes:
    """A box cropper: the window of each ratio around a fixed fraction of the image."""

    kind = "box"

    def __init__(self, name, fx, has_point=False, fail_on=None):
        self.name, self.fx, self.has_point, self.fail_on = name, fx, has_point, fail_on
        self.seen: list[int] = []

    def crop_many(self, images, aspect_ratios):
        out = []
        for rgb in images:
            self.seen.append(id(rgb))
            h, w = rgb.shape[:2]
            if self.fail_on is not None and w == self.fail_on:
                out.append("ValueError: cannot crop this one")
                continue
            p = Point(int(self.fx * w), h // 2)
            out.append(type("R", (), {"boxes": {float(a): crop_box(w, h, p, a)
                                                for a in aspect_ratios},
                                      "point": p if self.has_point else None,
                                      "saliency": None})())
        return out


def _write(path, w, h, value):
    Image.fromarray(np.full((h, w, 3), value, dtype=np.uint8)).save(path)
    return str(path)


@pytest.fixture
def images(tmp_path):
    paths = {}
    for i in range(2):
        paths[f"bright{i}"] = _write(tmp_path / f"b{i}.png", 80, 80 + 10 * i, 220)
        paths[f"dark{i}"] = _write(tmp_path / f"d{i}.png", 80, 70 + 10 * i, 40)
    members = {"bright": ["bright0", "bright1"], "dark": ["dark0", "dark1"]}
    return paths, members


def _run(paths, members, model, croppers, heads=None, **compare):
    config = CompareConfig(chunk_size=5, **compare)
    jobs = plan_pairwise(members, n_trials=4, baseline_trials=0, seed=1)
    crops = []
    frames = run_jobs(jobs, store=ImageStore(paths, config.layout), model=model, config=config,
                      progress=False, croppers=croppers, aspect_ratios=RATIOS, heads=heads,
                      on_crops=lambda i, f: crops.append(f))
    return (pd.concat(frames, ignore_index=True), pd.concat(crops, ignore_index=True), jobs)


def test_every_cropper_sees_the_same_composites(images):
    paths, members = images
    model = Luminance(device="cpu")
    left, right = Boxes("left", 0.2), Boxes("right_pt", 0.8, has_point=True)
    records, crops, jobs = _run(paths, members, model, [Rule(model), left, right])
    assert list(crops.columns) == list(CROP_COLUMNS)
    assert len(crops) == len(jobs) * 3 * len(RATIOS)
    # one records row per composite for the croppers with a point, none for `left`
    assert records.groupby("cropper").size().to_dict() == {"fastgaze": 8, "right_pt": 8}
    # box croppers were handed one composite array per job, the same one for both
    assert left.seen == right.seen and len(left.seen) == len(jobs)
    # the brighter image is where luminance points: the argmax outcome is always "a"
    fast = records[records.cropper == "fastgaze"]
    assert (fast.outcome == "a").all() and (fast.model == "luminance").all()
    # the right-hand point decides by position: A wins exactly when it sits right
    pt = records[records.cropper == "right_pt"]
    assert ((pt.outcome == "a") == (pt.position_a == "right")).all()
    wide = crops[(crops.cropper == "left") & (crops.aspect_ratio == 2.0)]
    assert ((wide.crop_outcome == "a") == (wide.position_a == "left")).all()


def test_fast_cropper_crops_equal_the_program_on_the_composite(images):
    paths, members = images
    model = Luminance(device="cpu")
    _, crops, jobs = _run(paths, members, model, [Rule(model)])
    store = ImageStore(paths, CompareConfig().layout)
    for job in jobs[:4]:
        comp = compose([store.get(i) for i in job.images], store.layout)
        want = dict(candidate_crops(comp.pixels, model, RATIOS).crops)
        got = crops[(crops.trial == job.trial) & (crops.order == job.order)]
        for row in got.itertuples():
            assert Box(row.crop_left, row.crop_top, row.crop_width, row.crop_height) == (
                want[row.aspect_ratio])


def test_fast_path_records_unchanged_by_other_croppers(images):
    paths, members = images
    model = Luminance(device="cpu")
    config = CompareConfig(chunk_size=5)
    jobs = plan_pairwise(members, n_trials=4, baseline_trials=0, seed=1)
    legacy = pd.concat(run_jobs(jobs, store=ImageStore(paths, config.layout), model=model,
                                config=config, progress=False), ignore_index=True)
    records, _, _ = _run(paths, members, model, [Rule(model), Boxes("c", 0.5)])
    fast = records[records.cropper == "fastgaze"].reset_index(drop=True)
    pd.testing.assert_frame_equal(fast.drop(columns="cropper"),
                                  legacy.drop(columns="cropper"))


def test_heads_decide_crop_outcomes_when_known(images):
    paths, members = images
    model = Luminance(device="cpu")
    # every image's head is its top-left 20x20 corner
    heads = {i: HeadTruth(Box(0, 0, 20, 20), (80, 80 + 10 * int(i[-1]) if i.startswith("b")
                                              else 70 + 10 * int(i[-1]))) for i in paths}
    _, crops, _ = _run(paths, members, model, [Boxes("c", 0.5)], heads=heads)
    assert crops.head_kept_a.notna().all()
    # tall crop (2.0) centred on a 160-px wide pair: about [58, 103), which holds the right
    # image's corner head only (the area rule would say the same here: check heads decide)
    tall = crops[crops.aspect_ratio == 2.0]
    assert ((tall.crop_outcome == "a") == (tall.position_a == "right")).all()
    assert (tall.crop_outcome != "both").all()
    # ratio 1.0: a 90-wide window centred at 80 keeps [35, 125): the right head, not the left
    square = crops[crops.aspect_ratio == 1.0]
    assert (square.head_kept_a == (square.position_a == "right")).all()
    # ratio 0.56: full width (both heads) when the pair is taller than 0.56, else a 143-px
    # window centred at 80 that cuts the left corner
    wide = crops[crops.aspect_ratio == 0.56]
    full = wide.crop_width == 160
    assert full.any() and (~full).any()
    assert (wide[full].crop_outcome == "both").all()
    assert ((wide[~full].crop_outcome == "a") == (wide[~full].position_a == "right")).all()


def test_a_failing_cropper_is_recorded_per_composite_or_raises(images):
    paths, members = images
    model = Luminance(device="cpu")
    bad = Boxes("bad", 0.5, has_point=True, fail_on=160)  # only composites 160 px wide
    records, crops, _ = _run(paths, members, model, [bad])
    failed = crops[crops.crop_outcome == "error"]
    assert len(failed) > 0 and failed.error.str.contains("cannot crop").all()
    assert set(records.loc[records.outcome == "error", "trial"]) == set(failed.trial)
    assert (crops.drop(failed.index).crop_outcome != "error").all()
    with pytest.raises(ModelError, match="bad: ValueError"):
        _run(paths, members, model, [bad], on_model_error="raise")


def test_identical_crop_records_with_worker_processes(images):
    paths, members = images
    model = Luminance(device="cpu")
    croppers = [Rule(model), Boxes("c", 0.3, has_point=True)]
    base = _run(paths, members, model, croppers)
    pooled = _run(paths, members, model, croppers, workers=2)
    pd.testing.assert_frame_equal(base[0], pooled[0])
    pd.testing.assert_frame_equal(base[1], pooled[1])
