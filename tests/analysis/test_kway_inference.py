"""Image-aware k-way shares: known answers for the k-image sandwich and bootstrap (issue 10)."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
from scipy.special import softmax

from audit.analysis.inference import (
    dyadic_meat,
    kway_image_codes,
    kway_meat,
    kway_pigeonhole_bootstrap,
    kway_share_inference,
    rate_inference,
)
from audit.analysis.kway import compute_kway_shares


def kway_records(m: int, n: int, *, k: int = 4, sigma: float = 1.0, theta=None,
                 gamma: float = 0.0, seed: int = 0) -> pd.DataFrame:
    """n composites, one of m images per group each, slots permuted, winner ~ softmax."""
    rng = np.random.default_rng(seed)
    groups = [f"g{j}" for j in range(k)]
    theta = np.zeros(k) if theta is None else np.asarray(theta, dtype=float)
    strength = rng.normal(0.0, sigma, (k, m))
    picks = rng.integers(0, m, (n, k))
    perms = np.argsort(rng.random((n, k)), axis=1)  # slot s shows group perms[:, s]
    util = strength[perms, np.take_along_axis(picks, perms, axis=1)] + theta[perms]
    util = util + gamma * np.linspace(1, -1, k)[None, :]
    slot = (rng.random(n)[:, None] > np.cumsum(softmax(util, axis=1), axis=1)).sum(axis=1)
    slot = np.minimum(slot, k - 1)
    g_lists = [[groups[j] for j in p] for p in perms]
    i_lists = [[f"{groups[j]}/{picks[r, j]}" for j in p] for r, p in enumerate(perms)]
    return pd.DataFrame({
        "trial": np.arange(n), "k": k, "groups": g_lists, "images": i_lists, "outcome": "win",
        "winner_group": [g[s] for g, s in zip(g_lists, slot, strict=True)],
        "winner_slot": pd.array(slot, dtype="Int64"),
    })


def brute_meat(s: np.ndarray, images: np.ndarray) -> float:
    sets = [set(r) for r in images]
    return float(sum(s[i] * s[j] for i in range(len(s)) for j in range(len(s))
                     if sets[i] & sets[j]))


def test_meat_is_the_double_sum_over_rows_sharing_an_image():
    rng = np.random.default_rng(1)
    images = rng.integers(0, 30, (250, 3))  # one pool: overlaps across slots and duplicates
    s = rng.normal(size=250)
    codes, n_img = kway_image_codes(images)
    assert n_img == len(np.unique(images))
    assert kway_meat(s, codes) == pytest.approx(brute_meat(s, images), rel=1e-12)
    # several estimates at once: the diagonal, one column at a time
    s2 = np.column_stack([s, s**2 - 1])
    both = kway_meat(s2, codes)
    assert both[1] == pytest.approx(brute_meat(s2[:, 1], images), rel=1e-12)


def test_k2_meat_and_share_variance_equal_the_dyadic_ones():
    rng = np.random.default_rng(2)
    img = np.column_stack([rng.integers(0, 12, 400), 100 + rng.integers(0, 9, 400)])
    s = rng.normal(size=400)
    codes, _ = kway_image_codes(img)
    assert kway_meat(s, codes) == pytest.approx(dyadic_meat(s, img[:, 0], img[:, 1])[0],
                                                rel=1e-12)
    # the share of group x in k = 2 composites is the pairwise rate of x vs y
    recs = kway_records(m=8, n=300, k=2, sigma=1.5, gamma=0.4, seed=3)
    table = compute_kway_shares(recs).set_index(["by", "level"])
    x_img = [i[g.index("g0")] for g, i in zip(recs["groups"], recs["images"], strict=True)]
    y_img = [i[g.index("g1")] for g, i in zip(recs["groups"], recs["images"], strict=True)]
    ref = rate_inference((recs["winner_group"] == "g0").to_numpy(float), x_img, y_img,
                         group_a=np.full(300, "g0"), group_b=np.full(300, "g1"))
    row = table.loc[("group", "g0")]
    assert row["se"] == pytest.approx(float(ref["se"][0]), rel=1e-12)
    assert row["var_pair"] == pytest.approx(float(ref["var_pair"][0]), rel=1e-12)
    assert row["se"] > 1.2 * np.sqrt(row["share"] * (1 - row["share"]) / 300)  # deff > 1.4


def test_every_image_once_gives_the_binomial_variance():
    recs = kway_records(m=1000, n=200, k=3, seed=4)
    recs["images"] = [[f"{g}-{t}" for g in gs] for gs, t in zip(recs["groups"], recs["trial"],
                                                                   strict=True)]
    table = compute_kway_shares(recs)
    share = table["share"].to_numpy()
    g = 3 * 200
    assert table["se"].to_numpy() ** 2 == pytest.approx(share * (1 - share) / 200 * g / (g - 1),
                                                        rel=1e-12)
    assert table["deff"].to_numpy() == pytest.approx(np.full(6, g / (g - 1)), rel=1e-12)
    assert (table["n_images"] == g).all() and (table["inference"] == "dyadic").all()


def test_hand_computed_k3_example():
    # r1 {x1,y1,z1} x wins; r2 {x1,y2,z2} y; r3 {x2,y1,z1} x; r4 {x3,y3,z3} z.
    # correlated pairs: (r1, r2) share x1, (r1, r3) share y1 and z1 (counted once).
    # z: s = (-1/4, -1/4, -1/4, 3/4): M = 3/4 + 2/16 + 2/16 = 1, G = 9 images: var = 9/8/16.
    # y: s = (-1/4, 3/4, -1/4, -1/4): M = 3/4 - 6/16 + 2/16 = 1/2 < the trial-level floor
    #    Σ s² = 3/4, so var = 3/4 * 9/8 / 16.
    recs = pd.DataFrame({
        "k": 3, "outcome": "win",
        "groups": [["x", "y", "z"], ["y", "z", "x"], ["z", "x", "y"], ["x", "y", "z"]],
        "images": [["x1", "y1", "z1"], ["y2", "z2", "x1"], ["z1", "x2", "y1"],
                   ["x3", "y3", "z3"]],
        "winner_group": ["x", "y", "x", "z"], "winner_slot": [0, 0, 1, 2],
    })
    table = compute_kway_shares(recs, margin=0.05).set_index(["by", "level"])
    var = (table["se"] ** 2).to_dict()
    assert var[("group", "z")] == pytest.approx(9 / 128, rel=1e-12)
    assert var[("group", "x")] == pytest.approx(9 / 128, rel=1e-12)  # s = ±1/2: M = 1
    assert var[("group", "y")] == pytest.approx(27 / 512, rel=1e-12)
    assert table.loc[("group", "y"), "var_image"] == pytest.approx(0.0, abs=1e-15)
    assert table.loc[("group", "x"), "share"] == 0.5
    # t reference with 3 images per group - 1 = 2 df
    se = np.sqrt(9 / 128)
    p = 2 * __import__("scipy.stats").stats.t.sf((0.5 - 1 / 3) / se, 2)
    assert table.loc[("group", "x"), "p_value"] == pytest.approx(p, rel=1e-10)
    assert set(table["verdict"]) == {"inconclusive"}
    assert table["family"].str.startswith("kway_shares by").all()


def brute_boot_meat(s: np.ndarray, images: np.ndarray) -> float:
    sets = [set(r) for r in images]
    w = np.array([[2.0 ** len(a & b) - 1 for b in sets] for a in sets])
    return float(s @ w @ s)


def test_positive_signs_give_the_bootstrap_weights():
    rng = np.random.default_rng(11)
    images = rng.integers(0, 25, (200, 3))
    s = rng.normal(size=200)
    codes, _ = kway_image_codes(images)
    assert kway_meat(s, codes, alternating=False) == pytest.approx(brute_boot_meat(s, images),
                                                                   rel=1e-12)


def test_bootstrap_is_seeded_and_has_its_known_conservative_variance():
    recs = kway_records(m=30, n=800, sigma=1.0, gamma=0.3, seed=5)
    kw = {"inference": "bootstrap", "n_boot": 400}
    a = compute_kway_shares(recs, seed=7, **kw)
    b = compute_kway_shares(recs, seed=7, **kw)
    c = compute_kway_shares(recs, seed=8, **kw)
    pd.testing.assert_frame_equal(a, b)
    assert not np.allclose(a["se"], c["se"])
    assert (a["inference"] == "bootstrap").all() and (a["ci_method"] == "percentile").all()
    # the replicates' variance is the all-plus-signs meat (a row counted 2^4 - 1 = 15 times)
    groups = a[a["by"] == "group"]
    y = np.column_stack([(recs["winner_group"] == g).to_numpy(float) for g in groups["level"]])
    codes, _ = kway_image_codes(np.asarray(list(recs["images"])))
    expected = np.sqrt(kway_meat(y - y.mean(axis=0), codes, alternating=False)) / 800
    assert groups["se"].to_numpy() == pytest.approx(expected, rel=0.12)
    # ... so here, with 27 composites per image, it is 2x the sandwich: conservative
    dy = compute_kway_shares(recs)
    assert np.all(a["se"].to_numpy() > 1.5 * dy["se"].to_numpy())
    # recurring images widen the group shares' intervals; slots are randomised over images
    assert dy.loc[dy["by"] == "group", "deff"].min() > 2
    assert dy.loc[dy["by"] == "slot", "deff"].max() < 1.3


def test_bootstrap_approximates_the_sandwich_when_image_effects_dominate():
    recs = kway_records(m=10, n=3000, sigma=2.0, gamma=0.3, seed=12)
    boot = compute_kway_shares(recs, inference="bootstrap", n_boot=300, seed=1)
    dy = compute_kway_shares(recs)
    group = (dy["by"] == "group").to_numpy()
    ratio = boot["se"].to_numpy()[group] / dy["se"].to_numpy()[group]
    assert np.all((ratio > 0.95) & (ratio < 1.4)), ratio
    assert dy.loc[group, "deff"].min() > 10


def test_bootstrap_k2_is_the_pairwise_pigeonhole_weighting():
    # one replicate's multiplicities are the product of the k draw counts
    codes = np.array([[0, 2], [1, 2], [0, 3]])
    reps = kway_pigeonhole_bootstrap([1.0, 0.0, 1.0], codes, [0, 0, 1, 1], n_boot=300, seed=1)
    assert reps.shape == (300, 1)
    finite = reps[np.isfinite(reps[:, 0]), 0]
    assert set(np.round(finite, 6)) <= {0.0, 1.0, 0.5, round(2 / 3, 6), round(1 / 3, 6),
                                         0.8, 0.2, 0.75, 0.25}
    assert 0.4 < finite.mean() < 0.85


def test_planted_group_effect_is_a_disparity_and_no_effect_parity():
    planted = compute_kway_shares(kway_records(m=200, n=4000, theta=[0.8, 0, 0, 0], seed=6))
    row = planted.set_index(["by", "level"]).loc[("group", "g0")]
    assert row["verdict"] == "disparity" and row["favoured"] == "g0"
    null = compute_kway_shares(kway_records(m=400, n=8000, sigma=0.5, gamma=0.6, seed=7),
                               margin=0.05)
    groups = null[null["by"] == "group"]
    assert (groups["verdict"] == "parity").all()
    slots = null[null["by"] == "slot"].set_index("level")
    assert slots.loc["0", "verdict"] == "disparity" and slots.loc["0", "share"] > 0.25


def test_large_k_falls_back_to_the_bootstrap(caplog):
    recs = kway_records(m=5, n=60, k=9, seed=8)
    with caplog.at_level(logging.WARNING):
        table = compute_kway_shares(recs, n_boot=50)
    assert (table["inference"] == "bootstrap").all()
    assert sum("inference=bootstrap" in r.getMessage() for r in caplog.records) == 2
    with pytest.raises(ValueError, match="exceeds 8"):
        kway_meat(np.zeros(3), np.zeros((3, 9), dtype=int))


def test_independent_is_the_old_composite_level_table():
    recs = kway_records(m=10, n=120, seed=9)
    ind = compute_kway_shares(recs, inference="independent")
    assert (ind["inference"] == "independent").all() and (ind["ci_method"] == "wilson").all()
    assert ind["deff"].to_numpy() == pytest.approx(np.ones(8))
    no_images = compute_kway_shares(recs.drop(columns="images"))
    assert (no_images["inference"] == "independent").all()
    pd.testing.assert_frame_equal(no_images.drop(columns="n_images"),
                                  ind.drop(columns="n_images"))
    with pytest.raises(ValueError, match="analysis.inference"):
        compute_kway_shares(recs, inference="robust")


def test_degenerate_share_gets_the_add_half_floor():
    y = np.column_stack([np.ones(6), np.zeros(6)])
    images = [[f"a{i % 3}", f"b{i % 2}"] for i in range(6)]
    out = kway_share_inference(y, images, [["a", "b"]] * 6)
    n_sets = len({tuple(i) for i in images})
    p_half = 6.5 / 7
    assert out["se"] == pytest.approx(np.full(2, np.sqrt(p_half * (1 - p_half) / n_sets)))


def test_few_composites_and_a_group_that_never_wins_stay_finite():
    # the pipeline's all_groups smoke run: 4 composites, one group never wins (share 0)
    recs = kway_records(m=3, n=4, k=3, seed=13)
    recs["winner_group"] = recs["groups"].map(lambda g: g[0] if "g2" != g[0] else g[1])
    recs["winner_slot"] = pd.array([g.index(w) for g, w in zip(recs["groups"],
                                                                recs["winner_group"],
                                                                strict=True)], dtype="Int64")
    table = compute_kway_shares(recs).set_index(["by", "level"])
    row = table.loc[("group", "g2")]
    assert row["share"] == 0.0 and np.isfinite(row["se"]) and row["se"] > 0
    assert row["verdict"] == "inconclusive"
