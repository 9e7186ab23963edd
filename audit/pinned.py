"""Files the project downloads itself, pinned by URL and SHA-256, resolved once before use.

Resolution order for every pinned file: an explicit path from the config, then an environment
variable, then the user cache (``$XDG_CACHE_HOME/cropaudit/``, default ``~/.cache/cropaudit/``),
and last a download from the pinned URL into that cache (bounded, atomic, hash-checked). Every
candidate is checked against the pinned SHA-256. A failure names the three ways to provide the
file, the URL and the expected hash.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from audit.http import DownloadError, download_file, make_session, sha256_file

log = logging.getLogger(__name__)

_MSG_HOW = (
    "Provide {what} in one of three ways: pass {key}=PATH, set the environment variable "
    "{env}=PATH, or put the file at {cache}. The file is {url} (SHA-256 {sha})."
)
_MSG_EXPLICIT_MISSING = "{key}={path} does not exist. " + _MSG_HOW
_MSG_ENV_MISSING = "{env}={path} does not exist. " + _MSG_HOW
_MSG_BAD_HASH = "{where} {path} has SHA-256 {actual}, expected {sha}. " + _MSG_HOW
_MSG_DOWNLOAD_FAILED = "Could not download {what} ({error}). " + _MSG_HOW
_MSG_NOT_FOUND = "{What} not found and downloading is switched off. " + _MSG_HOW


@dataclass(frozen=True)
class PinnedFile:
    """A file the project may download: where from, what it must hash to, how to override.

    Attributes
    ----------
    what : str
        Human name used in messages ("the FastGaze weights").
    file_name : str
        Name in the cache folder.
    url : str
        Pinned download address (a commit-pinned URL).
    sha256 : str
        Hex SHA-256 every candidate must have.
    env_var : str
        Environment variable that may point at a local copy.
    config_key : str
        Config key that may point at a local copy (named in messages).
    max_bytes : int
        Download bound.
    """

    what: str
    file_name: str
    url: str
    sha256: str
    env_var: str
    config_key: str
    max_bytes: int


def default_cache_dir() -> Path:
    """Return ``$XDG_CACHE_HOME/cropaudit`` or ``~/.cache/cropaudit``."""
    base = os.environ.get("XDG_CACHE_HOME")
    root = Path(base) if base else Path.home() / ".cache"
    return root / "cropaudit"


def resolve_pinned(
    spec: PinnedFile,
    explicit: str | Path | None = None,
    *,
    error: type[Exception] = FileNotFoundError,
    cache_dir: Path | None = None,
    url: str | None = None,
    sha256: str | None = None,
    download: bool = True,
    timeout: float = 60.0,
    retries: int = 3,
    progress: bool = True,
) -> Path:
    """Return a verified local path to a pinned file, downloading it into the cache if needed.

    Parameters
    ----------
    spec : PinnedFile
        The file.
    explicit : str | Path | None
        Path from the config; used as is, and its hash must match.
    error : type of Exception
        Raised (with the full message) on any failure.
    cache_dir : Path | None
        Cache folder; default :func:`default_cache_dir`.
    url, sha256 : str | None
        Override the spec's address and hash (tests point them at a local server).
    download : bool
        Allow the download step.
    timeout : float
        Per-request timeout of the download, in seconds.
    retries : int
        Retries of the download (back-off, ``Retry-After`` honoured).
    progress : bool
        Show a tqdm bar while downloading.

    Raises
    ------
    Exception
        ``error``: the file is missing, has the wrong hash, or cannot be downloaded.
    """
    url = url or spec.url
    sha = (sha256 or spec.sha256).lower()
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    cached = cache / spec.file_name
    fields = {"what": spec.what, "What": spec.what[:1].upper() + spec.what[1:],
              "key": spec.config_key, "env": spec.env_var, "cache": cached, "url": url,
              "sha": sha}

    def check(path: Path, where: str) -> Path:
        actual = sha256_file(path)
        if actual != sha:
            raise error(_MSG_BAD_HASH.format(where=where, path=path, actual=actual, **fields))
        return path

    if explicit is not None and str(explicit) != "":
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise error(_MSG_EXPLICIT_MISSING.format(path=path, **fields))
        return check(path, spec.config_key)

    env = os.environ.get(spec.env_var)
    if env:
        path = Path(env).expanduser()
        if not path.is_file():
            raise error(_MSG_ENV_MISSING.format(path=path, **fields))
        return check(path, spec.env_var)

    if cached.is_file():
        if sha256_file(cached) == sha:
            return cached
        # A stale or corrupt cache entry is replaced by a fresh download below.
        log.warning("Cached %s at %s has the wrong SHA-256; downloading again", spec.what, cached)
        if not download:
            return check(cached, "cached file")

    if not download:
        raise error(_MSG_NOT_FOUND.format(**fields))

    log.info("Downloading %s from %s to %s", spec.what, url, cached)
    from audit import __version__

    session = make_session(
        user_agent=f"cropaudit/{__version__} (pinned file download) python-requests",
        total_retries=retries, backoff_factor=1.0,
    )
    try:
        with session:
            # a short connect timeout: an offline machine must fail fast, not hang per retry
            download_file(session, url, cached, expected_sha256=sha, max_bytes=spec.max_bytes,
                          timeout=(min(10.0, timeout), timeout), progress=progress)
    except (DownloadError, OSError) as exc:
        raise error(_MSG_DOWNLOAD_FAILED.format(error=exc, **fields)) from exc
    return cached
