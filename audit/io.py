"""The one writer of run folders: tables, JSON, text and checkpoints, each written atomically.

Every file is written to a temporary name in the same folder and moved into place with
:func:`os.replace`, so a killed run never leaves a half-written table behind.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
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


def atomic_write_bytes(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` via a temporary file and an atomic rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
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
