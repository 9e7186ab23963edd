"""A real experiment=croppers run: point croppers' records, a quiet log, and its re-analysis."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from audit import analyse

from .test_pipeline import run

CROPPERS = "compare.croppers=[fastgaze,vips_attention,vips_entropy,face_center,center]"
TONES = "data.synthetic.tones=[mst01,mst05,mst10]"
N_CROSS = 3 * 4 * 2  # smoke: 3 pairs of tones x 4 portraits x 2 orders


class _Collect(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record):
        self.records.append(record)


@pytest.fixture(scope="module")
def croppers_run(tmp_path_factory):
    # what Hydra's run.log sees: a root handler at INFO
    tmp = tmp_path_factory.mktemp("croppers")
    root = logging.getLogger()
    handler, level = _Collect(), root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        result, _ = run(tmp, "out", CROPPERS, TONES, "analysis.regression=false",
                        experiment="croppers")
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    return result, handler.records


def _table(folder, name):
    return pd.read_parquet(folder / "tables" / f"{name}.parquet")


def test_point_croppers_get_records_rows_and_pyvips_stays_out_of_the_log(croppers_run):
    result, logged = croppers_run
    records = pd.read_parquet(result.output_dir / "records.parquet")
    per = records.groupby("cropper").size().to_dict()
    # fastgaze, libvips attention and face_center have a focus point for every composite
    # (the centre too); libvips entropy has none (it reports (0, 0), not a point)
    assert per == {"fastgaze": N_CROSS, "vips_attention": N_CROSS, "face_center": N_CROSS,
                   "center": N_CROSS}
    vips = records[records.cropper == "vips_attention"]
    assert vips.point_x.notna().all() and set(vips.outcome) <= {"a", "b", "background"}
    crops = pd.read_parquet(result.output_dir / "records_crops.parquet")
    assert set(crops.cropper) == {"fastgaze", "vips_attention", "vips_entropy", "face_center",
                                  "center"}
    assert not [r for r in logged if r.name.split(".")[0] == "pyvips"
                and r.levelno < logging.WARNING]
    assert [r for r in logged if r.name.startswith("audit")]  # the handler did see the run


def test_reanalysis_of_a_multi_cropper_run_reproduces_its_tables(croppers_run):
    result, _ = croppers_run
    run_dir = result.output_dir
    assert analyse.main([str(run_dir)]) == 0
    (out,) = (run_dir / "analyses").iterdir()
    for name in ("win_rates", "cropper_win_rates", "cropper_paired", "cropper_outcomes",
                 "cropper_summary", "position"):
        pd.testing.assert_frame_equal(_table(out, name), _table(run_dir, name), obj=name)
    paired = _table(out, "cropper_paired")
    assert set(paired.verdict) <= {"disparity", "parity", "inconclusive"}
    assert set(paired.inference) == {"dyadic"} and paired.family.nunique() == 1
    # the main tables describe the primary cropper, fastgaze, and the report says so
    assert "describe fastgaze" in (out / "report.md").read_text()
    # analysis.inference and n_boot reach the paired differences (seeded: twice the same)
    boot = []
    for _ in range(2):
        before = set((run_dir / "analyses").iterdir())
        assert analyse.main([str(run_dir), "analysis.inference=bootstrap",
                             "analysis.n_boot=60"]) == 0
        (new,) = set((run_dir / "analyses").iterdir()) - before
        boot.append(_table(new, "cropper_paired"))
    pd.testing.assert_frame_equal(boot[0], boot[1])
    assert set(boot[0].inference) == {"bootstrap"} and not boot[0].se.equals(paired.se)
    np.testing.assert_array_equal(boot[0].difference, paired.difference)


def test_records_with_a_cropper_column_are_analysed_per_cropper(croppers_run, tmp_path,
                                                               capsys):
    result, _ = croppers_run
    records = pd.read_parquet(result.output_dir / "records.parquet")
    path = tmp_path / "records.csv"
    records.to_csv(path, index=False)
    assert analyse.main(["--records", str(path), "--out", str(tmp_path / "a")]) == 0
    out = tmp_path / "a"
    mine = _table(out, "cropper_win_rates")
    theirs = _table(result.output_dir, "cropper_win_rates")
    theirs = theirs[theirs.measure == "argmax"].reset_index(drop=True)
    assert list(dict.fromkeys(mine.cropper)) == ["fastgaze", "vips_attention", "face_center",
                                                 "center"]
    cols = ["cropper", "group_a", "group_b", "n", "rate", "se", "ci_low", "ci_high", "verdict"]
    pd.testing.assert_frame_equal(mine[cols], theirs[cols])
    # the single-cropper tables are the first cropper's, as in the run
    rates = _table(out, "win_rates")
    np.testing.assert_allclose(rates["rate"], _table(result.output_dir, "win_rates")["rate"])
    assert "describe fastgaze" in (out / "report.md").read_text()
    # the optional model column may be absent; an empty cropper name is one line
    records.drop(columns="model").to_csv(path, index=False)
    assert analyse.main(["--records", str(path), "--out", str(tmp_path / "b")]) == 0
    pd.testing.assert_frame_equal(_table(tmp_path / "b", "cropper_win_rates"), mine)
    records.assign(cropper=records.cropper.where(records.index > 0)).to_csv(path, index=False)
    assert analyse.main(["--records", str(path), "--out", str(tmp_path / "c")]) == 1
    assert "column 'cropper' has empty values" in capsys.readouterr().err


def test_point_croppers_declare_it_so_their_failures_are_records_rows_too(tmp_path):
    from audit.compare.runner import has_point
    from audit.cropper.registry import build_named, register_cropper, unregister_cropper
    from audit.cropper.vips import VipsCropper
    from audit.exceptions import ModelError

    assert has_point(build_named("vips_attention")) and has_point(build_named("face_center"))
    assert not has_point(build_named("vips_entropy"))

    class Flaky(VipsCropper):
        calls = 0

        def crop(self, rgb, aspect_ratios):
            Flaky.calls += 1
            if Flaky.calls % 2:
                raise ModelError("flaky: planted failure")
            return super().crop(rgb, aspect_ratios)

    register_cropper("flaky", lambda **_: Flaky(name="flaky"))
    try:
        result, _ = run(tmp_path, "out", "compare.croppers=[flaky]", TONES,
                        "analysis.regression=false", experiment="croppers")
    finally:
        unregister_cropper("flaky")
    records = pd.read_parquet(result.output_dir / "records.parquet")
    crops = pd.read_parquet(result.output_dir / "records_crops.parquet")
    # every composite has a records row, the failed ones with outcome error
    assert len(records) == N_CROSS and set(records.cropper) == {"flaky"}
    n_failed = int((crops.crop_outcome == "error").sum()) // crops.aspect_ratio.nunique()
    assert 0 < n_failed < N_CROSS and (records.outcome == "error").sum() == n_failed
