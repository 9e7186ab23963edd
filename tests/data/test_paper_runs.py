"""The paper configs run end to end in debug size on a fake WikiCeleb served on 127.0.0.1.

The fake people are synthetic portraits given Wikidata-style labels (Q6581072 female,
Q6581097 male, Q49085 African Americans -> black, Q42406 English people -> white), fetched
through the real query + Commons + download path, then audited with the paper configs.
"""

from __future__ import annotations

import io
import json
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from PIL import Image

from audit import pipeline
from audit.config import register_configs, to_settings
from audit.data.build import fetch_wikidata
from audit.data.settings import DataConfig, DownloadConfig, MappingsConfig, SyntheticConfig
from audit.data.synthetic import generate_synthetic
from audit.model.factory import fastgaze

from .conftest import FakeFile, FakeWikimedia

REPO = Path(__file__).resolve().parents[2]
GENDER = {"short": "Q6581097", "long": "Q6581072"}
ETHNIC = {"dark": "Q49085", "light": "Q42406"}


def _fake_people(tmp_path: Path) -> tuple[bytes, dict[str, FakeFile]]:
    table = generate_synthetic(
        SyntheticConfig(n_portraits=8, tones=["mst01", "mst02", "mst09", "mst10"],
                        cache_dir=str(tmp_path / "synthetic")), root=tmp_path, seed=3)
    bindings, files = [], {}
    for i, row in enumerate(table.itertuples(index=False)):
        name = f"Person {i} portrait.jpg"
        buf = io.BytesIO()
        with Image.open(row.image_path) as im:
            im.convert("RGB").save(buf, format="JPEG", quality=92)
            w, h = im.size
        files[name] = FakeFile(buf.getvalue(), "image/jpeg", width=w, height=h)
        uri = "http://commons.wikimedia.org/wiki/Special:FilePath/" + name.replace(" ", "%20")
        bindings.append({
            "human": {"type": "uri", "value": f"http://www.wikidata.org/entity/Q{900000 + i}"},
            "image": {"type": "uri", "value": uri},
            "sex_or_gender": {"type": "uri",
                              "value": f"http://www.wikidata.org/entity/{GENDER[row.hair]}"},
            "ethnic_group": {"type": "uri",
                             "value": f"http://www.wikidata.org/entity/{ETHNIC[row.tone_band]}"},
            "occupation": {"type": "uri", "value": "http://www.wikidata.org/entity/Q33999"},
            "loc_aid": {"type": "literal", "value": f"n{i:08d}"},
        })
    doc = {"head": {"vars": ["human", "image", "sex_or_gender", "ethnic_group", "occupation",
                             "loc_aid"]}, "results": {"bindings": bindings}}
    return json.dumps(doc).encode(), files


@pytest.fixture
def wikiceleb(wiki_server, tmp_path):
    bindings, files = _fake_people(tmp_path)
    fake = FakeWikimedia(server=wiki_server, bindings=bindings, files=files)
    fake.install()
    config = DataConfig(
        source="wikidata", group_by=["race", "gender"], min_group_size=1,
        endpoint=fake.endpoint, commons_api=fake.api, contact="audit-tests@example.org",
        retries=1, backoff_factor=0.0, raw_dir=str(tmp_path / "raw"),
        table=str(tmp_path / "processed/people.parquet"), images_dir=str(tmp_path / "images"),
        mappings=MappingsConfig(
            gender=str(REPO / "data/mappings/gender.csv"),
            ethnicity_to_race=str(REPO / "data/mappings/ethnicity_to_race.csv")),
        download=DownloadConfig(progress=False, timeout=5.0))
    fetch_wikidata(config, root=tmp_path)
    return config


def _settings(experiment: str, config: DataConfig, tmp_path: Path, *extra: str):
    register_configs()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = compose(config_name="config", overrides=[
            f"experiment={experiment}", "debug=smoke", f"data.table={config.table}",
            f"data.images_dir={config.images_dir}", "data.min_group_size=1",
            "data.min_ethnicity_size=1",
            f"paths.work_dir={tmp_path / 'work'}", f"paths.cache_dir={tmp_path / 'cache'}",
            *extra])
    return to_settings(cfg)


@pytest.mark.slow
@pytest.mark.parametrize("experiment", ["paper_pairwise", "paper_fixed_height",
                                        "paper_all_groups", "paper_male_gaze"])
def test_paper_config_runs_in_debug_size(experiment, wikiceleb, tmp_path, weights_path):
    extra = ["gaze.min_regions=0"] if experiment == "paper_male_gaze" else []
    settings = _settings(experiment, wikiceleb, tmp_path, *extra)
    model = fastgaze(weights=str(weights_path), device="cpu", fallback=None)
    out = tmp_path / "run"
    result = pipeline.run(settings, model=model, output_dir=out, progress=False)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["model"]["name"] == "fastgaze" and manifest["model"]["fallback_reason"] is None
    assert manifest["data"]["source"] == "wikidata"
    groups = sorted(pd.read_csv(out / "tables/groups.csv")["group"])
    if experiment == "paper_male_gaze":
        assert groups == ["female", "male"]
    else:
        assert groups == ["black_female", "black_male", "white_female", "white_male"]
    assert (out / "report.html").is_file()
    if experiment in ("paper_pairwise", "paper_fixed_height"):
        rates = pd.read_csv(out / "tables/win_rates.csv")
        assert len(rates) == 6 and (rates["n"] > 0).all()
        aggregates = pd.read_csv(out / "tables/aggregates.csv")
        assert set(aggregates["method"]) == {"all_pairs", "paper"}  # the study's arithmetic too
        paper = pd.read_csv(out / "tables/paper_table.csv").set_index("label")
        assert {"BF↔WF", "BM↔WF", "B↔W", "F↔M"} <= set(paper.index)
        # the study's F↔M total keeps only the three female-first pairs
        assert paper.loc["F↔M", "n"] == paper.loc[["BF↔BM", "BF↔WM", "WF↔WM"], "n"].sum()
        assert (out / "figures/paper_pairwise.png").is_file()
        # the study's column rule beside cropaudit's box rule, on the same trials
        both = pd.read_csv(out / "tables/study_vs_cropaudit.csv")
        assert len(both) == 6 and {"rate_cropaudit", "rate_study", "n_moved"} <= set(both)
        assert (both["n_study"] >= both["n_cropaudit"]).all()  # the column rule decides more
        records = result.records["pairs"]
        assert set(records["outcome_study"]) <= {"a", "b", "background", "error"}
    elif experiment == "paper_all_groups":
        assert len(result.records["kway"]) == 4
        assert all(len(g) == 4 for g in result.records["kway"]["groups"])
        assert (out / "tables/study_vs_cropaudit.csv").is_file()
    else:
        assert (out / "review/index.html").is_file()
        assert set(pd.read_csv(out / "tables/gaze_shares.csv")["group"]) <= {"female", "male"}


def test_paper_config_stops_without_weights(wikiceleb, tmp_path, monkeypatch):
    from audit.exceptions import WeightsError

    monkeypatch.delenv("AUDIT_FASTGAZE_WEIGHTS", raising=False)
    settings = _settings("paper_pairwise", wikiceleb, tmp_path)
    kwargs = {k: v for k, v in settings.model.items() if k != "_target_"}
    with pytest.raises(WeightsError, match="model.weights=PATH"):
        fastgaze(**{**kwargs, "download": False})


def test_study_aggregate_needs_female_first_pairs(wikiceleb, tmp_path):
    settings = _settings("paper_pairwise", wikiceleb, tmp_path)
    assert settings.compare.groups == ["black_female", "black_male", "white_female",
                                       "white_male"]
    assert replace(settings.analysis).paper_aggregates
