"""Order the stages of one audit run; no Hydra here, so tests call :func:`run` directly.

load people → assign groups → plan trials → compose and score (checkpointed chunks) →
records → statistics → figures → report and manifest. Each design has one ``_run_<design>``
function returning records and tables; the shared tail writes everything through
:mod:`audit.io`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from audit.compare.crop_outcomes import HeadTruth, to_crop_frame
from audit.compare.croppers import (
    build_croppers,
    close_all,
    croppers_identity,
    describe_croppers,
)
from audit.compare.records import to_frame
from audit.compare.runner import run_jobs
from audit.compare.sampling import (
    Job,
    plan_all_groups,
    plan_counterfactual,
    plan_counterfactual_kway,
    plan_pairwise,
)
from audit.compare.single import MapCache, score_images
from audit.compare.store import CHANGED_ERROR, ImageStore
from audit.config import AuditConfig
from audit.data import PeopleTable, load_people
from audit.data.table import group_labels, image_paths, require_group_columns
from audit.io import (
    Checkpoints,
    claim_run_folder,
    mark_complete,
    mark_failed,
    project_root,
    resolve_path,
    sha256_frame,
)
from audit.manifest import build_manifest
from audit.model.base import SaliencyModel

log = logging.getLogger(__name__)


@dataclass
class RunResult:
    """What one run produced (all of it is also on disk under ``output_dir``)."""

    output_dir: Path
    records: dict[str, pd.DataFrame] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    figures: list[str] = field(default_factory=list)
    manifest: dict[str, Any] = field(default_factory=dict)
    caveats: list[str] = field(default_factory=list)
    analysis: Any = None


def assign_groups(table: pd.DataFrame, group_by: list[str], groups: list[str] | None,
                  *, source: str) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """Add the ``group`` column and return ``{group: sorted image ids}`` in report order.

    Raises
    ------
    ValueError
        A ``compare.group_by`` column is missing, a listed group does not exist, or fewer
        than the needed groups remain.
    """
    if not group_by:
        raise ValueError(
            "compare.group_by is empty; name the people-table columns that define groups, "
            f"e.g. compare.group_by=[race,gender] (columns: {list(table.columns)})")
    require_group_columns(table, group_by, source=source)
    table = table.copy()
    table["group"] = group_labels(table, group_by)
    table = table[table["group"].notna()].copy()
    table["group"] = table["group"].astype(str)
    present = sorted(table["group"].unique())
    if groups:
        unknown = [g for g in groups if g not in present]
        if unknown:
            raise ValueError(
                f"compare.groups names {unknown}, which the {source} table does not have; "
                f"groups present for group_by={group_by}: {present}")
        order = list(groups)
        table = table[table["group"].isin(order)]
    else:
        order = present
    members = {g: sorted(table.loc[table["group"] == g, "id"].astype(str)) for g in order}
    return table.reset_index(drop=True), members


def groups_table(table: pd.DataFrame, group_by: list[str], order: list[str]) -> pd.DataFrame:
    """``group`` + one column per factor + ``n_images``, in report order."""
    cols = ["group", *group_by]
    out = table.groupby(cols, sort=False, dropna=False).size().rename("n_images").reset_index()
    out["group"] = pd.Categorical(out["group"], categories=order, ordered=True)
    out = out.sort_values("group").reset_index(drop=True)
    out["group"] = out["group"].astype(str)
    return out


def data_fingerprint(people: PeopleTable) -> str:
    """SHA-256 of the images a run can draw: ids, file hashes and every label column."""
    cols = [c for c in people.table.columns if c != "image_path"]
    frame = people.table[cols].astype(str).sort_values("id", kind="stable")
    return sha256_frame(frame)


def prepare_people(settings: AuditConfig, *, root: Path
                   ) -> tuple[PeopleTable, pd.DataFrame, dict[str, list[str]], pd.DataFrame]:
    """Load the people table and assign groups: ``(people, table, members, groups table)``."""
    people = load_people(settings.data, root=root, seed=settings.seed)
    table, members = assign_groups(people.table, settings.compare.group_by,
                                   settings.compare.groups, source=people.source)
    if settings.compare.max_images is not None:
        members = {g: ids[: settings.compare.max_images] for g, ids in members.items()}
    log.info("%s: %d images in %d groups (%s)", people.source, len(table), len(members),
             ", ".join(f"{g}={len(v)}" for g, v in members.items()))
    return people, table, members, groups_table(table, settings.compare.group_by,
                                                list(members))


def records_key(settings: AuditConfig, model: SaliencyModel, data_sha256: str,
                design: str, croppers: Sequence[Any] = ()) -> str:
    """Hash of everything that shapes the records (not analysis or plots options)."""
    compare = dataclasses.asdict(settings.compare)
    for k in ("workers", "shard"):
        compare.pop(k)
    # checkpoint format 2: chunks are only kept when every image hashed as the table says
    spec = {"checkpoints": 2, "design": design, "seed": settings.seed, "compare": compare,
            "model": model.output_identity(),
            "people": data_sha256}
    if croppers:
        spec.update(croppers=croppers_identity(croppers),
                    aspect_ratios=[float(a) for a in settings.crop.aspect_ratios])
    blob = json.dumps(spec, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def n_chunks(n_jobs: int, chunk_size: int) -> int:
    """Return how many chunks a plan of ``n_jobs`` composites is cut into."""
    return -(-n_jobs // chunk_size)


def shard_chunks(total: int, index: int, count: int) -> set[int]:
    """Chunks that shard ``index`` of ``count`` computes: ``chunk % count == index``.

    Sharding by chunk keeps every chunk, and so every batch, exactly as in an unsharded
    run, which is what makes merged shards equal a single-process run byte for byte.
    """
    return {c for c in range(total) if c % count == index}


def _run_jobs_checkpointed(jobs: list[Job], kind: str, *, settings: AuditConfig,
                           model: SaliencyModel, store: ImageStore,
                           checkpoints: Checkpoints, progress: bool,
                           crops: dict[str, Any] | None = None) -> pd.DataFrame:
    """Run (or resume) one kind of jobs; with ``crops`` also fill ``crops["records"]``.

    ``crops`` holds ``croppers``, ``heads`` and ``aspect_ratios`` for :func:`run_jobs`; their
    chunks are checkpointed as ``crops_<kind>`` before the records chunk, so a chunk counts as
    done only when both exist.
    """
    total = n_chunks(len(jobs), settings.compare.chunk_size)
    mine = shard_chunks(total, *settings.compare.shard_index)
    crops_kind = f"crops_{kind}"
    done = checkpoints.done(kind) & mine
    if crops is not None:
        done &= checkpoints.done(crops_kind)
    # chunks of this call that were not checkpointed (they read images that changed on disk)
    fresh: dict[int, pd.DataFrame] = {}
    fresh_crops: dict[int, pd.DataFrame] = {}
    if done:
        log.info("resuming %s: %d of %d chunks already finished in %s", kind, len(done),
                 len(mine), checkpoints.folder)
    extra = {} if crops is None else {
        "croppers": crops["croppers"], "heads": crops["heads"],
        "aspect_ratios": crops["aspect_ratios"],
        "on_crops": lambda i, f: _save_chunk(checkpoints, crops_kind, i, f, fresh_crops)}
    run_jobs(jobs, store=store, model=model, config=settings.compare,
             on_chunk=lambda i, f: _save_chunk(checkpoints, kind, i, f, fresh),
             skip_chunks=set(range(total)) - (mine - done), progress=progress, **extra)
    if crops is not None:
        parts = (checkpoints.load(crops_kind, only=mine - set(fresh_crops))
                 + [fresh_crops[i] for i in sorted(fresh_crops)])
        crops["records"] = (sort_records(pd.concat(parts, ignore_index=True)) if parts
                            else to_crop_frame([]))
    frames = checkpoints.load(kind, only=mine - set(fresh)) + [fresh[i] for i in sorted(fresh)]
    if not frames:
        return to_frame([], kway=kind == "kway")
    return sort_records(pd.concat(frames, ignore_index=True))


def _save_chunk(checkpoints: Checkpoints, kind: str, index: int, frame: pd.DataFrame,
                fresh: dict[int, pd.DataFrame]) -> None:
    """Checkpoint a finished chunk unless one of its images changed on disk meanwhile.

    Such a chunk holds outcomes of other bytes than the checkpoint key claims; it goes into
    this run's records (as ``error`` rows naming both hashes) but not into the checkpoint
    folder, so the next run of the same configuration recomputes it.
    """
    errors = frame["error"].dropna().astype(str) if "error" in frame else pd.Series([], dtype=str)
    changed = errors[errors.str.startswith(CHANGED_ERROR)]
    if changed.empty:
        checkpoints.save(kind, index, frame)
        return
    fresh[index] = frame
    log.warning("%s chunk %d not checkpointed: %d composites read images that changed on disk "
                "during the run (first: %s); a rerun recomputes it", kind, index, len(changed),
                changed.iloc[0])


def _run_variants(jobs: list[Job], *, settings: AuditConfig, model: SaliencyModel,
                  crops: dict[str, Any] | None, table: pd.DataFrame, checkpoints: Checkpoints,
                  progress: bool, base: tuple[pd.DataFrame, pd.DataFrame | None]
                  ) -> pd.DataFrame:
    """Re-run the same pair jobs under each ``compare.perturbations`` layout (checkpointed).

    Returns the long ``records_robustness`` table: the base run's outcomes and every
    variant's, one row per composite, cropper, measure and variant.
    """
    from audit.compare.robustness import BASE, long_outcomes, variant_layouts

    frames = [long_outcomes(*base, BASE)]
    for name, layout in variant_layouts(settings.compare.layout, settings.compare.perturbations):
        compare = dataclasses.replace(settings.compare, layout=layout)
        variant = dataclasses.replace(settings, compare=compare)
        store = table_store(table, variant)
        spec = None if crops is None else {k: crops[k] for k in
                                           ("croppers", "heads", "aspect_ratios")}
        log.info("robustness variant %s: %d composites", name, len(jobs))
        records = _run_jobs_checkpointed(jobs, f"pairs~{name}", settings=variant, model=model,
                                         store=store, checkpoints=checkpoints,
                                         progress=progress, crops=spec)
        frames.append(long_outcomes(records, None if spec is None else spec["records"], name))
    return sort_records(pd.concat(frames, ignore_index=True))


def head_truths(table: pd.DataFrame) -> dict[str, HeadTruth]:
    """Return generator head boxes with image sizes (synthetic portraits); empty elsewhere."""
    from audit.stages import _true_heads

    if not {"width", "height"} <= set(table.columns):
        return {}
    sizes = {str(r.id): (int(r.width), int(r.height))
             for r in table[["id", "width", "height"]].itertuples(index=False)}
    return {i: HeadTruth(box, sizes[i]) for i, box in _true_heads(table).items()}


def table_store(table: pd.DataFrame, settings: AuditConfig) -> ImageStore:
    """Build a run's image store: its layout, pixel cap and the table's hash of every file."""
    return ImageStore(image_paths(table), settings.compare.layout,
                      max_pixels=settings.data.download.max_pixels,
                      sha256s=dict(zip(table["id"].astype(str), table["sha256"].astype(str),
                                       strict=True)))


def sort_records(records: pd.DataFrame) -> pd.DataFrame:
    """Return records in their canonical order (trial, then order), index reset."""
    return records.sort_values(["trial", "order"], kind="stable").reset_index(drop=True)


#: Memory one planned composite may take through the run (its job, its record row, the
#: records table and its copies), measured ~0.3 KB planned and ~1-2 KB as a record; generous.
BYTES_PER_COMPOSITE = 4096


def available_memory() -> int:
    """Bytes of memory this process can still use (MemAvailable on Linux, else physical/2)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    import os

    return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2


def composite_cap(memory: int | None = None) -> int:
    """Most composites a plan may hold by default: half the available memory's worth."""
    memory = available_memory() if memory is None else memory
    return max(1, memory // 2 // BYTES_PER_COMPOSITE)


def planned_composites(settings: AuditConfig, members: dict[str, list[str]]) -> int:
    """How many composites the trial plan of these groups will hold, computed without planning.

    Follows the planners in :mod:`audit.compare.sampling`: pairwise draws ``n_trials`` per pair
    of groups plus ``baseline_trials`` per group of two or more images; all_groups draws
    ``n_trials`` tuples; counterfactual does both; each pair runs twice when counterbalanced.
    """
    c = settings.compare
    k = len(members)
    pairs = k * (k - 1) // 2
    orders = 2 if c.counterbalance else 1
    if c.design == "pairwise":
        baselines = sum(1 for ids in members.values() if len(ids) >= 2)
        return (c.n_trials * pairs + c.baseline_trials * baselines) * orders
    if c.design == "all_groups":
        return c.n_trials
    if c.design == "counterfactual":
        return c.n_trials * pairs * orders + c.n_trials
    return 0


def check_plan_size(settings: AuditConfig, members: dict[str, list[str]]) -> int:
    """Refuse, in one line, a plan too large to hold; return its number of composites.

    Raises
    ------
    ValueError
        The plan exceeds ``compare.max_composites`` (or, when that is null, what the memory
        available can hold), naming the sizes and how to proceed.
    """
    c = settings.compare
    n = planned_composites(settings, members)
    cap = c.max_composites if c.max_composites is not None else composite_cap()
    if n > cap:
        source = ("compare.max_composites" if c.max_composites is not None else
                  f"about {BYTES_PER_COMPOSITE} bytes each in {available_memory() // 2**20} MiB "
                  "of available memory")
        raise ValueError(
            f"compare.n_trials={c.n_trials} plans {n:,} composites for {len(members)} groups "
            f"({', '.join(f'{g}={len(v)}' for g, v in members.items())}), more than the "
            f"{cap:,} allowed ({source}); lower compare.n_trials, or set "
            "compare.max_composites=N if this machine can hold N")
    return n


def _plan(settings: AuditConfig, members: dict[str, list[str]], table: pd.DataFrame
          ) -> dict[str, list[Job]]:
    c, seed = settings.compare, settings.seed
    if c.design == "pairwise":
        return {"pairs": plan_pairwise(members, n_trials=c.n_trials,
                                       baseline_trials=c.baseline_trials, seed=seed,
                                       counterbalance=c.counterbalance)}
    if c.design == "all_groups":
        return {"kway": plan_all_groups(members, n_trials=c.n_trials, seed=seed)}
    if c.design == "counterfactual":
        if "portrait" not in table.columns:
            raise ValueError(
                "compare.design=counterfactual needs a `portrait` column (the same portrait "
                "rendered in each group); use data=synthetic data.synthetic.counterfactual=true")
        renders: dict[str, dict[str, str]] = {}
        for row in table[["portrait", "group", "id"]].itertuples(index=False):
            renders.setdefault(str(row.portrait), {})[row.group] = str(row.id)
        tones = list(members)
        return {
            "pairs": plan_counterfactual(renders, tones, n_trials=c.n_trials, seed=seed,
                                         counterbalance=c.counterbalance),
            "kway": plan_counterfactual_kway(renders, tones, n_trials=c.n_trials, seed=seed),
        }
    raise ValueError(f"design {c.design!r} has no trial plan")


def run(
    settings: AuditConfig,
    *,
    model: SaliencyModel | None,
    output_dir: Path,
    config_yaml: str = "",
    overrides: list[str] | None = None,
    command: str = "",
    progress: bool = True,
    croppers: Sequence[Any] | None = None,
) -> RunResult:
    """Run one audit and write its folder.

    Parameters
    ----------
    settings : AuditConfig
        Validated settings (see :func:`audit.config.to_settings`).
    model : SaliencyModel or None
        The saliency model (``None`` only for ``compare.design=paper_counts``).
    output_dir : Path
        The run folder (Hydra's ``runtime.output_dir``).
    config_yaml : str
        The composed config, written to ``config.yaml`` for self-description.
    overrides : list of str
        Command-line overrides, for the report.
    command : str
        The command line, for the report.
    progress : bool
        Show progress bars.
    croppers : sequence of Cropper, optional
        Croppers of the pairwise-type composites; ``None`` builds ``compare.croppers`` (or the
        selected ``cropper`` group) with ``model`` (see :mod:`audit.compare.croppers`).

    Returns
    -------
    RunResult
    """
    started = time.time()
    out = claim_run_folder(Path(output_dir))
    try:
        return _run_claimed(settings, model=model, out=out, started=started,
                            config_yaml=config_yaml, overrides=overrides, command=command,
                            progress=progress, croppers=croppers)
    except Exception as exc:
        mark_failed(out, f"{type(exc).__name__}: {exc}".splitlines()[0])
        raise


def _run_claimed(settings: AuditConfig, *, model: SaliencyModel | None, out: Path,
                 started: float, config_yaml: str, overrides: list[str] | None, command: str,
                 progress: bool, croppers: Sequence[Any] | None) -> RunResult:
    root = project_root(settings.paths.root)
    design = settings.compare.design
    result = RunResult(output_dir=out)
    people: PeopleTable | None = None
    context: dict[str, Any] = {}

    if design != "paper_counts":
        if model is None:
            raise ValueError(f"compare.design={design} needs a model")
        people, table, members, groups = prepare_people(settings, root=root)
        result.tables["groups"] = groups
        context.update(table=table, members=members, data_sha256=data_fingerprint(people))
    if settings.compare.shard and design not in ("pairwise", "all_groups", "counterfactual"):
        raise ValueError(
            f"compare.shard splits composite designs only; compare.design={design} scores each "
            "image once (cached), so run it whole")

    if design in ("pairwise", "all_groups", "counterfactual"):
        needed = 1 if design == "all_groups" else 2
        if len(context["members"]) < needed:
            raise ValueError(
                f"compare.design={design} needs at least {needed} groups; "
                f"found {list(context['members'])} for group_by={settings.compare.group_by}")
        check_plan_size(settings, context["members"])
        plans = _plan(settings, context["members"], context["table"])
        owned = croppers is None and "pairs" in plans
        if owned:
            croppers = build_croppers(settings.compare.croppers,
                                      getattr(settings, "cropper", None), model=model)
        croppers = list(croppers or [])
        # shards of one run share this folder (on a cluster, put work_dir on shared storage)
        key = records_key(settings, model, context["data_sha256"], design, croppers)
        checkpoints = Checkpoints(resolve_path(root, settings.paths.work_dir)
                                  / f"{settings.name}-{key}")
        store = table_store(context["table"], settings)
        crops = None if not croppers else {
            "croppers": croppers, "heads": head_truths(context["table"]),
            "aspect_ratios": list(settings.crop.aspect_ratios)}
        try:
            for kind, jobs in plans.items():
                log.info("%s: %d composites (%s)", kind, len(jobs), design)
                result.records[kind] = _run_jobs_checkpointed(
                    jobs, kind, settings=settings, model=model, store=store,
                    checkpoints=checkpoints, progress=progress,
                    crops=crops if kind == "pairs" else None)
                if kind == "pairs" and crops is not None:
                    result.records["crops"] = crops["records"]
            if settings.compare.perturbations and "pairs" in plans:
                result.records["robustness"] = _run_variants(
                    plans["pairs"], settings=settings, model=model, crops=crops,
                    table=context["table"], checkpoints=checkpoints, progress=progress,
                    base=(result.records["pairs"], result.records.get("crops")))
        finally:
            if owned:
                close_all(croppers)
        context["croppers"] = describe_croppers(croppers)
        context["chunks"] = {kind: n_chunks(len(jobs), settings.compare.chunk_size)
                             for kind, jobs in plans.items()}
        context["checkpoints"] = str(checkpoints.folder)
        context["store"] = {"hits": store.hits, "misses": store.misses,
                            "full_size_fallbacks": store.fallbacks,
                            "cached_bytes": store.cached_bytes}
    elif design in ("saliency_stats", "male_gaze"):
        table = context["table"]
        cache = MapCache(resolve_path(root, settings.paths.cache_dir) / "saliency")
        scores = score_images(list(table["id"].astype(str)),
                              list(table["image_path"].astype(str)),
                              list(table["sha256"].astype(str)), model, cache=cache,
                              progress=progress)
        context.update(scores=scores, cache={"hits": cache.hits, "misses": cache.misses})

    extra = {k: context[k] for k in ("checkpoints", "store", "cache", "chunks", "croppers")
             if k in context}
    return write_run(settings, result, context, people=people, model_info=describe_model(model),
                     started=started, config_yaml=config_yaml, overrides=overrides or [],
                     command=command, extra=extra)


def error_table(records: pd.DataFrame) -> pd.DataFrame:
    """One row per distinct error message: ``error``, ``n`` (records with it), most first."""
    if "error" not in records:
        return pd.DataFrame({"error": pd.Series([], dtype=str), "n": pd.Series([], dtype=int)})
    errors = records["error"].dropna().astype(str)
    return (errors.value_counts().rename_axis("error").reset_index(name="n")
            .sort_values(["n", "error"], ascending=[False, True], kind="stable")
            .reset_index(drop=True))


def write_failed_outcomes(result: RunResult, context: dict[str, Any]) -> list[str]:
    """Write what a run computed before its statistics failed; return the files written.

    When every image of a group is unreadable the statistics cannot be formed, but the
    records (each composite's or image's outcome) and the list of errors are what the user
    needs to see why: ``records*.csv`` / ``images.csv`` and ``tables/errors.csv`` (``file``,
    ``error``, ``n``: how many rows of that file carry that error).
    """
    from audit.io import write_table
    from audit.stages import RECORD_FILES, per_image_table

    records = dict(result.records)
    if "scores" in context and "images" not in records:
        records["images"] = per_image_table(context["table"], context["scores"])
    written = []
    errors = []
    for kind, frame in records.items():
        write_table(result.output_dir / RECORD_FILES[kind], frame)
        written.append(f"{RECORD_FILES[kind]}.csv")
        # per file: one failed composite is one records row but a records_crops row per ratio
        errors.append(error_table(frame).assign(file=f"{RECORD_FILES[kind]}.csv"))
    if errors:
        table = pd.concat(errors, ignore_index=True)[["file", "error", "n"]]
        write_table(result.output_dir / "tables" / "errors", table)
        written.append("tables/errors.csv")
    return written


def describe_model(model: SaliencyModel | None) -> dict[str, Any]:
    """Return what manifests and reports say about the model, fallback included."""
    if model is None:
        return {"name": None}
    info = dict(model.describe())
    info["fallback_reason"] = getattr(model, "fallback_reason", None)
    return info


def write_run(settings: AuditConfig, result: RunResult, context: dict[str, Any], *,
              people: PeopleTable | None, model_info: dict[str, Any], started: float,
              config_yaml: str = "", overrides: list[str] | None = None, command: str = "",
              extra: dict[str, Any] | None = None) -> RunResult:
    """Statistics, figures, manifest and report for records already computed (or merged)."""
    from audit.stages import analyse, finish_run

    try:
        analyse(settings, result, context, people=people, model_info=model_info)
    except ValueError as exc:
        written = write_failed_outcomes(result, context)
        if not written:
            raise
        raise ValueError(f"{exc} (the run's outcomes and per-file errors are in "
                         f"{', '.join(written)} under {result.output_dir}; the folder stays "
                         "marked incomplete)") from exc
    result.manifest = build_manifest(
        settings, model_info=model_info, people=people, output_dir=result.output_dir,
        started=started,
        extra={"data_sha256": context.get("data_sha256") or (
                   data_fingerprint(people) if people else None),
               "shard": settings.compare.shard, **(extra or {})})
    finish_run(settings, result, people=people, config_yaml=config_yaml,
               overrides=overrides or [], command=command)
    mark_complete(result.output_dir)
    log.info("run written to %s (%.1f s)", result.output_dir, time.time() - started)
    return result
