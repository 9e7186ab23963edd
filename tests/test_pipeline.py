"""pipeline.run end to end on generated data: files, schemas, resume, shards, determinism."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from audit import pipeline
from audit.compare.records import KWAY_COLUMNS, PAIR_COLUMNS
from audit.config import register_configs
from audit.merge import MergeError, merge_shards
from audit.model.factory import fastgaze
from audit.model.luminance import Luminance

from .conftest import compose_with_yaml

register_configs()


class CountingLuminance(Luminance):
    """Luminance that counts the composites it scores (to prove work was skipped)."""

    def __init__(self, **kwargs):
        super().__init__(device="cpu", **kwargs)
        self.scored = 0

    def score(self, batch):
        self.scored += batch.shape[0]
        return super().score(batch)


def settings_for(tmp_path: Path, *overrides: str, experiment: str = "pairwise"):
    return compose_with_yaml(tmp_path, *overrides, experiment=experiment)[0]


def run(tmp_path, name, *overrides, model=None, experiment="pairwise"):
    settings, config_yaml = compose_with_yaml(tmp_path, *overrides, experiment=experiment)
    model = model or CountingLuminance()
    result = pipeline.run(settings, model=model, output_dir=tmp_path / name, progress=False,
                          config_yaml=config_yaml)
    return result, model


def test_pairwise_run_writes_a_self_describing_folder(tmp_path):
    result, model = run(tmp_path, "out")
    out = result.output_dir
    for rel in ("records.parquet", "records.csv", "manifest.json", "config.yaml", "report.md",
                "report.html", "tables/win_rates.csv", "tables/win_rates.parquet",
                "tables/outcomes.csv", "tables/position.csv", "tables/groups.csv",
                "tables/power.csv", "figures/win_rates.png"):
        assert (out / rel).is_file(), rel
    records = pd.read_parquet(out / "records.parquet")
    assert list(records.columns) == list(PAIR_COLUMNS)
    # 3 tone bands: 3 pairs x 4 draws x 2 orders + 3 groups x 2 baseline draws x 2 orders
    assert len(records) == 3 * 4 * 2 + 3 * 2 * 2 == model.scored
    assert set(records["outcome"]) <= {"a", "b", "background", "error"}
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["seed"] == 0 and manifest["model"]["name"] == "luminance"
    assert len(manifest["data"]["sha256"]) == 64
    assert manifest["packages"]["torch"] and manifest["data"]["synthetic"] is True
    assert "records.parquet" in manifest["files"]
    rates = pd.read_csv(out / "tables/win_rates.csv")
    assert len(rates) == 3 and rates["rate"].between(0, 1).all()
    assert ((rates["ci_low"] <= rates["rate"]) & (rates["rate"] <= rates["ci_high"])).all()
    assert "not photos of people" in (out / "report.md").read_text()


def test_rerun_of_the_same_config_resumes_from_checkpoints(tmp_path):
    first, model1 = run(tmp_path, "first")
    second, model2 = run(tmp_path, "second")
    assert model1.scored > 0 and model2.scored == 0  # every chunk came from the checkpoints
    assert (first.output_dir / "records.parquet").read_bytes() == (
        second.output_dir / "records.parquet").read_bytes()


def test_a_changed_setting_does_not_reuse_old_chunks(tmp_path):
    run(tmp_path, "first")
    _, model = run(tmp_path, "second", "compare.layout.padding=8")
    assert model.scored > 0


def test_same_seed_same_records_other_seed_other_draws(tmp_path):
    a, _ = run(tmp_path / "a", "out")
    b, _ = run(tmp_path / "b", "out")
    c, _ = run(tmp_path / "c", "out", "seed=1")
    ra, rb, rc = (pd.read_parquet(r.output_dir / "records.parquet") for r in (a, b, c))
    pd.testing.assert_frame_equal(ra, rb)
    assert list(ra["image_a"]) != list(rc["image_a"])


def test_shards_merge_to_the_single_process_tables_byte_for_byte(tmp_path):
    whole, _ = run(tmp_path / "whole", "out", "compare.chunk_size=5")
    shards = [run(tmp_path / "shards", f"s{i}", "compare.chunk_size=5", f"compare.shard={i}/3")[0]
              for i in range(3)]
    sizes = [len(s.records["pairs"]) for s in shards]
    assert sum(sizes) == len(whole.records["pairs"]) and min(sizes) > 0
    merged = merge_shards([s.output_dir for s in shards], tmp_path / "merged")
    a, b = whole.output_dir, merged.output_dir
    assert (a / "records.parquet").read_bytes() == (b / "records.parquet").read_bytes()
    for table in sorted(p.name for p in (a / "tables").glob("*.parquet")):
        assert (a / "tables" / table).read_bytes() == (b / "tables" / table).read_bytes(), table


def test_merge_refuses_incomplete_or_mixed_shards(tmp_path):
    s0, _ = run(tmp_path, "s0", "compare.chunk_size=5", "compare.shard=0/2")
    with pytest.raises(MergeError, match="each once"):
        merge_shards([s0.output_dir], tmp_path / "merged")


def test_all_groups_records_and_shares(tmp_path):
    result, _ = run(tmp_path, "out", experiment="all_groups")
    records = pd.read_parquet(result.output_dir / "records_kway.parquet")
    assert list(records.columns) == list(KWAY_COLUMNS) and len(records) == 4
    shares = pd.read_csv(result.output_dir / "tables/kway_shares.csv")
    assert set(shares.loc[shares["by"] == "group", "level"]) == {"dark", "light", "medium"}


def test_counterfactual_pairs_share_one_portrait(tmp_path):
    result, _ = run(tmp_path, "out", experiment="counterfactual")
    records = result.records["pairs"]
    people = pd.read_parquet(result.output_dir / "tables/people.parquet").set_index("id")
    portraits = people["portrait"]
    assert (records["image_a"].map(portraits) == records["image_b"].map(portraits)).all()
    assert (records["group_a"] != records["group_b"]).all()
    assert len(result.records["kway"]) == 4


def test_saliency_stats_second_run_is_served_from_the_cache(tmp_path):
    first, model1 = run(tmp_path, "first", experiment="saliency_stats")
    second, model2 = run(tmp_path, "second", experiment="saliency_stats")
    assert model1.scored == 12 and model2.scored == 0
    assert second.manifest["cache"] == {"hits": 12, "misses": 0}
    images = pd.read_parquet(second.output_dir / "images.parquet")
    assert images["score_max"].notna().all() and len(images) == 12
    assert (second.output_dir / "tables/prob_score_max.csv").is_file()


def test_male_gaze_writes_review_page_and_shares(tmp_path):
    result, _ = run(tmp_path, "out", "gaze.min_regions=0", experiment="male_gaze")
    assert (result.output_dir / "review/index.html").is_file()
    shares = pd.read_csv(result.output_dir / "tables/gaze_shares.csv")
    assert set(shares["group"]) <= {"long", "short"}


def test_paper_counts_reproduces_the_published_table(tmp_path, reference_dir):
    settings = settings_for(tmp_path, f"analysis.counts_file={reference_dir}/twitter_results.txt",
                            experiment="paper_counts")
    result = pipeline.run(settings, model=None, output_dir=tmp_path / "out", progress=False)
    table = pd.read_csv(result.output_dir / "tables/paper_table.csv").set_index("label")
    assert table.loc["BF↔WF", "p_left_4dp"] == 0.4336
    assert table.loc["BM↔WF", "p_left_4dp"] == 0.3648
    assert table.loc["B↔W", "n"] == 40000 and table.loc["B↔W", "p_left_4dp"] == 0.4575
    assert table.loc["F↔M", "n"] == 30000 and table.loc["F↔M", "p_left_4dp"] == 0.5804
    assert (result.output_dir / "figures/paper_pairwise.png").is_file()


def test_missing_weights_fall_back_loudly_and_say_so(tmp_path, monkeypatch, caplog):
    monkeypatch.delenv("AUDIT_FASTGAZE_WEIGHTS", raising=False)
    model = fastgaze(device="cpu", url="http://127.0.0.1:9/fastgaze.vxm")
    assert model.name == "spectral_residual"
    assert "Results are NOT those of Twitter's cropper" in caplog.text
    result, _ = run(tmp_path, "out", model=model)
    manifest = json.loads((result.output_dir / "manifest.json").read_text())
    assert "FastGaze weights unavailable" in manifest["model"]["fallback_reason"]
    report = (result.output_dir / "report.md").read_text()
    assert "FastGaze weights unavailable" in report


def test_empty_group_by_fails_naming_the_key(tmp_path):
    settings = settings_for(tmp_path, "compare.group_by=[]")
    with pytest.raises(ValueError, match="compare.group_by is empty"):
        pipeline.run(settings, model=CountingLuminance(), output_dir=tmp_path / "o")


def test_unknown_group_column_names_the_columns(tmp_path):
    settings = settings_for(tmp_path, "compare.group_by=[race]")
    with pytest.raises(ValueError, match="race"):
        pipeline.run(settings, model=CountingLuminance(), output_dir=tmp_path / "o")
