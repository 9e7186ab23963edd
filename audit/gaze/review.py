"""Human review of the male-gaze detector: a static HTML page in, a CSV of judgements back.

:func:`render_review_page` writes one self-contained page (inline CSS and JavaScript, images as
base64 PNG data URIs, no server). Per image it shows the photo with the crops, the detector's
head box and the salient point, a toggleable saliency overlay, and a form asking whether the point
is on the head. An "Export CSV" button downloads ``id,label,reviewer,notes`` through a Blob.
:func:`read_review_csv`, :func:`merge_review` and :func:`review_agreement` bring the judgements
back and measure how well the detector agrees with people (percent agreement, Cohen's kappa).

The page does not show the image's group, so reviewers judge blind to it.
"""

from __future__ import annotations

import base64
import html
import io
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd
from PIL import Image, ImageDraw

from audit.crop.geometry import Box, Point

log = logging.getLogger(__name__)

#: Labels a reviewer can give, as written to the CSV.
LABELS = ("on_head", "not_on_head", "unsure")
#: Columns of the exported CSV, in order.
CSV_COLUMNS = ("id", "label", "reviewer", "notes")
#: Longest side of the embedded photos, to bound the page size.
MAX_SIDE = 512

_LABEL_TEXT = {"on_head": "on head", "not_on_head": "not on head", "unsure": "unsure"}
_MSG_RGB = (
    "review item {id!r}: rgb must be a uint8 (H, W, 3) array, got dtype {dtype} shape {shape}"
)
_MSG_SCORES = "review item {id!r}: scores must be a non-empty 2-D grid, got shape {shape}"
_MSG_CSV_COLUMNS = (
    "review CSV {path} lacks column(s) {missing}; expected header {expected} "
    "(export it again from the review page)"
)
_MSG_CSV_LABEL = (
    "review CSV {path}: unknown label(s) at line(s) {lines}: {labels}; "
    "labels must be one of {allowed}"
)
_MSG_CSV_ID = "review CSV {path}: empty id at line(s) {lines}; every row needs the image id"
_MSG_CSV_DUP = (
    "review CSV {path}: image(s) {ids} judged more than once by the same reviewer; "
    "keep one row per (id, reviewer)"
)
_MSG_MERGE_COL = "per-image gaze table has no column {col!r}; columns are {cols}"
_MSG_MERGE_DUP = "per-image gaze table repeats id(s) {ids}; ids must be unique"
_MSG_MERGE_UNKNOWN = (
    "review has {n} id(s) not in the per-image table, e.g. {ids}; "
    "is the review CSV from another run?"
)


@dataclass(frozen=True)
class ReviewItem:
    """One image to review.

    Attributes
    ----------
    id : str
        Image id (written back in the CSV).
    rgb : ndarray of uint8, shape (H, W, 3)
        The image.
    scores : ndarray, shape (rows, cols)
        Saliency grid, stretched over the image for the overlay.
    point : Point
        Most salient point, image pixels.
    crops : dict
        Aspect ratio → crop box, image pixels.
    head_box : Box or None
        The detector's head box; None when no face was found.
    group : str
        Group label (kept for bookkeeping; not shown on the page).
    """

    id: str
    rgb: npt.NDArray[np.uint8]
    scores: npt.NDArray[np.floating]
    point: Point
    crops: dict[float, Box] = field(default_factory=dict)
    head_box: Box | None = None
    group: str = ""


def _png_data_uri(img: Image.Image) -> str:
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _photo(item: ReviewItem) -> Image.Image:
    """Draw the photo (at most ``MAX_SIDE``) with crops, head box and point."""
    rgb = item.rgb
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(_MSG_RGB.format(id=item.id, dtype=rgb.dtype, shape=rgb.shape))
    h, w = rgb.shape[:2]
    s = min(1.0, MAX_SIDE / max(h, w))
    img = Image.fromarray(rgb)
    if s < 1.0:
        img = img.resize((max(1, round(w * s)), max(1, round(h * s))), Image.Resampling.LANCZOS)
    draw = ImageDraw.Draw(img)
    lw = max(2, round(min(img.size) / 150))

    def rect(b: Box, colour: tuple[int, int, int]) -> None:
        draw.rectangle([b.left * s, b.top * s, b.right * s - 1, b.bottom * s - 1],
                       outline=colour, width=lw)

    for box in item.crops.values():
        rect(box, (255, 221, 0))
    if item.head_box is not None:
        rect(item.head_box, (0, 229, 255))
    if math.isfinite(item.point.x) and math.isfinite(item.point.y):
        r = 3 * lw
        px, py = item.point.x * s, item.point.y * s
        draw.ellipse([px - r, py - r, px + r, py + r], fill=(255, 0, 0), outline=(255, 255, 255),
                     width=max(1, lw // 2))
    return img


def _heat(item: ReviewItem) -> Image.Image:
    """Colour the score grid as a small image (CSS scales it over the photo)."""
    s = np.asarray(item.scores, dtype=np.float64)
    if s.ndim != 2 or s.size == 0:
        raise ValueError(_MSG_SCORES.format(id=item.id, shape=s.shape))
    lo, hi = float(np.nanmin(s)), float(np.nanmax(s))
    norm = (s - lo) / (hi - lo) if hi > lo else np.zeros_like(s)
    # Black -> red -> yellow -> white ramp: readable without a colour-map dependency.
    rgb = np.stack([np.clip(3 * norm, 0, 1), np.clip(3 * norm - 1, 0, 1),
                    np.clip(3 * norm - 2, 0, 1)], axis=-1)
    return Image.fromarray(np.round(rgb * 255).astype(np.uint8))


_CSS = """
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222;background:#fafafa}
header{position:sticky;top:0;background:#fafafa;padding:.5em 0;border-bottom:1px solid #ccc;
z-index:2}
.item{display:flex;flex-wrap:wrap;gap:1.5em;align-items:flex-start;margin:1.5em 0;padding:1em;
background:#fff;border:1px solid #ddd;border-radius:6px}
.stack{position:relative;display:inline-block;line-height:0}
.stack img.photo{max-width:min(512px,calc(100vw - 5em));max-height:512px;height:auto}
.stack img.heat{position:absolute;left:0;top:0;width:100%;height:100%;opacity:0;
image-rendering:pixelated;pointer-events:none}
.item.show-heat img.heat{opacity:.5}
.legend{font-size:.85em;color:#555}
.sw{display:inline-block;width:.9em;height:.9em;vertical-align:middle;margin-right:.2em}
form.review fieldset{border:1px solid #ccc}
form.review textarea{width:min(18em,calc(100vw - 5em));height:4em}
code{background:#eee;padding:0 .2em}
"""

_JS = r"""
"use strict";
// Pure helpers first, so they can be checked outside a browser.
function csvCell(value) {
  const s = String(value === undefined || value === null ? "" : value);
  return /[",\r\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
}
function buildCsv(records) {
  const lines = ["id,label,reviewer,notes"];
  for (const r of records) {
    lines.push([r.id, r.label, r.reviewer, r.notes].map(csvCell).join(","));
  }
  return lines.join("\r\n") + "\r\n";
}
if (typeof document !== "undefined") {
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("input.toggle-heat").forEach(function (box) {
      box.addEventListener("change", function () {
        box.closest(".item").classList.toggle("show-heat", box.checked);
      });
    });
    document.getElementById("export").addEventListener("click", function () {
      const reviewer = document.getElementById("reviewer").value.trim();
      if (!reviewer) { alert("Please enter your name or initials first."); return; }
      const records = [];
      let open = 0;
      document.querySelectorAll("form.review").forEach(function (form) {
        const checked = form.querySelector("input[type=radio]:checked");
        if (!checked) { open += 1; return; }
        records.push({id: form.dataset.id, label: checked.value, reviewer: reviewer,
                      notes: form.querySelector("textarea").value});
      });
      const blob = new Blob([buildCsv(records)], {type: "text/csv;charset=utf-8"});
      const a = document.createElement("a");
      a.href = URL.createObjectURL(blob);
      a.download = "gaze_review_" + reviewer.replace(/[^A-Za-z0-9_-]/g, "_") + ".csv";
      document.body.appendChild(a);
      a.click();
      a.remove();
      document.getElementById("status").textContent =
        "Exported " + records.length + " judgement(s); " + open + " image(s) not judged yet.";
    });
  });
}
"""


def _item_html(index: int, item: ReviewItem) -> str:
    e = html.escape
    photo = _png_data_uri(_photo(item))
    heat = _png_data_uri(_heat(item))
    crops = ", ".join(f"{ar:g}" for ar in item.crops) or "none"
    face = "head box shown" if item.head_box is not None else "no face found by the detector"
    radios = "".join(
        f'<label><input type="radio" name="label-{index}" value="{lab}"> '
        f"{e(_LABEL_TEXT[lab])}</label><br>"
        for lab in LABELS
    )
    return (
        f'<section class="item" id="item-{index}">'
        f'<div><div class="stack"><img class="photo" alt="image {e(item.id)}" src="{photo}">'
        f'<img class="heat" alt="" src="{heat}"></div>'
        f'<p class="legend"><span class="sw" style="background:#f00"></span>salient point '
        f'<span class="sw" style="background:#00e5ff"></span>head box '
        f'<span class="sw" style="background:#ffdd00"></span>crops ({e(crops)})<br>'
        f'<label><input type="checkbox" class="toggle-heat"> show saliency map</label></p></div>'
        f'<form class="review" data-id="{e(item.id)}" onsubmit="return false">'
        f"<p><b>{index + 1}.</b> <code>{e(item.id)}</code> — {e(face)}</p>"
        f"<fieldset><legend>Is the red point on the person's head?</legend>{radios}</fieldset>"
        f'<p><label>Notes<br><textarea name="notes-{index}"></textarea></label></p>'
        "</form></section>"
    )


def render_review_page(items: Sequence[ReviewItem], *, title: str = "Male-gaze review") -> str:
    """Render a standalone HTML page for judging whether each salient point is on the head.

    Parameters
    ----------
    items : sequence of ReviewItem
        Images to review, shown in this order.
    title : str
        Page title.

    Returns
    -------
    str
        The page; write it with ``Path(...).write_text(page, encoding="utf-8")``. Embedded
        photos are at most ``MAX_SIDE`` px, so expect roughly 100-400 kB per item.
    """
    e = html.escape
    body = "".join(_item_html(i, it) for i, it in enumerate(items))
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="en"><head><meta charset="utf-8"><title>{e(title)}</title>'
        f"<style>{_CSS}</style></head><body>"
        f"<header><h1>{e(title)}</h1>"
        f"<p>{len(items)} image(s). For each, decide whether the <b>red point</b> (the model's "
        "most salient point) lies on the person's head (face, hair, ears, neck above the collar). "
        "The cyan box is an automatic guess of the head; judge the photo, not the box.</p>"
        '<p><label>Reviewer <input id="reviewer" type="text" autocomplete="off"></label> '
        '<button type="button" id="export">Export CSV</button> <span id="status"></span></p>'
        "</header>"
        f"<main>{body}</main>"
        f"<script>{_JS}</script></body></html>\n"
    )


def _lines(mask: pd.Series) -> str:
    # Header is line 1, so data row i (0-based) is on line i + 2.
    idx = [int(i) + 2 for i in np.flatnonzero(mask.to_numpy())]
    return ", ".join(map(str, idx[:10])) + (" ..." if len(idx) > 10 else "")


def read_review_csv(path: str | Path) -> pd.DataFrame:
    """Read and validate a CSV exported by the review page.

    Parameters
    ----------
    path : str or Path
        The CSV (``id,label,reviewer,notes``; further columns are ignored).

    Returns
    -------
    DataFrame
        Columns ``id, label, reviewer, notes`` as strings (missing notes become ``""``).

    Raises
    ------
    ValueError
        On missing columns, empty ids, unknown labels, or an id judged twice by one reviewer;
        the message names the file and lines.
    """
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in CSV_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(_MSG_CSV_COLUMNS.format(path=path, missing=", ".join(missing),
                                                 expected=",".join(CSV_COLUMNS)))
    df = df.loc[:, list(CSV_COLUMNS)].copy()
    for col in ("id", "label", "reviewer"):
        df[col] = df[col].str.strip()
    empty = df["id"] == ""
    if empty.any():
        raise ValueError(_MSG_CSV_ID.format(path=path, lines=_lines(empty)))
    bad = ~df["label"].isin(LABELS)
    if bad.any():
        raise ValueError(_MSG_CSV_LABEL.format(
            path=path, lines=_lines(bad), labels=sorted(set(df.loc[bad, "label"])),
            allowed=", ".join(LABELS)))
    dup = df.duplicated(["id", "reviewer"], keep=False)
    if dup.any():
        raise ValueError(_MSG_CSV_DUP.format(path=path, ids=sorted(set(df.loc[dup, "id"]))[:10]))
    return df.reset_index(drop=True)


def merge_review(per_image: pd.DataFrame, review: pd.DataFrame) -> pd.DataFrame:
    """Attach human judgements to the detector's per-image outcomes.

    Parameters
    ----------
    per_image : DataFrame
        Per-image gaze table with unique ``id`` and ``point_on_head`` (None/NA = no face).
    review : DataFrame
        From :func:`read_review_csv`.

    Returns
    -------
    DataFrame
        One row per review row: the review columns, ``human_on_head`` (nullable boolean; NA for
        ``unsure``) and every per-image column.

    Raises
    ------
    ValueError
        If per-image ids repeat or the review names ids not in the table.
    """
    for col in ("id", "point_on_head"):
        if col not in per_image.columns:
            raise KeyError(_MSG_MERGE_COL.format(col=col, cols=list(per_image.columns)))
    table = per_image.assign(id=per_image["id"].astype(str))
    dup = table["id"].duplicated(keep=False)
    if dup.any():
        raise ValueError(_MSG_MERGE_DUP.format(ids=sorted(set(table.loc[dup, "id"]))[:10]))
    unknown = sorted(set(review["id"]) - set(table["id"]))
    if unknown:
        raise ValueError(_MSG_MERGE_UNKNOWN.format(n=len(unknown), ids=unknown[:5]))
    human = review["label"].map({"on_head": True, "not_on_head": False}).astype("boolean")
    merged = review.assign(human_on_head=human).merge(
        table, on="id", how="left", validate="many_to_one")
    return merged


def review_agreement(merged: pd.DataFrame) -> dict[str, float]:
    """How well the detector's ``point_on_head`` agrees with people.

    Rows labelled ``unsure`` and images without a detected face are left out.

    Parameters
    ----------
    merged : DataFrame
        From :func:`merge_review`.

    Returns
    -------
    dict
        ``n_reviewed`` (all rows), ``n_unsure``, ``n_no_face``, ``n`` (rows compared),
        ``n_agree``, ``percent_agreement`` (0-100), ``kappa`` (Cohen's; NaN when undefined,
        i.e. no rows or both raters constant and equal).
    """
    human = merged["human_on_head"].astype("boolean")
    det = merged["point_on_head"].astype("boolean")
    unsure = human.isna()
    no_face = det.isna() & ~unsure
    both = ~unsure & det.notna()
    h = human[both].to_numpy(dtype=bool)
    d = det[both].to_numpy(dtype=bool)
    n = int(h.size)
    agree = int(np.count_nonzero(h == d))
    out: dict[str, float] = {
        "n_reviewed": int(len(merged)), "n_unsure": int(unsure.sum()),
        "n_no_face": int(no_face.sum()), "n": n, "n_agree": agree,
        "percent_agreement": 100.0 * agree / n if n else np.nan, "kappa": np.nan,
    }
    if n:
        po = agree / n
        ph, pd_ = h.mean(), d.mean()
        pe = ph * pd_ + (1 - ph) * (1 - pd_)
        out["kappa"] = float((po - pe) / (1 - pe)) if pe < 1 else np.nan
    return out
