"""Regressions: which image wins (logistic, clustered SEs) and how salient it is (OLS, HC3).

Win model (Bradley-Terry form, no intercept, so relabelling A and B changes nothing):
``logit P(A wins) = Σ β_f (x_f(A) - x_f(B)) + γ·position + Σ δ_c (c(A) - c(B))`` where
``x_f`` are treatment-coded group (or factor-level) indicators, ``position`` is +1 when A sits
first (left/top) and -1 otherwise, and ``c`` are per-image covariates. ``exp(γ)`` is then the
odds that the first slot wins between otherwise equal images; ``exp(β_f)`` the odds that an
image of level f beats one of the reference level. Output: tidy coefficient tables.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np
import pandas as pd
import statsmodels.api as sm
import statsmodels.formula.api as smf
from scipy.stats import norm

from audit.analysis.aggregates import NON_FACTOR_COLUMNS
from audit.analysis.inference import dyadic_meat, image_codes
from audit.analysis.validation import require_columns
from audit.analysis.win_rates import orient_pairs

log = logging.getLogger(__name__)

REGRESSION_COLUMNS = (
    "term", "estimate", "se", "z", "p_value", "ci_low", "ci_high", "odds_ratio", "or_low",
    "or_high", "cov_type", "n_clusters", "n",
)  # fmt: skip
Cluster = Literal["dyadic", "image_a", "both"]

_MSG_CLUSTER = "analysis.cluster must be 'dyadic', 'image_a' or 'both', got {value!r}"
_MSG_TOO_FEW = (
    "{what} regression has {n} usable rows for {k} terms; need more decided trials "
    "(raise compare.n_trials) or fewer covariates"
)


def _name(*parts: str) -> str:
    return re.sub(r"\W+", "_", "_".join(parts)).strip("_")


def _factor_table(groups: pd.DataFrame | None, labels: Sequence[str]) -> pd.DataFrame:
    """Factor columns indexed by group; without a groups table the group itself is the factor."""
    if groups is None:
        return pd.DataFrame({"group": sorted(set(labels))}).set_index("group", drop=False)
    table = groups.drop_duplicates("group").set_index("group")
    factors = [c for c in table.columns if c not in NON_FACTOR_COLUMNS]
    return table[factors].astype(str)


def _level_order(
    values: pd.Series, factor: str, levels: Mapping[str, Sequence[str]] | None
) -> list[str]:
    return list(levels[factor]) if levels and factor in levels else sorted(values.unique())


def _covariate_frame(
    covariates: pd.DataFrame | None, columns: Sequence[str] | None
) -> pd.DataFrame:
    if covariates is None:
        return pd.DataFrame()
    cov = covariates.set_index("id") if "id" in covariates.columns else covariates
    numeric = cov.select_dtypes("number")
    return numeric[list(columns)] if columns is not None else numeric


def _tidy(
    result: object, *, alpha: float, cov_type: str, n_clusters: float, logistic: bool
) -> pd.DataFrame:
    ci = np.asarray(result.conf_int(alpha))
    params = result.params
    table = pd.DataFrame({
        "term": list(params.index), "estimate": params.to_numpy(), "se": result.bse.to_numpy(),
        "z": np.asarray(result.tvalues), "p_value": np.asarray(result.pvalues),
        "ci_low": ci[:, 0], "ci_high": ci[:, 1],
    })  # fmt: skip
    if logistic:
        table["odds_ratio"] = np.exp(table["estimate"])
        table["or_low"], table["or_high"] = np.exp(table["ci_low"]), np.exp(table["ci_high"])
    else:
        table["odds_ratio"] = table["or_low"] = table["or_high"] = np.nan
    table["cov_type"] = cov_type
    table["n_clusters"] = n_clusters
    table["n"] = int(result.nobs)
    return table[list(REGRESSION_COLUMNS)]


def build_win_design(
    records: pd.DataFrame,
    *,
    groups: pd.DataFrame | None = None,
    levels: Mapping[str, Sequence[str]] | None = None,
    covariates: pd.DataFrame | None = None,
    covariate_columns: Sequence[str] | None = None,
    standardise: bool = False,
) -> tuple[pd.DataFrame, list[str]]:
    """Design table for :func:`fit_win_regression`: one row per decided composite.

    Returns
    -------
    (design, terms)
        ``design`` has ``a_wins`` (0/1), ``image_a``, ``image_b``, ``position`` (+1 A first,
        -1 A second), one ``<factor>_<level>`` column per non-reference level (A minus B
        indicator) and one ``d_<covariate>`` column per covariate (A minus B). Rows with a
        missing covariate are dropped; all-zero and all-missing columns are left out. With
        ``standardise`` each covariate is z-scored over the images that took part first (terms
        ``d_<covariate>_per_sd``), so its odds ratio is per standard deviation.
    """
    require_columns(records, ("group_a", "group_b", "outcome", "image_a", "image_b"),
                    table="records")  # fmt: skip
    oriented = orient_pairs(records)
    decided = oriented[oriented["outcome"].astype(str).isin(["a", "b"])]
    design = pd.DataFrame({
        "a_wins": (decided["outcome"].astype(str) == "a").astype(np.int64).to_numpy(),
        "image_a": decided["image_a"].astype(str).to_numpy(),
        "image_b": decided["image_b"].astype(str).to_numpy(),
        "position": np.where(decided["a_first"].to_numpy(), 1.0, -1.0),
    })  # fmt: skip
    labels = sorted(set(decided["group_a"].astype(str)) | set(decided["group_b"].astype(str)))
    factors = _factor_table(groups, labels)
    terms = ["position"]
    for factor in factors.columns:
        values = factors[factor]
        for level in _level_order(values, factor, levels)[1:]:
            col = _name(factor, level)
            x_a = decided["group_a"].astype(str).map(values).eq(level).to_numpy(dtype=float)
            x_b = decided["group_b"].astype(str).map(values).eq(level).to_numpy(dtype=float)
            design[col] = x_a - x_b
            terms.append(col)
    cov = _covariate_frame(covariates, covariate_columns)
    used = pd.unique(np.concatenate([design["image_a"], design["image_b"]]))
    for column in cov.columns:
        col = _name("d", column, "per_sd") if standardise else _name("d", column)
        values = cov[column].astype(float)
        if standardise:
            ref = values.reindex(used)
            sd = float(ref.std())
            values = (values - float(ref.mean())) / (sd if sd > 0 else 1.0)
        design[col] = (design["image_a"].map(values) - design["image_b"].map(values)).to_numpy()
        terms.append(col)
    keep = [t for t in terms if design[t].notna().any() and (design[t].fillna(0) != 0).any()]
    dropped = sorted(set(terms) - set(keep))
    if dropped:
        log.info("win regression: dropping constant or empty terms %s", dropped)
    before = len(design)
    design = design.dropna(subset=keep).reset_index(drop=True)
    if len(design) < before:
        log.info("win regression: dropped %d rows with missing covariates", before - len(design))
    return design, keep


def fit_win_regression(
    records: pd.DataFrame,
    *,
    groups: pd.DataFrame | None = None,
    levels: Mapping[str, Sequence[str]] | None = None,
    covariates: pd.DataFrame | None = None,
    covariate_columns: Sequence[str] | None = None,
    cluster: Cluster = "dyadic",
    alpha: float = 0.05,
    standardise: bool = True,
) -> pd.DataFrame:
    """Logistic regression of "image A wins" on group contrasts, position and covariates.

    Without covariates this is the total effect (the headline); with them it is a mechanism
    analysis (a direct effect given luminance etc., which are likely paths of the group effect),
    labelled as such in ``model``.

    Parameters
    ----------
    records : pandas.DataFrame
        Pairwise-type records (both orders of each trial; same-group rows help estimate
        position). Only decided rows (outcome ``a``/``b``) are used.
    groups : pandas.DataFrame, optional
        ``tables/groups.csv``; with it each factor gets its own contrasts, without it each group.
    levels : mapping, optional
        Level order per factor (the first is the reference); default sorted.
    covariates : pandas.DataFrame, optional
        Per-image covariates indexed by image id (or with an ``id`` column), e.g. from
        :func:`audit.analysis.covariates.build_covariate_table`.
    covariate_columns : sequence of str, optional
        Which numeric covariate columns to use (default: all).
    cluster : {"dyadic", "image_a", "both"}
        ``dyadic`` (default): robust over one image id space shared by both roles
        (:func:`audit.analysis.inference.dyadic_meat`). ``image_a``/``both``: the former
        statsmodels clusters, kept for comparison (not image-aware: the last group's images are
        never clustered with ``image_a``; ``both`` splits an image that plays both roles).
    standardise : bool
        z-score covariates over the images used (odds ratio per SD).
    alpha : float
        1 - confidence level of the intervals.

    Returns
    -------
    pandas.DataFrame
        ``REGRESSION_COLUMNS``: ``term`` (``position``, ``<factor>_<level>``, ``d_<covariate>``),
        log-odds ``estimate``, ``se``, ``z``, ``p_value``, interval, ``odds_ratio`` with its
        interval, ``cov_type``, ``n_clusters`` (two-way: the smaller of the two counts), ``n``.

    Raises
    ------
    ValueError
        Bad ``cluster`` or too few rows.
    """
    if cluster not in ("dyadic", "image_a", "both"):
        raise ValueError(_MSG_CLUSTER.format(value=cluster))
    design, terms = build_win_design(records, groups=groups, levels=levels,
                                     covariates=covariates, covariate_columns=covariate_columns,
                                     standardise=standardise)
    if len(design) <= len(terms):
        raise ValueError(_MSG_TOO_FEW.format(what="win", n=len(design), k=len(terms)))
    label = "mechanism" if any(t.startswith("d_") for t in terms) else "total effect"
    formula = "a_wins ~ 0 + " + " + ".join(terms)
    model = smf.glm(formula, data=design, family=sm.families.Binomial())
    if cluster == "dyadic":
        return _fit_dyadic(model, design, alpha=alpha).assign(model=label)
    code_a = pd.factorize(design["image_a"])[0]
    if cluster == "image_a":
        groups_arr, n_clusters, cov_type = code_a, len(np.unique(code_a)), "cluster(image_a)"
    else:
        code_b = pd.factorize(design["image_b"])[0]
        groups_arr = np.column_stack([code_a, code_b])
        n_clusters = min(len(np.unique(code_a)), len(np.unique(code_b)))
        cov_type = "cluster(image_a, image_b)"
    result = model.fit(cov_type="cluster", cov_kwds={"groups": groups_arr})
    return _tidy(result, alpha=alpha, cov_type=cov_type, n_clusters=n_clusters,
                 logistic=True).assign(model=label)


def _fit_dyadic(model, design: pd.DataFrame, *, alpha: float) -> pd.DataFrame:
    """ML fit with the dyadic-robust sandwich ``H⁻¹ M H⁻¹`` on one image id space."""
    result = model.fit()
    x = np.asarray(model.exog)
    y = np.asarray(model.endog)
    mu = np.asarray(result.fittedvalues)
    ca, cb, n_img = image_codes(design["image_a"], design["image_b"])
    meat = dyadic_meat(x * (y - mu)[:, None], ca, cb)[0] * (n_img / max(n_img - 1, 1))
    bread = np.linalg.pinv(x.T @ (x * (mu * (1 - mu))[:, None]))
    se = np.sqrt(np.clip(np.diag(bread @ meat @ bread), 0, None))
    est = np.asarray(result.params)
    q = norm.ppf(1 - alpha / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = est / se
    table = pd.DataFrame({
        "term": list(result.params.index), "estimate": est, "se": se, "z": z,
        "p_value": 2 * norm.sf(np.abs(z)), "ci_low": est - q * se, "ci_high": est + q * se,
    })  # fmt: skip
    table["odds_ratio"] = np.exp(table["estimate"])
    table["or_low"], table["or_high"] = np.exp(table["ci_low"]), np.exp(table["ci_high"])
    table["cov_type"] = "dyadic(image)"
    table["n_clusters"] = n_img
    table["n"] = int(result.nobs)
    return table[list(REGRESSION_COLUMNS)]


def fit_saliency_regression(
    images: pd.DataFrame,
    *,
    groups: pd.DataFrame | None = None,
    levels: Mapping[str, Sequence[str]] | None = None,
    covariates: pd.DataFrame | None = None,
    covariate_columns: Sequence[str] | None = None,
    response: str = "score_max",
    alpha: float = 0.05,
) -> pd.DataFrame:
    """OLS of a per-image saliency score on group indicators and covariates, HC3 SEs.

    Parameters
    ----------
    images : pandas.DataFrame
        Per-image records (``images.parquet``): ``id``, ``group`` and ``response``.
    groups, levels, covariates, covariate_columns
        As in :func:`fit_win_regression` (covariates enter as levels, not differences).
    response : str
        Score column to explain (``score_max`` by default).
    alpha : float
        1 - confidence level.

    Returns
    -------
    pandas.DataFrame
        ``REGRESSION_COLUMNS`` with ``Intercept`` first; ``z`` holds the HC3 z statistics and
        the odds-ratio columns are ``NaN``.
    """
    require_columns(images, ("id", "group", response), table="images")
    data = pd.DataFrame({
        "y": images[response].astype(float).to_numpy(), "id": images["id"].astype(str).to_numpy(),
    })  # fmt: skip
    labels = images["group"].astype(str)
    factors = _factor_table(groups, sorted(labels.unique()))
    terms = []
    for factor in factors.columns:
        values = factors[factor]
        for level in _level_order(values, factor, levels)[1:]:
            col = _name(factor, level)
            data[col] = labels.map(values).eq(level).to_numpy(dtype=float)
            terms.append(col)
    cov = _covariate_frame(covariates, covariate_columns)
    for column in cov.columns:
        col = _name(column)
        data[col] = data["id"].map(cov[column].astype(float)).to_numpy()
        terms.append(col)
    terms = [t for t in terms if data[t].notna().any() and data[t].nunique() > 1]
    data = data.dropna(subset=["y", *terms])
    if len(data) <= len(terms) + 1:
        raise ValueError(_MSG_TOO_FEW.format(what="saliency", n=len(data), k=len(terms) + 1))
    formula = "y ~ " + (" + ".join(terms) if terms else "1")
    result = smf.ols(formula, data=data).fit(cov_type="HC3")
    return _tidy(result, alpha=alpha, cov_type="HC3", n_clusters=np.nan, logistic=False)
