"""Who judges the head: the detector, the generator's truth, or people; and the detector's recall.

No face detector that ships inside a package finds faces equally well across skin tones on the
synthetic portraits (``bench/detectors.py``, results in ``bench/README.md``: every candidate's
recall falls to about 0 at Monk tones 8-10). A detector-judged head check would therefore cover
light faces more than dark ones, the very bias under audit. :func:`choose_head_source` picks, for
``gaze.head_source=auto``, the generator's truth where the images have it, people's labels
(``gaze.review_csv``) where given, and the detector only as a last resort, with a reason the
report prints. :func:`detector_recall` measures the detector against the truth per group.
"""

from __future__ import annotations

import pandas as pd

from audit.crop.geometry import Box

#: Values of ``gaze.head_source``.
HEAD_SOURCES = ("auto", "truth", "review", "detector")
#: Columns of :func:`detector_recall`.
RECALL_COLUMNS = ("by", "group", "n", "n_found", "recall", "recall_low", "recall_high")

_WHY_TRUTH = ("head judged by the generator's truth (its drawn head); no shipped face detector "
              "has equal recall across skin tones (bench/README.md), so the detector is only "
              "checked against the truth (gaze_detector_recall)")
_WHY_REVIEW = ("head judged by people's labels from gaze.review_csv (only reviewed images count); "
               "no shipped face detector has equal recall across skin tones (bench/README.md)")
_WHY_DETECTOR = ("head judged by the {detector} face detector, which did NOT qualify: its recall "
                 "falls on dark skin (bench/README.md), so shares may cover light faces more "
                 "than dark ones; label review/index.html and pass gaze.review_csv=PATH")


def choose_head_source(head_source: str, *, has_truth: bool, has_review: bool,
                       detector: str) -> tuple[str, str]:
    """Resolve ``gaze.head_source`` to ``truth``, ``review`` or ``detector`` and say why.

    Parameters
    ----------
    head_source : {"auto", "truth", "review", "detector"}
        The setting; auto prefers truth, then review labels, then the detector.
    has_truth : bool
        Whether every selected image has a generator head (synthetic data).
    has_review : bool
        Whether ``gaze.review_csv`` is set.
    detector : str
        Detector name, for the message.

    Returns
    -------
    source, reason : str
        The source used and a one-line reason for the report.

    Raises
    ------
    ValueError
        If truth or review labels are asked for but not available.

    Examples
    --------
    >>> choose_head_source("auto", has_truth=False, has_review=True, detector="haar")[0]
    'review'
    """
    if head_source not in HEAD_SOURCES:
        raise ValueError(f"gaze.head_source must be one of {', '.join(HEAD_SOURCES)}, "
                         f"got {head_source!r}")
    if head_source == "truth" and not has_truth:
        raise ValueError("gaze.head_source=truth needs generated images (data=synthetic), whose "
                         "head position is known; use review or detector for photos")
    if head_source == "review" and not has_review:
        raise ValueError("gaze.head_source=review needs gaze.review_csv=PATH (the CSV exported "
                         "from review/index.html of an earlier run)")
    source = head_source
    if source == "auto":
        source = "truth" if has_truth else "review" if has_review else "detector"
    reason = {"truth": _WHY_TRUTH, "review": _WHY_REVIEW,
              "detector": _WHY_DETECTOR.format(detector=detector)}[source]
    return source, reason


def face_found(face: Box | None, truth: Box) -> bool:
    """Whether a detected face box matches the drawn head.

    It must hold the head's centre and be 0.5-3 times as wide (the rule of
    ``bench/detectors.py``).

    Examples
    --------
    >>> face_found(Box(40, 40, 30, 30), Box(30, 30, 50, 60))
    True
    >>> face_found(None, Box(30, 30, 50, 60)) or face_found(Box(0, 0, 8, 8), Box(0, 0, 50, 60))
    False
    """
    if face is None:
        return False
    cx, cy = truth.left + truth.width / 2, truth.top + truth.height / 2
    return face.contains(cx, cy) and 0.5 * truth.width <= face.width <= 3 * truth.width


def detector_recall(per_image: pd.DataFrame, by: list[str], *, alpha: float = 0.05
                    ) -> pd.DataFrame:
    """Share of drawn heads the detector found, per value of each column in ``by``.

    Parameters
    ----------
    per_image : DataFrame
        One row per image with a boolean ``true_face_found`` and the ``by`` columns.
    by : list of str
        Grouping columns, each reported separately (e.g. ``group``, ``skin_tone``).
    alpha : float
        1 - level of the Wilson intervals.

    Returns
    -------
    DataFrame
        Columns :data:`RECALL_COLUMNS`, one row per (column, value).

    Examples
    --------
    >>> df = pd.DataFrame({"group": ["a", "a", "b"], "true_face_found": [True, False, True]})
    >>> detector_recall(df, ["group"])[["group", "n", "n_found", "recall"]].values.tolist()
    [['a', 2, 1, 0.5], ['b', 1, 1, 1.0]]
    """
    from statsmodels.stats.proportion import proportion_confint

    rows = []
    for col in by:
        if col not in per_image.columns:
            continue
        for value, sub in per_image.groupby(col, sort=True):
            n, k = int(len(sub)), int(sub["true_face_found"].astype(bool).sum())
            lo, hi = proportion_confint(k, n, alpha=alpha, method="wilson")
            rows.append({"by": col, "group": str(value), "n": n, "n_found": k,
                         "recall": k / n, "recall_low": float(lo), "recall_high": float(hi)})
    return pd.DataFrame(rows, columns=list(RECALL_COLUMNS))
