"""Cropper comparison statistics: dyadic SE, win rates per cropper and ratio, paired tests."""

import math

import numpy as np
import pandas as pd
import pytest

from audit.analysis.croppers import (
    crop_outcome_shares,
    cropper_summary,
    cropper_win_rates,
    dyadic_se,
    paired_cropper_differences,
    primary_records,
    undecided_measures,
)


def test_dyadic_se_hand_computed_and_binomial_when_images_are_unique():
    # 3 composites: (x,y), (y,x) [both orders of one trial], (z,w); values 1, 0, 1
    # e = (1/3, -2/3, 1/3): the trial's two rows are one cluster, the third its own:
    # M = (1/3 - 2/3)^2 + (1/3)^2 = 2/9, times G/(G-1) = 4/3; Var = M / 9
    se = dyadic_se([1, 0, 1], ["x", "y", "z"], ["y", "x", "w"])
    assert se == pytest.approx(math.sqrt(2 / 9 * 4 / 3 / 9))
    # every composite shares image x: one cluster whose deviations sum to zero
    assert dyadic_se([1, 0, 1], ["x", "y", "x"], ["y", "x", "z"]) == 0.0
    values = np.array([1, 0, 0, 1, 1, 1, 0, 1], float)
    ids = [f"i{k}" for k in range(16)]
    se = dyadic_se(values, ids[:8], ids[8:])
    p = values.mean()
    assert se == pytest.approx(math.sqrt(p * (1 - p) / 8 * 16 / 15))
    assert math.isnan(dyadic_se([1.0], ["a"], ["b"]))


def test_dyadic_se_is_calibrated_where_the_naive_one_is_not():
    # recurring images with their own effect u_g and no overall effect: the mean is 0
    rng = np.random.default_rng(0)
    n_img, n, reps = 30, 200, 300
    reject_dyadic = reject_naive = 0
    for _ in range(reps):
        u = rng.normal(0, 1, n_img)
        a = rng.integers(0, n_img, n)
        b = (a + rng.integers(1, n_img, n)) % n_img
        x = u[a] + u[b] + rng.normal(0, 0.5, n)
        z_d = x.mean() / dyadic_se(x, a.astype(str), b.astype(str))
        z_n = x.mean() / (x.std(ddof=1) / math.sqrt(n))
        reject_dyadic += abs(z_d) > 1.96
        reject_naive += abs(z_n) > 1.96
    assert 0.02 <= reject_dyadic / reps <= 0.10
    assert reject_naive / reps > 0.4


def _crops(n_trials=40, seed=0):
    """Two groups, both orders; `biased` keeps x's image alone, `fair` keeps a random one,
    `wide` keeps both; ids as records_crops."""
    rng = np.random.default_rng(seed)
    rows = []
    for t in range(n_trials):
        ix, iy = f"x{rng.integers(10)}", f"y{rng.integers(10)}"
        for order in (0, 1):
            a_first = order == 0
            ids = {"trial": t, "order": order, "design": "pairwise", "group_a": "x",
                   "group_b": "y", "image_a": ix, "image_b": iy,
                   "position_a": "left" if a_first else "right", "aspect_ratio": 1.0,
                   "area_kept_a": 1.0, "area_kept_b": 0.0, "error": None}
            rows.append({**ids, "cropper": "biased", "crop_outcome": "a"})
            rows.append({**ids, "cropper": "fair", "crop_outcome": "ab"[rng.integers(2)]})
            rows.append({**ids, "cropper": "wide", "crop_outcome": "both"})
    return pd.DataFrame(rows)


def test_win_rates_paired_differences_and_summary_recover_a_planted_bias():
    crops = _crops()
    rates = cropper_win_rates(None, crops, group_order=["x", "y"])
    by = rates.set_index("cropper")
    assert by.loc["biased", "rate"] == 1.0 and by.loc["biased", "n"] == 80
    assert abs(by.loc["fair", "rate"] - 0.5) < 0.15 and not bool(by.loc["fair", "reject"])
    assert bool(by.loc["biased", "reject"])
    assert "wide" not in by.index  # never kept exactly one image
    shares = crop_outcome_shares(crops, group_order=["x", "y"])
    wide = shares[shares.cropper == "wide"].iloc[0]
    assert wide.share_both == 1.0 and wide.n == 80
    paired = paired_cropper_differences(crops, group_order=["x", "y"])
    row = paired[(paired.cropper_1 == "biased") & (paired.cropper_2 == "fair")].iloc[0]
    fair = crops[crops.cropper == "fair"]
    net_fair = ((fair.crop_outcome == "a").mean() - (fair.crop_outcome == "b").mean())
    assert row.net_1 == 1.0 and row.net_2 == pytest.approx(net_fair)
    assert row.difference == pytest.approx(1 - net_fair) and row.se > 0
    assert row.n == 80 and row.n_discordant == (fair.crop_outcome == "b").sum()
    assert bool(row.reject) and row.ci_low > 0.5
    summary = cropper_summary(rates, shares, undecided_measures(None, crops, rates))
    assert list(summary.cropper) == ["fair", "biased", "wide"]
    assert summary.loc[0, "most_even"] and summary.loc[1, "max_abs_delta"] == 0.5
    assert summary.loc[1, "n_disparity"] == 1 and summary.loc[2, "n_decided"] == 0
    assert summary.loc[2, "share_both"] == 1.0


def test_orientation_follows_group_order_not_the_records_a():
    crops = _crops(n_trials=6)
    flipped = crops.rename(columns={"group_a": "group_b", "group_b": "group_a",
                                    "image_a": "image_b", "image_b": "image_a"})
    flipped["crop_outcome"] = flipped["crop_outcome"].map({"a": "b", "b": "a", "both": "both"})
    flipped["position_a"] = flipped["position_a"].map({"left": "right", "right": "left"})
    for frame in (crops, flipped):
        rates = cropper_win_rates(None, frame, group_order=["x", "y"]).set_index("cropper")
        assert rates.loc["biased", "group_a"] == "x" and rates.loc["biased", "rate"] == 1.0


def test_primary_records_keep_one_cropper_and_say_so():
    records = pd.DataFrame({"cropper": ["a", "b", "a"], "outcome": ["a", "b", "a"]})
    only, note = primary_records(records, ["b", "a"])
    assert list(only.cropper) == ["b"] and "describe b" in note
    same, none = primary_records(records[records.cropper == "a"], None)
    assert none is None and len(same) == 2
