"""Find the FastGaze weights file once, verified by SHA-256, before a model is built.

Resolution order: an explicit path (``model.weights``), then ``$AUDIT_FASTGAZE_WEIGHTS``, then the
user cache (``$XDG_CACHE_HOME/cropaudit/fastgaze.vxm``, default ``~/.cache/...``), and last a
download from the pinned URL into that cache (see :mod:`audit.pinned`). A model never
downloads at prediction time.
"""

from __future__ import annotations

from pathlib import Path

from audit.exceptions import WeightsError
from audit.pinned import PinnedFile, default_cache_dir, resolve_pinned

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

WEIGHTS = PinnedFile(what="the FastGaze weights", file_name=FILE_NAME, url=PINNED_URL,
                     sha256=PINNED_SHA256, env_var=ENV_VAR, config_key="model.weights",
                     max_bytes=MAX_BYTES)

__all__ = ["ENV_VAR", "FILE_NAME", "PINNED_SHA256", "PINNED_URL", "WEIGHTS",
           "default_cache_dir", "resolve_weights"]


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
        Cache folder; default :func:`audit.pinned.default_cache_dir`.
    url, sha256 : str
        Where to download from when nothing local is found, and the hash every candidate
        must have.
    download : bool
        Allow the download step.
    timeout, retries, progress
        Download settings (see :func:`audit.pinned.resolve_pinned`).

    Raises
    ------
    WeightsError
        The file is missing, has the wrong hash, or cannot be downloaded. The message names
        the three ways to provide it, the URL and the expected hash.
    """
    return resolve_pinned(WEIGHTS, explicit, error=WeightsError, cache_dir=cache_dir, url=url,
                          sha256=sha256, download=download, timeout=timeout, retries=retries,
                          progress=progress)
