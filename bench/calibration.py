"""Calibration of the default (image-aware) inference on simulated audits (issue 10).

Simulator: 4 groups (race x gender), ``m`` images per group, each image with a random saliency
strength ``u ~ N(0, sigma^2)``, ``trials`` trials per group pair, both orders of every trial,
``logit P(A wins) = theta_A - theta_B + u_A - u_B + gamma * [A first ? +1 : -1]``. Under the null
every ``theta`` is 0; the planted effect gives ``black_*`` images ``theta = effect``.

Per cell it reports, over ``--replicates`` replicates: the per-pair rejection rate at alpha
(raw p), the share of replicates where any pair is rejected after Holm, the rejection rate of the
race and gender aggregates, the coverage of the per-pair intervals of the population rate, and,
with the planted effect, the observed power of the BF-WF pair next to the power the power table
predicts from the run's own variance components.

k-way cell (``--kway``): 4 groups in one composite (``all_groups``), ``m`` images per group
with strength ``u ~ N(0, sigma^2)``, ``trials`` composites each showing one random image per group
in a random slot order, P(slot j wins) = softmax over slots of ``u + gamma_slot`` with
``gamma_slot = gamma * (1, 1/3, -1/3, -1)``, no group effect. It reports the rejection rate and
coverage of the per-group share test of 1/4 (truth 1/4 by symmetry) under the default
``inference=dyadic``, the bootstrap and ``independent``, the coverage of the per-slot shares of
the population slot share (Monte Carlo over new images) and the power of the slot-1 test.

Usage::

    python bench/calibration.py                 # full size: 200 replicates per cell
    python bench/calibration.py --replicates 20 # quick look
    python bench/calibration.py --kway          # the k-way cells only
"""

from __future__ import annotations

import argparse
import logging
import time
from itertools import combinations

import numpy as np
import pandas as pd
from scipy.special import expit, softmax
from tqdm import tqdm

from audit.analysis.aggregates import compute_aggregates, groups_from_labels
from audit.analysis.kway import compute_kway_shares
from audit.analysis.power import predicted_power
from audit.analysis.regression import fit_win_regression
from audit.analysis.win_rates import compute_win_rates

log = logging.getLogger("bench.calibration")

GROUPS = ("black_female", "black_male", "white_female", "white_male")
CELLS = ((20, 200, 1.0), (20, 200, 3.0), (200, 1000, 1.0), (200, 1000, 3.0))
KWAY_CELLS = ((20, 1000, 1.0), (20, 1000, 3.0), (200, 5000, 1.0), (200, 5000, 3.0))


def simulate(m: int, trials: int, sigma: float, *, gamma: float = 0.3,
             theta: dict[str, float] | None = None, seed: int = 0) -> pd.DataFrame:
    """Pairwise records (both orders of every trial) from the simulator described above."""
    rng = np.random.default_rng(seed)
    theta = theta or {}
    strength = {g: rng.normal(0.0, sigma, m) for g in GROUPS}
    parts = []
    trial0 = 0
    for ga, gb in combinations(GROUPS, 2):
        ia = rng.integers(0, m, trials)
        ib = rng.integers(0, m, trials)
        d = theta.get(ga, 0.0) - theta.get(gb, 0.0) + strength[ga][ia] - strength[gb][ib]
        for order, pos in ((0, 1.0), (1, -1.0)):
            a_wins = rng.random(trials) < expit(d + gamma * pos)
            parts.append(pd.DataFrame({
                "trial": trial0 + np.arange(trials), "order": order, "design": "pairwise",
                "group_a": ga, "group_b": gb,
                "image_a": np.char.add(f"{ga}/", ia.astype(str)),
                "image_b": np.char.add(f"{gb}/", ib.astype(str)),
                "position_a": "left" if order == 0 else "right",
                "outcome": np.where(a_wins, "a", "b"),
            }))
        trial0 += trials
    return pd.concat(parts, ignore_index=True)


def population_rate(ga: str, gb: str, sigma: float, *, gamma: float,
                    theta: dict[str, float], n: int = 400_000, seed: int = 99) -> float:
    """P(an image of ga beats one of gb) over new images, averaged over the two orders."""
    rng = np.random.default_rng(seed)
    d = theta.get(ga, 0.0) - theta.get(gb, 0.0) + rng.normal(0, sigma * np.sqrt(2), n)
    return float(0.5 * (expit(d + gamma) + expit(d - gamma)).mean())


def run_cell(m: int, trials: int, sigma: float, *, replicates: int, gamma: float,
             effect: float, alpha: float = 0.05, seed: int = 0,
             regression: bool = False) -> dict[str, float]:
    """Null and planted-effect statistics of one cell."""
    groups = groups_from_labels(GROUPS)
    pairs = list(combinations(GROUPS, 2))
    planted = {"black_female": effect, "black_male": effect}
    truth_null = {p: population_rate(*p, sigma, gamma=gamma, theta={}) for p in pairs}
    truth_eff = {p: population_rate(*p, sigma, gamma=gamma, theta=planted) for p in pairs}
    rej, any_rej, agg_rej, cover, cover_eff, hits, predicted = [], [], [], [], [], [], []
    reg_rej = []
    for r in tqdm(range(replicates), desc=f"m={m} T={trials} sigma={sigma}", leave=False):
        rec = simulate(m, trials, sigma, gamma=gamma, seed=seed + r)
        wr = compute_win_rates(rec, group_order=list(GROUPS), alpha=alpha)
        truth = np.array([truth_null[(a, b)] for a, b in zip(wr["group_a"], wr["group_b"],
                                                                strict=True)])
        rej.append((wr["p_value"] < alpha).mean())
        any_rej.append(bool(wr["reject"].any()))
        cover.append(((wr["ci_low"] <= truth) & (truth <= wr["ci_high"])).mean())
        agg = compute_aggregates(wr, groups, records=rec, group_order=list(GROUPS), alpha=alpha)
        agg_rej.append(agg.set_index("factor")["p_value"].lt(alpha).to_dict())
        if regression:  # the headline total-effect regression (group + position, dyadic SEs)
            coef = fit_win_regression(rec, groups=groups).set_index("term")["p_value"]
            reg_rej.append({"race": coef["race_white"] < alpha,
                            "gender": coef["gender_male"] < alpha})
        rec_e = simulate(m, trials, sigma, gamma=gamma, theta=planted, seed=seed + 10_000 + r)
        we = compute_win_rates(rec_e, group_order=list(GROUPS), alpha=alpha)
        truth_e = np.array([truth_eff[(a, b)] for a, b in zip(we["group_a"], we["group_b"],
                                                                 strict=True)])
        cover_eff.append(((we["ci_low"] <= truth_e) & (truth_e <= we["ci_high"])).mean())
        row = we.set_index(["group_a", "group_b"]).loc[("black_female", "white_female")]
        hits.append(bool(row["p_value"] < alpha))
        # the power the power table would predict from this run's variance components
        se = float(np.sqrt(row["var_image"] + row["var_pair"]))
        df = max(min(row["n_images_a"], row["n_images_b"]) - 1, 1)
        predicted.append(predicted_power(truth_eff[("black_female", "white_female")] - 0.5,
                                         se, alpha_per_test=alpha, df=df))
    agg_frame = pd.DataFrame(agg_rej)
    reg = pd.DataFrame(reg_rej) if reg_rej else pd.DataFrame({"race": [np.nan],
                                                               "gender": [np.nan]})
    return {
        "m": m, "trials": trials, "sigma": sigma, "replicates": replicates,
        "pair_reject": float(np.mean(rej)), "any_pair_holm": float(np.mean(any_rej)),
        "agg_race_reject": float(agg_frame["race"].mean()),
        "agg_gender_reject": float(agg_frame["gender"].mean()),
        "coverage_null": float(np.mean(cover)), "coverage_effect": float(np.mean(cover_eff)),
        "effect_rate_bf_wf": truth_eff[("black_female", "white_female")],
        "power_observed": float(np.mean(hits)), "power_predicted": float(np.mean(predicted)),
        "reg_race_reject": float(reg["race"].mean()),
        "reg_gender_reject": float(reg["gender"].mean()),
    }


def simulate_kway(m: int, trials: int, sigma: float, *, gamma: float = 0.3, seed: int = 0,
                  strength: np.ndarray | None = None) -> pd.DataFrame:
    """k-way records (one composite per trial) from the k-way simulator described above."""
    rng = np.random.default_rng(seed)
    k = len(GROUPS)
    if strength is None:
        strength = rng.normal(0.0, sigma, (k, m))
    picks = rng.integers(0, strength.shape[1], (trials, k))
    perm = np.argsort(rng.random((trials, k)), axis=1)  # slot s shows group perm[:, s]
    util = strength[perm, np.take_along_axis(picks, perm, axis=1)]
    util = util + gamma * np.linspace(1.0, -1.0, k)[None, :]
    slot = (rng.random(trials)[:, None] > np.cumsum(softmax(util, axis=1), axis=1)).sum(axis=1)
    slot = np.minimum(slot, k - 1)
    names = np.asarray(GROUPS)
    groups = names[perm]
    images = np.char.add(np.char.add(groups, "/"), np.take_along_axis(picks, perm, 1).astype(str))
    return pd.DataFrame({
        "trial": np.arange(trials), "k": k, "groups": list(groups), "images": list(images),
        "outcome": "win", "winner_group": groups[np.arange(trials), slot],
        "winner_slot": pd.array(slot, dtype="Int64"),
    })


def population_slot_shares(sigma: float, *, gamma: float, n: int = 400_000,
                           seed: int = 99) -> np.ndarray:
    """P(slot j wins) over new images (Monte Carlo)."""
    rng = np.random.default_rng(seed)
    k = len(GROUPS)
    util = rng.normal(0.0, sigma, (n, k)) + gamma * np.linspace(1.0, -1.0, k)[None, :]
    return softmax(util, axis=1).mean(axis=0)


def run_kway_cell(m: int, trials: int, sigma: float, *, replicates: int, gamma: float,
                  alpha: float = 0.05, seed: int = 0, n_boot: int = 200) -> dict[str, float]:
    """Null group-share and slot-share statistics of one k-way cell."""
    slot_truth = population_slot_shares(sigma, gamma=gamma)
    acc: dict[str, list[float]] = {key: [] for key in (
        "group_reject", "any_group_holm", "group_coverage", "slot_coverage", "slot1_power",
        "group_deff", "boot_group_reject", "boot_group_coverage", "independent_group_reject")}
    for r in tqdm(range(replicates), desc=f"kway m={m} T={trials} sigma={sigma}", leave=False):
        rec = simulate_kway(m, trials, sigma, gamma=gamma, seed=seed + r)
        for inference in ("dyadic", "bootstrap", "independent"):
            table = compute_kway_shares(rec, alpha=alpha, inference=inference, n_boot=n_boot,
                                        seed=seed + r)
            grp = table[table["by"] == "group"]
            covered = ((grp["ci_low"] <= 0.25) & (0.25 <= grp["ci_high"])).mean()
            if inference == "dyadic":
                slots = table[table["by"] == "slot"]
                acc["group_reject"].append((grp["p_value"] < alpha).mean())
                acc["any_group_holm"].append(float((grp["p_adjusted"] < alpha).any()))
                acc["group_coverage"].append(covered)
                acc["group_deff"].append(grp["deff"].mean())
                acc["slot_coverage"].append(((slots["ci_low"].to_numpy() <= slot_truth)
                                             & (slot_truth <= slots["ci_high"].to_numpy())).mean())
                acc["slot1_power"].append(float(slots["p_value"].iloc[0] < alpha))
            elif inference == "bootstrap":
                acc["boot_group_reject"].append((grp["p_value"] < alpha).mean())
                acc["boot_group_coverage"].append(covered)
            else:
                acc["independent_group_reject"].append((grp["p_value"] < alpha).mean())
    return {"m": m, "trials": trials, "sigma": sigma, "replicates": replicates,
            **{key: float(np.mean(v)) for key, v in acc.items()},
            "slot1_share": float(slot_truth[0])}


def _markdown(table: pd.DataFrame) -> str:
    lines = ["| " + " | ".join(table.columns) + " |", "|" + "---|" * len(table.columns)]
    lines += ["| " + " | ".join(f"{v:.3f}" if isinstance(v, float) else str(v) for v in row)
              + " |" for row in table.itertuples(index=False)]
    return "\n".join(lines)


def main_kway(args: argparse.Namespace) -> None:
    """The k-way cells (``--kway``)."""
    cells = (KWAY_CELLS if args.cells == "all"
             else [KWAY_CELLS[int(i)] for i in args.cells.split(",")])
    rows = []
    for m, trials, sigma in cells:
        start = time.perf_counter()
        row = run_kway_cell(m, trials, sigma, replicates=args.replicates, gamma=args.gamma,
                            seed=args.seed, n_boot=args.n_boot)
        row["seconds"] = round(time.perf_counter() - start, 1)
        rows.append(row)
        log.info("%s", row)
    log.info("\n%s", _markdown(pd.DataFrame(rows)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicates", type=int, default=200)
    parser.add_argument("--gamma", type=float, default=0.3, help="position effect (log-odds)")
    parser.add_argument("--effect", type=float, default=None,
                        help="planted log-odds for black_* images (default: per cell, ~50%% "
                             "power at the per-pair test)")
    parser.add_argument("--cells", default="all", help="'all' or comma list of cell indices")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--regression", action="store_true",
                        help="also test the race and gender terms of the headline regression")
    parser.add_argument("--kway", action="store_true",
                        help="run the k-way (all_groups) cells instead of the pairwise ones")
    parser.add_argument("--n-boot", type=int, default=200,
                        help="bootstrap replicates per k-way table (--kway)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.kway:
        main_kway(args)
        return
    cells = CELLS if args.cells == "all" else [CELLS[int(i)] for i in args.cells.split(",")]
    rows = []
    for m, trials, sigma in cells:
        # effects chosen so that power is in the informative middle range for each cell
        effect = args.effect if args.effect is not None else {20: 0.9, 200: 0.35}[m] * sigma
        start = time.perf_counter()
        row = run_cell(m, trials, sigma, replicates=args.replicates, gamma=args.gamma,
                       effect=effect, seed=args.seed, regression=args.regression)
        row["effect_logit"] = effect
        row["seconds"] = round(time.perf_counter() - start, 1)
        rows.append(row)
        log.info("%s", row)
    table = pd.DataFrame(rows)
    header = "| " + " | ".join(table.columns) + " |"
    lines = [header, "|" + "---|" * len(table.columns)]
    lines += ["| " + " | ".join(f"{v:.3f}" if isinstance(v, float) else str(v) for v in row)
              + " |" for row in table.itertuples(index=False)]
    log.info("\n%s", "\n".join(lines))


if __name__ == "__main__":
    main()
