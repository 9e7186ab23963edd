"""Polite HTTP for the network steps: a retrying session and a resumable, verified file download.

:func:`make_session` builds a :class:`requests.Session` whose retries come from urllib3's
:class:`~urllib3.util.retry.Retry` (exponential back-off, ``Retry-After`` honoured on 429 and
503). :func:`download_file` streams one URL to disk through a ``.part`` file, hashing while it
writes, and renames it into place only when it is complete and verified. Only the fetch step
(``python -m audit.fetch``) and the weights resolver use this module; audit runs stay offline.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

import requests
from requests.adapters import HTTPAdapter
from tqdm.auto import tqdm
from urllib3.exceptions import MaxRetryError, ResponseError
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
    adapter = HTTPAdapter(max_retries=retry)
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
        return super().sleep_for_retry(response)


def read_bounded(response: requests.Response, max_bytes: int, *, what: str) -> bytes:
    """Read a streamed response body, refusing one longer than ``max_bytes``."""
    declared = response.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise ValueError(f"{what}: answer of {int(declared)} bytes exceeds {max_bytes}")
    chunks, size = [], 0
    for chunk in response.iter_content(CHUNK_SIZE):
        size += len(chunk)
        if size > max_bytes:
            raise ValueError(f"{what}: answer exceeds {max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


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
) -> DownloadResult:
    """Download ``url`` to ``dest`` through ``dest.part``, resumably and verified.

    An existing ``.part`` file is continued with a ``Range`` request; if the server answers
    200 instead of 206 the download restarts from zero. Bytes are hashed while written. The
    file is renamed into place (:func:`os.replace`) only after its length matches the
    announced length and, if given, its SHA-256 matches ``expected_sha256``.

    Parameters
    ----------
    session : requests.Session
        Usually from :func:`make_session` (retries, User-Agent).
    url : str
        Source URL; redirects are followed.
    dest : Path
        Final path. Its parent is created.
    expected_sha256 : str | None
        Hex digest the file must have, or None to skip the check.
    max_bytes : int
        Abort (before reading the body, when ``Content-Length`` says so) if the file is larger.
    timeout : float | tuple[float, float]
        Connect/read timeout in seconds, per request.
    progress : bool
        Show a tqdm bar of bytes.

    Returns
    -------
    DownloadResult

    Raises
    ------
    TooLargeError
        The file exceeds ``max_bytes`` (the partial file is deleted).
    IncompleteDownloadError
        The body was shorter than announced or the transfer broke off (``.part`` kept).
    ChecksumError
        The SHA-256 differs from ``expected_sha256`` (the partial file is deleted).
    DownloadError
        Any other HTTP failure (status, retries exhausted, too many redirects).
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = part_path(dest)
    offset = part.stat().st_size if part.exists() else 0
    headers = {"Accept-Encoding": "identity"}  # sizes and hashes refer to the raw bytes
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        response = session.get(url, headers=headers, stream=True, timeout=timeout)
    except requests.RequestException as exc:
        raise DownloadError(f"{url}: {exc}") from exc

    with response:
        if response.status_code == 416 and offset:
            # The .part no longer fits the remote file: start afresh.
            log.info("%s: server refused to resume at byte %d; restarting", url, offset)
            part.unlink()
            return download_file(
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
