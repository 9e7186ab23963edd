"""Local stand-ins for the Wikidata query service, the Commons API and misbehaving file servers.

:class:`FakeSite` answers on a pytest-httpserver; :class:`RawServer` is a bare socket server for
faults a WSGI server cannot produce (a connection reset or a stall in the middle of a body).
Everything listens on 127.0.0.1 only.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import socket
import struct
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import quote

import numpy as np
from PIL import Image
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

ENTITY = "http://www.wikidata.org/entity/"
FILEPATH = "http://commons.wikimedia.org/wiki/Special:FilePath/"


def jpeg(seed: int, size: tuple[int, int] = (48, 32)) -> bytes:
    """A small, incompressible JPEG (distinct per seed)."""
    arr = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def bindings(people: dict[str, str]) -> bytes:
    """SPARQL JSON results: one black woman per ``{qid: commons file name}``."""
    rows = [{
        "human": {"type": "uri", "value": ENTITY + qid},
        "image": {"type": "uri", "value": FILEPATH + quote(name.replace(" ", "_"))},
        "sex_or_gender": {"type": "uri", "value": ENTITY + "Q6581072"},
        "ethnic_group": {"type": "uri", "value": ENTITY + "Q49085"},
        "occupation": {"type": "uri", "value": ENTITY + "Q33999"},
        "loc_aid": {"type": "literal", "value": f"n{qid[1:]}"},
    } for qid, name in people.items()]
    return json.dumps({"head": {"vars": ["human", "image", "sex_or_gender", "ethnic_group",
                                         "occupation", "loc_aid"]},
                       "results": {"bindings": rows}}).encode()


@dataclass
class Served:
    """One Commons file: its bytes, what imageinfo claims, and where it is served."""

    data: bytes
    mime: str = "image/jpeg"
    url: str | None = None  # default: /files/<name> on the FakeSite
    width: int = 48
    height: int = 32


@dataclass
class FakeSite:
    """Query service, Commons imageinfo and a file route on one pytest-httpserver."""

    server: HTTPServer
    people: dict[str, str]
    files: dict[str, Served]
    handlers: dict[str, Callable[[Request], Response]] = field(default_factory=dict)

    @property
    def endpoint(self) -> str:
        return self.server.url_for("/sparql")

    @property
    def api(self) -> str:
        return self.server.url_for("/w/api.php")

    def file_url(self, name: str) -> str:
        return self.server.url_for("/files/" + quote(name))

    def install(self, *, sparql: bool = True, api: bool = True) -> None:
        if sparql:
            self.server.expect_request("/sparql").respond_with_data(
                bindings(self.people), content_type="application/sparql-results+json")
        if api:
            self.server.expect_request("/w/api.php").respond_with_handler(self.imageinfo)
        self.server.expect_request(re.compile(r"^/files/.+")).respond_with_handler(self.file)

    def imageinfo(self, request: Request) -> Response:
        pages = []
        for title in request.args["titles"].split("|"):
            name = title.removeprefix("File:")
            spec = self.files[name]
            pages.append({"ns": 6, "title": title, "imageinfo": [{
                "size": len(spec.data), "width": spec.width, "height": spec.height,
                "sha1": hashlib.sha1(spec.data).hexdigest(), "mime": spec.mime,
                "url": spec.url or self.file_url(name),
                "descriptionurl": "https://commons.wikimedia.org/wiki/" + quote(title),
                "extmetadata": {"LicenseShortName": {"value": "CC0"}},
            }]})
        return Response(json.dumps({"query": {"pages": pages}}), content_type="application/json")

    def file(self, request: Request) -> Response:
        from urllib.parse import unquote

        name = unquote(request.path.removeprefix("/files/"))
        if name in self.handlers:
            return self.handlers[name](request)
        return ranged(self.files[name].data, request, self.files[name].mime)


def trickle(data: bytes, stop: threading.Event, *, interval: float = 0.05,
            mime: str = "application/octet-stream") -> Callable[[Request], Response]:
    """Handler sending ``data`` one byte per ``interval`` seconds (until ``stop`` is set).

    Each byte arrives well within any read timeout, so only a wall-clock deadline ends it.
    """
    def handle(request: Request) -> Response:
        def body():
            for i in range(len(data)):
                if stop.wait(interval):
                    return
                yield data[i:i + 1]
        return Response(body(), content_type=mime, headers={"Content-Length": str(len(data))})
    return handle


def gzip_bomb(n_bytes: int) -> bytes:
    """``n_bytes`` of zeros, gzip-compressed (about 1000:1)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = bytes(1 << 20)
    return b"".join(packer.compress(block) for _ in range(n_bytes >> 20)) + packer.flush()


def ranged(data: bytes, request: Request, mime: str = "application/octet-stream") -> Response:
    """Serve ``data``, honouring ``Range: bytes=N-``."""
    header = request.headers.get("Range")
    if header:
        start = int(re.fullmatch(r"bytes=(\d+)-", header).group(1))
        response = Response(data[start:], status=206, content_type=mime)
        response.headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
        return response
    return Response(data, content_type=mime)


class RawServer:
    """A socket server on 127.0.0.1 whose behaviour per path is set by ``modes``.

    Modes: ``"reset"`` sends the headers and half the body, then resets the connection (RST);
    ``"reset_once"`` does so on the first request and then behaves as ``"ok"``;
    ``"stall"`` sends half the body and then waits for ``release`` (or ``stall_s``);
    ``"ok"`` serves the whole file, honouring ``Range``. ``requests`` logs
    ``(path, range header)``.
    """

    def __init__(self, files: dict[str, bytes], modes: dict[str, str], *,
                 stall_s: float = 30.0) -> None:
        self.files, self.modes, self.stall_s = files, modes, stall_s
        self.release = threading.Event()
        self.requests: list[tuple[str, str | None]] = []
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._sock.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return self._sock.getsockname()[1]

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{path}"

    def close(self) -> None:
        self.release.set()
        self._stop.set()
        self._thread.join(timeout=5)
        self._sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                head += chunk
            lines = head.decode("latin-1").split("\r\n")
            path = lines[0].split(" ")[1].lstrip("/")
            headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
            ranged_from = headers.get("Range")
            self.requests.append((path, ranged_from))
            data = self.files[path]
            mode = self.modes.get(path, "ok")
            if mode == "reset_once":
                self.modes[path] = "ok"
                mode = "reset"
            if mode == "ok":
                start = int(re.fullmatch(r"bytes=(\d+)-", ranged_from).group(1)) \
                    if ranged_from else 0
                status = "206 Partial Content" if start else "200 OK"
                extra = (f"Content-Range: bytes {start}-{len(data) - 1}/{len(data)}\r\n"
                         if start else "")
                conn.sendall(f"HTTP/1.1 {status}\r\nContent-Type: image/jpeg\r\n{extra}"
                             f"Content-Length: {len(data) - start}\r\nConnection: close\r\n\r\n"
                             .encode() + data[start:])
                return
            conn.sendall(f"HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\n"
                         f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n".encode()
                         + data[: len(data) // 2])
            if mode == "stall":
                self.release.wait(self.stall_s)
                return
            time.sleep(0.2)  # let the client read what was sent: an RST discards unread data
            # SO_LINGER with zero timeout: close() sends RST instead of FIN.
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
