"""external_json against a real cropper program (tests/cropper/fake_cropper.py)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from audit.crop.geometry import Box, Point
from audit.cropper.base import centered_box
from audit.cropper.registry import build_named
from audit.exceptions import ModelError

FAKE = str(Path(__file__).with_name("fake_cropper.py"))
RATIOS = [0.56, 1.0, 2.0]


def _images(n: int = 3) -> list[np.ndarray]:
    sizes = [(120, 80), (64, 100), (90, 90), (200, 50)]
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8) for w, h in sizes[:n]]


def _cropper(mode: str, *args: str, **overrides):
    overrides.setdefault("timeout", 5)
    overrides.setdefault("startup_timeout", 5)
    return build_named("external_json", overrides={
        "command": [sys.executable, FAKE, mode, *args], **overrides})


def _expected(rgb: np.ndarray) -> dict[float, Box]:
    h, w = rgb.shape[:2]
    out = {}
    for r in RATIOS:
        b = centered_box(w, h, r)
        out[r] = Box((w - b.width) // 2, (h - b.height) // 2, b.width, b.height)
    return out


def test_good_program_is_started_once_and_answers_every_image():
    images = _images(4)
    with _cropper("good") as cropper:
        results = cropper.crop_many(images, RATIOS)
        pid = cropper._proc.proc.pid
        again = cropper.crop(images[0], RATIOS)
        assert cropper._proc.proc.pid == pid  # kept running
        tmp = Path(cropper._tmp.name)
        assert list(tmp.iterdir()) == []  # each hand-over file is deleted after its reply
    for rgb, result in zip(images, results, strict=True):
        h, w = rgb.shape[:2]
        assert result.boxes == _expected(rgb)
        assert result.point == Point(w // 2, h // 2)
    assert [r.info["n"] for r in results] == [1, 2, 3, 4]
    assert again.info["n"] == 5
    assert cropper._proc is None and not tmp.exists()  # closed by the context manager


def test_crop_file_sends_the_file_itself(tmp_path):
    rgb = _images(1)[0]
    path = tmp_path / "photo.png"
    Image.fromarray(rgb).save(path)
    with _cropper("good") as cropper:
        result = cropper.crop_file(path, RATIOS)
    assert result.boxes == _expected(rgb)
    assert path.exists()  # the caller's file is never deleted


def test_crashing_program_is_an_error_per_image_with_its_stderr():
    with _cropper("crash", max_restarts=1) as cropper:
        t0 = time.monotonic()
        out = cropper.crop_many(_images(3), RATIOS)
    assert all(isinstance(o, str) for o in out)
    assert "exited with status 3" in out[0] and "cannot load my model" in out[0]
    assert "stopped after 1 restarts" in out[2]  # gave up: fails at once
    assert time.monotonic() - t0 < 10


def test_program_crashing_midway_is_restarted_for_the_next_image():
    images = _images(4)
    with _cropper("crash_after", "2") as cropper:
        out = cropper.crop_many(images, RATIOS)
    assert [isinstance(o, str) for o in out] == [False, False, True, False]
    assert "exited with status 11" in out[2] and "segfault (simulated)" in out[2]
    assert out[3].boxes == _expected(images[3])  # a fresh process answered


def test_hanging_program_times_out_and_never_hangs():
    images = _images(3)
    with _cropper("hang", "2", timeout=0.5, startup_timeout=5, max_restarts=0) as cropper:
        t0 = time.monotonic()
        out = cropper.crop_many(images, RATIOS)
        elapsed = time.monotonic() - t0
    assert out[0].boxes == _expected(images[0])
    assert "no reply within 0.5 s (timeout)" in out[1]
    assert "stopped after 0 restarts" in out[2]
    assert elapsed < 5


def test_a_hung_program_and_its_children_are_killed_as_a_group():
    import re

    with _cropper("hang_child", timeout=0.5, startup_timeout=0.5) as cropper:
        t0 = time.monotonic()
        out = cropper.crop_many(_images(1), RATIOS)[0]
        assert time.monotonic() - t0 < 8
    assert "no reply within 1 s (timeout)" in out
    child = int(re.search(r"child pid (\d+)", out).group(1))
    status = Path(f"/proc/{child}/status")
    if not Path("/proc/self/status").exists():
        pytest.skip("no /proc to inspect the child")
    deadline = time.monotonic() + 5
    while (status.exists() and "State:\tZ" not in status.read_text()
           and time.monotonic() < deadline):
        time.sleep(0.05)
    assert not status.exists() or "State:\tZ" in status.read_text()  # dead (maybe unreaped)


def test_garbage_output_is_an_error_per_image():
    with _cropper("garbage") as cropper:
        out = cropper.crop_many(_images(2), RATIOS)
        assert cropper._proc is not None  # still running: not a crash
    assert all(isinstance(o, str) and "reply is not a JSON object: 'Loading model" in o
               for o in out)


def test_reply_for_the_wrong_request_id_is_an_error():
    with _cropper("wrong_id") as cropper:
        out = cropper.crop_many(_images(2), RATIOS)
    assert "reply is for request id 2, expected 1" in out[0]
    assert "reply is for request id 3, expected 2" in out[1]


def test_late_reply_is_skipped_and_the_next_image_is_answered():
    images = _images(2)
    with _cropper("late") as cropper:
        out = cropper.crop_many(images, RATIOS)
    assert "reply is not a JSON object: 'progress: 100%'" in out[0]
    assert out[1].boxes == _expected(images[1])


@pytest.mark.parametrize(("mode", "message"), [
    ("error", "the program reported an error: quota exceeded"),
    ("outside", "is not inside the"),
    ("fractional", "must be four integers [left, top, width, height], got [0.5,"),
])
def test_bad_replies_are_errors_and_the_program_carries_on(mode, message):
    with _cropper(mode) as cropper:
        out = cropper.crop_many(_images(2), RATIOS)
    assert all(isinstance(o, str) and message in o for o in out)


def test_whole_number_floats_are_accepted():
    images = _images(2)
    with _cropper("floats") as cropper:
        out = cropper.crop_many(images, RATIOS)
    assert [o.boxes for o in out] == [_expected(rgb) for rgb in images]


def test_startup_time_is_allowed_once():
    with _cropper("slow_first", "1", timeout=0.5, startup_timeout=3) as cropper:
        out = cropper.crop_many(_images(2), RATIOS)
    assert not any(isinstance(o, str) for o in out)


def test_noisy_stderr_does_not_block():
    with _cropper("noisy") as cropper:
        out = cropper.crop_many(_images(3) * 10, RATIOS)
    assert not any(isinstance(o, str) for o in out)


def test_configuration_mistakes_are_one_line():
    with pytest.raises(ValueError, match="cropper.command is required"):
        build_named("external_json")
    with pytest.raises(ValueError, match="never a shell string"):
        build_named("external_json", overrides={"command": "python x.py"})
    with pytest.raises(ValueError, match="program 'no-such-cropper' not found"):
        build_named("external_json", overrides={"command": ["no-such-cropper"]})


def test_manifest_records_the_program_and_its_hashes():
    with _cropper("good") as cropper:
        info = cropper.describe()
    assert info["library"] == "external program" and len(info["version"]) == 64
    assert info["settings"]["command"][1:] == [FAKE, "good"]
    assert len(info["settings"]["argument_sha256"][FAKE]) == 64


def test_a_bad_image_is_refused_before_the_program_sees_it():
    with _cropper("good") as cropper:
        with pytest.raises(ValueError, match="expected a uint8"):
            cropper.crop(np.zeros((4, 4), np.uint8), RATIOS)
        assert cropper._proc is None  # never started for nothing


def test_model_error_is_raised_by_crop():
    with _cropper("error") as cropper, pytest.raises(ModelError, match="quota exceeded"):
        cropper.crop(_images(1)[0], RATIOS)
