"""Run planned jobs: compose, score, locate the salient point, judge, and emit records.

Work proceeds in chunks; each chunk's records are handed to a callback (the pipeline writes
them atomically as checkpoint files) so an interrupted run resumes where it stopped.
Failures are outcomes: an image that cannot be read or a model that fails yields an
``error`` row with the message, never a silent redraw.
"""

from __future__ import annotations

import io
import logging
import math
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm.auto import tqdm

from audit.compare.crop_outcomes import HeadTruth, crop_rows, slot_heads, to_crop_frame
from audit.compare.layout import Composite, compose, position_name, slot_of, study_slot
from audit.compare.policies import PolicyResult, judge
from audit.compare.records import KWAY_DESIGNS, to_frame
from audit.compare.sampling import Job
from audit.compare.settings import CompareConfig
from audit.compare.store import ImageStore
from audit.crop.rules import is_symmetric, salient_point
from audit.exceptions import ModelError
from audit.model.base import SaliencyMap, SaliencyModel
from audit.model.preprocess import Prepared, prepare_array, prepare_file

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Ready:
    """A job whose composite is built (``prepared`` for the network, ``pixels`` otherwise)."""

    job: Job
    boxes: tuple
    size: tuple[int, int]
    prepared: Prepared | None
    pixels: np.ndarray | None
    error: str | None = None
    jpeg: bytes | None = None  # the saved composite an external program reads (study protocol)


def _encode_jpeg(pixels: np.ndarray, quality: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def build_composite(job: Job, store: ImageStore, config: CompareConfig) -> Composite:
    """Load the job's images (cached) and paste them in slot order."""
    return compose([store.get(i) for i in job.images], config.layout)


def prepare_job(job: Job, store: ImageStore, config: CompareConfig, *,
                box: int, keep_pixels: bool) -> _Ready:
    """Build one job's composite and the network input; errors become an error note."""
    try:
        if not keep_pixels and not config.jpeg_roundtrip:
            # Compact exact path: the composite never exists at full size (see store.py).
            prepared, boxes, size = store.prepare(job.images, box=box)
            return _Ready(job, boxes, size, prepared, None)
        comp = build_composite(job, store, config)
        if keep_pixels:
            pixels, jpeg = comp.pixels, None
            if config.jpeg_roundtrip:
                # The program itself must read the saved file, as in the study's loop.
                jpeg = _encode_jpeg(pixels, config.jpeg_quality)
                pixels = np.asarray(Image.open(io.BytesIO(jpeg)))
            return _Ready(job, comp.boxes, comp.size, None, pixels, jpeg=jpeg)
        # The study's loop saved each composite as JPEG and the program decoded it again.
        prepared = prepare_file(_encode_jpeg(comp.pixels, config.jpeg_quality), box=box)
        return _Ready(job, comp.boxes, comp.size, prepared, None)
    except (ValueError, OSError, KeyError) as exc:
        return _Ready(job, (), (0, 0), None, None, error=f"{type(exc).__name__}: {exc}")


# Worker-process state: each worker builds its own store once (see run_jobs).
_WORKER: dict = {}


def _init_worker(paths: dict, config: CompareConfig, box: int, keep: bool,
                 max_pixels: int | None, sha256s: dict | None = None) -> None:
    _WORKER.update(store=ImageStore(paths, config.layout, max_pixels=max_pixels,
                                    sha256s=sha256s),
                   config=config, box=box, keep=keep)


def _prepare_in_worker(jobs: Sequence[Job]) -> list[_Ready]:
    return [prepare_job(j, _WORKER["store"], _WORKER["config"], box=_WORKER["box"],
                        keep_pixels=_WORKER["keep"]) for j in jobs]


def _submit(pool: ProcessPoolExecutor, chunk: Sequence[Job], workers: int) -> list[Future]:
    """Hand one chunk to the pool as ``workers`` contiguous slices (order is kept)."""
    step = -(-len(chunk) // workers)
    return [pool.submit(_prepare_in_worker, list(chunk[s:s + step]))
            for s in range(0, len(chunk), step)]


def torch_threads_for(workers: int, cores: int | None = None) -> int:
    """Intra-op threads for the model when ``workers`` processes prepare composites.

    Preparation is a few ms per composite against ~100 ms of network time, so the model
    keeps every core but the ones the workers would otherwise contend for.
    """
    cores = cores or os.cpu_count() or 1
    return max(1, cores - workers)


def _score(model: SaliencyModel, ready: Sequence[_Ready]) -> list[SaliencyMap | str]:
    """Scores per ready job; a failure is returned as its message, batch first then singly."""
    if getattr(model, "accepts_prepared", True):
        try:
            return list(model.predict([r.prepared for r in ready]))
        except Exception as exc:  # noqa: BLE001 - any model failure becomes an outcome
            if len(ready) == 1:
                return [f"{type(exc).__name__}: {exc}"]
    out: list[SaliencyMap | str] = []
    for r in ready:
        try:
            if getattr(model, "accepts_prepared", True):
                out.append(model.predict([r.prepared])[0])
            elif r.jpeg is not None:
                out.append(_predict_jpeg(model, r.jpeg))
            else:
                out.append(model.predict_array(r.pixels))
        except Exception as exc:  # noqa: BLE001 - recorded, never silently redrawn
            out.append(f"{type(exc).__name__}: {exc}")
    return out


def _predict_jpeg(model: SaliencyModel, data: bytes) -> SaliencyMap:
    """Hand a saved JPEG composite to a model that reads files (the external program)."""
    with tempfile.TemporaryDirectory(prefix="cropaudit_composite_") as tmp:
        path = Path(tmp) / "composite.jpg"
        path.write_bytes(data)
        return model.predict_file(path)


def _judge(r: _Ready, smap: SaliencyMap, config: CompareConfig
           ) -> tuple[dict[str, float], int, int, PolicyResult]:
    """Return the point and max score, its slot (-1: fill), its study slot, the policies.

    The study slot is the one whose column holds the point (-1: padding), see ``study_slot``.
    """
    point = salient_point(smap)
    located = {"point_x": float(point.x), "point_y": float(point.y),
               "score_max": float(smap.scores.max())}
    pol = judge(smap, r.boxes, temperature=config.temperature, top_k=config.top_k)
    study = study_slot(r.boxes, point.x, point.y, config.layout.direction)
    return located, slot_of(r.boxes, point.x, point.y), study, pol


def _pair_row(r: _Ready, smap: SaliencyMap | None, model_name: str, config: CompareConfig,
              error: str | None) -> dict:
    job = r.job
    b = 1 - job.a_slot
    row = {
        "trial": job.trial, "order": job.order, "design": job.design,
        "trial_seed": job.trial_seed, "model": model_name, "cropper": model_name,
        "group_a": job.groups[job.a_slot], "group_b": job.groups[b],
        "image_a": job.images[job.a_slot], "image_b": job.images[b],
        "position_a": position_name(job.a_slot, 2, config.layout.direction),
        "position_b": position_name(b, 2, config.layout.direction),
        "composite_w": r.size[0], "composite_h": r.size[1],
        "point_x": math.nan, "point_y": math.nan, "score_max": math.nan,
        "outcome": "error", "error": error, "a_wins": None,
        "score_max_a": math.nan, "score_max_b": math.nan, "p_a_sample": math.nan,
        "p_a_topk": math.nan, "mass_a": math.nan, "mass_b": math.nan,
        "outcome_study": "error",
    }
    for side, slot in (("a", job.a_slot), ("b", b)):
        box = r.boxes[slot] if r.boxes else None
        for k in ("left", "top", "width", "height"):
            row[f"box_{side}_{k}"] = getattr(box, k) if box else -1
    if smap is None:
        return row
    located, slot, study, pol = _judge(r, smap, config)
    outcome = "background" if slot < 0 else ("a" if slot == job.a_slot else "b")
    row.update(
        **located, outcome=outcome, error=None, a_wins={"a": 1, "b": 0}.get(outcome),
        **pol.record_columns(a_slot=job.a_slot),
        outcome_study="background" if study < 0 else ("a" if study == job.a_slot else "b"),
    )
    return row


def _kway_row(r: _Ready, smap: SaliencyMap | None, model_name: str, config: CompareConfig,
              error: str | None) -> dict:
    job = r.job
    row = {
        "trial": job.trial, "order": job.order, "design": job.design,
        "trial_seed": job.trial_seed, "model": model_name, "k": len(job.groups),
        "groups": list(job.groups), "images": list(job.images),
        "boxes": [[b.left, b.top, b.width, b.height] for b in r.boxes],
        "composite_w": r.size[0], "composite_h": r.size[1],
        "point_x": math.nan, "point_y": math.nan, "score_max": math.nan,
        "outcome": "error", "error": error, "winner_group": None, "winner_slot": None,
        "mass_shares": None, "p_sample_slots": None, "outcome_study": "error",
        "winner_group_study": None,
    }
    if smap is None:
        return row
    located, slot, study, pol = _judge(r, smap, config)
    row.update(
        **located, outcome="win" if slot >= 0 else "background", error=None,
        outcome_study="win" if study >= 0 else "background",
        winner_group_study=job.groups[study] if study >= 0 else None,
        winner_group=job.groups[slot] if slot >= 0 else None,
        winner_slot=slot if slot >= 0 else None,
        mass_shares=[float(m) for m in pol.mass],
        p_sample_slots=[float(p) for p in pol.p_sample_given_slot],
    )
    return row


def _point_row(r: _Ready, result: object, name: str, config: CompareConfig,
               error: str | None) -> dict:
    """Return the records row of a cropper other than the batched model (its focus point)."""
    row = _pair_row(r, None, name, config, error)
    if error is not None or result is None:
        return row
    point, smap = result.point, result.saliency  # type: ignore[attr-defined]
    if point is None:
        row["error"] = f"cropper {name} returned no focus point"
        return row
    slot = slot_of(r.boxes, point.x, point.y)
    outcome = "background" if slot < 0 else ("a" if slot == r.job.a_slot else "b")
    row.update(point_x=float(point.x), point_y=float(point.y), outcome=outcome,
               a_wins={"a": 1, "b": 0}.get(outcome))
    if smap is not None:
        row["score_max"] = float(smap.scores.max())
        row.update(**judge(smap, r.boxes, temperature=config.temperature,
                           top_k=config.top_k).record_columns(a_slot=r.job.a_slot))
    return row


def has_point(cropper: object) -> bool:
    """Whether a cropper always has a focus point (so its failures are ``records`` rows too).

    True for the saliency kind and for box croppers that declare ``has_point = True``. Any
    cropper whose result carries a point gets a ``records`` row for that composite.
    """
    return getattr(cropper, "kind", "") == "saliency" or bool(getattr(cropper, "has_point", False))


def fast_cropper(croppers: Sequence[object], model: SaliencyModel) -> object | None:
    """Return the cropper that is the run's model plus Twitter's rule (batched path), if any."""
    return next((c for c in croppers if getattr(c, "model", None) is model
                 and hasattr(c, "crops_from_map")), None)


@dataclass
class _Croppers:
    """The croppers of one run and what the runner needs to judge their crops."""

    croppers: Sequence[object]
    aspect_ratios: Sequence[float]
    heads: Mapping[str, HeadTruth] | None
    on_crops: Callable[[int, object], None] | None


def _ids(r: _Ready, config: CompareConfig) -> dict:
    job = r.job
    b = 1 - job.a_slot
    return {"trial": job.trial, "order": job.order, "design": job.design,
            "group_a": job.groups[job.a_slot], "group_b": job.groups[b],
            "image_a": job.images[job.a_slot], "image_b": job.images[b],
            "position_a": position_name(job.a_slot, 2, config.layout.direction)}


def _raise_or_keep(r: _Ready, message: str, config: CompareConfig, who: str) -> None:
    if config.on_model_error == "raise":
        raise ModelError(
            f"trial {r.job.trial} (images {', '.join(r.job.images)}), {who}: {message}; "
            "set compare.on_model_error=record to keep going and record it")


def _multi_rows(ready: Sequence[_Ready], scored: Mapping[int, object], model: SaliencyModel,
                spec: _Croppers, store: ImageStore, config: CompareConfig
                ) -> tuple[list[dict], list[dict]]:
    """Return records rows (croppers with a point) and crop rows (all croppers) of one chunk.

    The batched model's maps serve the fast cropper; every other cropper gets the composite's
    pixels, built once per composite for all of them.
    """
    fast = fast_cropper(spec.croppers, model)
    others = [c for c in spec.croppers if c is not fast]
    ratios = [float(a) for a in spec.aspect_ratios]
    results: dict[str, list] = {}
    ok = [r for r in ready if r.error is None]
    if others and ok:
        pixels = [r.pixels if r.pixels is not None else
                  prepare_job(r.job, store, config, box=model.box, keep_pixels=True).pixels
                  for r in ok]
        for c in others:
            results[c.name] = dict(zip((id(r) for r in ok), c.crop_many(pixels, ratios),
                                       strict=True))
    rows, crops = [], []
    for r in ready:
        ids = _ids(r, config)
        heads = slot_heads(r.job.images, r.boxes, spec.heads) if r.error is None else []
        if fast is not None:
            result = scored.get(id(r), r.error)
            if isinstance(result, str):
                _raise_or_keep(r, result, config, fast.name)
                rows.append(_pair_row(r, None, model.name, config, result) | {
                    "cropper": fast.name})
                crops += crop_rows(ids, r.job.a_slot, r.boxes, result, cropper=fast.name,
                                   aspect_ratios=ratios, heads=heads)
            else:
                rows.append(_pair_row(r, result, model.name, config, None) | {
                    "cropper": fast.name})
                prep = r.prepared or prepare_array(r.pixels, box=model.box)
                boxes = fast.crops_from_map(result, symmetric=is_symmetric(prep.pixels),
                                            aspect_ratios=ratios).boxes
                crops += crop_rows(ids, r.job.a_slot, r.boxes, boxes, cropper=fast.name,
                                   aspect_ratios=ratios, heads=heads)
        for c in others:
            result = results.get(c.name, {}).get(id(r), r.error)
            if isinstance(result, str):
                _raise_or_keep(r, result, config, c.name)
            failed = isinstance(result, str)
            if has_point(c) or (not failed and result.point is not None):
                rows.append(_point_row(r, None if failed else result, c.name, config,
                                       result if failed else None) | {"cropper": c.name})
            crops += crop_rows(ids, r.job.a_slot, r.boxes,
                               result if isinstance(result, str) else result.boxes,
                               cropper=c.name, aspect_ratios=ratios, heads=heads)
    return rows, crops


def _chunks(jobs: Sequence[Job], size: int) -> Iterable[Sequence[Job]]:
    for start in range(0, len(jobs), size):
        yield jobs[start:start + size]


def run_jobs(
    jobs: Sequence[Job],
    *,
    store: ImageStore,
    model: SaliencyModel,
    config: CompareConfig,
    on_chunk: Callable[[int, object], None] | None = None,
    skip_chunks: set[int] | frozenset[int] = frozenset(),
    progress: bool = True,
    croppers: Sequence[object] | None = None,
    aspect_ratios: Sequence[float] = (),
    heads: Mapping[str, HeadTruth] | None = None,
    on_crops: Callable[[int, object], None] | None = None,
) -> list:
    """Run jobs chunk by chunk and return one records table per chunk.

    Parameters
    ----------
    jobs : sequence of Job
        All planned jobs of one kind (pairwise-type or k-way), in trial order.
    store : ImageStore
        Source images.
    model : SaliencyModel
        The saliency model.
    config : CompareConfig
        Layout, JPEG round trip, policy parameters, ``chunk_size``, ``workers``,
        ``on_model_error``.
    on_chunk : callable, optional
        Called with ``(chunk_index, records_frame)`` after each chunk (checkpointing).
    skip_chunks : set of int
        Chunk indices already done (from checkpoints); they are not recomputed.
    progress : bool
        Show a tqdm bar over composites.
    croppers : sequence of audit.cropper.base.Cropper, optional
        Several croppers on the same composites (pairwise-type jobs). The one whose
        ``model`` is ``model`` is scored by the batched path; the others get each
        composite's pixels. ``None`` keeps the single-model records of earlier versions.
    aspect_ratios : sequence of float
        Crop ratios of ``records_crops`` (``crop.aspect_ratios``).
    heads : mapping of str to HeadTruth, optional
        Known head boxes per image id (synthetic data); see :mod:`audit.compare.crop_outcomes`.
    on_crops : callable, optional
        Called with ``(chunk_index, records_crops_frame)`` before ``on_chunk``, so a chunk
        with records always has its crop records too.

    Returns
    -------
    list of pandas.DataFrame
        Records of the chunks computed in this call.
    """
    kway = bool(jobs) and jobs[0].design in KWAY_DESIGNS
    make_row = _kway_row if kway else _pair_row
    multi = None if kway or croppers is None else _Croppers(croppers, aspect_ratios, heads,
                                                            on_crops)
    use_model = multi is None or fast_cropper(croppers, model) is not None
    keep = not getattr(model, "accepts_prepared", True) or not use_model
    chunks = [(i, c) for i, c in enumerate(_chunks(jobs, config.chunk_size))
              if i not in skip_chunks]
    total = sum(len(c) for _, c in chunks)
    frames = []
    pool = None
    threads = torch.get_num_threads()
    if config.workers > 0:
        pool = ProcessPoolExecutor(
            max_workers=config.workers, initializer=_init_worker,
            initargs=(store.paths, config, model.box, keep, store.max_pixels,
                      store.sha256s))
        if model.device.type == "cpu":
            torch.set_num_threads(torch_threads_for(config.workers))
    # Chunks prepared ahead in the pool while the model scores the current one.
    pending: list[list[Future]] = []
    ahead = 2
    try:
        bar = tqdm(total=total, desc="composites", unit="img", disable=not progress)
        if pool is not None:
            pending = [_submit(pool, c, config.workers) for _, c in chunks[:ahead]]
        for n, (index, chunk) in enumerate(chunks):
            if pool is not None:
                futures = pending.pop(0)
                if n + ahead < len(chunks):
                    pending.append(_submit(pool, chunks[n + ahead][1], config.workers))
                ready = [r for f in futures for r in f.result()]
            else:
                ready = [prepare_job(j, store, config, box=model.box, keep_pixels=keep)
                         for j in chunk]
            ok = [r for r in ready if r.error is None] if use_model else []
            scored = dict(zip((id(r) for r in ok), _score(model, ok) if ok else [], strict=True))
            rows = []
            if multi is not None:
                rows, crops = _multi_rows(ready, scored, model, multi, store, config)
                if multi.on_crops is not None:
                    multi.on_crops(index, to_crop_frame(crops))
            for r in ready if multi is None else ():
                result = scored.get(id(r), r.error)
                if isinstance(result, str):
                    if config.on_model_error == "raise":
                        raise ModelError(
                            f"trial {r.job.trial} (images {', '.join(r.job.images)}): {result}; "
                            "set compare.on_model_error=record to keep going and record it")
                    rows.append(make_row(r, None, model.name, config, result))
                else:
                    rows.append(make_row(r, result, model.name, config, None))
            frame = to_frame(rows, kway=kway)
            if on_chunk is not None:
                on_chunk(index, frame)
            frames.append(frame)
            bar.update(len(chunk))
        bar.close()
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
            torch.set_num_threads(threads)
    return frames
