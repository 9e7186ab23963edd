"""``show_all_points`` prints cell positions as the program does: float32 in ``%g`` (issue 12 §2).

Known values: ``docs/fastgaze.md`` §4-5 (``25.5949 25.5949`` for a 1024x995 image, halt_03) and
the golden cases, whose ``NAME.txt`` holds the program's first line (the salient point, ints)
and whose ``NAME.json`` names the salient cell: the printed cell position must truncate to it.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from audit.crop.candidate import CropResult, format_program_output, place_crops
from audit.model.base import SaliencyMap, grid_shape
from audit.model.preprocess import fit_size


def _result(width: int, height: int, cell: tuple[int, int]) -> CropResult:
    resized = fit_size(width, height, 320)
    scores = np.zeros(grid_shape(resized), dtype=np.float32)
    scores[cell] = 1.5
    smap = SaliencyMap.from_scores(scores, (width, height), resized)
    point, crops = place_crops(smap, symmetric=False, aspect_ratios=[1.0])
    return CropResult(point=point, crops=crops, symmetric=False, smap=smap)


def test_halt_03_size_prints_the_documented_first_cell() -> None:
    lines = format_program_output(_result(1024, 995, (16, 3)), show_all_points=True).splitlines()
    assert lines[2] == "25.5949 25.5949 0"
    assert lines[0] == "179 844"  # the golden halt_03.txt
    # the salient cell's line: f = 995/311 = 3.19936 (float32), (56 f, 264 f), truncating to it
    assert lines[2 + 16 * 20 + 3] == "179.164 844.63 1.5"


@pytest.mark.parametrize(("size", "first", "last"), [
    ((1034, 851), "25.85 25.85", "1008.15 846.588"),  # Twitter's dummy.jpeg
    ((200, 120), "5 5", "195 115"),  # whole numbers print without a decimal point
    ((583, 3000), "75 75", "525 2925"),
])
def test_grid_positions_print_with_six_significant_digits(size, first, last) -> None:
    rows, cols = grid_shape(fit_size(*size, 320))
    lines = format_program_output(_result(*size, (0, 0)), show_all_points=True).splitlines()
    cells = lines[2:]
    assert len(cells) == rows * cols
    assert " ".join(cells[0].split()[:2]) == first
    assert " ".join(cells[-1].split()[:2]) == last


def test_every_golden_point_is_its_printed_cell_truncated(golden_dir) -> None:
    cases = sorted(golden_dir.glob("*.json"))
    assert len(cases) == 44
    fractional = 0
    for path in cases:
        case = json.loads(path.read_text())
        width, height = case["input"]["width"], case["input"]["height"]
        cell = (case["salient_cell"]["row"], case["salient_cell"]["col"])
        text = format_program_output(_result(width, height, cell), show_all_points=True)
        lines = text.splitlines()
        golden = path.with_suffix(".txt").read_text().split()
        assert lines[0].split() == golden, path.stem
        rows, cols = grid_shape(fit_size(width, height, 320))
        x, y, score = lines[2 + cell[0] * cols + cell[1]].split()
        assert [str(int(float(x))), str(int(float(y)))] == golden and score == "1.5", path.stem
        fractional += "." in x or "." in y
    assert fractional >= 30  # most positions are not whole numbers: ints would lose them
