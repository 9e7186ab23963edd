"""Entry point of the network step: ``python -m audit.fetch data=wikidata data.contact=EMAIL``.

Composes ``conf/fetch.yaml``, turns ``data`` into a typed :class:`~audit.data.settings.DataConfig`
(unknown keys fail) and runs :func:`audit.data.build.fetch_wikidata`. With ``data=synthetic`` or
``data=folder`` it only builds/validates the local table, so the same command checks any source.

Every expected failure (no contact, a missing mapping or query file, a bad config value, the
query service or the Commons API failing, a malformed answer, an unwritable folder) ends with
one line naming the thing and exit status 2; ``HYDRA_FULL_ERROR=1`` shows the traceback instead.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from audit.data import load_people
from audit.data.build import fetch_wikidata
from audit.data.commons import CommonsError
from audit.data.settings import DataConfig
from audit.data.wikidata import QueryError
from audit.io import project_root

log = logging.getLogger("audit.fetch")

#: Failures that are the user's or the network's, not bugs: reported in one line.
EXPECTED_ERRORS = (ValueError, OSError, QueryError, CommonsError, OmegaConfBaseException)


def to_data_config(cfg: DictConfig) -> DataConfig:
    """Merge ``cfg`` onto the DataConfig schema (typos fail) and build the dataclass."""
    merged = OmegaConf.merge(OmegaConf.structured(DataConfig), cfg)
    return OmegaConf.to_object(merged)  # type: ignore[return-value]


def one_line(exc: BaseException) -> str:
    """``Type: message`` on one line (OmegaConf's multi-line messages keep their key).

    Examples
    --------
    >>> one_line(ValueError("data.limit must be null or >= 1, got 0"))
    'ValueError: data.limit must be null or >= 1, got 0'
    """
    if isinstance(exc, OmegaConfBaseException):
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        key = getattr(exc, "full_key", None)
        text = f"data.{key}: {text}" if key and not str(key).startswith("data") else text
    else:
        text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}"


@hydra.main(version_base="1.3", config_path="../conf", config_name="fetch")
def main(cfg: DictConfig) -> None:
    """Fetch (wikidata) or build (synthetic, folder) the people table named by ``data``."""
    try:
        _fetch(cfg)
    except EXPECTED_ERRORS as exc:
        if os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        log.debug("fetch failed", exc_info=True)  # the traceback stays in fetch.log
        log.error("%s", one_line(exc))
        sys.exit(2)


def _fetch(cfg: DictConfig) -> None:
    settings = to_data_config(cfg.data)
    # the same root as audit.run, so a fetched table is found by the runs wherever you start
    root = project_root(cfg.paths.root)
    if settings.source == "wikidata":
        provenance = fetch_wikidata(settings, root=root)
        log.info("Done: %d people, statuses %s, table %s", provenance["n_people"],
                 provenance["status_counts"], provenance["table_path"])
    else:
        people = load_people(settings, root=root, seed=int(cfg.seed))
        log.info("%s table: %d images in groups %s", people.source, len(people.table),
                 people.provenance.get("group_sizes"))


def composition_problem(overrides: list[str]) -> str | None:
    """Compose ``conf/fetch.yaml`` with ``overrides``; one line on failure, else None.

    Hydra reports a mistyped key or an unknown option over several lines; this says it in one.
    Sweeps (``-m``) and Hydra's own flags are left to Hydra.
    """
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import ConfigCompositionException, MissingConfigException

    conf_dir = Path(__file__).resolve().parents[1] / "conf"
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(conf_dir), version_base="1.3"):
            compose(config_name="fetch", overrides=overrides)
    except MissingConfigException as exc:
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        options = [line for line in lines[2:] if not line.startswith(("Config search",
                                                                      "provider="))]
        return f"{lines[0]}; available: {', '.join(options)}" if options else lines[0]
    except ConfigCompositionException as exc:
        cause = exc.__cause__
        first = str(exc).splitlines()[0]
        if cause is not None and str(cause):
            return f"{first} {str(cause).splitlines()[0]}"
        return first
    finally:
        GlobalHydra.instance().clear()
    return None


def _precheck(argv: list[str]) -> None:
    if any(a.startswith("-") for a in argv):
        return
    problem = composition_problem(
        [a for a in argv if not a.startswith(("hydra.", "hydra/", "+hydra", "~hydra"))])
    if problem:
        print(f"python -m audit.fetch: error: {problem}", file=sys.stderr)  # noqa: T201 - CLI
        sys.exit(2)


if __name__ == "__main__":
    if os.environ.get("HYDRA_FULL_ERROR") != "1":
        _precheck(sys.argv[1:])
    main()
