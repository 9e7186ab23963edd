from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binomtest
from statsmodels.stats.multitest import multipletests

from audit.analysis.win_rates import (
    add_rate_statistics,
    adjust_p_values,
    binomial_p_values,
    compute_win_rates,
    count_outcomes,
    rate_intervals,
)


def test_wilson_interval_for_60_of_100_matches_hand_computation():
    # hand: centre (0.6 + z^2/200)/(1 + z^2/100), half-width z/(1+z^2/n)*sqrt(pq/n + z^2/4n^2)
    z = 1.959963984540054
    centre = (0.6 + z**2 / 200) / (1 + z**2 / 100)
    half = z / (1 + z**2 / 100) * np.sqrt(0.24 / 100 + z**2 / 40000)
    low, high = rate_intervals([60], [100], ci_method="wilson")
    assert low[0] == pytest.approx(centre - half, abs=1e-12)
    assert high[0] == pytest.approx(centre + half, abs=1e-12)
    assert (round(low[0], 4), round(high[0], 4)) == (0.502, 0.6906)


def test_clopper_pearson_and_wald2se_intervals():
    low, high = rate_intervals([60], [100], ci_method="beta")
    assert (round(low[0], 4), round(high[0], 4)) == (0.4972, 0.6967)
    low, high = rate_intervals([60], [100], ci_method="wald2se")
    assert low[0] == pytest.approx(0.6 - 2 * np.sqrt(0.24 / 100))
    assert high[0] == pytest.approx(0.6 + 2 * np.sqrt(0.24 / 100))


def test_exact_binomial_p_values_match_scipy_and_hand_value():
    # 2 * P(X >= 60 | n=100, p=.5) = 0.056888
    assert binomial_p_values([60], [100])[0] == pytest.approx(0.0568879336, rel=1e-8)
    for k, n in [(0, 5), (3, 7), (50, 100), (4336, 10000)]:
        assert binomial_p_values([k], [n])[0] == pytest.approx(binomtest(k, n).pvalue, rel=1e-9)
    assert np.isnan(binomial_p_values([0], [0])[0])


def test_holm_and_bh_match_statsmodels_and_skip_nan():
    p = np.array([0.01, 0.04, 0.03, np.nan, 0.2])
    holm, rej = adjust_p_values(p, method="holm")
    expected = multipletests(p[~np.isnan(p)], method="holm")[1]
    np.testing.assert_allclose(holm[~np.isnan(p)], expected)
    assert np.isnan(holm[3]) and not rej[3]
    bh, _ = adjust_p_values(p, method="fdr_bh")
    np.testing.assert_allclose(bh[~np.isnan(p)], multipletests(p[~np.isnan(p)], method="fdr_bh")[1])
    np.testing.assert_allclose(holm[~np.isnan(p)], [0.04, 0.09, 0.09, 0.2])


def test_rate_statistics_report_delta_and_ratio():
    table = add_rate_statistics(pd.DataFrame({"wins_a": [60, 30], "n": [100, 40]}))
    assert table["rate"].tolist() == [0.6, 0.75]
    assert table["delta"].tolist() == pytest.approx([0.1, 0.25])
    assert table["ratio"].tolist() == pytest.approx([1.5, 3.0])
    assert table["p_adjusted"].tolist() == table["p_holm"].tolist()


def test_win_rates_pool_both_orders_and_orient_pairs(pairwise_records):
    table = compute_win_rates(pairwise_records, inference="independent").set_index(
        ["group_a", "group_b"])
    bf = table.loc[("black_female", "white_female")]
    # 50 trials: A wins 30 first, 25 second, but 2 of the second-order composites were background
    assert (bf["n"], bf["wins_a"], bf["n_background"], bf["n_total"]) == (98, 53, 2, 100)
    assert bf["rate_a_first"] == pytest.approx(30 / 50)
    assert bf["rate_a_second"] == pytest.approx(23 / 48)
    # the (white_male, black_male) pair is flipped so black_male is "a": wins 40 - (20 + 10)
    bm = table.loc[("black_male", "white_male")]
    assert (bm["n"], bm["wins_a"]) == (80, 50)
    assert bm["rate_a_first"] == pytest.approx(30 / 40)  # black_male first = order 1 rows
    assert bm["p_value"] == pytest.approx(binomtest(50, 80).pvalue)


def test_count_outcomes_keeps_background_out_of_rates(pairwise_records):
    outcomes = count_outcomes(pairwise_records)
    total = outcomes[outcomes["group_a"] == "all"].iloc[0]
    assert (total["n_total"], total["n_background"], total["n_error"]) == (180, 2, 0)
    assert total["n_a"] + total["n_b"] == 178


def test_no_decided_pair_raises_clear_error():
    recs = pd.DataFrame({"group_a": ["x"], "group_b": ["y"], "outcome": ["error"],
                         "position_a": ["left"]})
    with pytest.raises(ValueError, match="no decided comparisons"):
        compute_win_rates(recs)


def test_unknown_ci_method_is_rejected():
    with pytest.raises(ValueError, match="analysis.ci_method"):
        rate_intervals([1], [2], ci_method="exact")


def test_wilson_coverage_averaged_over_p_is_near_nominal_for_n_at_least_50():
    # Coverage at one fixed p oscillates with n (e.g. 93.2% at n=50, p=.5 is exact, not noise),
    # so the criterion is the coverage averaged over p in [0.1, 0.9], per n.
    rng = np.random.default_rng(7)
    coverages = {}
    for n in (50, 100, 400):
        p = rng.uniform(0.1, 0.9, size=40000)
        k = rng.binomial(n, p)
        low, high = rate_intervals(k, np.full(k.shape, n))
        coverages[n] = float(np.mean((low <= p) & (p <= high)))
    assert all(abs(c - 0.95) < 0.015 for c in coverages.values()), coverages


def test_own_holm_and_bh_equal_statsmodels_on_random_p_values():
    rng = np.random.default_rng(0)
    for _ in range(8):
        p = rng.uniform(0, 0.2, size=rng.integers(1, 12))
        for method in ("holm", "fdr_bh"):
            rej, adj, _, _ = multipletests(p, alpha=0.05, method=method)
            ours, ours_rej = adjust_p_values(p, method=method, alpha=0.05)
            np.testing.assert_allclose(ours, adj, rtol=1e-12)
            assert (ours_rej == rej).all()
