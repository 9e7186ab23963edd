from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from audit.crop.__main__ import run
from audit.exceptions import WeightsError

WEIGHTS = os.environ.get("AUDIT_FASTGAZE_WEIGHTS")
REFERENCE = os.environ.get("AUDIT_REFERENCE_DIR")
needs_fastgaze = pytest.mark.skipif(
    not (WEIGHTS and REFERENCE),
    reason="set AUDIT_FASTGAZE_WEIGHTS (fastgaze.vxm) and AUDIT_REFERENCE_DIR (holding "
           "dummy.jpeg) to run the FastGaze CLI checks",
)


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    img = np.full((120, 200, 3), 50, np.uint8)
    img[20:40, 140:160] = 240  # resized 224..255 x 32..63: first brightest cell (2, 14)
    path = tmp_path / "photo.png"
    Image.fromarray(img).save(path)
    return path


@needs_fastgaze
def test_cli_on_twitter_dummy_prints_129_336() -> None:
    dummy = Path(REFERENCE) / "dummy.jpeg"
    done = subprocess.run(
        [sys.executable, "-m", "audit.crop", str(dummy), "show_all_points", "--model", "fastgaze"],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "129 336"
    assert len(lines) == 1 + 5 + 17 * 20  # point, 5 default crops, one line per grid cell
    # Crops of the dummy (1034x851) around (129, 336): 0.56, 1.0, 1.14, 2.0, H/W.
    assert lines[1:6] == ["0 47 1034 579", "0 0 851 851", "0 0 746 851", "0 0 426 851",
                          "0 0 1034 851"]
    # Cells print as float32 in %g: f = min(1034/320, 851/263) = 3.23125, 8 f = 25.85.
    assert lines[6].split()[:2] == ["25.85", "25.85"]
    best = max(lines[6:], key=lambda ln: float(ln.split()[2]))
    # Cell (6, 2): (40 f, 104 f) = (129.25, 336.05); the program's line 1 truncates it.
    assert best.split()[:2] == ["129.25", "336.05"]
    assert float(best.split()[2]) == pytest.approx(1.32, abs=0.05)
    assert done.stderr.strip().splitlines()[-1] == "showAllPoints=1"


def test_cli_prints_the_program_format(photo: Path, capsys) -> None:
    assert run([str(photo), "show_all_points", "1.0", "2", "--model", "luminance"]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    # f = 200/320 = 0.625; cell (2, 14) -> (int)(232 * 0.625), (int)(40 * 0.625) = 145, 25.
    assert lines[0] == "145 25"
    # 1.0: 120 wide around 145 is clamped to the right edge; 2: 60 wide, 145 - 30 = 115.
    assert lines[1:3] == ["80 0 120 120", "115 0 60 120"]
    assert len(lines) == 3 + 12 * 20
    assert lines[3] == "5 5 50"
    assert err == "showAllPoints=1\n"


def test_cli_without_show_all_points_prints_point_and_default_crops(photo: Path, capsys) -> None:
    assert run([str(photo), "--model", "luminance"]) == 0
    out, err = capsys.readouterr()
    # 0.56: r = 0.6 > 0.56 -> h = lroundf(112.0), clamped to the top; 1.14: w = lroundf(105.26).
    assert out.splitlines() == ["145 25", "0 0 200 112", "80 0 120 120", "93 0 105 120",
                                "115 0 60 120", "0 0 200 120"]
    assert err == "showAllPoints=0\n"


def test_cli_plot_writes_a_png(photo: Path, tmp_path: Path, capsys) -> None:
    out_png = tmp_path / "figs" / "crops.png"
    assert run([str(photo), "--model", "center_bias", "--plot", str(out_png)]) == 0
    data = out_png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["{missing}"], "image file not found"),
        (["{photo}", "abc"], "bad aspect ratio 'abc'"),
        (["{photo}", "show_all_points", "0"], "bad aspect ratio '0'"),
        (["{photo}", "nan"], "bad aspect ratio 'nan'"),
        (["{photo}", "1e-300"], "aspect ratio '1e-300' lies outside [0.0001, 10000]"),
        (["{photo}", "show_all_points", "1e5"], "aspect ratio '1e5' lies outside"),
        (["{garbage}"], "garbage.jpg"),
        (["{photo}", "--model", "fastgaze", "--weights", "{missing}"], "does not exist"),
    ],
)
def test_cli_errors_are_one_stderr_line_and_exit_1(
    args: list[str], needle: str, photo: Path, tmp_path: Path, capsys
) -> None:
    garbage = tmp_path / "garbage.jpg"
    garbage.write_bytes(b"\xff\xd8\xff\xe0 definitely not a jpeg")
    paths = {"missing": tmp_path / "nope.jpg", "photo": photo, "garbage": garbage}
    argv = [a.format(**paths) for a in args]
    if "--model" not in argv:
        argv += ["--model", "luminance"]
    assert run(argv) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("python -m audit.crop: error: ")
    assert needle in err


def test_cli_error_exit_code_in_a_subprocess(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "audit.crop", str(tmp_path / "nope.png"), "--model", "luminance"],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        f"python -m audit.crop: error: image file not found: {tmp_path / 'nope.png'}"]


def test_cli_falls_back_to_spectral_residual_without_weights(
    photo: Path, monkeypatch, capsys, caplog
) -> None:
    def no_weights(explicit=None):
        raise WeightsError("FastGaze weights not found")

    monkeypatch.setattr("audit.model.weights.resolve_weights", no_weights)
    assert run([str(photo)]) == 0
    out, _ = capsys.readouterr()
    assert len(out.splitlines()) == 6
    assert "using spectral_residual instead" in caplog.text


def test_cli_explicit_fastgaze_without_weights_fails(photo: Path, monkeypatch, capsys) -> None:
    def no_weights(explicit=None):
        raise WeightsError("FastGaze weights not found")

    monkeypatch.setattr("audit.model.weights.resolve_weights", no_weights)
    assert run([str(photo), "--model", "fastgaze"]) == 1
    _, err = capsys.readouterr()
    assert err == "python -m audit.crop: error: FastGaze weights not found\n"
