from __future__ import annotations

import json
import stat
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from audit.crop.candidate import candidate_crops
from audit.crop.geometry import Point
from audit.exceptions import ModelError
from audit.model.base import grid_coordinates, grid_shape
from audit.model.external import ExternalProgram, parse_program_output
from audit.model.preprocess import Prepared, fit_size

IMAGE_SIZE = (100, 50)  # (W, H): resized to 320x160, a 10x20 grid


def _expected_grid() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    resized = fit_size(*IMAGE_SIZE)
    rows, cols = grid_shape(resized)
    xs, ys = grid_coordinates(IMAGE_SIZE, resized, (rows, cols))
    # Exactly representable, distinct scores; the maximum is at (7, 13).
    scores = (np.arange(rows * cols, dtype=np.float32).reshape(rows, cols) % 37) * 0.25 - 3
    scores[7, 13] = 42.5
    return scores, xs.astype(int), ys.astype(int)


def _program_text() -> str:
    scores, xs, ys = _expected_grid()
    lines = [f"{xs[13]} {ys[7]}", "0 0 50 50", "0 0 100 50"]
    lines += [f"{x} {y} {scores[r, c]:g}" for r, y in enumerate(ys) for c, x in enumerate(xs)]
    return "\n".join(lines) + "\n"


def _fake(tmp_path: Path, body: str, name: str = "fake_crops") -> Path:
    path = tmp_path / name
    path.write_text(f"#!{sys.executable}\n" + textwrap.dedent(body))
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.fixture
def image_path(tmp_path: Path) -> Path:
    path = tmp_path / "img.png"
    Image.fromarray(np.full((IMAGE_SIZE[1], IMAGE_SIZE[0], 3), 90, np.uint8)).save(path)
    return path


@pytest.fixture
def good_program(tmp_path: Path) -> Path:
    out = tmp_path / "expected.txt"
    out.write_text(_program_text())
    return _fake(tmp_path, f"""
        import json, pathlib, sys
        pathlib.Path({str(tmp_path / "argv.json")!r}).write_text(json.dumps(sys.argv[1:]))
        image = pathlib.Path(sys.argv[2])
        if not image.is_file():
            sys.exit("no such image: " + str(image))
        pathlib.Path({str(tmp_path / "head.bin")!r}).write_bytes(image.read_bytes()[:8])
        print("showAllPoints=1", file=sys.stderr)
        sys.stdout.write(pathlib.Path({str(out)!r}).read_text())
    """)


def _model(program: Path, **kw) -> ExternalProgram:
    return ExternalProgram(command=[str(program), "model.vxm", "{image}", "show_all_points"],
                           **kw)


def test_external_parses_the_program_grid_exactly(good_program, image_path, tmp_path) -> None:
    smap = _model(good_program).predict_file(image_path)
    scores, xs, ys = _expected_grid()
    assert smap.scores.shape == (10, 20)
    np.testing.assert_array_equal(smap.scores, scores)
    np.testing.assert_array_equal(smap.xs, xs.astype(np.float32))
    np.testing.assert_array_equal(smap.ys, ys.astype(np.float32))
    assert smap.image_size == IMAGE_SIZE and smap.resized_size == (320, 160)
    # The argument list is the template with {image} replaced, nothing else.
    assert json.loads((tmp_path / "argv.json").read_text()) == [
        "model.vxm", str(image_path), "show_all_points"]


def test_external_in_candidate_crops_gives_the_program_point(good_program, image_path) -> None:
    result = candidate_crops(image_path, _model(good_program), [1.0])
    _, xs, ys = _expected_grid()
    assert result.point == Point(int(xs[13]), int(ys[7]))


def test_external_predict_array_sends_a_png(good_program, tmp_path) -> None:
    rgb = np.full((IMAGE_SIZE[1], IMAGE_SIZE[0], 3), 10, np.uint8)
    smap = _model(good_program).predict_array(rgb)
    assert (tmp_path / "head.bin").read_bytes() == b"\x89PNG\r\n\x1a\n"
    assert smap.scores[7, 13] == 42.5


def test_external_predict_array_can_send_a_jpeg(good_program, tmp_path) -> None:
    rgb = np.full((IMAGE_SIZE[1], IMAGE_SIZE[0], 3), 10, np.uint8)
    _model(good_program, image_format="jpeg").predict_array(rgb)
    assert (tmp_path / "head.bin").read_bytes()[:3] == b"\xff\xd8\xff"


def test_external_refuses_prepared_tensors(good_program) -> None:
    with pytest.raises(ModelError, match="Call predict_file"):
        _model(good_program).predict([Prepared(np.zeros((16, 16, 3), np.uint8), (16, 16))])


def test_external_reports_non_zero_exit_with_stderr(tmp_path, image_path) -> None:
    prog = _fake(tmp_path, """
        import sys
        print("loading model", file=sys.stderr)
        print("fatal: cannot read model.vxm", file=sys.stderr)
        sys.exit(1)
    """)
    with pytest.raises(ModelError) as info:
        _model(prog).predict_file(image_path)
    msg = str(info.value)
    assert "exited with status 1" in msg
    assert str(image_path) in msg
    assert msg.endswith("stderr: loading model | fatal: cannot read model.vxm")


def test_external_reports_timeout(tmp_path, image_path) -> None:
    prog = _fake(tmp_path, """
        import sys, time
        print("started", file=sys.stderr, flush=True)
        time.sleep(30)
    """)
    with pytest.raises(ModelError, match="timed out after 0.5 s") as info:
        _model(prog, timeout=0.5).predict_file(image_path)
    assert str(image_path) in str(info.value)


def test_external_reports_garbage_output(tmp_path, image_path) -> None:
    prog = _fake(tmp_path, """
        print("hello world, this is not a crop")
    """)
    with pytest.raises(ModelError, match="could not parse") as info:
        _model(prog).predict_file(image_path)
    assert str(image_path) in str(info.value)
    assert "line 1 should be 'x y'" in str(info.value)


def test_external_reports_missing_cells(tmp_path, image_path) -> None:
    text = "".join(_program_text().splitlines(keepends=True)[:-1])
    prog = _fake(tmp_path, f"""
        import sys
        sys.stdout.write({text!r})
    """)
    with pytest.raises(ModelError, match=r"199 cell lines, expected 10x20=200"):
        _model(prog).predict_file(image_path)


def test_external_reports_missing_program(tmp_path, image_path) -> None:
    missing = tmp_path / "no_such_program"
    with pytest.raises(ModelError, match="could not be started") as info:
        _model(missing).predict_file(image_path)
    assert str(image_path) in str(info.value)
    assert str(missing) in str(info.value)


def test_parse_rejects_shuffled_coordinates() -> None:
    lines = _program_text().splitlines()
    lines[3], lines[4] = lines[4], lines[3]  # swap the first two cells of row 0
    with pytest.raises(ValueError, match="row-major grid"):
        parse_program_output("\n".join(lines), IMAGE_SIZE, (320, 160))


@pytest.mark.parametrize(
    ("command", "match"),
    [
        (["prog", "image.jpg", "show_all_points"], r"containing \{image\}"),
        ("prog {image} show_all_points", r"containing \{image\}"),
        ([], r"containing \{image\}"),
        (["prog", "{image}"], "must pass 'show_all_points'"),
    ],
)
def test_external_validates_the_command_template(command, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ExternalProgram(command=command)


def test_external_yaml_needs_a_command_and_builds_with_one(good_program) -> None:
    from hydra.utils import instantiate
    from omegaconf import OmegaConf
    from omegaconf.errors import MissingMandatoryValue

    conf = OmegaConf.load(Path(__file__).resolve().parents[2] / "conf" / "model" / "external.yaml")
    with pytest.raises(MissingMandatoryValue):
        instantiate(conf)
    conf.command = [str(good_program), "m.vxm", "{image}", "show_all_points"]
    model = instantiate(conf)
    assert isinstance(model, ExternalProgram)
    assert model.command[2] == "{image}" and model.timeout == 60
