"""Group-level Bradley-Terry model with a position term (docs/statistics.md §4).

``logit P(A wins) = θ_group(A) - θ_group(B) + γ·pos`` with ``pos = +1`` when A sits first
(left/top) and ``-1`` otherwise, the first group of ``group_order`` as reference (θ = 0). Fit
by maximum likelihood on all decided cross-group composites at once; standard errors are
dyadic-robust on one image id space (:mod:`audit.analysis.inference`). ``expit(γ)`` is then the
first slot's win rate between two otherwise equal images.

Outputs (:func:`fit_bradley_terry`): a parameter table (θ per group, γ, and for two binary
factors the main effects and the interaction as contrasts of θ), predicted win rates for every
pair of groups (also pairs never run; averaged over the two positions) and a lack-of-fit test
against the saturated model per pair and position. A parameter or prediction the design cannot
identify (e.g. groups never compared, or position never varied with too few pairs) is reported
with ``identifiable = False`` and no number.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np
import pandas as pd
from scipy.special import expit
from scipy.stats import chi2, norm

from audit.analysis.aggregates import NON_FACTOR_COLUMNS
from audit.analysis.inference import dyadic_meat, image_codes
from audit.analysis.win_rates import orient_pairs

BT_COLUMNS = ("term", "kind", "estimate", "se", "ci_low", "ci_high", "z", "p_value",
              "identifiable", "note")
PREDICTION_COLUMNS = ("group_a", "group_b", "observed", "n", "rate", "se", "ci_low", "ci_high",
                      "identifiable", "note")
NOT_IDENTIFIABLE = "not identifiable from this design"
_TOL = 1e-8


@dataclass
class BradleyTerry:
    """Result of :func:`fit_bradley_terry` (all tidy tables)."""

    parameters: pd.DataFrame
    predictions: pd.DataFrame
    fit: pd.DataFrame


def _estimable(contrast: np.ndarray, null_space: np.ndarray) -> bool:
    return bool(null_space.size == 0 or np.all(np.abs(contrast @ null_space) < 1e-6))


def fit_bradley_terry(
    records: pd.DataFrame,
    *,
    group_order: Sequence[str] | None = None,
    groups: pd.DataFrame | None = None,
    alpha: float = 0.05,
    deff: float | None = None,
) -> BradleyTerry:
    """Fit the group-level Bradley-Terry model with position and dyadic-robust SEs.

    Parameters
    ----------
    records : pandas.DataFrame
        Pairwise records (``group_a``, ``group_b``, ``image_a``, ``image_b``, ``outcome``,
        ``position_a`` or ``order``); same-group rows inform γ only.
    group_order : sequence of str, optional
        Group order; the first is the reference (default: sorted labels, plus any groups of
        ``groups``).
    groups : pandas.DataFrame, optional
        ``tables/groups.csv``; its groups get predictions even if never run, and with exactly two
        binary factors the main effects and their interaction are added.
    alpha : float
        1 - confidence level.
    deff : float, optional
        Mean design effect for the Rao-Scott corrected lack-of-fit test (default 1).

    Returns
    -------
    BradleyTerry
        ``parameters`` (``BT_COLUMNS``), ``predictions`` (``PREDICTION_COLUMNS``; ``observed``
        says whether the pair was run) and ``fit`` (one row: deviance, df, corrected p-value,
        rank, notes).

    Raises
    ------
    ValueError
        If there are no decided composites.
    """
    oriented = orient_pairs(records, group_order=group_order)
    decided = oriented[oriented["pair_a_wins"].notna()].reset_index(drop=True)
    if decided.empty:
        raise ValueError("Bradley-Terry: no decided composites (outcome a/b) to fit")
    labels = sorted(set(decided["group_a"].astype(str)) | set(decided["group_b"].astype(str)))
    if groups is not None:
        labels = sorted(set(labels) | set(groups["group"].astype(str)))
    order = list(group_order) if group_order is not None else labels
    order = [g for g in order if g in labels]
    index = {g: i for i, g in enumerate(order)}
    n, k = len(decided), len(order)
    x = np.zeros((n, k))
    ga = decided["group_a"].astype(str).map(index).to_numpy()
    gb = decided["group_b"].astype(str).map(index).to_numpy()
    x[np.arange(n), ga] += 1.0
    x[np.arange(n), gb] -= 1.0
    pos = np.where(decided["a_first"].to_numpy(), 1.0, -1.0)
    design = np.column_stack([x[:, 1:], pos])  # reference group dropped
    names = [*order[1:], "position"]
    y = (decided["outcome"].astype(str) == "a").to_numpy(dtype=float)
    # null space of the design from the small p x p cross-product (never an n x n matrix)
    eigval, eigvec = np.linalg.eigh(design.T @ design)
    small = eigval <= _TOL * max(float(eigval.max(initial=0)), 1.0)
    rank = int((~small).sum())
    null_space = eigvec[:, small]  # columns span the null space of the design
    beta = _newton_logit(design, y)
    mu = expit(design @ beta)
    scores = design * (y - mu)[:, None]
    ca, cb, n_img = image_codes(decided["image_a"], decided["image_b"])
    meat = dyadic_meat(scores, ca, cb)[0] * (n_img / max(n_img - 1, 1))
    bread = np.linalg.pinv(design.T @ (design * (mu * (1 - mu))[:, None]))
    vcov = bread @ meat @ bread
    z_crit = norm.ppf(1 - alpha / 2)

    def contrast_row(term: str, kind: str, c: np.ndarray, note: str = "") -> dict:
        if not _estimable(c, null_space):
            return {"term": term, "kind": kind, "estimate": np.nan, "se": np.nan,
                    "ci_low": np.nan, "ci_high": np.nan, "z": np.nan, "p_value": np.nan,
                    "identifiable": False, "note": NOT_IDENTIFIABLE}
        est, se = float(c @ beta), float(np.sqrt(max(c @ vcov @ c, 0.0)))
        z = est / se if se > 0 else np.nan
        return {"term": term, "kind": kind, "estimate": est, "se": se,
                "ci_low": est - z_crit * se, "ci_high": est + z_crit * se, "z": z,
                "p_value": float(2 * norm.sf(abs(z))) if np.isfinite(z) else np.nan,
                "identifiable": True, "note": note}

    p = design.shape[1]
    rows = [contrast_row(order[0], "ability", np.zeros(p), "reference (θ = 0)")]
    rows[0].update(se=0.0, ci_low=0.0, ci_high=0.0, z=np.nan, p_value=np.nan)
    for j, name in enumerate(names):
        c = np.zeros(p)
        c[j] = 1.0
        kind = "position" if name == "position" else "ability"
        note = ("log-odds of the first slot between equal images; expit(γ) is its win rate"
                if kind == "position" else f"log-odds vs {order[0]}")
        rows.append(contrast_row(name, kind, c, note))
    theta_c = {g: (np.eye(p)[index[g] - 1] if index[g] > 0 else np.zeros(p)) for g in order}
    rows += _factor_contrasts(groups, theta_c, contrast_row)
    parameters = pd.DataFrame(rows, columns=list(BT_COLUMNS))
    swapped = _swapped_within_pairs(decided)
    if not swapped and bool(parameters.loc[parameters["term"] == "position",
                                           "identifiable"].iloc[0]):
        mask = parameters["term"] == "position"
        parameters.loc[mask, "note"] = ("identified only through the additive model: positions "
                                        "were never swapped within a pair")
    predictions = _predictions(decided, order, theta_c, beta, vcov, null_space, p, z_crit)
    fit = _lack_of_fit(decided, y, mu, rank, deff)
    return BradleyTerry(parameters=parameters, predictions=predictions, fit=fit)


def _newton_logit(x: np.ndarray, y: np.ndarray, *, max_iter: int = 50) -> np.ndarray:
    """ML logistic fit by Newton steps with a pseudo-inverse (minimum-norm if rank-deficient).

    Raises ``ValueError`` when it does not converge (e.g. perfect separation).
    """
    beta = np.zeros(x.shape[1])
    for _ in range(max_iter):
        mu = expit(x @ beta)
        step = np.linalg.pinv(x.T @ (x * (mu * (1 - mu))[:, None])) @ (x.T @ (y - mu))
        beta = beta + step
        if np.max(np.abs(step)) < 1e-10:
            return beta
        if np.max(np.abs(beta)) > 30:
            break
    raise ValueError("Bradley-Terry fit did not converge (a group or position always wins or "
                     "always loses: perfect separation); the win rates are still valid")


def _swapped_within_pairs(decided: pd.DataFrame) -> bool:
    """Whether some cross-group pair was seen with its first group in both positions."""
    cross = decided[decided["pair_a"] != decided["pair_b"]]
    return bool(cross.groupby(["pair_a", "pair_b"])["pair_a_first"].nunique().gt(1).any())


def _factor_contrasts(groups, theta_c, contrast_row) -> list[dict]:
    """Return the main effects and interaction of two binary factors as contrasts of θ."""
    if groups is None:
        return []
    table = groups.drop_duplicates("group").set_index("group")
    factors = [c for c in table.columns if c not in NON_FACTOR_COLUMNS]
    if len(factors) != 2 or not set(table.index) <= set(theta_c):
        return []
    f1, f2 = factors
    lv1, lv2 = sorted(table[f1].astype(str).unique()), sorted(table[f2].astype(str).unique())
    if len(lv1) != 2 or len(lv2) != 2:
        return []
    cell = {(str(r[f1]), str(r[f2])): g for g, r in table.iterrows()}
    if len(cell) != 4:
        return []
    t = {key: theta_c[g] for key, g in cell.items()}
    (a1, a2), (b1, b2) = lv1, lv2
    main1 = 0.5 * ((t[(a2, b1)] - t[(a1, b1)]) + (t[(a2, b2)] - t[(a1, b2)]))
    main2 = 0.5 * ((t[(a1, b2)] - t[(a1, b1)]) + (t[(a2, b2)] - t[(a2, b1)]))
    inter = (t[(a2, b2)] - t[(a2, b1)]) - (t[(a1, b2)] - t[(a1, b1)])
    return [
        contrast_row(f"{f1}: {a2} vs {a1}", "factor", main1,
                     f"log-odds, averaged over {f2}"),
        contrast_row(f"{f2}: {b2} vs {b1}", "factor", main2,
                     f"log-odds, averaged over {f1}"),
        contrast_row(f"{f1} x {f2}", "interaction", inter,
                     f"difference of the {f2} effect between {f1} levels (log-odds)"),
    ]


def _predictions(decided, order, theta_c, beta, vcov, null_space, p, z_crit) -> pd.DataFrame:
    """P(A beats B) averaged over the two positions, delta-method SE, every pair of groups."""
    run = decided.groupby(["pair_a", "pair_b"]).size()
    gamma_c = np.zeros(p)
    gamma_c[-1] = 1.0
    rows = []
    for a, b in combinations(order, 2):
        c = theta_c[a] - theta_c[b]
        n_run = int(run.get((a, b), 0))
        if not (_estimable(c, null_space) and _estimable(gamma_c, null_space)):
            rows.append({"group_a": a, "group_b": b, "observed": n_run > 0, "n": n_run,
                         "rate": np.nan, "se": np.nan, "ci_low": np.nan, "ci_high": np.nan,
                         "identifiable": False, "note": NOT_IDENTIFIABLE})
            continue
        d, g = float(c @ beta), float(gamma_c @ beta)
        r1, r2 = expit(d + g), expit(d - g)
        rate = 0.5 * (r1 + r2)
        grad = 0.5 * (r1 * (1 - r1) * (c + gamma_c) + r2 * (1 - r2) * (c - gamma_c))
        se = float(np.sqrt(max(grad @ vcov @ grad, 0.0)))
        rows.append({"group_a": a, "group_b": b, "observed": n_run > 0, "n": n_run,
                     "rate": rate, "se": se, "ci_low": max(rate - z_crit * se, 0.0),
                     "ci_high": min(rate + z_crit * se, 1.0), "identifiable": True,
                     "note": "" if n_run else "never run: predicted by the model"})
    return pd.DataFrame(rows, columns=list(PREDICTION_COLUMNS))


def _lack_of_fit(decided, y, mu, rank, deff) -> pd.DataFrame:
    """Deviance against the saturated model per (pair, orientation, position) cell."""
    cells = pd.DataFrame({"ga": decided["group_a"].astype(str), "gb": decided["group_b"].astype(
        str), "pos": decided["a_first"].to_numpy(), "y": y, "mu": mu})
    agg = cells.groupby(["ga", "gb", "pos"]).agg(w=("y", "sum"), e=("mu", "sum"),
                                                 n=("y", "size"))
    w, e, n = agg["w"].to_numpy(), agg["e"].to_numpy(), agg["n"].to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        term1 = np.where(w > 0, w * np.log(w / e), 0.0)
        term2 = np.where(n - w > 0, (n - w) * np.log((n - w) / (n - e)), 0.0)
    deviance = float(2 * (term1 + term2).sum())
    df = len(agg) - rank
    scale = deff if deff and np.isfinite(deff) and deff > 0 else 1.0
    p_value = float(chi2.sf(deviance / scale, df)) if df > 0 else np.nan
    return pd.DataFrame([{
        "deviance": deviance, "df": df, "deff": scale, "p_value": p_value, "rank": rank,
        "n": len(decided), "cells": len(agg),
        "note": ("lack of fit vs the saturated pair x position model; Rao-Scott corrected by "
                 "the mean design effect" if df > 0 else "saturated: no lack-of-fit test"),
    }])


RE_COLUMNS = ("term", "kind", "estimate", "sd", "ci_low", "ci_high", "note")


def fit_image_random_effects(
    records: pd.DataFrame,
    *,
    group_order: Sequence[str] | None = None,
    alpha: float = 0.05,
    seed: int = 0,
) -> pd.DataFrame:
    """Check fit: the Bradley-Terry model plus crossed image random effects (variational Bayes).

    ``logit P(A wins) = θ_A - θ_B + γ·pos + u_imageA - u_imageB`` with ``u ~ N(0, τ²)``, fit by
    statsmodels' ``BinomialBayesMixedGLM.fit_vb`` (a sparse ±1 image design). The θ here are
    conditional on the image (larger in size than the marginal ones); the marginal win rates of
    :func:`fit_bradley_terry` remain the fairness quantity. A clearly non-zero τ confirms that
    images differ beyond their group.

    Returns
    -------
    pandas.DataFrame
        ``RE_COLUMNS``: one row per fixed effect (posterior mean and SD, normal interval) and a
        row ``image_sd`` (τ, from the posterior mean of log τ).
    """
    from scipy import sparse
    from statsmodels.genmod.bayes_mixed_glm import BinomialBayesMixedGLM

    oriented = orient_pairs(records, group_order=group_order)
    decided = oriented[oriented["pair_a_wins"].notna()].reset_index(drop=True)
    if decided.empty:
        raise ValueError("image random effects: no decided composites")
    labels = sorted(set(decided["group_a"].astype(str)) | set(decided["group_b"].astype(str)))
    order = [g for g in (group_order or labels) if g in labels]
    index = {g: i for i, g in enumerate(order)}
    n = len(decided)
    x = np.zeros((n, len(order)))
    x[np.arange(n), decided["group_a"].astype(str).map(index).to_numpy()] += 1.0
    x[np.arange(n), decided["group_b"].astype(str).map(index).to_numpy()] -= 1.0
    pos = np.where(decided["a_first"].to_numpy(), 1.0, -1.0)
    exog = np.column_stack([x[:, 1:], pos])
    ca, cb, n_img = image_codes(decided["image_a"], decided["image_b"])
    rows = np.concatenate([np.arange(n), np.arange(n)])
    vc = sparse.csr_matrix((np.concatenate([np.ones(n), -np.ones(n)]),
                            (rows, np.concatenate([ca, cb]))), shape=(n, n_img))
    y = (decided["outcome"].astype(str) == "a").to_numpy(dtype=float)
    model = BinomialBayesMixedGLM(y, exog, vc, np.zeros(n_img, dtype=int), vcp_p=1.0, fe_p=2.0,
                                  fep_names=[*order[1:], "position"], vcp_names=["image"])
    result = model.fit_vb(rng=np.random.default_rng(seed))
    q = norm.ppf(1 - alpha / 2)
    out = [{"term": name, "kind": "position" if name == "position" else "ability",
            "estimate": float(m), "sd": float(sd), "ci_low": float(m - q * sd),
            "ci_high": float(m + q * sd), "note": "conditional on the image (check only)"}
           for name, m, sd in zip(model.fep_names, result.fe_mean, result.fe_sd, strict=True)]
    log_tau, log_tau_sd = float(result.vcp_mean[0]), float(result.vcp_sd[0])
    out.append({"term": "image_sd", "kind": "random effect", "estimate": float(np.exp(log_tau)),
                "sd": np.nan, "ci_low": float(np.exp(log_tau - q * log_tau_sd)),
                "ci_high": float(np.exp(log_tau + q * log_tau_sd)),
                "note": "τ: SD of image strength beyond its group (log-odds)"})
    return pd.DataFrame(out, columns=list(RE_COLUMNS))
