"""FastGaze port against the golden outputs of Twitter's ``candidate_crops`` (44 cases)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from audit.model.base import grid_shape
from audit.model.fastgaze import FastGaze
from audit.model.preprocess import prepare_file

pytestmark = pytest.mark.fidelity
MAX_SCORE_TOL = 0.05


def _cases(golden_dir: Path) -> list[dict]:
    cases = [json.loads(p.read_text()) for p in sorted(golden_dir.glob("*.json"))]
    assert len(cases) == 44, f"expected 44 golden cases in {golden_dir}, found {len(cases)}"
    return cases


@pytest.fixture(scope="module")
def results(golden_dir: Path, fastgaze_model: FastGaze) -> list[tuple[dict, object]]:
    out = []
    for case in _cases(golden_dir):
        prepared = prepare_file(golden_dir / case["input"]["file"])
        out.append((case, prepared, fastgaze_model.predict([prepared])[0]))
    return out


def test_grid_shape_on_all_cases(results) -> None:
    bad = [c["case"] for c, p, m in results
           if m.scores.shape != tuple(c["grid_rows_cols"])
           or grid_shape(p.resized_size) != tuple(c["grid_rows_cols"])
           or list(p.resized_size) != c["resized_wh"]]
    assert bad == []


def test_exact_salient_cell_on_all_cases(results) -> None:
    bad = []
    for case, _, smap in results:
        # np.argmax: first maximum in row-major order, as the program's strictly-greater scan.
        r, c = divmod(int(np.argmax(smap.scores)), smap.scores.shape[1])
        gold = (case["salient_cell"]["row"], case["salient_cell"]["col"])
        if (r, c) != gold:
            bad.append((case["case"], (r, c), gold))
    assert bad == []


def test_max_score_within_tolerance_on_all_cases(results) -> None:
    bad = [(c["case"], float(m.scores.max()), c["approx_max_score"]) for c, _, m in results
           if abs(float(m.scores.max()) - c["approx_max_score"]) > MAX_SCORE_TOL]
    assert bad == []


def test_salient_points_match_the_program_text(results) -> None:
    bad = []
    for case, _, smap in results:
        r, c = divmod(int(np.argmax(smap.scores)), smap.scores.shape[1])
        point = [int(smap.xs[c]), int(smap.ys[r])]
        if point != case["salient_point"]:
            bad.append((case["case"], point, case["salient_point"]))
    assert bad == []


def test_ica_dummy_salient_point(results) -> None:
    case, _, smap = next(x for x in results if x[0]["case"] == "ica_dummy")
    r, c = divmod(int(np.argmax(smap.scores)), smap.scores.shape[1])
    assert (r, c) == (6, 2)
    assert (int(smap.xs[c]), int(smap.ys[r])) == (129, 336)
    # Runner-up from the topK=2 figure: cell (1, 1).
    second = np.argsort(-smap.scores.ravel(), kind="stable")[1]
    assert divmod(int(second), smap.scores.shape[1]) == (1, 1)
