"""Ask the Wikimedia Commons API about image files: URL, size, MIME type, SHA-1, licence, author.

Input: Commons file names (as in ``Special:FilePath/<name>``). Output: one row per file with what
the downloader needs (URL, size, MIME, SHA-1) and what a figure needs for attribution (licence,
author, description page). Uses ``action=query&prop=imageinfo`` in batches of 50 titles.
"""

from __future__ import annotations

import html
import json
import logging
import re
from collections.abc import Sequence

import pandas as pd
import requests

from audit.http import read_bounded

log = logging.getLogger(__name__)

#: Largest API answer read (a batch of 50 files' metadata is a few hundred KB).
MAX_ANSWER_BYTES = 32 * 2**20

BATCH_SIZE = 50  # the API's limit on titles per request for ordinary clients
IMAGEINFO_COLUMNS = (
    "image_file", "exists", "download_url", "file_url", "file_bytes", "file_width",
    "file_height", "mime", "sha1", "licence", "licence_url", "author", "credit",
    "description_url",
)
_META_FIELDS = "LicenseShortName|LicenseUrl|Artist|Credit|UsageTerms|AttributionRequired"
_TAG_RE = re.compile(r"<[^>]+>")

_MSG_API_FAILED = "The Commons API {api} failed: {error}"
_MSG_API_MALFORMED = (
    "The Commons API {api} returned an unexpected answer ({problem}); check data.commons_api"
)


class CommonsError(RuntimeError):
    """The Commons API could not be queried or answered something unusable."""


def strip_html(text: str | None) -> str | None:
    """Plain text of an extmetadata value (they often hold HTML links).

    Examples
    --------
    >>> strip_html('<a href="//x">Jane &amp; Doe</a>')
    'Jane & Doe'
    """
    if text is None:
        return None
    plain = html.unescape(_TAG_RE.sub("", str(text)))
    return " ".join(plain.split()) or None


def _meta(info: dict, key: str) -> str | None:
    entry = info.get("extmetadata", {}).get(key)
    return strip_html(entry.get("value")) if isinstance(entry, dict) else None


def _info_row(name: str, page: dict | None) -> dict:
    row = dict.fromkeys(IMAGEINFO_COLUMNS)
    row["image_file"] = name
    row["exists"] = False
    if not page or page.get("missing") or page.get("invalid") or not page.get("imageinfo"):
        return row
    info = page["imageinfo"][0]
    row.update({
        "exists": True,
        "file_url": info.get("url"),
        # thumburl is only present when a width was asked for
        "download_url": info.get("thumburl") or info.get("url"),
        "file_bytes": info.get("size"),
        "file_width": info.get("width"),
        "file_height": info.get("height"),
        "mime": info.get("mime"),
        "sha1": info.get("sha1"),
        "licence": _meta(info, "LicenseShortName") or _meta(info, "UsageTerms"),
        "licence_url": _meta(info, "LicenseUrl"),
        "author": _meta(info, "Artist"),
        "credit": _meta(info, "Credit"),
        "description_url": info.get("descriptionurl"),
    })
    return row


def fetch_imageinfo(
    session: requests.Session,
    api: str,
    file_names: Sequence[str],
    *,
    width: int | None = None,
    timeout: float = 60.0,
) -> tuple[pd.DataFrame, list[dict]]:
    """Query ``prop=imageinfo`` for every file name.

    Parameters
    ----------
    session : requests.Session
        With retries and User-Agent (:func:`audit.http.make_session`).
    api : str
        ``https://commons.wikimedia.org/w/api.php`` or a stand-in.
    file_names : Sequence[str]
        Names without the ``File:`` prefix; duplicates are asked once.
    width : int | None
        Ask Commons for a scaled rendering ``width`` px wide (``download_url`` is then the
        thumbnail URL); None for original files.
    timeout : float
        Per-request timeout, seconds.

    Returns
    -------
    table : pd.DataFrame
        One row per unique name, columns :data:`IMAGEINFO_COLUMNS`.
    responses : list[dict]
        The decoded API answers, for the raw record.

    Raises
    ------
    CommonsError
        On network failure after retries, non-JSON answers or an API error object.
    """
    names = list(dict.fromkeys(file_names))
    rows: list[dict] = []
    responses: list[dict] = []
    for start in range(0, len(names), BATCH_SIZE):
        batch = names[start:start + BATCH_SIZE]
        params = {
            "action": "query", "format": "json", "formatversion": "2", "prop": "imageinfo",
            "iiprop": "url|size|mime|sha1|extmetadata", "iiextmetadatafilter": _META_FIELDS,
            "titles": "|".join(f"File:{n}" for n in batch),
        }
        if width is not None:
            params["iiurlwidth"] = str(width)
        try:
            with session.get(api, params=params, timeout=timeout, stream=True) as response:
                response.raise_for_status()
                doc = json.loads(read_bounded(response, MAX_ANSWER_BYTES,
                                              what=f"Commons API {api}"))
        except (requests.RequestException, ValueError) as exc:
            if isinstance(exc, json.JSONDecodeError):
                raise CommonsError(_MSG_API_MALFORMED.format(api=api, problem=exc)) from exc
            raise CommonsError(_MSG_API_FAILED.format(api=api, error=exc)) from exc
        if not isinstance(doc, dict) or "error" in doc or "query" not in doc:
            problem = doc.get("error") if isinstance(doc, dict) else "not an object"
            raise CommonsError(_MSG_API_MALFORMED.format(api=api, problem=problem))
        responses.append(doc)
        query = doc["query"]
        renamed = {n.get("from"): n.get("to") for n in query.get("normalized", [])}
        pages = {p.get("title"): p for p in query.get("pages", []) if isinstance(p, dict)}
        for name in batch:
            title = f"File:{name}"
            page = pages.get(renamed.get(title, title))
            rows.append(_info_row(name, page))
    log.info("Commons imageinfo: %d files, %d found", len(rows), sum(r["exists"] for r in rows))
    return pd.DataFrame(rows, columns=list(IMAGEINFO_COLUMNS)), responses


def imageinfo_from_responses(
    responses: Sequence[dict], file_names: Sequence[str]
) -> pd.DataFrame:
    """Rebuild the :func:`fetch_imageinfo` table from saved API answers (no network)."""
    renamed: dict[str, str] = {}
    pages: dict[str, dict] = {}
    for doc in responses:
        query = doc.get("query", {})
        renamed.update({n.get("from"): n.get("to") for n in query.get("normalized", [])})
        pages.update({p.get("title"): p for p in query.get("pages", []) if isinstance(p, dict)})
    rows = []
    for name in dict.fromkeys(file_names):
        title = f"File:{name}"
        rows.append(_info_row(name, pages.get(renamed.get(title, title))))
    return pd.DataFrame(rows, columns=list(IMAGEINFO_COLUMNS))
