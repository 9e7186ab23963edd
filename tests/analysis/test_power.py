from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binomtest

from audit.analysis.power import exact_critical_count, exact_power, power_table, trials_needed


def test_normal_approximation_hand_value():
    # ((1.95996 * 0.5 + 0.84162 * sqrt(0.6 * 0.4)) / 0.1)^2 = 193.07 -> 194
    assert trials_needed(0.1, method="normal") == 194


def test_critical_count_matches_scipy_binomtest():
    for n in (20, 101, 200, 1000):
        c = exact_critical_count(n, 0.05)
        assert binomtest(c, n).pvalue <= 0.05 < binomtest(c + 1, n).pvalue


def test_exact_search_is_smallest_n_reaching_power_and_holm_needs_more():
    n = trials_needed(0.1, k=1)
    assert exact_power(n, 0.1, alpha=0.05) >= 0.8
    assert all(exact_power(m, 0.1, alpha=0.05) < 0.8 for m in range(n - 40, n))
    assert trials_needed(0.1, k=6) > n


def test_power_verified_by_simulation():
    n = trials_needed(0.05, k=6, alpha=0.05, power=0.8)
    rng = np.random.default_rng(5)
    wins = rng.binomial(n, 0.55, size=20000)
    c = exact_critical_count(n, 0.05 / 6)
    rejected = np.minimum(wins, n - wins) <= c
    assert rejected.mean() == pytest.approx(0.8, abs=0.015)
    # and a spot check that the closed-form rejection rule equals scipy's test
    for w in wins[:20]:
        assert (binomtest(int(w), n).pvalue <= 0.05 / 6) == (min(w, n - w) <= c)


def test_power_table_columns_and_totals():
    table = power_table([0.05, 0.1], k=6)
    assert list(table["delta"]) == [0.05, 0.1]
    assert (table["total_exact"] == table["n_exact"] * 6).all()
    assert table["alpha_per_test"].tolist() == pytest.approx([0.05 / 6] * 2)
    assert table["n_exact"].iloc[0] > table["n_exact"].iloc[1]


def test_invalid_delta_is_rejected():
    with pytest.raises(ValueError, match="delta must satisfy"):
        trials_needed(0.6)


def test_design_power_says_when_only_more_images_help():
    import math

    import pandas as pd
    from scipy.stats import norm

    from audit.analysis.power import power_table

    # 10 images per group, 100 trials: tau2 = 0.01 * 10, omega2 = 0.0001 * 100
    wr = pd.DataFrame({"n_images_a": [10], "n_images_b": [10], "n_trials": [100],
                       "var_image": [0.01], "var_pair": [0.0001], "deff": [5.0]})
    row = power_table([0.05, 0.4], k=1, win_rates=wr).set_index("delta")
    target = (0.05 / (norm.ppf(0.975) + norm.ppf(0.8))) ** 2
    small = row.loc[0.05]
    assert small["only_more_images"] and math.isinf(small["trials_needed"])
    assert small["images_needed_unlimited_trials"] == math.ceil(0.1 / target)
    assert small["images_needed"] == math.ceil(0.1 / (target - 0.01 / 100))
    big = row.loc[0.4]
    assert not big["only_more_images"] and big["advice"] == "this design already has the power"
