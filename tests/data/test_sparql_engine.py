"""The packaged people query runs on a real SPARQL engine (issue 12 §5).

pyoxigraph's in-memory store holds a small Wikidata-shaped graph
(``tests/fixtures/wikidata_people.ttl``) and answers the fetch over HTTP on 127.0.0.1: the query
text the fetch sends (``audit/data/queries/people.rq`` rendered with the ``data.require_*``
switches) is what the engine evaluates, so the test shows which people the query selects, not
what a canned answer says.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
from werkzeug import Request, Response

from audit.data.build import PACKAGED_QUERY, fetch_wikidata
from audit.data.settings import DataConfig, DownloadConfig, MappingsConfig
from audit.data.wikidata import render_query

from .conftest import FakeFile, FakeWikimedia, image_bytes

pyoxigraph = pytest.importorskip("pyoxigraph", reason="pip install pyoxigraph (the test extra)")

REPO = Path(__file__).resolve().parents[2]
GRAPH = REPO / "tests" / "fixtures" / "wikidata_people.ttl"
NAMES = ("Alice Example.jpg", "Zoë Ñandú 2019.JPG", "Bob (cropped).png", "Carol.jpg", "Dan.jpg",
         "Eve.jpg", "Heidi.jpg")
ALWAYS = {"Q1001", "Q1002", "Q1010"}


class SparqlEndpoint:
    """A SPARQL protocol endpoint (GET ``query=``) backed by a pyoxigraph store."""

    def __init__(self, graph: Path) -> None:
        self.store = pyoxigraph.Store()
        self.store.load(graph.read_bytes(), format=pyoxigraph.RdfFormat.TURTLE)
        self.queries: list[str] = []

    def __call__(self, request: Request) -> Response:
        query = request.args.get("query", "")
        self.queries.append(query)
        try:
            body = self.store.query(query).serialize(
                format=pyoxigraph.QueryResultsFormat.JSON)
        except SyntaxError as exc:  # a malformed query is the client's error, as on Wikidata
            return Response(f"query parse error: {exc}", status=400)
        return Response(body, content_type="application/sparql-results+json")


@pytest.fixture
def engine(wiki_server) -> tuple[SparqlEndpoint, FakeWikimedia]:
    endpoint = SparqlEndpoint(GRAPH)
    # Registered first, so it answers /sparql before the fake's canned bindings would.
    wiki_server.expect_request("/sparql").respond_with_handler(endpoint)
    files = {name: FakeFile(image_bytes("PNG" if name.endswith(".png") else "JPEG", (40, 30),
                                        (20 * i, 100, 200 - 20 * i)),
                            "image/png" if name.endswith(".png") else "image/jpeg")
             for i, name in enumerate(NAMES)}
    fake = FakeWikimedia(server=wiki_server, bindings=b"{}", files=files)
    fake.install()
    return endpoint, fake


def _config(fake: FakeWikimedia, **switches: bool) -> DataConfig:
    config = DataConfig(
        source="wikidata", group_by=["race", "gender"], min_group_size=1,
        endpoint=fake.endpoint, commons_api=fake.api, contact="audit-tests@example.org",
        retries=1, backoff_factor=0.0, query_timeout=10.0, raw_dir="raw",
        table="processed/people.parquet", images_dir="images",
        mappings=MappingsConfig(
            gender=str(REPO / "data/mappings/gender.csv"),
            ethnicity_to_race=str(REPO / "data/mappings/ethnicity_to_race.csv")),
        download=DownloadConfig(progress=False, timeout=5.0))
    return replace(config, **switches)


@pytest.mark.parametrize(("require_occupation", "require_loc", "extra"), [
    (True, True, set()),
    (False, True, {"Q1003"}),
    (True, False, {"Q1004"}),
    (False, False, {"Q1003", "Q1004", "Q1011"}),
])
def test_the_query_selects_exactly_the_intended_people(
    engine, tmp_path, require_occupation, require_loc, extra
) -> None:
    endpoint, fake = engine
    config = _config(fake, require_occupation=require_occupation, require_loc=require_loc)
    provenance = fetch_wikidata(config, root=tmp_path)
    sent = render_query(PACKAGED_QUERY.read_text(encoding="utf-8"),
                        require_occupation=require_occupation, require_loc=require_loc)
    assert endpoint.queries == [sent]  # the real query reached the engine, once
    table = pd.read_parquet(tmp_path / "processed/people.parquet").set_index("qid")
    # not the cat (Q1008), the item without P31 (Q1009), nor people lacking an image (Q1005),
    # sex or gender (Q1006) or ethnic group (Q1007)
    assert set(table.index) == ALWAYS | extra
    assert (table["status"] == "ok").all()
    assert provenance["n_people"] == len(ALWAYS | extra)


def test_values_come_back_as_lists_with_unicode_names_and_rejections(engine, tmp_path) -> None:
    _, fake = engine
    provenance = fetch_wikidata(_config(fake, require_occupation=False, require_loc=False),
                                root=tmp_path)
    table = pd.read_parquet(tmp_path / "processed/people.parquet").set_index("qid")

    def values(qid: str, column: str) -> list:
        return list(table.loc[qid, column])

    assert values("Q1001", "occupation_qid") == ["Q33999", "Q82955"]
    assert values("Q1001", "loc_aid") == ["n79021164"]
    assert table.loc["Q1001", "image_file"] == "Alice Example.jpg"
    # two images: one per person, the first name in sorted order; the other is counted
    assert table.loc["Q1002", "image_file"] == "Bob (cropped).png"
    assert table.loc["Q1002", "n_images"] == 2
    assert values("Q1002", "ethnicity_qid") == ["Q42406", "Q7325"]
    assert values("Q1002", "loc_aid") == ["n50034112", "no2001012345"]
    assert table.loc["Q1002", "n_rows"] == 2 * 2 * 2  # images x ethnic groups x LoC ids
    assert (values("Q1003", "occupation_qid"), values("Q1004", "loc_aid")) == ([], [])
    assert values("Q1011", "occupation_qid") == [] and values("Q1011", "loc_aid") == []
    # "unknown value" for sex or gender is selected by the query but is not an item
    assert values("Q1010", "gender_qid") == []
    assert {"variable": "sex_or_gender",
            "value": "http://www.wikidata.org/.well-known/genid/0123456789abcdef"} in [
        {k: r[k] for k in ("variable", "value")} for r in provenance["rejected"]]
    assert table.loc["Q1010", "gender"] is None or pd.isna(table.loc["Q1010", "gender"])
    # mapped labels from the reviewable CSVs
    assert (table.loc["Q1001", "race"], table.loc["Q1001", "gender"]) == ("black", "female")
    assert (table.loc["Q1002", "race"], table.loc["Q1002", "gender"]) == ("white", "male")


def test_the_unicode_file_name_is_fetched_from_commons(engine, tmp_path) -> None:
    _, fake = engine
    # Q1002's other image, asked for by name through a query that picks it alone
    query = tmp_path / "zoe.rq"
    query.write_text(PACKAGED_QUERY.read_text(encoding="utf-8").replace(
        "?human wdt:P18 ?image .",
        '?human wdt:P18 ?image . FILTER(CONTAINS(STR(?image), "Zo"))'), encoding="utf-8")
    provenance = fetch_wikidata(replace(_config(fake), query_file=str(query)), root=tmp_path)
    table = pd.read_parquet(tmp_path / "processed/people.parquet").set_index("qid")
    assert list(table.index) == ["Q1002"]
    assert table.loc["Q1002", "image_file"] == "Zoë Ñandú 2019.JPG"
    assert table.loc["Q1002", "status"] == "ok"
    assert any(name == "Zoë Ñandú 2019.JPG" for name, _ in fake.file_requests)
    raw = json.loads(Path(provenance["raw_path"]).read_text(encoding="utf-8"))
    assert raw["head"]["vars"] == ["human", "image", "sex_or_gender", "ethnic_group",
                                   "occupation", "loc_aid"]
