"""Polite HTTP for the network steps: a retrying session and a resumable, verified file download.

:func:`make_session` builds a :class:`requests.Session` whose retries come from urllib3's
:class:`~urllib3.util.retry.Retry` (exponential back-off, ``Retry-After`` honoured on 429 and
503). :func:`download_file` streams one URL to disk through a ``.part`` file, hashing while it
writes, resumes a transfer that breaks off (``Range``), and renames it into place only when it is
complete and verified. :func:`request_deadline` puts a wall-clock limit on one logical request
(retries, redirects and body included): when it passes, the request's socket is shut down, so a
server trickling one byte per second cannot hold a fetch for hours. Only the fetch step
(``python -m audit.fetch``) and the weights resolver use this module; audit runs stay offline.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import socket
import threading
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests
from requests.adapters import HTTPAdapter
from tqdm.auto import tqdm
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import MaxRetryError, ProtocolError, ReadTimeoutError, ResponseError
from urllib3.util.retry import Retry

log = logging.getLogger(__name__)

#: Statuses worth retrying: rate limiting (429), overload (503) and transient server errors.
RETRY_STATUSES = (429, 500, 502, 503, 504)
CHUNK_SIZE = 1 << 16

_MSG_TOO_LARGE = (
    "{url} is {size} bytes, more than the limit of {limit} bytes; "
    "raise data.download.max_bytes if this file is wanted"
)
_MSG_INCOMPLETE = (
    "{url}: received {got} of {expected} bytes; the partial file {part} is kept, "
    "run the command again to resume"
)
_MSG_INTERRUPTED = (
    "{url}: transfer interrupted after {got} bytes ({error}); the partial file {part} is kept, "
    "run the command again to resume"
)
_MSG_DEADLINE = (
    "{url}: not complete within the {seconds:g} s deadline ({key}) after {got} bytes; "
    "the partial file {part} is kept, run the command again to resume"
)
_MSG_CHECKSUM = "{url}: SHA-256 is {actual}, expected {expected}; the download was discarded"
_MSG_STATUS = "{url}: HTTP {status} {reason}"


class DownloadError(RuntimeError):
    """A file could not be downloaded; the message names the URL and what went wrong."""


class TooLargeError(DownloadError):
    """The file is larger than the configured byte limit."""


class IncompleteDownloadError(DownloadError):
    """Fewer bytes arrived than announced; the ``.part`` file is kept for a resume."""


class ChecksumError(DownloadError):
    """The downloaded bytes do not have the expected SHA-256."""


class DeadlineError(IncompleteDownloadError):
    """The download did not finish within its wall-clock deadline (``.part`` kept)."""


class Deadline:
    """Wall-clock limit of one logical request; see :func:`request_deadline`.

    Attributes
    ----------
    seconds : float
        The limit.
    expired : bool
        True once the limit has passed (the request's sockets were then shut down).
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = float(seconds)
        self.expired = False
        self._end = time.monotonic() + self.seconds
        self._conns: list[HTTPConnection] = []
        self._lock = threading.Lock()

    def remaining(self) -> float:
        """Seconds left (0 when expired)."""
        return max(0.0, self._end - time.monotonic())

    def attach(self, conn: HTTPConnection) -> None:
        """Watch ``conn``: it is shut down when the deadline passes (at once if it has)."""
        with self._lock:
            self._conns.append(conn)
            expired = self.expired
        if expired:
            _shutdown(conn)

    def expire(self) -> None:
        """Mark the deadline passed and shut down every connection the request used."""
        with self._lock:
            self.expired = True
            conns = list(self._conns)
        for conn in conns:
            _shutdown(conn)


def _shutdown(conn: HTTPConnection) -> None:
    # shutdown() (unlike close()) wakes a recv() blocked in another thread: it returns EOF.
    # http.client drops conn.sock once a "Connection: close" response is under way, so the
    # socket is also remembered at connect time.
    sock = getattr(conn, "sock", None) or getattr(conn, "_deadline_sock", None)
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


_local = threading.local()


def active_deadline() -> Deadline | None:
    """Return the :class:`Deadline` of the request running in this thread, if any."""
    return getattr(_local, "deadline", None)


@contextmanager
def request_deadline(seconds: float | None) -> Iterator[Deadline | None]:
    """Bound every request made in this thread inside the block to ``seconds`` in total.

    The limit spans retries, back-off sleeps, redirects and the body. When it passes, the
    sockets are shut down (a blocked read returns at once) and retries stop; the block's code
    sees a network error and should test ``deadline.expired`` to say why. Only sessions from
    :func:`make_session` honour it. ``None`` yields None and bounds nothing.
    """
    if seconds is None:
        yield None
        return
    if seconds <= 0:
        raise ValueError(f"a request deadline must be > 0 seconds, got {seconds}")
    outer = active_deadline()
    deadline = Deadline(seconds)
    timer = threading.Timer(seconds, deadline.expire)
    timer.daemon = True
    _local.deadline = deadline
    timer.start()
    try:
        yield deadline
    finally:
        timer.cancel()
        _local.deadline = outer


class _DeadlineMixin:
    def connect(self) -> None:  # noqa: D102 - urllib3 hook
        super().connect()  # type: ignore[misc]
        self._deadline_sock = self.sock
        deadline = active_deadline()
        if deadline is not None and deadline.expired:
            _shutdown(self)  # type: ignore[arg-type]

    def request(self, *args, **kwargs):  # noqa: D102 - urllib3 hook
        deadline = active_deadline()
        if deadline is not None:
            deadline.attach(self)  # type: ignore[arg-type]
        return super().request(*args, **kwargs)  # type: ignore[misc]


class _DeadlineHTTPConnection(_DeadlineMixin, HTTPConnection):
    pass


class _DeadlineHTTPSConnection(_DeadlineMixin, HTTPSConnection):
    pass


class _DeadlineHTTPPool(HTTPConnectionPool):
    ConnectionCls = _DeadlineHTTPConnection


class _DeadlineHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _DeadlineHTTPSConnection


class _DeadlineAdapter(HTTPAdapter):
    """HTTPAdapter whose connections report to the thread's :class:`Deadline`."""

    def init_poolmanager(self, *args, **kwargs) -> None:  # noqa: D102 - requests hook
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": _DeadlineHTTPPool, "https": _DeadlineHTTPSPool}


@dataclass(frozen=True)
class DownloadResult:
    """Outcome of :func:`download_file`.

    Attributes
    ----------
    path : Path
        Final location of the file.
    sha256 : str
        Hex SHA-256 of the whole file.
    n_bytes : int
        Size of the file in bytes.
    resumed : bool
        True when an existing ``.part`` file was continued with a Range request.
    content_type : str | None
        The server's ``Content-Type`` (without parameters), if any.
    final_url : str
        URL after redirects.
    """

    path: Path
    sha256: str
    n_bytes: int
    resumed: bool
    content_type: str | None
    final_url: str


def make_session(
    *,
    user_agent: str,
    total_retries: int = 5,
    backoff_factor: float = 1.0,
    backoff_max: float = 60.0,
    max_redirects: int = 5,
) -> requests.Session:
    """Build a session that retries politely.

    Parameters
    ----------
    user_agent : str
        Descriptive ``User-Agent`` with a contact (Wikimedia's policy requires one).
    total_retries : int
        Retries per request, shared between connection errors, read errors and retryable
        statuses (429, 500, 502, 503, 504).
    backoff_factor : float
        Exponential back-off: sleep ``backoff_factor * 2**(n-1)`` seconds before retry ``n``;
        a ``Retry-After`` header on 429/503 takes precedence.
    backoff_max : float
        Upper bound on one back-off sleep, in seconds.
    max_redirects : int
        Redirects followed per request.

    Returns
    -------
    requests.Session
        Mounted for ``http://`` and ``https://``. Timeouts are per request (pass ``timeout=``).
    """
    if total_retries < 0:
        raise ValueError(f"total_retries must be >= 0, got {total_retries}")
    retry = CappedRetry(
        total=total_retries,
        connect=total_retries,
        read=total_retries,
        status=total_retries,
        redirect=max_redirects,
        backoff_factor=backoff_factor,
        backoff_max=backoff_max,
        status_forcelist=RETRY_STATUSES,
        allowed_methods=frozenset({"GET", "HEAD"}),
        respect_retry_after_header=True,
        raise_on_status=True,
    )
    session = requests.Session()
    session.max_redirects = max_redirects
    session.headers["User-Agent"] = user_agent
    # Only encodings whose decoding urllib3 bounds per read (no brotli/zstd surprises).
    session.headers["Accept-Encoding"] = "gzip, deflate"
    adapter = _DeadlineAdapter(max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


class CappedRetry(Retry):
    """urllib3's ``Retry`` that refuses a ``Retry-After`` longer than ``backoff_max``.

    urllib3 sleeps as long as the server asks; a ``Retry-After: 3600`` would stall a fetch for
    an hour. Past the cap the request fails (and is recorded) instead of waiting.
    """

    def sleep_for_retry(self, response=None) -> bool:  # noqa: D102 - urllib3 hook
        wait = self.get_retry_after(response) if response is not None else None
        if wait is not None and wait > self.backoff_max:
            raise MaxRetryError(None, getattr(response, "url", None) or "?", ResponseError(
                f"server asked to wait {wait:.0f} s (Retry-After), more than the "
                f"{self.backoff_max:.0f} s cap; try again later"))
        _check_deadline(wait or 0.0, response)
        return super().sleep_for_retry(response)

    def _sleep_backoff(self) -> None:
        _check_deadline(self.get_backoff_time(), None)
        super()._sleep_backoff()

    def increment(self, *args, **kwargs):  # noqa: D102 - urllib3 hook
        _check_deadline(0.0, kwargs.get("response"))
        return super().increment(*args, **kwargs)


def _check_deadline(wait: float, response) -> None:
    """Stop retrying when the request's deadline has passed or would pass while waiting."""
    deadline = active_deadline()
    if deadline is not None and (deadline.expired or wait >= deadline.remaining()):
        deadline.expire()
        raise MaxRetryError(None, getattr(response, "url", None) or "?", ResponseError(
            f"request deadline of {deadline.seconds:g} s reached"))


_CAUSED_BY = re.compile(r"Max retries exceeded with url: .* \(Caused by (.*)\)\s*$", re.S)
_POOL_PREFIX = re.compile(r"<?\w*HTTPS?Connection(?:Pool)?\(host='[^']*', port=\d+\)>?:\s*")


def describe_error(exc: BaseException) -> str:
    """Give the reason inside a requests/urllib3 error, without the pool and the full URL.

    urllib3 wraps the cause in "HTTPConnectionPool(host=…): Max retries exceeded with url:
    <the whole query string> (Caused by …)"; a user needs the cause.

    Examples
    --------
    >>> describe_error(ValueError("HTTPConnectionPool(host='h', port=1): Max retries exceeded "
    ...                           "with url: /q?x=1 (Caused by ResponseError('too many 503'))"))
    "ResponseError('too many 503')"
    """
    text = str(exc)
    match = _CAUSED_BY.search(text)
    if match:
        text = match.group(1)
    return " ".join(_POOL_PREFIX.sub("", text).split())


def read_bounded(response: requests.Response, max_bytes: int, *, what: str) -> bytes:
    """Read a streamed response body, refusing one longer than ``max_bytes``.

    The limit applies to the decoded bytes (after gzip/deflate). The body is read raw and
    inflated here with a bounded output per step (``zlib``'s ``max_length``), so a compression
    bomb stops at about ``max_bytes + CHUNK_SIZE`` bytes in memory whatever the socket's read
    sizes and whatever urllib3's own decoder does.
    """
    declared = response.headers.get("Content-Length")
    encoding = response.headers.get("Content-Encoding", "").strip().lower()
    if declared and declared.isdigit() and encoding in ("", "identity") \
            and int(declared) > max_bytes:
        raise ValueError(f"{what}: answer of {int(declared)} bytes exceeds {max_bytes}")
    inflate = _Inflater(encoding, what=what)
    chunks, size = [], 0
    for raw in _raw_chunks(response):
        for chunk in inflate.feed(raw):
            size += len(chunk)
            if size > max_bytes:
                raise ValueError(
                    f"{what}: answer exceeds {max_bytes} bytes (after decompression)")
            chunks.append(chunk)
    tail = inflate.finish()
    if size + len(tail) > max_bytes:
        raise ValueError(f"{what}: answer exceeds {max_bytes} bytes (after decompression)")
    body = b"".join([*chunks, tail])
    limit = active_deadline()
    if limit is not None and limit.expired:
        # a shut-down socket ends a body without Content-Length as if it were complete
        raise ValueError(f"{what}: the answer did not arrive within the deadline")
    return body


def _raw_chunks(response: requests.Response) -> Iterator[bytes]:
    """Yield the body as sent (not decoded), raising urllib3's errors as requests' own.

    Callers handle ``requests`` exceptions, as ``Response.iter_content`` raises them.
    """
    try:
        yield from response.raw.stream(CHUNK_SIZE, decode_content=False)
    except ProtocolError as exc:
        raise requests.exceptions.ChunkedEncodingError(exc) from exc
    except ReadTimeoutError as exc:
        raise requests.exceptions.ConnectionError(exc) from exc


class _Inflater:
    """Bounded-output decoder of one ``Content-Encoding`` (identity, gzip, deflate).

    ``deflate`` is zlib-wrapped data by the standard, raw deflate in practice from some
    servers; the first two bytes tell which (a zlib header is a multiple of 31).
    """

    def __init__(self, encoding: str, *, what: str) -> None:
        if encoding not in ("", "identity", "gzip", "x-gzip", "deflate"):
            raise ValueError(f"{what}: unsupported Content-Encoding {encoding!r} "
                             "(gzip, deflate or none)")
        self.encoding = encoding
        self._z: zlib._Decompress | None = None
        self._head = b""
        if encoding in ("gzip", "x-gzip"):
            self._z = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self.what = what

    def feed(self, data: bytes):
        """Yield the decoded bytes of ``data``, at most ``CHUNK_SIZE`` at a time."""
        if self.encoding in ("", "identity"):
            if data:
                yield data
            return
        if self._z is None:  # deflate: wait for two bytes to tell zlib from raw
            self._head += data
            if len(self._head) < 2:
                return
            data, self._head = self._head, b""
            zlib_header = (data[0] & 0x0F) == 8 and (data[0] << 8 | data[1]) % 31 == 0
            self._z = zlib.decompressobj(zlib.MAX_WBITS if zlib_header else -zlib.MAX_WBITS)
        try:
            while data:
                out = self._z.decompress(data, CHUNK_SIZE)
                if out:
                    yield out
                data = self._z.unconsumed_tail
        except zlib.error as exc:
            raise ValueError(f"{self.what}: corrupt {self.encoding} answer ({exc})") from exc

    def finish(self) -> bytes:
        """Return the decoded bytes still held (bounded: all of the input is consumed)."""
        if self._z is None:
            if self._head:  # a one-byte deflate body cannot be valid
                raise ValueError(f"{self.what}: corrupt {self.encoding} answer (truncated)")
            return b""
        try:
            return self._z.flush()
        except zlib.error as exc:
            raise ValueError(f"{self.what}: corrupt {self.encoding} answer ({exc})") from exc


def json_parse_cost(body: bytes) -> int:
    """Upper bound, in bytes, of the memory :func:`json.loads` can take for ``body``.

    Every JSON value but the first of a container follows a comma, so ``commas + brackets +
    braces + 1`` bounds the number of values; each costs at most ~80 bytes (a short string,
    a float, a list slot) or ~240 for an object, and the text itself is decoded once (4 bytes
    per character when any character is outside ASCII). Counting is done at C speed.

    Examples
    --------
    >>> json_parse_cost(b'{"a": [1, 2]}') < 1000
    True
    """
    values = body.count(b",") + body.count(b"[") + 1
    per_char = 2 if body.isascii() else 8
    return 80 * values + 240 * body.count(b"{") + per_char * len(body)


def parse_json_bounded(body: bytes, *, max_memory: int, what: str) -> object:
    """``json.loads`` that refuses answers whose parse could take more than ``max_memory``.

    Raises
    ------
    ValueError
        Not UTF-8 JSON, nested deeper than Python's parser allows, or too costly to parse
        (see :func:`json_parse_cost`); the message starts with ``what``.
    """
    cost = json_parse_cost(body)
    if cost > max_memory:
        raise ValueError(
            f"{what}: parsing this {len(body)}-byte answer could take up to {cost} bytes of "
            f"memory, more than the {max_memory}-byte bound (too many small JSON values)")
    try:
        return json.loads(body.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ValueError(f"{what}: not UTF-8 ({exc})") from exc
    except json.JSONDecodeError as exc:
        raise ValueError(f"{what}: not JSON ({exc})") from exc
    except RecursionError as exc:
        raise ValueError(f"{what}: JSON nested too deeply to parse") from exc


def part_path(dest: Path) -> Path:
    """Where :func:`download_file` keeps the unfinished bytes of ``dest``."""
    return dest.with_suffix(dest.suffix + ".part")


def _hash_file(path: Path) -> tuple[hashlib._Hash, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK_SIZE), b""):
            digest.update(chunk)
            size += len(chunk)
    return digest, size


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    return _hash_file(Path(path))[0].hexdigest()


def _total_from_content_range(value: str | None) -> tuple[int, int | None] | None:
    """``bytes START-END/TOTAL`` -> ``(START, TOTAL or None)``."""
    if not value:
        return None
    match = re.fullmatch(r"\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*", value)
    if not match:
        return None
    total = None if match.group(3) == "*" else int(match.group(3))
    return int(match.group(1)), total


def download_file(
    session: requests.Session,
    url: str,
    dest: Path,
    *,
    expected_sha256: str | None = None,
    max_bytes: int,
    timeout: float | tuple[float, float] = 30.0,
    progress: bool = False,
    retries: int = 0,
    backoff_factor: float = 0.0,
    deadline: float | None = None,
    deadline_key: str = "data.download.deadline",
) -> DownloadResult:
    """Download ``url`` to ``dest`` through ``dest.part``, resumably and verified.

    An existing ``.part`` file is continued with a ``Range`` request; if the server answers
    200 instead of 206 the download restarts from zero. A transfer that breaks off is resumed
    the same way up to ``retries`` times, sleeping ``backoff_factor * 2**n`` seconds (at most
    60) before resume ``n + 1``. Bytes are hashed while written. The file is renamed into place
    (:func:`os.replace`) only after its length matches the announced length and, if given, its
    SHA-256 matches ``expected_sha256``.

    Parameters
    ----------
    session : requests.Session
        Usually from :func:`make_session` (retries, User-Agent, deadlines).
    url : str
        Source URL; redirects are followed.
    dest : Path
        Final path. Its parent is created.
    expected_sha256 : str | None
        Hex digest the file must have, or None to skip the check.
    max_bytes : int
        Abort (before reading the body, when ``Content-Length`` says so) if the file is larger.
    timeout : float | tuple[float, float]
        Connect/read timeout in seconds, per read.
    progress : bool
        Show a tqdm bar of bytes.
    retries : int
        In-run resumes of a transfer that broke off (on top of the session's own retries of
        failed requests).
    backoff_factor : float
        Back-off between resumes, seconds.
    deadline : float | None
        Wall-clock limit for the whole file (every request, resume and sleep), or None.
    deadline_key : str
        Config key named when the deadline is reached.

    Returns
    -------
    DownloadResult

    Raises
    ------
    TooLargeError
        The file exceeds ``max_bytes`` (the partial file is deleted).
    DeadlineError
        The deadline passed first (``.part`` kept).
    IncompleteDownloadError
        The body was shorter than announced or the transfer broke off on every try
        (``.part`` kept).
    ChecksumError
        The SHA-256 differs from ``expected_sha256`` (the partial file is deleted).
    DownloadError
        Any other HTTP failure (status, retries exhausted, too many redirects).
    """
    if retries < 0:
        raise ValueError(f"retries must be >= 0, got {retries}")
    dest = Path(dest)
    part = part_path(dest)
    with request_deadline(deadline) as limit:
        for attempt in range(retries + 1):
            try:
                return _download_once(session, url, dest, expected_sha256=expected_sha256,
                                      max_bytes=max_bytes, timeout=timeout, progress=progress)
            except (TooLargeError, ChecksumError):
                raise
            except DownloadError as exc:
                if limit is not None and limit.expired:
                    got = part.stat().st_size if part.exists() else 0
                    raise DeadlineError(_MSG_DEADLINE.format(
                        url=url, seconds=limit.seconds, key=deadline_key, got=got, part=part,
                    )) from exc
                if not isinstance(exc, IncompleteDownloadError) or attempt == retries:
                    raise
                wait = min(60.0, backoff_factor * 2**attempt)
                if limit is not None:
                    wait = min(wait, limit.remaining())
                log.info("%s (resume %d of %d in %.1f s)", exc, attempt + 1, retries, wait)
                time.sleep(wait)
    raise AssertionError("unreachable")  # pragma: no cover


def _download_once(
    session: requests.Session,
    url: str,
    dest: Path,
    *,
    expected_sha256: str | None,
    max_bytes: int,
    timeout: float | tuple[float, float],
    progress: bool,
) -> DownloadResult:
    """One request of :func:`download_file` (resuming ``.part`` if present)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = part_path(dest)
    offset = part.stat().st_size if part.exists() else 0
    headers = {"Accept-Encoding": "identity"}  # sizes and hashes refer to the raw bytes
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        response = session.get(url, headers=headers, stream=True, timeout=timeout)
    except requests.RequestException as exc:
        raise DownloadError(f"{url}: {describe_error(exc)}") from exc

    with response:
        if response.status_code == 416 and offset:
            # The .part no longer fits the remote file: start afresh.
            log.info("%s: server refused to resume at byte %d; restarting", url, offset)
            part.unlink()
            return _download_once(
                session, url, dest, expected_sha256=expected_sha256, max_bytes=max_bytes,
                timeout=timeout, progress=progress,
            )
        if response.status_code >= 400:
            raise DownloadError(
                _MSG_STATUS.format(url=url, status=response.status_code, reason=response.reason)
            )
        resumed = False
        content_length = response.headers.get("Content-Length")
        body_length = int(content_length) if content_length and content_length.isdigit() else None
        if response.status_code == 206 and offset:
            span = _total_from_content_range(response.headers.get("Content-Range"))
            if span is None or span[0] != offset:
                raise DownloadError(
                    f"{url}: unusable Content-Range {span!r} for resume at byte {offset}"
                )
            resumed = True
            total = span[1] if span[1] is not None else (
                offset + body_length if body_length is not None else None
            )
            digest, _ = _hash_file(part)
            mode = "ab"
        else:
            offset, total, mode = 0, body_length, "wb"
            digest = hashlib.sha256()
        if total is not None and total > max_bytes:
            part.unlink(missing_ok=True)
            raise TooLargeError(_MSG_TOO_LARGE.format(url=url, size=total, limit=max_bytes))

        # Check the length ourselves, so that the bytes of a cut-off body are kept for a resume.
        response.raw.enforce_content_length = False
        received = offset
        bar = tqdm(
            total=total, initial=offset, unit="B", unit_scale=True, disable=not progress,
            desc=dest.name, leave=False,
        )
        try:
            with part.open(mode) as fh:
                for chunk in response.iter_content(CHUNK_SIZE):
                    received += len(chunk)
                    if received > max_bytes:
                        fh.close()
                        part.unlink(missing_ok=True)
                        raise TooLargeError(
                            _MSG_TOO_LARGE.format(url=url, size=f">{max_bytes}", limit=max_bytes)
                        )
                    fh.write(chunk)
                    digest.update(chunk)
                    bar.update(len(chunk))
        except requests.RequestException as exc:
            raise IncompleteDownloadError(
                _MSG_INTERRUPTED.format(url=url, got=received, error=type(exc).__name__, part=part)
            ) from exc
        finally:
            bar.close()

        if total is not None and received != total:
            raise IncompleteDownloadError(
                _MSG_INCOMPLETE.format(url=url, got=received, expected=total, part=part)
            )
        limit = active_deadline()
        if limit is not None and limit.expired:
            # A shut-down socket reads as a clean end of a body without Content-Length.
            raise IncompleteDownloadError(
                _MSG_INCOMPLETE.format(url=url, got=received, expected="?", part=part))
        actual = digest.hexdigest()
        if expected_sha256 is not None and actual != expected_sha256.lower():
            part.unlink(missing_ok=True)
            raise ChecksumError(
                _MSG_CHECKSUM.format(url=url, actual=actual, expected=expected_sha256)
            )
        os.replace(part, dest)
        content_type = response.headers.get("Content-Type")
        if content_type:
            content_type = content_type.split(";")[0].strip().lower()
        return DownloadResult(
            path=dest, sha256=actual, n_bytes=received, resumed=resumed,
            content_type=content_type, final_url=response.url,
        )
