from __future__ import annotations

import hashlib
import re
import time

import pytest
import requests
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from audit.http import (
    ChecksumError,
    DownloadError,
    IncompleteDownloadError,
    TooLargeError,
    download_file,
    make_session,
    part_path,
    read_bounded,
)

BODY = bytes(range(256)) * 40  # 10,240 bytes
SHA = hashlib.sha256(BODY).hexdigest()


@pytest.fixture
def session():
    with make_session(user_agent="cropaudit-tests/0 (tests@example.org)", total_retries=2,
                      backoff_factor=0.0) as s:
        yield s


def ranged(request: Request) -> Response:
    header = request.headers.get("Range")
    if header:
        start = int(re.fullmatch(r"bytes=(\d+)-", header).group(1))
        response = Response(BODY[start:], status=206)
        response.headers["Content-Range"] = f"bytes {start}-{len(BODY) - 1}/{len(BODY)}"
        return response
    return Response(BODY)


def test_download_writes_file_atomically_with_hash(httpserver: HTTPServer, session, tmp_path):
    httpserver.expect_request("/f").respond_with_data(BODY, content_type="image/jpeg")
    dest = tmp_path / "sub" / "Q1.jpg"
    result = download_file(session, httpserver.url_for("/f"), dest, expected_sha256=SHA,
                           max_bytes=10**6)
    assert dest.read_bytes() == BODY
    assert (result.sha256, result.n_bytes, result.resumed) == (SHA, 10240, False)
    assert result.content_type == "image/jpeg"
    assert not part_path(dest).exists()
    assert httpserver.log[0][0].headers["User-Agent"] == "cropaudit-tests/0 (tests@example.org)"


def test_download_resumes_part_file_with_range(httpserver: HTTPServer, session, tmp_path):
    httpserver.expect_request("/f").respond_with_handler(ranged)
    dest = tmp_path / "Q1.jpg"
    part_path(dest).write_bytes(BODY[:4000])
    result = download_file(session, httpserver.url_for("/f"), dest, expected_sha256=SHA,
                           max_bytes=10**6)
    assert result.resumed and result.sha256 == SHA and dest.read_bytes() == BODY
    assert httpserver.log[0][0].headers["Range"] == "bytes=4000-"


def test_download_restarts_when_server_ignores_range(httpserver: HTTPServer, session, tmp_path):
    httpserver.expect_request("/f").respond_with_data(BODY)
    dest = tmp_path / "Q1.jpg"
    part_path(dest).write_bytes(b"garbage")
    result = download_file(session, httpserver.url_for("/f"), dest, max_bytes=10**6)
    assert not result.resumed and dest.read_bytes() == BODY


def test_truncated_body_keeps_part_for_resume(httpserver: HTTPServer, session, tmp_path):
    def cut(request: Request) -> Response:
        response = Response(BODY[:3000])
        response.headers["Content-Length"] = str(len(BODY))
        return response

    httpserver.expect_oneshot_request("/f").respond_with_handler(cut)
    httpserver.expect_request("/f").respond_with_handler(ranged)
    dest = tmp_path / "Q1.jpg"
    with pytest.raises(IncompleteDownloadError, match="received 3000 of 10240 bytes"):
        download_file(session, httpserver.url_for("/f"), dest, max_bytes=10**6)
    assert part_path(dest).read_bytes() == BODY[:3000] and not dest.exists()
    result = download_file(session, httpserver.url_for("/f"), dest, expected_sha256=SHA,
                           max_bytes=10**6)
    assert result.resumed and dest.read_bytes() == BODY


def test_content_length_over_limit_aborts_before_body(httpserver: HTTPServer, session, tmp_path):
    httpserver.expect_request("/f").respond_with_data(BODY)
    dest = tmp_path / "Q1.jpg"
    with pytest.raises(TooLargeError, match=r"is 10240 bytes, more than the limit of 1000 bytes"):
        download_file(session, httpserver.url_for("/f"), dest, max_bytes=1000)
    assert not dest.exists() and not part_path(dest).exists()


def test_stream_without_length_stops_at_limit(httpserver: HTTPServer, session, tmp_path):
    def chunked(request: Request) -> Response:
        return Response(iter([BODY[:5000], BODY[5000:]]))  # no Content-Length

    httpserver.expect_request("/f").respond_with_handler(chunked)
    dest = tmp_path / "Q1.jpg"
    with pytest.raises(TooLargeError):
        download_file(session, httpserver.url_for("/f"), dest, max_bytes=6000)
    assert not part_path(dest).exists()


def test_wrong_checksum_discards_download(httpserver: HTTPServer, session, tmp_path):
    httpserver.expect_request("/f").respond_with_data(BODY)
    dest = tmp_path / "Q1.jpg"
    with pytest.raises(ChecksumError, match=f"SHA-256 is {SHA}, expected 00ff"):
        download_file(session, httpserver.url_for("/f"), dest, expected_sha256="00ff",
                      max_bytes=10**6)
    assert not dest.exists() and not part_path(dest).exists()


def test_session_honours_retry_after_on_429(httpserver: HTTPServer, session, tmp_path):
    httpserver.expect_oneshot_request("/f").respond_with_data(
        "", status=429, headers={"Retry-After": "1"})
    httpserver.expect_request("/f").respond_with_data(BODY)
    start = time.monotonic()
    download_file(session, httpserver.url_for("/f"), tmp_path / "Q1.jpg", max_bytes=10**6)
    assert time.monotonic() - start >= 1.0
    assert [r.status_code for _, r in httpserver.log] == [429, 200]


def test_404_is_a_download_error(httpserver: HTTPServer, session, tmp_path):
    httpserver.expect_request("/f").respond_with_data("nope", status=404)
    with pytest.raises(DownloadError, match=r"/f: HTTP 404 NOT FOUND"):
        download_file(session, httpserver.url_for("/f"), tmp_path / "Q1.jpg", max_bytes=10**6)


def test_too_many_redirects_is_a_download_error(httpserver: HTTPServer, tmp_path):
    httpserver.expect_request("/loop").respond_with_data(
        "", status=302, headers={"Location": "/loop"})
    with make_session(user_agent="t", total_retries=0, max_redirects=3) as s:
        with pytest.raises(DownloadError, match="/loop"):
            download_file(s, httpserver.url_for("/loop"), tmp_path / "Q1.jpg", max_bytes=10)


def test_make_session_rejects_negative_retries():
    with pytest.raises(ValueError, match="total_retries must be >= 0, got -1"):
        make_session(user_agent="t", total_retries=-1)


def test_retry_after_longer_than_the_cap_fails_fast(httpserver: HTTPServer):
    httpserver.expect_request("/q").respond_with_data("busy", status=429,
                                                      headers={"Retry-After": "3600"})
    capped = make_session(user_agent="cropaudit-tests/0", total_retries=3, backoff_max=2)
    started = time.monotonic()
    with pytest.raises(requests.RequestException, match="more than the 2 s cap"):
        capped.get(httpserver.url_for("/q"), timeout=5)
    assert time.monotonic() - started < 2
    assert len(httpserver.log) == 1  # asked once, did not wait an hour to ask again


def test_read_bounded_refuses_long_answers(httpserver: HTTPServer, session):
    httpserver.expect_request("/big").respond_with_data(b"x" * 5000)
    with session.get(httpserver.url_for("/big"), stream=True, timeout=5) as response:
        with pytest.raises(ValueError, match="exceeds 1000"):
            read_bounded(response, 1000, what="test answer")
    with session.get(httpserver.url_for("/big"), stream=True, timeout=5) as response:
        assert read_bounded(response, 5000, what="test answer") == b"x" * 5000
