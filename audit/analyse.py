"""Entry point: re-analyse a finished run or a records table, without running any model.

::

    python -m audit.analyse RUN_DIR [analysis.key=value ...]
    python -m audit.analyse --records FILE.csv|.parquet --out DIR [analysis.key=value ...]

The first form reads ``RUN_DIR/config.yaml``, the records and ``tables/groups`` (and
``tables/image_covariates`` if present) and writes tables, figures and a report into
``RUN_DIR/analyses/<timestamp>/``; the run's own files are never changed. The second form takes
a records table made anywhere else (minimal schema: :data:`RECORDS_SCHEMA`) and writes into
``DIR``. Only ``analysis.*`` (and ``seed``) can be overridden.

A run with several croppers (``compare.croppers=[...]``) is re-analysed as the run analysed
itself: the single-cropper tables for the primary cropper, the ``cropper_*`` tables from
``records_crops`` and the ``robustness_*`` ones from ``records_robustness``. A records table
with a ``cropper`` column holding several croppers gets the single-cropper tables for the first
cropper (with a note) and ``tables/cropper_win_rates`` for all of them.
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from audit.config import AuditConfig, to_settings

log = logging.getLogger("audit.analyse")

#: Minimal records schema for ``--records`` (column -> what it holds).
RECORDS_SCHEMA = {
    "trial": "integer id of a drawn pair of images (both orders share it)",
    "order": "0 or 1: which of the two orders",
    "design": "design name, e.g. pairwise (baseline = same-group pairs)",
    "group_a": "group of image A",
    "group_b": "group of image B",
    "image_a": "id of image A (one id space for both roles)",
    "image_b": "id of image B",
    "position_a": "slot of image A: left|right|top|bottom",
    "outcome": "a|b|background|error",
}
OUTCOMES = ("a", "b", "background", "error")
POSITIONS = ("left", "right", "top", "bottom")


@dataclass
class OpenedRun:
    """What a re-analysis needs from a run folder (or a bare records table)."""

    settings: AuditConfig
    records: dict[str, pd.DataFrame]
    groups: pd.DataFrame
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    manifest: dict = field(default_factory=dict)
    source: str = ""


def _settings(base: dict, overrides: list[str]) -> AuditConfig:
    bad = [o for o in overrides if "=" not in o
           or not (o.startswith("analysis.") or o.split("=", 1)[0] == "seed")]
    if bad:
        raise ValueError(f"only analysis.key=value (and seed=N) overrides are allowed, got {bad}")
    try:
        cfg = OmegaConf.merge(OmegaConf.structured(AuditConfig), base,
                              OmegaConf.from_dotlist(overrides))
    except OmegaConfBaseException as exc:
        key = getattr(exc, "full_key", None) or "?"
        raise ValueError(f"bad override for {key}: {str(exc).splitlines()[0]}") from None
    return to_settings(cfg)


def _read_table(path: Path) -> pd.DataFrame:
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    if path.suffix == ".csv":
        return pd.read_csv(path)
    raise ValueError(f"{path}: records must be .csv or .parquet")


def validate_records(frame: pd.DataFrame, *, where: str) -> pd.DataFrame:
    """Check the minimal schema; raise ONE line naming the first missing or wrong column."""
    missing = [c for c in RECORDS_SCHEMA if c not in frame.columns]
    if missing:
        raise ValueError(f"{where}: missing column {missing[0]!r} ({RECORDS_SCHEMA[missing[0]]});"
                         f" required: {', '.join(RECORDS_SCHEMA)}")
    checks = {
        "outcome": lambda s: s.astype(str).isin(OUTCOMES),
        "position_a": lambda s: s.astype(str).isin(POSITIONS),
        "order": lambda s: pd.to_numeric(s, errors="coerce").isin([0, 1]),
        "trial": lambda s: pd.to_numeric(s, errors="coerce").notna(),
    }
    for col, ok in checks.items():
        good = ok(frame[col])
        if not good.all():
            value = frame.loc[~good, col].iloc[0]
            raise ValueError(f"{where}: column {col!r} has a wrong value {value!r} in row "
                             f"{int((~good).to_numpy().argmax())}; expected "
                             f"{RECORDS_SCHEMA[col]}")
    for col in ("group_a", "group_b", "image_a", "image_b"):
        if frame[col].isna().any():
            raise ValueError(f"{where}: column {col!r} has empty values; every row needs one")
    return frame.assign(trial=frame["trial"].astype("int64"), order=frame["order"].astype(int))


def open_run(run_dir: Path, overrides: list[str]) -> OpenedRun:
    """Open a finished run folder: the single place a run is read for re-analysis."""
    from audit.io import require_complete_run
    from audit.stages import RECORD_FILES

    config = run_dir / "config.yaml"
    if not config.is_file():
        raise FileNotFoundError(f"{run_dir} is not a run folder (no config.yaml); pass the "
                                "folder `python -m audit.run` wrote, or use --records")
    # a killed or still-running run may hold half-written tables: never re-analyse those
    require_complete_run(run_dir)
    base = OmegaConf.to_container(OmegaConf.load(config), resolve=False)
    base.pop("hydra", None)
    settings = _settings(base, overrides)
    records = {}
    for kind, stem in RECORD_FILES.items():
        path = run_dir / f"{stem}.parquet"
        if path.is_file():
            records[kind] = pd.read_parquet(path)
    tables = {}
    for name in ("groups", "image_covariates", "counts"):
        path = run_dir / "tables" / f"{name}.parquet"
        if path.is_file():
            tables[name] = pd.read_parquet(path)
    groups = tables.pop("groups", None)
    if groups is None and "pairs" in records:
        groups = _groups_of(records["pairs"])
    manifest = {}
    if (run_dir / "manifest.json").is_file():
        import json

        manifest = json.loads((run_dir / "manifest.json").read_text())
    return OpenedRun(settings=settings, records=records, groups=groups, tables=tables,
                     manifest=manifest, source=str(run_dir))


def _groups_of(records: pd.DataFrame) -> pd.DataFrame:
    labels = sorted(set(records["group_a"].astype(str)) | set(records["group_b"].astype(str)))
    return pd.DataFrame({"group": labels})


def open_records(path: Path, overrides: list[str]) -> OpenedRun:
    """Open a records table made elsewhere (minimal schema, :data:`RECORDS_SCHEMA`)."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such records file")
    frame = validate_records(_read_table(path), where=str(path))
    # a run with several croppers names each cropper's model per row: one model per cropper
    if "model" in frame.columns and (
            frame.groupby("cropper")["model"].nunique().max() > 1 if "cropper" in frame.columns
            else frame["model"].nunique() > 1):
        raise ValueError(f"{path}: column 'model' holds several values "
                         f"{sorted(map(str, frame['model'].unique()))[:5]}; analyse one at a "
                         "time (filter the file) or use "
                         "audit.analysis.inference.pair_rate_table(..., by=['model'])")
    if "cropper" in frame.columns and frame["cropper"].isna().any():
        raise ValueError(f"{path}: column 'cropper' has empty values; name the cropper of "
                         "every row or drop the column")
    swapped = frame.groupby(["design", "trial"])["order"].nunique().gt(1).any()
    settings = _settings({"name": "reanalysis", "compare": {
        "design": "pairwise", "counterbalance": bool(swapped)}}, overrides)
    return OpenedRun(settings=settings, records={"pairs": frame}, groups=_groups_of(frame),
                     source=str(path))


def reanalyse(run: OpenedRun, out_dir: Path, *, command: str = "") -> Path:
    """Recompute the statistics, figures and report of ``run`` into ``out_dir``."""
    from audit.analysis.caveats import statistics_caveats
    from audit.io import atomic_write_text, write_json, write_table
    from audit.plots.style import save_figure
    from audit.report import ReportInput, derive_caveats, render_report
    from audit.stages import DETAIL_TABLES, Analysis, _analyse_counts, _analyse_kway

    settings = run.settings
    design = settings.compare.design
    out = Analysis()
    if "image_covariates" in run.tables:
        out.tables["image_covariates"] = run.tables["image_covariates"]
    _analyse_records(run, out)
    if "kway" in run.records:
        _analyse_kway(settings, run.records["kway"], out)
    if design == "paper_counts":
        _analyse_counts(settings, out)
    if not out.tables:
        raise ValueError(f"{run.source}: nothing to re-analyse for design {design!r} "
                         "(no pairwise or k-way records)")
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, frame in out.tables.items():
        write_table(out_dir / "tables" / name, frame)
    figures = []
    for name, fig in out.figures.items():
        paths = save_figure(fig, out_dir / "figures" / name, formats=settings.plots.formats,
                            dpi=settings.plots.dpi)
        figures += [p.relative_to(out_dir).as_posix() for p in paths]
    caveats = derive_caveats(out.tables.get("win_rates"), out.tables.get("position"),
                             outcomes=out.tables.get("outcomes"))
    caveats += statistics_caveats(design, out.tables)
    created = datetime.now(timezone.utc).isoformat(timespec="seconds")
    write_json(out_dir / "analysis.json", {
        "source": run.source, "created": created, "command": command,
        "analysis": OmegaConf.to_container(OmegaConf.structured(settings.analysis)),
        "seed": settings.seed})
    report = ReportInput(
        name=f"{settings.name} (re-analysis)", created=created, command=command,
        model=run.manifest.get("model", {"name": "not run (re-analysis)"}),
        data={"source": run.source}, seed=settings.seed,
        tables={k: v for k, v in out.tables.items()
                if k not in ("image_covariates", *DETAIL_TABLES)},
        figures=[f for f in figures if f.endswith(".png")], caveats=caveats, notes=out.notes)
    md, html = render_report(report)
    atomic_write_text(out_dir / "report.md", md)
    atomic_write_text(out_dir / "report.html", html)
    return out_dir


def _analyse_records(run: OpenedRun, out) -> None:
    """Pairwise, crop and robustness records as the run itself analysed them (audit.stages).

    With several croppers the single-cropper tables describe the primary one
    (:func:`audit.analysis.croppers.primary_records`: the first of ``compare.croppers``, else
    the first in the records) and the ``cropper_*`` / ``robustness_*`` tables come from
    ``records_crops`` / ``records_robustness``. A records table made elsewhere with several
    croppers (no crop records) gets ``cropper_win_rates`` of every cropper's argmax outcome.
    """
    from audit.analysis.croppers import cropper_win_rates, primary_records
    from audit.stages import _analyse_croppers, _analyse_pairs, _analyse_robustness, _try

    settings, records = run.settings, run.records
    crops = records.get("crops")
    has_crops = crops is not None and not crops.empty
    if "pairs" in records:
        every = records["pairs"]
        pairs, note = primary_records(every, settings.compare.croppers)
        out.notes += [note] if note else []
        if pairs.empty and has_crops:
            out.notes.append("no cropper of this run has a focus point, so there is no argmax "
                             "outcome; the cropper_* tables judge the crops")
        else:
            _analyse_pairs(settings, pairs, run.groups, None, out)
        if not has_crops and note:
            stats = {"alpha": settings.analysis.alpha, "ci_method": settings.analysis.ci_method,
                     "correction": settings.analysis.correction,
                     "inference": settings.analysis.inference,
                     "margin": settings.analysis.margin, "n_boot": settings.analysis.n_boot,
                     "seed": settings.seed}
            rates = _try(out.notes, "cropper win rates", cropper_win_rates, every, None,
                         group_order=list(run.groups["group"]), **stats)
            if rates is not None:
                out.tables["cropper_win_rates"] = rates
                out.notes.append("tables/cropper_win_rates: the argmax win rates of every "
                                 "cropper in the records, one multiplicity family per cropper")
    if has_crops:
        _analyse_croppers(settings, {"pairs": pd.DataFrame(), **records}, run.groups, out)
    if "robustness" in records:
        _analyse_robustness(settings, records["robustness"], run.groups, out)


def _new_analysis_dir(parent: Path) -> Path:
    """Create a fresh ``<timestamp>[_N]`` folder, so two analyses never share one."""
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d_%H-%M-%S")
    parent.mkdir(parents=True, exist_ok=True)
    for n in range(1000):
        folder = parent / (stamp if n == 0 else f"{stamp}_{n}")
        try:
            folder.mkdir()
        except FileExistsError:
            continue
        return folder
    raise ValueError(f"{parent}: no free analysis folder for {stamp}; remove old analyses")


def main(argv: list[str] | None = None) -> int:
    """Command line; returns the exit status (1 with one line on bad input)."""
    parser = argparse.ArgumentParser(prog="python -m audit.analyse", description=__doc__
                                     .splitlines()[0])
    parser.add_argument("run_dir", nargs="?", help="a finished run folder")
    parser.add_argument("--records", help="a records table (.csv/.parquet) made elsewhere")
    parser.add_argument("--out", help="output folder for --records")
    parser.add_argument("overrides", nargs="*", help="analysis.key=value")
    args, rest = parser.parse_known_args(argv)
    overrides = [*args.overrides, *rest]
    if args.run_dir and "=" in args.run_dir:  # `--records F --out D key=value` lands here
        overrides.insert(0, args.run_dir)
        args.run_dir = None
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    command = " ".join(["python -m audit.analyse", *(argv if argv is not None else sys.argv[1:])])
    try:
        if args.records:
            if not args.out:
                raise ValueError("--records needs --out DIR (where to write the analysis)")
            run = open_records(Path(args.records), overrides)
            out_dir = Path(args.out)
        elif args.run_dir:
            run = open_run(Path(args.run_dir), overrides)
            out_dir = _new_analysis_dir(Path(args.run_dir) / "analyses")
        else:
            raise ValueError("give a RUN_DIR or --records FILE --out DIR")
        written = reanalyse(run, out_dir, command=command)
    except (ValueError, FileNotFoundError, TypeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    log.info("analysis written to %s", written)
    return 0


if __name__ == "__main__":
    sys.exit(main())
