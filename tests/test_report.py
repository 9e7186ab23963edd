from __future__ import annotations

import re

import pandas as pd
import pytest
from scipy.stats import binomtest
from statsmodels.stats.proportion import proportion_confint

from audit.report import (
    CAVEAT_FALLBACK,
    CAVEAT_POOLED,
    CAVEAT_SYNTHETIC,
    ReportInput,
    derive_caveats,
    display_columns,
    main_figure,
    render_report,
)
from audit.report_findings import (
    FINDING_BUILDERS,
    Finding,
    FindingContext,
    build_findings,
    pair_finding,
    register_finding,
    verdict_of,
)


def _report(**kw) -> ReportInput:
    base = dict(
        name="pairwise <b>", created="2025-01-02T03:04:05", command="python -m audit.run",
        overrides=["compare.n_trials=8"], model={"name": "fastgaze", "weights_sha256": "ab12"},
        data={"source": "synthetic"}, seed=7, provenance={"git": "deadbeef"},
        tables={"Win rates": pd.DataFrame({"group_a": ["x<script>"], "rate": [0.61234]})},
        figures=["figures/win_rates.png"], caveats=["a & b"], notes=["n1"],
        attribution=pd.DataFrame({"id": ["q1"], "author": ["Ann"]}),
    )
    base.update(kw)
    return ReportInput(**base)


def _pair(a: str, b: str, wins: int, n: int) -> dict:
    """A win-rate row from known counts: Wilson interval and exact test, as the tables hold."""
    lo, hi = proportion_confint(wins, n, alpha=0.05, method="wilson")
    p = binomtest(wins, n, 0.5).pvalue
    return {"group_a": a, "group_b": b, "n": n, "wins_a": wins, "losses_a": n - wins,
            "rate": wins / n, "delta": wins / n - 0.5, "ci_low": lo, "ci_high": hi,
            "p_value": p, "p_adjusted": p}


# -- findings on known tables --------------------------------------------------------------

def test_known_counts_give_the_favoured_group_its_rate_interval_and_verdict():
    # 30 of 40: Wilson 95% interval [0.5981, 0.8579], exact p = 0.0022
    f = pair_finding(_pair("light", "dark", 30, 40), FindingContext())
    assert (f.lead, f.verdict, f.label) == ("light favoured over dark", "disparity", "disparity")
    assert f.text == ("light won 75% of 40 composites (+25 points from an even split; "
                      "95% interval 60%–86%).")
    # the same counts seen from the other side: the favoured group is group_b, numbers flipped
    g = pair_finding(_pair("dark", "light", 10, 40), FindingContext())
    assert g.lead == "light favoured over dark" and g.text == f.text


def test_parity_needs_the_whole_interval_within_the_margin():
    row = _pair("a", "b", 2010, 4000)  # 50.25%, interval [0.4870, 0.5180]
    f = pair_finding(row, FindingContext(margin=0.05))
    assert (f.lead, f.verdict, f.label) == ("a vs b", "parity", "parity within ±5 points")
    assert f.text == ("a won 50.2% of 4000 composites (+0.2 points from an even split; "
                      "95% interval 48.7%–51.8%).")
    # a margin narrower than the interval's half-width cannot claim parity
    assert pair_finding(row, FindingContext(margin=0.01)).verdict == "inconclusive"


def test_small_or_uncorrected_differences_are_inconclusive():
    f = pair_finding(_pair("a", "b", 6, 8), FindingContext())  # [0.4093, 0.9285]
    assert f.verdict == "inconclusive" and f.lead == "a vs b"
    assert f.text == "a won 75% of 8 composites (+25 points from an even split; 95% interval " \
        "41%–93%)."
    # interval excludes 0.5 but the family-wise adjusted p does not reject: no disparity
    row = _pair("a", "b", 27, 40) | {"p_adjusted": 0.12}
    assert row["ci_low"] > 0.5 and verdict_of(row) == "inconclusive"


def test_verdict_columns_of_the_tables_win_over_the_provisional_rule():
    row = _pair("a", "b", 30, 40) | {
        "verdict": "inconclusive", "favoured": None, "n_trials": 20, "n_eff": 9.6, "deff": 2.08,
        "margin": 0.1, "inference": "dyadic"}
    f = pair_finding(row, FindingContext())
    assert f.verdict == "inconclusive" and f.lead == "a vs b"
    assert "of 20 trials (+25 points from an even split; 95% interval 60%–86%; effective n 10, " \
        "design effect 2.1)." in f.text
    p = pair_finding(row | {"verdict": "parity"}, FindingContext())
    assert p.label == "parity within ±10 points"
    d = pair_finding(row | {"verdict": "disparity", "favoured": "a"}, FindingContext())
    assert d.lead == "a favoured over b" and d.verdict == "disparity"
    # with verdict columns no provisional line is added; the inference is named once
    tables = {"win_rates": pd.DataFrame([row | {"family": "pairs"}, row | {"family": "pairs"}])}
    found = build_findings(tables)
    assert [x.topic for x in found] == ["groups", "groups", "inference", "inference"]
    assert [(x.lead, x.text) for x in found[2:]] == [
        ("Intervals", "win_rates: dyadic. dyadic: image-aware: the variance allows for every image "
                      "recurring across trials (dyadic-robust, one id per image), and the trial "
                      "is the unit."),
        ("Verdicts", "disparity: the test of an even split (or an even share) rejects after its "
                     "family's correction; parity: the interval lies within ±10 points of it; "
                     "inconclusive: neither, so more images or trials are needed. One correction "
                     "per family: pairs.")]
    old = {"win_rates": pd.DataFrame([_pair("a", "b", 30, 40)])}
    assert [x.lead for x in build_findings(old)] == ["a favoured over b", "Provisional verdicts",
                                                     "Verdicts"]


def test_position_kway_and_aggregate_findings():
    position = pd.DataFrame({"source": ["baseline", "counterbalanced_marginal", "baseline"],
                             "scope": ["all", "all", "dark"], "n": [100, 200, 50],
                             "rate_first": [0.7, 0.5, 0.9], "ci_low": [0.6042, 0.4314, 0.7],
                             "ci_high": [0.7810, 0.5686, 1.0]})
    found = build_findings({"position": position})
    leads = [f.lead for f in found if f.topic == "position"]
    assert leads == ["first slot favoured (same-group baseline pairs)",
                     "position (counterbalanced pairs (both orders))"]
    assert "the first slot won 70% of 100 composites (+20 points" in found[0].text
    kway = pd.DataFrame({"by": ["group"] * 2, "level": ["x", "y"], "n": [40, 40],
                         "share": [0.5, 0.05], "parity": [0.25, 0.25], "ci_low": [0.352, 0.0138],
                         "ci_high": [0.648, 0.165], "p_adjusted": [0.001, 0.01]})
    k = build_findings({"kway_shares": kway})
    assert [f.lead for f in k[:2]] == ["x chosen more often than an even share",
                                       "y chosen less often than an even share"]
    assert "chosen in 50% of 40 composites against an even share of 25% (+25 points" in k[0].text
    agg = pd.DataFrame([_pair("dark", "light", 10, 40) | {"factor": "tone", "method": "all_pairs"},
                        _pair("dark", "light", 1, 2) | {"factor": "tone", "method": "paper"}])
    a = [f for f in build_findings({"aggregates": agg}) if f.topic == "groups"]
    assert [f.lead for f in a] == ["tone: light favoured over dark"]


def test_new_tables_add_findings_through_the_registry_and_prefixes_match():
    @register_finding("cropper_comparison")
    def _compare(frame, ctx):
        return [Finding("croppers", f"{r['cropper']} differs", verdict="disparity")
                for r in frame.to_dict("records")]

    try:
        tables = {"fastgaze_win_rates": pd.DataFrame([_pair("a", "b", 30, 40)]),
                  "cropper_comparison": pd.DataFrame({"cropper": ["smartcrop"]})}
        found = build_findings(tables, caveats=["synthetic"])
        assert [(f.topic, f.source) for f in found] == [
            ("groups", "fastgaze_win_rates"), ("croppers", "cropper_comparison"),
            ("inference", ""), ("inference", ""), ("caveats", "")]
        assert [f.lead for f in found if f.topic == "inference"] == ["Provisional verdicts",
                                                                     "Verdicts"]
        # a builder's own verdicts are not called provisional
        alone = build_findings({"cropper_comparison": tables["cropper_comparison"]})
        assert [f.lead for f in alone if f.topic == "inference"] == ["Verdicts"]
        md, page = render_report(_report(tables=tables, caveats=["synthetic"]))
        assert "### croppers" in md and "**smartcrop differs** — *disparity*" in md
        assert md.index("### Groups") < md.index("### croppers") < md.index("### How to read")
    finally:
        del FINDING_BUILDERS["cropper_comparison"]


# -- layout -----------------------------------------------------------------------------

def test_report_leads_with_findings_then_main_figure_then_details():
    rates = pd.DataFrame([_pair("light", "dark", 30, 40)])
    md, page = render_report(_report(
        tables={"outcomes": pd.DataFrame({"group_a": ["all"], "n_total": [40]}),
                "win_rates": rates},
        figures=["figures/policies.png", "figures/win_rates.png"],
        table_files={"win_rates": "tables/win_rates.csv"}))
    order = [md.index(s) for s in ("## Findings", "**light favoured over dark** — *disparity*",
                                   "![main figure: figures/win_rates.png]", "## Details",
                                   "### win_rates", "### outcomes", "### Other figures",
                                   "## Run details", "## Attribution")]
    assert order == sorted(order)
    first_table = page.index("<table")
    assert page.index('id="findings"') < page.index('id="main-figure"') < first_table
    assert page.index("light favoured over dark") < first_table
    # readers see the needed columns; the full table is linked and collapsed in the HTML
    compact = md[md.index("### win_rates"):md.index("### outcomes")]
    assert "| group_a | group_b | n | rate | delta | ci_low | ci_high | p_adjusted |" in compact
    assert "losses_a" not in compact
    assert "Full table (3 more column(s)): [tables/win_rates.csv](tables/win_rates.csv)" in compact
    assert "<summary>all 11 columns</summary>" in page and '<a href="tables/win_rates.csv">' in page
    # every table sits in a horizontal scroll box; the page scales on narrow screens
    assert page.count("<table") == page.count('<div class="scroll"><table')
    assert ".scroll{max-width:100%;overflow-x:auto}" in page and 'name="viewport"' in page


def test_display_columns_and_main_figure_choice():
    wide = pd.DataFrame(columns=[f"c{i}" for i in range(14)])
    assert display_columns("something", wide) == [f"c{i}" for i in range(10)]
    rates = pd.DataFrame(columns=["group_a", "group_b", "wins_a", "rate", "verdict"])
    assert display_columns("fastgaze_win_rates", rates) == ["group_a", "group_b", "rate",
                                                            "verdict"]
    assert main_figure(["figures/policies.png", "figures/gaze_shares.png"]) \
        == "figures/gaze_shares.png"
    assert main_figure(["figures/a.png"]) == "figures/a.png" and main_figure([]) is None


def test_report_has_sections_in_markdown_and_html():
    md, page = render_report(_report())
    for section in ("## Findings", "### Data caveats", "## Details", "### Win rates",
                    "### Notes", "## Run details", "### Run", "### Data", "### Provenance",
                    "## Attribution"):
        assert section in md
    assert "| x&lt;script&gt; | 0.6123 |" in md
    assert "![main figure: figures/win_rates.png](figures/win_rates.png)" in md
    assert "ab12" in md and "compare.n_trials=8" in md and "| seed | 7 |" in md
    assert page.startswith("<!DOCTYPE html>") and "<style>" in page
    assert '<img src="figures/win_rates.png"' in page
    assert "Fallback" not in page and 'id="run-details"' in page


def test_html_escapes_all_text():
    evil = "<script>alert(1)</script>"
    rates = pd.DataFrame([_pair(evil, "b&c", 30, 40)])
    md, page = render_report(_report(tables={"win_rates": rates}, caveats=[evil],
                                     figures=['f/"><img onerror=x>.png']))
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "<img onerror" not in page and "b&amp;c" in page
    assert "pairwise &lt;b&gt;" in page
    assert "<script>" not in md and "&lt;script&gt;alert(1)&lt;/script&gt; favoured" in md


def test_fallback_is_said_once_briefly_with_the_fix():
    reason = ("FastGaze weights unavailable, using the weight-free spectral_residual model: "
              "fastgaze.vxm not found; tried $AUDIT_FASTGAZE_WEIGHTS, the cache, the URL")
    model = {"name": "spectral_residual", "fallback_reason": reason}
    caveats = derive_caveats(model=model)
    assert caveats == [CAVEAT_FALLBACK.format(reason=reason)]
    md, page = render_report(_report(model=model, caveats=caveats))
    for text in (md, page):
        assert text.count("FastGaze weights unavailable") == 1
        assert "tried $AUDIT_FASTGAZE_WEIGHTS" not in text  # the long message is in the manifest
        assert "Fix: provide the FastGaze weights" in text
    assert re.search(r'<div class="warning" id="fallback">Fallback model: FastGaze weights '
                     r"unavailable, using the weight-free spectral_residual model\. These are "
                     r"not the audited cropper", page)
    assert page.index('id="fallback"') < page.index('id="findings"')


# -- caveats ----------------------------------------------------------------------------

def test_derive_caveats_flags_position_larger_than_group_effect():
    win_rates = pd.DataFrame({"group_a": ["x", "x"], "group_b": ["y", "z"],
                              "delta": [0.02, -0.04]})
    position = pd.DataFrame({"source": ["baseline", "counterbalanced_marginal"],
                             "scope": ["all", "all"], "delta": [0.09, 0.07]})
    caveats = derive_caveats(win_rates, position, synthetic=True)
    assert caveats[0] == CAVEAT_SYNTHETIC
    assert any(c.startswith("position effect larger than group effect") and "0.090" in c
               and "x vs z" in c for c in caveats)
    small = position.assign(delta=[0.01, 0.0])
    assert not any("position effect" in c for c in derive_caveats(win_rates, small))


def test_pooled_caveat_only_for_composite_level_tables():
    rates = pd.DataFrame([_pair("a", "b", 30, 40)])
    assert derive_caveats(rates) == [CAVEAT_POOLED]
    assert derive_caveats(rates.assign(inference="dyadic")) == []
    # inference=independent gets its own caveat from audit.analysis.caveats
    assert derive_caveats(rates.assign(inference="independent")) == []
    # in the report, the provisional-verdict line already says it: not repeated as a caveat
    md, _ = render_report(_report(tables={"win_rates": rates}, caveats=[CAVEAT_POOLED]))
    assert CAVEAT_POOLED not in md and "Provisional verdicts" in md


def test_derive_caveats_reports_many_background_outcomes():
    outcomes = pd.DataFrame({"group_a": ["all"], "group_b": ["all"], "n_total": [100],
                             "n_background": [8], "n_error": [2]})
    caveats = derive_caveats(outcomes=outcomes)
    assert caveats == ["10.0% of composites ended on the background or in an error (10 of 100); "
                       "they are reported in the outcomes table, not counted as wins"]


@pytest.mark.parametrize("wins, n, verdict", [(0, 8, "disparity"), (8, 8, "disparity"),
                                              (4, 8, "inconclusive"), (200, 400, "parity")])
def test_provisional_verdicts_of_known_counts(wins, n, verdict):
    assert verdict_of(_pair("a", "b", wins, n)) == verdict


def test_gaze_findings_say_what_the_head_check_covers():
    shares = pd.DataFrame({"group": ["long", "long", "short"], "aspect_ratio": [0.56, 1.0, 0.56],
                           "n": [5, 5, 2], "n_no_face": [1, 1, 2], "n_face": [4, 4, 0],
                           "share_point_on_head": [0.75, 0.75, None],
                           "point_on_head_low": [0.3006, 0.3006, None],
                           "point_on_head_high": [0.9544, 0.9544, None]})
    truth = pd.DataFrame({"n": [7], "n_face_found": [4], "share_true_point_on_head": [0.4286],
                          "agreement": [0.75]})
    found = build_findings({"gaze_shares": shares, "gaze_detector_vs_truth": truth})
    assert [(f.lead, f.text) for f in found] == [
        ("long", "the salient point is on the head in 75% of 4 images with a detected face "
                 "(95% interval 30%–95%); not counted: 1 image without a detected face."),
        ("short", "no face was detected in its 2 images, so the head check says nothing about "
                  "this group."),
        ("face detector coverage", "the face detector found a face in 4 of 7 images; by the "
         "generator's own head ellipse, the salient point is on the head in 43% of all 7, and "
         "the detector agrees with that in 75%."),
    ]


def test_the_study_table_speaks_only_where_no_win_rates_do():
    # published counts of BF vs WF (4336 of 10000) and the study's race aggregate
    table = pd.DataFrame([_pair("black_female", "white_female", 4336, 10000)
                          | {"aggregate_method": None},
                          _pair("black", "white", 17280, 40000) | {"aggregate_method": "paper"},
                          _pair("black", "white", 1, 2) | {"aggregate_method": "all_pairs"}])
    found = build_findings({"paper_table": table})
    assert [f.lead for f in found if f.topic == "groups"] == [
        "white_female favoured over black_female", "study's aggregate: white favoured over black"]
    assert found[0].text == ("white_female won 56.6% of 10000 composites (+6.6 points from an "
                             "even split; 95% interval 55.7%–57.6%).")
    both = {"paper_table": table, "win_rates": pd.DataFrame([_pair("a", "b", 30, 40)])}
    assert [f.source for f in build_findings(both) if f.topic == "groups"] == ["win_rates"]


def test_derive_caveats_names_small_groups_and_confounded_positions():
    from audit.analysis.caveats import statistics_caveats

    groups = pd.DataFrame({"group": ["dark", "light", "medium"], "n_images": [4, 40, 29]})
    rates = pd.DataFrame([_pair("dark", "light", 3, 8) | {"n_a_first": 8, "n_a_second": 0},
                          _pair("dark", "medium", 3, 8) | {"n_a_first": 4, "n_a_second": 4}])
    caveats = derive_caveats(rates, groups=groups)
    assert caveats[0] == ("small groups: dark (4), medium (29) have fewer than 30 images; with "
                          "so few images per group the intervals are wide and say little about "
                          "the population of faces")
    # the confounded pair is named once, by the statistics caveats
    assert len(caveats) == 2 and caveats[1] == CAVEAT_POOLED
    (confounded,) = statistics_caveats("pairwise", {"win_rates": rates})
    assert confounded.startswith("positions were never swapped within a pair (dark|light)")
    swapped = rates.assign(n_a_first=4, n_a_second=4)
    big = groups.assign(n_images=30)
    assert derive_caveats(swapped, groups=big) == [CAVEAT_POOLED]


def test_kway_slots_and_saliency_probabilities_read_in_words():
    kway = pd.DataFrame({"by": ["slot"], "level": [1], "n": [40], "share": [0.6], "parity": [0.25],
                         "ci_low": [0.4458], "ci_high": [0.7360], "p_adjusted": [0.0001]})
    assert build_findings({"kway_shares": kway})[0].lead == "slot 1 chosen more often than an " \
                                                            "even share"
    prob = pd.DataFrame({"group_a": ["dark", "light"], "group_b": ["light", "dark"],
                         "n_a": [4, 4], "n_b": [4, 4], "auc": [0.125, 0.875]})
    (f,) = build_findings({"prob_score_max": prob})
    assert (f.lead, f.verdict) == ("dark vs light", None)
    assert f.text.startswith("an image of dark has a higher peak saliency than one of light "
                             "with probability 12% (ties count half; 4 vs 4 images;")


def test_paired_position_finding_counts_discordant_trials_not_composites():
    # 30 discordant trials, the first slot won both orders in 20: exp(2γ) = 2, rate expit(γ)
    rate = 2 ** 0.5 / (1 + 2 ** 0.5)
    position = pd.DataFrame({"source": ["counterbalanced_paired"], "scope": ["all"], "n": [30],
                             "wins_first": [20], "rate_first": [rate], "ci_low": [0.4],
                             "ci_high": [0.7], "verdict": ["inconclusive"]})
    (found,) = [f for f in build_findings({"position": position}) if f.topic == "position"]
    assert found.text == ("in the 30 trials whose two orders picked different images, the first "
                          "slot won both orders 20 times: a first-slot win chance of 59% per "
                          "composite (+8.6 points from an even split; 95% interval 40%–70%).")
