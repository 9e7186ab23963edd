from __future__ import annotations

import math
import re

import numpy as np
import pytest

from audit.compare import policies
from audit.compare.policies import cell_slots, judge, sample_point
from audit.crop.geometry import Box
from audit.model.base import SaliencyMap

E = math.e

# 2x4 grid; cell centres at x = 8, 24, 40, 56 and y = 8, 24 (a 64x32 composite).
# Slot A covers columns 0-1, slot B column 2, column 3 is background (canvas fill).
SCORES = np.array([[0.0, 1.0, 2.0, 0.0],
                   [1.0, 3.0, 0.0, 0.0]], dtype=np.float32)
BOX_A = Box(0, 0, 32, 32)
BOX_B = Box(32, 0, 16, 32)


def make_map(scores: np.ndarray) -> SaliencyMap:
    rows, cols = scores.shape
    xs = (np.arange(cols) * 16 + 8).astype(np.float32)
    ys = (np.arange(rows) * 16 + 8).astype(np.float32)
    return SaliencyMap(np.asarray(scores, np.float32), xs, ys, (cols * 16, rows * 16),
                       (cols * 16, rows * 16))


def test_cell_slots_assigns_cells_by_centre_and_marks_background():
    slots = cell_slots(make_map(SCORES), [BOX_A, BOX_B])
    np.testing.assert_array_equal(slots, [[0, 0, 1, -1], [0, 0, 1, -1]])


def test_cell_slots_box_edge_is_exclusive_and_first_box_wins_on_overlap():
    smap = make_map(SCORES)
    # A box ending exactly at x = 24 does not hold the column centred at 24.
    np.testing.assert_array_equal(cell_slots(smap, [Box(0, 0, 24, 32)])[0], [0, -1, -1, -1])
    overlap = cell_slots(smap, [Box(0, 0, 48, 32), Box(16, 0, 48, 32)])
    np.testing.assert_array_equal(overlap[0], [0, 0, 0, 1])


def test_judge_probabilities_match_hand_computation():
    r = judge(make_map(SCORES), [BOX_A, BOX_B], temperature=1.0, top_k=2)
    # A holds scores 0,1,1,3; B holds 2,0; background 0,0.
    z = (1 + 2 * E + E**3) + (E**2 + 1) + 2
    assert r.p_sample[0] == pytest.approx((1 + 2 * E + E**3) / z, rel=1e-12)
    assert r.p_sample[1] == pytest.approx((E**2 + 1) / z, rel=1e-12)
    assert r.p_background == pytest.approx(2 / z, rel=1e-12)
    assert r.p_sample.sum() + r.p_background == pytest.approx(1.0, abs=1e-12)
    given_a = (1 + 2 * E + E**3) / (1 + 2 * E + E**3 + E**2 + 1)
    assert r.p_sample_given_slot[0] == pytest.approx(given_a, rel=1e-12)
    assert r.p_sample_given_slot[1] == pytest.approx(1 - given_a, rel=1e-12)
    # At T = 1 the mass equals the sampling probability.
    np.testing.assert_allclose(r.mass, r.p_sample, rtol=1e-12)
    assert r.mass_background == pytest.approx(2 / z, rel=1e-12)
    assert r.argmax_cell == (1, 1)
    assert r.argmax_slot == 0
    np.testing.assert_allclose(r.topk_mean, [2.0, 1.0])  # A: (3+1)/2, B: (2+0)/2
    np.testing.assert_array_equal(r.topk_share, [1.0, 0.0])
    assert r.topk_winners == (0,)
    np.testing.assert_allclose(r.score_max, [3.0, 2.0])
    np.testing.assert_array_equal(r.n_cells, [4, 2])


def test_judge_temperature_changes_sampling_but_not_mass():
    r = judge(make_map(SCORES), [BOX_A, BOX_B], temperature=2.0)
    h = math.exp(0.5)
    a, b, bg = 1 + 2 * h + h**3, h**2 + 1, 2.0
    assert r.p_sample[0] == pytest.approx(a / (a + b + bg), rel=1e-12)
    assert r.p_sample[1] == pytest.approx(b / (a + b + bg), rel=1e-12)
    z = (1 + 2 * E + E**3) + (E**2 + 1) + 2
    assert r.mass[0] == pytest.approx((1 + 2 * E + E**3) / z, rel=1e-12)
    assert r.temperature == 2.0


def test_judge_top_k_larger_than_slot_uses_all_its_cells():
    r = judge(make_map(SCORES), [BOX_A, BOX_B], top_k=5)
    np.testing.assert_allclose(r.topk_mean, [(0 + 1 + 1 + 3) / 4, (2 + 0) / 2])


def test_judge_argmax_on_background():
    scores = SCORES.copy()
    scores[0, 3] = 9.0
    r = judge(make_map(scores), [BOX_A, BOX_B])
    assert r.argmax_cell == (0, 3)
    assert r.argmax_slot == -1
    assert r.p_background > 0.9


def test_judge_argmax_ties_take_first_cell_in_row_major_order():
    scores = np.array([[0.0, 0.0, 5.0, 0.0],
                       [5.0, 0.0, 0.0, 0.0]], dtype=np.float32)
    r = judge(make_map(scores), [BOX_A, BOX_B])
    # (0, 2) in B comes before (1, 0) in A in row-major order.
    assert r.argmax_cell == (0, 2)
    assert r.argmax_slot == 1


def test_judge_topk_tie_is_shared():
    scores = np.array([[4.0, 0.0, 4.0, 0.0],
                       [0.0, 0.0, 0.0, 0.0]], dtype=np.float32)
    r = judge(make_map(scores), [BOX_A, BOX_B], top_k=1)
    np.testing.assert_array_equal(r.topk_share, [0.5, 0.5])
    assert r.topk_winners == (0, 1)
    assert r.record_columns()["p_a_topk"] == 0.5


def test_judge_large_scores_do_not_overflow():
    big = judge(make_map(SCORES + 1000.0), [BOX_A, BOX_B])
    base = judge(make_map(SCORES), [BOX_A, BOX_B])
    assert np.all(np.isfinite(big.p_sample))
    # Softmax is shift invariant (float32 rounding of 1000+x is exact for these integers).
    np.testing.assert_allclose(big.p_sample, base.p_sample, rtol=1e-12)
    np.testing.assert_allclose(big.mass, base.mass, rtol=1e-12)
    low = judge(make_map(SCORES - 1000.0), [BOX_A, BOX_B], temperature=0.01)
    assert np.isfinite(low.p_sample_given_slot).all()
    # At T = 0.01 the best A cell (3) dominates B's best (2) by a factor e^100.
    assert low.p_sample_given_slot[0] == pytest.approx(1.0, abs=1e-12)


def test_judge_empty_slot_has_zero_probability_and_nan_scores():
    r = judge(make_map(SCORES), [BOX_A, Box(500, 500, 10, 10)])
    assert r.p_sample[1] == 0.0
    assert math.isnan(r.topk_mean[1]) and math.isnan(r.score_max[1])
    assert r.n_cells[1] == 0
    assert r.p_sample_given_slot[0] == pytest.approx(1.0)
    np.testing.assert_array_equal(r.topk_share, [1.0, 0.0])


def test_judge_no_slot_cells_gives_nan_conditional():
    r = judge(make_map(SCORES), [Box(500, 500, 10, 10)])
    assert math.isnan(r.p_sample_given_slot[0])
    assert r.p_background == pytest.approx(1.0)
    np.testing.assert_array_equal(r.topk_share, [0.0])


def test_record_columns_for_two_slots():
    cols = judge(make_map(SCORES), [BOX_A, BOX_B]).record_columns()
    z = (1 + 2 * E + E**3) + (E**2 + 1) + 2
    assert cols["mass_a"] == pytest.approx((1 + 2 * E + E**3) / z)
    assert cols["mass_b"] == pytest.approx((E**2 + 1) / z)
    assert cols["score_max_a"] == 3.0 and cols["score_max_b"] == 2.0
    assert cols["p_a_topk"] == 1.0
    with pytest.raises(ValueError, match=re.escape(policies._MSG_TWO_SLOTS.format(n=1))):
        judge(make_map(SCORES), [BOX_A]).record_columns()


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf")])
def test_judge_rejects_bad_temperature(bad):
    with pytest.raises(ValueError, match="compare.temperature must be"):
        judge(make_map(SCORES), [BOX_A], temperature=bad)


def test_judge_rejects_bad_top_k_and_nan_scores():
    with pytest.raises(ValueError, match=re.escape(policies._MSG_TOP_K.format(value=0))):
        judge(make_map(SCORES), [BOX_A], top_k=0)
    bad = SCORES.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="1 non-finite score"):
        judge(make_map(bad), [BOX_A])


def test_sample_point_frequencies_match_exact_probabilities():
    smap = make_map(SCORES)
    exact = judge(smap, [BOX_A, BOX_B], temperature=1.5)
    rng = np.random.default_rng(7)
    n = 8_000
    counts = np.zeros(3)
    for _ in range(n):
        x, y, slot = sample_point(smap, rng, 1.5, boxes=[BOX_A, BOX_B])
        counts[slot] += 1  # slot -1 lands in counts[2]
        assert x in smap.xs and y in smap.ys
    freq = counts / n
    expected = [exact.p_sample[0], exact.p_sample[1], exact.p_background]
    # 4.5 binomial standard errors at n = 8000 is below 0.025.
    np.testing.assert_allclose(freq, expected, atol=0.025)


def test_sample_point_is_reproducible_and_near_argmax_at_low_temperature():
    smap = make_map(SCORES)
    a = [sample_point(smap, np.random.default_rng(3), 1.0) for _ in range(3)]
    assert a[0] == a[1] == a[2]
    x, y, slot = sample_point(smap, np.random.default_rng(0), 1e-3, boxes=[BOX_A, BOX_B])
    assert (x, y, slot) == (24.0, 24.0, 0)
    assert sample_point(smap, np.random.default_rng(0), 1.0)[2] == -1  # no boxes given


def test_record_columns_follow_image_a_when_swapped():
    r = judge(make_map(SCORES), [BOX_A, BOX_B])
    straight, swapped = r.record_columns(), r.record_columns(a_slot=1)
    assert swapped["mass_a"] == straight["mass_b"] and swapped["mass_b"] == straight["mass_a"]
    assert swapped["p_a_sample"] == pytest.approx(1 - straight["p_a_sample"])
