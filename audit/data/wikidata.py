"""Query Wikidata for the people list and turn SPARQL JSON results into one row per person.

Input: the versioned query ``queries/people.rq`` (or another ``.rq`` file) and a SPARQL endpoint.
Output: the raw response bytes, and a DataFrame with QIDs instead of entity URIs and list columns
where a person has several values (several ethnic groups, occupations, images).
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pandas as pd
import requests

from audit.http import describe_error, parse_json_bounded, read_bounded, request_deadline

log = logging.getLogger(__name__)

#: Default largest query answer read, after decompression (the WikiCeleb answer is a few MB).
MAX_ANSWER_BYTES = 128 * 2**20
#: Parsing may take up to this many times the answer cap (see audit.http.json_parse_cost);
#: with the answer itself, memory stays under 4x the cap.
PARSE_MEMORY_FACTOR = 3
#: Upper bound of the memory one parsed row takes (tuple, QID, file name, table cells).
ROW_BYTES = 500
#: Rejected values kept in full for the provenance record; the rest are only counted.
MAX_REJECTED_KEPT = 1000

PACKAGED_QUERY = Path(__file__).with_name("queries") / "people.rq"
#: Result variables of the people query, in order.
QUERY_VARS = ("human", "image", "sex_or_gender", "ethnic_group", "occupation", "loc_aid")
#: variable -> column of the per-row table.
ROW_COLUMNS = {
    "human": "qid",
    "sex_or_gender": "gender_qid",
    "ethnic_group": "ethnicity_qid",
    "occupation": "occupation_qid",
    "loc_aid": "loc_aid",
}
#: Columns of :func:`aggregate_people` output.
PERSON_COLUMNS = (
    "qid", "image_file", "image_url", "n_images", "gender_qid", "ethnicity_qid",
    "occupation_qid", "loc_aid", "n_rows",
)
_ENTITY_RE = re.compile(r"^https?://www\.wikidata\.org/entity/(Q[1-9]\d*)$")
_REQUIRE_TAG = re.compile(r"^(?P<indent>\s*)(?P<triple>.*?)\s*#@require:(?P<name>\w+)\s*$")

_MSG_MALFORMED = (
    "The response from {endpoint} is not SPARQL 1.1 JSON results ({problem}); "
    "the raw body is saved at {raw}. Check data.endpoint and data.query_file"
)
_MSG_NO_TAG = (
    "data.require_{name}=false, but {query_file} has no line tagged '#@require:{name}'; "
    "edit the query file or keep data.require_{name}=true"
)
_MSG_QUERY_FAILED = "The SPARQL query to {endpoint} failed: {error}"
_MSG_QUERY_DEADLINE = (
    "The SPARQL query to {endpoint} did not complete within the {seconds:g} s deadline "
    "(data.query_deadline): {error}"
)


class QueryError(RuntimeError):
    """The SPARQL endpoint could not be queried (network, status, retries exhausted)."""


@dataclass
class ParsedResults:
    """Rows parsed from a SPARQL response.

    Attributes
    ----------
    rows : pd.DataFrame
        One row per binding with columns ``qid, image_file, image_url, gender_qid,
        ethnicity_qid, occupation_qid, loc_aid`` (missing bindings are None).
    rejected : list[dict]
        Values that were not Wikidata items (``Q...``), with variable and raw value (the
        first :data:`MAX_REJECTED_KEPT`).
    n_bindings : int
        Number of bindings in the response.
    n_rejected : int
        Number of rejected values (all of them).
    """

    rows: pd.DataFrame
    rejected: list[dict] = field(default_factory=list)
    n_bindings: int = 0
    n_rejected: int = 0


def render_query(
    text: str,
    *,
    require_occupation: bool = True,
    require_loc: bool = True,
    limit: int | None = None,
    query_file: str = "people.rq",
) -> str:
    """Apply the config options to the query text.

    Lines tagged ``#@require:occupation`` / ``#@require:loc`` become ``OPTIONAL { ... }`` when
    the matching option is False; ``limit`` appends ``LIMIT n``.

    Raises
    ------
    ValueError
        An option asks to relax a constraint the file does not tag.
    """
    wanted = {"occupation": require_occupation, "loc": require_loc}
    seen: set[str] = set()
    lines = []
    for line in text.splitlines():
        match = _REQUIRE_TAG.match(line)
        if match and match.group("name") in wanted:
            name = match.group("name")
            seen.add(name)
            triple = match.group("triple")
            line = match.group("indent") + (
                triple if wanted[name] else f"OPTIONAL {{ {triple} }}"
            )
        lines.append(line)
    for name, required in wanted.items():
        if not required and name not in seen:
            raise ValueError(_MSG_NO_TAG.format(name=name, query_file=query_file))
    rendered = "\n".join(lines).rstrip() + "\n"
    if limit is not None:
        rendered += f"LIMIT {int(limit)}\n"
    return rendered


def query_sha256(query: str) -> str:
    """Hex SHA-256 of the exact query text sent."""
    return hashlib.sha256(query.encode("utf-8")).hexdigest()


def run_query(
    session: requests.Session,
    endpoint: str,
    query: str,
    *,
    timeout: float,
    deadline: float | None = None,
    max_bytes: int = MAX_ANSWER_BYTES,
) -> bytes:
    """Send ``query`` to ``endpoint`` with GET and return the raw response body.

    Retries and back-off come from ``session`` (see :func:`audit.http.make_session`).

    Parameters
    ----------
    timeout : float
        Per-read timeout, seconds.
    deadline : float | None
        Wall-clock limit of the whole query (retries and body included), seconds.
    max_bytes : int
        Largest answer accepted, counted after decompression.

    Raises
    ------
    QueryError
        The request failed after retries, the deadline passed, the answer is too large, or
        the final status is an error.
    """
    with request_deadline(deadline) as limit:
        try:
            with session.get(
                endpoint,
                params={"query": query, "format": "json"},
                headers={"Accept": "application/sparql-results+json"},
                timeout=timeout,
                stream=True,
            ) as response:
                response.raise_for_status()
                return read_bounded(response, max_bytes, what=f"query service {endpoint}")
        except (requests.RequestException, ValueError) as exc:
            if limit is not None and limit.expired:
                raise QueryError(_MSG_QUERY_DEADLINE.format(
                    endpoint=endpoint, seconds=limit.seconds, error=describe_error(exc))) from exc
            raise QueryError(_MSG_QUERY_FAILED.format(
                endpoint=endpoint, error=describe_error(exc))) from exc


def entity_qid(value: str) -> str | None:
    """``http://www.wikidata.org/entity/Q42`` -> ``Q42``; None for anything else.

    Examples
    --------
    >>> entity_qid("http://www.wikidata.org/entity/Q42")
    'Q42'
    >>> entity_qid("http://www.wikidata.org/.well-known/genid/abc") is None
    True
    """
    match = _ENTITY_RE.match(value.strip())
    return match.group(1) if match else None


def commons_file_name(url: str) -> str:
    """Commons file name (title without ``File:``, spaces not underscores) from a FilePath URL.

    Examples
    --------
    >>> commons_file_name("http://commons.wikimedia.org/wiki/Special:FilePath/Jack_Dorsey_2014.jpg")
    'Jack Dorsey 2014.jpg'
    """
    path = unquote(urlsplit(url).path)
    name = path.rsplit("/", 1)[-1]
    if name.startswith("Special:FilePath"):
        name = ""
    return name.replace("_", " ").strip()


def parse_results(
    body: bytes, *, endpoint: str = "?", raw: str = "?", max_bytes: int = MAX_ANSWER_BYTES
) -> ParsedResults:
    """Parse SPARQL 1.1 JSON results of the people query.

    Parameters
    ----------
    body : bytes
        Raw response.
    endpoint, raw : str
        Used in error messages only (where it came from, where it is saved).
    max_bytes : int
        The answer cap; the parse is refused when it could take more than
        :data:`PARSE_MEMORY_FACTOR` times this much memory.

    Returns
    -------
    ParsedResults
        Rows whose ``human`` is not a Wikidata item are rejected; other non-item values
        (for example "unknown value" blank nodes) are set to None and recorded.

    Raises
    ------
    ValueError
        The body is not JSON, is nested absurdly deep, could take too much memory to parse,
        lacks ``results.bindings``, or holds a binding or value of the wrong type; the message
        says which binding and variable, and where the body is saved.
    """
    def fail(problem: str) -> ValueError:
        return ValueError(_MSG_MALFORMED.format(endpoint=endpoint, problem=problem, raw=raw))

    if len(body) > max_bytes:
        raise fail(f"{len(body)} bytes, more than the {max_bytes}-byte cap "
                   "(data.query_max_bytes)")
    # every row comes from a binding that names ?human, so this bounds the rows' memory
    row_cost = ROW_BYTES * body.count(b'"human"')
    try:
        doc = parse_json_bounded(body, max_memory=PARSE_MEMORY_FACTOR * max_bytes - row_cost,
                                 what="answer")
    except ValueError as exc:
        hint = " (raise data.query_max_bytes if it is genuine)" if "memory" in str(exc) else ""
        raise fail(str(exc).removeprefix("answer: ") + hint) from exc
    if not isinstance(doc, dict):
        raise fail("top level is not an object")
    bindings = doc.get("results", {}).get("bindings") if isinstance(
        doc.get("results"), dict) else None
    if not isinstance(bindings, list):
        raise fail("no results.bindings list")

    rows: list[tuple] = []
    rejected: list[dict] = []
    n_rejected = 0
    shared: dict = {}  # one object per repeated value or row: the answer repeats a lot

    def reject(var: str, value: str | None, index: int) -> None:
        nonlocal n_rejected
        n_rejected += 1
        if len(rejected) < MAX_REJECTED_KEPT:
            rejected.append({"variable": var, "value": value, "binding": index})

    for index, binding in enumerate(bindings):
        if not isinstance(binding, dict):
            raise fail(f"binding {index} is not an object but {_kind(binding)}")
        values: dict[str, str | None] = {}
        for var in QUERY_VARS:
            cell = binding.get(var)
            if cell is None:
                values[var] = None
                continue
            if not isinstance(cell, dict):
                raise fail(f"binding {index}: ?{var} is not an object but {_kind(cell)}")
            text = cell.get("value")
            if not isinstance(text, str):
                raise fail(f"binding {index}: ?{var} value is not a string but {_kind(text)}")
            values[var] = text
        human = values["human"]
        qid = entity_qid(human) if human else None
        if qid is None:
            reject("human", human, index)
            continue
        row: list[str | None] = [qid]
        image = values["image"]
        image_file = commons_file_name(image) if image else None
        if image and not image_file:
            reject("image", image, index)
            image = image_file = None
        row += [image_file, image]
        for var in ("sex_or_gender", "ethnic_group", "occupation"):
            raw_value = values[var]
            item = entity_qid(raw_value) if raw_value else None
            if raw_value and item is None:
                reject(var, raw_value, index)
            row.append(item)
        row.append(values["loc_aid"])
        key = tuple(shared.setdefault(v, v) for v in row)
        rows.append(shared.setdefault(key, key))
    n_bindings = len(bindings)
    del doc, bindings, shared
    columns = ["qid", "image_file", "image_url", "gender_qid", "ethnicity_qid",
               "occupation_qid", "loc_aid"]
    table = pd.DataFrame(rows, columns=columns, dtype=object)
    if n_rejected:
        log.warning("%d value(s) in the SPARQL results were not Wikidata items", n_rejected)
    return ParsedResults(rows=table, rejected=rejected, n_bindings=n_bindings,
                         n_rejected=n_rejected)


def _kind(value: object) -> str:
    """Name a JSON type in words (``an integer``, ``a list``, ``null``) for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    names = {int: "an integer", float: "a number", str: "a string", list: "a list",
             dict: "an object"}
    return names.get(type(value), type(value).__name__)


def _unique_sorted(values: pd.Series) -> list[str]:
    return sorted({v for v in values if isinstance(v, str) and v})


def aggregate_people(rows: pd.DataFrame) -> pd.DataFrame:
    """Collapse several rows per person into one, with list columns.

    One image per person: the first file name in sorted order, so reruns pick the same one.

    Returns
    -------
    pd.DataFrame
        Columns :data:`PERSON_COLUMNS`; ``gender_qid``, ``ethnicity_qid``, ``occupation_qid``
        and ``loc_aid`` hold sorted lists of unique values; sorted by ``qid`` number.
    """
    people = []
    for qid, group in rows.groupby("qid", sort=False):
        images = sorted({
            (f, u)
            for f, u in zip(group["image_file"], group["image_url"], strict=True)
            if isinstance(f, str)
        })
        people.append({
            "qid": qid,
            "image_file": images[0][0] if images else None,
            "image_url": images[0][1] if images else None,
            "n_images": len(images),
            "gender_qid": _unique_sorted(group["gender_qid"]),
            "ethnicity_qid": _unique_sorted(group["ethnicity_qid"]),
            "occupation_qid": _unique_sorted(group["occupation_qid"]),
            "loc_aid": _unique_sorted(group["loc_aid"]),
            "n_rows": len(group),
        })
    table = pd.DataFrame(people, columns=list(PERSON_COLUMNS))
    if len(table):
        order = table["qid"].str[1:].astype(int).argsort(kind="stable")
        table = table.iloc[order].reset_index(drop=True)
    return table
