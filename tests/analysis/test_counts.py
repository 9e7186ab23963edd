from __future__ import annotations

import pandas as pd
import pytest

from audit.analysis.counts import paper_table, parse_counts_file, parse_counts_lines, parse_literal

# The six 'wiki_no_scaling_intersect' / 10000 lines of twitter_results.txt, verbatim numbers,
# so the arithmetic is tested even without AUDIT_REFERENCE_DIR.
PAPER_LINES = [
    "{'group_name_list': (('black', 'female'), ('black', 'male')), 'stats': array([5695., 4305.]), 'num_iterations': 10000, 'setting': 'wiki_no_scaling_intersect'}",  # noqa: E501
    "{'group_name_list': (('black', 'female'), ('white', 'female')), 'stats': array([4336., 5664.]), 'num_iterations': 10000, 'setting': 'wiki_no_scaling_intersect'}",  # noqa: E501
    "{'group_name_list': (('black', 'female'), ('white', 'male')), 'stats': array([5547., 4453.]), 'num_iterations': 10000, 'setting': 'wiki_no_scaling_intersect'}",  # noqa: E501
    "{'group_name_list': (('black', 'male'), ('white', 'female')), 'stats': array([3648., 6352.]), 'num_iterations': 10000, 'setting': 'wiki_no_scaling_intersect'}",  # noqa: E501
    "{'group_name_list': (('black', 'male'), ('white', 'male')), 'stats': array([4767., 5233.]), 'num_iterations': 10000, 'setting': 'wiki_no_scaling_intersect'}",  # noqa: E501
    "{'group_name_list': (('white', 'female'), ('white', 'male')), 'stats': array([6171., 3829.]), 'num_iterations': 10000, 'setting': 'wiki_no_scaling_intersect'}",  # noqa: E501
]
PUBLISHED = {
    "BF↔WF": (0.4336, -7), "BM↔WM": (0.4767, -2), "BF↔BM": (0.5695, 7), "WF↔WM": (0.6171, 12),
    "BF↔WM": (0.5547, 5), "BM↔WF": (0.3648, -14), "B↔W": (0.4575, -4), "F↔M": (0.5804, 8),
}


def _check_published(table: pd.DataFrame) -> None:
    rows = table.set_index("label")
    for label, (p_left, delta_pct) in PUBLISHED.items():
        assert rows.loc[label, "p_left_4dp"] == p_left, label
        assert rows.loc[label, "p_left"] == pytest.approx(p_left, abs=5e-5), label
        assert rows.loc[label, "delta_pct"] == delta_pct, label
    assert (rows.loc["B↔W", "n"], rows.loc["B↔W", "wins_left"]) == (40000, 18298)
    assert (rows.loc["F↔M", "n"], rows.loc["F↔M", "wins_left"]) == (30000, 17413)
    assert rows.loc["F↔M (all pairs)", "n"] == 40000
    assert rows.loc["F↔M (all pairs)", "wins_left"] == 5695 + 6171 + 5547 + 6352
    assert list(table["panel"][:6]) == ["Race", "Race", "Gender", "Gender", "Cross", "Cross"]
    assert rows.loc["BF↔WF", "two_se"] == pytest.approx(2 * (0.4336 * 0.5664 / 10000) ** 0.5)
    assert rows.loc["BF↔WF", "ci_low"] == pytest.approx(0.423914, abs=1e-6)  # Wilson
    assert (table["p_holm"][:6] < 1e-5).all()


def test_embedded_counts_give_the_published_table():
    counts = parse_counts_lines(PAPER_LINES)
    assert counts["group_a"].tolist()[0] == "black_female"
    _check_published(paper_table(counts))


def test_reference_file_gives_the_published_table(reference_dir):
    counts = parse_counts_file(reference_dir / "twitter_results.txt")
    assert len(counts) == 42
    together = counts[(counts["n_groups"] == 4) & (counts["num_iterations"] == 5000)].iloc[0]
    assert together["stats"] == [1205.0, 923.0, 1756.0, 1116.0]
    _check_published(paper_table(counts))


@pytest.mark.parametrize("text", [
    "__import__('os')",
    "__import__('os').system('true')",
    "{'stats': array([1., 2.]).sum()}",
    "{'a': open('x')}",
    "{'a': (lambda: 1)()}",
    "{'a': [x for x in (1, 2)]}",
    "{'a': os.system}",
    "{'a': array([1.], dtype=object)}",
    "{'a': 1 + 2}",
    "{**{'a': 1}}",
    "{'a': array([\"__import__('os')\"])}",
])
def test_safe_parser_rejects_code(text):
    with pytest.raises(ValueError, match="refusing|not a Python literal"):
        parse_literal(text, where="t.txt:1")


def test_safe_parser_accepts_literals_and_negative_numbers():
    value = parse_literal("{'k': dict_keys([('a', 'b')]), 'v': [-1, +2.5, None, True]}")
    assert value == {"k": (("a", "b"),), "v": [-1, 2.5, None, True]}


def test_counts_line_without_required_keys_names_the_line():
    with pytest.raises(ValueError, match=r"x.txt:2: a counts line needs keys"):
        parse_counts_lines(["", "{'stats': array([1., 2.])}"], source="x.txt")


def test_missing_setting_lists_what_is_available():
    counts = parse_counts_lines(PAPER_LINES)
    with pytest.raises(ValueError, match="wiki_no_scaling_intersect', 10000"):
        paper_table(counts, setting="nope")


def test_paper_counts_caveats_name_unswapped_positions_and_missing_image_ids():
    from audit.analysis.caveats import statistics_caveats

    caveats = statistics_caveats("paper_counts", {})
    assert any("never swapped positions" in c for c in caveats)
    assert any("no image ids" in c for c in caveats)


def test_design_effect_that_would_overturn_each_published_pair():
    # statistics.md §8: BM vs WM (z = -4.7) loses significance once deff > 5.7
    table = paper_table(parse_counts_lines(PAPER_LINES)).set_index("label")
    se = (0.4767 * 0.5233 / 10000) ** 0.5
    assert table.loc["BM↔WM", "deff_to_overturn"] == pytest.approx(
        ((0.4767 - 0.5) / se / 1.959964) ** 2, rel=1e-4)
    assert 5.6 < table.loc["BM↔WM", "deff_to_overturn"] < 5.8
    # a larger effect survives a larger design effect
    assert table.loc["WF↔WM", "deff_to_overturn"] > table.loc["BF↔WF", "deff_to_overturn"] > 5.8


def test_counts_findings_name_the_overturning_design_effect():
    from audit.report_findings import build_findings

    found = build_findings({"paper_table": paper_table(parse_counts_lines(PAPER_LINES))})
    (bm_wm,) = [f for f in found if f.lead == "white_male favoured over black_male"]
    assert bm_wm.text.endswith("Not significant if recurring images inflate the variance more "
                               "than 5.7-fold.")
