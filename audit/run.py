"""Entry point: ``python -m audit.run experiment=NAME [key=value ...]`` (``-m`` for sweeps).

Composes the configuration with Hydra, validates it into typed settings, builds the model
(the only ``_target_`` group) and hands everything to :func:`audit.pipeline.run`. Nothing
else imports Hydra, so the pipeline is testable on plain values.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from audit.config import precheck, register_configs, to_settings

log = logging.getLogger("audit.run")

register_configs()


def build_model(model_cfg: dict, design: str):
    """Instantiate the configured model, or ``None`` for designs that run no model.

    Hydra wraps a failing constructor in ``InstantiationException``; the project's own error
    underneath (missing weights, bad device) is what the user needs, so it is re-raised.
    """
    if design == "paper_counts":
        return None
    try:
        return instantiate(model_cfg)
    except InstantiationException as exc:
        if isinstance(exc.__cause__, ValueError | RuntimeError | OSError):
            raise exc.__cause__ from None
        raise


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> None:
    """Run one audit and write its folder under ``results/<name>/<timestamp>_<token>/``."""
    from audit import pipeline
    from audit.exceptions import ImageError, ModelError, WeightsError
    from audit.io import OutputError

    hc = HydraConfig.get()
    output_dir = Path(hc.runtime.output_dir)
    try:
        settings = to_settings(cfg)
        model = build_model(settings.model, settings.compare.design)
        pipeline.run(
            settings, model=model, output_dir=output_dir,
            config_yaml=OmegaConf.to_yaml(cfg, resolve=True),
            overrides=list(hc.overrides.task), command=" ".join(sys.argv),
        )
    except (ValueError, FileNotFoundError, WeightsError, ModelError, ImageError,
            OutputError) as exc:
        # One clear line for the user instead of a traceback; details stay in the log file,
        # and HYDRA_FULL_ERROR=1 shows the traceback (Hydra prints it when we re-raise).
        if os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        log.debug("run failed", exc_info=True)
        log.error("%s: %s", type(exc).__name__, exc)
        sys.exit(2)


def _precheck(argv: list[str]) -> None:
    """Stop with one line per problem when the command line cannot run.

    Plain runs and every job of a sweep (``-m``) are composed and validated, and the results
    folder checked, before Hydra starts anything (see :func:`audit.config.precheck`).
    """
    problems = precheck(argv)
    for problem in problems:
        print(f"python -m audit.run: error: {problem}", file=sys.stderr)  # noqa: T201 - CLI
    if problems:
        sys.exit(2)


if __name__ == "__main__":
    _precheck(sys.argv[1:])
    main()
