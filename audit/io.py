"""The one writer of run folders: tables, JSON, text and checkpoints, each written atomically.

Every file is written to a temporary name in the same folder and moved into place with
:func:`os.replace`, so a killed run never leaves a half-written table behind; files get the
permissions the user's umask gives (not ``mkstemp``'s 0600).

A run folder is claimed by :func:`claim_run_folder` (which refuses a folder holding another
run's files and leaves a ``RUNNING`` marker), its ``manifest.json`` is written last, and
:func:`mark_complete` then removes the marker; :func:`require_complete_run` is the one check
that readers of run folders (``audit.summarize``, ``audit.analyse``) use.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

log = logging.getLogger(__name__)


@dataclass
class PathsConfig:
    """Folders (``conf/paths/``). ``root`` null means the source checkout holding ``conf/``."""

    root: str | None = None
    results_dir: str = "results"
    work_dir: str = "results/.work"
    cache_dir: str = "data/cache"


def project_root(root: str | None = None) -> Path:
    """Return the folder that relative paths in configs are resolved against."""
    if root:
        return Path(root).expanduser().resolve()
    return Path(__file__).resolve().parents[1]


def resolve_path(root: Path, value: str | os.PathLike) -> Path:
    """Return ``value`` if it is absolute, else ``root / value`` (``~`` expanded)."""
    path = Path(value).expanduser()
    return path if path.is_absolute() else Path(root) / path


_UMASK_LOCK = threading.Lock()


def current_umask() -> int:
    """Return the process's umask (from /proc on Linux, else by setting and restoring it)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


class OutputError(OSError):
    """A run's output cannot be written (read-only or full folder); the message says where."""

    def __str__(self) -> str:  # the message alone, without OSError's "[Errno N]" prefix
        return str(self.strerror)


def _output_error(path: Path, exc: OSError) -> OutputError:
    import errno

    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        how = (f"{exc.strerror or 'no space'} (disk full, quota or file-size limit); free "
               "space or point paths.results_dir elsewhere")
    elif exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        how = ("the folder is not writable; choose a writable paths.results_dir (or "
               "hydra.run.dir)")
    else:
        how = exc.strerror or str(exc)
    return OutputError(exc.errno, f"cannot write {path}: {how}")


#: Folders of files shipped with the checkout (reviewable tables), found there when a
#: ``paths.root`` elsewhere has no copy of its own.
SHIPPED_DIRS = ("data/mappings",)


def resolve_shipped(root: Path, value: str | os.PathLike) -> Path:
    """Resolve like :func:`resolve_path`, falling back to the checkout for shipped files.

    A relative path under :data:`SHIPPED_DIRS` (the default ``data/mappings/*.csv``) that
    does not exist under ``root`` is taken from the source checkout, so pointing
    ``paths.root`` at a results disk does not lose the default mapping tables; a copy under
    ``root`` (a reviewed, edited mapping) wins.
    """
    path = resolve_path(root, value)
    rel = Path(value).expanduser()
    if path.exists() or rel.is_absolute():
        return path
    if any(rel.as_posix().startswith(d + "/") for d in SHIPPED_DIRS):
        shipped = project_root(None) / rel
        if shipped.exists():
            log.info("%s is not under paths.root=%s; using the shipped %s", rel, root, shipped)
            return shipped
    return path


def atomic_write_bytes(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` via a temporary file and an atomic rename.

    The file gets mode ``0o666 & ~umask`` like any file the user creates.

    Raises
    ------
    OutputError
        The folder is read-only or the disk is full (one line naming the path); nothing is
        left behind.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise _output_error(path, exc) from exc
    try:
        os.fchmod(fd, 0o666 & ~current_umask())
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise _output_error(path, exc) from exc
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: Path, text: str) -> Path:
    """Write UTF-8 text atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def write_json(path: Path, obj: Any) -> Path:
    """Write JSON (sorted keys, 2-space indent) atomically; non-JSON values become strings."""
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def _parquet_bytes(frame: pd.DataFrame) -> bytes:
    import io

    buf = io.BytesIO()
    frame.to_parquet(buf, index=False, engine="pyarrow")
    return buf.getvalue()


def write_parquet(path: Path, frame: pd.DataFrame) -> Path:
    """Write one Parquet file atomically."""
    return atomic_write_bytes(path, _parquet_bytes(frame))


def write_table(stem: Path, frame: pd.DataFrame, *, csv: bool = True) -> list[Path]:
    """Write ``<stem>.parquet`` and (by default) ``<stem>.csv``, both atomically."""
    stem = Path(stem)
    out = [write_parquet(stem.with_suffix(".parquet"), frame)]
    if csv:
        out.append(atomic_write_text(stem.with_suffix(".csv"), frame.to_csv(index=False)))
    return out


def sha256_file(path: Path, chunk: int = 2**20) -> str:
    """SHA-256 of a file, streamed."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def sha256_frame(frame: pd.DataFrame) -> str:
    """SHA-256 of a table's content (CSV form, so it is stable across Parquet versions)."""
    return hashlib.sha256(frame.to_csv(index=False).encode("utf-8")).hexdigest()


class Checkpoints:
    """Finished chunks of a run, one Parquet file each, under a folder keyed by the config.

    A rerun of the same configuration finds them and skips that work; a different
    configuration hashes to a different folder, so stale results are never mixed in.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def _path(self, kind: str, index: int) -> Path:
        return self.folder / f"{kind}-{index:06d}.parquet"

    def done(self, kind: str) -> set[int]:
        """Return the indices of the finished chunks of ``kind``."""
        if not self.folder.is_dir():
            return set()
        out = set()
        for p in self.folder.glob(f"{kind}-*.parquet"):
            try:
                out.add(int(p.stem.rsplit("-", 1)[1]))
            except ValueError:
                continue
        return out

    def save(self, kind: str, index: int, frame: pd.DataFrame) -> None:
        """Store one finished chunk atomically."""
        write_parquet(self._path(kind, index), frame)

    def load(self, kind: str, *, only: set[int] | None = None) -> list[pd.DataFrame]:
        """Return the finished chunks of ``kind`` (those in ``only``, if given), in order."""
        chosen = self.done(kind) if only is None else self.done(kind) & set(only)
        return [pd.read_parquet(self._path(kind, i)) for i in sorted(chosen)]


#: Marker file of a run folder whose run has not finished (written first, removed last).
RUNNING = "RUNNING"
MANIFEST = "manifest.json"
#: What Hydra puts into a run folder before the run itself starts.
_HYDRA_OWN = (".hydra",)


class RunFolderError(ValueError):
    """A run folder is in use, incomplete or holds another run; the message names it."""


def claim_run_folder(path: Path) -> Path:
    """Make ``path`` this run's folder, refusing one that holds another run's files.

    Only what Hydra writes before a run starts (``.hydra/`` and its ``*.log``) may be there.
    A ``RUNNING`` marker (pid, host, start time) is created exclusively, so two processes
    never both claim one folder; it stays until :func:`mark_complete`.

    Raises
    ------
    RunFolderError
        The folder holds a manifest, a marker or other files of another run.
    OutputError
        The folder cannot be created or written.
    """
    folder = Path(path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _output_error(folder, exc) from exc
    if (folder / RUNNING).exists():
        raise RunFolderError(
            f"{folder} is in use by another run ({_marker_text(folder)}); give this run its "
            "own folder (leave hydra.run.dir unset, or set another one)")
    others = sorted(p.name for p in folder.iterdir()
                    if p.name not in _HYDRA_OWN and not p.name.endswith(".log"))
    if others:
        raise RunFolderError(
            f"{folder} already holds another run's files ({', '.join(others[:5])}"
            f"{', ...' if len(others) > 5 else ''}); a run never writes into it: leave "
            "hydra.run.dir unset or choose an empty folder")
    marker = json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                         "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}) + "\n"
    try:
        fd = os.open(folder / RUNNING, os.O_WRONLY | os.O_CREAT | os.O_EXCL,
                     0o666 & ~current_umask())
    except FileExistsError:
        raise RunFolderError(f"{folder} was claimed by another run at the same moment; give "
                             "this run its own folder") from None
    except OSError as exc:
        raise _output_error(folder / RUNNING, exc) from exc
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(marker)
    return folder


def mark_complete(path: Path) -> None:
    """Remove the ``RUNNING`` marker: called after ``manifest.json``, the last file, is in."""
    folder = Path(path)
    if not (folder / MANIFEST).is_file():
        raise RunFolderError(f"{folder}: {MANIFEST} is missing; a run is complete only once "
                             "its manifest is written")
    (folder / RUNNING).unlink(missing_ok=True)


def mark_failed(path: Path, reason: str) -> None:
    """Record in the ``RUNNING`` marker that the run stopped with ``reason`` (stays incomplete)."""
    marker = Path(path) / RUNNING
    try:
        info = json.loads(marker.read_text(encoding="utf-8"))
        info["failed"] = reason
        atomic_write_text(marker, json.dumps(info) + "\n")
    except (OSError, ValueError):
        log.debug("could not record the failure in %s", marker, exc_info=True)


def _marker_text(folder: Path) -> str:
    try:
        info = json.loads((folder / RUNNING).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "RUNNING marker present"
    text = f"pid {info.get('pid')} on {info.get('host')}, started {info.get('started')}"
    return text + (f", failed: {info['failed']}" if info.get("failed") else "")


def run_is_complete(path: Path) -> bool:
    """Return whether ``path`` is a finished run folder (manifest, no ``RUNNING`` marker)."""
    folder = Path(path)
    return (folder / MANIFEST).is_file() and not (folder / RUNNING).exists()


def require_complete_run(path: Path) -> Path:
    """Return ``path`` if it is a finished run folder, else raise naming what is wrong.

    A run folder is complete when its ``manifest.json`` (written last) is there and its
    ``RUNNING`` marker is gone. A killed or still-running run fails this, so tables it left
    (possibly with ``.tmp`` leftovers) are never read as results.

    Raises
    ------
    RunFolderError
        Not a folder, still running or killed (marker present), or no manifest.
    """
    folder = Path(path)
    if not folder.is_dir():
        raise RunFolderError(f"{folder} is not a run folder (no such directory)")
    if (folder / RUNNING).exists():
        raise RunFolderError(
            f"{folder} is an incomplete run ({_marker_text(folder)}): it is still running, "
            "failed or was killed before its manifest was written; rerun it (finished chunks "
            "resume) or remove the folder")
    if not (folder / MANIFEST).is_file():
        raise RunFolderError(
            f"{folder} is an incomplete run: no {MANIFEST} (written last by every run); "
            "rerun it or remove the folder")
    return folder
