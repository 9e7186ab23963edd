"""Read a bring-your-own dataset: a folder of images plus a CSV of ``id, file`` and group columns.

Input: ``data.folder`` and ``data.csv``. Output: a validated table with ``id, image_path
(absolute), sha256`` plus the CSV's other columns (as strings). Every problem is reported with a
specific message: missing files, duplicate ids, missing columns, paths leaving the folder.
"""

from __future__ import annotations

import csv as _csv
import io
import logging
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from audit.data.images import file_kind
from audit.http import sha256_file

log = logging.getLogger(__name__)

REQUIRED_COLUMNS = ("id", "file")
_SHOW = 10  # list at most this many offending entries in a message

_MSG_NO_FOLDER = "data.folder is not set; give the folder of images: data.folder=PATH"
_MSG_NO_CSV = "data.csv is not set; give the CSV of labels (columns id,file,...): data.csv=PATH"
_MSG_FOLDER_MISSING = "data.folder={folder} is not a directory; check the path"
_MSG_CSV_MISSING = "data.csv={csv} does not exist; check the path"
_MSG_MISSING_COLUMNS = (
    "{csv} lacks column(s) {missing}; it needs id and file plus the data.group_by columns "
    "{group_by} (found {found})"
)
_MSG_EMPTY_VALUES = "{csv} has empty {column} values in row(s) {rows}; fill them in"
_MSG_DUPLICATE_IDS = "{csv} has duplicate ids: {ids}; every id must be unique"
_MSG_OUTSIDE = (
    "{csv} names file(s) outside data.folder={folder} (through '..', an absolute path or a "
    "symlink): {files}; copy the images into the folder"
)
_MSG_ENCODING = (
    "{csv} {what}; save it as UTF-8 (spreadsheet: 'CSV UTF-8'; or "
    "iconv -f UTF-16 -t UTF-8 in.csv > out.csv) and point data.csv at that file"
)
_MSG_DUPLICATE_COLUMNS = (
    "{csv} has duplicate column names ({where}); rename or remove one so each column is "
    "read as what it says"
)
_MSG_NOT_FILES = (
    "{csv} names {n} entr(ies) in data.folder that are not image files: {files}; point the "
    "file column at the images themselves"
)
_MSG_MISSING_FILES = "{csv} names {n} file(s) not found in data.folder={folder}: {files}"


def _read_csv_text(csv: Path) -> str:
    """Return the CSV's UTF-8 text (a UTF-8 byte-order mark dropped); else say how to fix it."""
    data = csv.read_bytes()
    for bom, name in ((b"\xff\xfe", "UTF-16 (little-endian)"),
                      (b"\xfe\xff", "UTF-16 (big-endian)")):
        if data.startswith(bom):
            raise ValueError(_MSG_ENCODING.format(csv=csv, what=f"is {name}, byte-order mark "
                                                  f"{bom.hex(' ').upper()}"))
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        what = ("looks UTF-16 (NUL bytes between characters)" if b"\x00" in data[:200] else
                f"is not UTF-8 (byte 0x{data[exc.start]:02X} at offset {exc.start})")
        raise ValueError(_MSG_ENCODING.format(csv=csv, what=what)) from None


def _show(items: Sequence[object]) -> str:
    listed = ", ".join(str(i) for i in items[:_SHOW])
    return listed + (f" and {len(items) - _SHOW} more" if len(items) > _SHOW else "")


def load_folder_table(
    folder: Path, csv: Path, *, group_by: Sequence[str] = ()
) -> pd.DataFrame:
    """Validate and read a folder dataset.

    Parameters
    ----------
    folder : Path
        Folder that holds every image (files may sit in subfolders).
    csv : Path
        CSV with columns ``id``, ``file`` (relative to ``folder``) and any group columns.
    group_by : Sequence[str]
        Columns that must be present (``data.group_by``).

    Returns
    -------
    pd.DataFrame
        The CSV's columns as strings plus ``image_path`` (absolute) and ``sha256``.

    Raises
    ------
    FileNotFoundError
        The folder or CSV is missing, or the CSV names files that do not exist.
    ValueError
        Missing columns, empty ids/files, duplicate ids, or files outside the folder.
    """
    folder, csv = Path(folder), Path(csv)
    if not folder.is_dir():
        raise FileNotFoundError(_MSG_FOLDER_MISSING.format(folder=folder))
    if not csv.is_file():
        raise FileNotFoundError(_MSG_CSV_MISSING.format(csv=csv))
    text = _read_csv_text(csv)
    header = next(_csv.reader(io.StringIO(text)), [])
    names = [c.strip() for c in header]
    dup_cols = sorted({c for c in names if names.count(c) > 1})
    if dup_cols:
        where = "; ".join(
            f"{c!r} in columns " + ", ".join(str(i + 1) for i, n in enumerate(names) if n == c)
            for c in dup_cols)
        raise ValueError(_MSG_DUPLICATE_COLUMNS.format(csv=csv, where=where))
    table = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    table.columns = [c.strip() for c in table.columns]
    needed = list(dict.fromkeys([*REQUIRED_COLUMNS, *group_by]))
    missing = [c for c in needed if c not in table.columns]
    if missing:
        raise ValueError(_MSG_MISSING_COLUMNS.format(
            csv=csv, missing=missing, group_by=list(group_by), found=list(table.columns)))
    for column in needed:
        table[column] = table[column].str.strip()
        empty = [i + 2 for i in table.index[table[column] == ""]]  # +2: header, 1-based
        if empty:
            raise ValueError(_MSG_EMPTY_VALUES.format(csv=csv, column=column, rows=_show(empty)))
    dups = sorted(table.loc[table["id"].duplicated(), "id"].unique())
    if dups:
        raise ValueError(_MSG_DUPLICATE_IDS.format(csv=csv, ids=_show(dups)))

    base = folder.resolve()
    outside, absent, not_files, paths = [], [], [], []
    for name in table["file"]:
        candidate = folder / name
        # resolve() follows symlinks, so a link pointing out of the folder is caught too
        resolved = candidate.resolve()
        if Path(name).is_absolute() or not resolved.is_relative_to(base):
            outside.append(name)
        elif not resolved.exists():
            absent.append(name)
        elif (kind := file_kind(resolved.stat().st_mode)) is not None:
            not_files.append(f"{name} ({kind})")
        paths.append(str(resolved))
    if outside:
        raise ValueError(_MSG_OUTSIDE.format(csv=csv, folder=folder, files=_show(outside)))
    if not_files:
        raise ValueError(_MSG_NOT_FILES.format(csv=csv, n=len(not_files), files=_show(not_files)))
    if absent:
        raise FileNotFoundError(_MSG_MISSING_FILES.format(
            csv=csv, n=len(absent), folder=folder, files=_show(absent)))
    table["image_path"] = paths
    table["sha256"] = [sha256_file(Path(p)) for p in paths]
    log.info("Folder dataset %s: %d images", folder, len(table))
    return table
