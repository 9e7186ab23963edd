from __future__ import annotations

import base64
import csv
import io
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from audit.crop.geometry import Box, Point
from audit.gaze import review as rv
from audit.gaze.review import (
    ReviewItem,
    merge_review,
    read_review_csv,
    render_review_page,
    review_agreement,
)

EVIL = '"><script>alert(1)</script>'
HEAD = Box(100, 50, 80, 100)


class PageParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.scripts.append(data)

    def find(self, tag: str, **attrs: str) -> list[dict[str, str | None]]:
        return [a for t, a in self.tags
                if t == tag and all(a.get(k) == v for k, v in attrs.items())]


def item(img_id: str, w: int = 300, h: int = 400, head: Box | None = HEAD):
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 255, size=(h, w, 3), dtype=np.uint8)
    return ReviewItem(id=img_id, rgb=rgb, scores=rng.normal(size=(8, 6)).astype(np.float32),
                      point=Point(140, 90), crops={1.0: Box(0, 50, 300, 300)}, head_box=head,
                      group="female")


def parse(page: str) -> PageParser:
    p = PageParser()
    p.feed(page)
    p.close()
    return p


def test_page_has_one_form_three_radios_per_item_and_export_button():
    items = [item("Q1"), item("Q2", head=None), item("Q3", w=1000, h=700)]
    p = parse(render_review_page(items, title="Gaze <check>"))
    assert len([a for t, a in p.tags if t == "section" and a.get("class") == "item"]) == 3
    forms = p.find("form", **{"class": "review"})
    assert [f["data-id"] for f in forms] == ["Q1", "Q2", "Q3"]
    radios = p.find("input", type="radio")
    assert len(radios) == 9
    assert {r["value"] for r in radios} == set(rv.LABELS)
    assert len({r["name"] for r in radios}) == 3  # one radio group per item
    assert len(p.find("button", id="export")) == 1
    assert len(p.find("input", id="reviewer")) == 1
    assert len(p.find("script")) == 1
    assert "Blob" in p.scripts[0]


def test_page_images_are_embedded_pngs_at_most_512_px():
    p = parse(render_review_page([item("big", w=1000, h=700)], title="t"))
    photos = p.find("img", **{"class": "photo"})
    assert len(photos) == 1 and len(p.find("img", **{"class": "heat"})) == 1
    src = photos[0]["src"]
    assert src.startswith("data:image/png;base64,")
    img = Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1])))
    assert img.format == "PNG" and img.size == (512, 358)
    heat = p.find("img", **{"class": "heat"})[0]["src"]
    assert Image.open(io.BytesIO(base64.b64decode(heat.split(",", 1)[1]))).size == (6, 8)


def test_malicious_id_and_title_are_escaped():
    page = render_review_page([item(EVIL)], title=EVIL)
    assert EVIL not in page
    assert "<script>alert" not in page
    p = parse(page)
    assert len(p.find("script")) == 1  # only the page's own script
    # The parser unescapes attributes: the id survives intact for the export.
    assert p.find("form", **{"class": "review"})[0]["data-id"] == EVIL


def test_page_does_not_show_the_group():
    page = render_review_page([item("Q1")], title="t")
    assert "female" not in page


def test_bad_item_is_named():
    bad = ReviewItem(id="Q9", rgb=np.zeros((4, 4), np.uint8), scores=np.zeros((2, 2)),
                     point=Point(1, 1))
    with pytest.raises(ValueError, match=re.escape("review item 'Q9': rgb must be")):
        render_review_page([bad], title="t")


PER_IMAGE = pd.DataFrame({
    "id": ["a", "b", "c", "d", "e", "f"],
    "gender": ["female", "female", "male", "male", "female", "male"],
    "point_on_head": [True, True, False, False, True, None],
})
REVIEW_ROWS = [
    ("a", "on_head", "ann", ""),  # agree
    ("b", "not_on_head", "ann", 'point on "shirt", left'),  # disagree
    ("c", "not_on_head", "ann", "multi\nline"),  # agree
    ("d", "unsure", "ann", ""),  # left out
    ("e", "on_head", "ann", ""),  # agree
    ("f", "on_head", "ann", ""),  # no face: left out
]


def write_csv(path, rows) -> None:
    """Write a CSV as the page's JavaScript does: minimal quoting, CRLF line ends."""
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\r\n")
        w.writerow(rv.CSV_COLUMNS)
        w.writerows(rows)


def test_csv_round_trip_merge_and_agreement_match_hand_count(tmp_path):
    path = tmp_path / "review.csv"
    write_csv(path, REVIEW_ROWS)
    review = read_review_csv(path)
    assert review.loc[1, "notes"] == 'point on "shirt", left'
    assert review.loc[2, "notes"] == "multi\nline"
    merged = merge_review(PER_IMAGE, review)
    assert len(merged) == 6
    assert merged.set_index("id").loc["e", "gender"] == "female"
    assert merged["human_on_head"].isna().sum() == 1
    agr = review_agreement(merged)
    # Compared: a, b, c, e -> 3 of 4 agree. Human yes-rate 2/4, detector yes-rate 3/4:
    # pe = .5*.75 + .5*.25 = .5, kappa = (.75 - .5) / (1 - .5) = .5.
    assert agr == {"n_reviewed": 6, "n_unsure": 1, "n_no_face": 1, "n": 4, "n_agree": 3,
                   "percent_agreement": 75.0, "kappa": pytest.approx(0.5)}


def test_agreement_perfect_and_undefined_kappa(tmp_path):
    path = tmp_path / "r.csv"
    write_csv(path, [("a", "on_head", "x", ""), ("b", "on_head", "x", "")])
    agr = review_agreement(merge_review(PER_IMAGE, read_review_csv(path)))
    assert agr["percent_agreement"] == 100.0
    assert np.isnan(agr["kappa"])  # both raters constant: chance agreement is 1


@pytest.mark.skipif(shutil.which("node") is None, reason="node.js not installed")
def test_page_javascript_builds_a_csv_that_reads_back(tmp_path):
    page = render_review_page([item("Q1")], title="t")
    script = parse(page).scripts[0]
    records = [{"id": i, "label": lab, "reviewer": r, "notes": n} for i, lab, r, n in REVIEW_ROWS]
    js = tmp_path / "export.js"
    js.write_text(script + "\nprocess.stdout.write(buildCsv(JSON.parse(process.argv[2])));\n",
                  encoding="utf-8")
    out = subprocess.run(["node", str(js), json.dumps(records)], capture_output=True,
                         check=True, timeout=60)
    path = tmp_path / "from_js.csv"
    path.write_bytes(out.stdout)
    back = read_review_csv(path)
    assert list(back.itertuples(index=False, name=None)) == REVIEW_ROWS


def test_read_review_csv_errors(tmp_path):
    p = tmp_path / "x.csv"
    p.write_text("id,label\na,on_head\n")
    msg = rv._MSG_CSV_COLUMNS.format(path=p, missing="reviewer, notes",
                                     expected="id,label,reviewer,notes")
    with pytest.raises(ValueError, match=re.escape(msg)):
        read_review_csv(p)
    write_csv(p, [("a", "on_head", "x", ""), ("b", "maybe", "x", "")])
    with pytest.raises(ValueError, match=re.escape("line(s) 3: ['maybe']")):
        read_review_csv(p)
    write_csv(p, [("", "on_head", "x", "")])
    with pytest.raises(ValueError, match=re.escape(rv._MSG_CSV_ID.format(path=p, lines="2"))):
        read_review_csv(p)
    write_csv(p, [("a", "on_head", "x", ""), ("a", "unsure", "x", "")])
    with pytest.raises(ValueError, match=re.escape("image(s) ['a'] judged more than once")):
        read_review_csv(p)


def test_merge_rejects_unknown_ids(tmp_path):
    p = tmp_path / "x.csv"
    write_csv(p, [("zz", "on_head", "x", "")])
    with pytest.raises(ValueError, match=re.escape("1 id(s) not in the per-image table")):
        merge_review(PER_IMAGE, read_review_csv(p))
