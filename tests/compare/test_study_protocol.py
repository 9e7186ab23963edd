"""The paper configs follow the study's notebook step by step (issue 12 §1).

An independent re-implementation of Twitter's notebook (``img_resize_fixed_aspect``,
``attach_img``, the JPEG save, ``locate_which_img``) written from its description, not from
:mod:`audit.compare.layout`, is compared with what the runner does under the paper configs, on
real photos (the golden inputs).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from audit.analysis.study_rules import study_records, study_vs_cropaudit, study_vs_cropaudit_kway
from audit.compare.layout import scaled_size, slot_of, study_slot
from audit.compare.records import validate_records
from audit.compare.runner import _encode_jpeg, build_composite, run_jobs
from audit.compare.sampling import Job, plan_pairwise
from audit.compare.settings import CompareConfig, LayoutConfig
from audit.compare.store import ImageStore
from audit.config import AuditConfig, register_configs, to_settings
from audit.crop.geometry import Box
from audit.crop.rules import salient_point
from audit.model.base import SaliencyModel, grid_shape
from audit.model.preprocess import prepare_file

PAPER = ("paper_pairwise", "paper_fixed_height", "paper_all_groups")
CONF_DIR = Path(__file__).resolve().parents[2] / "conf"


def compose_config(overrides: list[str]) -> AuditConfig:
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    register_configs()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base=None):
        return to_settings(compose(config_name="config", overrides=overrides))


class PreferBottomLeft(SaliencyModel):
    """Scores grow with the row and fall with the column: the bottom-left cell wins."""

    name = "prefer_bottom_left"

    def score(self, batch: torch.Tensor) -> torch.Tensor:
        rows, cols = grid_shape((batch.shape[3], batch.shape[2]))
        r = torch.arange(rows, dtype=torch.float32)[:, None]
        c = torch.arange(cols, dtype=torch.float32)[None, :]
        return (r - c).expand(batch.shape[0], rows, cols).clone()


def _write(path: Path, w: int, h: int, value: int) -> str:
    Image.fromarray(np.full((h, w, 3), value, dtype=np.uint8)).save(path)
    return str(path)


def _study_layout(scaling: str) -> LayoutConfig:
    return LayoutConfig(scaling=scaling, align="start", size_rounding="floor", resample="bicubic")


# ---- the notebook, re-implemented from its description --------------------------------------
def notebook_image(path: Path, fixed_height: bool) -> Image.Image:
    with Image.open(path) as opened:
        img = opened.convert("RGB")  # a full decode, as the notebook's Image.open did
    if fixed_height:  # img_resize_fixed_aspect: a bare resize, Pillow's default filter
        img = img.resize((int(img.width * 256 / img.height), 256))
    return img


def notebook_composite(paths: list[Path], fixed_height: bool) -> tuple[bytes, Image.Image,
                                                                       list[int]]:
    """attach_img: top-aligned on a black canvas; saved with Pillow's default JPEG settings."""
    imgs = [notebook_image(p, fixed_height) for p in paths]
    canvas = Image.new("RGB", (sum(i.width for i in imgs), max(i.height for i in imgs)))
    x, starts = 0, []
    for im in imgs:
        canvas.paste(im, (x, 0))
        starts.append(x)
        x += im.width
    buf = io.BytesIO()
    canvas.save(buf, "JPEG")
    return buf.getvalue(), canvas, starts


def locate_which_img(x: float, starts: list[int], width: int) -> int:
    """The image whose column holds x."""
    edges = [*starts[1:], width]
    return next(i for i, e in enumerate(edges) if x < e)


# ---- fast checks -----------------------------------------------------------------------------
@pytest.mark.parametrize("name", PAPER)
def test_every_paper_config_uses_the_study_steps(name: str) -> None:
    cfg = compose_config([f"experiment={name}"]).compare
    assert (cfg.layout.size_rounding, cfg.layout.resample, cfg.layout.align) == (
        "floor", "bicubic", "start")
    assert cfg.layout.pad_color == [0, 0, 0] and cfg.layout.padding == 0
    assert cfg.jpeg_roundtrip is True and cfg.jpeg_quality == 75


def test_defaults_stay_cropaudits_own_rules() -> None:
    cfg = compose_config(["compare=pairwise"]).compare
    assert (cfg.layout.size_rounding, cfg.layout.resample, cfg.jpeg_roundtrip) == (
        "round", "lanczos", False)


def test_quality_75_is_pillows_default_jpeg_byte_for_byte() -> None:
    pixels = (np.random.default_rng(3).random((90, 130, 3)) * 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "JPEG")
    assert _encode_jpeg(pixels, 75) == buf.getvalue()
    assert _encode_jpeg(pixels, 95) != buf.getvalue()


def test_bicubic_is_what_a_bare_pillow_resize_does() -> None:
    img = Image.fromarray((np.random.default_rng(1).random((50, 70, 3)) * 255).astype(np.uint8))
    bare = np.asarray(img.resize((33, 21)))
    assert np.array_equal(bare, np.asarray(img.resize((33, 21), Image.Resampling.BICUBIC)))
    assert not np.array_equal(bare, np.asarray(img.resize((33, 21), Image.Resampling.LANCZOS)))


def test_study_slot_counts_the_fill_under_a_shorter_image() -> None:
    boxes = [Box(0, 0, 64, 32), Box(64, 0, 64, 128)]
    assert (slot_of(boxes, 10, 100), study_slot(boxes, 10, 100)) == (-1, 0)
    assert study_slot(boxes, 64, 100) == 1 and study_slot(boxes, 128, 0) == -1
    padded = [Box(2, 2, 10, 10), Box(14, 2, 10, 10)]
    assert study_slot(padded, 12.5, 5) == -1 and study_slot(padded, 0, 5) == -1
    stacked = [Box(0, 0, 10, 10), Box(0, 10, 30, 10)]
    assert study_slot(stacked, 25, 5, "vertical") == 0 and slot_of(stacked, 25, 5) == -1


def test_records_hold_both_outcomes_and_the_table_sets_them_side_by_side(tmp_path) -> None:
    # A short image beside a tall one; the model's point is bottom-left: on the fill under the
    # short image. cropaudit says background, the study gives the trial to the short image.
    paths = {"short": _write(tmp_path / "s.png", 64, 32, 100),
             "tall": _write(tmp_path / "t.png", 64, 128, 100)}
    config = CompareConfig()
    jobs = plan_pairwise({"s": ["short"], "t": ["tall"]}, n_trials=3, baseline_trials=0, seed=0)
    frames = run_jobs(jobs, store=ImageStore(paths, config.layout),
                      model=PreferBottomLeft(device="cpu"), config=config, progress=False)
    records = pd.concat(frames, ignore_index=True)
    validate_records(records, kway=False)
    left_short = records["position_a"] == "left"  # A is group s, the short image
    assert (records["outcome"][left_short] == "background").all()
    assert (records["outcome_study"][left_short] == "a").all()
    # with the tall image on the left, the point is on it under both rules
    assert (records.loc[~left_short, ["outcome", "outcome_study"]] == "b").all().all()
    table = study_vs_cropaudit(records)
    row = table.iloc[0]
    assert (row.n_cropaudit, row.wins_a_cropaudit, row.n_background_cropaudit) == (3, 0, 3)
    assert (row.n_study, row.wins_a_study, row.n_background_study) == (6, 3, 0)
    assert row.rate_study == 0.5 and row.rate_diff == 0.5 and row.n_moved == 3
    assert study_records(records)["a_wins"].notna().all()


# ---- real photos, with FastGaze --------------------------------------------------------------
def _golden_pairs(golden_dir: Path) -> list[tuple[Path, Path]]:
    small = []
    for path in sorted(golden_dir.glob("*.jp*g")):
        with Image.open(path) as im:
            if max(im.size) <= 1600:
                small.append(path)
    small = small[:24]
    assert len(small) == 24
    return list(zip(small[0::2], small[1::2], strict=True))


@pytest.mark.slow
def test_paper_composites_match_the_notebook_on_real_photos(golden_dir, weights_path) -> None:
    """12 photo pairs x 2 settings: same composite pixels, JPEG bytes, size and salient point."""
    from audit.model.fastgaze import FastGaze

    model = FastGaze(weights=weights_path, device="cpu")
    pairs = _golden_pairs(golden_dir)
    paths = {p.stem: str(p) for pair in pairs for p in pair}
    jobs = [Job(trial=i, order=0, design="pairwise", trial_seed=i, groups=("l", "r"),
                images=(a.stem, b.stem)) for i, (a, b) in enumerate(pairs)]
    truncated = 0
    for scaling in ("none", "fixed_height"):
        config = CompareConfig(layout=_study_layout(scaling), jpeg_roundtrip=True,
                               jpeg_quality=75)
        store = ImageStore(paths, config.layout)
        records = pd.concat(run_jobs(jobs, store=store, model=model, config=config,
                                     progress=False), ignore_index=True)
        old = ImageStore(paths, LayoutConfig(scaling=scaling))
        for job, rec in zip(jobs, records.itertuples(), strict=True):
            data, canvas, starts = notebook_composite([Path(paths[i]) for i in job.images],
                                                      scaling == "fixed_height")
            ours = build_composite(job, store, config)
            assert np.array_equal(ours.pixels, np.asarray(canvas)), (scaling, job.images)
            assert _encode_jpeg(ours.pixels, config.jpeg_quality) == data
            smap = model.predict([prepare_file(data, box=model.box)])[0]
            point = salient_point(smap)
            assert (rec.composite_w, rec.composite_h) == canvas.size
            assert (rec.point_x, rec.point_y) == (point.x, point.y), (scaling, job.images)
            study = locate_which_img(point.x, starts, canvas.width)
            assert rec.outcome_study == ("a", "b")[study]
            if scaling == "fixed_height":
                with Image.open(paths[job.images[0]]) as im:
                    w, h = im.size
                rounded = scaled_size(w, h, scaling=scaling, fixed_height=256, max_side=0)
                truncated += rounded[0] != int(w * 256 / h)
                # the old rules (round, Lanczos) give other pixels: this test can fail
                assert not np.array_equal(build_composite(job, old, CompareConfig(
                    layout=old.layout)).pixels, np.asarray(canvas))
    assert truncated >= 1  # the truncation case is among the pairs


def test_kway_study_table_counts_fill_points_for_the_image_above() -> None:
    # 4 composites of 3 slots; two points fall on the fill (cropaudit: background) under the
    # image in slot 0 (group x) and slot 2 (group z); the study gives them to x and z.
    groups = [["x", "y", "z"]] * 4
    records = pd.DataFrame({
        "k": 3, "groups": groups,
        "outcome": ["win", "win", "background", "background"],
        "winner_group": ["x", "y", None, None],
        "winner_slot": pd.array([0, 1, None, None], dtype="Int64"),
        "outcome_study": ["win"] * 4, "winner_group_study": ["x", "y", "x", "z"],
    })
    table = study_vs_cropaudit_kway(records).set_index(["by", "level"])
    x = table.loc[("group", "x")]
    assert (x.n_cropaudit, x.wins_cropaudit, x.n_background_cropaudit) == (2, 1, 2)
    assert (x.n_study, x.wins_study, x.n_background_study) == (4, 2, 0)
    assert x.share_study == 0.5 and x.share_diff == 0.0
    z = table.loc[("group", "z")]
    assert (z.wins_cropaudit, z.wins_study, z.share_study) == (0, 1, 0.25)
    slots = table.loc["slot"]
    assert slots["wins_study"].tolist() == [2, 1, 1]


FAKE_PROGRAM = '''
import hashlib, math, pathlib, sys
import numpy as np
from PIL import Image
image = pathlib.Path(sys.argv[2])
pathlib.Path(sys.argv[3]).write_text(hashlib.sha256(image.read_bytes()).hexdigest())
w, h = Image.open(image).size
s = min(np.float32(320) / np.float32(w), np.float32(320) / np.float32(h))
rw, rh = int(np.floor(s * w + 0.5)), int(np.floor(s * h + 0.5))
for _ in range(4):
    rw, rh = -(-rw // 2), -(-rh // 2)
print("0 0")
for r in range(rh):
    for c in range(rw):
        print(16 * c + 8, 16 * r + 8, -(r + c))  # the top-left cell wins
'''


def test_an_external_program_reads_the_saved_jpeg_composite(tmp_path) -> None:
    import hashlib
    import stat
    import sys

    from audit.model.external import ExternalProgram

    program = tmp_path / "fake_crops"
    program.write_text(f"#!{sys.executable}\n{FAKE_PROGRAM}")
    program.chmod(program.stat().st_mode | stat.S_IXUSR)
    seen = tmp_path / "seen.txt"
    model = ExternalProgram(command=[str(program), "m.vxm", "{image}", str(seen),
                                     "show_all_points"])
    paths = {"a": _write(tmp_path / "a.png", 40, 30, 90), "b": _write(tmp_path / "b.png", 30, 50,
                                                                      160)}
    config = CompareConfig(layout=_study_layout("none"), jpeg_roundtrip=True, jpeg_quality=75)
    store = ImageStore(paths, config.layout)
    job = Job(trial=0, order=0, design="pairwise", trial_seed=0, groups=("x", "y"),
              images=("a", "b"))
    records = pd.concat(run_jobs([job], store=store, model=model, config=config,
                                 progress=False), ignore_index=True)
    assert records.loc[0, "outcome"] == "a" and records.loc[0, "error"] is None
    sent = _encode_jpeg(build_composite(job, store, config).pixels, 75)
    assert seen.read_text() == hashlib.sha256(sent).hexdigest()  # the very bytes saved
