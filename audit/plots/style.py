"""The one figure theme of cropaudit (seaborn, colour-blind-safe palette) and the figure saver.

Plot functions draw inside :func:`theme` on a bare :class:`matplotlib.figure.Figure` (no pyplot,
so no display and no global figure registry) and return it; only :func:`save_figure` writes.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import matplotlib as mpl
import seaborn as sns
from cycler import cycler
from matplotlib.figure import Figure

log = logging.getLogger(__name__)

PALETTE_NAME = "colorblind"
PARITY_COLOR = "0.25"
_MSG_FORMAT = "figure format {fmt!r} is not supported; use png, pdf or svg (plots.formats)"


def palette(n: int) -> list[tuple[float, float, float]]:
    """Return the first ``n`` colours of the colour-blind-safe palette (cycled past 10)."""
    return sns.color_palette(PALETTE_NAME, n_colors=max(n, 1))


def group_palette(groups: Sequence[str]) -> dict[str, tuple[float, float, float]]:
    """Stable colour per group label: sorted labels take palette colours in order."""
    names = sorted(set(groups))
    return dict(zip(names, palette(len(names)), strict=True))


def theme_rc(context: str = "paper") -> dict:
    """Matplotlib rc parameters of the theme (seaborn whitegrid + context + palette)."""
    rc = {**sns.axes_style("whitegrid"), **sns.plotting_context(context)}
    rc["axes.prop_cycle"] = cycler(color=palette(10))
    rc["figure.dpi"] = 100
    return rc


@contextmanager
def theme(context: str = "paper") -> Iterator[None]:
    """Apply the theme for the duration of a block without touching global settings."""
    with mpl.rc_context(theme_rc(context)):
        yield


def new_figure(nrows: int = 1, ncols: int = 1, *, figsize: tuple[float, float] = (6.0, 4.0),
               **kwargs: object) -> tuple[Figure, object]:  # fmt: skip
    """Create a pyplot-free Figure and its axes (call inside :func:`theme`)."""
    fig = Figure(figsize=figsize, layout="constrained")
    axes = fig.subplots(nrows, ncols, **kwargs)
    return fig, axes


def save_figure(
    fig: Figure, stem: Path, formats: Sequence[str] = ("png", "pdf"), dpi: int = 150
) -> list[Path]:
    """Save ``fig`` as ``stem.<fmt>`` for each format; the only writer in :mod:`audit.plots`.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        Figure to save.
    stem : pathlib.Path
        Path without suffix (the pipeline passes paths inside the run folder).
    formats : sequence of str
        Any of ``png``, ``pdf``, ``svg``.
    dpi : int
        Raster resolution.

    Returns
    -------
    list of pathlib.Path
        Files written.
    """
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    written = []
    for fmt in formats:
        if fmt not in ("png", "pdf", "svg"):
            raise ValueError(_MSG_FORMAT.format(fmt=fmt))
        path = stem.with_name(f"{stem.name}.{fmt}")
        # fixed metadata keeps PDFs/SVGs byte-stable across runs
        metadata = {"png": {"Software": None}, "pdf": {"CreationDate": None},
                    "svg": {"Date": None}}[fmt]  # fmt: skip
        fig.savefig(path, format=fmt, dpi=dpi, metadata=metadata)
        written.append(path)
        log.debug("wrote %s", path)
    return written
