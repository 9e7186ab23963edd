import numpy as np
import pytest
import torch
from PIL import Image

from audit.compare.runner import run_jobs
from audit.compare.sampling import plan_all_groups, plan_pairwise
from audit.compare.settings import CompareConfig, LayoutConfig
from audit.compare.store import ImageStore
from audit.exceptions import ModelError
from audit.model.base import SaliencyModel, grid_shape
from audit.model.luminance import Luminance


class PreferLeftTop(SaliencyModel):
    """Scores fall with the column and row index: the top-left cell always wins."""

    name = "prefer_left_top"

    def score(self, batch):
        rows, cols = grid_shape((batch.shape[3], batch.shape[2]))
        r = torch.arange(rows, dtype=torch.float32)[:, None]
        c = torch.arange(cols, dtype=torch.float32)[None, :]
        return (-(c + r)).expand(batch.shape[0], rows, cols).clone()


class PreferBottomLeft(PreferLeftTop):
    name = "prefer_bottom_left"

    def score(self, batch):
        rows, cols = grid_shape((batch.shape[3], batch.shape[2]))
        r = torch.arange(rows, dtype=torch.float32)[:, None]
        c = torch.arange(cols, dtype=torch.float32)[None, :]
        return (r - c).expand(batch.shape[0], rows, cols).clone()


class Broken(PreferLeftTop):
    name = "broken"

    def score(self, batch):
        raise RuntimeError("kernel exploded")


def _write(path, w, h, value):
    Image.fromarray(np.full((h, w, 3), value, dtype=np.uint8)).save(path)
    return str(path)


@pytest.fixture
def images(tmp_path):
    paths = {}
    for i in range(3):
        paths[f"bright{i}"] = _write(tmp_path / f"b{i}.png", 60 + 10 * i, 80, 220)
        paths[f"dark{i}"] = _write(tmp_path / f"d{i}.png", 70, 60 + 10 * i, 40)
    members = {"bright": [k for k in paths if k.startswith("bright")],
               "dark": [k for k in paths if k.startswith("dark")]}
    return paths, members


def _run(paths, members, model, **compare):
    config = CompareConfig(chunk_size=7, **compare)
    jobs = plan_pairwise(members, n_trials=6, baseline_trials=3, seed=0)
    store = ImageStore(paths, config.layout)
    frames = run_jobs(jobs, store=store, model=model, config=config, progress=False)
    import pandas as pd
    return pd.concat(frames, ignore_index=True), store


def test_brighter_image_wins_in_both_orders(images):
    paths, members = images
    records, store = _run(paths, members, Luminance(device="cpu"))
    pairs = records[records.design == "pairwise"]
    assert len(pairs) == 12
    assert (pairs.outcome == "a").all() and (pairs.a_wins == 1).all()
    assert set(pairs.position_a) == {"left", "right"}
    assert store.misses == 6  # each image decoded once
    assert (pairs.p_a_topk == 1).all() and (pairs.mass_a > pairs.mass_b).all()


def test_left_preferring_model_shows_position_not_group_effect(images):
    paths, members = images
    records, _ = _run(paths, members, PreferLeftTop(device="cpu"))
    assert (records.outcome != "background").all()
    won_left = (records.outcome == "a") == (records.position_a == "left")
    assert won_left.all()
    base = records[records.design == "baseline"]
    assert len(base) == 2 * 2 * 3 and (base.group_a == base.group_b).all()
    pairs = records[records.design == "pairwise"]
    assert pairs.a_wins.mean() == 0.5  # counterbalanced: no group effect


def test_point_on_the_fill_is_background(tmp_path):
    paths = {"short": _write(tmp_path / "s.png", 64, 32, 100),
             "tall": _write(tmp_path / "t.png", 64, 128, 100)}
    config = CompareConfig(counterbalance=False)
    jobs = plan_pairwise({"s": ["short"], "t": ["tall"]}, n_trials=1, baseline_trials=0, seed=0,
                         counterbalance=False)
    frames = run_jobs(jobs, store=ImageStore(paths, config.layout),
                      model=PreferBottomLeft(device="cpu"), config=config, progress=False)
    row = frames[0].iloc[0]
    assert row.outcome == "background" and row.point_x < 64 and row.point_y >= 32
    assert frames[0].a_wins.isna().all()


def test_failing_model_records_errors_or_raises(images):
    paths, members = images
    records, _ = _run(paths, members, Broken(device="cpu"))
    assert (records.outcome == "error").all()
    assert records.error.str.contains("kernel exploded").all()
    assert records.a_wins.isna().all()
    with pytest.raises(ModelError, match="on_model_error=record"):
        _run(paths, members, Broken(device="cpu"), on_model_error="raise")


def test_unreadable_image_is_an_error_row(images, tmp_path):
    paths, members = images
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    paths = {**paths, "dark0": str(bad)}
    records, _ = _run(paths, members, Luminance(device="cpu"))
    hit = records[(records.image_a == "dark0") | (records.image_b == "dark0")]
    assert len(hit) > 0 and (hit.outcome == "error").all()
    assert hit.error.str.contains("bad.png").all()
    assert (records.drop(hit.index).outcome != "error").all()


def test_all_groups_records_winner_group_and_slot(images):
    paths, members = images
    config = CompareConfig(design="all_groups", layout=LayoutConfig())
    jobs = plan_all_groups(members, n_trials=8, seed=3)
    frames = run_jobs(jobs, store=ImageStore(paths, config.layout), model=Luminance(device="cpu"),
                      config=config, progress=False)
    rec = frames[0]
    assert (rec.winner_group == "bright").all()
    assert all(g[s] == "bright" for g, s in zip(rec.groups, rec.winner_slot, strict=True))
    assert {int(s) for s in rec.winner_slot} == {0, 1}


def test_identical_records_for_any_worker_count_and_batch_size(images):
    paths, members = images
    base, _ = _run(paths, members, Luminance(device="cpu", batch_size=1))
    batched, _ = _run(paths, members, Luminance(device="cpu", batch_size=8))
    pooled, _ = _run(paths, members, Luminance(device="cpu", batch_size=8), workers=2)
    assert base.equals(batched) and base.equals(pooled)
