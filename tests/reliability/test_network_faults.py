"""Network faults against local servers: the fetch retrieves what it can and lists every failure."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
from werkzeug import Request, Response

from audit.data.build import fetch_wikidata
from audit.data.commons import CommonsError
from audit.data.settings import DataConfig, DownloadConfig, MappingsConfig
from audit.data.wikidata import QueryError
from audit.http import CHUNK_SIZE

from .corpus import bomb_png_bytes
from .netfake import FakeSite, RawServer, Served, bindings, gzip_bomb, jpeg, ranged, trickle

REPO = Path(__file__).resolve().parents[2]
MAPPINGS = MappingsConfig(
    gender=str(REPO / "data/mappings/gender.csv"),
    ethnicity_to_race=str(REPO / "data/mappings/ethnicity_to_race.csv"),
)
HTML = b"<!DOCTYPE html><html><head><title>Error</title></head><body><h1>Oops</h1></body></html>"


def config(site: FakeSite, **changes: object) -> DataConfig:
    values = dict(
        source="wikidata", group_by=["race", "gender"], min_group_size=1,
        endpoint=site.endpoint, commons_api=site.api, contact="faults@example.org",
        retries=2, backoff_factor=0.01, query_timeout=2.0, raw_dir="raw",
        table="processed/people.parquet", images_dir="images", mappings=MAPPINGS,
        download=DownloadConfig(progress=False, timeout=0.4, concurrency=4),
    )
    values.update(changes)
    return DataConfig(**values)


def once_then(first: Response, data: bytes) -> callable:
    """Handler answering ``first`` to the first request and ``data`` afterwards."""
    calls = []

    def handle(request: Request) -> Response:
        calls.append(request.headers.get("Range"))
        return first if len(calls) == 1 else ranged(data, request, "image/jpeg")

    return handle


def test_fetch_retrieves_everything_retrievable_and_lists_every_failure(server, tmp_path):
    data = {name: jpeg(i) for i, name in enumerate([
        "Good.jpg", "Reset.jpg", "Stall.jpg", "Short.jpg", "Long.jpg", "Rate429.jpg",
        "Rate429NoHeader.jpg", "Busy503.jpg", "Busy503Header.jpg", "AlwaysBusy.jpg", "Loop.jpg",
        "Slow.jpg", "Html200.jpg", "Html500.jpg"])}
    # Larger than one read chunk (64 KiB), so a broken transfer leaves whole chunks in .part.
    data["Reset.jpg"], data["Stall.jpg"] = jpeg(101, (640, 480)), jpeg(102, (640, 480))
    assert len(data["Reset.jpg"]) > 2 * CHUNK_SIZE
    raw = RawServer({"Reset.jpg": data["Reset.jpg"], "Stall.jpg": data["Stall.jpg"]},
                    {"Reset.jpg": "reset", "Stall.jpg": "stall"}, stall_s=2.0)
    try:
        files = {name: Served(blob) for name, blob in data.items()}
        files["Reset.jpg"].url = raw.url("Reset.jpg")
        files["Stall.jpg"].url = raw.url("Stall.jpg")
        files["Bomb.png"] = Served(bomb_png_bytes(), mime="image/png", width=40, height=30)
        people = {f"Q{i + 1}": name for i, name in enumerate(files)}
        site = FakeSite(server, people, files)

        def short(request: Request) -> Response:
            response = Response(data["Short.jpg"][:500], content_type="image/jpeg")
            response.headers["Content-Length"] = str(len(data["Short.jpg"]))
            return response

        def long(request: Request) -> Response:
            response = Response(data["Long.jpg"], content_type="image/jpeg")
            response.headers["Content-Length"] = "600"  # announces fewer bytes than it has
            return response

        def slow(request: Request) -> Response:
            time.sleep(1.0)
            return Response(data["Slow.jpg"], content_type="image/jpeg")

        site.handlers.update({
            "Short.jpg": short, "Long.jpg": long, "Slow.jpg": slow,
            "Rate429.jpg": once_then(Response("slow down", 429, {"Retry-After": "1"}),
                                     data["Rate429.jpg"]),
            "Rate429NoHeader.jpg": once_then(Response("slow down", 429),
                                             data["Rate429NoHeader.jpg"]),
            "Busy503.jpg": once_then(Response("busy", 503), data["Busy503.jpg"]),
            "Busy503Header.jpg": once_then(Response("busy", 503, {"Retry-After": "1"}),
                                           data["Busy503Header.jpg"]),
            "AlwaysBusy.jpg": lambda r: Response("busy", 503, {"Retry-After": "0"}),
            "Loop.jpg": lambda r: Response("", 302, {"Location": "/files/Loop.jpg"}),
            "Html200.jpg": lambda r: Response(HTML, 200, content_type="text/html"),
            "Html500.jpg": lambda r: Response(HTML, 500, content_type="text/html"),
        })
        site.install()
        start = time.monotonic()
        provenance = fetch_wikidata(config(site), root=tmp_path)
        elapsed = time.monotonic() - start

        table = pd.read_parquet(tmp_path / "processed/people.parquet")
        by_file = table.set_index("image_file")
        status = by_file["status"].to_dict()
        assert status == {
            "Good.jpg": "ok", "Rate429.jpg": "ok", "Rate429NoHeader.jpg": "ok",
            "Busy503.jpg": "ok", "Busy503Header.jpg": "ok",
            "Reset.jpg": "failed", "Stall.jpg": "failed", "Short.jpg": "failed",
            "Long.jpg": "failed", "AlwaysBusy.jpg": "failed", "Loop.jpg": "failed",
            "Slow.jpg": "failed", "Html500.jpg": "failed",
            # an error page instead of the file fails the SHA-1 check: retried on the next run
            "Html200.jpg": "failed", "Bomb.png": "too_many_pixels",
        }
        reason = by_file["reason"].to_dict()
        assert all(isinstance(reason[n], str) and reason[n] for n, s in status.items()
                   if s != "ok")
        assert reason["Reset.jpg"].startswith(raw.url("Reset.jpg") + ": transfer interrupted")
        assert "transfer interrupted" in reason["Stall.jpg"]
        assert f"received 500 of {len(data['Short.jpg'])} bytes" in reason["Short.jpg"]
        assert reason["Long.jpg"].startswith("SHA-1 differs from Commons'")
        assert "too many 503 error responses" in reason["AlwaysBusy.jpg"]
        assert "Exceeded 5 redirects" in reason["Loop.jpg"]
        assert "Read timed out" in reason["Slow.jpg"]
        assert "too many 500 error responses" in reason["Html500.jpg"]
        assert reason["Html200.jpg"].startswith("SHA-1 differs from Commons'")
        assert "DecompressionBombError" in reason["Bomb.png"] or "exceeds" in reason["Bomb.png"]
        # every ok file is on disk with the served bytes; nothing else is
        for name, row in by_file[by_file.status == "ok"].iterrows():
            assert (tmp_path / "images" / row["image_path"]).read_bytes() == data[name]
        names = sorted(p.name for p in (tmp_path / "images").iterdir())
        ok_names = sorted(Path(p).name for p in by_file.loc[by_file.status == "ok", "image_path"])
        parts = sorted(n for n in names if n.endswith(".part"))
        assert sorted(n for n in names if not n.endswith(".part")) == ok_names
        qid = by_file["qid"].to_dict()
        assert parts == sorted(f"{qid[n]}.jpg.part" for n in ("Reset.jpg", "Stall.jpg",
                                                              "Short.jpg"))
        kept = {n: (tmp_path / "images" / f"{qid[n]}.jpg.part").stat().st_size
                for n in ("Reset.jpg", "Stall.jpg", "Short.jpg")}
        assert kept["Short.jpg"] == 500
        assert all(kept[n] > 0 and kept[n] % CHUNK_SIZE == 0 for n in ("Reset.jpg", "Stall.jpg"))
        assert provenance["status_counts"] == {"ok": 5, "failed": 9,
                                               "too_many_pixels": 1}
        assert elapsed < 8

        # The faults clear: a rerun fetches only what is missing, resuming the kept .part files.
        raw.modes.clear()
        for name in ("Short.jpg", "Long.jpg", "Slow.jpg", "AlwaysBusy.jpg", "Loop.jpg",
                     "Html200.jpg", "Html500.jpg"):
            site.handlers.pop(name)
        raw.release.set()
        before = len(server.log)
        second = fetch_wikidata(config(site), root=tmp_path)
        assert second["status_counts"] == {"ok": 14, "too_many_pixels": 1}
        assert second["n_downloaded"] == 9
        assert sorted(raw.requests[-2:]) == [("Reset.jpg", f"bytes={kept['Reset.jpg']}-"),
                                             ("Stall.jpg", f"bytes={kept['Stall.jpg']}-")]
        short_request = [r for r, _ in server.log[before:] if r.path == "/files/Short.jpg"]
        assert short_request[0].headers["Range"] == "bytes=500-"
        final = pd.read_parquet(tmp_path / "processed/people.parquet").set_index("image_file")
        for name, row in final[final.status == "ok"].iterrows():
            assert (tmp_path / "images" / row["image_path"]).read_bytes() == data[name]
        assert not list((tmp_path / "images").glob("*.part"))
    finally:
        raw.close()


# ----------------------------------------------------------------------------- JSON endpoints
@pytest.fixture
def site(server) -> FakeSite:
    return FakeSite(server, {"Q1": "Good.jpg"}, {"Good.jpg": Served(jpeg(1))})


def test_html_200_from_query_service_is_kept_aside_and_the_rerun_queries_again(site, tmp_path):
    site.server.expect_oneshot_request("/sparql").respond_with_data(HTML, content_type="text/html")
    site.install()
    with pytest.raises(ValueError, match=r"is not SPARQL 1\.1 JSON results \(not JSON") as info:
        fetch_wikidata(config(site), root=tmp_path)
    invalid = list((tmp_path / "raw").glob("wikidata_*.invalid.json"))
    assert len(invalid) == 1 and invalid[0].read_bytes() == HTML
    assert str(invalid[0]) in str(info.value)
    provenance = fetch_wikidata(config(site), root=tmp_path)  # no data.refresh needed
    assert provenance["status_counts"] == {"ok": 1}
    assert not list((tmp_path / "raw").glob("wikidata_*.invalid.json"))
    assert [r.path for r, _ in site.server.log].count("/sparql") == 2


def test_html_500_from_query_service_fails_after_retries(site, tmp_path):
    site.server.expect_request("/sparql").respond_with_data(HTML, status=500,
                                                            content_type="text/html")
    with pytest.raises(QueryError, match=r"failed: .*too many 500 error responses"):
        fetch_wikidata(config(site, retries=1), root=tmp_path)
    assert [r.path for r, _ in site.server.log].count("/sparql") == 2


@pytest.mark.parametrize(("status", "headers", "min_wait"), [
    (429, {}, 0.0), (503, {"Retry-After": "1"}, 1.0)])
def test_query_recovers_from_rate_limit_and_overload(site, tmp_path, status, headers, min_wait):
    site.server.expect_oneshot_request("/sparql").respond_with_data("no", status=status,
                                                                    headers=headers)
    site.install()
    start = time.monotonic()
    provenance = fetch_wikidata(config(site), root=tmp_path)
    assert time.monotonic() - start >= min_wait
    assert provenance["status_counts"] == {"ok": 1}
    assert [resp.status_code for req, resp in site.server.log if req.path == "/sparql"] == [
        status, 200]


def test_query_redirect_loop_is_a_query_error(site, tmp_path):
    site.server.expect_request("/sparql").respond_with_data(
        "", status=301, headers={"Location": "/sparql"})
    with pytest.raises(QueryError, match=r"failed: Exceeded \d+ redirects"):
        fetch_wikidata(config(site), root=tmp_path)


def test_query_slower_than_timeout_every_time_is_a_query_error(site, tmp_path):
    def slow(request: Request) -> Response:
        time.sleep(0.6)
        return Response("{}")

    site.server.expect_request("/sparql").respond_with_handler(slow)
    with pytest.raises(QueryError, match=r"Read timed out"):
        fetch_wikidata(config(site, retries=1, query_timeout=0.3), root=tmp_path)
    time.sleep(0.4)  # let the abandoned handlers finish before the server stops


@pytest.mark.parametrize(("body", "status", "match"), [
    (b'{"query": {"pages": [', 200, r"Commons API .*"),
    (HTML, 200, r"Commons API .*"),
    (HTML, 500, r"Commons API .* failed: .*too many 500 error responses"),
    (b'{"error": {"code": "badtitle"}}', 200, r"unexpected answer \(\{'code': 'badtitle'\}\)"),
])
def test_bad_commons_api_answers_are_commons_errors(site, tmp_path, body, status, match):
    site.server.expect_request("/w/api.php").respond_with_data(body, status=status)
    site.install(api=False)
    with pytest.raises(CommonsError, match=match):
        fetch_wikidata(config(site, retries=1), root=tmp_path)
    # nothing half-done is cached: the imageinfo record is only written after a good answer
    assert not list((tmp_path / "raw").glob("commons_*.json"))
    assert not (tmp_path / "processed/people.parquet").exists()


def test_invalid_json_commons_answer_names_the_api(site, tmp_path):
    site.server.expect_request("/w/api.php").respond_with_data("{not json", status=200)
    site.install(api=False)
    with pytest.raises(CommonsError) as info:
        fetch_wikidata(config(site), root=tmp_path)
    assert site.api in str(info.value)
    assert json.loads((next((tmp_path / "raw").glob("wikidata_*.provenance.json"))).read_text())[
        "fetched_at"] is not None


def test_a_transfer_that_breaks_off_is_resumed_in_the_same_run(server, tmp_path):
    big = jpeg(7, (640, 480))
    raw = RawServer({"Flaky.jpg": big}, {"Flaky.jpg": "reset_once"})
    try:
        site = FakeSite(server, {"Q1": "Flaky.jpg"}, {"Flaky.jpg": Served(big,
                                                                          url=raw.url("Flaky.jpg"))})
        site.install()
        provenance = fetch_wikidata(config(site), root=tmp_path)  # data.retries=2
        assert provenance["status_counts"] == {"ok": 1}
        assert (tmp_path / "images/Q1.jpg").read_bytes() == big
        (first, none), (second, resumed_from) = raw.requests
        assert first == second == "Flaky.jpg" and none is None
        kept = int(resumed_from.removeprefix("bytes=").removesuffix("-"))
        assert 0 < kept < len(big) and kept % CHUNK_SIZE == 0  # continued, not restarted
        # with data.retries=0 the same break is left for the next run, as before
        raw.modes["Flaky.jpg"] = "reset_once"
        (tmp_path / "images/Q1.jpg").unlink()
        (tmp_path / "processed/people.parquet").unlink()
        again = fetch_wikidata(config(site, retries=0), root=tmp_path)
        assert again["status_counts"] == {"failed": 1}
    finally:
        raw.close()


# ------------------------------------------------------------------- deadlines and bombs
@pytest.fixture
def stop():
    event = threading.Event()
    yield event
    event.set()  # ends every trickle before the server stops
    time.sleep(0.1)


def test_trickling_query_service_ends_at_the_query_deadline(site, tmp_path, stop):
    answer = bindings(site.people)
    site.server.expect_request("/sparql").respond_with_handler(trickle(answer, stop))
    started = time.monotonic()
    with pytest.raises(QueryError) as info:
        fetch_wikidata(config(site, query_timeout=5.0, query_deadline=1.0), root=tmp_path)
    assert time.monotonic() - started < 2.5  # the answer alone would take ~30 s
    message = str(info.value)
    assert message.startswith(f"The SPARQL query to {site.endpoint} did not complete within "
                              "the 1 s deadline (data.query_deadline)")
    assert "\n" not in message
    assert not list((tmp_path / "raw").glob("wikidata_*"))  # nothing half-read is kept


def test_trickling_commons_api_ends_at_the_api_deadline(site, tmp_path, stop):
    site.server.expect_request("/w/api.php").respond_with_handler(
        trickle(b'{"query": {"pages": []}}' * 20, stop))
    site.install(api=False)
    started = time.monotonic()
    with pytest.raises(CommonsError, match=r"did not answer within the 1 s deadline "
                                           r"\(data\.api_deadline\)"):
        fetch_wikidata(config(site, api_deadline=1.0, download=DownloadConfig(
            progress=False, timeout=5.0)), root=tmp_path)
    assert time.monotonic() - started < 2.5
    assert not list((tmp_path / "raw").glob("commons_*.json"))


def test_trickling_file_ends_at_the_download_deadline_and_the_rest_goes_on(server, tmp_path,
                                                                           stop):
    files = {"Slow.jpg": Served(jpeg(1)), "Good.jpg": Served(jpeg(2))}
    site = FakeSite(server, {"Q1": "Slow.jpg", "Q2": "Good.jpg"}, files)
    site.handlers["Slow.jpg"] = trickle(files["Slow.jpg"].data, stop, mime="image/jpeg")
    site.install()
    started = time.monotonic()
    provenance = fetch_wikidata(config(site, download=DownloadConfig(
        progress=False, timeout=5.0, deadline=1.0, concurrency=2)), root=tmp_path)
    assert time.monotonic() - started < 3.0
    table = pd.read_parquet(tmp_path / "processed/people.parquet").set_index("qid")
    assert provenance["status_counts"] == {"ok": 1, "failed": 1}
    assert "not complete within the 1 s deadline (data.download.deadline)" in table.loc[
        "Q1", "reason"]
    part = tmp_path / "images" / "Q1.jpg.part"
    assert 0 < part.stat().st_size < 40  # ~20 bytes arrived; kept for the next run

    stop.set()  # the server recovers: the next run resumes from the kept bytes
    site.handlers.pop("Slow.jpg")
    kept = part.stat().st_size
    second = fetch_wikidata(config(site), root=tmp_path)
    assert second["status_counts"] == {"ok": 2}
    assert [r.headers.get("Range") for r, _ in server.log if r.path == "/files/Slow.jpg"][
        -1] == f"bytes={kept}-"
    assert (tmp_path / "images/Q1.jpg").read_bytes() == files["Slow.jpg"].data


def test_gzip_bomb_from_the_query_service_stops_at_the_cap(site, tmp_path):
    bomb = gzip_bomb(64 << 20)  # 64 MiB of zeros in ~64 KB
    site.server.expect_request("/sparql").respond_with_data(
        bomb, headers={"Content-Encoding": "gzip"},
        content_type="application/sparql-results+json")
    with pytest.raises(QueryError, match=r"answer exceeds 1048576 bytes \(after decompression"):
        fetch_wikidata(config(site, query_max_bytes=2**20), root=tmp_path)


def test_commons_continue_past_the_first_page(server, tmp_path):
    """51 files: two batches; the first (50 titles) answers in two pages joined by ``continue``."""
    files = {f"P{i}.jpg": Served(jpeg(i)) for i in range(51)}
    site = FakeSite(server, {f"Q{i + 1}": f"P{i}.jpg" for i in range(51)}, files)
    seen = []

    def paged(request):
        seen.append(request.args.get("iicontinue"))
        full = json.loads(site.imageinfo(request).get_data())
        pages = full["query"]["pages"]
        if len(pages) > 1 and "iicontinue" not in request.args:
            for page in pages[1:]:
                page.pop("imageinfo")
            full["continue"] = {"iicontinue": "1", "continue": "||"}
        elif "iicontinue" in request.args:
            del pages[0]["imageinfo"]
        return Response(json.dumps(full), content_type="application/json")

    site.server.expect_request("/w/api.php").respond_with_handler(paged)
    site.install(api=False)
    provenance = fetch_wikidata(config(site), root=tmp_path)
    assert provenance["status_counts"] == {"ok": 51}
    assert seen == [None, "1", None]  # the batch of 50 continued once, the batch of 1 not


def test_an_endless_continue_is_a_commons_error_not_a_loop(site, tmp_path, monkeypatch):
    import audit.data.commons as commons

    monkeypatch.setattr(commons, "MAX_CONTINUE", 3)
    site.server.expect_request("/w/api.php").respond_with_json(
        {"query": {"pages": [{"title": "File:Good.jpg"}]},
         "continue": {"iicontinue": "again", "continue": "||"}})
    site.install(api=False)
    with pytest.raises(CommonsError, match=r"still continuing after 3 requests"):
        fetch_wikidata(config(site), root=tmp_path)
    assert [r.path for r, _ in site.server.log].count("/w/api.php") == 4
    assert not list((tmp_path / "raw").glob("commons_*.json"))
