from __future__ import annotations

import pandas as pd

from audit.report import CAVEAT_SYNTHETIC, ReportInput, derive_caveats, render_report


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


def test_report_has_sections_in_markdown_and_html():
    md, page = render_report(_report())
    for section in ("## Run", "## Caveats", "## Data", "## Provenance", "## Win rates",
                    "## Figures", "## Attribution", "## Notes"):
        assert section in md
    assert "| x&lt;script&gt; | 0.6123 |" in md
    assert "![figures/win_rates.png](figures/win_rates.png)" in md
    assert "ab12" in md and "compare.n_trials=8" in md and "| seed | 7 |" in md
    assert page.startswith("<!DOCTYPE html>") and "<style>" in page
    assert '<img src="figures/win_rates.png"' in page
    assert "WARNING" not in page


def test_html_escapes_all_text():
    _, page = render_report(_report())
    assert "<script>" not in page and "x&lt;script&gt;" in page
    assert "pairwise &lt;b&gt;" in page and "a &amp; b" in page


def test_fallback_model_gets_a_loud_warning():
    model = {"name": "center_bias", "fallback_reason": "weights missing"}
    md, page = render_report(_report(model=model))
    assert "FALLBACK (weights missing)" in md
    assert '<div class="warning">WARNING: the model is a FALLBACK' in page


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


def test_derive_caveats_reports_many_background_outcomes():
    outcomes = pd.DataFrame({"group_a": ["all"], "group_b": ["all"], "n_total": [100],
                             "n_background": [8], "n_error": [2]})
    caveats = derive_caveats(outcomes=outcomes)
    assert caveats == ["10.0% of composites ended on the background or in an error (10 of 100); "
                       "they are reported in the outcomes table, not counted as wins"]
