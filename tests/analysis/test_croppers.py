"""Cropper comparison statistics: image-aware means, win rates per cropper, paired tests."""

import math

import numpy as np
import pandas as pd
import pytest

from audit.analysis.croppers import (
    crop_outcome_shares,
    cropper_summary,
    cropper_win_rates,
    mean_inference,
    paired_cropper_differences,
    primary_records,
    undecided_measures,
)
from audit.analysis.inference import dyadic_mean, image_codes


def _se(values, image_a, image_b, **kw):
    n = len(values)
    return mean_inference(values, image_a, image_b, ["x"] * n, ["y"] * n, **kw)["se"]


def test_mean_inference_is_dyadic_mean_of_the_statistics_module():
    # 3 composites: (x,y), (y,x) [both orders of one trial], (z,w); values 1, 0, 1
    # e = (1/3, -2/3, 1/3): the trial's two rows are one cluster, the third its own:
    # M = (1/3 - 2/3)^2 + (1/3)^2 = 2/9, times G/(G-1) = 4/3; Var = M / 9
    se = _se([1, 0, 1], ["x", "y", "z"], ["y", "x", "w"])
    assert se == pytest.approx(math.sqrt(2 / 9 * 4 / 3 / 9))
    # recurring images, values in {-2..2} like paired differences: the same SE as dyadic_mean
    rng = np.random.default_rng(1)
    a, b = rng.integers(0, 12, 80), rng.integers(12, 24, 80)
    x = rng.integers(-2, 3, 80).astype(float)
    ca, cb, _ = image_codes(a.astype(str), b.astype(str))
    assert _se(x, a.astype(str), b.astype(str)) == pytest.approx(
        math.sqrt(dyadic_mean(x, ca, cb)["var"][0]), rel=1e-12)
    values = np.array([1, 0, 0, 1, 1, 1, 0, 1], float)
    ids = [f"i{k}" for k in range(16)]
    p = values.mean()
    assert _se(values, ids[:8], ids[8:]) == pytest.approx(math.sqrt(p * (1 - p) / 8 * 16 / 15))
    assert _se(values, ids[:8], ids[8:], inference="independent") == pytest.approx(
        values.std(ddof=1) / math.sqrt(8))
    boot = [mean_inference(x, a.astype(str), b.astype(str), ["x"] * 80, ["y"] * 80,
                           inference="bootstrap", n_boot=200, seed=s) for s in (3, 3, 4)]
    assert boot[0] == boot[1] and boot[0]["se"] != boot[2]["se"]
    assert 0.5 < boot[0]["se"] / _se(x, a.astype(str), b.astype(str)) < 2
    # all values equal: the add-one-half floor over 8 image pairs, not a zero SE
    p_half = 0.5 / 9
    assert _se(np.zeros(8), ids[:8], ids[8:]) == pytest.approx(math.sqrt(p_half * (1 - p_half)
                                                                         / 8))
    with pytest.raises(ValueError, match="analysis.inference"):
        _se(values, ids[:8], ids[8:], inference="naive")


def test_mean_inference_is_calibrated_where_the_naive_one_is_not():
    # recurring images with their own effect u_g and no overall effect: the mean is 0
    rng = np.random.default_rng(0)
    n_img, n, reps = 30, 200, 300
    reject_dyadic = reject_naive = 0
    for _ in range(reps):
        u = rng.normal(0, 1, n_img)
        a = rng.integers(0, n_img, n)
        b = (a + rng.integers(1, n_img, n)) % n_img
        x = u[a] + u[b] + rng.normal(0, 0.5, n)
        stats = mean_inference(x, a.astype(str), b.astype(str), ["g"] * n, ["g"] * n)
        reject_dyadic += stats["p_value"] < 0.05
        z_n = x.mean() / (x.std(ddof=1) / math.sqrt(n))
        reject_naive += abs(z_n) > 1.96
    assert 0.02 <= reject_dyadic / reps <= 0.10
    assert reject_naive / reps > 0.4


def test_a_planted_cropper_difference_is_detected_and_identical_croppers_give_parity():
    rng = np.random.default_rng(2)
    rows = []
    for t in range(150):
        ix, iy = f"x{rng.integers(30)}", f"y{rng.integers(30)}"
        for order in (0, 1):
            ids = {"trial": t, "order": order, "design": "pairwise", "group_a": "x",
                   "group_b": "y", "image_a": ix, "image_b": iy,
                   "position_a": "left" if order == 0 else "right", "aspect_ratio": 1.0,
                   "area_kept_a": 0.5, "area_kept_b": 0.5, "error": None}
            fair = "ab"[rng.integers(2)]
            rows.append({**ids, "cropper": "fair", "crop_outcome": fair})
            rows.append({**ids, "cropper": "twin", "crop_outcome": fair})
            # keeps x's image alone in 70% of composites, y's in 30%: net advantage +0.4
            rows.append({**ids, "cropper": "tilted",
                         "crop_outcome": "a" if rng.random() < 0.7 else "b"})
    paired = paired_cropper_differences(pd.DataFrame(rows), group_order=["x", "y"],
                                        margin=0.05)
    by = paired.set_index(["cropper_1", "cropper_2"])
    twin = by.loc[("fair", "twin")]
    assert twin.difference == 0 and twin.n_discordant == 0 and twin.verdict == "parity"
    assert twin.ci_high < 0.05 and twin.favoured is None
    tilted = by.loc[("fair", "tilted")]
    assert tilted.verdict == "disparity" and tilted.favoured == "tilted"
    assert tilted.ci_low < -0.4 + 0.5 * 0.4 and tilted.ci_high < 0  # truth -0.4 (≈ net_fair)
    assert set(paired.inference) == {"dyadic"} and paired.family.str.contains("3 cropper").all()
    # the same rows under the bootstrap and the independent approximation
    for inference in ("bootstrap", "independent"):
        other = paired_cropper_differences(pd.DataFrame(rows), group_order=["x", "y"],
                                           inference=inference, n_boot=200)
        assert list(other.verdict) == list(paired.verdict)
        assert set(other.inference) == {inference}


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
