"""Settings for the statistics stage (``conf/analysis/``): one plain dataclass, range-checked."""

from __future__ import annotations

from dataclasses import dataclass, field

CI_METHODS = ("wilson", "beta", "wald2se")
CORRECTIONS = ("holm", "fdr_bh")
CLUSTERS = ("dyadic", "image_a", "both")
INFERENCES = ("dyadic", "bootstrap", "independent")


@dataclass
class AnalysisConfig:
    """How win rates, intervals, tests, regressions and power are computed (conf/analysis/).

    Field names equal the keyword parameters of the functions in :mod:`audit.analysis`.
    """

    alpha: float = 0.05
    # dyadic (image-aware, default) | bootstrap (two-way over images) | independent (composites)
    inference: str = "dyadic"
    # bootstrap replicates (inference=bootstrap), seeded from the run's seed
    n_boot: int = 1000
    # equivalence margin on the rate scale for the parity verdict
    margin: float = 0.05
    # wilson | beta (Clopper-Pearson) | wald2se (the study's p +/- 2 SE, for comparison only)
    ci_method: str = "wilson"
    # holm (family-wise) | fdr_bh (false discovery rate), over the family of group pairs
    correction: str = "holm"
    # order that fixes which group of a pair is "a"; null = sorted labels
    group_order: list[str] | None = None
    # the authors' counts file (one printed dict per line); null = no paper table
    counts_file: str | None = None
    counts_setting: str = "wiki_no_scaling_intersect"
    counts_iterations: int = 10000
    # also report the study's aggregates (level_a-first pairs only), labelled as such
    paper_aggregates: bool = False
    regression: bool = True
    # dyadic: one image id space over both roles (default) | image_a | both (legacy clusters)
    cluster: str = "dyadic"
    # the covariate ("mechanism") regression next to the total-effect one
    mechanism: bool = True
    # group-level Bradley-Terry model with position (tables/bradley_terry*)
    bradley_terry: bool = True
    # also fit crossed image random effects as a check (variational Bayes; slower)
    bt_random_effects: bool = False
    power_deltas: list[float] = field(default_factory=lambda: [0.02, 0.05, 0.1])
    power: float = 0.8
    # analyse the same-group "baseline" design as a pure position test
    position_baseline: bool = True

    def __post_init__(self) -> None:
        if not 0.0 < self.alpha < 1.0:
            raise ValueError(f"analysis.alpha must be in (0, 1), got {self.alpha}")
        _check_choice("ci_method", self.ci_method, CI_METHODS)
        _check_choice("correction", self.correction, CORRECTIONS)
        _check_choice("cluster", self.cluster, CLUSTERS)
        _check_choice("inference", self.inference, INFERENCES)
        if self.n_boot < 50:
            raise ValueError(f"analysis.n_boot must be >= 50, got {self.n_boot}")
        if not 0.0 < self.margin < 0.5:
            raise ValueError(f"analysis.margin must be in (0, 0.5), got {self.margin}")
        if self.counts_iterations < 1:
            raise ValueError(
                f"analysis.counts_iterations must be >= 1, got {self.counts_iterations}"
            )
        if not 0.0 < self.power < 1.0:
            raise ValueError(f"analysis.power must be in (0, 1), got {self.power}")
        bad = [d for d in self.power_deltas if not 0.0 < abs(d) < 0.5]
        if bad:
            raise ValueError(
                f"analysis.power_deltas must be non-zero with |delta| < 0.5, got {bad}"
            )
        if self.group_order is not None and len(set(self.group_order)) != len(self.group_order):
            raise ValueError(
                f"analysis.group_order must not repeat labels, got {self.group_order}"
            )


def _check_choice(key: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"analysis.{key} must be one of {list(allowed)}, got {value!r}")
