"""Entry point of the network step: ``python -m audit.fetch data=wikidata data.contact=EMAIL``.

Composes ``conf/fetch.yaml``, turns ``data`` into a typed :class:`~audit.data.settings.DataConfig`
(unknown keys fail) and runs :func:`audit.data.build.fetch_wikidata`. With ``data=synthetic`` or
``data=folder`` it only builds/validates the local table, so the same command checks any source.
"""

from __future__ import annotations

import logging

import hydra
from omegaconf import DictConfig, OmegaConf

from audit.data import load_people
from audit.data.build import fetch_wikidata
from audit.data.settings import DataConfig
from audit.io import project_root

log = logging.getLogger(__name__)


def to_data_config(cfg: DictConfig) -> DataConfig:
    """Merge ``cfg`` onto the DataConfig schema (typos fail) and build the dataclass."""
    merged = OmegaConf.merge(OmegaConf.structured(DataConfig), cfg)
    return OmegaConf.to_object(merged)  # type: ignore[return-value]


@hydra.main(version_base="1.3", config_path="../conf", config_name="fetch")
def main(cfg: DictConfig) -> None:
    """Fetch (wikidata) or build (synthetic, folder) the people table named by ``data``."""
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


if __name__ == "__main__":
    main()
