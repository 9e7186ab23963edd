from __future__ import annotations

import pandas as pd
import pytest
from scipy.stats import binomtest

from audit.analysis.position import compute_position_baseline, compute_position_effect


def test_baseline_share_of_first_slot_with_exact_test(make_records):
    recs = make_records({("black_female", "black_female"): (30, 20, 10, 0)})
    table = compute_position_baseline(recs, inference="independent")
    overall = table[table["scope"] == "all"].iloc[0]
    # order 0: A first wins 20/30 -> first slot 20; order 1: A (second) wins 10 -> first 20
    assert (overall["n"], overall["wins_first"]) == (60, 40)
    assert overall["p_value"] == pytest.approx(binomtest(40, 60).pvalue)
    assert overall["ci_low"] < 2 / 3 < overall["ci_high"]


def test_paired_position_estimate_counts_discordant_trials(make_records):
    # pair 1, 40 trials: A wins first in trials 0-29, wins second in 0-9 -> trials 10-29 the
    # first slot won both orders (20); 0-9 and 30-39 one image won both (concordant).
    # pair 2, 20 trials: A wins first in 0-4, second in 0-14 -> trials 5-14 second slot won both.
    recs = make_records({
        ("black_female", "white_male"): (40, 30, 10, 0),
        ("black_male", "white_female"): (20, 5, 15, 0),
    })
    table = compute_position_effect(recs).set_index("source")
    paired = table.loc["counterbalanced_paired"]
    assert (paired["n"], paired["wins_first"]) == (30, 20)
    # discordant odds 20:10 = exp(2γ), so exp(γ) = sqrt(2) and the first-slot rate expit(γ)
    assert paired["odds_ratio"] == pytest.approx(2.0 ** 0.5)
    assert paired["rate_first"] == pytest.approx(2.0 ** 0.5 / (1 + 2.0 ** 0.5))
    assert paired["p_value"] == pytest.approx(binomtest(20, 30).pvalue)
    marginal = table.loc["counterbalanced_marginal"]
    assert (marginal["n"], marginal["wins_first"]) == (120, 60 + 10)


def test_no_cross_group_rows_give_empty_table(make_records):
    recs = make_records({("x", "x"): (3, 1, 1, 0)})
    assert compute_position_effect(recs).empty
    assert isinstance(compute_position_baseline(pd.DataFrame(
        {"group_a": [], "group_b": [], "outcome": []})), pd.DataFrame)


def test_baseline_pairs_the_two_orders_of_a_trial():
    # 30 trials, each a pair of two distinct images. In 22 the stronger image wins in both
    # orders ("first slot won" once and once not); in 4 the first slot wins both orders, in 4
    # the second: no net position effect. Pairing the orders leaves only the 8 discordant
    # trials as noise; the independent SE is the binomial one sqrt(.25 / 60).
    rows = []
    for t in range(30):
        for order in (0, 1):
            rows.append({"trial": t, "order": order, "design": "baseline", "group_a": "g",
                         "group_b": "g", "image_a": f"a{t}", "image_b": f"b{t}",
                         "position_a": "left" if order == 0 else "right",
                         "outcome": "a" if t >= 8 or (t < 4) == (order == 0) else "b"})
    recs = pd.DataFrame(rows)
    paired = compute_position_baseline(recs).set_index("scope").loc["all"]
    indep = compute_position_baseline(recs, inference="independent").set_index("scope").loc["all"]
    assert paired["rate_first"] == indep["rate_first"] == 0.5
    assert indep["se"] == pytest.approx((0.25 / 60) ** 0.5)
    # by hand: scores ±0.5 cancel within concordant trials; each discordant trial's dyad sum
    # is ±1, images are used once, so M = Σ_g S_g² - Σ_d S_d² = 16 - 8, times G/(G-1) = 60/59
    assert paired["se"] == pytest.approx((8 * 60 / 59 / 60**2) ** 0.5)
    assert paired["verdict"] == indep["verdict"] == "inconclusive"
    assert paired["p_tost"] < indep["p_tost"]


def test_baseline_without_any_departure_gets_a_half_pair_floor_not_a_zero_interval():
    # 40 trials of two distinct images; in every one the same image wins both orders, so
    # "first slot won" is 1 then 0 and every score cancels within its trial: the dyadic
    # variance is exactly 0. A zero-width interval would claim certainty; the floor is half
    # a trial departing fully: 0.5² · ½ / 41 / 40.
    rows = [{"trial": t, "order": order, "design": "baseline", "group_a": "g", "group_b": "g",
             "image_a": f"a{t}", "image_b": f"b{t}",
             "position_a": "left" if order == 0 else "right", "outcome": "a"}
            for t in range(40) for order in (0, 1)]
    row = compute_position_baseline(pd.DataFrame(rows)).set_index("scope").loc["all"]
    assert row["rate_first"] == 0.5
    assert row["se"] == pytest.approx((0.25 * 0.5 / 41 / 40) ** 0.5)
    assert row["ci_low"] < 0.5 < row["ci_high"]
    assert row["p_value"] == pytest.approx(1.0)
    # 40 concordant trials of 80 images are enough to call position parity within ±5 points
    assert row["verdict"] == "parity"
