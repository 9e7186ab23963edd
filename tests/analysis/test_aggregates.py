from __future__ import annotations

import pandas as pd
import pytest

from audit.analysis.aggregates import compute_aggregates, groups_from_labels

PAIRS = pd.DataFrame({
    "group_a": ["black_female", "black_female", "black_female", "black_male", "black_male",
                "white_female"],
    "group_b": ["black_male", "white_female", "white_male", "white_female", "white_male",
                "white_male"],
    "wins_a": [5695, 4336, 5547, 3648, 4767, 6171],
    "n": [10000] * 6,
})
GROUPS = groups_from_labels(sorted(set(PAIRS["group_a"]) | set(PAIRS["group_b"])))


def test_all_pairs_aggregate_orients_every_relevant_pair():
    agg = compute_aggregates(PAIRS, GROUPS).set_index("factor")
    assert (agg.loc["race", "n"], agg.loc["race", "wins_a"]) == (40000, 18298)
    # female wins: BF-BM 5695, BF-WM 5547, WF-WM 6171, and BM-WF flipped: 10000 - 3648
    assert (agg.loc["gender", "n"], agg.loc["gender", "wins_a"]) == (40000, 23765)
    assert agg.loc["gender", "group_a"] == "female"
    assert agg.loc["gender", "n_pairs"] == 4


def test_paper_method_reproduces_the_studys_three_pair_total():
    agg = compute_aggregates(PAIRS, GROUPS, method="paper").set_index("factor")
    assert (agg.loc["gender", "n"], agg.loc["gender", "wins_a"]) == (30000, 17413)
    assert agg.loc["gender", "rate"] == pytest.approx(0.580433, abs=1e-6)
    assert "black_male|white_female" not in agg.loc["gender", "pairs"]
    assert "study" in agg.loc["gender", "method_label"]


def test_groups_missing_from_groups_table_raise():
    with pytest.raises(ValueError, match="groups table lacks group"):
        compute_aggregates(PAIRS, GROUPS.iloc[:2])


def test_image_aware_aggregate_of_one_pair_equals_that_pairs_rate():
    import numpy as np

    from audit.analysis.win_rates import compute_win_rates

    rng = np.random.default_rng(0)
    rows = []
    for t in range(120):
        ia, ib = f"wf{rng.integers(0, 9)}", f"bf{rng.integers(0, 9)}"
        for order in (0, 1):
            rows.append({"trial": t, "order": order, "design": "pairwise",
                         "group_a": "white_female", "group_b": "black_female",
                         "image_a": ia, "image_b": ib,
                         "position_a": "left" if order == 0 else "right",
                         "outcome": "a" if rng.random() < 0.6 else "b"})
    records = pd.DataFrame(rows)
    groups = groups_from_labels(["black_female", "white_female"])
    pair = compute_win_rates(records).iloc[0]  # oriented black_female first
    agg = compute_aggregates(compute_win_rates(records), groups, records=records).iloc[0]
    assert (agg["factor"], agg["group_a"]) == ("race", "black")
    for col in ("n", "rate", "se", "p_value", "verdict"):
        assert agg[col] == pytest.approx(pair[col]) if col != "verdict" else agg[col] == pair[col]
    assert agg["inference"] == "dyadic" and agg["deff"] == pytest.approx(pair["deff"])
