"""SIGKILL ``python -m audit.fetch`` in the middle of a download; the rerun must finish the job."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from werkzeug import Request, Response

from audit.http import CHUNK_SIZE

from .netfake import FakeSite, Served, jpeg, ranged

REPO = Path(__file__).resolve().parents[2]


def _args(site: FakeSite) -> list[str]:
    # Relative paths, run from each folder: the two tables must be comparable byte for byte.
    return [
        sys.executable, "-m", "audit.fetch", "data=wikidata",
        f"data.endpoint={site.endpoint}", f"data.commons_api={site.api}",
        "data.contact=interrupt@example.org", "data.retries=0", "data.backoff_factor=0",
        "paths.root=.", "data.raw_dir=raw", "data.table=processed/people.parquet",
        "data.images_dir=images",
        f"data.mappings.gender={REPO / 'data/mappings/gender.csv'}",
        f"data.mappings.ethnicity_to_race={REPO / 'data/mappings/ethnicity_to_race.csv'}",
        "data.download.progress=false", "data.download.concurrency=1",
        "data.download.timeout=20",
    ]


def _env() -> dict[str, str]:
    # this checkout's audit package, whichever one the environment has installed
    return {**os.environ, "PYTHONWARNINGS": "error::UserWarning",
            "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}


def _fetch(args: list[str], cwd: Path) -> None:
    done = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=120,
                          env=_env())
    assert done.returncode == 0, done.stderr[-3000:]


def test_killed_fetch_resumes_and_ends_identical_to_an_uninterrupted_one(server, tmp_path):
    big = jpeg(5, (800, 600))
    assert len(big) > 3 * CHUNK_SIZE
    files = {"Big.jpg": Served(big, width=800, height=600), "Small.jpg": Served(jpeg(6)),
             "Other.jpg": Served(jpeg(7))}
    # Q1 is downloaded first (one worker, table order), so at the kill nothing else is on disk.
    site = FakeSite(server, {"Q1": "Big.jpg", "Q2": "Small.jpg", "Q3": "Other.jpg"}, files)
    stall = threading.Event()  # set: the server stops after two chunks of Big.jpg
    resume = threading.Event()
    ranges: list[str | None] = []

    def big_file(request: Request) -> Response:
        ranges.append(request.headers.get("Range"))
        if not stall.is_set() or request.headers.get("Range"):
            return ranged(big, request, "image/jpeg")

        def body() -> Iterator[bytes]:
            yield big[: 2 * CHUNK_SIZE]
            resume.wait(30)  # the client is killed meanwhile

        response = Response(body(), content_type="image/jpeg")
        response.headers["Content-Length"] = str(len(big))
        return response

    site.handlers["Big.jpg"] = big_file
    site.install()
    args = _args(site)

    reference = tmp_path / "reference"
    reference.mkdir()
    _fetch(args, reference)

    work = tmp_path / "work"
    work.mkdir()
    stall.set()
    part = work / "images" / "Q1.jpg.part"
    proc = subprocess.Popen(args, cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=_env())
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (
                part.is_file() and part.stat().st_size >= 2 * CHUNK_SIZE):
            assert proc.poll() is None, "fetch ended before the stall"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=10) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
        resume.set()
    kept = part.stat().st_size
    assert kept == 2 * CHUNK_SIZE
    assert not (work / "processed" / "people.parquet").exists()
    assert sorted(p.name for p in (work / "images").iterdir()) == ["Q1.jpg.part"]

    stall.clear()
    n_before = len(ranges)
    _fetch(args, work)
    assert ranges[n_before:] == [f"bytes={kept}-"]  # continued, not restarted
    assert not part.exists()

    table = "processed/people.parquet"
    assert (work / table).read_bytes() == (reference / table).read_bytes()
    ref_images = sorted(p.name for p in (reference / "images").iterdir())
    assert sorted(p.name for p in (work / "images").iterdir()) == ref_images == [
        "Q1.jpg", "Q2.jpg", "Q3.jpg"]
    for name in ref_images:
        assert (work / "images" / name).read_bytes() == (reference / "images" / name).read_bytes()
    # the query answer was reused, and when it was fetched is still on record
    provenance = json.loads((work / "processed/people.provenance.json").read_text())
    assert provenance["fetched_at"] is not None
    assert [r.path for r, _ in server.log].count("/sparql") == 2  # reference + killed run
