"""Run folders and run sizes (issue 11 items 2, 6, 11-14): real folders, real runs."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from audit import pipeline
from audit.compare.sampling import plan_all_groups, plan_pairwise
from audit.crop.settings import CropConfig
from audit.io import (
    RUNNING,
    OutputError,
    RunFolderError,
    claim_run_folder,
    mark_complete,
    project_root,
    require_complete_run,
    resolve_shipped,
    write_json,
    write_table,
)
from audit.model.luminance import Luminance

from tests.conftest import compose_with_yaml


# ---------------------------------------------------------------------- claim / complete
def test_a_run_folder_is_claimed_once_and_complete_only_after_its_manifest(tmp_path):
    run = tmp_path / "run"
    (run / ".hydra").mkdir(parents=True)
    (run / "run.log").write_text("hydra's log\n")  # what Hydra writes before the run starts
    claim_run_folder(run)
    marker = json.loads((run / RUNNING).read_text())
    assert marker["pid"] == os.getpid()
    with pytest.raises(RunFolderError, match=re.escape(
            f"{run} is in use by another run (pid {os.getpid()} on ")):
        claim_run_folder(run)
    with pytest.raises(RunFolderError, match=re.escape(
            f"{run} is an incomplete run (pid {os.getpid()} on ")):
        require_complete_run(run)
    write_table(run / "tables" / "t", pd.DataFrame({"a": [1]}))
    with pytest.raises(RunFolderError, match="manifest.json is missing"):
        mark_complete(run)
    write_json(run / "manifest.json", {"name": "x"})
    mark_complete(run)
    assert not (run / RUNNING).exists() and require_complete_run(run) == run
    with pytest.raises(RunFolderError, match=re.escape(
            f"{run} already holds another run's files (manifest.json, tables); a run never "
            "writes into it")):
        claim_run_folder(run)


def test_folder_without_manifest_is_incomplete(tmp_path):
    (tmp_path / "tables").mkdir()
    with pytest.raises(RunFolderError, match=re.escape(
            f"{tmp_path} is an incomplete run: no manifest.json")):
        require_complete_run(tmp_path)
    with pytest.raises(RunFolderError, match="no such directory"):
        require_complete_run(tmp_path / "nope")


@pytest.mark.parametrize(("mask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_written_files_honour_the_umask(tmp_path, mask, mode):
    old = os.umask(mask)
    try:
        paths = write_table(tmp_path / "t", pd.DataFrame({"a": [1, 2]}))
        paths.append(write_json(tmp_path / "m.json", {"a": 1}))
    finally:
        os.umask(old)
    assert [p.stat().st_mode & 0o777 for p in paths] == [mode] * 3


def test_unwritable_output_is_one_line_naming_the_path(tmp_path):
    (tmp_path / "afile").write_text("x")
    with pytest.raises(OutputError) as info:
        write_table(tmp_path / "afile" / "tables" / "t", pd.DataFrame({"a": [1]}))
    assert str(info.value).startswith(f"cannot write {tmp_path / 'afile' / 'tables' / 't'}")
    assert "\n" not in str(info.value)
    assert list(tmp_path.iterdir()) == [tmp_path / "afile"]  # nothing left behind


# ---------------------------------------------------------------------- one group unreadable
def _folder_dataset(tmp_path: Path) -> list[str]:
    images, rows = tmp_path / "img", ["id,file,race"]
    images.mkdir()
    for i in range(4):
        Image.fromarray(np.full((40, 30, 3), 50 + 40 * i, np.uint8)).save(images / f"a{i}.png")
        (images / f"b{i}.jpg").write_bytes(b"not a jpeg")  # every image of group B unreadable
        rows += [f"a{i},a{i}.png,A", f"b{i},b{i}.jpg,B"]
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    return ["data=folder", f"data.folder={images}", f"data.csv={tmp_path / 'labels.csv'}",
            "data.group_by=[race]", "compare.group_by=[race]"]


@pytest.mark.parametrize(("experiment", "records"), [("pairwise", "records"),
                                                     ("saliency_stats", "images")])
def test_group_with_only_unreadable_images_leaves_outcomes_and_errors(tmp_path, experiment,
                                                                      records):
    settings, _ = compose_with_yaml(tmp_path, *_folder_dataset(tmp_path), experiment=experiment)
    out = tmp_path / "out"
    # pairwise runs also keep what each crop kept (records_crops) before failing
    crops = "records_crops.csv, " if experiment == "pairwise" else ""
    with pytest.raises(ValueError, match=re.escape(
            f"(the run's outcomes and per-file errors are in {records}.csv, {crops}"
            f"tables/errors.csv under {out}; the folder stays marked incomplete)")):
        pipeline.run(settings, model=Luminance(device="cpu"), output_dir=out, progress=False)
    assert (out / "records_crops.csv").is_file() == (experiment == "pairwise")
    rec = pd.read_csv(out / f"{records}.csv")
    errors = pd.read_csv(out / "tables" / "errors.csv")
    bad = {str(tmp_path / "img" / f"b{i}.jpg") for i in range(4)}
    named = {re.match(r"ImageError: (\S+): ", e).group(1) for e in errors["error"]}
    assert named <= bad and named  # each error names a file of group B
    mine = errors[errors["file"] == f"{records}.csv"]
    assert mine["n"].sum() == rec["error"].notna().sum() > 0
    if experiment == "saliency_stats":
        assert named == bad and rec.set_index("id")["error"].isna().to_dict() == {
            **{f"a{i}": True for i in range(4)}, **{f"b{i}": False for i in range(4)}}
    marker = json.loads((out / RUNNING).read_text())
    assert marker["failed"].startswith("ValueError: ")
    with pytest.raises(RunFolderError, match="failed: ValueError: "):
        require_complete_run(out)


# ---------------------------------------------------------------------- plan sizes
@pytest.mark.parametrize("design", ["pairwise", "all_groups", "counterfactual"])
def test_planned_composites_equal_the_plan(tmp_path, design):
    extra = ["data.synthetic.counterfactual=true"] if design == "counterfactual" else []
    settings, _ = compose_with_yaml(tmp_path, *extra, experiment=design)
    people, table, members, _ = pipeline.prepare_people(settings, root=tmp_path)
    plans = pipeline._plan(settings, members, table)
    assert pipeline.planned_composites(settings, members) == sum(map(len, plans.values()))


def test_impossible_trial_count_is_refused_before_planning(tmp_path):
    settings, _ = compose_with_yaml(tmp_path, "compare.n_trials=100000000")
    start = time.perf_counter()
    with pytest.raises(ValueError, match=(
            r"^compare\.n_trials=100000000 plans 600,000,\d+ composites for 3 groups .* more "
            r"than the [\d,]+ allowed \(about 4096 bytes each in \d+ MiB of available memory\); "
            r"lower compare\.n_trials, or set compare\.max_composites=N")):
        pipeline.run(settings, model=Luminance(device="cpu"), output_dir=tmp_path / "o",
                     progress=False)
    assert time.perf_counter() - start < 5
    assert not list((tmp_path / "o").glob("records*"))


def test_max_composites_overrides_the_cap(tmp_path):
    settings, _ = compose_with_yaml(tmp_path, "compare.max_composites=10")
    with pytest.raises(ValueError, match=r"plans 36 composites .* more than the 10 allowed "
                                         r"\(compare\.max_composites\)"):
        pipeline.run(settings, model=Luminance(device="cpu"), output_dir=tmp_path / "o",
                     progress=False)
    assert pipeline.composite_cap(memory=2**30) == 2**29 // 4096


def test_plans_are_what_the_formula_counts_for_uneven_groups():
    members = {"a": ["a0"], "b": ["b0", "b1"], "c": ["c0", "c1", "c2"]}
    jobs = plan_pairwise(members, n_trials=5, baseline_trials=3, seed=0)
    assert len(jobs) == (5 * 3 + 3 * 2) * 2  # group a has no second image for a baseline
    assert len(plan_all_groups(members, n_trials=7, seed=0)) == 7


# ---------------------------------------------------------------------- values and paths
def test_tiny_aspect_ratio_is_refused_with_the_reason():
    with pytest.raises(ValueError) as info:
        CropConfig(aspect_ratios=[1e-300, 1.0])
    assert str(info.value) == (
        "crop.aspect_ratios [1e-300] lie outside [0.0001, 10000]: a crop that narrow is under "
        "1 pixel on one side for any image up to 10000 px; ratios are height / width, e.g. "
        "0.56 or 2.0")
    assert CropConfig(aspect_ratios=[1e-4, 1e4]).aspect_ratios == [1e-4, 1e4]


def test_default_mappings_are_found_when_paths_root_is_elsewhere(tmp_path):
    rel = "data/mappings/gender.csv"
    assert resolve_shipped(tmp_path, rel) == project_root(None) / rel
    own = tmp_path / rel
    own.parent.mkdir(parents=True)
    own.write_text("gender_qid,gender\n")
    assert resolve_shipped(tmp_path, rel) == own  # a reviewed copy under the root wins
    assert resolve_shipped(tmp_path, "data/other.csv") == tmp_path / "data/other.csv"


def test_merge_refuses_a_shard_that_did_not_finish(tmp_path):
    from audit.merge import merge_shards

    shards = []
    for i in range(2):
        settings, config_yaml = compose_with_yaml(tmp_path, f"compare.shard={i}/2")
        shards.append(pipeline.run(settings, model=Luminance(device="cpu"),
                                   output_dir=tmp_path / f"s{i}", progress=False,
                                   config_yaml=config_yaml).output_dir)
    (shards[1] / RUNNING).write_text('{"pid": 1, "host": "h", "started": "t"}')
    with pytest.raises(RunFolderError, match=re.escape(f"{shards[1]} is an incomplete run")):
        merge_shards(shards, tmp_path / "merged")
    assert not (tmp_path / "merged").exists()
