from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
import threading
import time
import tracemalloc

import pytest
import requests
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from audit.http import (
    ChecksumError,
    DeadlineError,
    DownloadError,
    IncompleteDownloadError,
    TooLargeError,
    download_file,
    json_parse_cost,
    make_session,
    parse_json_bounded,
    part_path,
    read_bounded,
    request_deadline,
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


# ------------------------------------------------------------ deadlines, resumes, bounded reads
@pytest.fixture
def trickle():
    """A handler factory sending one byte every 50 ms; ``stop`` ends every trickle."""
    stop = threading.Event()

    def make(data: bytes, **headers: str):
        def handle(request: Request) -> Response:
            def body():
                for i in range(len(data)):
                    if stop.wait(0.05):
                        return
                    yield data[i:i + 1]
            return Response(body(), headers={"Content-Length": str(len(data)), **headers})
        return handle

    yield make
    stop.set()
    time.sleep(0.1)  # let the handler notice before the server is reused


def test_trickling_download_ends_at_its_deadline_and_keeps_the_part(
        httpserver: HTTPServer, session, tmp_path, trickle):
    # 10,240 bytes at 20 B/s would take 8.5 minutes; every read returns well within the timeout
    httpserver.expect_request("/f").respond_with_handler(trickle(BODY))
    dest = tmp_path / "Q1.jpg"
    started = time.monotonic()
    with pytest.raises(DeadlineError) as info:
        download_file(session, httpserver.url_for("/f"), dest, max_bytes=10**6, timeout=5,
                      retries=3, deadline=1.0)
    elapsed = time.monotonic() - started
    assert 1.0 <= elapsed < 2.0
    message = str(info.value)
    assert "not complete within the 1 s deadline (data.download.deadline)" in message
    assert "\n" not in message
    kept = part_path(dest).read_bytes()
    assert 5 <= len(kept) <= 40 and kept == BODY[:len(kept)]  # ~20 bytes arrived
    assert not dest.exists()


def test_deadline_also_bounds_retries_and_back_off(httpserver: HTTPServer):
    httpserver.expect_request("/q").respond_with_data("busy", status=503)
    slow = make_session(user_agent="cropaudit-tests/0", total_retries=10, backoff_factor=4)
    started = time.monotonic()
    with request_deadline(1.5) as limit, pytest.raises(requests.RequestException,
                                                      match="deadline of 1.5 s reached"):
        slow.get(httpserver.url_for("/q"), timeout=5)
    # back-off 0, 8, 16 ... s: the second sleep would pass the deadline, so it stops at once
    assert time.monotonic() - started < 1.0
    assert limit.expired and len(httpserver.log) == 2


def test_request_deadline_on_a_trickled_query_answer(httpserver: HTTPServer, session, trickle):
    httpserver.expect_request("/q").respond_with_handler(trickle(b'{"results": 1}' * 100))
    started = time.monotonic()
    with request_deadline(0.8) as limit:
        with pytest.raises((requests.RequestException, ValueError)):
            with session.get(httpserver.url_for("/q"), stream=True, timeout=5) as response:
                read_bounded(response, 10**6, what="query")
    assert limit.expired and time.monotonic() - started < 1.6


def test_broken_transfer_is_resumed_in_the_same_call(httpserver: HTTPServer, session, tmp_path):
    ranges = []

    def flaky(request: Request) -> Response:
        ranges.append(request.headers.get("Range"))
        if len(ranges) <= 2:  # twice: half of what is left, then the connection ends
            start = int(request.headers["Range"][6:-1]) if request.headers.get("Range") else 0
            rest = BODY[start:]
            response = Response(rest[: len(rest) // 2], status=206 if start else 200)
            response.headers["Content-Length"] = str(len(rest))
            if start:
                response.headers["Content-Range"] = f"bytes {start}-{len(BODY) - 1}/{len(BODY)}"
            return response
        return ranged(request)

    httpserver.expect_request("/f").respond_with_handler(flaky)
    dest = tmp_path / "Q1.jpg"
    result = download_file(session, httpserver.url_for("/f"), dest, expected_sha256=SHA,
                           max_bytes=10**6, retries=2, backoff_factor=0.01)
    assert dest.read_bytes() == BODY and result.resumed and result.sha256 == SHA
    assert ranges == [None, "bytes=5120-", "bytes=7680-"]


def test_resumes_stop_after_retries(httpserver: HTTPServer, session, tmp_path):
    def cut(request: Request) -> Response:  # ignores Range: every try starts over, half-way
        response = Response(BODY[:3000])
        response.headers["Content-Length"] = str(len(BODY))
        return response

    httpserver.expect_request("/f").respond_with_handler(cut)
    dest = tmp_path / "Q1.jpg"
    with pytest.raises(IncompleteDownloadError, match="received 3000 of 10240 bytes"):
        download_file(session, httpserver.url_for("/f"), dest, max_bytes=10**6, retries=2)
    assert len(httpserver.log) == 3
    assert [r.headers.get("Range") for r, _ in httpserver.log] == [
        None, "bytes=3000-", "bytes=3000-"]


# The bomb is served from another process: tracemalloc counts every thread of this one, and an
# in-process server (werkzeug) allocates megabytes of its own when the client hangs up early.
_BOMB_SERVER = """
import http.server, sys, zlib
wbits, encoding = int(sys.argv[1]), sys.argv[2]
packer = zlib.compressobj(9, zlib.DEFLATED, wbits)
block = bytes(1 << 20)
bomb = b"".join(packer.compress(block) for _ in range(256)) + packer.flush()
assert len(bomb) < 300_000
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Encoding", encoding)
        self.send_header("Content-Length", str(len(bomb)))
        self.end_headers()
        try:
            self.wfile.write(bomb)
        except OSError:
            pass
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
"""


@pytest.mark.parametrize("encoding, wbits", [("gzip", 31), ("deflate", 15), ("deflate", -15)])
def test_compression_bomb_is_stopped_at_the_cap_with_bounded_memory(session, encoding, wbits):
    # 256 MiB of zeros in ~250 KB; deflate both zlib-wrapped (15) and raw (-15)
    proc = subprocess.Popen([sys.executable, "-c", _BOMB_SERVER, str(wbits), encoding],
                            stdout=subprocess.PIPE, text=True)
    try:
        port = int(proc.stdout.readline())
        cap = 2 << 20
        for _ in range(3):  # the bound must hold on every read pattern, not on average
            tracemalloc.start()
            try:
                with session.get(f"http://127.0.0.1:{port}/q", stream=True, timeout=5) as resp:
                    with pytest.raises(ValueError,
                                       match=r"exceeds 2097152 bytes \(after decompression"):
                        read_bounded(resp, cap, what="query")
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
            assert peak < 4 * cap, f"peak {peak / 2**20:.1f} MiB"
    finally:
        proc.kill()
        proc.wait(timeout=10)
        proc.stdout.close()


def _binding(i: int) -> dict:
    entity = "http://www.wikidata.org/entity/"
    return {"human": {"type": "uri", "value": f"{entity}Q{i}"},
            "image": {"type": "uri", "value": "http://commons.wikimedia.org/wiki/"
                      f"Special:FilePath/Person%20{i}.jpg"},
            "sex_or_gender": {"type": "uri", "value": entity + "Q6581072"},
            "ethnic_group": {"type": "uri", "value": entity + "Q49085"},
            "occupation": {"type": "uri", "value": entity + "Q33999"},
            "loc_aid": {"type": "literal", "value": f"n{i}"}}


# JSON shapes with the most Python memory per byte, and the shape of a real answer
PARSE_SHAPES = {
    "empty objects": lambda n: json.dumps([{}] * n),
    "one-key objects": lambda n: json.dumps([{"a": 1}] * n),
    "empty lists": lambda n: json.dumps([[]] * n),
    "two-letter strings": lambda n: json.dumps(["ab"] * n),
    "floats": lambda n: json.dumps([0.5] * n),
    "astral strings": lambda n: json.dumps(["\U0001F600a"] * n, ensure_ascii=False),
    "sparql bindings": lambda n: json.dumps({"results": {"bindings": [
        _binding(i) for i in range(n // 20)]}}),
}


@pytest.mark.parametrize("shape", sorted(PARSE_SHAPES))
def test_json_parse_cost_bounds_the_memory_json_loads_takes(shape):
    body = PARSE_SHAPES[shape](20_000).encode()
    tracemalloc.start()
    try:
        doc = json.loads(body.decode("utf-8"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    del doc
    cost = json_parse_cost(body)
    assert peak <= cost, f"{shape}: measured {peak} > bound {cost}"
    assert cost <= 12 * peak  # and not absurdly loose


def test_parse_json_bounded_refuses_costly_or_deep_answers():
    with pytest.raises(ValueError, match=r"^A: parsing this 60000-byte answer could take up to"):
        parse_json_bounded(json.dumps([{}] * 15_000).encode(), max_memory=10**6, what="A")
    deep = b"[" * 200_000 + b"]" * 200_000
    with pytest.raises(ValueError, match=r"^B: JSON nested too deeply to parse$"):
        parse_json_bounded(deep, max_memory=10**8, what="B")
    with pytest.raises(ValueError, match=r"^C: not UTF-8"):
        parse_json_bounded(b'"\xff"', max_memory=10**6, what="C")
    assert parse_json_bounded(b'{"a": [1]}', max_memory=10**6, what="D") == {"a": [1]}
