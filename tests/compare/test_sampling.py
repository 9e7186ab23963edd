from collections import Counter

import pytest

from audit.compare.sampling import (
    plan_all_groups,
    plan_counterfactual,
    plan_counterfactual_kway,
    plan_pairwise,
    trial_seed,
)
from audit.compare.settings import CompareConfig, parse_shard

MEMBERS = {"dark": [f"d{i}" for i in range(5)], "light": [f"l{i}" for i in range(7)],
           "mid": [f"m{i}" for i in range(3)]}


def test_pairwise_plan_counts_orders_and_baselines():
    jobs = plan_pairwise(MEMBERS, n_trials=10, baseline_trials=4, seed=1)
    designs = Counter(j.design for j in jobs)
    assert designs == {"pairwise": 3 * 10 * 2, "baseline": 3 * 4 * 2}
    # both orders of a trial hold the same two images, swapped, and A keeps its group
    by_trial = {}
    for j in jobs:
        by_trial.setdefault(j.trial, []).append(j)
    for pair in by_trial.values():
        first, second = sorted(pair, key=lambda j: j.order)
        assert second.images == first.images[::-1]
        assert first.groups[first.a_slot] == second.groups[second.a_slot]
        assert (first.a_slot, second.a_slot) == (0, 1)
    for j in jobs:
        if j.design == "pairwise":
            assert j.images[0][0] == j.groups[0][0]  # image drawn from its slot's group
        else:
            assert j.images[0] != j.images[1] and j.groups[0] == j.groups[1]


def test_plans_are_deterministic_and_seed_sensitive():
    a = plan_pairwise(MEMBERS, n_trials=20, baseline_trials=0, seed=5)
    b = plan_pairwise(MEMBERS, n_trials=20, baseline_trials=0, seed=5)
    c = plan_pairwise(MEMBERS, n_trials=20, baseline_trials=0, seed=6)
    assert a == b
    assert [j.images for j in a] != [j.images for j in c]


def test_trial_draw_does_not_depend_on_trial_count():
    short = plan_pairwise(MEMBERS, n_trials=3, baseline_trials=0, seed=2, counterbalance=False)
    long = plan_pairwise(MEMBERS, n_trials=9, baseline_trials=0, seed=2, counterbalance=False)
    assert [j.images for j in short[:3]] == [j.images for j in long[:3]]
    assert trial_seed(2, "pairwise", 0, 1) == short[1].trial_seed


def test_all_groups_positions_are_permuted():
    jobs = plan_all_groups(MEMBERS, n_trials=60, seed=0)
    assert all(sorted(j.groups) == ["dark", "light", "mid"] for j in jobs)
    firsts = Counter(j.groups[0] for j in jobs)
    assert set(firsts) == {"dark", "light", "mid"} and min(firsts.values()) >= 10


def test_counterfactual_uses_one_portrait_per_trial():
    renders = {f"p{i}": {t: f"p{i}-{t}" for t in ("t1", "t2", "t3")} for i in range(4)}
    jobs = plan_counterfactual(renders, ["t1", "t2", "t3"], n_trials=5, seed=0)
    assert len(jobs) == 3 * 5 * 2
    for j in jobs:
        assert j.images[0].split("-")[0] == j.images[1].split("-")[0]
    kway = plan_counterfactual_kway(renders, ["t1", "t2", "t3"], n_trials=4, seed=0)
    assert all(len({i.split("-")[0] for i in j.images}) == 1 for j in kway)
    with pytest.raises(ValueError, match="rendered in every tone"):
        plan_counterfactual({"p": {"t1": "x"}}, ["t1", "t2"], n_trials=1, seed=0)


def test_shard_syntax():
    assert parse_shard("2/5") == (2, 5)
    assert CompareConfig(shard="0/2").shard_index == (0, 2)
    for bad in ("5/5", "a/b", "1-2"):
        with pytest.raises(ValueError, match="compare.shard must look like i/N"):
            parse_shard(bad)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"n_trials": -3}, "compare.n_trials must be >= 1, got -3"),
     ({"design": "triangle"}, "compare.design must be one of"),
     ({"on_model_error": "ignore"}, "compare.on_model_error must be record or raise"),
     ({"temperature": 0}, "compare.temperature must be > 0")],
)
def test_impossible_values_fail_naming_the_key(kwargs, message):
    with pytest.raises(ValueError, match=message):
        CompareConfig(**kwargs)
