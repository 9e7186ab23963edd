"""Combine the tables of a multirun into one summary per table, plus a win-rate chart.

``python -m audit.summarize RESULTS_DIR``: finds every run folder below RESULTS_DIR (one with
``.hydra/overrides.yaml``), refuses any that is incomplete (still running or killed: see
:func:`audit.io.require_complete_run`), and stacks each table the runs wrote
(``tables/<name>.csv``, every design's) with the run's override string as a column into
``summary_<name>.csv`` / ``.parquet``. Win rates also go to ``summary.csv``, ``summary.parquet``
and the chart ``summary.png``. Plain argparse: no Hydra needed.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from matplotlib.figure import Figure

from audit.analysis.aggregates import pair_labels
from audit.io import RunFolderError, require_complete_run, write_table
from audit.plots.style import PARITY_COLOR, new_figure, palette, save_figure, theme

log = logging.getLogger(__name__)

OVERRIDES_FILE = Path(".hydra") / "overrides.yaml"
TABLES_DIR = Path("tables")
WIN_RATES_FILE = TABLES_DIR / "win_rates.csv"
#: Tables that describe inputs, not results; repeated per run, so not stacked.
SKIP_TABLES = frozenset({"people"})
_MSG_NOTHING = (
    "no run folders under {root}: expected sub-folders holding {overrides} and "
    "{tables}/*.csv (written by `python -m audit.run -m ...`)"
)
_MSG_NOT_DIR = "results directory {root} does not exist or is not a directory"


def find_runs(results_dir: Path) -> list[Path]:
    """Run folders below ``results_dir`` (sorted), each with overrides and a tables folder."""
    found = {p.parent.parent for p in Path(results_dir).rglob(str(OVERRIDES_FILE))}
    return sorted(run for run in found if any((run / TABLES_DIR).glob("*.csv"))
                  or not run_looks_finished(run))


def run_looks_finished(run: Path) -> bool:
    """Return whether a folder has no sign of an unfinished run (so it can be skipped)."""
    try:
        require_complete_run(run)
    except RunFolderError:
        return False
    return True


def read_overrides(run_dir: Path) -> str:
    """Return the run's Hydra overrides joined with commas (``"(none)"`` when empty)."""
    values = yaml.safe_load((run_dir / OVERRIDES_FILE).read_text(encoding="utf-8")) or []
    return ",".join(str(v) for v in values) or "(none)"


def summarize_tables(results_dir: Path) -> dict[str, pd.DataFrame]:
    """Stack every table of every run below ``results_dir``, one frame per table name.

    Returns
    -------
    dict of str to pandas.DataFrame
        Table name (``win_rates``, ``kway_shares``, ``prob_score_max`` ...) to ``overrides``,
        ``run_dir`` (relative to ``results_dir``), then that table's columns. Runs without
        a table contribute no rows to it.

    Raises
    ------
    FileNotFoundError
        If ``results_dir`` is missing or holds no run folder.
    RunFolderError
        If a run folder is incomplete (its name and state in the message).
    """
    root = Path(results_dir)
    if not root.is_dir():
        raise FileNotFoundError(_MSG_NOT_DIR.format(root=root))
    runs = find_runs(root)
    if not runs:
        raise FileNotFoundError(_MSG_NOTHING.format(root=root, overrides=OVERRIDES_FILE,
                                                    tables=TABLES_DIR))  # fmt: skip
    for run in runs:
        require_complete_run(run)
    parts: dict[str, list[pd.DataFrame]] = {}
    for run in runs:
        overrides = read_overrides(run)
        for csv in sorted((run / TABLES_DIR).glob("*.csv")):
            if csv.stem in SKIP_TABLES:
                continue
            table = pd.read_csv(csv)
            table.insert(0, "run_dir", run.relative_to(root).as_posix())
            table.insert(0, "overrides", overrides)
            parts.setdefault(csv.stem, []).append(table)
    log.info("combined %d tables of %d runs from %s", len(parts), len(runs), root)
    return {name: pd.concat(frames, ignore_index=True) for name, frames in sorted(parts.items())}


def summarize_runs(results_dir: Path) -> pd.DataFrame:
    """Stack the win-rate tables of every run below ``results_dir``.

    Returns
    -------
    pandas.DataFrame
        ``overrides``, ``run_dir`` (relative to ``results_dir``), then the win-rate columns.

    Raises
    ------
    FileNotFoundError
        If ``results_dir`` is missing or holds no run folder with a win-rate table.
    RunFolderError
        If a run folder is incomplete.
    """
    tables = summarize_tables(results_dir)
    if "win_rates" not in tables:
        raise FileNotFoundError(_MSG_NOTHING.format(root=results_dir, overrides=OVERRIDES_FILE,
                                                    tables=WIN_RATES_FILE))  # fmt: skip
    return tables["win_rates"]


def plot_summary(summary: pd.DataFrame, *, context: str = "paper") -> Figure:
    """Draw grouped bars of the win rate per pair, one colour per run (override string)."""
    pairs = summary[["group_a", "group_b"]].drop_duplicates().reset_index(drop=True)
    runs = list(dict.fromkeys(summary["overrides"]))
    width = 0.8 / len(runs)
    with theme(context):
        fig, ax = new_figure(figsize=(2.0 + 1.3 * len(pairs), 4.0))
        for i, (run, colour) in enumerate(zip(runs, palette(len(runs)), strict=True)):
            sub = pairs.merge(summary[summary["overrides"] == run], how="left",
                              on=["group_a", "group_b"])  # fmt: skip
            x = np.arange(len(pairs)) + (i - (len(runs) - 1) / 2) * width
            rate = sub["rate"].to_numpy(dtype=float)
            ax.bar(x, rate, width=width, color=colour, label=run)
            if {"ci_low", "ci_high"} <= set(sub.columns):
                ax.errorbar(x, rate, yerr=[rate - sub["ci_low"], sub["ci_high"] - rate],
                            fmt="none", ecolor="black", capsize=2, linewidth=1)  # fmt: skip
        ax.axhline(0.5, color=PARITY_COLOR, linestyle="--", linewidth=1, label="parity")
        ax.set_xticks(np.arange(len(pairs)), pair_labels(pairs["group_a"], pairs["group_b"]),
                      rotation=30, ha="right")  # fmt: skip
        ax.set_ylabel("share won by first-named group")
        ax.legend(fontsize="x-small")
    return fig


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m audit.summarize",
        description="Combine the tables of a multirun folder, one summary per table.",
    )
    parser.add_argument(
        "results_dir", type=Path, help="multirun folder (e.g. results/NAME/multirun_TS)"
    )
    parser.add_argument("--dpi", type=int, default=150, help="resolution of summary.png")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        tables = summarize_tables(args.results_dir)
    except (FileNotFoundError, RunFolderError) as exc:
        parser.exit(2, f"error: {exc}\n")
    root = args.results_dir
    for name, table in tables.items():
        write_table(root / f"summary_{name}", table)
    summary = tables.get("win_rates")
    if summary is not None:
        write_table(root / "summary", summary)
        save_figure(plot_summary(summary), root / "summary", formats=("png",), dpi=args.dpi)
    log.info("wrote %s to %s", ", ".join(f"summary_{n}.csv" for n in tables), root)
    return 0


if __name__ == "__main__":
    sys.exit(main())
