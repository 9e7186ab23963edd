"""Every kind of the bad-input corpus, through the real entry points that meet it."""

from __future__ import annotations

import re
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from audit.compare.runner import run_jobs
from audit.compare.sampling import plan_pairwise
from audit.compare.settings import CompareConfig
from audit.compare.store import ImageStore
from audit.data import DataConfig, load_people
from audit.data import images as images_module
from audit.data.images import load_image
from audit.exceptions import AuditDataWarning, ImageError
from audit.model.luminance import Luminance
from audit.model.preprocess import BOX, fit_size, prepare_file

from .corpus import DECODE, DECODE_ERRORS, FOLDER, bomb_png_bytes


def test_corpus_has_at_least_thirty_kinds() -> None:
    assert len(DECODE) + len(FOLDER) >= 30
    assert set(DECODE_ERRORS) <= set(DECODE)


@pytest.mark.parametrize("kind", sorted(DECODE))
def test_load_image(kind: str, tmp_path: Path) -> None:
    case = DECODE[kind](tmp_path)
    if case.error is not None:
        with pytest.raises(ImageError, match=case.error):
            load_image(case.path)
        return
    out = load_image(case.path)
    assert out.dtype == np.uint8 and out.shape == (*case.shape, 3)
    if case.expected is not None:
        diff = np.abs(out.astype(int) - case.expected.astype(int)).max()
        assert diff <= case.atol, f"{kind}: max pixel difference {diff} > {case.atol}"


@pytest.mark.parametrize("kind", sorted(DECODE))
def test_prepare_file(kind: str, tmp_path: Path) -> None:
    case = DECODE[kind](tmp_path)
    if case.error is not None:
        with pytest.raises(ImageError, match=case.error):
            prepare_file(case.path)
        return
    prepared = prepare_file(case.path)
    height, width = case.shape
    assert prepared.size == (width, height)  # display orientation
    assert prepared.resized_size == fit_size(width, height, BOX)
    assert prepared.pixels.dtype == np.uint8


def test_bomb_is_refused_before_any_pixel_is_decoded(tmp_path: Path) -> None:
    path = tmp_path / "bomb.png"
    path.write_bytes(bomb_png_bytes(30_000, 30_000))  # 900 Mpx, 2.7 GB if decoded
    start = time.perf_counter()
    with pytest.raises(ImageError, match="decompression-bomb guard"):
        load_image(path)
    assert time.perf_counter() - start < 0.5
    assert path.stat().st_size < 2000


def test_bomb_guard_does_not_leave_pillow_guard_switched_off(tmp_path: Path) -> None:
    before = Image.MAX_IMAGE_PIXELS
    path = tmp_path / "bomb.png"
    path.write_bytes(bomb_png_bytes())
    with pytest.raises(ImageError):
        load_image(path)
    assert Image.MAX_IMAGE_PIXELS == before and before is not None


def test_file_larger_than_max_file_bytes_is_refused_unread(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "big.png"
    Image.new("RGB", (64, 64), (1, 2, 3)).save(path)
    monkeypatch.setattr(images_module, "MAX_FILE_BYTES", 100)
    size = path.stat().st_size
    with pytest.raises(ImageError, match=re.escape(
            f"{path}: file is {size} bytes, more than MAX_FILE_BYTES=100")):
        load_image(path)
    with open(path, "rb") as fh, pytest.raises(ImageError, match=r"is >100 bytes"):
        load_image(fh)


# ----------------------------------------------------------------------------- folder datasets
@pytest.mark.parametrize("kind", sorted(FOLDER))
def test_folder_dataset(kind: str, tmp_path: Path) -> None:
    case = FOLDER[kind](tmp_path)
    config = DataConfig(source="folder", folder=str(case.folder), csv=str(case.csv),
                        group_by=case.group_by, min_group_size=case.min_group_size)
    if case.error is not None:
        with pytest.raises(case.error) as info:
            load_people(config, root=tmp_path, seed=0)
        assert str(info.value) == case.message
        return
    if case.warns:
        with pytest.warns(AuditDataWarning, match=case.message):
            people = load_people(config, root=tmp_path, seed=0)
    else:
        people = load_people(config, root=tmp_path, seed=0)
    assert people.table["id"].tolist() == case.ids
    assert people.table["group"].tolist() == case.groups
    base = case.folder.resolve()
    for path in people.table["image_path"]:
        assert Path(path).is_file() and Path(path).resolve().is_relative_to(base)


def test_relative_folder_paths_resolve_against_root(tmp_path: Path) -> None:
    case = FOLDER["unicode_and_spaces_in_names"](tmp_path)
    config = DataConfig(source="folder", folder="images", csv="labels.csv", group_by=["race"],
                        min_group_size=1)
    people = load_people(config, root=tmp_path, seed=0)
    assert people.table["id"].tolist() == case.ids
    assert people.provenance["folder"] == str(tmp_path / "images")


# ----------------------------------------------------------------------------- trial runner
def _solid(path: Path, value: int) -> str:
    Image.fromarray(np.full((40, 30, 3), value, np.uint8)).save(path)
    return str(path)


@pytest.mark.parametrize("kind", DECODE_ERRORS)
def test_runner_records_unreadable_image_as_error_naming_the_file(kind: str,
                                                                   tmp_path: Path) -> None:
    case = DECODE[kind](tmp_path)
    paths = {f"b{i}": _solid(tmp_path / f"b{i}.png", 220) for i in range(2)}
    paths |= {"d0": _solid(tmp_path / "d0.png", 40), "bad": str(case.path)}
    members = {"bright": ["b0", "b1"], "dark": ["d0", "bad"]}
    config = CompareConfig(chunk_size=5)
    jobs = plan_pairwise(members, n_trials=6, baseline_trials=2, seed=1)
    frames = run_jobs(jobs, store=ImageStore(paths, config.layout), model=Luminance(device="cpu"),
                      config=config, progress=False)
    records = pd.concat(frames, ignore_index=True)
    assert len(records) == len(jobs)  # one record per planned composite: nothing redrawn
    # the planned images are the recorded ones, in order
    assert [(r.image_a, r.image_b) for r in records.itertuples()] == [
        (j.images[j.a_slot], j.images[1 - j.a_slot]) for j in jobs]
    uses_bad = (records.image_a == "bad") | (records.image_b == "bad")
    assert uses_bad.sum() > 0
    hit = records[uses_bad]
    assert (hit.outcome == "error").all() and hit.a_wins.isna().all()
    assert hit.error.map(lambda e: str(case.path) in e).all()
    assert hit.error.str.startswith("ImageError: ").all()
    assert (records[~uses_bad].outcome != "error").all()


def test_ascii_exif_orientation_is_ignored_with_a_warning(tmp_path: Path, caplog) -> None:
    case = DECODE["exif_orientation_ascii"](tmp_path)
    with caplog.at_level("WARNING", logger="audit.data.images"):
        out = load_image(case.path)
    assert out.shape == (16, 32, 3)  # stored orientation, as Pillow's exif_transpose leaves it
    assert [r.getMessage() for r in caplog.records] == [
        f"{case.path}: EXIF orientation stored as str '6', not an integer; ignored (as Pillow "
        "does)"]
