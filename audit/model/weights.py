"""Find the FastGaze weights file once, verified by SHA-256, before a model is built.

Resolution order: an explicit path (``model.weights``), then ``$AUDIT_FASTGAZE_WEIGHTS``, then the
user cache (``$XDG_CACHE_HOME/cropaudit/fastgaze.vxm``, default ``~/.cache/...``), and last a
download from the pinned URL into that cache. Every candidate is checked against the pinned
SHA-256; a model never downloads at prediction time.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from audit.exceptions import WeightsError
from audit.http import DownloadError, download_file, make_session, sha256_file

log = logging.getLogger(__name__)

#: Twitter's release of the FastGaze weights, pinned to a commit (Apache-2.0).
PINNED_URL = (
    "https://raw.githubusercontent.com/twitter-research/image-crop-analysis/"
    "d66ad3bb3881fdbd12a27e04c3e57cc8fd772dd1/bin/fastgaze.vxm"
)
PINNED_SHA256 = "b76cefc218ec8969cc62b26ad0f41111800421287e7f2725d808da1d90afbdf7"
ENV_VAR = "AUDIT_FASTGAZE_WEIGHTS"
FILE_NAME = "fastgaze.vxm"
#: The real file is 489,616 bytes; anything far larger is not it.
MAX_BYTES = 8_000_000

_MSG_HOW = (
    "Provide the FastGaze weights in one of three ways: pass model.weights=PATH, "
    "set the environment variable {env}=PATH, or put the file at {cache}. "
    "The file is {url} (SHA-256 {sha})."
)
_MSG_EXPLICIT_MISSING = "model.weights={path} does not exist. " + _MSG_HOW
_MSG_ENV_MISSING = "{env}={path} does not exist. " + _MSG_HOW
_MSG_BAD_HASH = "{where} {path} has SHA-256 {actual}, expected {sha}. " + _MSG_HOW
_MSG_DOWNLOAD_FAILED = "Could not download the FastGaze weights ({error}). " + _MSG_HOW
_MSG_NOT_FOUND = "FastGaze weights not found and downloading is switched off. " + _MSG_HOW


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/cropaudit`` or ``~/.cache/cropaudit``."""
    base = os.environ.get("XDG_CACHE_HOME")
    root = Path(base) if base else Path.home() / ".cache"
    return root / "cropaudit"


def _message(template: str, *, cache: Path, url: str, sha: str, **fields: object) -> str:
    return template.format(env=ENV_VAR, cache=cache, url=url, sha=sha, **fields)


def _check(path: Path, where: str, *, cache: Path, url: str, sha256: str) -> Path:
    actual = sha256_file(path)
    if actual != sha256.lower():
        raise WeightsError(
            _message(_MSG_BAD_HASH, where=where, path=path, actual=actual,
                     cache=cache, url=url, sha=sha256)
        )
    return path


def resolve_weights(
    explicit: str | Path | None = None,
    *,
    cache_dir: Path | None = None,
    url: str = PINNED_URL,
    sha256: str = PINNED_SHA256,
    download: bool = True,
    timeout: float = 60.0,
    retries: int = 3,
    progress: bool = True,
) -> Path:
    """Return a verified path to the FastGaze weights.

    Parameters
    ----------
    explicit : str | Path | None
        Path given in the config (``model.weights``); used as is, and its hash must match.
    cache_dir : Path | None
        Cache folder; default :func:`default_cache_dir`.
    url : str
        Where to download from when nothing local is found.
    sha256 : str
        Hex SHA-256 every candidate must have.
    download : bool
        Allow the download step.
    timeout : float
        Per-request timeout of the download, in seconds.
    retries : int
        Retries of the download request (exponential back-off).
    progress : bool
        Show a tqdm bar while downloading.

    Returns
    -------
    Path
        The verified weights file.

    Raises
    ------
    WeightsError
        The file is missing, has the wrong hash, or cannot be downloaded. The message names
        the three ways to provide it, the URL and the expected hash.
    """
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    cached = cache / FILE_NAME
    ctx = {"cache": cached, "url": url, "sha256": sha256}

    if explicit is not None and str(explicit) != "":
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise WeightsError(
                _message(_MSG_EXPLICIT_MISSING, path=path, cache=cached, url=url, sha=sha256)
            )
        return _check(path, "model.weights", **ctx)

    env = os.environ.get(ENV_VAR)
    if env:
        path = Path(env).expanduser()
        if not path.is_file():
            raise WeightsError(
                _message(_MSG_ENV_MISSING, path=path, cache=cached, url=url, sha=sha256)
            )
        return _check(path, ENV_VAR, **ctx)

    if cached.is_file():
        if sha256_file(cached) == sha256.lower():
            return cached
        # A stale or corrupt cache entry is replaced by a fresh download below.
        log.warning("Cached weights %s have the wrong SHA-256; downloading again", cached)
        if not download:
            return _check(cached, "cached file", **ctx)

    if not download:
        raise WeightsError(_message(_MSG_NOT_FOUND, cache=cached, url=url, sha=sha256))

    log.info("Downloading FastGaze weights from %s to %s", url, cached)
    from audit import __version__

    session = make_session(
        user_agent=f"cropaudit/{__version__} (FastGaze weights download) python-requests",
        total_retries=retries, backoff_factor=1.0,
    )
    try:
        with session:
            download_file(
                session, url, cached, expected_sha256=sha256, max_bytes=MAX_BYTES,
                timeout=timeout, progress=progress,
            )
    except (DownloadError, OSError) as exc:
        raise WeightsError(
            _message(_MSG_DOWNLOAD_FAILED, error=exc, cache=cached, url=url, sha=sha256)
        ) from exc
    return cached
