from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
from werkzeug import Request, Response

from audit.data import load_people
from audit.data.build import fetch_wikidata
from audit.data.settings import DataConfig, DownloadConfig, MappingsConfig
from audit.data.wikidata import QueryError

REPO = Path(__file__).resolve().parents[2]

MAPPINGS = MappingsConfig(
    gender=str(REPO / "data/mappings/gender.csv"),
    ethnicity_to_race=str(REPO / "data/mappings/ethnicity_to_race.csv"),
)


def make_config(fake, tmp_path: Path, **changes: object) -> DataConfig:
    config = DataConfig(
        source="wikidata", group_by=["race", "gender"], min_group_size=1,
        endpoint=fake.endpoint, commons_api=fake.api, contact="audit-tests@example.org",
        retries=2, backoff_factor=0.0, query_timeout=5.0,
        raw_dir="raw", table="processed/people.parquet", images_dir="images",
        mappings=MAPPINGS, download=DownloadConfig(progress=False, timeout=5.0),
    )
    return replace(config, **changes)


def test_fetch_builds_table_with_statuses_and_attribution(wikimedia, tmp_path):
    wikimedia.install()
    provenance = fetch_wikidata(make_config(wikimedia, tmp_path), root=tmp_path)

    table = pd.read_parquet(tmp_path / "processed/people.parquet").set_index("qid")
    assert list(table.index) == [f"Q100{i}" for i in range(1, 9)]
    assert table["status"].to_dict() == {
        "Q1001": "ok", "Q1002": "ok", "Q1003": "ok", "Q1004": "non_raster",
        "Q1005": "too_large", "Q1006": "ok", "Q1007": "non_raster", "Q1008": "missing",
    }
    assert table.loc["Q1008", "reason"] == "File:Gone.jpg not found on Commons"
    assert "not a raster image" in table.loc["Q1004", "reason"]
    assert "sniffed" in table.loc["Q1007", "reason"]
    # the transfer that broke off was resumed in the same run (data.retries), from its end
    half = len(wikimedia.files["Truncated.jpg"].data) // 2
    assert [r for n, r in wikimedia.file_requests if n == "Truncated.jpg"] == [
        None, f"bytes={half}-"]
    assert (tmp_path / "images/Q1006.jpg").read_bytes() == wikimedia.files["Truncated.jpg"].data
    assert "max_bytes" in table.loc["Q1005", "reason"]
    # several rows per person -> one row with list columns
    assert list(table.loc["Q1001", "occupation_qid"]) == ["Q33999", "Q82955"]
    assert list(table.loc["Q1001", "ethnicity_qid"]) == ["Q49085"]
    assert table.loc["Q1001", "n_rows"] == 3
    # missing optional bindings are empty lists
    assert list(table.loc["Q1004", "occupation_qid"]) == []
    assert list(table.loc["Q1004", "loc_aid"]) == []
    # unicode, spaces; local names are <QID>.<ext>
    assert table.loc["Q1002", "image_file"] == "Zoë Ñandú 2019.JPG"
    assert table.loc["Q1002", "image_path"] == "Q1002.jpg"  # relative to data.images_dir
    assert table.loc["Q1003", "image_path"] == "Q1003.png"  # came through a redirect
    assert sorted(p.name for p in (tmp_path / "images").iterdir()) == [
        "Q1001.jpg", "Q1002.jpg", "Q1003.png", "Q1006.jpg"]
    # mapping: agreeing groups give a race, conflicting ones NA with a reason
    assert table.loc["Q1002", "race"] == "white"
    assert pd.isna(table.loc["Q1003", "race"])
    assert table.loc["Q1003", "race_reason"] == "conflicting race: Q42406->white, Q49085->black"
    assert table.loc["Q1001", "author"] == "Photographer of Alice Example.jpg & co"
    assert table.loc["Q1001", "licence"] == "CC BY-SA 4.0"
    # Gone.jpg's person is Q1008 -> missing; the L-entity subject is rejected, not a row
    assert provenance["n_people"] == 8
    assert provenance["status_counts"]["missing"] == 1
    assert provenance["rejected"][0]["value"] == "http://www.wikidata.org/.well-known/genid/4f1c0a2b"
    assert provenance["rejected"][1]["value"] == "http://www.wikidata.org/entity/L4242"
    assert provenance["mapping"]["unmapped"]["gender"] == {"Q1097630": 1}
    assert provenance["mapping"]["conflicts"]["race"] == 1
    # raw record and provenance
    raw = tmp_path / "raw" / f"wikidata_{provenance['query_sha256'][:8]}.json"
    assert raw.read_bytes() == wikimedia.bindings
    assert "?human wdt:P244 ?loc_aid ." in provenance["query"]
    # the User-Agent names the contact on every request
    agents = {req.headers.get("User-Agent") for req, _ in wikimedia.server.log}
    assert all("audit-tests@example.org" in a for a in agents)


def test_rerun_resumes_partial_file_and_skips_complete_ones(wikimedia, tmp_path):
    wikimedia.install()
    config = make_config(wikimedia, tmp_path, retries=0)  # no in-run resume: left to the rerun
    first = fetch_wikidata(config, root=tmp_path)
    assert first["status_counts"]["failed"] == 1
    assert "received" in pd.read_parquet(tmp_path / "processed/people.parquet").set_index(
        "qid").loc["Q1006", "reason"]
    n_log = len(wikimedia.server.log)
    wikimedia.file_requests.clear()

    provenance = fetch_wikidata(config, root=tmp_path)
    # only the truncated file is asked for again, from where it stopped
    half = len(wikimedia.files["Truncated.jpg"].data) // 2
    assert wikimedia.file_requests == [("Truncated.jpg", f"bytes={half}-")]
    assert len(wikimedia.server.log) == n_log + 1  # no query, no imageinfo call
    assert provenance["n_downloaded"] == 1
    assert provenance["status_counts"]["ok"] == 4

    wikimedia.file_requests.clear()
    third = fetch_wikidata(config, root=tmp_path)
    assert wikimedia.file_requests == []
    assert third["n_downloaded"] == 0


def test_load_people_keeps_ok_rows_and_attribution(wikimedia, tmp_path):
    wikimedia.install()
    config = make_config(wikimedia, tmp_path, retries=0)  # Truncated.jpg stays failed
    fetch_wikidata(config, root=tmp_path)
    people = load_people(config, root=tmp_path, seed=0)
    assert people.source == "wikidata" and not people.synthetic
    # Q1003 is ok but its race is NA (conflict): left out of the groups
    assert people.table["id"].tolist() == ["Q1001", "Q1002"]
    assert people.table["group"].tolist() == ["black_female", "white_male"]
    assert all(Path(p).is_absolute() and Path(p).is_file() for p in people.table["image_path"])
    assert people.attribution["licence"].tolist() == ["CC BY-SA 4.0", "CC BY-SA 4.0"]
    assert people.provenance["excluded_by_status"] == {
        "non_raster": 2, "too_large": 1, "failed": 1, "missing": 1}
    with pytest.raises(ValueError, match=r"No group .* \(sizes: \{'black_female': 1, "
                                         r"'white_male': 1\}\)"):
        load_people(replace(config, min_group_size=2), root=tmp_path, seed=0)


def test_load_people_without_table_names_fetch_command(tmp_path):
    config = DataConfig(source="wikidata", table="nope/people.parquet")
    with pytest.raises(FileNotFoundError, match="python -m audit.fetch data=wikidata"):
        load_people(config, root=tmp_path, seed=0)


def test_query_waits_for_retry_after_on_429(wikimedia, tmp_path):
    wikimedia.server.expect_oneshot_request("/sparql").respond_with_data(
        "slow down", status=429, headers={"Retry-After": "1"})
    wikimedia.install()
    start = time.monotonic()
    provenance = fetch_wikidata(make_config(wikimedia, tmp_path), root=tmp_path)
    assert time.monotonic() - start >= 1.0
    assert provenance["n_bindings"] == 13
    statuses = [resp.status_code for req, resp in wikimedia.server.log if req.path == "/sparql"]
    assert statuses == [429, 200]


def test_query_retries_after_503(wikimedia, tmp_path):
    wikimedia.server.expect_oneshot_request("/sparql").respond_with_data("busy", status=503)
    wikimedia.install()
    provenance = fetch_wikidata(make_config(wikimedia, tmp_path), root=tmp_path)
    assert provenance["n_people"] == 8
    statuses = [resp.status_code for req, resp in wikimedia.server.log if req.path == "/sparql"]
    assert statuses == [503, 200]


def test_query_retries_after_read_timeout(wikimedia, tmp_path):
    def slow(request: Request) -> Response:
        time.sleep(1.0)
        return Response("{}")

    wikimedia.server.expect_oneshot_request("/sparql").respond_with_handler(slow)
    wikimedia.install()
    start = time.monotonic()
    provenance = fetch_wikidata(make_config(wikimedia, tmp_path, query_timeout=0.3),
                                root=tmp_path)
    assert time.monotonic() - start < 5
    assert provenance["n_people"] == 8
    # let the abandoned slow request finish so it does not land in the next test's log
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and len(
            [r for r, _ in wikimedia.server.log if r.path == "/sparql"]) < 2:
        time.sleep(0.05)
    assert [r.path for r, _ in wikimedia.server.log].count("/sparql") == 2


def test_query_gives_up_with_clear_error_when_retries_run_out(wikimedia, tmp_path):
    wikimedia.server.expect_request("/sparql").respond_with_data("busy", status=503)
    with pytest.raises(QueryError, match=r"The SPARQL query to http://127\.0\.0\.1:\d+/sparql "
                                         r"failed: .*too many 503"):
        fetch_wikidata(make_config(wikimedia, tmp_path, retries=1), root=tmp_path)


def test_malformed_json_is_reported_and_kept(wikimedia, tmp_path):
    wikimedia.bindings = b'{"results": {"bindings": [ {"human": '
    wikimedia.install()
    with pytest.raises(ValueError, match=r"is not SPARQL 1\.1 JSON results \(not JSON") as info:
        fetch_wikidata(make_config(wikimedia, tmp_path), root=tmp_path)
    saved = list((tmp_path / "raw").glob("wikidata_*.json"))
    assert len(saved) == 1 and saved[0].read_bytes() == wikimedia.bindings
    assert str(saved[0]) in str(info.value)


def test_fetch_requires_contact(tmp_path):
    with pytest.raises(ValueError, match="data.contact is empty"):
        fetch_wikidata(DataConfig(source="wikidata"), root=tmp_path)


def test_scaled_download_uses_thumbnail_and_rerun_skips(wikimedia, tmp_path):
    """With data.download.width Commons scales the file; no SHA-1 then, the ledger decides."""
    wikimedia.install()
    config = make_config(wikimedia, tmp_path, retries=0,  # Truncated.jpg left to the rerun
                         download=DownloadConfig(progress=False, width=20))
    fetch_wikidata(config, root=tmp_path)
    api_calls = [req for req, _ in wikimedia.server.log if req.path == "/w/api.php"]
    assert api_calls[0].args["iiurlwidth"] == "20"
    wikimedia.file_requests.clear()
    second = fetch_wikidata(config, root=tmp_path)
    assert [name for name, _ in wikimedia.file_requests] == ["Truncated.jpg"]
    # no size pre-check without Commons' size of the rendering: the small "huge" file is fetched
    assert second["status_counts"]["ok"] == 5


def test_fetch_cli_end_to_end_and_rerun_is_noop(wikimedia, tmp_path):
    # Only cases that end the same way on every run: the rerun must make no request at all.
    for name in ("Truncated.jpg", "Not really.jpg"):
        del wikimedia.files[name]
    wikimedia.truncate_once.clear()
    wikimedia.install()
    args = [
        sys.executable, "-m", "audit.fetch", "data=wikidata",
        f"data.endpoint={wikimedia.endpoint}", f"data.commons_api={wikimedia.api}",
        "data.contact=audit-tests@example.org", "data.retries=1", "data.backoff_factor=0",
        f"data.raw_dir={tmp_path / 'raw'}", f"data.table={tmp_path / 'processed/people.parquet'}",
        f"data.images_dir={tmp_path / 'images'}",
        f"data.mappings.gender={MAPPINGS.gender}",
        f"data.mappings.ethnicity_to_race={MAPPINGS.ethnicity_to_race}",
        "data.download.progress=false",
    ]
    env = {**os.environ, "PYTHONWARNINGS": "error::UserWarning",  # this checkout's audit
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    first = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True,
                           timeout=120)
    assert first.returncode == 0, first.stderr
    n_requests = len(wikimedia.server.log)
    assert n_requests == 6  # query, imageinfo, 3 files, one of them behind a redirect
    table = pd.read_parquet(tmp_path / "processed/people.parquet")
    assert table["status"].value_counts().to_dict() == {
        "ok": 3, "non_raster": 1, "too_large": 1, "missing": 3}
    stamp = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "images").iterdir()}

    second = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=120)
    assert second.returncode == 0, second.stderr
    assert len(wikimedia.server.log) == n_requests
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "images").iterdir()} == stamp
    logs = list((tmp_path / "raw" / "fetch_logs").glob("*/fetch.log"))
    assert len(logs) == 2
    assert not (tmp_path / "outputs").exists()
    provenance = json.loads((tmp_path / "processed/people.provenance.json").read_text())
    assert provenance["n_downloaded"] == 0


# ------------------------------------------------------------------ hardening (issue 11)
STATUS = {"Q1001": "ok", "Q1002": "ok", "Q1003": "ok", "Q1004": "non_raster",
          "Q1005": "too_large", "Q1006": "ok", "Q1007": "non_raster", "Q1008": "missing"}


def _status(tmp_path: Path) -> dict:
    return pd.read_parquet(tmp_path / "processed/people.parquet").set_index("qid")[
        "status"].to_dict()


def _api_calls(fake) -> list:
    return [req for req, _ in fake.server.log if req.path == "/w/api.php"]


def test_continue_is_followed_and_an_incomplete_record_is_asked_again(wikimedia, tmp_path):
    wikimedia.page_size = 3  # 8 titles: imageinfo arrives over three answers
    wikimedia.install()
    config = make_config(wikimedia, tmp_path)
    provenance = fetch_wikidata(config, root=tmp_path)
    assert _status(tmp_path) == STATUS  # as without paging: nothing past page one is missing
    assert [r.args.get("iicontinue") for r in _api_calls(wikimedia)] == [None, "3", "6"]
    record_path = Path(provenance["imageinfo_path"])
    record = json.loads(record_path.read_text())
    assert record["complete"] is True and len(record["responses"]) == 3

    # What an older version stored: the first answer only, no "complete" flag. Not trusted.
    del record["complete"]
    record["responses"] = record["responses"][:1]
    record_path.write_text(json.dumps(record))
    n_before = len(_api_calls(wikimedia))
    fetch_wikidata(config, root=tmp_path)
    assert len(_api_calls(wikimedia)) == n_before + 3
    assert _status(tmp_path) == STATUS
    assert json.loads(record_path.read_text())["complete"] is True


def test_a_normalisation_to_another_file_is_refused_for_that_file_only(wikimedia, tmp_path):
    # The API claims Alice's title "normalises" to Zoë's file: Alice must not get Zoë's image.
    wikimedia.normalized = {"File:Alice Example.jpg": "File:Zoë Ñandú 2019.JPG"}
    wikimedia.install()
    fetch_wikidata(make_config(wikimedia, tmp_path), root=tmp_path)
    table = pd.read_parquet(tmp_path / "processed/people.parquet").set_index("qid")
    assert table["status"].to_dict() == {**STATUS, "Q1001": "invalid_info"}
    assert table.loc["Q1001", "reason"] == (
        "File:Alice Example.jpg: Commons renamed 'File:Alice Example.jpg' to "
        "'File:Zoë Ñandú 2019.JPG', which is not one of the documented title normalisations "
        "(spaces/underscores, first-letter case, percent-encoding); refused")
    assert pd.isna(table.loc["Q1001", "image_path"]) and pd.isna(table.loc["Q1001", "sha1"])
    assert not list((tmp_path / "images").glob("Q1001.*"))
    assert table.loc["Q1002", "image_path"] == "Q1002.jpg"


@pytest.mark.parametrize(("asked", "answered", "accepted"), [
    ("File:Alice Example.jpg", "File:Alice_Example.jpg", True),
    ("File:alice Example.jpg", "File:Alice Example.jpg", True),
    ("File:Alice%20Example.jpg", "File:Alice Example.jpg", True),
    ("File:Zoe\u0301.jpg", "File:Zoé.jpg", True),  # NFC, as MediaWiki stores titles
    ("File:Alice Example.jpg", "File:Alice example.jpg", False),  # only the first letter
    ("File:Alice Example.jpg", "File:Alice Example.jpeg", False),
    ("File:Alice Example.jpg", "File:Bob.jpg", False),
])
def test_only_documented_normalisations_are_followed(asked, answered, accepted):
    from audit.data.commons import imageinfo_from_responses

    info = {"size": 10, "width": 4, "height": 3, "mime": "image/jpeg", "sha1": "a" * 40,
            "url": "https://upload.example/x.jpg"}
    doc = {"query": {"normalized": [{"from": asked, "to": answered}],
                     "pages": [{"title": answered, "imageinfo": [info]}]}}
    row = imageinfo_from_responses([doc], [asked.removeprefix("File:")]).iloc[0]
    assert bool(row["exists"]) is accepted
    assert (row["info_problem"] is None) is accepted


def test_malformed_imageinfo_entries_become_that_files_status(wikimedia, tmp_path):
    wikimedia.info_overrides = {
        "Alice Example.jpg": {"size": "big"},
        "Bob (cropped).png": {"url": "javascript:alert(1)"},
        "Zoë Ñandú 2019.JPG": {"sha1": 12345},
    }
    wikimedia.install()
    config = make_config(wikimedia, tmp_path)
    first = fetch_wikidata(config, root=tmp_path)
    table = pd.read_parquet(tmp_path / "processed/people.parquet").set_index("qid")
    assert table["status"].to_dict() == {
        **STATUS, "Q1001": "invalid_info", "Q1002": "invalid_info", "Q1003": "invalid_info"}
    assert table.loc["Q1001", "reason"] == (
        "File:Alice Example.jpg: size is 'big', not a non-negative integer")
    assert table.loc["Q1002", "reason"].endswith("sha1 is 12345, not 40 hexadecimal digits")
    assert "url is 'javascript:alert(1)', not an http(s) URL" in table.loc["Q1003", "reason"]
    assert first["status_counts"] == {"invalid_info": 3, "non_raster": 2, "ok": 1,
                                      "too_large": 1, "missing": 1}
    # the rerun reads the stored answer (no API call) and reaches the same table
    n_api = len(_api_calls(wikimedia))
    second = fetch_wikidata(config, root=tmp_path)
    assert len(_api_calls(wikimedia)) == n_api
    assert second["status_counts"] == first["status_counts"]


@pytest.mark.parametrize(("body", "problem"), [
    (json.dumps({"results": {"bindings": [{"human": {"type": "uri", "value": 5}}]}}),
     "binding 0: ?human value is not a string but an integer"),
    (json.dumps({"results": {"bindings": [{"image": 7}]}}),
     "binding 0: ?image is not an object but an integer"),
    ('{"results": {"bindings": [' + "[" * 200_000 + "]" * 200_000 + "]}}",
     "JSON nested too deeply to parse"),
])
def test_malformed_query_answers_name_the_problem_and_the_saved_file(
        wikimedia, tmp_path, body, problem):
    wikimedia.bindings = body.encode()
    wikimedia.install()
    with pytest.raises(ValueError) as info:
        fetch_wikidata(make_config(wikimedia, tmp_path), root=tmp_path)
    saved = next((tmp_path / "raw").glob("wikidata_*.invalid.json"))
    assert saved.read_bytes() == wikimedia.bindings
    assert str(info.value) == (
        f"The response from {wikimedia.endpoint} is not SPARQL 1.1 JSON results ({problem}); "
        f"the raw body is saved at {saved}. Check data.endpoint and data.query_file")


def _answer(shape: str) -> bytes:
    entity = "http://www.wikidata.org/entity/"
    rows = {
        "people": [{"human": {"type": "uri", "value": f"{entity}Q{i}"},
                    "image": {"type": "uri", "value": "http://commons.wikimedia.org/wiki/"
                              f"Special:FilePath/P%C3%A9rson%20{i}.jpg"},
                    "sex_or_gender": {"type": "uri", "value": entity + "Q6581072"},
                    "ethnic_group": {"type": "uri", "value": entity + "Q49085"},
                    "loc_aid": {"type": "literal", "value": f"n{i}"}} for i in range(3000)],
        "bare humans": [{"human": {"value": f"{entity}Q{i}"}} for i in range(10_000)],
        "empty bindings": [{}] * 30_000,
        "rejected humans": [{"human": {"value": f"x{i}"}} for i in range(10_000)],
    }[shape]
    return json.dumps({"results": {"bindings": rows}}, ensure_ascii=False).encode()


@pytest.mark.parametrize("shape", ["people", "bare humans", "empty bindings",
                                   "rejected humans"])
def test_query_parse_memory_stays_under_four_times_the_cap(shape):
    """The smallest cap that accepts the answer bounds the memory: body + parse < 4 x cap."""
    import tracemalloc

    from audit.data.wikidata import parse_results

    body = _answer(shape)
    low, high = len(body), 200 * len(body)
    while high - low > len(body) // 50:  # the smallest accepted cap, to 2 %
        mid = (low + high) // 2
        try:
            parse_results(body, max_bytes=mid)
            high = mid
        except ValueError as exc:
            assert "raise data.query_max_bytes" in str(exc)
            low = mid
    tracemalloc.start()
    try:
        parse_results(body, max_bytes=high)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(body) + peak < 4 * high, f"{shape}: {(len(body) + peak) / high:.2f} x cap"


ONE_LINE_CASES = {
    "no contact": (["data.contact="], "ValueError: data.contact is empty"),
    "no mapping": (["data.mappings.gender=nowhere/gender.csv"],
                   "FileNotFoundError: Mapping file "),
    "bad value": (["data.download.deadline=0"],
                  "ValueError: data.download.deadline must be > 0, got 0.0"),
    "unknown key": (["data.deadlines=3"], "error: Could not override 'data.deadlines'."),
    "query fails": (["data.endpoint={api}/../nothing"], "QueryError: The SPARQL query to "),
    "api fails": (["data.commons_api={api}x"], "CommonsError: The Commons API "),
    "query trickles": (["data.endpoint={slow}", "data.query_deadline=1"],
                       "did not complete within the 1 s deadline (data.query_deadline)"),
}


@pytest.mark.parametrize("case", sorted(ONE_LINE_CASES))
def test_fetch_cli_reports_each_failure_in_one_line(wikimedia, tmp_path, case):
    wikimedia.install()
    wikimedia.server.expect_request("/w/api.phpx").respond_with_data("no", status=500)
    stop = threading.Event()

    def trickle(request: Request) -> Response:  # 1 byte per 50 ms: each read is in time
        def body():
            for i in range(len(wikimedia.bindings)):
                if stop.wait(0.05):
                    return
                yield wikimedia.bindings[i:i + 1]
        return Response(body(), headers={"Content-Length": str(len(wikimedia.bindings))})

    wikimedia.server.expect_request("/slow").respond_with_handler(trickle)
    changes, expected = ONE_LINE_CASES[case]
    args = [
        sys.executable, "-m", "audit.fetch", "data=wikidata", "paths.root=.",
        f"data.endpoint={wikimedia.endpoint}", f"data.commons_api={wikimedia.api}",
        "data.contact=audit-tests@example.org", "data.retries=0", "data.raw_dir=raw",
        f"data.mappings.gender={MAPPINGS.gender}",
        f"data.mappings.ethnicity_to_race={MAPPINGS.ethnicity_to_race}",
        "data.download.progress=false",
        *[c.format(api=wikimedia.api, slow=wikimedia.server.url_for("/slow"))
          for c in changes],
    ]
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    try:
        done = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=120)
    finally:
        stop.set()
    output = done.stdout + done.stderr
    assert done.returncode == 2, output
    assert "Traceback" not in output and "Error executing job" not in output
    errors = [line for line in output.splitlines() if "[ERROR]" in line or "error:" in line]
    assert len(errors) == 1 and expected in errors[0], output
    if case == "no contact":  # the traceback is still there for whoever asks for it
        full = subprocess.run(args, cwd=tmp_path, capture_output=True, text=True, timeout=120,
                              env={**env, "HYDRA_FULL_ERROR": "1"})
        assert full.returncode != 0 and "Traceback" in full.stderr
        assert "ValueError: data.contact is empty" in full.stderr
