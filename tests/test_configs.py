"""Every experiment and every group option composes and validates; bad values name their key."""

from __future__ import annotations

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.errors import ConfigCompositionException
from omegaconf.errors import ConfigKeyError, ValidationError

from audit.config import AuditConfig, register_configs, to_settings

from .conftest import CONF_DIR

register_configs()
EXPERIMENTS = sorted(p.stem for p in (CONF_DIR / "experiment").glob("*.yaml"))
GROUPS = ["data", "model", "crop", "compare", "analysis", "plots", "gaze", "paths"]


def _compose(overrides):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="config", overrides=overrides)


def test_all_expected_experiments_exist():
    expected = {"pairwise", "all_groups", "saliency_stats", "argmax_bias", "male_gaze",
                "counterfactual", "paper_pairwise", "paper_fixed_height", "paper_all_groups",
                "paper_male_gaze", "paper_counts"}
    assert expected <= set(EXPERIMENTS)


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_experiment_composes_and_validates(experiment):
    cfg = _compose([f"experiment={experiment}", "debug=smoke"])
    settings = to_settings(cfg)
    assert isinstance(settings, AuditConfig)
    assert settings.name == experiment  # the experiment names its results folder
    assert settings.compare.n_trials == 4  # debug=smoke shrinks every experiment


@pytest.mark.parametrize("experiment", [e for e in EXPERIMENTS if e.startswith("paper_")])
def test_paper_configs_use_fastgaze_without_fallback(experiment):
    settings = to_settings(_compose([f"experiment={experiment}"]))
    if experiment != "paper_counts":
        assert settings.model["_target_"] == "audit.model.factory.fastgaze"
        assert settings.model["fallback"] is None
        assert settings.data.source == "wikidata"


def test_paper_settings_match_the_study():
    pairwise = to_settings(_compose(["experiment=paper_pairwise"]))
    assert pairwise.compare.n_trials == 10000 and pairwise.compare.layout.scaling == "none"
    assert pairwise.compare.group_by == ["race", "gender"]
    fixed = to_settings(_compose(["experiment=paper_fixed_height"]))
    assert fixed.compare.n_trials == 5000 and fixed.compare.layout.fixed_height == 256
    assert fixed.compare.layout.scaling == "fixed_height"
    assert to_settings(_compose(["experiment=paper_all_groups"])).compare.n_trials == 5000
    gaze = to_settings(_compose(["experiment=paper_male_gaze"])).gaze
    assert (gaze.n_per_group, gaze.min_aspect, gaze.min_regions, gaze.min_area) == (
        100, 1.25, 2, 1000)


def test_default_is_synthetic_fastgaze_with_fallback():
    settings = to_settings(_compose([]))
    assert settings.data.source == "synthetic"
    assert settings.model["_target_"] == "audit.model.factory.fastgaze"
    assert settings.model["fallback"] == "spectral_residual"
    assert settings.compare.group_by == settings.data.group_by == ["tone_band"]


@pytest.mark.parametrize("group", GROUPS)
def test_every_group_option_composes(group):
    options = sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml"))
    assert options, f"conf/{group} has no options"
    for option in options:
        extra = ["data.folder=x", "data.csv=y"] if option == "folder" else []
        if group == "model" and option == "external":
            extra = ["model.command=[prog,'{image}',show_all_points]"]
        cfg = _compose([f"{group}={option}", *extra])
        to_settings(cfg)


def test_model_targets_are_project_callables():
    for path in (CONF_DIR / "model").glob("*.yaml"):
        text = path.read_text()
        target = next(line.split(":", 1)[1].strip() for line in text.splitlines()
                      if line.startswith("_target_:"))
        assert target.startswith("audit."), path


def test_typo_in_a_key_names_the_key():
    with pytest.raises(ConfigCompositionException) as info:
        _compose(["compare.n_trails=3"])
    assert "n_trails" in str(info.value.__cause__ or info.value)


def test_wrong_type_names_the_key():
    with pytest.raises(ConfigCompositionException) as info:
        _compose(["compare.n_trials=abc"])
    cause = info.value.__cause__
    assert isinstance(cause, ValidationError | ConfigKeyError)
    assert "compare.n_trials" in str(cause)


@pytest.mark.parametrize(
    ("override", "message"),
    [("compare.n_trials=-3", "compare.n_trials must be >= 1, got -3"),
     ("crop.aspect_ratios=[-2.0]", "crop.aspect_ratios"),
     ("analysis.alpha=2", "analysis.alpha must be in (0, 1), got 2"),
     ("compare.layout.scaling=stretch", "compare.layout.scaling must be none"),
     ("data.min_group_size=0", "data.min_group_size must be >= 1, got 0"),
     ("seed=-1", "seed must be >= 0, got -1")],
)
def test_impossible_values_fail_at_start_naming_the_key(override, message):
    cfg = _compose([override])
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        to_settings(cfg)


def test_unknown_model_lists_the_options():
    with pytest.raises(ConfigCompositionException, match="model/nope"):
        _compose(["model=nope"])


def test_composition_error_is_one_line_with_a_hint():
    from audit.config import composition_error

    assert composition_error(["experiment=pairwise"]) is None
    assert composition_error(["compare.layout.scalng=none"]) == (
        "compare.layout.scalng: Key 'scalng' not in 'LayoutConfig' (did you mean 'scaling'?)")
    assert composition_error(["data=wikidat"]).startswith("data=wikidat: no such option")
