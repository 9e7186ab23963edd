"""A headless Chromium driven by Selenium, and two small real runs to open in it.

The browser is Debian's ``chromium`` with its ``chromedriver`` (``.ci/run`` installs both), given
explicitly so that Selenium never downloads a driver. Without them the tests skip with one line;
``AUDIT_REQUIRE_BROWSER=1`` (set by ``.ci/run``) turns that skip into a failure.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from audit import pipeline
from audit.config import register_configs, to_settings
from audit.model.luminance import Luminance

from ..conftest import CONF_DIR

CHROMIUM = os.environ.get("AUDIT_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("AUDIT_CHROMEDRIVER", "/usr/bin/chromedriver")
#: Narrow enough that the wide tables would overflow without their scroll boxes.
WINDOW = (800, 1000)


def browser_missing() -> str | None:
    """Why the browser tests cannot run here (one line), or None."""
    for path, what in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromedriver")):
        if not (Path(path).is_file() and os.access(path, os.X_OK)):
            return (f"no {what} at {path}: apt-get install chromium chromium-driver "
                    "(or set AUDIT_CHROMIUM / AUDIT_CHROMEDRIVER)")
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed: pip install -e '.[test]'"
    return None


@pytest.fixture(scope="session")
def browser_dirs(tmp_path_factory):
    return tmp_path_factory.mktemp("browser-profile"), tmp_path_factory.mktemp("downloads")


@pytest.fixture(scope="session")
def driver(browser_dirs):
    """One headless Chromium for the session (starting one costs about a second)."""
    why = browser_missing()
    if why:
        if os.environ.get("AUDIT_REQUIRE_BROWSER"):
            pytest.fail(f"AUDIT_REQUIRE_BROWSER is set but {why}")
        pytest.skip(why)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile, downloads = browser_dirs
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run", "--disable-default-apps",
                f"--user-data-dir={profile}", f"--window-size={WINDOW[0]},{WINDOW[1]}"):
        options.add_argument(arg)
    options.add_experimental_option("prefs", {
        "download.default_directory": str(downloads), "download.prompt_for_download": False})
    log = Path(tempfile.mkstemp(prefix="chromedriver-", suffix=".log")[1])
    drv = webdriver.Chrome(service=Service(CHROMEDRIVER, log_output=str(log)), options=options)
    # the review page's Export button downloads through a Blob link: allow it, into downloads
    drv.execute_cdp_cmd("Browser.setDownloadBehavior",
                        {"behavior": "allow", "downloadPath": str(downloads)})
    drv.set_page_load_timeout(30)
    drv.set_script_timeout(10)
    yield drv
    drv.quit()
    log.unlink(missing_ok=True)
    shutil.rmtree(profile, ignore_errors=True)


def _run(root: Path, name: str, experiment: str, *overrides: str) -> Path:
    register_configs()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=[
            f"experiment={experiment}", "debug=smoke",
            f"data.synthetic.cache_dir={root / 'synthetic'}",
            f"paths.work_dir={root / 'work'}", f"paths.cache_dir={root / 'cache'}", *overrides])
    GlobalHydra.instance().clear()
    result = pipeline.run(to_settings(cfg), model=Luminance(device="cpu"),
                          output_dir=root / name, progress=False,
                          config_yaml=OmegaConf.to_yaml(cfg, resolve=True))
    return result.output_dir


@pytest.fixture(scope="session")
def run_folder(tmp_path_factory):
    """Make (once per session) small real run folders: ``run_folder(experiment, *overrides)``."""
    root = tmp_path_factory.mktemp("browser-runs")
    made: dict[tuple[str, ...], Path] = {}

    def make(experiment: str, *overrides: str) -> Path:
        key = (experiment, *overrides)
        if key not in made:
            made[key] = _run(root, f"run{len(made)}", experiment, *overrides)
        return made[key]

    return make
