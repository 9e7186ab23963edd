from __future__ import annotations

import pandas as pd
import pytest

from audit.analysis.kway import compute_kway_shares
from audit.analysis.policies import compute_policy_rates
from audit.analysis.settings import AnalysisConfig


def test_kway_shares_against_one_over_k():
    groups = ["bf", "bm", "wf", "wm"]
    winners = ["bf"] * 10 + ["wf"] * 20 + ["wm"] * 10
    recs = pd.DataFrame({
        "k": 4, "groups": [groups] * 42, "outcome": ["win"] * 40 + ["background", "error"],
        "winner_group": winners + [None, None],
        "winner_slot": pd.array([i % 4 for i in range(40)] + [None, None], dtype="Int64"),
    })
    table = compute_kway_shares(recs)
    by_group = table[table["by"] == "group"].set_index("level")
    assert by_group["share"].to_dict() == {"bf": 0.25, "bm": 0.0, "wf": 0.5, "wm": 0.25}
    assert (by_group["parity"] == 0.25).all() and (by_group["n"] == 40).all()
    assert by_group.loc["wf", "p_value"] < 0.001
    assert (table["n_background"] == 1).all()
    assert table[table["by"] == "slot"]["share"].tolist() == [0.25] * 4


def test_policy_rates_are_oriented_with_the_pair():
    recs = pd.DataFrame({
        "group_a": ["y", "x"], "group_b": ["x", "y"], "outcome": ["a", "b"],
        "position_a": ["left", "right"], "p_a_sample": [0.8, 0.4], "p_a_topk": [1.0, 0.0],
        "mass_a": [0.3, 0.1], "mass_b": [0.1, 0.3],
    })
    table = compute_policy_rates(recs).set_index("policy")
    # x is "a": row 1 x lost (0), row 2 x lost (0); sample: 1-0.8 and 0.4 -> 0.3
    assert table.loc["argmax", "rate"] == 0.0
    assert table.loc["sample", "rate"] == pytest.approx(0.3)
    assert table.loc["topk", "rate"] == 0.0
    assert table.loc["mass", "rate"] == pytest.approx(0.25)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"alpha": 1.5}, "analysis.alpha must be in (0, 1), got 1.5"),
    ({"ci_method": "exact"}, "analysis.ci_method must be one of"),
    ({"correction": "bonferroni"}, "analysis.correction must be one of"),
    ({"cluster": "image_b"}, "analysis.cluster must be one of"),
    ({"power_deltas": [0.0]}, "analysis.power_deltas must be non-zero"),
    ({"counts_iterations": 0}, "analysis.counts_iterations must be >= 1, got 0"),
])
def test_analysis_config_range_checks(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        AnalysisConfig(**kwargs)
