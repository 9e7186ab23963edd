from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from audit.analysis.regression import fit_saliency_regression, fit_win_regression

BETA, GAMMA, DELTA = 0.4, 0.3, 0.6  # white vs black, first slot, log-area difference


@pytest.fixture(scope="module")
def planted():
    rng = np.random.default_rng(11)
    n_img, n_trials = 240, 2500
    ids = np.array([f"i{i}" for i in range(n_img)])
    group = np.where(np.arange(n_img) < n_img // 2, "black", "white")
    log_area = rng.normal(12.0, 0.5, n_img)
    a = rng.integers(0, n_img // 2, n_trials)
    b = rng.integers(n_img // 2, n_img, n_trials)
    swap = rng.random(n_trials) < 0.5
    ia, ib = np.where(swap, b, a), np.where(swap, a, b)
    parts = []
    for order in (0, 1):
        pos = 1.0 if order == 0 else -1.0
        lin = (BETA * ((group[ia] == "white") * 1.0 - (group[ib] == "white"))
               + GAMMA * pos + DELTA * (log_area[ia] - log_area[ib]))
        win = rng.random(n_trials) < 1 / (1 + np.exp(-lin))
        parts.append(pd.DataFrame({
            "trial": np.arange(n_trials), "order": order, "group_a": group[ia],
            "group_b": group[ib], "image_a": ids[ia], "image_b": ids[ib],
            "position_a": "left" if order == 0 else "right",
            "outcome": np.where(win, "a", "b"),
        }))
    records = pd.concat(parts, ignore_index=True)
    covariates = pd.DataFrame({"log_area": log_area}, index=pd.Index(ids, name="id"))
    images = pd.DataFrame({"id": ids, "group": group,
                           "score_max": 1 + 0.5 * (group == "white") + 0.8 * log_area
                           + rng.normal(0, 1, n_img)})
    return records, covariates, images


@pytest.mark.parametrize("cluster", ["dyadic", "image_a", "both"])
def test_planted_group_and_position_effects_are_recovered(planted, cluster):
    records, covariates, _ = planted
    table = fit_win_regression(records, covariates=covariates, cluster=cluster,
                               standardise=False).set_index("term")
    assert (table["model"] == "mechanism").all()
    truth = {"group_white": BETA, "position": GAMMA, "d_log_area": DELTA}
    for term, value in truth.items():
        row = table.loc[term]
        assert row["estimate"] > 0 and row["p_value"] < 1e-6, term
        assert row["ci_low"] < value < row["ci_high"], (term, row["ci_low"], row["ci_high"])
        assert row["odds_ratio"] == pytest.approx(np.exp(row["estimate"]))
    assert table["n"].iloc[0] == 5000
    assert table["n_clusters"].iloc[0] == 240  # A/B sides are randomised: all images on both


def test_standardised_covariate_is_per_sd_and_headline_has_no_covariates(planted):
    records, covariates, _ = planted
    raw = fit_win_regression(records, covariates=covariates, standardise=False)
    std = fit_win_regression(records, covariates=covariates).set_index("term")
    used = pd.unique(pd.concat([records["image_a"], records["image_b"]]).astype(str))
    sd = covariates["log_area"].reindex(used).std()
    raw = raw.set_index("term")
    assert std.loc["d_log_area_per_sd", "estimate"] == pytest.approx(
        raw.loc["d_log_area", "estimate"] * sd, rel=1e-6)
    assert std.loc["group_white", "estimate"] == pytest.approx(
        raw.loc["group_white", "estimate"], rel=1e-6)
    headline = fit_win_regression(records)
    assert set(headline["term"]) == {"group_white", "position"}
    assert (headline["model"] == "total effect").all()


def test_no_planted_effect_gives_interval_covering_zero(planted):
    records, _, _ = planted
    rng = np.random.default_rng(3)
    null = records.assign(outcome=np.where(rng.random(len(records)) < 0.5, "a", "b"))
    row = fit_win_regression(null).set_index("term").loc["group_white"]
    assert row["ci_low"] < 0 < row["ci_high"]


def test_saliency_ols_with_hc3_recovers_group_and_covariate(planted):
    _, covariates, images = planted
    table = fit_saliency_regression(images, covariates=covariates).set_index("term")
    assert table.loc["group_white", "ci_low"] < 0.5 < table.loc["group_white", "ci_high"]
    assert table.loc["log_area", "ci_low"] < 0.8 < table.loc["log_area", "ci_high"]
    assert (table["cov_type"] == "HC3").all() and table["odds_ratio"].isna().all()


def test_bad_cluster_option_names_the_key(planted):
    with pytest.raises(ValueError, match="analysis.cluster"):
        fit_win_regression(planted[0], cluster="image")
