from __future__ import annotations

import doctest
from pathlib import Path

import pytest
from omegaconf import OmegaConf

import audit.crop.candidate
import audit.crop.rules
from audit.crop.settings import CropConfig

CONF = Path(__file__).resolve().parents[2] / "conf"


def test_crop_config_defaults_are_twitters_ratios() -> None:
    cfg = CropConfig()
    assert cfg.aspect_ratios == [0.56, 1.0, 1.14, 2.0]
    assert cfg.ratios_for(1034, 851) == [0.56, 1.0, 1.14, 2.0, 851 / 1034]
    assert CropConfig(include_image_ratio=False).ratios_for(10, 20) == [0.56, 1.0, 1.14, 2.0]


def test_crop_config_rejects_non_positive_ratios() -> None:
    with pytest.raises(ValueError, match=r"crop.aspect_ratios must be > 0, got \[-2.0, 0.0\]"):
        CropConfig(aspect_ratios=[1.0, -2.0, 0.0])


def test_crop_config_rejects_no_ratios_at_all() -> None:
    with pytest.raises(ValueError, match="no crop would be made"):
        CropConfig(aspect_ratios=[], include_image_ratio=False)


def test_crop_yaml_matches_the_dataclass() -> None:
    yaml = OmegaConf.load(CONF / "crop" / "default.yaml")
    merged = OmegaConf.merge(OmegaConf.structured(CropConfig), yaml)
    assert OmegaConf.to_object(merged) == CropConfig()


@pytest.mark.parametrize("module", [audit.crop.rules, audit.crop.candidate])
def test_docstring_examples_hold(module) -> None:
    failed, attempted = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert attempted > 0 and failed == 0
