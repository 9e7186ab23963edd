"""Data layer: load the people table of the configured source (synthetic, wikidata, folder).

:func:`load_people` is what an audit run calls; it never touches the network. The Wikidata
source reads the table written by ``python -m audit.fetch data=wikidata``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from audit.data.folder import load_folder_table
from audit.data.settings import DataConfig, DownloadConfig, MappingsConfig, SyntheticConfig
from audit.data.synthetic import config_hash, generate_synthetic
from audit.data.table import (
    apply_mappings,
    as_list,
    filter_min_ethnicity_size,
    filter_min_group_size,
    load_mapping,
)
from audit.http import sha256_file
from audit.io import resolve_path, resolve_shipped

__all__ = [
    "DataConfig", "DownloadConfig", "MappingsConfig", "PeopleTable", "SyntheticConfig",
    "load_counterfactual", "load_people",
]

log = logging.getLogger(__name__)

_MSG_NO_TABLE = (
    "People table {path} not found; create it with: python -m audit.fetch data=wikidata "
    "data.contact=YOUR_EMAIL_OR_URL (or set data.table)"
)
_MSG_NO_OK_ROWS = (
    "People table {path} has no row with status ok and an existing image file; "
    "rerun python -m audit.fetch data=wikidata"
)
_MSG_FOLDER_UNSET = (
    "data=folder needs data.folder (image folder) and data.csv (labels with columns id,file,...)"
)


@dataclass(frozen=True)
class PeopleTable:
    """The images an audit draws from, with their group labels.

    Attributes
    ----------
    table : pd.DataFrame
        One row per image: ``id`` (str, unique), ``image_path`` (absolute str), ``sha256``,
        the group columns (``data.group_by``), ``group`` (their values joined by ``_``) and
        source-specific columns.
    source : str
        ``synthetic``, ``wikidata`` or ``folder``.
    provenance : dict
        For the run manifest: table path and SHA-256, query SHA, counts, generator settings.
    attribution : pd.DataFrame | None
        ``id, licence, licence_url, author, url`` for Wikimedia images, else None.
    synthetic : bool
        True for generated images (not photos of people).
    """

    table: pd.DataFrame
    source: str
    provenance: dict
    attribution: pd.DataFrame | None
    synthetic: bool


def _load_synthetic(config: DataConfig, *, root: Path, seed: int) -> PeopleTable:
    table = generate_synthetic(config.synthetic, root=root, seed=seed)
    table, info = filter_min_group_size(table, group_by=config.group_by,
                                        min_group_size=config.min_group_size, source="synthetic")
    provenance = {
        "source": "synthetic",
        "generator": dataclasses.asdict(config.synthetic),
        "seed": int(seed),
        "config_hash": config_hash(config.synthetic, seed=seed),
        "n_images": len(table),
        **info,
    }
    return PeopleTable(table=table, source="synthetic", provenance=provenance,
                       attribution=None, synthetic=True)


def _load_wikidata(config: DataConfig, *, root: Path) -> PeopleTable:
    path = resolve_path(root, config.table)
    if not path.is_file():
        raise FileNotFoundError(_MSG_NO_TABLE.format(path=path))
    table = pd.read_parquet(path)
    for column in ("gender_qid", "ethnicity_qid", "occupation_qid", "loc_aid"):
        if column in table.columns:
            table[column] = table[column].map(as_list)
    n_total = len(table)
    images_dir = resolve_path(root, config.images_dir)
    table["image_path"] = [str(resolve_path(images_dir, p)) if isinstance(p, str) else None
                           for p in table["image_path"]]
    usable = (table["status"] == "ok") & table["image_path"].map(
        lambda p: isinstance(p, str) and Path(p).is_file())
    excluded = table.loc[~usable, "status"].value_counts().to_dict()
    n_missing_files = int(((table["status"] == "ok") & ~usable).sum())
    if n_missing_files:
        log.warning("%d image(s) marked ok are missing on disk; rerun the fetch", n_missing_files)
    table = table.loc[usable].reset_index(drop=True)
    if table.empty:
        raise ValueError(_MSG_NO_OK_ROWS.format(path=path))
    # Mappings are applied at load time so that an edited mapping file needs no refetch.
    gender = load_mapping(resolve_shipped(root, config.mappings.gender), column="gender",
                          key="gender")
    race = load_mapping(resolve_shipped(root, config.mappings.ethnicity_to_race), column="race",
                        key="ethnicity_to_race")
    table = table.drop(columns=[c for c in ("gender", "race", "gender_reason", "race_reason")
                                if c in table.columns])
    table, ethnicity_info = filter_min_ethnicity_size(
        table, min_ethnicity_size=config.min_ethnicity_size, source="wikidata")
    table, report = apply_mappings(table, gender=gender, race=race)
    table, info = filter_min_group_size(table, group_by=config.group_by,
                                        min_group_size=config.min_group_size, source="wikidata")
    info = {**ethnicity_info, **info}
    fetch_prov_path = path.with_suffix(".provenance.json")
    fetch_prov = {}
    if fetch_prov_path.is_file():
        fetch_prov = json.loads(fetch_prov_path.read_text(encoding="utf-8"))
    provenance = {
        "source": "wikidata",
        "table_path": str(path),
        "table_sha256": sha256_file(path),
        "query_sha256": fetch_prov.get("query_sha256"),
        "fetched_at": fetch_prov.get("fetched_at"),
        "endpoint": fetch_prov.get("endpoint"),
        "mapping_files": {
            "gender": sha256_file(resolve_shipped(root, config.mappings.gender)),
            "ethnicity_to_race": sha256_file(
                resolve_shipped(root, config.mappings.ethnicity_to_race)),
        },
        "n_rows_in_table": n_total,
        "excluded_by_status": {str(k): int(v) for k, v in excluded.items()},
        "n_missing_files": n_missing_files,
        "mapping": report.as_dict(),
        "n_images": len(table),
        **info,
    }
    columns = {"licence": "licence", "licence_url": "licence_url", "author": "author",
               "description_url": "url"}
    attribution = table[["id", *[c for c in columns if c in table.columns]]].rename(
        columns=columns)
    return PeopleTable(table=table, source="wikidata", provenance=provenance,
                       attribution=attribution, synthetic=False)


def _load_folder(config: DataConfig, *, root: Path) -> PeopleTable:
    if not config.folder or not config.csv:
        raise ValueError(_MSG_FOLDER_UNSET)
    folder, csv = resolve_path(root, config.folder), resolve_path(root, config.csv)
    table = load_folder_table(folder, csv, group_by=config.group_by)
    table, info = filter_min_group_size(table, group_by=config.group_by,
                                        min_group_size=config.min_group_size, source="folder")
    provenance = {
        "source": "folder", "folder": str(folder), "csv": str(csv),
        "csv_sha256": sha256_file(csv), "n_images": len(table), **info,
    }
    return PeopleTable(table=table, source="folder", provenance=provenance,
                       attribution=None, synthetic=False)


def load_people(config: DataConfig, *, root: Path, seed: int) -> PeopleTable:
    """Load the people table of ``config.source`` (offline).

    Parameters
    ----------
    config : DataConfig
        ``data`` settings.
    root : Path
        Project root; relative paths in ``config`` are relative to it.
    seed : int
        Run seed (used by the synthetic generator).

    Returns
    -------
    PeopleTable
        Rows with a value in every ``data.group_by`` column, in groups of at least
        ``data.min_group_size`` images.

    Raises
    ------
    FileNotFoundError
        The Wikidata table (with the fetch command in the message) or folder files are missing.
    ValueError
        Invalid folder CSV, unknown group_by column, or no group large enough.

    Warns
    -----
    AuditDataWarning
        When groups smaller than ``data.min_group_size`` are dropped.
    """
    root = Path(root)
    if config.source == "synthetic":
        return _load_synthetic(config, root=root, seed=seed)
    if config.source == "wikidata":
        return _load_wikidata(config, root=root)
    if config.source == "folder":
        return _load_folder(config, root=root)
    raise ValueError(f"data.source must be synthetic, wikidata or folder, got {config.source!r}")


def load_counterfactual(config: DataConfig, *, root: Path, seed: int) -> PeopleTable:
    """Synthetic counterfactual set: every portrait rendered in every tone of ``data.synthetic``.

    Rows sharing ``portrait`` differ only inside the skin mask. Grouping and size filter follow
    ``config`` as in :func:`load_people`.
    """
    synthetic = dataclasses.replace(config.synthetic, counterfactual=True)
    return _load_synthetic(dataclasses.replace(config, source="synthetic", synthetic=synthetic),
                           root=root, seed=seed)
