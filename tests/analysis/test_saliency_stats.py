from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from audit.analysis import saliency_stats as ss
from audit.analysis.saliency_stats import (
    group_ecdf,
    group_summary,
    prob_greater,
    prob_greater_equal,
    prob_table,
    score_summary,
)


def test_score_summary_uses_linear_percentiles():
    out = score_summary(np.array([[1.0, 2.0], [3.0, 4.0]], dtype=np.float32))
    assert out == pytest.approx(
        {"score_p50": 2.5, "score_p95": 3.85, "score_max": 4.0, "score_mean": 2.5})
    assert set(out) == {"score_p50", "score_p95", "score_max", "score_mean"}


def test_score_summary_rejects_empty_and_nan():
    with pytest.raises(ValueError, match=re.escape(ss._MSG_EMPTY_SCORES)):
        score_summary(np.zeros((0, 3)))
    with pytest.raises(ValueError, match="2 non-finite"):
        score_summary([1.0, np.nan, np.inf])


def test_prob_greater_equal_small_hand_case():
    # a=[1,2,3] vs b=[2,2]: pairs with a>=b: 0+2+2 = 4 of 6; strictly greater: 2 of 6.
    assert prob_greater_equal([1, 2, 3], [2, 2]) == pytest.approx(4 / 6)
    assert prob_greater([1, 2, 3], [2, 2]) == pytest.approx(2 / 6)


@pytest.mark.parametrize("seed", range(8))
def test_prob_greater_equal_matches_brute_force_with_ties(seed):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 6, size=rng.integers(1, 40)).astype(float)
    b = rng.integers(0, 6, size=rng.integers(1, 40)).astype(float)
    ge = sum(1 for x in a for y in b if x >= y)
    gt = sum(1 for x in a for y in b if x > y)
    assert prob_greater_equal(a, b) == ge / (a.size * b.size)
    assert prob_greater(a, b) == gt / (a.size * b.size)
    # P(a >= b) + P(b > a) = 1 exactly.
    assert prob_greater_equal(a, b) + prob_greater(b, a) == pytest.approx(1.0, abs=1e-15)


def test_prob_greater_equal_rejects_empty_and_nan():
    with pytest.raises(ValueError, match=re.escape(ss._MSG_EMPTY_SAMPLE.format(n_a=0, n_b=2))):
        prob_greater_equal([], [1, 2])
    with pytest.raises(ValueError, match=re.escape(ss._MSG_NAN_SAMPLE.format(which="b"))):
        prob_greater_equal([1.0], [np.nan])


def per_image() -> pd.DataFrame:
    return pd.DataFrame({
        "id": list("abcdefg"),
        "group": ["x", "x", "x", "y", "y", "z", "z"],
        "score_max": [1.0, 2.0, 3.0, 2.0, 2.0, np.nan, 5.0],
    })


def test_prob_table_all_ordered_pairs_with_hand_values():
    t = prob_table(per_image(), value="score_max")
    assert list(t.columns) == ["group_a", "group_b", "n_a", "n_b", "value", "p_a_ge_b",
                               "p_a_gt_b", "auc"]
    assert len(t) == 6  # 3 groups -> 6 ordered pairs
    xy = t[(t.group_a == "x") & (t.group_b == "y")].iloc[0]
    assert (xy.n_a, xy.n_b) == (3, 2)
    assert xy.p_a_ge_b == pytest.approx(4 / 6)
    assert xy.p_a_gt_b == pytest.approx(2 / 6)
    assert xy.auc == pytest.approx(0.5)
    yx = t[(t.group_a == "y") & (t.group_b == "x")].iloc[0]
    assert yx.p_a_ge_b == pytest.approx(4 / 6) and yx.p_a_gt_b == pytest.approx(2 / 6)
    zx = t[(t.group_a == "z") & (t.group_b == "x")].iloc[0]
    assert zx.n_a == 1  # the NaN score is dropped
    assert zx.p_a_ge_b == 1.0


def test_prob_table_errors_name_the_problem():
    with pytest.raises(KeyError, match="no column 'score_p95'"):
        prob_table(per_image(), value="score_p95")
    one = per_image()[per_image().group == "x"]
    with pytest.raises(ValueError, match=re.escape("found ['x']")):
        prob_table(one, value="score_max")


def test_group_summary_numbers():
    s = group_summary(per_image(), ["score_max"])
    x = s[s.group == "x"].iloc[0]
    assert x.n == 3 and x["mean"] == 2.0 and x["std"] == pytest.approx(1.0)
    assert x.p50 == 2.0 and x.p25 == 1.5 and x.p95 == pytest.approx(2.9)
    z = s[s.group == "z"].iloc[0]
    assert z.n == 1 and z["max"] == 5.0 and np.isnan(z["std"])


def test_group_ecdf_steps():
    e = group_ecdf(per_image(), value="score_max")
    x = e[e.group == "x"]
    np.testing.assert_allclose(x.x, [1, 2, 3])
    np.testing.assert_allclose(x.ecdf, [1 / 3, 2 / 3, 1])
    y = e[e.group == "y"]
    np.testing.assert_allclose(y.ecdf, [1.0])
