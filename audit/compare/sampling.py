"""Seeded trial plans: which images meet in which slots, for every design.

Every trial gets its own generator, derived from ``(seed, design, pair, trial)`` with
:class:`numpy.random.SeedSequence`, so a trial's draw does not depend on how many trials ran
before it, on sharding (by chunk, see :mod:`audit.pipeline`), or on worker count.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

#: Stable numeric code per design, mixed into every trial seed.
_DESIGN_CODES = {"pairwise": 1, "baseline": 2, "all_groups": 3, "counterfactual": 4,
                 "counterfactual_kway": 5}


@dataclass(frozen=True)
class Job:
    """One composite to build and score.

    Attributes
    ----------
    trial : int
        Id of the draw; the two orders of a counterbalanced pair share it.
    order : int
        0 for the drawn order, 1 for the swapped one (pairwise designs only).
    design : str
        pairwise, baseline, all_groups, counterfactual or counterfactual_kway.
    trial_seed : int
        Seed of this trial's generator.
    groups, images : tuple of str
        Group label and image id per slot, in position order (left to right / top to bottom).
    a_slot : int
        Slot holding image A (pairwise designs): 0 when ``order`` is 0, else 1.
    """

    trial: int
    order: int
    design: str
    trial_seed: int
    groups: tuple[str, ...]
    images: tuple[str, ...]
    a_slot: int = 0


def trial_seed(seed: int, design: str, pair: int, trial: int) -> int:
    """Seed of one trial, independent of every other trial."""
    ss = np.random.SeedSequence([int(seed), _DESIGN_CODES[design], int(pair), int(trial)])
    return int(ss.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


def _both_orders(trial: int, design: str, seed_: int, groups: tuple[str, str],
                 images: tuple[str, str], counterbalance: bool) -> list[Job]:
    jobs = [Job(trial, 0, design, seed_, groups, images, 0)]
    if counterbalance:
        jobs.append(Job(trial, 1, design, seed_, groups[::-1], images[::-1], 1))
    return jobs


def plan_pairwise(
    members: Mapping[str, Sequence[str]],
    *,
    n_trials: int,
    baseline_trials: int,
    seed: int,
    counterbalance: bool = True,
    first_trial: int = 0,
) -> list[Job]:
    """Plan every pair of groups plus the same-group baselines.

    Parameters
    ----------
    members : mapping of str to sequence of str
        Group label to its image ids, in the group order the analysis reports (the first
        group of each pair is "A").
    n_trials : int
        Draws per pair of distinct groups; one image uniformly from each group.
    baseline_trials : int
        Draws per group of two different images of that group (skipped for groups with fewer
        than two images).
    seed : int
        The run's seed.
    counterbalance : bool
        When true every draw is run in both orders (two jobs sharing one ``trial``).
    first_trial : int
        Id of the first trial (lets several plans share one id space).

    Returns
    -------
    list of Job
        Pairs in group order, then baselines; trial ids are consecutive.
    """
    labels = list(members)
    jobs: list[Job] = []
    trial = first_trial
    for p, (ga, gb) in enumerate(itertools.combinations(labels, 2)):
        pool_a, pool_b = members[ga], members[gb]
        for t in range(n_trials):
            s = trial_seed(seed, "pairwise", p, t)
            rng = np.random.default_rng(s)
            ia = pool_a[int(rng.integers(len(pool_a)))]
            ib = pool_b[int(rng.integers(len(pool_b)))]
            jobs += _both_orders(trial, "pairwise", s, (ga, gb), (ia, ib), counterbalance)
            trial += 1
    for g_index, g in enumerate(labels):
        pool = members[g]
        if len(pool) < 2:
            continue
        for t in range(baseline_trials):
            s = trial_seed(seed, "baseline", g_index, t)
            rng = np.random.default_rng(s)
            i, j = rng.choice(len(pool), size=2, replace=False)
            jobs += _both_orders(trial, "baseline", s, (g, g), (pool[int(i)], pool[int(j)]),
                                 counterbalance)
            trial += 1
    return jobs


def plan_all_groups(
    members: Mapping[str, Sequence[str]], *, n_trials: int, seed: int, first_trial: int = 0,
    design: str = "all_groups",
) -> list[Job]:
    """One image per group in one composite; slot positions permuted per trial."""
    labels = list(members)
    jobs = []
    for t in range(n_trials):
        s = trial_seed(seed, design, 0, t)
        rng = np.random.default_rng(s)
        picks = [members[g][int(rng.integers(len(members[g])))] for g in labels]
        perm = rng.permutation(len(labels))
        jobs.append(Job(first_trial + t, 0, design, s, tuple(labels[i] for i in perm),
                        tuple(picks[i] for i in perm)))
    return jobs


def plan_counterfactual(
    renders: Mapping[str, Mapping[str, str]],
    tones: Sequence[str],
    *,
    n_trials: int,
    seed: int,
    counterbalance: bool = True,
    first_trial: int = 0,
) -> list[Job]:
    """Plan the same portrait in two tones, for every pair of tones.

    Parameters
    ----------
    renders : mapping of str to mapping of str to str
        Portrait id to ``{tone: image id}``; only portraits rendered in every tone are used.
    tones : sequence of str
        Tone labels in report order.
    n_trials : int
        Portraits drawn per pair of tones.
    """
    portraits = sorted(p for p, r in renders.items() if all(t in r for t in tones))
    if not portraits:
        raise ValueError(
            "counterfactual design needs portraits rendered in every tone of "
            f"{list(tones)}; none found "
            "(use data=synthetic with data.synthetic.counterfactual=true)"
        )
    jobs: list[Job] = []
    trial = first_trial
    for p, (ta, tb) in enumerate(itertools.combinations(tones, 2)):
        for t in range(n_trials):
            s = trial_seed(seed, "counterfactual", p, t)
            rng = np.random.default_rng(s)
            portrait = portraits[int(rng.integers(len(portraits)))]
            jobs += _both_orders(trial, "counterfactual", s, (ta, tb),
                                 (renders[portrait][ta], renders[portrait][tb]), counterbalance)
            trial += 1
    return jobs


def plan_counterfactual_kway(
    renders: Mapping[str, Mapping[str, str]],
    tones: Sequence[str],
    *,
    n_trials: int,
    seed: int,
    first_trial: int = 0,
) -> list[Job]:
    """Plan the same portrait in every tone in one composite, tone positions permuted."""
    portraits = sorted(p for p, r in renders.items() if all(t in r for t in tones))
    if not portraits:
        raise ValueError(f"no portrait is rendered in every tone of {list(tones)}")
    jobs = []
    for t in range(n_trials):
        s = trial_seed(seed, "counterfactual_kway", 0, t)
        rng = np.random.default_rng(s)
        portrait = portraits[int(rng.integers(len(portraits)))]
        perm = rng.permutation(len(tones))
        jobs.append(Job(first_trial + t, 0, "counterfactual_kway", s,
                        tuple(tones[i] for i in perm),
                        tuple(renders[portrait][tones[i]] for i in perm)))
    return jobs
