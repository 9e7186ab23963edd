"""Run the network fetch for ``data=wikidata``: query -> raw record -> Commons -> images -> table.

Input: a :class:`~audit.data.settings.DataConfig` and the project root. Output, all under the root:
``<raw_dir>/wikidata_<sha8>.json`` (raw SPARQL response), ``<raw_dir>/commons_<sha8>_<w>.json``
(raw imageinfo answers), ``<raw_dir>/wikidata_<sha8>.provenance.json``, the images in
``<images_dir>/<QID>.<ext>`` and the people table ``<table>`` (Parquet) with its provenance
beside it. Raw answers are reused on a rerun (``data.refresh=true`` queries again), and complete
images are not downloaded again, so a second run makes no requests.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import requests

from audit import __version__
from audit.data.commons import CommonsError, fetch_imageinfo, imageinfo_from_responses
from audit.data.download import download_images
from audit.data.settings import DataConfig
from audit.data.table import apply_mappings, load_mapping
from audit.data.wikidata import (
    PACKAGED_QUERY,
    aggregate_people,
    parse_results,
    query_sha256,
    render_query,
    run_query,
)
from audit.http import make_session, sha256_file
from audit.io import resolve_path

log = logging.getLogger(__name__)

_MSG_NO_CONTACT = (
    "data.contact is empty; Wikimedia asks every client to identify itself with a contact. "
    "Run: python -m audit.fetch data=wikidata data.contact=YOUR_EMAIL_OR_URL"
)
_MSG_QUERY_FILE = "data.query_file={path} does not exist; give a .rq file or null for the default"


def user_agent(contact: str) -> str:
    """User-Agent in the form Wikimedia's policy asks for (client/version (contact) lib/version)."""
    return f"cropaudit/{__version__} (bias audit of image cropping; {contact}) " \
        f"python-requests/{requests.__version__}"


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _relative(path: object, root: Path) -> str | None:
    if not isinstance(path, str) or not path:
        return None
    p = Path(path)
    try:
        return p.resolve().relative_to(Path(root).resolve()).as_posix()
    except ValueError:
        return str(p)


def _cached_imageinfo(path: Path, names: list[str]) -> pd.DataFrame | None:
    """Rebuild the imageinfo table from a saved record; None when it must be asked again.

    A record is used only if it covers exactly these files and says every ``continue`` was
    followed (records of older versions did not, and left files past the first page
    ``missing``); an unreadable one is set aside rather than trusted or crashed on.
    """
    try:
        cached = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        log.warning("Ignoring unreadable Commons record %s (%s); asking the API again", path,
                    exc)
        return None
    if not isinstance(cached, dict) or not isinstance(cached.get("responses"), list):
        log.warning("Ignoring malformed Commons record %s; asking the API again", path)
        return None
    if sorted(cached.get("files") or []) != sorted(set(names)):
        return None
    if cached.get("complete") is not True:
        log.info("Commons record %s may be incomplete (no 'complete' flag); asking again", path)
        return None
    try:
        return imageinfo_from_responses(cached["responses"], names, api=str(path))
    except CommonsError as exc:
        log.warning("Ignoring Commons record %s (%s); asking the API again", path, exc)
        return None


def fetch_wikidata(config: DataConfig, *, root: Path) -> dict:
    """Fetch the Wikidata people table and its images (the body of ``python -m audit.fetch``).

    Parameters
    ----------
    config : DataConfig
        ``source`` should be ``wikidata``; uses endpoint, commons_api, contact, query options,
        retries, raw_dir, table, images_dir, mappings and download.
    root : Path
        Project root for relative paths.

    Returns
    -------
    dict
        The provenance record (also written as JSON beside the raw response and the table).

    Raises
    ------
    ValueError
        No contact, a query option the query file cannot apply, or a malformed response.
    audit.data.wikidata.QueryError, audit.data.commons.CommonsError
        The query service or the Commons API failed after retries.
    """
    if not config.contact.strip():
        raise ValueError(_MSG_NO_CONTACT)
    root = Path(root)
    query_path = resolve_path(root, config.query_file) if config.query_file else PACKAGED_QUERY
    if not query_path.is_file():
        raise FileNotFoundError(_MSG_QUERY_FILE.format(path=query_path))
    query = render_query(
        query_path.read_text(encoding="utf-8"), require_occupation=config.require_occupation,
        require_loc=config.require_loc, limit=config.limit, query_file=str(query_path),
    )
    sha = query_sha256(query)
    # Read the mapping files first: a missing one must not cost a whole fetch to find out.
    gender_map = load_mapping(resolve_path(root, config.mappings.gender), column="gender",
                              key="gender")
    race_map = load_mapping(resolve_path(root, config.mappings.ethnicity_to_race),
                            column="race", key="ethnicity_to_race")
    raw_dir = resolve_path(root, config.raw_dir)
    raw_path = raw_dir / f"wikidata_{sha[:8]}.json"
    prov_path = raw_dir / f"wikidata_{sha[:8]}.provenance.json"
    agent = user_agent(config.contact)

    def session_factory() -> requests.Session:
        return make_session(user_agent=agent, total_retries=config.retries,
                            backoff_factor=config.backoff_factor)

    earlier = json.loads(prov_path.read_text(encoding="utf-8")) if prov_path.is_file() else {}
    with session_factory() as session:
        if raw_path.is_file() and not config.refresh:
            log.info("Reusing raw response %s (data.refresh=true to query again)", raw_path)
            body = raw_path.read_bytes()
            fetched_at = earlier.get("fetched_at")
            parsed = parse_results(body, endpoint=config.endpoint, raw=str(raw_path),
                                   max_bytes=config.query_max_bytes)
        else:
            log.info("Querying %s (query sha256 %s)", config.endpoint, sha[:8])
            body = run_query(session, config.endpoint, query, timeout=config.query_timeout,
                             deadline=config.query_deadline, max_bytes=config.query_max_bytes)
            fetched_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
            invalid_path = raw_dir / f"wikidata_{sha[:8]}.invalid.json"
            try:
                parsed = parse_results(body, endpoint=config.endpoint, raw=str(invalid_path),
                                       max_bytes=config.query_max_bytes)
            except ValueError:
                # Kept for inspection under another name, so that a rerun queries again
                # instead of reusing an error page (an HTML 200, a cut-off body).
                _write_atomic(invalid_path, body)
                raise
            _write_atomic(raw_path, body)
            invalid_path.unlink(missing_ok=True)
            # Record when the answer was fetched now: an interrupted run must not lose it.
            _write_atomic(prov_path, json.dumps(
                {"query_sha256": sha, "fetched_at": fetched_at, "complete": False}).encode())
        people = aggregate_people(parsed.rows)
        log.info("%d bindings -> %d people (%d values rejected)", parsed.n_bindings,
                 len(people), parsed.n_rejected)

        width = config.download.width
        info_path = raw_dir / f"commons_{sha[:8]}_{'orig' if width is None else f'w{width}'}.json"
        names = [n for n in people["image_file"] if isinstance(n, str)]
        info = None
        if info_path.is_file() and not config.refresh:
            info = _cached_imageinfo(info_path, names)
        if info is None:
            info, responses = fetch_imageinfo(session, config.commons_api, names, width=width,
                                              timeout=config.download.timeout,
                                              deadline=config.api_deadline)
            # "complete": every continue was followed; records without it are asked again
            doc = {"api": config.commons_api, "files": sorted(set(names)), "complete": True,
                   "responses": responses}
            _write_atomic(info_path, json.dumps(doc, ensure_ascii=False).encode("utf-8"))

    table_path = resolve_path(root, config.table)
    previous = None
    if table_path.is_file():
        previous = pd.read_parquet(
            table_path, columns=["qid", "sha256", "n_bytes", "status", "reason", "sha1"])
    merged = people.merge(info, on="image_file", how="left")
    downloads = download_images(
        merged, resolve_path(root, config.images_dir), session_factory=session_factory,
        config=config.download, previous=previous, retries=config.retries,
        backoff_factor=config.backoff_factor,
    )
    table = merged.merge(downloads, on="qid", how="left")
    # stored relative to data.images_dir, so the folder can move (or be named at run time)
    images_dir = resolve_path(root, config.images_dir)
    table["image_path"] = [_relative(p, images_dir) for p in table["image_path"]]
    table.insert(0, "id", table["qid"])
    table, report = apply_mappings(table, gender=gender_map, race=race_map)

    table_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = table_path.with_name(f".{table_path.name}.{os.getpid()}.tmp")
    table.to_parquet(tmp, index=False)
    os.replace(tmp, table_path)

    status_counts = {str(k): int(v) for k, v in table["status"].value_counts().items()}
    provenance = {
        "source": "wikidata",
        "cropaudit_version": __version__,
        "endpoint": config.endpoint,
        "commons_api": config.commons_api,
        "user_agent": agent,
        "query_file": str(query_path),
        "query": query,
        "query_sha256": sha,
        "fetched_at": fetched_at,
        "raw_path": str(raw_path),
        "raw_sha256": hashlib.sha256(body).hexdigest(),
        "imageinfo_path": str(info_path),
        "n_bindings": parsed.n_bindings,
        "n_rows": len(parsed.rows),
        "n_people": len(people),
        "n_rejected": parsed.n_rejected,
        "rejected": parsed.rejected[:200],
        "status_counts": status_counts,
        "n_downloaded": int(downloads["downloaded"].sum()),
        "mapping": report.as_dict(),
        "table_path": str(table_path),
        "table_sha256": sha256_file(table_path),
    }
    text = json.dumps(provenance, indent=1, ensure_ascii=False).encode("utf-8")
    _write_atomic(prov_path, text)
    _write_atomic(table_path.with_suffix(".provenance.json"), text)
    log.info("People table %s: %d people, status %s", table_path, len(table), status_counts)
    return provenance
