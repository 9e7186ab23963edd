"""A stand-in for the Wikidata query service and Wikimedia Commons, served on 127.0.0.1."""

from __future__ import annotations

import hashlib
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import pytest
from PIL import Image
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
REPO = Path(__file__).resolve().parents[2]


def image_bytes(fmt: str, size: tuple[int, int], colour: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format=fmt)
    return buffer.getvalue()


@dataclass
class FakeFile:
    data: bytes
    mime: str
    width: int = 40
    height: int = 30
    size: int | None = None  # declared by imageinfo; default len(data)
    via_filepath: bool = False  # imageinfo url is a Special:FilePath URL that redirects


@dataclass
class FakeWikimedia:
    """Query service + Commons API + file server on one pytest-httpserver."""

    server: HTTPServer
    bindings: bytes
    files: dict[str, FakeFile]
    truncate_once: set[str] = field(default_factory=set)
    support_range: bool = True
    file_requests: list[tuple[str, str | None]] = field(default_factory=list)
    #: imageinfo for at most this many titles per answer; the rest via ``continue``
    page_size: int | None = None
    #: ``normalized`` entries the API claims (requested title -> title it answers for)
    normalized: dict[str, str] = field(default_factory=dict)
    #: imageinfo fields replaced per file name (malformed values)
    info_overrides: dict[str, dict] = field(default_factory=dict)

    @property
    def endpoint(self) -> str:
        return self.server.url_for("/sparql")

    @property
    def api(self) -> str:
        return self.server.url_for("/w/api.php")

    def file_url(self, name: str) -> str:
        return self.server.url_for("/files/" + quote(name.replace(" ", "_")))

    def install(self) -> None:
        self.server.expect_request("/sparql").respond_with_data(
            self.bindings, content_type="application/sparql-results+json")
        self.server.expect_request("/w/api.php").respond_with_handler(self._imageinfo)
        self.server.expect_request(re.compile(r"^/files/.+")).respond_with_handler(self._file)
        self.server.expect_request(re.compile(r"^/wiki/Special:FilePath/.+")).respond_with_handler(
            self._filepath)

    def _imageinfo(self, request: Request) -> Response:
        requested = request.args["titles"].split("|")
        titles = [self.normalized.get(t, t) for t in requested]
        start = int(request.args.get("iicontinue", 0))
        stop = len(titles) if self.page_size is None else start + self.page_size
        pages = []
        for index, title in enumerate(titles):
            name = title.removeprefix("File:")
            spec = self.files.get(name)
            if spec is None:
                pages.append({"ns": 6, "title": title, "missing": True})
                continue
            if not start <= index < stop:  # as Commons does: the page, without its imageinfo
                pages.append({"ns": 6, "title": title})
                continue
            url = (self.server.url_for("/wiki/Special:FilePath/" + quote(name.replace(" ", "_")))
                   if spec.via_filepath else self.file_url(name))
            pages.append({"ns": 6, "title": title, "imageinfo": [{
                "size": spec.size if spec.size is not None else len(spec.data),
                "width": spec.width, "height": spec.height,
                "sha1": hashlib.sha1(spec.data).hexdigest(), "mime": spec.mime, "url": url,
                "descriptionurl": "https://commons.wikimedia.org/wiki/" + quote(title),
                "extmetadata": {
                    "LicenseShortName": {"value": "CC BY-SA 4.0"},
                    "LicenseUrl": {"value": "https://creativecommons.org/licenses/by-sa/4.0"},
                    "Artist": {"value": f'<a href="//commons.wikimedia.org/wiki/User:X">'
                                        f"Photographer of {name} &amp; co</a>"},
                },
                **self.info_overrides.get(name, {}),
            }]})
        doc: dict = {"query": {"pages": pages}}
        renamed = [{"from": t, "to": self.normalized[t]} for t in requested
                   if t in self.normalized]
        if renamed:
            doc["query"]["normalized"] = renamed
        if stop < len(titles):
            doc["continue"] = {"iicontinue": str(stop), "continue": "||"}
        else:
            doc["batchcomplete"] = True
        return Response(json.dumps(doc), content_type="application/json")

    def _filepath(self, request: Request) -> Response:
        name = request.path.split("Special:FilePath/", 1)[1]
        return Response(status=302, headers={"Location": "/files/" + quote(name)})

    def _file(self, request: Request) -> Response:
        name = request.path.removeprefix("/files/").replace("_", " ")
        self.file_requests.append((name, request.headers.get("Range")))
        spec = self.files.get(name)
        if spec is None:
            return Response("not found", status=404)
        data = spec.data
        ranged = request.headers.get("Range")
        if ranged and self.support_range:
            start = int(re.fullmatch(r"bytes=(\d+)-", ranged).group(1))
            response = Response(data[start:], status=206, content_type=spec.mime)
            response.headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
            return response
        if name in self.truncate_once:
            self.truncate_once.discard(name)
            response = Response(data[: len(data) // 2], content_type=spec.mime)
            response.headers["Content-Length"] = str(len(data))  # promises more than it sends
            return response
        return Response(data, content_type=spec.mime)


def default_files() -> dict[str, FakeFile]:
    return {
        "Alice Example.jpg": FakeFile(image_bytes("JPEG", (40, 30), (200, 120, 90)), "image/jpeg"),
        "Zoë Ñandú 2019.JPG": FakeFile(image_bytes("JPEG", (30, 40), (90, 120, 200)),
                                       "image/jpeg", width=30, height=40),
        "Bob (cropped).png": FakeFile(image_bytes("PNG", (40, 30), (10, 200, 10)), "image/png",
                                      via_filepath=True),
        "Diagram of a person.svg": FakeFile(b"<svg xmlns='http://www.w3.org/2000/svg'/>",
                                            "image/svg+xml"),
        "Huge photo.jpg": FakeFile(image_bytes("JPEG", (40, 30), (1, 2, 3)), "image/jpeg",
                                   size=10**9),
        "Truncated.jpg": FakeFile(image_bytes("JPEG", (64, 64), (5, 5, 250)), "image/jpeg",
                                  width=64, height=64),
        "Not really.jpg": FakeFile(b"%PDF-1.4\n" + b"x" * 200, "image/jpeg"),
    }


@pytest.fixture(scope="session")
def _threaded_server() -> Iterator[HTTPServer]:
    server = HTTPServer(host="127.0.0.1", threaded=True)
    server.start()
    yield server
    if server.is_running():
        server.stop()


@pytest.fixture
def wiki_server(_threaded_server: HTTPServer) -> Iterator[HTTPServer]:
    """A threaded server (a slow handler must not block the retry it provokes), fresh per test."""
    _threaded_server.clear()
    yield _threaded_server
    _threaded_server.clear()


@pytest.fixture
def wikimedia(wiki_server: HTTPServer) -> FakeWikimedia:
    fake = FakeWikimedia(
        server=wiki_server,
        bindings=(FIXTURES / "wikidata_bindings.json").read_bytes(),
        files=default_files(),
        truncate_once={"Truncated.jpg"},
    )
    return fake
