"""Layout variants for ``experiment=robustness``: the same drawn pairs, slightly changed layouts.

``compare.perturbations`` lists variants, each a ``name`` plus any of the layout keys
``margin`` (extra fill ``[left, top, right, bottom]``: padding on either side, or a shift of
both images by a few pixels), ``padding`` (fill between and around the images) and
``pad_color`` (the fill colour). Every variant re-runs exactly the jobs of the base run; the
outcomes of all variants are stacked in one long table (``records_robustness``) whose rows say
which variant, cropper and measure (``argmax`` or ``crop`` at a ratio) they belong to.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from audit.compare.settings import LayoutConfig

#: Layout keys a variant may change.
VARIANT_KEYS = ("margin", "padding", "pad_color")
#: Name of the unperturbed layout in ``records_robustness``.
BASE = "base"
_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")

#: Columns of ``records_robustness``, in file order.
ROBUSTNESS_COLUMNS = (
    "trial", "order", "design", "group_a", "group_b", "image_a", "image_b", "position_a",
    "cropper", "measure", "aspect_ratio", "variant", "outcome",
)
_ID = ["trial", "order", "design", "group_a", "group_b", "image_a", "image_b", "position_a",
       "cropper"]


def variant_layouts(base: LayoutConfig, perturbations: Sequence[Mapping[str, Any]]
                    ) -> list[tuple[str, LayoutConfig]]:
    """``(name, layout)`` per variant, each the base layout with the variant's keys replaced.

    Raises
    ------
    ValueError
        One line naming the entry: no or a repeated name, an unknown key, a bad value.

    Examples
    --------
    >>> [(n, l.margin) for n, l in variant_layouts(LayoutConfig(), [
    ...     {"name": "left10", "margin": [10, 0, 0, 0]}])]
    [('left10', [10, 0, 0, 0])]
    """
    out: list[tuple[str, LayoutConfig]] = []
    for i, entry in enumerate(perturbations):
        where = f"compare.perturbations[{i}]"
        if not isinstance(entry, Mapping):
            raise ValueError(f"{where} must be a mapping like {{name: left10, margin: "
                             f"[10, 0, 0, 0]}}, got {entry!r}")
        name = str(entry.get("name", ""))
        if not _NAME.match(name) or name == BASE or name in {n for n, _ in out}:
            raise ValueError(f"{where}.name must be a unique word other than {BASE!r} "
                             f"(letters, digits, _.-), got {entry.get('name')!r}")
        unknown = sorted(set(entry) - {"name", *VARIANT_KEYS})
        if unknown:
            raise ValueError(f"{where} has unknown key(s) {unknown}; a variant may set "
                             f"{list(VARIANT_KEYS)}")
        changes = {k: (list(v) if isinstance(v, Sequence) and not isinstance(v, str) else v)
                   for k, v in entry.items() if k != "name"}
        try:
            layout = dataclasses.replace(base, **changes)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{where} ({name}): {exc}") from None
        out.append((name, layout))
    return out


def long_outcomes(records: pd.DataFrame, crops: pd.DataFrame | None, variant: str
                  ) -> pd.DataFrame:
    """One variant's outcomes as ``records_robustness`` rows (argmax and crop outcomes)."""
    parts = []
    if not records.empty:
        parts.append(records[_ID + ["outcome"]].assign(measure="argmax", aspect_ratio=float("nan")))
    if crops is not None and not crops.empty:
        parts.append(crops[_ID + ["aspect_ratio"]].assign(measure="crop",
                                                          outcome=crops["crop_outcome"]))
    if not parts:
        return pd.DataFrame(columns=list(ROBUSTNESS_COLUMNS))
    frame = pd.concat(parts, ignore_index=True).assign(variant=variant)
    frame = frame[list(ROBUSTNESS_COLUMNS)]
    return frame.sort_values(["trial", "order"], kind="stable").reset_index(drop=True)
