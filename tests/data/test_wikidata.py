from __future__ import annotations

import json
from pathlib import Path

import pytest

from audit.data.wikidata import (
    PACKAGED_QUERY,
    aggregate_people,
    commons_file_name,
    parse_results,
    render_query,
)

REFERENCE = Path("/work/shared/reference/twitter_dataset_example.json")
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "wikidata_bindings.json"


def test_packaged_query_has_the_study_variables_and_constraints():
    text = PACKAGED_QUERY.read_text()
    assert "SELECT ?human ?image ?sex_or_gender ?ethnic_group ?occupation ?loc_aid" in text
    for triple in ("wdt:P31 wd:Q5", "wdt:P18 ?image", "wdt:P21 ?sex_or_gender",
                   "wdt:P172 ?ethnic_group", "wdt:P106 ?occupation", "wdt:P244 ?loc_aid"):
        assert triple in text


def test_render_query_relaxes_constraints_and_adds_limit():
    text = PACKAGED_QUERY.read_text()
    query = render_query(text, require_occupation=False, require_loc=False, limit=50)
    assert "  OPTIONAL { ?human wdt:P106 ?occupation . }" in query
    assert "  OPTIONAL { ?human wdt:P244 ?loc_aid . }" in query
    assert query.endswith("}\nLIMIT 50\n")
    strict = render_query(text)
    body = strict.split("SELECT")[1]
    assert "OPTIONAL" not in body and "#@require" not in body
    assert "  ?human wdt:P244 ?loc_aid .\n}" in body


def test_render_query_refuses_an_option_the_file_cannot_apply():
    with pytest.raises(ValueError) as info:
        render_query("SELECT ?x WHERE { ?x ?p ?o }", require_loc=False, query_file="my.rq")
    assert str(info.value) == ("data.require_loc=false, but my.rq has no line tagged "
                               "'#@require:loc'; edit the query file or keep data.require_loc=true")


@pytest.mark.skipif(not REFERENCE.is_file(), reason="reference row not present")
def test_reference_row_parses():
    parsed = parse_results(REFERENCE.read_bytes())
    row = parsed.rows.iloc[0].to_dict()
    assert row == {"qid": "Q335552", "image_file": "Jack Dorsey 2014.jpg",
                   "image_url": "http://commons.wikimedia.org/wiki/Special:FilePath/"
                                "Jack_Dorsey_2014.jpg",
                   "gender_qid": "Q6581097", "ethnicity_qid": "Q1075293",
                   "occupation_qid": "Q131524", "loc_aid": "n2011042258"}


def test_fixture_aggregates_to_one_row_per_person():
    parsed = parse_results(FIXTURE.read_bytes())
    assert parsed.n_bindings == 13 and len(parsed.rows) == 12
    assert [r["variable"] for r in parsed.rejected] == ["ethnic_group", "human"]
    people = aggregate_people(parsed.rows).set_index("qid")
    assert len(people) == 8
    assert people.loc["Q1002", "image_file"] == "Zoë Ñandú 2019.JPG"
    assert people.loc["Q1002", "ethnicity_qid"] == ["Q42406", "Q7325"]
    assert people.loc["Q1004", "occupation_qid"] == [] and people.loc["Q1004", "loc_aid"] == []


def test_commons_file_name_decodes_percent_and_underscores():
    url = "http://commons.wikimedia.org/wiki/Special:FilePath/Zo%C3%AB%20A_B%20(1).jpg"
    assert commons_file_name(url) == "Zoë A B (1).jpg"


@pytest.mark.parametrize("body, problem", [
    (b"<html>busy</html>", "not JSON"),
    (json.dumps({"head": {}}).encode(), "no results.bindings list"),
    (json.dumps({"results": {"bindings": [1]}}).encode(), "binding 0 is not an object"),
])
def test_malformed_results_are_named(body, problem):
    with pytest.raises(ValueError, match=rf"\(({problem})") as info:
        parse_results(body, endpoint="E", raw="R")
    assert str(info.value).startswith("The response from E is not SPARQL 1.1 JSON results (")
    assert str(info.value).endswith("the raw body is saved at R. Check data.endpoint and "
                                    "data.query_file")
