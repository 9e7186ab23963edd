from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from audit.crop.geometry import Box
from audit.cropper import registry
from audit.cropper.base import Cropper, CropResult
from audit.cropper.registry import (
    available,
    build_cropper,
    build_named,
    cropper_config,
    register_cropper,
    unregister_cropper,
)

SHIPPED = {"center", "external_json", "face_center", "fastgaze", "opencv_fine_grained",
           "smartcrop", "vips_attention", "vips_entropy"}


def test_every_shipped_cropper_is_available():
    assert SHIPPED <= set(available())


def test_unknown_name_is_one_line_listing_the_names_with_a_hint():
    with pytest.raises(ValueError) as err:
        cropper_config("centre")
    msg = str(err.value)
    assert "\n" not in msg
    assert "'centre' is unknown" in msg
    for name in SHIPPED:
        assert name in msg
    assert msg.endswith("(did you mean 'center'?)")


def test_unknown_name_without_a_close_match_has_no_hint():
    with pytest.raises(ValueError, match="available: ") as err:
        cropper_config("zzzzzzzz")
    assert "did you mean" not in str(err.value)


def test_configs_name_their_factory_and_its_keys():
    """Each shipped yaml names an importable factory that takes every key it sets."""
    import inspect

    for name in sorted(SHIPPED):
        cfg = cropper_config(name)
        assert cfg["name"] == name
        func = registry._resolve_factory(name, cfg["factory"])
        params = inspect.signature(func).parameters
        missing = set(cfg) - {"name", "factory"} - set(params)
        assert not missing, (name, missing)


def test_factory_returning_a_non_cropper_is_refused():
    register_cropper("not_a_cropper", lambda **kw: object())
    try:
        with pytest.raises(TypeError, match="returned a object, not an audit.cropper.base"):
            build_cropper({"name": "not_a_cropper"})
    finally:
        unregister_cropper("not_a_cropper")
    assert "not_a_cropper" not in available()


def test_unknown_key_is_refused_with_a_hint():
    with pytest.raises(ValueError, match=r"cropper.batch_sise: fastgaze has no such key "
                                         r"\(did you mean 'batch_size'\?\)"):
        build_named("fastgaze", overrides={"batch_sise": 4})


def test_registry_supplied_keys_cannot_be_config_keys():
    with pytest.raises(ValueError, match="'model' is set by the registry"):
        build_cropper({"name": "fastgaze", "factory": "audit.cropper.fastgaze:build",
                       "model": "x"})


@pytest.mark.parametrize(("factory", "match"), [
    ("audit.cropper.nope:build", "factory module 'audit.cropper.nope' not found"),
    ("audit.cropper.center:nope", "has no 'nope'"),
    ("no colon", "must look like 'package.module:callable'"),
])
def test_bad_factories_are_one_line(factory, match):
    with pytest.raises(ValueError, match=match):
        build_cropper({"name": "x", "factory": factory})


def test_name_in_file_must_match_the_file(tmp_path):
    (tmp_path / "a.yaml").write_text("name: b\nfactory: audit.cropper.center:build\n")
    with pytest.raises(ValueError, match="name is 'b' but the file is named 'a'"):
        cropper_config("a", conf_dir=tmp_path)


def test_a_new_yaml_and_module_are_found_without_other_edits(tmp_path, monkeypatch):
    """Drop in one module and one yaml file: listed, configured and built, imported lazily."""
    pkg = tmp_path / "src"
    pkg.mkdir()
    (pkg / "my_left_cropper.py").write_text(textwrap.dedent('''
        from audit.crop.geometry import Box
        from audit.cropper.base import Cropper, CropResult

        class Left(Cropper):
            kind = "box"
            def __init__(self, *, name, margin):
                self.name, self.margin = name, margin
            def crop(self, rgb, aspect_ratios):
                h, w = rgb.shape[:2]
                side = min(h, w) - self.margin
                return CropResult({float(r): Box(0, 0, side, side) for r in aspect_ratios})

        def build(*, name="left", margin=0):
            return Left(name=name, margin=margin)
        '''))
    conf = tmp_path / "cropper"
    conf.mkdir()
    (conf / "left.yaml").write_text("name: left\nfactory: my_left_cropper:build\nmargin: 3\n")
    monkeypatch.syspath_prepend(str(pkg))
    assert "left" in available(conf)
    assert "my_left_cropper" not in sys.modules  # listing does not import
    cropper = build_named("left", conf_dir=conf, overrides={"margin": 5})
    assert isinstance(cropper, Cropper) and cropper.name == "left"
    result = cropper.crop(np.zeros((40, 60, 3), np.uint8), [1.0])
    assert result.boxes == {1.0: Box(0, 0, 35, 35)}
    monkeypatch.delitem(sys.modules, "my_left_cropper")


def test_register_cropper_by_callable_sets_name_and_lists_it():
    class Fixed(Cropper):
        def crop(self, rgb, aspect_ratios):
            return CropResult({float(r): Box(0, 0, 1, 1) for r in aspect_ratios})

    register_cropper("fixed", lambda: Fixed())
    try:
        assert "fixed" in available()
        assert cropper_config("fixed") == {"name": "fixed"}
        cropper = build_cropper({"name": "fixed"})
        assert cropper.name == "fixed"  # the registry name wins over the class default
        assert cropper.crop_many([np.zeros((2, 2, 3), np.uint8)], [1.0])[0].boxes == {
            1.0: Box(0, 0, 1, 1)}
    finally:
        unregister_cropper("fixed")


def test_cropper_modules_import_without_optional_libraries():
    """Listing and importing every cropper module loads none of pyvips, cv2, smartcrop."""
    code = textwrap.dedent("""
        import importlib, sys
        from audit.cropper.registry import available, cropper_config
        for name in available():
            module = cropper_config(name)["factory"].split(":")[0]
            importlib.import_module(module)
        print(sorted(m for m in ("pyvips", "cv2", "smartcrop", "hydra") if m in sys.modules))
        """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parents[2], timeout=120, check=True)
    assert out.stdout.strip() == "[]"


def test_run_configs_apply_the_selected_groups_overrides_to_its_own_name():
    from audit.cropper.registry import build_croppers, run_cropper_configs

    selected = {**cropper_config("smartcrop"), "skin_color": [0.36, 0.25, 0.2]}
    configs = run_cropper_configs(["center", "smartcrop", "vips_entropy"], selected)
    assert [c["name"] for c in configs] == ["center", "smartcrop", "vips_entropy"]
    assert configs[1]["skin_color"] == [0.36, 0.25, 0.2]
    assert configs[1]["skin_weight"] == 1.8  # the rest from the yaml file
    assert configs[2] == cropper_config("vips_entropy")
    croppers = build_croppers(configs)
    assert [c.name for c in croppers] == ["center", "smartcrop", "vips_entropy"]
    assert croppers[1].settings()["skin_color"] == [0.36, 0.25, 0.2]


def test_run_configs_refuse_duplicates_and_unknown_names():
    from audit.cropper.registry import run_cropper_configs

    with pytest.raises(ValueError, match="lists 'center' twice"):
        run_cropper_configs(["center", "center"], {"name": "fastgaze"})
    with pytest.raises(ValueError, match="'smartcrp' is unknown.*did you mean 'smartcrop'"):
        run_cropper_configs(["center", "smartcrp"], {"name": "fastgaze"})


def test_build_croppers_closes_what_it_built_when_one_fails():
    from audit.cropper.registry import build_croppers

    closed = []

    class Tracked(Cropper):
        def crop(self, rgb, aspect_ratios):
            raise NotImplementedError

        def close(self):
            closed.append(self.name)

    register_cropper("tracked", lambda: Tracked())
    try:
        with pytest.raises(ValueError, match="no such key"):
            build_croppers([{"name": "tracked"}, {"name": "center", "factory":
                                                  "audit.cropper.center:build", "x": 1}])
    finally:
        unregister_cropper("tracked")
    assert closed == ["tracked"]


def test_every_cropper_option_composes_and_equals_its_yaml():
    from hydra import compose, initialize_config_dir

    from audit.config import CONF_DIR, composition_error, register_configs, to_settings

    register_configs()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        default = to_settings(compose(config_name="config")).cropper
        assert default == cropper_config("fastgaze")
        for name in sorted(SHIPPED):
            settings = to_settings(compose(config_name="config", overrides=[f"cropper={name}"]))
            assert settings.cropper == cropper_config(name)
    assert composition_error(["cropper=vips_atention"]) == (
        "cropper=vips_atention: no such option in conf/cropper/ (choose one of "
        f"{', '.join(sorted(SHIPPED))}) (did you mean 'vips_attention'?)")
