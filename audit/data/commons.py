"""Ask the Wikimedia Commons API about image files: URL, size, MIME type, SHA-1, licence, author.

Input: Commons file names (as in ``Special:FilePath/<name>``). Output: one row per file with what
the downloader needs (URL, size, MIME, SHA-1) and what a figure needs for attribution (licence,
author, description page). Uses ``action=query&prop=imageinfo`` in batches of 50 titles and
follows ``continue`` until each batch is complete. Each answer is checked per file: a title
renamed by anything but the documented normalisations, or an ``imageinfo`` entry with a value of
the wrong type, becomes that file's ``info_problem`` (the downloader records it as status
``invalid_info``) instead of stopping the fetch or assigning another file.
"""

from __future__ import annotations

import html
import logging
import re
import unicodedata
from collections.abc import Sequence
from urllib.parse import unquote

import pandas as pd
import requests

from audit.http import describe_error, parse_json_bounded, read_bounded, request_deadline

log = logging.getLogger(__name__)

#: Largest API answer read (a batch of 50 files' metadata is a few hundred KB).
MAX_ANSWER_BYTES = 32 * 2**20
#: Continuation requests followed per batch before giving up (Commons needs one or two).
MAX_CONTINUE = 100

BATCH_SIZE = 50  # the API's limit on titles per request for ordinary clients
IMAGEINFO_COLUMNS = (
    "image_file", "exists", "download_url", "file_url", "file_bytes", "file_width",
    "file_height", "mime", "sha1", "licence", "licence_url", "author", "credit",
    "description_url", "info_problem",
)
_META_FIELDS = "LicenseShortName|LicenseUrl|Artist|Credit|UsageTerms|AttributionRequired"
_TAG_RE = re.compile(r"<[^>]+>")
_SHA1_RE = re.compile(r"^[0-9a-f]{40}$")

_MSG_API_FAILED = "The Commons API {api} failed: {error}"
_MSG_API_MALFORMED = (
    "The Commons API {api} returned an unexpected answer ({problem}); check data.commons_api"
)
_MSG_DEADLINE = (
    "The Commons API {api} did not answer within the {seconds:g} s deadline "
    "(data.api_deadline); raise it or try again later"
)
_MSG_RENAMED = (
    "Commons renamed {src!r} to {dst!r}, which is not one of the documented title "
    "normalisations (spaces/underscores, first-letter case, percent-encoding); refused"
)


class CommonsError(RuntimeError):
    """The Commons API could not be queried or answered something unusable."""


def canonical_title(title: str) -> str:
    """Normalise a title as MediaWiki does: decoded, NFC, ``_`` -> space, first letter upper.

    Examples
    --------
    >>> canonical_title("File:jack_dorsey%202014.jpg")
    'File:Jack dorsey 2014.jpg'
    >>> canonical_title("File:Jack Dorsey 2014.jpg") == canonical_title("File:jack_Dorsey_2014.jpg")
    True
    """
    text = unicodedata.normalize("NFC", unquote(str(title)))
    text = re.sub(r"[ _]+", " ", text).strip(" ")
    namespace, colon, rest = text.partition(":")
    if colon and namespace.strip(" ").lower() == "file":
        rest = rest.lstrip(" ")
        first = rest[:1].upper()
        return "File:" + (first if len(first) == 1 else rest[:1]) + rest[1:]
    return text


def _problem(info: object) -> str | None:
    """Say what is wrong with one ``imageinfo`` entry (None if it is usable)."""
    if not isinstance(info, dict):
        return f"imageinfo entry is {type(info).__name__}, not an object"
    for key in ("size", "width", "height"):
        value = info.get(key)
        if value is not None and (type(value) is not int or value < 0):
            return f"{key} is {value!r}, not a non-negative integer"
    for key in ("url", "thumburl", "descriptionurl"):
        value = info.get(key)
        if value is not None and not (isinstance(value, str)
                                      and value.startswith(("http://", "https://"))):
            return f"{key} is {value!r}, not an http(s) URL"
    if not isinstance(info.get("url"), str):
        return "no url"
    mime = info.get("mime")
    if mime is not None and not isinstance(mime, str):
        return f"mime is {mime!r}, not a string"
    sha1 = info.get("sha1")
    if sha1 is not None and not (isinstance(sha1, str) and _SHA1_RE.match(sha1)):
        return f"sha1 is {sha1!r}, not 40 hexadecimal digits"
    meta = info.get("extmetadata")
    if meta is not None and not isinstance(meta, dict):
        return f"extmetadata is {type(meta).__name__}, not an object"
    return None


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
    entry = (info.get("extmetadata") or {}).get(key)
    value = entry.get("value") if isinstance(entry, dict) else None
    return strip_html(value) if isinstance(value, str | int | float) else None


def _info_row(name: str, page: dict | None, problem: str | None = None) -> dict:
    row = dict.fromkeys(IMAGEINFO_COLUMNS)
    row["image_file"] = name
    row["exists"] = False
    if problem is None and page is not None:
        infos = page.get("imageinfo")
        if infos is not None and not (isinstance(infos, list) and infos):
            problem = f"imageinfo is {infos!r}, not a non-empty list"
        elif infos and not (page.get("missing") or page.get("invalid")):
            problem = _problem(infos[0])
    if problem is not None:
        row["info_problem"] = f"File:{name}: {problem}"
        return row
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


def _check_doc(doc: object, api: str) -> dict:
    """Return the ``query`` object of one answer; CommonsError naming what is wrong."""
    if not isinstance(doc, dict) or "error" in doc or not isinstance(doc.get("query"), dict):
        problem = (doc.get("error") or "no query object") if isinstance(doc, dict) \
            else "not an object"
        raise CommonsError(_MSG_API_MALFORMED.format(api=api, problem=problem))
    query = doc["query"]
    for key in ("normalized", "pages"):
        if not isinstance(query.get(key, []), list):
            raise CommonsError(_MSG_API_MALFORMED.format(api=api, problem=f"query.{key} "
                                                         "is not a list"))
    return query


def _rows(docs: Sequence[object], names: Sequence[str], api: str) -> list[dict]:
    """One row per name from all answers of its batches (``continue`` pages merged)."""
    renamed: dict[str, str] = {}
    pages: dict[str, dict] = {}
    for doc in docs:
        query = _check_doc(doc, api)
        for entry in query.get("normalized", []):
            if isinstance(entry, dict) and isinstance(entry.get("from"), str) \
                    and isinstance(entry.get("to"), str):
                renamed.setdefault(entry["from"], entry["to"])
        for page in query.get("pages", []):
            if not isinstance(page, dict) or not isinstance(page.get("title"), str):
                continue
            known = pages.get(page["title"])
            # a continuation answer carries the imageinfo the first one left out
            if known is None or (not known.get("imageinfo") and page.get("imageinfo")):
                pages[page["title"]] = page
    rows = []
    for name in dict.fromkeys(names):
        title = f"File:{name}"
        target = renamed.get(title, title)
        problem = None
        if target != title and canonical_title(target) != canonical_title(title):
            problem = _MSG_RENAMED.format(src=title, dst=target)
        rows.append(_info_row(name, pages.get(target), problem))
    return rows


def fetch_imageinfo(
    session: requests.Session,
    api: str,
    file_names: Sequence[str],
    *,
    width: int | None = None,
    timeout: float = 60.0,
    deadline: float | None = None,
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
        Per-read timeout, seconds.
    deadline : float | None
        Wall-clock limit of each API request (retries included), seconds; None for none.

    Returns
    -------
    table : pd.DataFrame
        One row per unique name, columns :data:`IMAGEINFO_COLUMNS`.
    responses : list[dict]
        The decoded API answers (continuations included), for the raw record.

    Raises
    ------
    CommonsError
        On network failure after retries, non-JSON answers or an API error object.
    """
    names = list(dict.fromkeys(file_names))
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
        for _ in range(MAX_CONTINUE + 1):
            doc = _get(session, api, params, timeout=timeout, deadline=deadline)
            _check_doc(doc, api)
            responses.append(doc)
            more = doc.get("continue")
            if more is None:
                break
            if not isinstance(more, dict) or not all(
                    isinstance(k, str) and isinstance(v, str | int) for k, v in more.items()):
                raise CommonsError(_MSG_API_MALFORMED.format(
                    api=api, problem=f"continue is {more!r}, not an object of strings"))
            params = {**params, **{k: str(v) for k, v in more.items()}}
        else:
            raise CommonsError(_MSG_API_MALFORMED.format(
                api=api, problem=f"still continuing after {MAX_CONTINUE} requests"))
    rows = _rows(responses, names, api)
    log.info("Commons imageinfo: %d files, %d found, %d refused", len(rows),
             sum(r["exists"] for r in rows), sum(r["info_problem"] is not None for r in rows))
    return pd.DataFrame(rows, columns=list(IMAGEINFO_COLUMNS)), responses


def _get(session: requests.Session, api: str, params: dict, *, timeout: float,
         deadline: float | None) -> object:
    what = f"Commons API {api}"
    with request_deadline(deadline) as limit:
        try:
            with session.get(api, params=params, timeout=timeout, stream=True) as response:
                response.raise_for_status()
                body = read_bounded(response, MAX_ANSWER_BYTES, what=what)
        except (requests.RequestException, ValueError) as exc:
            if limit is not None and limit.expired:
                raise CommonsError(_MSG_DEADLINE.format(api=api, seconds=limit.seconds)) \
                    from exc
            raise CommonsError(_MSG_API_FAILED.format(api=api, error=describe_error(exc))) \
                from exc
    try:
        # with the answer itself, memory stays under 4x the cap
        return parse_json_bounded(body, max_memory=3 * MAX_ANSWER_BYTES, what=what)
    except ValueError as exc:
        raise CommonsError(_MSG_API_MALFORMED.format(api=api, problem=exc)) from exc


def imageinfo_from_responses(
    responses: Sequence[dict], file_names: Sequence[str], *, api: str = "(saved answer)"
) -> pd.DataFrame:
    """Rebuild the :func:`fetch_imageinfo` table from saved API answers (no network).

    Raises
    ------
    CommonsError
        A saved answer is not a Commons ``query`` answer.
    """
    rows = _rows(responses, file_names, api)
    return pd.DataFrame(rows, columns=list(IMAGEINFO_COLUMNS))
