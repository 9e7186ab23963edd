from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from audit.gaze.settings import GazeConfig

CONF = Path(__file__).resolve().parents[2] / "conf" / "gaze" / "default.yaml"


def test_defaults_follow_the_study():
    c = GazeConfig()
    assert (c.min_aspect, c.min_regions, c.min_area, c.n_per_group, c.jpeg_only) == (
        1.25, 2, 1000, 100, True)


def test_default_yaml_matches_dataclass_defaults():
    data = yaml.safe_load(CONF.read_text())
    assert data == dataclasses.asdict(GazeConfig())
    assert CONF.read_text().startswith("#")


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("min_aspect", 0, "gaze.min_aspect must be > 0, got 0"),
        ("min_regions", -1, "gaze.min_regions must be >= 0, got -1"),
        ("min_area", -5, "gaze.min_area must be >= 0, got -5"),
        ("n_per_group", 0, "gaze.n_per_group must be >= 1, got 0"),
        ("detector", "dlib", "gaze.detector must be one of haar, haar_alt, haar_alt2, "
         "haar_alt_tree, haar_profile, dlib_hog, got 'dlib'"),
        ("scale_factor", 1.0, "gaze.scale_factor must be > 1, got 1.0"),
        ("min_neighbors", -1, "gaze.min_neighbors must be >= 0, got -1"),
        ("min_face_frac", 0.0, "gaze.min_face_frac must be in (0, 1], got 0.0"),
        ("head_width_factor", 0.9, "gaze.head_width_factor must be >= 1, got 0.9"),
        ("head_height_factor", 0.9, "gaze.head_height_factor must be >= 1, got 0.9"),
        ("head_shift_up", 0.6, "gaze.head_shift_up must be within"),
        ("head_source", "eyes", "gaze.head_source must be one of auto, truth, review, detector, "
         "got 'eyes'"),
        ("upsample", -1, "gaze.upsample must be >= 0, got -1"),
    ],
)
def test_range_checks_name_the_key(key, value, message):
    with pytest.raises(ValueError) as err:
        GazeConfig(**{key: value})
    assert str(err.value).startswith(message)
