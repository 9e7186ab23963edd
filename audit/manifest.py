"""The run manifest: what ran, on what, with which inputs (versions, seeds, hashes)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import importlib.metadata
import logging
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from audit import __version__

log = logging.getLogger(__name__)

_PACKAGES = ("torch", "numpy", "pandas", "scipy", "statsmodels", "pillow", "pyarrow",
             "hydra-core", "omegaconf", "matplotlib", "seaborn", "requests",
             "opencv-contrib-python-headless")


def package_versions() -> dict[str, str | None]:
    """Installed versions of the packages that shape results (``None`` if absent)."""
    out: dict[str, str | None] = {}
    for name in _PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def git_state(folder: Path) -> dict[str, Any]:
    """Commit and dirty flag of the checkout holding ``folder`` (``None`` outside git)."""
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True,
                             text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=folder, capture_output=True, text=True, timeout=10,
                               check=True).stdout.strip() != ""
        return {"commit": sha, "dirty": dirty}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def build_manifest(settings: Any, *, model_info: dict[str, Any], people: Any, output_dir: Path,
                   started: float, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Assemble the manifest dictionary (written as ``manifest.json``)."""
    import torch

    extra = dict(extra or {})
    data_sha256 = extra.pop("data_sha256", None)
    manifest = {
        "cropaudit": __version__,
        "name": settings.name,
        "design": settings.compare.design,
        "seed": settings.seed,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "elapsed_s": round(time.time() - started, 3),
        "output_dir": str(output_dir),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "packages": package_versions(),
        "git": git_state(Path(__file__).resolve().parent),
        "model": model_info,
        "data": None if people is None else {
            "source": people.source, "synthetic": people.synthetic,
            "n_images": int(len(people.table)), "provenance": people.provenance,
            "sha256": data_sha256},
        "settings": {"compare": dataclasses.asdict(settings.compare),
                     "analysis": dataclasses.asdict(settings.analysis)},
    }
    manifest.update(extra)
    return manifest
