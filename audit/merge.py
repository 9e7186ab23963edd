"""Combine the shards of one run: ``python -m audit.merge OUT_DIR SHARD_DIR [SHARD_DIR ...]``.

Each shard (``compare.shard=i/N``) computed the chunks ``c`` with ``c % N == i`` of the same
trial plan and wrote their records. The merge checks that the shards belong to one run
(identical settings apart from ``compare.shard``) and cover every chunk exactly once,
concatenates the records in canonical order, and writes a complete run folder (statistics,
figures, manifest, report) whose tables equal those of a single-process run byte for byte.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
import time
from pathlib import Path

import pandas as pd
from omegaconf import OmegaConf

from audit.config import AuditConfig, to_settings
from audit.io import OutputError, claim_run_folder, project_root, require_complete_run
from audit.pipeline import RunResult, prepare_people, sort_records, write_run
from audit.stages import RECORD_FILES

log = logging.getLogger("audit.merge")

#: Composite record kinds a shard can hold (per-image designs are never sharded).
_SHARDED_KINDS = ("pairs", "kway", "crops", "robustness")


class MergeError(ValueError):
    """Shards that cannot be combined; the message says which and why."""


def load_shard_settings(folder: Path) -> AuditConfig:
    """Typed settings of a finished run folder (its resolved ``config.yaml``)."""
    path = folder / "config.yaml"
    if not path.is_file():
        raise MergeError(f"{folder} is not a run folder: {path.name} is missing")
    cfg = OmegaConf.merge(OmegaConf.structured(AuditConfig), OmegaConf.load(path))
    return to_settings(cfg)


def _comparable(settings: AuditConfig) -> dict:
    data = dataclasses.asdict(settings)
    data["compare"].pop("shard")
    data["compare"].pop("workers")
    data["model"] = {k: v for k, v in data["model"].items() if k not in ("device", "batch_size")}
    return data


def merge_shards(shard_dirs: list[Path], out_dir: Path, *, command: str = "") -> RunResult:
    """Check, combine and analyse shard folders into ``out_dir``.

    Raises
    ------
    MergeError
        Shards differ in settings, repeat or miss a shard index, or lack records.
    """
    started = time.time()
    if not shard_dirs:
        raise MergeError("give at least one shard folder")
    settings_list = [load_shard_settings(Path(d)) for d in shard_dirs]
    for d in shard_dirs:  # a killed or failed shard's records are not a shard's records
        require_complete_run(Path(d))
    first = settings_list[0]
    for folder, s in zip(shard_dirs[1:], settings_list[1:], strict=True):
        if _comparable(s) != _comparable(first):
            raise MergeError(f"{folder} was run with other settings than {shard_dirs[0]}; "
                             "only compare.shard, compare.workers, model.device and "
                             "model.batch_size may differ between shards")
    indices = [s.compare.shard_index for s in settings_list]
    count = indices[0][1]
    seen = sorted(i for i, _ in indices)
    if any(n != count for _, n in indices) or seen != list(range(count)):
        raise MergeError(f"shards must be 0/{count} .. {count - 1}/{count}, each once; "
                         f"got {[f'{i}/{n}' for i, n in indices]}")
    manifests = [json.loads((Path(d) / "manifest.json").read_text()) for d in shard_dirs]

    settings = dataclasses.replace(first, compare=dataclasses.replace(first.compare, shard=None))
    out = claim_run_folder(Path(out_dir))
    result = RunResult(output_dir=out)
    for kind in _SHARDED_KINDS:
        name = f"{RECORD_FILES[kind]}.parquet"
        parts = [Path(d) / name for d in shard_dirs]
        present = [p for p in parts if p.is_file()]
        if not present:
            continue
        if len(present) != len(parts):
            raise MergeError(f"{name} is missing in {sorted(set(parts) - set(present))}")
        frames = [pd.read_parquet(p) for p in present]
        # the same operations as a single-process run on its checkpoint files
        result.records[kind] = sort_records(pd.concat(frames, ignore_index=True))
    if not result.records:
        raise MergeError("no records.parquet in the shard folders; were they composite runs?")

    root = project_root(settings.paths.root)
    people, table, members, groups = prepare_people(settings, root=root)
    result.tables["groups"] = groups
    context = {"table": table, "members": members,
               "merged_from": [str(Path(d).resolve()) for d in shard_dirs]}
    config_yaml = OmegaConf.to_yaml(OmegaConf.structured(settings))
    return write_run(settings, result, context, people=people,
                     model_info=manifests[0].get("model", {}), started=started,
                     config_yaml=config_yaml, command=command,
                     extra={"merged_from": context["merged_from"]})


def main(argv: list[str] | None = None) -> int:
    """Command-line entry; returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m audit.merge", description=__doc__.split(
        "\n\n")[0])
    parser.add_argument("out_dir", type=Path, help="folder for the merged run")
    parser.add_argument("shards", type=Path, nargs="+", help="shard run folders")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s][%(name)s] %(message)s")
    try:
        merge_shards(args.shards, args.out_dir, command=" ".join(sys.argv))
    except (MergeError, FileNotFoundError, ValueError, OutputError) as exc:
        print(f"python -m audit.merge: error: {exc}", file=sys.stderr)  # noqa: T201 - CLI
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
