"""Build the analysable people table: apply the label-mapping files and the minimum group size.

Input: a people table with list columns of QIDs (``gender_qid``, ``ethnicity_qid``) and the
reviewable mapping CSVs in ``data/mappings/``. Output: the same table with ``gender``/``race``
columns (NA with a reason where a value is missing, unmapped or contradictory), a report of
unmapped values with counts, and the table restricted to groups of at least ``min_group_size``.
Before mapping, ethnic groups (QIDs) with fewer than ``min_ethnicity_size`` images are removed
from people's lists (the study's 40 images per ethnic group, :func:`filter_min_ethnicity_size`).
"""

from __future__ import annotations

import logging
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from audit.exceptions import AuditDataWarning

log = logging.getLogger(__name__)

MAPPING_COLUMNS = ("qid", "label", "source")

_MSG_MAPPING_MISSING = (
    "Mapping file {path} not found; set data.mappings.{key} to a CSV with columns "
    "qid,label,{column},source"
)
_MSG_MAPPING_COLUMNS = (
    "Mapping file {path} lacks column(s) {missing}; it needs qid,label,{column},source "
    "(found {found})"
)
_MSG_MAPPING_DUPLICATES = "Mapping file {path} lists these QIDs more than once: {dups}"
_MSG_MAPPING_BAD_QID = "Mapping file {path} has values in column qid that are not QIDs: {bad}"
_MSG_GROUP_COLUMN = (
    "data.group_by names column {column!r}, but the {source} people table has columns "
    "{columns}; check data.group_by"
)
_MSG_SMALL_GROUPS = (
    "Dropped {n_groups} group(s) of the {source} people table with fewer than "
    "data.min_group_size={min_size} images: {groups}"
)
_MSG_SMALL_ETHNICITIES = (
    "Dropped {n} ethnic group(s) of the {source} people table with fewer than "
    "data.min_ethnicity_size={min_size} images before mapping (as the study did); {n_people} "
    "people are left without an ethnic group: {groups}"
)
_MSG_NO_GROUPS_LEFT = (
    "No group of the {source} people table has at least data.min_group_size={min_size} "
    "images (sizes: {sizes}); lower data.min_group_size or add images"
)


@dataclass
class MappingReport:
    """What the mapping step could not map.

    Attributes
    ----------
    unmapped : dict[str, dict[str, int]]
        Per mapping (``gender``, ``race``): unmapped QID -> number of people carrying it.
    conflicts : dict[str, int]
        Per mapping: number of people whose values map to different labels.
    missing : dict[str, int]
        Per mapping: number of people with no value at all.
    """

    unmapped: dict[str, dict[str, int]] = field(default_factory=dict)
    conflicts: dict[str, int] = field(default_factory=dict)
    missing: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict:
        """Plain dict for the manifest."""
        return {"unmapped": self.unmapped, "conflicts": self.conflicts, "missing": self.missing}


def load_mapping(path: Path, *, column: str, key: str) -> dict[str, str]:
    """Read a mapping CSV (``qid,label,<column>,source``) into ``{qid: value}``.

    Parameters
    ----------
    path : Path
        The CSV.
    column : str
        Name of the mapped-value column (``gender`` or ``race``).
    key : str
        Config key under ``data.mappings`` (for messages).

    Raises
    ------
    FileNotFoundError, ValueError
        Missing file, missing columns, duplicate or malformed QIDs.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            _MSG_MAPPING_MISSING.format(path=path, key=key, column=column))
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    wanted = (*MAPPING_COLUMNS, column)
    missing = [c for c in wanted if c not in table.columns]
    if missing:
        raise ValueError(_MSG_MAPPING_COLUMNS.format(
            path=path, missing=missing, column=column, found=list(table.columns)))
    table["qid"] = table["qid"].str.strip()
    dups = sorted(table.loc[table["qid"].duplicated(), "qid"].unique())
    if dups:
        raise ValueError(_MSG_MAPPING_DUPLICATES.format(path=path, dups=dups))
    bad = sorted(table.loc[~table["qid"].str.fullmatch(r"Q[1-9]\d*"), "qid"])
    if bad:
        raise ValueError(_MSG_MAPPING_BAD_QID.format(path=path, bad=bad))
    return dict(zip(table["qid"], table[column].str.strip(), strict=True))


def as_list(value: object) -> list[str]:
    """Return a list-column cell (list, Parquet numpy array, None/NA) as a list of str."""
    if value is None:
        return []
    if isinstance(value, (list, tuple, np.ndarray)):
        return [str(v) for v in value if v is not None and v == v]
    if isinstance(value, str):
        return [value]
    return [] if pd.isna(value) else [str(value)]


def map_values(
    qids: pd.Series, mapping: dict[str, str], *, name: str
) -> tuple[pd.Series, pd.Series, Counter, int, int]:
    """Map each row's list of QIDs to one label.

    A row gets a label when all its mapped QIDs agree; unmapped QIDs are counted and ignored.
    Rows whose QIDs map to different labels get NA and a reason naming them (no guessing).

    Returns
    -------
    values : pd.Series
        Label or NA.
    reasons : pd.Series
        None where a label was assigned, else why not.
    unmapped : Counter
        Unmapped QID -> number of rows carrying it.
    n_conflicts, n_missing : int
        Rows with contradicting labels; rows with no QID at all.
    """
    values, reasons = [], []
    unmapped: Counter = Counter()
    n_conflicts = n_missing = 0
    for cell in qids:
        items = as_list(cell)
        labels = {q: mapping[q] for q in items if q in mapping}
        unmapped.update(q for q in items if q not in mapping)
        distinct = sorted(set(labels.values()))
        if len(distinct) == 1:
            values.append(distinct[0])
            reasons.append(None)
        elif not items:
            n_missing += 1
            values.append(pd.NA)
            reasons.append(f"no {name} value")
        elif not distinct:
            values.append(pd.NA)
            reasons.append(f"unmapped {name}: {', '.join(items)}")
        else:
            n_conflicts += 1
            values.append(pd.NA)
            pairs = ", ".join(f"{q}->{v}" for q, v in sorted(labels.items()))
            reasons.append(f"conflicting {name}: {pairs}")
    index = qids.index
    return (pd.Series(values, index=index, dtype="string"),
            pd.Series(reasons, index=index, dtype="string"), unmapped, n_conflicts, n_missing)


def apply_mappings(
    table: pd.DataFrame, *, gender: dict[str, str], race: dict[str, str]
) -> tuple[pd.DataFrame, MappingReport]:
    """Add ``gender, gender_reason, race, race_reason`` from ``gender_qid``/``ethnicity_qid``.

    Returns
    -------
    table : pd.DataFrame
        A copy with the four columns added.
    report : MappingReport
        Unmapped values with counts, conflicts, missing values; also logged.
    """
    out = table.copy()
    report = MappingReport()
    for name, source_col, mapping in (("gender", "gender_qid", gender),
                                      ("race", "ethnicity_qid", race)):
        values, reasons, unmapped, conflicts, missing = map_values(
            out[source_col], mapping, name=name)
        out[name] = values
        out[f"{name}_reason"] = reasons
        report.unmapped[name] = dict(unmapped.most_common())
        report.conflicts[name] = conflicts
        report.missing[name] = missing
        if unmapped:
            log.info("Unmapped %s values (QID: people): %s", name,
                     ", ".join(f"{q}: {n}" for q, n in unmapped.most_common(20)))
        if conflicts:
            log.warning("%d people have %s values mapping to different labels; left NA",
                        conflicts, name)
    return out, report


def require_group_columns(table: pd.DataFrame, group_by: Sequence[str], *, source: str) -> None:
    """Raise ValueError if a ``data.group_by`` column is absent."""
    for column in group_by:
        if column not in table.columns:
            raise ValueError(_MSG_GROUP_COLUMN.format(
                column=column, source=source, columns=list(table.columns)))


def image_paths(table: pd.DataFrame) -> dict[str, str]:
    """Map each image ``id`` of a people table to its ``image_path``."""
    return dict(zip(table["id"].astype(str), table["image_path"].astype(str), strict=True))


def group_labels(table: pd.DataFrame, group_by: Sequence[str]) -> pd.Series:
    """One ``group`` label per row, the group_by values joined by ``_`` (``black_female``)."""
    if not group_by:
        return pd.Series("all", index=table.index, dtype="string")
    parts = [table[c].astype("string") for c in group_by]
    label = parts[0]
    for part in parts[1:]:
        label = label + "_" + part
    return label


def filter_min_group_size(
    table: pd.DataFrame, *, group_by: Sequence[str], min_group_size: int, source: str
) -> tuple[pd.DataFrame, dict]:
    """Drop rows without a group and groups smaller than ``min_group_size``.

    Rows with NA in a ``group_by`` column are dropped and counted (logged). Small groups are
    dropped with an :class:`~audit.exceptions.AuditDataWarning` listing each group and size.

    Returns
    -------
    table : pd.DataFrame
        Remaining rows with a ``group`` column, index reset.
    info : dict
        ``n_without_group``, ``dropped_groups`` (label -> size), ``group_sizes`` (kept).

    Raises
    ------
    ValueError
        A group_by column is missing, or no group is large enough.
    """
    require_group_columns(table, group_by, source=source)
    has_group = table[list(group_by)].notna().all(axis=1) if group_by else pd.Series(
        True, index=table.index)
    n_without = int((~has_group).sum())
    if n_without:
        log.info("%d row(s) of the %s people table have no value in %s and are left out",
                 n_without, source, list(group_by))
    out = table.loc[has_group].copy()
    out["group"] = group_labels(out, group_by)
    sizes = out["group"].value_counts().sort_index()
    small = sizes[sizes < min_group_size]
    if len(small) == len(sizes):  # also with no rows at all: nothing to audit
        raise ValueError(_MSG_NO_GROUPS_LEFT.format(
            source=source, min_size=min_group_size, sizes=sizes.to_dict()))
    if len(small):
        listed = ", ".join(f"{g} ({n})" for g, n in small.items())
        warnings.warn(
            _MSG_SMALL_GROUPS.format(n_groups=len(small), source=source,
                                     min_size=min_group_size, groups=listed),
            AuditDataWarning, stacklevel=2,
        )
        out = out[~out["group"].isin(small.index)]
    info = {
        "n_without_group": n_without,
        "dropped_groups": {str(k): int(v) for k, v in small.items()},
        "group_sizes": {str(k): int(v) for k, v in sizes[sizes >= min_group_size].items()},
    }
    return out.reset_index(drop=True), info


def filter_min_ethnicity_size(
    table: pd.DataFrame, *, min_ethnicity_size: int, source: str, column: str = "ethnicity_qid"
) -> tuple[pd.DataFrame, dict]:
    """Remove ethnic-group QIDs carried by fewer than ``min_ethnicity_size`` images.

    The study kept only ethnic groups with at least 40 images before mapping them to race.
    Counts are images (rows) per QID; a person with several values keeps the large ones. A
    person left with none gets ``ethnicity_reason`` saying why (the race mapping then reports
    "no race value"). Dropped QIDs are listed in an :class:`~audit.exceptions.AuditDataWarning`,
    like ``min_group_size`` drops.

    Parameters
    ----------
    table : DataFrame
        People table whose ``column`` holds lists of QIDs.
    min_ethnicity_size : int
        Smallest number of images an ethnic group needs; 1 keeps every group.
    source : str
        Table name for the messages.
    column : str
        The list column.

    Returns
    -------
    table : DataFrame
        A copy with small QIDs removed from ``column`` (original lists in ``column + "_all"``)
        and ``ethnicity_reason`` (NA unless every value of the row was dropped).
    info : dict
        ``dropped_ethnicities`` (QID -> images) and ``n_without_ethnicity_after_min_size``.

    Examples
    --------
    >>> t = pd.DataFrame({"ethnicity_qid": [["Q1"], ["Q1", "Q2"], ["Q2", "Q3"]]})
    >>> with warnings.catch_warnings():  # it warns that Q3 was dropped
    ...     warnings.simplefilter("ignore", AuditDataWarning)
    ...     out, info = filter_min_ethnicity_size(t, min_ethnicity_size=2, source="demo")
    >>> out["ethnicity_qid"].tolist(), info["dropped_ethnicities"]
    ([['Q1'], ['Q1', 'Q2'], ['Q2']], {'Q3': 1})
    """
    if min_ethnicity_size < 1:
        raise ValueError(f"data.min_ethnicity_size must be >= 1, got {min_ethnicity_size}")
    out = table.copy()
    info = {"dropped_ethnicities": {}, "n_without_ethnicity_after_min_size": 0}
    if column not in out.columns:
        return out, info
    lists = [list(v) if isinstance(v, (list, tuple, np.ndarray)) else [] for v in out[column]]
    counts = Counter(q for items in lists for q in dict.fromkeys(items))
    small = {q: n for q, n in sorted(counts.items()) if n < min_ethnicity_size}
    kept = [[q for q in items if q not in small] for items in lists]
    emptied = [bool(items) and not k for items, k in zip(lists, kept, strict=True)]
    out[f"{column}_all"] = lists
    out[column] = kept
    out["ethnicity_reason"] = pd.Series(
        [f"ethnic group(s) {', '.join(items)} below data.min_ethnicity_size="
         f"{min_ethnicity_size}" if e else None for items, e in zip(lists, emptied, strict=True)],
        index=out.index, dtype="string")
    info = {"dropped_ethnicities": small, "n_without_ethnicity_after_min_size": int(sum(emptied))}
    if small:
        listed = ", ".join(f"{q} ({n})" for q, n in small.items())
        warnings.warn(_MSG_SMALL_ETHNICITIES.format(
            n=len(small), source=source, min_size=min_ethnicity_size, n_people=sum(emptied),
            groups=listed), AuditDataWarning, stacklevel=2)
    return out, info
