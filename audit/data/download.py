"""Download one image per person from Wikimedia Commons into ``<images_dir>/<QID>.<ext>``.

Input: the person table joined with Commons imageinfo (URL, size, MIME, SHA-1). Output: one status
row per person (``ok`` or the reason it was excluded), with the file's SHA-256. Downloads are
resumable, size- and pixel-bounded, verified, and run with a small thread pool. Local names are
built from the QID, never from a name that came over the network.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pandas as pd
import requests
from PIL import Image
from tqdm.auto import tqdm

from audit.data.settings import DownloadConfig
from audit.http import DownloadError, TooLargeError, download_file, sha256_file

log = logging.getLogger(__name__)

#: Status values of the download table; only ``ok`` rows are used by audits.
STATUSES = (
    "ok", "no_image", "missing", "invalid_info", "non_raster", "too_large", "too_many_pixels",
    "failed",
)
DOWNLOAD_COLUMNS = (
    "qid", "status", "reason", "image_path", "sha256", "n_bytes", "width", "height",
    "downloaded",
)
#: Raster MIME types we keep -> file extension.
RASTER_MIME = {
    "image/jpeg": "jpg", "image/png": "png", "image/gif": "gif", "image/webp": "webp",
    "image/tiff": "tif", "image/bmp": "bmp",
}
_SAFE_EXT = {"jpg", "jpeg", "png", "gif", "webp", "tif", "tiff", "bmp"}
_QID_RE = re.compile(r"^Q[1-9]\d*$")
#: Exclusions that a rerun would reach again for the same file version.
_FINAL = ("non_raster", "too_many_pixels")


@dataclass(frozen=True)
class _Job:
    qid: str
    url: str | None
    image_file: str | None
    exists: bool
    mime: str | None
    file_bytes: int | None
    pixels: int | None
    sha1: str | None
    original: bool
    info_problem: str | None = None


def sniff_format(head: bytes) -> str | None:
    r"""Raster format from the first bytes, or None for anything else (SVG, PDF, DjVu, video).

    Examples
    --------
    >>> sniff_format(b"\x89PNG\r\n\x1a\n....")
    'png'
    >>> sniff_format(b"<?xml version") is None
    True
    """
    if head.startswith(b"\xff\xd8\xff"):
        return "jpg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "tif"
    if head[:2] == b"BM":
        return "bmp"
    return None


def local_name(qid: str, ext: str) -> str:
    """``<QID>.<ext>`` after checking both parts, so no network string becomes a path.

    Raises
    ------
    ValueError
        If ``qid`` is not ``Q<digits>`` or ``ext`` is not a known raster extension.
    """
    if not _QID_RE.match(qid):
        raise ValueError(f"refusing to build a file name from {qid!r}: not a Wikidata QID")
    ext = ext.lower()
    if ext not in _SAFE_EXT:
        raise ValueError(f"refusing extension {ext!r} for {qid}: not a raster image extension")
    return f"{qid}.{ext}"


def _extension(job: _Job) -> str:
    if job.original:
        return RASTER_MIME[job.mime or ""]
    # Scaled renderings keep Commons' own suffix (a TIFF is served as JPEG, for example).
    suffix = Path(urlsplit(job.url or "").path).suffix.lstrip(".").lower()
    return suffix if suffix in _SAFE_EXT else RASTER_MIME[job.mime or ""]


def _sha1(path: Path) -> str:
    digest = hashlib.sha1()  # Commons publishes SHA-1; used to verify, not for security
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 16), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _image_size(path: Path, max_pixels: int) -> tuple[int, int] | str:
    """(width, height), or a reason string when Pillow refuses the file."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            with Image.open(path) as image:
                size = image.size
                image.verify()
        except Image.DecompressionBombError as exc:
            return f"too_many_pixels: {exc}"
        except (OSError, SyntaxError, ValueError) as exc:
            return f"failed: not a readable image ({exc})"
    if size[0] * size[1] > max_pixels:
        return f"too_many_pixels: {size[0]}x{size[1]} exceeds data.download.max_pixels={max_pixels}"
    return size


def _row(job: _Job, status: str, reason: str | None = None, **values: object) -> dict:
    row = dict.fromkeys(DOWNLOAD_COLUMNS)
    row.update({"qid": job.qid, "status": status, "reason": reason, "downloaded": False})
    row.update(values)
    return row


def _is_complete(job: _Job, dest: Path, previous: dict | None) -> str | None:
    """SHA-256 of ``dest`` if it is a complete copy of this job's file, else None."""
    if not dest.is_file():
        return None
    size = dest.stat().st_size
    if job.original and job.sha1 and job.file_bytes is not None:
        if size == job.file_bytes and _sha1(dest) == job.sha1:
            return sha256_file(dest)
        return None
    if previous and previous.get("n_bytes") == size and previous.get("sha256"):
        digest = sha256_file(dest)
        return digest if digest == previous["sha256"] else None
    return None


def _download_one(
    job: _Job,
    images_dir: Path,
    session: requests.Session,
    config: DownloadConfig,
    previous: dict | None,
    retries: int = 0,
    backoff_factor: float = 0.0,
) -> dict:
    if not job.image_file:
        return _row(job, "no_image", "the query returned no image for this person")
    if job.info_problem:
        return _row(job, "invalid_info", job.info_problem)
    if not job.exists or not job.url:
        return _row(job, "missing", f"File:{job.image_file} not found on Commons")
    if job.mime not in RASTER_MIME:
        return _row(job, "non_raster", f"MIME type {job.mime} is not a raster image")
    if job.original and job.file_bytes is not None and job.file_bytes > config.max_bytes:
        return _row(job, "too_large",
                    f"{job.file_bytes} bytes exceeds data.download.max_bytes={config.max_bytes}")
    if (previous and previous.get("status") in _FINAL and job.sha1
            and previous.get("sha1") == job.sha1):
        # Same file version as last time, already judged unusable: do not fetch it again.
        return _row(job, previous["status"], previous.get("reason"))
    if job.original and job.pixels is not None and job.pixels > config.max_pixels:
        return _row(job, "too_many_pixels",
                    f"{job.pixels} pixels exceeds data.download.max_pixels={config.max_pixels}")
    dest = images_dir / local_name(job.qid, _extension(job))

    digest = _is_complete(job, dest, previous)
    downloaded = digest is None
    if downloaded:
        try:
            result = download_file(session, job.url, dest, max_bytes=config.max_bytes,
                                   timeout=config.timeout, progress=False, retries=retries,
                                   backoff_factor=backoff_factor, deadline=config.deadline)
        except TooLargeError as exc:
            return _row(job, "too_large", str(exc))
        except DownloadError as exc:
            return _row(job, "failed", str(exc))
        digest = result.sha256
        if job.original and job.sha1 and _sha1(dest) != job.sha1:
            dest.unlink()
            return _row(job, "failed", f"SHA-1 differs from Commons' {job.sha1}; file discarded")
    with dest.open("rb") as fh:
        sniffed = sniff_format(fh.read(16))
    if sniffed is None:
        dest.unlink()
        return _row(job, "non_raster", "the bytes are not a raster image (sniffed); discarded")
    size = _image_size(dest, config.max_pixels)
    if isinstance(size, str):
        dest.unlink()
        status, reason = size.split(": ", 1)
        return _row(job, status, reason)
    return _row(job, "ok", None, image_path=str(dest), sha256=digest,
                n_bytes=dest.stat().st_size, width=size[0], height=size[1],
                downloaded=downloaded)


def download_images(
    people: pd.DataFrame,
    images_dir: Path,
    *,
    session_factory: Callable[[], requests.Session],
    config: DownloadConfig,
    previous: pd.DataFrame | None = None,
    retries: int = 0,
    backoff_factor: float = 0.0,
) -> pd.DataFrame:
    """Fetch every person's image, skipping files that are already complete.

    Parameters
    ----------
    people : pd.DataFrame
        Columns ``qid, image_file`` and the imageinfo columns ``exists, download_url,
        file_bytes, file_width, file_height, mime, sha1``.
    images_dir : Path
        Destination folder; files are named ``<QID>.<ext>``.
    session_factory : Callable[[], requests.Session]
        Makes one session per worker thread (sessions are not shared across threads).
    config : DownloadConfig
        Bounds, concurrency, timeout, progress bar, scaling (``width``).
    previous : pd.DataFrame | None
        An earlier table (``qid, sha256, n_bytes, status, reason, sha1``): lets scaled files,
        which have no Commons checksum, be recognised as complete, and files already found
        unusable (same Commons SHA-1) be skipped.
    retries : int
        Resumes (``Range``) of a transfer that breaks off, within this run (``data.retries``).
    backoff_factor : float
        Back-off between those resumes, seconds (``data.backoff_factor``).

    Returns
    -------
    pd.DataFrame
        One row per person, columns :data:`DOWNLOAD_COLUMNS`; ``status`` is one of
        :data:`STATUSES` and ``reason`` says why a row is not ``ok``.
    """
    images_dir = Path(images_dir)
    images_dir.mkdir(parents=True, exist_ok=True)
    prev = {}
    if previous is not None and len(previous):
        prev = previous.set_index("qid").to_dict("index")
    jobs = []
    for rec in people.to_dict("records"):
        width, height = rec.get("file_width"), rec.get("file_height")
        pixels = int(width) * int(height) if pd.notna(width) and pd.notna(height) else None
        jobs.append(_Job(
            qid=rec["qid"],
            url=rec["download_url"] if isinstance(rec.get("download_url"), str) else None,
            image_file=rec.get("image_file") if isinstance(rec.get("image_file"), str) else None,
            exists=bool(rec.get("exists")) if pd.notna(rec.get("exists")) else False,
            mime=rec.get("mime") if isinstance(rec.get("mime"), str) else None,
            file_bytes=int(rec["file_bytes"]) if pd.notna(rec.get("file_bytes")) else None,
            pixels=pixels, sha1=rec.get("sha1") if isinstance(rec.get("sha1"), str) else None,
            original=config.width is None,
            info_problem=rec["info_problem"] if isinstance(rec.get("info_problem"), str)
            else None,
        ))

    local = threading.local()
    sessions: list[requests.Session] = []
    lock = threading.Lock()

    def session() -> requests.Session:
        if not hasattr(local, "session"):
            local.session = session_factory()
            with lock:
                sessions.append(local.session)
        return local.session

    def work(job: _Job) -> dict:
        try:
            return _download_one(job, images_dir, session(), config, prev.get(job.qid),
                                 retries, backoff_factor)
        except OSError as exc:
            return _row(job, "failed", f"local file error: {exc}")

    rows: list[dict] = []
    n_bytes = n_failed = 0
    bar = tqdm(total=len(jobs), unit="file", desc="images", disable=not config.progress)
    try:
        with ThreadPoolExecutor(max_workers=config.concurrency) as pool:
            futures = [pool.submit(work, job) for job in jobs]
            for future in as_completed(futures):
                row = future.result()
                rows.append(row)
                if row["downloaded"]:
                    n_bytes += row["n_bytes"] or 0
                n_failed += row["status"] != "ok"
                bar.set_postfix(MB=f"{n_bytes / 1e6:.1f}", excluded=n_failed, refresh=False)
                bar.update(1)
    finally:
        bar.close()
        for s in sessions:
            s.close()
    table = pd.DataFrame(rows, columns=list(DOWNLOAD_COLUMNS))
    order = {qid: i for i, qid in enumerate(people["qid"])}
    table = table.sort_values("qid", key=lambda s: s.map(order)).reset_index(drop=True)
    counts = table["status"].value_counts().to_dict()
    log.info("Images: %s; %d downloaded (%.1f MB)", counts, int(table["downloaded"].sum()),
             n_bytes / 1e6)
    return table
