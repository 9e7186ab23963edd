"""Settings of the comparison designs (``conf/compare/``): who is compared, how composites look."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

DESIGNS = (
    "pairwise", "all_groups", "saliency_stats", "male_gaze", "counterfactual", "paper_counts",
)
#: Ways to turn a scaled width (or height) into whole pixels: round, or floor (the study).
SIZE_ROUNDING = ("round", "floor")
#: Pillow resize filters by name (``PIL.Image.Resampling`` members, lower case).
RESAMPLE = ("lanczos", "bicubic", "bilinear", "box", "hamming", "nearest")
_SHARD = re.compile(r"^(\d+)/(\d+)$")


@dataclass
class LayoutConfig:
    """How images are scaled and pasted into one composite (``compare.layout``).

    ``direction`` horizontal puts slots left to right (the study), vertical top to bottom.
    ``align`` start = top (horizontal) / left (vertical), as in the study; center centres the
    shorter image. ``scaling`` none keeps original sizes (the study's "no scaling"),
    fixed_height resizes every image to ``fixed_height`` px tall (256 in the study), max_side
    shrinks images whose longer side exceeds ``max_side``. ``size_rounding`` round rounds the
    scaled width to the nearest pixel; floor truncates it as the study's
    ``int(w * 256 / h)`` did. ``resample`` names Pillow's resize filter: lanczos (cropaudit's
    default) or bicubic, the filter of a bare ``Image.resize`` in Pillow >= 7 and so the
    study's; the others Pillow offers are accepted too.
    """

    direction: str = "horizontal"
    padding: int = 0
    pad_color: list[int] = field(default_factory=lambda: [0, 0, 0])
    align: str = "start"
    scaling: str = "none"
    fixed_height: int = 256
    max_side: int = 1024
    size_rounding: str = "round"
    resample: str = "lanczos"
    #: Extra fill ``[left, top, right, bottom]`` around the canvas (robustness variants).
    margin: list[int] = field(default_factory=lambda: [0, 0, 0, 0])

    def __post_init__(self) -> None:
        if self.size_rounding not in SIZE_ROUNDING:
            raise ValueError(
                f"compare.layout.size_rounding must be one of {', '.join(SIZE_ROUNDING)}, "
                f"got {self.size_rounding!r}"
            )
        if self.resample not in RESAMPLE:
            raise ValueError(
                f"compare.layout.resample must be one of {', '.join(RESAMPLE)}, "
                f"got {self.resample!r}"
            )
        if self.direction not in ("horizontal", "vertical"):
            raise ValueError(
                f"compare.layout.direction must be horizontal or vertical, got {self.direction!r}"
            )
        if self.align not in ("start", "center"):
            raise ValueError(f"compare.layout.align must be start or center, got {self.align!r}")
        if self.scaling not in ("none", "fixed_height", "max_side"):
            raise ValueError(
                "compare.layout.scaling must be none, fixed_height or max_side, "
                f"got {self.scaling!r}"
            )
        if self.padding < 0:
            raise ValueError(f"compare.layout.padding must be >= 0, got {self.padding}")
        if len(self.pad_color) != 3 or any(not 0 <= int(c) <= 255 for c in self.pad_color):
            raise ValueError(
                f"compare.layout.pad_color must be three values in 0..255, got {self.pad_color}"
            )
        if self.fixed_height < 1:
            raise ValueError(f"compare.layout.fixed_height must be >= 1, got {self.fixed_height}")
        if self.max_side < 1:
            raise ValueError(f"compare.layout.max_side must be >= 1, got {self.max_side}")
        if len(self.margin) != 4 or any(int(m) < 0 for m in self.margin):
            raise ValueError("compare.layout.margin must be four values >= 0 (left, top, right, "
                             f"bottom), got {self.margin}")


@dataclass
class CompareConfig:
    """Which comparison runs and how many trials (``conf/compare/``).

    Attributes
    ----------
    design : str
        pairwise (two slots, every pair of groups), all_groups (one slot per group, k-way),
        saliency_stats and male_gaze (each image alone), counterfactual (the same synthetic
        portrait in each tone, pairwise and all at once).
    group_by : list of str
        People-table columns whose values define a group (joined with ``_``).
    groups : list of str or None
        Restrict to, and order, these group labels; ``None`` keeps every group.
    n_trials : int
        Drawn pairs (or tuples) per group pair; each is run in both orders when
        ``counterbalance`` is on.
    baseline_trials : int
        Same-group trials per group (A vs A), which measure the position preference alone.
    counterbalance : bool
        Run every drawn pair in both orders so that position is never confounded with group.
    max_composites : int or None
        Refuse a plan of more composites than this before planning it; ``None`` derives the
        cap from the memory available (see :func:`audit.pipeline.composite_cap`).
    croppers : list of str or None
        Several croppers on the same composites (names of ``conf/cropper/*.yaml``); ``None``
        runs just the selected ``cropper`` group.
    perturbations : list of dict or None
        Layout variants under which the same drawn pairs are re-run (``experiment=robustness``;
        see :mod:`audit.compare.robustness`).
    """

    design: str = "pairwise"
    group_by: list[str] = field(default_factory=list)
    groups: list[str] | None = None
    n_trials: int = 50
    baseline_trials: int = 50
    counterbalance: bool = True
    layout: LayoutConfig = field(default_factory=LayoutConfig)
    on_model_error: str = "record"
    jpeg_roundtrip: bool = False
    jpeg_quality: int = 95  # the paper configs use 75, Pillow's own default (the study's)
    temperature: float = 1.0
    top_k: int = 5
    max_images: int | None = None
    shard: str | None = None
    chunk_size: int = 64
    workers: int = 0
    max_composites: int | None = None
    croppers: list[str] | None = None
    perturbations: list[Any] | None = None

    def __post_init__(self) -> None:
        if self.design not in DESIGNS:
            raise ValueError(f"compare.design must be one of {list(DESIGNS)}, got {self.design!r}")
        if self.n_trials < 1:
            raise ValueError(f"compare.n_trials must be >= 1, got {self.n_trials}")
        if self.baseline_trials < 0:
            raise ValueError(f"compare.baseline_trials must be >= 0, got {self.baseline_trials}")
        if self.on_model_error not in ("record", "raise"):
            raise ValueError(
                f"compare.on_model_error must be record or raise, got {self.on_model_error!r}"
            )
        if not 1 <= self.jpeg_quality <= 100:
            raise ValueError(f"compare.jpeg_quality must be in 1..100, got {self.jpeg_quality}")
        if self.temperature <= 0:
            raise ValueError(f"compare.temperature must be > 0, got {self.temperature}")
        if self.top_k < 1:
            raise ValueError(f"compare.top_k must be >= 1, got {self.top_k}")
        if self.max_images is not None and self.max_images < 1:
            raise ValueError(f"compare.max_images must be >= 1 or null, got {self.max_images}")
        if self.chunk_size < 1:
            raise ValueError(f"compare.chunk_size must be >= 1, got {self.chunk_size}")
        if self.workers < 0:
            raise ValueError(f"compare.workers must be >= 0, got {self.workers}")
        if self.shard is not None:
            parse_shard(self.shard)
        if self.max_composites is not None and self.max_composites < 1:
            raise ValueError(
                f"compare.max_composites must be >= 1 or null, got {self.max_composites}")
        if self.perturbations is not None:
            from audit.compare.robustness import variant_layouts

            variant_layouts(self.layout, self.perturbations)  # one line naming a bad entry
        if self.croppers is not None and (
                not self.croppers or len(set(self.croppers)) != len(self.croppers)):
            raise ValueError(
                "compare.croppers must be null or a non-empty list of distinct cropper names, "
                f"got {self.croppers}")

    @property
    def shard_index(self) -> tuple[int, int]:
        """``(i, n)`` of ``compare.shard=i/N`` (``(0, 1)`` when unsharded)."""
        return parse_shard(self.shard) if self.shard else (0, 1)


def parse_shard(text: str) -> tuple[int, int]:
    """Parse ``"i/N"`` (0-based shard ``i`` of ``N``).

    Examples
    --------
    >>> parse_shard("1/4")
    (1, 4)
    """
    m = _SHARD.match(str(text).strip())
    if not m or not 0 <= int(m.group(1)) < int(m.group(2)):
        raise ValueError(f"compare.shard must look like i/N with 0 <= i < N, got {text!r}")
    return int(m.group(1)), int(m.group(2))
