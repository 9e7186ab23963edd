"""The report and the review page in a real browser: layout, and the review's CSV round trip."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pandas as pd
import pytest

from audit.gaze.review import LABELS, read_review_csv
from audit.report_findings import FindingContext, pair_finding

from .conftest import WINDOW, browser_missing

_WHY = browser_missing()
if _WHY:  # one line for the whole module, or a failure where CI requires the browser
    if os.environ.get("AUDIT_REQUIRE_BROWSER"):
        pytest.fail(f"AUDIT_REQUIRE_BROWSER is set but {_WHY}", pytrace=False)
    pytest.skip(_WHY, allow_module_level=True)

pytestmark = pytest.mark.slow  # starts a browser and makes three small runs

# Positions (document order and on screen) of the findings, the main figure and every table.
LAYOUT_JS = """
const findings = document.getElementById("findings");
const figure = document.getElementById("main-figure");
if (!findings || !figure) { return {findings: !!findings, figure: !!figure}; }
const img = figure ? figure.querySelector("img") : null;
document.querySelectorAll("details").forEach(d => { d.open = true; });
const tables = Array.from(document.querySelectorAll("table"));
const follows = (a, b) => !!(a.compareDocumentPosition(b) & Node.DOCUMENT_POSITION_FOLLOWING);
const top = el => el.getBoundingClientRect().top + window.scrollY;
return {
  findings: !!findings, figure: !!figure,
  img_loaded: !!img && img.complete && img.naturalWidth > 0,
  findings_top: findings ? top(findings) : null, figure_top: figure ? top(figure) : null,
  tables_after_findings: tables.every(t => follows(findings, t)),
  tables_after_figure: tables.every(t => follows(figure, t)),
  first_table_top: tables.length ? Math.min(...tables.map(top)) : null,
  n_tables: tables.length,
  page_width: document.documentElement.scrollWidth, view_width: window.innerWidth,
  boxes_right: Math.max(...tables.map(t => (t.closest(".scroll") || t)
                                            .getBoundingClientRect().right)),
  widest_table: Math.max(...tables.map(t => t.scrollWidth)),
  unboxed: tables.filter(t => !t.closest(".scroll")).length,
  finding_items: Array.from(findings.querySelectorAll("li.finding")).map(li => li.textContent),
};
"""


@pytest.mark.parametrize("experiment, overrides", [
    ("pairwise", ()), ("male_gaze", ("gaze.min_regions=0",))], ids=["pairwise", "male_gaze"])
def test_report_leads_with_findings_then_figure_and_tables_fit(driver, run_folder, experiment,
                                                               overrides):
    out = run_folder(experiment, *overrides)
    driver.get((out / "report.html").as_uri())
    got = driver.execute_script(LAYOUT_JS)
    assert got["findings"] and got["figure"] and got["img_loaded"], got
    assert got["n_tables"] > 3
    # findings, then the main figure, then the tables: in the DOM and on the screen
    assert got["tables_after_findings"] and got["tables_after_figure"]
    assert got["findings_top"] < got["figure_top"] < got["first_table_top"]
    # no table widens the page, although some are wider than the window: they scroll in a box
    assert got["unboxed"] == 0
    assert got["page_width"] <= got["view_width"] == WINDOW[0]
    assert got["boxes_right"] <= got["view_width"]
    if experiment == "pairwise":
        assert got["widest_table"] > got["view_width"], "the test needs a wide table to bite"
        # control: without their scroll boxes the same tables do widen the page
        unboxed = driver.execute_script(
            'document.querySelectorAll(".scroll").forEach(e => e.classList.remove("scroll"));'
            "return document.documentElement.scrollWidth;")
        assert unboxed > got["view_width"]
        # every pair's plain-words finding is on the page, built from the run's own table
        rates = pd.read_csv(out / "tables" / "win_rates.csv")
        for row in rates.to_dict("records"):
            f = pair_finding(row, FindingContext())
            assert any(item.startswith(f.lead) and f.text in item
                       for item in got["finding_items"]), (f, got["finding_items"])
    else:
        assert any("salient point is on the head" in t for t in got["finding_items"])


def _wait_for_file(folder: Path, pattern: str, timeout: float = 15.0) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = [p for p in folder.glob(pattern) if not p.name.endswith(".crdownload")]
        if done:
            time.sleep(0.2)  # the download is renamed once complete; let the write settle
            return done[0]
        time.sleep(0.1)
    raise AssertionError(f"no {pattern} in {folder} after {timeout} s: "
                         f"{sorted(p.name for p in folder.iterdir())}")


def test_review_filled_in_through_the_page_exports_the_csv_the_run_reads_back(
        driver, run_folder, browser_dirs):
    from selenium.webdriver.common.by import By

    out = run_folder("male_gaze", "gaze.min_regions=0")
    _, downloads = browser_dirs
    driver.get((out / "review" / "index.html").as_uri())
    forms = driver.find_elements(By.CSS_SELECTOR, "form.review")
    assert len(forms) >= 3
    # the page fits a phone-sized window too: photos and forms shrink and wrap
    driver.set_window_size(400, WINDOW[1])
    try:
        fits = driver.execute_script(
            "return [document.documentElement.scrollWidth, window.innerWidth]")
        # control: without wrapping, the same page is wider than this window
        rigid = driver.execute_script(
            "const s = document.createElement('style');"
            "s.textContent = '.item{flex-wrap:nowrap} form.review textarea{width:18em}';"
            "document.head.appendChild(s);"
            "const w = document.documentElement.scrollWidth; s.remove(); return w;")
    finally:
        driver.set_window_size(*WINDOW)
    assert fits[0] <= fits[1] < rigid, (fits, rigid)
    expected: dict[str, str] = {}
    for i, form in enumerate(forms[:-1]):  # the last image stays unjudged
        label = LABELS[i % len(LABELS)]
        form.find_element(By.CSS_SELECTOR, f"input[value={label}]").click()
        expected[form.get_attribute("data-id")] = label
    note = 'blurry, "half" a face\nsecond line'
    forms[0].find_element(By.TAG_NAME, "textarea").send_keys(note)
    driver.find_element(By.ID, "reviewer").send_keys("Ann, B.")
    driver.find_element(By.ID, "export").click()
    csv_path = _wait_for_file(downloads, "gaze_review_*.csv")
    assert csv_path.name == "gaze_review_Ann__B_.csv"
    status = driver.find_element(By.ID, "status").text
    assert status == f"Exported {len(expected)} judgement(s); 1 image(s) not judged yet."

    review = read_review_csv(csv_path)
    assert dict(zip(review["id"], review["label"], strict=True)) == expected
    assert set(review["reviewer"]) == {"Ann, B."}
    first = review.set_index("id").loc[forms[0].get_attribute("data-id"), "notes"]
    assert first.replace("\r\n", "\n") == note

    # and the next run merges it: gaze.review_csv=PATH
    again = run_folder("male_gaze", "gaze.min_regions=0", f"gaze.review_csv={csv_path}")
    merged = pd.read_csv(again / "tables" / "gaze_review.csv", dtype={"id": str})
    assert dict(zip(merged["id"], merged["label"], strict=True)) == expected
    agreement = pd.read_csv(again / "tables" / "gaze_review_agreement.csv")
    assert int(agreement["n_reviewed"].iloc[0]) == len(expected)
