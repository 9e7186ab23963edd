"""The tail of a run: statistics and figures per design, then every file of the run folder.

:func:`analyse` turns a design's records (or per-image scores) into tidy tables and figures;
:func:`finish_run` writes records, tables, figures, the composed config, the manifest and the
report through :mod:`audit.io`. Both work on plain values and need no Hydra.
"""

from __future__ import annotations

import dataclasses
import logging
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from audit.analysis.aggregates import compute_aggregates
from audit.analysis.bradley_terry import fit_bradley_terry, fit_image_random_effects
from audit.analysis.caveats import statistics_caveats
from audit.analysis.covariates import build_covariate_table
from audit.analysis.kway import compute_kway_shares
from audit.analysis.policies import compute_policy_rates
from audit.analysis.position import compute_position_baseline, compute_position_effect
from audit.analysis.power import power_table
from audit.analysis.regression import fit_saliency_regression, fit_win_regression
from audit.analysis.saliency_stats import group_summary, prob_table, score_summary
from audit.analysis.win_rates import compute_win_rates, count_outcomes
from audit.compare.single import ImageScore
from audit.config import AuditConfig
from audit.crop.candidate import place_crops
from audit.crop.geometry import Box
from audit.crop.rules import salient_point
from audit.data import PeopleTable
from audit.data.images import load_image, read_image_bytes
from audit.data.table import image_paths
from audit.io import atomic_write_text, write_json, write_table
from audit.plots.style import save_figure

log = logging.getLogger(__name__)

#: Record tables per kind: file stem in the run folder (``.parquet`` and ``.csv``).
RECORD_FILES = {"pairs": "records", "kway": "records_kway", "images": "images",
                "crops": "records_crops", "robustness": "records_robustness"}


#: Long per-pair tables kept out of the report (their summaries are in it); see tables/.
DETAIL_TABLES = ("cropper_win_rates", "cropper_outcomes", "cropper_paired", "robustness_flips")


@dataclasses.dataclass
class Analysis:
    """Tables, figures and notes produced by :func:`analyse` (figures not yet saved)."""

    tables: dict[str, pd.DataFrame] = dataclasses.field(default_factory=dict)
    figures: dict[str, Figure] = dataclasses.field(default_factory=dict)
    notes: list[str] = dataclasses.field(default_factory=list)


def _hashes(table: pd.DataFrame) -> dict[str, str]:
    """Image id to the SHA-256 the people table recorded (empty without that column)."""
    if "sha256" not in table:
        return {}
    return dict(zip(table["id"].astype(str), table["sha256"].astype(str), strict=True))


def _image_covariates(ids: list[str], table: pd.DataFrame, *, max_pixels: int | None
                      ) -> pd.DataFrame:
    """Per-image covariates of the images that took part, read once each."""
    paths, shas = image_paths(table), _hashes(table)

    def items():
        for image_id in ids:
            try:
                # verified: covariates of other bytes than were scored would be wrong silently
                data = read_image_bytes(paths[image_id], shas.get(image_id))
                yield image_id, load_image(data, max_pixels=max_pixels), None
            except (ValueError, OSError) as exc:
                log.warning("no covariates for %s: %s", image_id, exc)

    return build_covariate_table(items())


def _try(notes: list[str], what: str, fn, *args, **kwargs):
    """Run an optional model fit; failures and numerical warnings become report notes.

    Small or separated samples make logistic fits overflow or fail to converge; that must not
    crash a run, but the reader has to be told the estimates are unreliable.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            value = fn(*args, **kwargs)
        except (ValueError, np.linalg.LinAlgError, ZeroDivisionError) as exc:
            log.warning("%s skipped: %s", what, exc)
            notes.append(f"{what} skipped: {exc}")
            return None
    messages = sorted({str(w.message).splitlines()[0] for w in caught})
    if messages:
        notes.append(f"{what}: numerical warnings ({'; '.join(messages)[:300]}); estimates may "
                     "be unreliable (too few trials or perfect separation)")
    return value


def _analyse_pairs(settings: AuditConfig, records: pd.DataFrame, groups: pd.DataFrame,
                   table: pd.DataFrame, out: Analysis, *, prefix: str = "") -> None:
    """Win rates, aggregates, position effect, policies, regression and power."""
    a = settings.analysis
    order = list(groups["group"])
    stats = {"alpha": a.alpha, "ci_method": a.ci_method, "correction": a.correction}
    image_aware = {"inference": a.inference, "margin": a.margin, "n_boot": a.n_boot,
                   "seed": settings.seed}
    pairs = records[records["design"] != "baseline"]
    baseline = records[records["design"] == "baseline"]
    out.tables[f"{prefix}outcomes"] = count_outcomes(records, group_order=order)
    win_rates = compute_win_rates(pairs, group_order=order, **stats, **image_aware)
    out.tables[f"{prefix}win_rates"] = win_rates
    aggregates = None
    factors = [c for c in groups.columns if c not in ("group", "n_images")]
    if len(factors) > 1 and not win_rates.empty:
        # with one factor every pair already is an aggregate of itself
        methods = ["all_pairs", "paper"] if a.paper_aggregates else ["all_pairs"]
        aggregates = pd.concat([compute_aggregates(win_rates, groups, method=m, records=pairs,
                                                   group_order=order, **stats, **image_aware)
                                for m in methods], ignore_index=True)
        out.tables[f"{prefix}aggregates"] = aggregates
    if a.paper_aggregates and len(factors) == 2 and not win_rates.empty:
        _paper_view(settings, win_rates, out, prefix=prefix)
    if a.paper_aggregates and "outcome_study" in pairs and not win_rates.empty:
        from audit.analysis.study_rules import study_vs_cropaudit

        # the study's column rule beside cropaudit's box rule, same statistics on both
        out.tables[f"{prefix}study_vs_cropaudit"] = study_vs_cropaudit(
            pairs, group_order=order, **stats)
    position = []
    if a.position_baseline and not baseline.empty:
        position.append(compute_position_baseline(baseline, alpha=a.alpha,
                                                  ci_method=a.ci_method,
                                                  inference=a.inference, margin=a.margin))
    if settings.compare.counterbalance and not pairs.empty:
        position.append(compute_position_effect(pairs, alpha=a.alpha, ci_method=a.ci_method,
                                                inference=a.inference, margin=a.margin))
    if position:
        out.tables[f"{prefix}position"] = pd.concat(position, ignore_index=True)
    # records made elsewhere (audit.analyse --records) may lack the soft-policy columns
    if not pairs.empty and {"p_a_sample", "p_a_topk", "mass_a", "mass_b"} <= set(pairs.columns):
        out.tables[f"{prefix}policies"] = compute_policy_rates(pairs, group_order=order)
    n_pairs = max(len(win_rates), 1)
    out.tables[f"{prefix}power"] = power_table(a.power_deltas, k=n_pairs, alpha=a.alpha,
                                               power=a.power, win_rates=win_rates)
    if a.bradley_terry and not pairs.empty:
        _bradley_terry(records, order, groups, win_rates, out, alpha=a.alpha, prefix=prefix)
        if a.bt_random_effects:
            re_table = _try(out.notes, "image random-effect check", fit_image_random_effects,
                            records, group_order=order, alpha=a.alpha, seed=settings.seed)
            if re_table is not None:
                out.tables[f"{prefix}bradley_terry_random_effects"] = re_table
    if a.regression and not pairs.empty:
        coef = _try(out.notes, "win regression (total effect)", fit_win_regression, pairs,
                    groups=groups, cluster=a.cluster, alpha=a.alpha)
        if coef is not None:
            out.tables[f"{prefix}regression"] = coef
        covariates = _covariates_for(pairs, table, settings, out, prefix=prefix)
        if a.mechanism and covariates is not None and not covariates.empty:
            mech = _try(out.notes, "win regression (mechanism)", fit_win_regression, pairs,
                        groups=groups, covariates=covariates, cluster=a.cluster, alpha=a.alpha)
            if mech is not None:
                out.tables[f"{prefix}regression_mechanism"] = mech

    from audit.plots.pairwise import panel_table, plot_pairwise
    from audit.plots.policies import plot_policies
    from audit.plots.regression import plot_coefficients

    ctx = settings.plots.context
    if not win_rates.empty:
        out.figures[f"{prefix}win_rates"] = plot_pairwise(
            panel_table(win_rates, groups, aggregates), title=settings.name, context=ctx)
    if f"{prefix}policies" in out.tables and not out.tables[f"{prefix}policies"].empty:
        out.figures[f"{prefix}policies"] = plot_policies(out.tables[f"{prefix}policies"],
                                                         context=ctx)
    if f"{prefix}regression" in out.tables:
        out.figures[f"{prefix}coefficients"] = plot_coefficients(
            out.tables[f"{prefix}regression"], context=ctx)


def _covariates_for(pairs: pd.DataFrame, table: pd.DataFrame | pd.DataFrame | None,
                    settings: AuditConfig, out: Analysis, *, prefix: str = ""
                    ) -> pd.DataFrame | None:
    """Per-image covariates (``id`` column): given (re-analysis) or read from the run's images."""
    given = out.tables.get(f"{prefix}image_covariates")
    if given is not None:
        if "id" not in given.columns:  # written before the table kept its ids
            out.notes.append("mechanism regression skipped: tables/image_covariates has no id "
                             "column (run made by an older cropaudit)")
            return None
        return given
    if table is None:
        return None
    used = sorted(set(pairs["image_a"]) | set(pairs["image_b"]))
    covariates = _image_covariates(used, table, max_pixels=settings.data.download.max_pixels)
    covariates = covariates.rename_axis("id").reset_index()
    out.tables[f"{prefix}image_covariates"] = covariates
    return covariates


def _bradley_terry(records: pd.DataFrame, order: list[str], groups: pd.DataFrame,
                   win_rates: pd.DataFrame, out: Analysis, *, alpha: float,
                   prefix: str = "") -> None:
    """Group-level Bradley-Terry tables (parameters, predictions for every pair, fit)."""
    deff = float(np.nanmean(win_rates["deff"])) if len(win_rates) else None
    bt = _try(out.notes, "Bradley-Terry model", fit_bradley_terry, records, group_order=order,
              groups=groups, alpha=alpha, deff=deff)
    if bt is None:
        return
    out.tables[f"{prefix}bradley_terry"] = bt.parameters
    out.tables[f"{prefix}bradley_terry_predictions"] = bt.predictions
    out.tables[f"{prefix}bradley_terry_fit"] = bt.fit


def _paper_view(settings: AuditConfig, win_rates: pd.DataFrame, out: Analysis, *,
                prefix: str = "") -> None:
    """Add the published figure's table and chart (p, Δ, 2·SE, the study's aggregates).

    In a counterbalanced run the study's ``p_left`` is the first-named group's share over
    both orders, so the numbers are position-free versions of the published ones.
    """
    from audit.analysis.counts import paper_table
    from audit.plots.pairwise import plot_pairwise

    a = settings.analysis
    counts = win_rates[["group_a", "group_b", "wins_a", "n"]].assign(
        setting=settings.name, num_iterations=settings.compare.n_trials, n_groups=2)
    table = paper_table(counts, setting=settings.name, num_iterations=settings.compare.n_trials,
                        alpha=a.alpha, ci_method=a.ci_method, correction=a.correction)
    out.tables[f"{prefix}paper_table"] = table
    published = table[table["aggregate_method"].isna() | (table["aggregate_method"] == "paper")]
    out.figures[f"{prefix}paper_pairwise"] = plot_pairwise(
        published, interval=("wald_low", "wald_high"),
        title=f"{settings.name}: the study's layout and p ± 2·SE", context=settings.plots.context)


def _analyse_kway(settings: AuditConfig, records: pd.DataFrame, out: Analysis,
                  *, prefix: str = "") -> None:
    from audit.plots.kway import plot_kway_shares

    a = settings.analysis
    shares = compute_kway_shares(records, alpha=a.alpha, ci_method=a.ci_method,
                                 correction=a.correction, margin=a.margin,
                                 inference=a.inference, n_boot=a.n_boot, seed=settings.seed)
    out.tables[f"{prefix}kway_shares"] = shares
    if a.paper_aggregates and "outcome_study" in records and not shares.empty:
        from audit.analysis.study_rules import study_vs_cropaudit_kway

        out.tables[f"{prefix}study_vs_cropaudit"] = study_vs_cropaudit_kway(
            records, alpha=a.alpha, ci_method=a.ci_method, correction=a.correction)
    out.tables[f"{prefix}kway_outcomes"] = (records["outcome"].value_counts()
                                            .rename_axis("outcome").reset_index(name="n"))
    if not shares.empty:
        out.figures[f"{prefix}kway_shares"] = plot_kway_shares(shares,
                                                               context=settings.plots.context)


def per_image_table(table: pd.DataFrame, scores: dict[str, ImageScore | str]) -> pd.DataFrame:
    """One row per image: size, score summary, salient point, symmetry, or the error."""
    rows = []
    for rec in table.itertuples(index=False):
        result = scores.get(str(rec.id))
        row: dict[str, Any] = {"id": str(rec.id), "group": rec.group, "error": None}
        if isinstance(result, ImageScore):
            point = salient_point(result.smap)
            w, h = result.smap.image_size
            row.update(width=w, height=h, **score_summary(result.smap.scores),
                       point_x=float(point.x), point_y=float(point.y),
                       symmetric=result.symmetric)
        else:
            row["error"] = result or "not scored"
        rows.append(row)
    columns = ["id", "group", "width", "height", "score_p50", "score_p95", "score_max",
               "score_mean", "point_x", "point_y", "symmetric", "error"]
    return pd.DataFrame(rows).reindex(columns=columns)


def _analyse_saliency(settings: AuditConfig, context: dict, out: Analysis) -> pd.DataFrame:
    from audit.plots.saliency import plot_score_distributions

    a = settings.analysis
    images = per_image_table(context["table"], context["scores"])
    ok = images[images["error"].isna()]
    for value in ("score_max", "score_p95"):
        out.tables[f"prob_{value}"] = prob_table(ok, value=value)
    out.tables["score_summary"] = group_summary(
        ok, ["score_p50", "score_p95", "score_max", "score_mean"])
    if a.regression and len(ok) > 3:
        covariates = _image_covariates(list(ok["id"]), context["table"],
                                       max_pixels=settings.data.download.max_pixels)
        out.tables["image_covariates"] = covariates
        coef = _try(out.notes, "saliency regression", fit_saliency_regression, ok,
                    groups=context["groups"], covariates=covariates, alpha=a.alpha)
        if coef is not None:
            out.tables["saliency_regression"] = coef
    if not ok.empty:
        out.figures["score_distributions"] = plot_score_distributions(
            ok, score="score_max", context=settings.plots.context)
    return images


def _true_heads(table: pd.DataFrame) -> dict[str, Box]:
    """Head boxes the synthetic generator drew (its head ellipse), keyed by image id."""
    cols = ("head_x", "head_y", "head_rx", "head_ry")
    if not set(cols) <= set(table.columns):
        return {}
    out = {}
    for rec in table[["id", *cols]].itertuples(index=False):
        x, y, rx, ry = (float(v) for v in rec[1:])
        out[str(rec.id)] = Box(int(x - rx), int(y - ry), int(round(2 * rx)), int(round(2 * ry)))
    return out


def _analyse_gaze(settings: AuditConfig, context: dict, out: Analysis,
                  review_dir: Path) -> pd.DataFrame:
    """Run the male-gaze selection, head check per aspect ratio, review page, review merge."""
    from audit.gaze.faces import head_box, make_detector, primary_face
    from audit.gaze.head import gaze_outcomes, summarize_gaze
    from audit.gaze.regions import select_male_gaze_images
    from audit.gaze.review import (
        ReviewItem,
        merge_review,
        read_review_csv,
        render_review_page,
        review_agreement,
    )
    from audit.gaze.source import choose_head_source, detector_recall, face_found
    from audit.plots.gaze import plot_gaze_shares

    g, table, scores = settings.gaze, context["table"], context["scores"]
    maps = {i: s.smap for i, s in scores.items() if isinstance(s, ImageScore)}
    usable = table[table["id"].astype(str).isin(maps)].copy()
    usable["path"] = usable["image_path"]
    selection = select_male_gaze_images(
        usable, maps, min_aspect=g.min_aspect, min_regions=g.min_regions, min_area=g.min_area,
        n_per_group=g.n_per_group, jpeg_only=g.jpeg_only, seed=g.seed)
    out.tables["gaze_selection"] = selection
    detector = make_detector(g.detector, scale_factor=g.scale_factor,
                             min_neighbors=g.min_neighbors, min_face_frac=g.min_face_frac,
                             upsample=g.upsample)
    paths, shas = image_paths(table), _hashes(table)
    ratios = settings.crop.aspect_ratios
    truths = _true_heads(table)
    picked = selection.loc[selection["selected"], "id"].astype(str)
    source, why = choose_head_source(
        g.head_source, has_truth=bool(len(picked)) and picked.isin(truths).all(),
        has_review=bool(g.review_csv), detector=g.detector)
    out.notes.append(f"male_gaze: {why}")
    rows, items = [], []
    for rec in selection[selection["selected"]].itertuples(index=False):
        score = scores[rec.id]
        # the bytes that were scored, or a one-line ImageChangedError naming both hashes
        rgb = load_image(read_image_bytes(paths[rec.id], shas.get(rec.id)),
                         max_pixels=settings.data.download.max_pixels)
        face = primary_face(detector.detect(rgb))
        head = None if face is None else head_box(
            face, score.smap.image_size, head_width_factor=g.head_width_factor,
            head_height_factor=g.head_height_factor, head_shift_up=g.head_shift_up)
        point, crops = place_crops(score.smap, symmetric=score.symmetric, aspect_ratios=ratios)
        crop_map = dict(crops)
        row = {"id": rec.id, "group": rec.group, "point_x": point.x, "point_y": point.y,
               "head_box": None if head is None else [head.left, head.top, head.width,
                                                      head.height],
               **gaze_outcomes(point, crop_map, head)}
        truth = truths.get(rec.id)
        if truth is not None:
            # generated portraits know their head: a check of the detector, not only of the model
            row["true_point_on_head"] = truth.contains(point.x, point.y)
            row["true_face_found"] = face_found(face, truth)
            row.update({f"true_{k}": v for k, v in gaze_outcomes(point, crop_map, truth).items()
                        if k != "has_face"})
        rows.append(row)
        items.append(ReviewItem(id=rec.id, rgb=rgb, scores=score.smap.scores, point=point,
                                crops=crop_map, head_box=head, group=rec.group))
    per_image = pd.DataFrame(rows)
    if per_image.empty:
        out.notes.append("male_gaze: no image passed the selection; nothing to summarise")
        return per_image
    basis = per_image  # the rows and columns that judge "on the head" for the shares
    if source == "truth":
        truth_cols = [c for c in per_image.columns if c.startswith("true_")
                      and c != "true_face_found"]
        basis = per_image[["id", "group", *truth_cols]].rename(
            columns={c: c.removeprefix("true_") for c in truth_cols})
    elif source == "review":
        human = merge_review(per_image, read_review_csv(g.review_csv))
        basis = human[["id", "group"]].assign(point_on_head=human["human_on_head"])
    summary = summarize_gaze(basis, group="group", alpha=settings.analysis.alpha)
    out.tables["gaze_shares"] = summary.assign(head_source=source)
    if "true_face_found" in per_image:
        by = ["group"] + [c for c in ("tone_band", "skin_tone") if c in table.columns]
        tagged = per_image.assign(id=per_image["id"].astype(str)).merge(
            table[["id", *by[1:]]].astype({"id": str}), on="id", how="left")
        out.tables["gaze_detector_recall"] = detector_recall(
            tagged, by, alpha=settings.analysis.alpha).assign(detector=g.detector)
    else:
        out.notes.append(f"male_gaze: no generator truth, so the {g.detector} detector's recall "
                         "per group is unknown here; bench/README.md has it per skin tone")
    out.figures["gaze_shares"] = plot_gaze_shares(summary, context=settings.plots.context)
    title = f"{settings.name}: is the point on the head?"
    atomic_write_text(review_dir / "index.html", render_review_page(items, title=title))
    out.notes.append(
        "review/index.html lets people mark each salient point on head / not on head; pass "
        "its exported CSV as gaze.review_csv=PATH to merge the labels into the next run")
    if "true_point_on_head" in per_image:
        judged = per_image[per_image["point_on_head"].notna()]
        out.tables["gaze_detector_vs_truth"] = pd.DataFrame([{
            "n": len(per_image), "n_face_found": len(judged),
            "share_true_point_on_head": float(per_image["true_point_on_head"].mean()),
            "agreement": float((judged["point_on_head"].astype(bool)
                                == judged["true_point_on_head"]).mean()) if len(judged) else None,
        }])
    if g.review_csv:
        merged = merge_review(per_image, read_review_csv(g.review_csv))
        out.tables["gaze_review"] = merged
        agreement = review_agreement(merged)
        out.tables["gaze_review_agreement"] = pd.DataFrame([agreement])
    return per_image


def analyse(settings: AuditConfig, result: Any, context: dict, *, people: PeopleTable | None,
            model_info: dict[str, Any]) -> Analysis:
    """Compute the statistics and figures of one run into ``result`` (nothing written here)."""
    design = settings.compare.design
    out = Analysis()
    groups = result.tables.get("groups")
    context["groups"] = groups
    if design in ("pairwise", "counterfactual"):
        from audit.analysis.croppers import primary_records

        pairs, note = primary_records(result.records["pairs"], settings.compare.croppers)
        out.notes += [note] if note else []
        if pairs.empty and not result.records.get("crops", pd.DataFrame()).empty:
            out.notes.append("no cropper of this run has a focus point, so there is no argmax "
                             "outcome; the cropper_* tables judge the crops")
        else:
            _analyse_pairs(settings, pairs, groups, context["table"], out)
        if design == "counterfactual":
            _analyse_kway(settings, result.records["kway"], out)
        if "crops" in result.records and not result.records["crops"].empty:
            _analyse_croppers(settings, result.records, groups, out)
        if "robustness" in result.records:
            _analyse_robustness(settings, result.records["robustness"], groups, out)
    elif design == "all_groups":
        _analyse_kway(settings, result.records["kway"], out)
    elif design == "saliency_stats":
        result.records["images"] = _analyse_saliency(settings, context, out)
    elif design == "male_gaze":
        images = per_image_table(context["table"], context["scores"])
        gaze = _analyse_gaze(settings, context, out, result.output_dir / "review")
        if not gaze.empty:
            images = images.merge(gaze.drop(columns=["group", "point_x", "point_y"]),
                                  on="id", how="left")
        result.records["images"] = images
    elif design == "paper_counts":
        _analyse_counts(settings, out)
    result.tables.update(out.tables)
    result.caveats.extend(_caveats(settings, result, people, model_info))
    result.analysis = out
    return out


def _analyse_croppers(settings: AuditConfig, records: dict[str, pd.DataFrame],
                      groups: pd.DataFrame, out: Analysis) -> None:
    """Crop outcomes of every cropper on the same composites (``cropper_*`` tables, figure)."""
    import inspect

    from audit.analysis import croppers as cr
    from audit.plots.croppers import plot_cropper_disparity

    a, order = settings.analysis, list(groups["group"])
    crops, pairs = records["crops"], records["pairs"]
    # every analysis.* key that compute_win_rates takes (inference, margin, ... as they come)
    accepted = inspect.signature(compute_win_rates).parameters
    stats = {k: v for k, v in dataclasses.asdict(a).items()
             if k in accepted and k not in ("records", "group_order")}
    if "seed" in accepted:  # the bootstrap's seed is the run's, as for win_rates
        stats["seed"] = settings.seed
    out.tables["cropper_outcomes"] = cr.crop_outcome_shares(crops, group_order=order)
    rates = _try(out.notes, "cropper win rates", cr.cropper_win_rates, pairs, crops,
                 group_order=order, **stats)
    if rates is None:
        return
    out.tables["cropper_win_rates"] = rates
    out.tables["cropper_paired"] = cr.paired_cropper_differences(
        crops, group_order=order, alpha=a.alpha, correction=a.correction,
        inference=a.inference, margin=a.margin, n_boot=a.n_boot, seed=settings.seed)
    out.tables["cropper_summary"] = cr.cropper_summary(
        rates, out.tables["cropper_outcomes"], cr.undecided_measures(pairs, crops, rates))
    out.notes.append("which cropper treats the groups most evenly: tables/cropper_summary; per "
                     "pair: tables/cropper_win_rates, cropper_outcomes, cropper_paired")
    out.figures["cropper_disparity"] = plot_cropper_disparity(
        rates, title=f"{settings.name}: disparity per cropper and aspect ratio",
        context=settings.plots.context)


def _analyse_robustness(settings: AuditConfig, long: pd.DataFrame, groups: pd.DataFrame,
                        out: Analysis) -> None:
    """Share of composites whose outcome flips under each layout variant (table, figure)."""
    from audit.analysis.robustness import flip_rates
    from audit.plots.robustness import plot_flip_rates

    a = settings.analysis
    flips = flip_rates(long, group_order=list(groups["group"]), alpha=a.alpha,
                       inference=a.inference, margin=a.margin, correction=a.correction,
                       n_boot=a.n_boot, seed=settings.seed)
    out.tables["robustness_flips"] = flips
    pooled = flips[flips["group_a"] == "all"]
    out.tables["robustness_summary"] = pooled[
        ["cropper", "measure", "aspect_ratio", "variant", "n", "share_flipped", "ci_low",
         "ci_high", "share_winner_flipped", "verdict"]].reset_index(drop=True)
    if not flips.empty:
        out.figures["robustness_flips"] = plot_flip_rates(
            flips, title=f"{settings.name}: outcomes that flip under small layout changes",
            context=settings.plots.context)


def _analyse_counts(settings: AuditConfig, out: Analysis) -> None:
    from audit.analysis.counts import paper_table, parse_counts_file, resolve_counts_file
    from audit.plots.pairwise import plot_pairwise

    a = settings.analysis
    path = resolve_counts_file(a.counts_file)
    counts = parse_counts_file(path)
    out.tables["counts"] = counts
    table = paper_table(counts, setting=a.counts_setting, num_iterations=a.counts_iterations,
                        alpha=a.alpha, ci_method=a.ci_method, correction=a.correction)
    out.tables["paper_table"] = table
    out.notes.append(f"counts read from {path}")
    published = table[table["aggregate_method"].isna() | (table["aggregate_method"] == "paper")]
    out.figures["paper_pairwise"] = plot_pairwise(
        published, interval=("wald_low", "wald_high"),
        title=f"{a.counts_setting}, n={a.counts_iterations} (study's p ± 2·SE)",
        context=settings.plots.context)
    out.figures["paper_pairwise_wilson"] = plot_pairwise(
        table, title=f"{a.counts_setting}: cropaudit statistics ({a.ci_method})",
        context=settings.plots.context)


def _caveats(settings: AuditConfig, result: Any, people: PeopleTable | None,
             model_info: dict[str, Any]) -> list[str]:
    from audit.report import derive_caveats

    caveats = derive_caveats(
        result.tables.get("win_rates"), result.tables.get("position"),
        outcomes=result.tables.get("outcomes"),
        synthetic=bool(people is not None and people.synthetic), model=model_info,
        groups=result.tables.get("groups"))
    caveats += statistics_caveats(settings.compare.design, result.tables)
    if settings.compare.shard:
        caveats.append(f"this is shard {settings.compare.shard} of a larger run; combine the "
                       "shards with `python -m audit.merge` before reading the statistics")
    return caveats


def _relative(path: Path, base: Path) -> str:
    return path.relative_to(base).as_posix()


def finish_run(settings: AuditConfig, result: Any, *, people: PeopleTable | None,
               config_yaml: str, overrides: list[str], command: str) -> None:
    """Write the run folder: records, tables, figures, config, manifest, report."""
    from audit.report import ReportInput, render_report

    out = result.output_dir
    for kind, frame in result.records.items():
        write_table(out / RECORD_FILES[kind], frame)
    for name, frame in result.tables.items():
        write_table(out / "tables" / name, frame)
    analysis: Analysis = result.analysis
    for name, fig in analysis.figures.items():
        paths = save_figure(fig, out / "figures" / name, formats=settings.plots.formats,
                            dpi=settings.plots.dpi)
        result.figures += [_relative(p, out) for p in paths]
    if people is not None:
        write_table(out / "tables" / "people",
                    people.table.drop(columns=["image_path"], errors="ignore"))
    if config_yaml:
        atomic_write_text(out / "config.yaml", config_yaml)
    manifest = result.manifest
    report_tables = {k: v for k, v in result.tables.items()
                     if k not in ("people", "counts", "image_covariates", "gaze_selection",
                                  *DETAIL_TABLES)}
    attribution = None if people is None else people.attribution
    report = ReportInput(
        name=settings.name, created=manifest["created"], command=command,
        model=manifest["model"], data=_data_facts(people), seed=settings.seed,
        overrides=overrides,
        provenance={"git": manifest["git"], "packages": manifest["packages"],
                    "python": manifest["python"], "platform": manifest["platform"]},
        attribution=attribution, tables=report_tables,
        figures=[f for f in result.figures if f.endswith(".png")],
        caveats=result.caveats, notes=analysis.notes,
        table_files={k: f"tables/{k}.csv" for k in report_tables},
        alpha=settings.analysis.alpha, margin=getattr(settings.analysis, "margin", 0.05))
    md, html = render_report(report)
    atomic_write_text(out / "report.md", md)
    atomic_write_text(out / "report.html", html)
    # The manifest goes last: a folder with one (and no RUNNING marker) is a finished run.
    manifest["files"] = sorted(_relative(p, out) for p in out.rglob("*")
                               if p.is_file() and ".hydra" not in p.parts
                               and p.name != "RUNNING" and not p.name.endswith(".tmp"))
    write_json(out / "manifest.json", manifest)


def _data_facts(people: PeopleTable | None) -> dict[str, Any]:
    if people is None:
        return {"source": "counts file (no images)"}
    facts: dict[str, Any] = {"source": people.source, "synthetic": people.synthetic,
                             "n_images": len(people.table)}
    for key in ("table_sha256", "query_sha256", "table"):
        if key in people.provenance:
            facts[key] = people.provenance[key]
    return facts

