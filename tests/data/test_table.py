from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from audit.data.table import apply_mappings, filter_min_group_size, load_mapping
from audit.exceptions import AuditDataWarning

MAPPINGS = Path(__file__).resolve().parents[2] / "data" / "mappings"


def test_mapping_files_hold_the_study_mapping_exactly():
    race = load_mapping(MAPPINGS / "ethnicity_to_race.csv", column="race", key="ethnicity_to_race")
    assert race == {
        "Q127885": "white", "Q42406": "white", "Q44806": "white", "Q539051": "white",
        "Q678551": "white", "Q726673": "white", "Q7325": "white", "Q79797": "white",
        "Q179248": "white", "Q2325516": "white",
        "Q49085": "black", "Q190168": "black", "Q161652": "asian"}
    gender = load_mapping(MAPPINGS / "gender.csv", column="gender", key="gender")
    assert gender == {"Q6581072": "female", "Q6581097": "male"}
    labels = pd.read_csv(MAPPINGS / "ethnicity_to_race.csv").set_index("qid")["label"]
    assert labels["Q726673"] == "Swedish-speaking population of Finland"


def test_apply_mappings_reports_conflicts_and_unmapped_values():
    table = pd.DataFrame({
        "gender_qid": [["Q6581072"], ["Q6581097"], ["Q1097630"], []],
        "ethnicity_qid": [["Q49085", "Q999"], ["Q42406", "Q7325"], ["Q49085", "Q161652"],
                          ["Q999"]],
    })
    out, report = apply_mappings(
        table, gender={"Q6581072": "female", "Q6581097": "male"},
        race={"Q49085": "black", "Q42406": "white", "Q7325": "white", "Q161652": "asian"})
    assert out["race"].tolist()[:2] == ["black", "white"]
    assert out["race"].isna().tolist() == [False, False, True, True]
    assert out["race_reason"].tolist()[2:] == [
        "conflicting race: Q161652->asian, Q49085->black", "unmapped race: Q999"]
    assert out["gender_reason"].tolist()[2:] == ["unmapped gender: Q1097630", "no gender value"]
    assert report.unmapped == {"gender": {"Q1097630": 1}, "race": {"Q999": 2}}
    assert report.conflicts == {"gender": 0, "race": 1}
    assert report.missing == {"gender": 1, "race": 0}


def test_small_groups_are_dropped_with_a_warning_listing_sizes():
    table = pd.DataFrame({"race": ["black"] * 3 + ["white"] * 5 + ["asian"] + [pd.NA],
                          "gender": ["female"] * 10})
    with pytest.warns(AuditDataWarning) as record:
        out, info = filter_min_group_size(table, group_by=["race", "gender"], min_group_size=4,
                                          source="wikidata")
    assert str(record[0].message) == (
        "Dropped 2 group(s) of the wikidata people table with fewer than "
        "data.min_group_size=4 images: asian_female (1), black_female (3)")
    assert out["group"].tolist() == ["white_female"] * 5
    assert info == {"n_without_group": 1, "dropped_groups": {"asian_female": 1, "black_female": 3},
                    "group_sizes": {"white_female": 5}}


def test_unknown_group_column_is_named():
    with pytest.raises(ValueError) as info:
        filter_min_group_size(pd.DataFrame({"race": ["a"]}), group_by=["skin"],
                              min_group_size=1, source="folder")
    assert str(info.value) == ("data.group_by names column 'skin', but the folder people table "
                               "has columns ['race']; check data.group_by")


def test_bad_mapping_files_are_rejected(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("qid,label,race,source\nQ1,a,white,x\nQ1,b,black,y\n")
    with pytest.raises(ValueError, match=r"lists these QIDs more than once: \['Q1'\]"):
        load_mapping(path, column="race", key="ethnicity_to_race")
    path.write_text("qid,label\nQ1,a\n")
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['source', 'race'\]"):
        load_mapping(path, column="race", key="ethnicity_to_race")
    with pytest.raises(FileNotFoundError, match="set data.mappings.gender"):
        load_mapping(tmp_path / "none.csv", column="gender", key="gender")


def test_min_ethnicity_size_drops_small_ethnic_groups_before_mapping() -> None:
    import warnings

    from audit.data.table import filter_min_ethnicity_size

    # Q49085 (African Americans) on 3 images, Q42406 (English) on 2, Q7325 (Jewish) on 1.
    table = pd.DataFrame({"id": list("abcde"), "ethnicity_qid": [
        ["Q49085"], ["Q49085", "Q7325"], ["Q49085"], ["Q42406"], ["Q42406"]]})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out, info = filter_min_ethnicity_size(table, min_ethnicity_size=3, source="wikidata")
    assert info == {"dropped_ethnicities": {"Q42406": 2, "Q7325": 1},
                    "n_without_ethnicity_after_min_size": 2}
    assert out["ethnicity_qid"].tolist() == [["Q49085"]] * 3 + [[], []]
    assert out["ethnicity_reason"].isna().tolist() == [True, True, True, False, False]
    assert [w.category for w in caught] == [AuditDataWarning]
    assert "Q42406 (2), Q7325 (1)" in str(caught[0].message)
    assert "data.min_ethnicity_size=3" in str(caught[0].message)
    mapped, _ = apply_mappings(out.assign(gender_qid=[["Q6581072"]] * 5),
                               gender={"Q6581072": "female"},
                               race={"Q49085": "black", "Q42406": "white"})
    assert mapped["race"].isna().tolist() == [False, False, False, True, True]
    # 1 keeps everything, silently
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        kept, info = filter_min_ethnicity_size(table, min_ethnicity_size=1, source="wikidata")
    assert kept["ethnicity_qid"].tolist() == table["ethnicity_qid"].tolist()
    assert info["dropped_ethnicities"] == {}


def test_wikidata_config_uses_the_studys_40() -> None:
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from audit.config import register_configs, to_settings

    conf = Path(__file__).resolve().parents[2] / "conf"
    GlobalHydra.instance().clear()
    register_configs()
    with initialize_config_dir(config_dir=str(conf), version_base=None):
        settings = to_settings(compose(config_name="config", overrides=["data=wikidata"]))
    assert settings.data.min_ethnicity_size == 40
