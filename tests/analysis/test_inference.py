from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

from audit.analysis.bradley_terry import NOT_IDENTIFIABLE, fit_bradley_terry
from audit.analysis.inference import (
    dyadic_mean,
    dyadic_meat,
    image_codes,
    pair_rate_table,
    rate_inference,
)
from audit.analysis.verdicts import tost_p_values
from audit.analysis.win_rates import compute_win_rates


def test_dyadic_variance_equals_hand_computed_value_on_tiny_table():
    # 3 trials of groups x vs y, both orders; image x1 recurs in trials 0 and 1.
    #   trial 0: (x1, y1) orders won a, a     trial 1: (x1, y2) a, b     trial 2: (x2, y1) b, b
    y = np.array([1, 1, 1, 0, 0, 0], dtype=float)
    a = ["x1", "x1", "x1", "x1", "x2", "x2"]
    b = ["y1", "y1", "y2", "y2", "y1", "y1"]
    ca, cb, g = image_codes(a, b)
    out = dyadic_mean(y, ca, cb)
    # mean 1/2, scores s = ±1/2. Image sums: x1 = 1, x2 = -1, y1 = 1 - 1 = 0, y2 = 0 -> Σ S_g² = 2.
    # Dyads: (x1,y1) = 1, (x1,y2) = 0, (x2,y1) = -1 -> Σ S_d² = 2. Pair (trial) meat = 2.
    # M = 2 - 2 = 0 < pair meat, so the variance is floored at the paired one:
    # 2 * G/(G-1) / n² with G = 4 images, n = 6.
    assert g == 4
    assert out["mean"][0] == 0.5
    assert out["var_pair"][0] == pytest.approx(2 * 4 / 3 / 36)
    assert out["var"][0] == pytest.approx(2 * 4 / 3 / 36)
    # raw meat without the floor and factor, on a table where images recur positively:
    # rows (x1,y1)=+.5, (x1,y2)=+.5, (x2,y3)=-.5, (x2,y4)=-.5 -> S_x1 = 1, S_x2 = -1, each y ±.5
    meat = dyadic_meat([0.5, 0.5, -0.5, -0.5], [0, 0, 1, 1], [2, 3, 4, 5])
    assert meat[0] == pytest.approx((1 + 1 + 4 * 0.25) - 4 * 0.25)


def test_every_image_once_and_one_order_reduces_to_the_binomial_variance():
    rng = np.random.default_rng(1)
    n = 400
    y = (rng.random(n) < 0.3).astype(float)
    ca, cb = np.arange(n), np.arange(n, 2 * n)
    out = dyadic_mean(y, ca, cb, small_sample=False)
    p = y.mean()
    assert out["var"][0] == pytest.approx(p * (1 - p) / n, rel=1e-12)
    # with the customary G/(G-1) factor, the binomial variance times 2n/(2n-1)
    scaled = dyadic_mean(y, ca, cb)["var"][0]
    assert scaled == pytest.approx(p * (1 - p) / n * (2 * n) / (2 * n - 1), rel=1e-12)


def test_several_units_at_once_match_one_at_a_time():
    rng = np.random.default_rng(2)
    n = 300
    y = (rng.random(n) < 0.6).astype(float)
    ca, cb = rng.integers(0, 20, n), rng.integers(20, 40, n)
    unit = rng.integers(0, 3, n)
    together = dyadic_mean(y, ca, cb, unit=unit)
    for u in range(3):
        alone = dyadic_mean(y[unit == u], ca[unit == u], cb[unit == u])
        assert together["var"][u] == pytest.approx(alone["var"][0], rel=1e-12)


def test_bootstrap_is_seeded_and_reproducible():
    rng = np.random.default_rng(3)
    n = 1200
    ia, ib = rng.integers(0, 40, n), rng.integers(0, 40, n)
    u = rng.normal(0, 1.5, 80)
    y = (rng.random(n) < expit(u[ia] - u[40 + ib])).astype(float)
    a = np.char.add("x", ia.astype(str))
    b = np.char.add("y", ib.astype(str))
    kw = {"inference": "bootstrap", "n_boot": 200}
    one = rate_inference(y, a, b, seed=5, **kw)
    two = rate_inference(y, a, b, seed=5, **kw)
    other = rate_inference(y, a, b, seed=6, **kw)
    assert one["se"][0] == two["se"][0] and one["ci_low"][0] == two["ci_low"][0]
    assert one["se"][0] != other["se"][0]
    # with image effects both image-aware SEs are well above the binomial one and close to each
    # other (the pigeonhole bootstrap counts the row-level noise more than once: a bit larger)
    dyadic = rate_inference(y, a, b, inference="dyadic")["se"][0]
    binomial = rate_inference(y, a, b, inference="independent")["se"][0]
    assert dyadic > 1.5 * binomial
    assert dyadic * 0.8 < one["se"][0] < dyadic * 1.5


def _simulate(m, trials, sigma, *, theta=0.0, seed=0, swap=True):
    rng = np.random.default_rng(seed)
    ua, ub = rng.normal(0, sigma, m), rng.normal(0, sigma, m)
    ia, ib = rng.integers(0, m, trials), rng.integers(0, m, trials)
    rows = []
    for order in (0, 1) if swap else (0,):
        pos = 1.0 if order == 0 else -1.0
        won = rng.random(trials) < expit(theta + ua[ia] - ub[ib] + 0.3 * pos)
        rows.append(pd.DataFrame({
            "trial": np.arange(trials), "order": order, "design": "pairwise",
            "group_a": "x", "group_b": "y", "image_a": np.char.add("x", ia.astype(str)),
            "image_b": np.char.add("y", ib.astype(str)),
            "position_a": "left" if order == 0 else "right",
            "outcome": np.where(won, "a", "b")}))
    return pd.concat(rows, ignore_index=True)


@pytest.mark.slow
def test_simulated_null_with_recurring_images_rejects_near_nominal_rate():
    # 15 images per group recur across 150 trials: the composite-level exact test is far too
    # liberal, the image-aware default stays near alpha (bench/calibration.py does it at scale).
    dyadic, independent = [], []
    for r in range(80):
        rec = _simulate(15, 150, 1.5, seed=r)
        dyadic.append(compute_win_rates(rec)["p_value"].iloc[0] < 0.05)
        independent.append(compute_win_rates(rec, inference="independent")["p_value"].iloc[0]
                           < 0.05)
    assert np.mean(dyadic) < 0.125
    assert np.mean(independent) > 0.3


def test_planted_effect_gives_disparity_favouring_the_right_group():
    rec = _simulate(60, 600, 0.5, theta=-0.8, seed=11)
    row = compute_win_rates(rec).iloc[0]
    assert row["verdict"] == "disparity" and row["favoured"] == "y"
    assert row["deff"] > 1 and row["n_eff"] < row["n"]
    assert (row["n_trials"], row["n_images_a"], row["n_images_b"]) == (600, 60, 60)


def test_tost_parity_needs_the_interval_inside_the_margin():
    p = tost_p_values([0.5, 0.5, 0.53], [0.01, 0.04, 0.01], margin=0.05)
    assert p[0] < 0.001 and p[1] > 0.05 and p[2] == pytest.approx(0.0228, abs=1e-3)


def test_pair_rate_table_takes_any_outcome_column():
    rec = _simulate(30, 200, 0.5, seed=4)
    other = rec.drop(columns="outcome").assign(kept_face=rec["outcome"])
    a = pair_rate_table(other, outcome_col="kept_face")
    b = compute_win_rates(rec)
    pd.testing.assert_frame_equal(a, b)
    with pytest.raises(ValueError, match="kept"):
        pair_rate_table(rec, outcome_col="kept")


def _bt_records(seed=0, *, swap=True, pairs=None):
    rng = np.random.default_rng(seed)
    theta = {"a": 0.0, "b": 0.5, "c": 1.0, "d": -0.5}
    pairs = pairs or [("a", "b"), ("a", "c"), ("a", "d"), ("b", "c"), ("b", "d"), ("c", "d")]
    parts, t0 = [], 0
    for ga, gb in pairs:
        n = 400
        ia, ib = rng.integers(0, 40, n), rng.integers(0, 40, n)
        for order in (0, 1) if swap else (0,):
            pos = 1.0 if order == 0 else -1.0
            won = rng.random(n) < expit(theta[ga] - theta[gb] + 0.4 * pos)
            parts.append(pd.DataFrame({
                "trial": t0 + np.arange(n), "order": order, "design": "pairwise",
                "group_a": ga, "group_b": gb, "image_a": np.char.add(ga, ia.astype(str)),
                "image_b": np.char.add(gb, ib.astype(str)),
                "position_a": "left" if order == 0 else "right",
                "outcome": np.where(won, "a", "b")}))
        t0 += n
    return pd.concat(parts, ignore_index=True)


def test_bradley_terry_recovers_abilities_position_and_predicts_unrun_pairs():
    rec = _bt_records(pairs=[("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")])
    bt = fit_bradley_terry(rec, groups=pd.DataFrame({"group": list("abcd")}), alpha=0.01)
    par = bt.parameters.set_index("term")
    for term, value in {"b": 0.5, "c": 1.0, "d": -0.5, "position": 0.4}.items():
        assert par.loc[term, "ci_low"] < value < par.loc[term, "ci_high"], term
    pred = bt.predictions.set_index(["group_a", "group_b"])
    never = pred.loc[("a", "d")]
    truth = 0.5 * (expit(0.5 + 0.4) + expit(0.5 - 0.4))
    assert not never["observed"] and never["ci_low"] < truth < never["ci_high"]
    assert bt.fit["df"].iloc[0] == 8 - 4 and bt.fit["p_value"].iloc[0] > 0.001


def test_bradley_terry_says_not_identifiable_for_disconnected_groups():
    rec = _bt_records(pairs=[("a", "b"), ("c", "d")], swap=False)
    bt = fit_bradley_terry(rec)
    par = bt.parameters.set_index("term")
    assert not par.loc["c", "identifiable"] and np.isnan(par.loc["c", "estimate"])
    assert par.loc["c", "note"] == NOT_IDENTIFIABLE
    assert not bt.predictions.set_index(["group_a", "group_b"]).loc[("a", "c"), "identifiable"]


def test_bradley_terry_separates_position_when_never_swapped():
    # six pairs, one order only: 3 abilities + position from 6 observed rates
    rec = _bt_records(swap=False, seed=3)
    par = fit_bradley_terry(rec).parameters.set_index("term")
    assert par.loc["position", "identifiable"]
    assert "never swapped" in par.loc["position", "note"]
    assert par.loc["position", "ci_low"] < 0.4 < par.loc["position", "ci_high"]


def test_by_columns_split_the_table_like_separate_calls():
    one = _simulate(25, 150, 0.5, seed=7).assign(cropper="one")
    two = _simulate(25, 150, 0.5, theta=0.6, seed=8).assign(cropper="two")
    both = pair_rate_table(pd.concat([one, two], ignore_index=True), by=["cropper"])
    assert list(both["cropper"]) == ["one", "two"]
    alone = compute_win_rates(two).iloc[0]
    row = both.iloc[1]
    for col in ("n", "rate", "se", "n_trials", "deff"):
        assert row[col] == pytest.approx(alone[col]), col
    assert row["family"].startswith("win_rates: 2 ")  # one family for the whole table


@pytest.mark.slow
def test_image_random_effect_check_recovers_the_image_sd():
    from audit.analysis.bradley_terry import fit_image_random_effects

    rng = np.random.default_rng(0)
    u = {g: rng.normal(0, 1.5, 20) for g in "abc"}
    theta = {"a": 0.0, "b": 0.6, "c": -0.6}
    parts, t0 = [], 0
    for ga, gb in (("a", "b"), ("a", "c"), ("b", "c")):
        n = 150
        ia, ib = rng.integers(0, 20, n), rng.integers(0, 20, n)
        for order in (0, 1):
            pos = 1 if order == 0 else -1
            won = rng.random(n) < expit(theta[ga] - theta[gb] + u[ga][ia] - u[gb][ib] + 0.4 * pos)
            parts.append(pd.DataFrame({
                "trial": t0 + np.arange(n), "order": order, "design": "pairwise",
                "group_a": ga, "group_b": gb, "image_a": np.char.add(ga, ia.astype(str)),
                "image_b": np.char.add(gb, ib.astype(str)),
                "position_a": "left" if order == 0 else "right",
                "outcome": np.where(won, "a", "b")}))
        t0 += n
    table = fit_image_random_effects(pd.concat(parts, ignore_index=True)).set_index("term")
    assert table.loc["image_sd", "ci_low"] < 1.5 < table.loc["image_sd", "ci_high"]
    assert table.loc["position", "ci_low"] < 0.4 < table.loc["position", "ci_high"]
