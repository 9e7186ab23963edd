"""Settings of the male-gaze experiment (``conf/gaze/*.yaml``), with range checks.

Field names equal the keyword parameters of the functions they feed:
:func:`audit.gaze.regions.select_male_gaze_images` (selection),
:func:`audit.gaze.faces.make_detector` (detection), :mod:`audit.gaze.source` (who judges) and
:func:`audit.gaze.faces.head_box` (head widening).
"""

from __future__ import annotations

from dataclasses import dataclass

from audit.gaze.faces import DETECTORS
from audit.gaze.source import HEAD_SOURCES


@dataclass
class GazeConfig:
    """Male-gaze settings (``gaze``); defaults follow the study where it fixed a value."""

    # Selection (the study's values).
    min_aspect: float = 1.25  # keep images with height / width >= this ("tall")
    min_regions: int = 2  # keep images whose map has at least this many regions ...
    min_area: int = 1000  # ... each strictly larger than this many pixels
    n_per_group: int = 100  # stop a group once this many images are kept
    jpeg_only: bool = True  # the study skipped non-JPEG files
    seed: int = 42  # shuffle seed of the per-group walk (the study used random_state=42)
    # Who judges "on the head": auto = generator truth, else review labels, else the detector
    # (no shipped detector has equal recall across skin tones: bench/README.md).
    head_source: str = "auto"
    # Face detection.
    detector: str = "haar"  # one of audit.gaze.faces.DETECTORS
    upsample: int = 1  # dlib_hog only: image doublings before the scan
    scale_factor: float = 1.1  # Haar pyramid step
    min_neighbors: int = 5  # Haar overlapping detections needed to accept a face
    min_face_frac: float = 0.05  # smallest face side as a fraction of the image's shorter side
    # Face box -> head box.
    head_width_factor: float = 1.6  # head width / face width, centred on the face
    head_height_factor: float = 2.0  # head height / face height
    head_shift_up: float = 0.1  # head centre sits this many face heights above the face centre
    # Human review: the CSV exported from review/index.html of an earlier run, merged back in.
    review_csv: str | None = None

    def __post_init__(self) -> None:
        if not self.min_aspect > 0:
            raise ValueError(f"gaze.min_aspect must be > 0, got {self.min_aspect}")
        if self.min_regions < 0:
            raise ValueError(f"gaze.min_regions must be >= 0, got {self.min_regions}")
        if self.min_area < 0:
            raise ValueError(f"gaze.min_area must be >= 0, got {self.min_area}")
        if self.n_per_group < 1:
            raise ValueError(f"gaze.n_per_group must be >= 1, got {self.n_per_group}")
        if self.detector not in DETECTORS:
            raise ValueError(
                f"gaze.detector must be one of {', '.join(DETECTORS)}, got {self.detector!r}"
            )
        if self.head_source not in HEAD_SOURCES:
            raise ValueError(
                f"gaze.head_source must be one of {', '.join(HEAD_SOURCES)}, "
                f"got {self.head_source!r}"
            )
        if self.upsample < 0:
            raise ValueError(f"gaze.upsample must be >= 0, got {self.upsample}")
        if not self.scale_factor > 1:
            raise ValueError(f"gaze.scale_factor must be > 1, got {self.scale_factor}")
        if self.min_neighbors < 0:
            raise ValueError(f"gaze.min_neighbors must be >= 0, got {self.min_neighbors}")
        if not 0 < self.min_face_frac <= 1:
            raise ValueError(f"gaze.min_face_frac must be in (0, 1], got {self.min_face_frac}")
        if self.head_width_factor < 1:
            raise ValueError(
                f"gaze.head_width_factor must be >= 1, got {self.head_width_factor}"
            )
        if self.head_height_factor < 1:
            raise ValueError(
                f"gaze.head_height_factor must be >= 1, got {self.head_height_factor}"
            )
        # The head box must still cover the face: the shift may use at most the extra height.
        limit = (self.head_height_factor - 1) / 2
        if not -limit <= self.head_shift_up <= limit:
            raise ValueError(
                f"gaze.head_shift_up must be within ±(head_height_factor - 1) / 2 = ±{limit:g} "
                f"so the head box still covers the face, got {self.head_shift_up}"
            )
