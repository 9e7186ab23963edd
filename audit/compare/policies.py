"""Crop policies judged on one composite's saliency map: argmax, sampling, top-k mean, softmax mass.

The cropper centres its crop on the single highest-scoring grid cell (argmax). The study argues
that this amplifies small score differences ("argmax bias") and offers sampling the centre with
``P(cell) ∝ exp(score / T)`` instead. :func:`judge` evaluates all of these policies exactly on one
map whose slots (the pasted images) are given as boxes, so a trial records not just who won the
argmax but how close the alternatives were.

A cell belongs to a slot when its centre ``(xs[c], ys[r])`` lies inside the slot's box; cells in
no box are background (the canvas fill).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from audit.crop.geometry import Box
from audit.model.base import SaliencyMap

log = logging.getLogger(__name__)

#: Slot index of cells that lie in no box.
BACKGROUND = -1

_MSG_TEMPERATURE = "compare.temperature must be a finite number > 0, got {value}"
_MSG_TOP_K = "compare.top_k must be >= 1, got {value}"
_MSG_NONFINITE = (
    "saliency map has {n} non-finite score(s) (NaN or inf) on a {rows}x{cols} grid; "
    "the model output is broken for this image"
)
_MSG_EMPTY = "saliency map has an empty {rows}x{cols} score grid"
_MSG_TWO_SLOTS = "record_columns needs exactly 2 slots (A and B), this result has {n}"


@dataclass(frozen=True)
class PolicyResult:
    """How every crop policy judges one composite.

    All per-slot arrays have one entry per box, in the order the boxes were given.

    Attributes
    ----------
    argmax_cell : tuple of int
        ``(row, col)`` of the first maximal cell in row-major order.
    argmax_slot : int
        Slot holding ``argmax_cell``; ``-1`` when it is background.
    p_sample : ndarray of float64
        Probability that a cell drawn with ``P ∝ exp(score / T)`` over ALL cells lies in each slot.
    p_background : float
        The same probability for background cells (``1 - p_sample.sum()`` up to rounding).
    p_sample_given_slot : ndarray of float64
        ``p_sample`` renormalised over slots only (NaN when no slot holds a cell).
    topk_mean : ndarray of float64
        Mean of the ``top_k`` highest scores in each slot (all of them when it has fewer cells;
        NaN when it has none).
    topk_share : ndarray of float64
        ``1/m`` for each of the ``m`` slots tied for the highest ``topk_mean``, else 0.
    mass : ndarray of float64
        Share of the softmax (``T = 1``) mass over ALL cells falling in each slot.
    mass_background : float
        Softmax (``T = 1``) share of the background cells.
    score_max : ndarray of float64
        Highest score among each slot's cells (NaN when it has none).
    n_cells : ndarray of int64
        Number of cells whose centre lies in each slot.
    temperature : float
        ``T`` used for ``p_sample``.
    top_k : int
        ``k`` used for ``topk_mean``.
    """

    argmax_cell: tuple[int, int]
    argmax_slot: int
    p_sample: npt.NDArray[np.float64]
    p_background: float
    p_sample_given_slot: npt.NDArray[np.float64]
    topk_mean: npt.NDArray[np.float64]
    topk_share: npt.NDArray[np.float64]
    mass: npt.NDArray[np.float64]
    mass_background: float
    score_max: npt.NDArray[np.float64]
    n_cells: npt.NDArray[np.int64]
    temperature: float
    top_k: int

    @property
    def topk_winners(self) -> tuple[int, ...]:
        """Slots tied for the highest top-k mean (empty when no slot holds a cell)."""
        return tuple(int(i) for i in np.flatnonzero(self.topk_share > 0))

    def record_columns(self, *, a_slot: int = 0) -> dict[str, float]:
        """Return the pairwise record columns (see the record schema) of a two-slot composite.

        Parameters
        ----------
        a_slot : int
            Slot holding image A (1 when the pair ran in swapped order).

        Returns
        -------
        dict
            ``p_a_sample``, ``p_a_topk``, ``mass_a``, ``mass_b``, ``score_max_a``, ``score_max_b``.

        Raises
        ------
        ValueError
            If the result does not have exactly two slots.
        """
        if self.p_sample.size != 2:
            raise ValueError(_MSG_TWO_SLOTS.format(n=self.p_sample.size))
        a, b = a_slot, 1 - a_slot
        return {
            "p_a_sample": float(self.p_sample_given_slot[a]),
            "p_a_topk": float(self.topk_share[a]),
            "mass_a": float(self.mass[a]),
            "mass_b": float(self.mass[b]),
            "score_max_a": float(self.score_max[a]),
            "score_max_b": float(self.score_max[b]),
        }


def logsumexp(values: npt.ArrayLike) -> float:
    """``log Σ exp(v)`` computed stably (shifted by the maximum); ``-inf`` for no values.

    A plain numpy version: scipy's generic one costs more than the sums it does here, and this
    runs for every composite.

    Examples
    --------
    >>> round(logsumexp([1000.0, 1000.0]), 6)
    1000.693147
    """
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        return -np.inf
    top = float(v.max())
    if not np.isfinite(top):
        return top
    return top + float(np.log(np.exp(v - top).sum()))

def _check_scores(smap: SaliencyMap) -> npt.NDArray[np.float64]:
    scores = np.asarray(smap.scores, dtype=np.float64)
    rows, cols = scores.shape
    if scores.size == 0:
        raise ValueError(_MSG_EMPTY.format(rows=rows, cols=cols))
    bad = int(np.count_nonzero(~np.isfinite(scores)))
    if bad:
        raise ValueError(_MSG_NONFINITE.format(n=bad, rows=rows, cols=cols))
    return scores


def _check_temperature(temperature: float) -> float:
    t = float(temperature)
    if not np.isfinite(t) or t <= 0:
        raise ValueError(_MSG_TEMPERATURE.format(value=temperature))
    return t


def cell_slots(smap: SaliencyMap, boxes: Sequence[Box]) -> npt.NDArray[np.int64]:
    """Slot index of every grid cell.

    Parameters
    ----------
    smap : SaliencyMap
        The map; ``xs``/``ys`` give each column's / row's cell centre in composite pixels.
    boxes : sequence of Box
        Slot rectangles in composite pixels. Slots should not overlap; if they do, a cell goes to
        the first box that contains its centre.

    Returns
    -------
    ndarray of int64, shape (rows, cols)
        Index into ``boxes`` of the box holding each cell's centre, ``-1`` for background.
    """
    xs = np.asarray(smap.xs, dtype=np.float64)
    ys = np.asarray(smap.ys, dtype=np.float64)
    slots = np.full((ys.size, xs.size), BACKGROUND, dtype=np.int64)
    # Walk boxes in reverse so that, on overlap, the first box listed is the one that sticks.
    for i in range(len(boxes) - 1, -1, -1):
        b = boxes[i]
        in_x = (xs >= b.left) & (xs < b.right)
        in_y = (ys >= b.top) & (ys < b.bottom)
        slots[np.ix_(in_y, in_x)] = i
    return slots


def _slot_logmass(
    logits: npt.NDArray[np.float64], slots: npt.NDArray[np.int64], n: int
) -> tuple[npt.NDArray[np.float64], float]:
    """``log Σ exp(logit)`` per slot and for the background (``-inf`` when empty)."""
    out = np.full(n, -np.inf)
    for i in range(n):
        sel = logits[slots == i]
        if sel.size:
            out[i] = logsumexp(sel)
    bg = logits[slots == BACKGROUND]
    return out, (float(logsumexp(bg)) if bg.size else -np.inf)


def _shares(
    logits: npt.NDArray[np.float64], slots: npt.NDArray[np.int64], n: int
) -> tuple[npt.NDArray[np.float64], float, npt.NDArray[np.float64]]:
    """Softmax shares per slot, background share, and shares renormalised over slots."""
    per_slot, bg = _slot_logmass(logits, slots, n)
    # Shift by the global log-normaliser so that scores of 1000 never overflow.
    total = float(logsumexp(logits))
    p = np.exp(per_slot - total)
    p_bg = float(np.exp(bg - total))
    in_slots = float(logsumexp(per_slot)) if np.isfinite(per_slot).any() else -np.inf
    given = np.exp(per_slot - in_slots) if np.isfinite(in_slots) else np.full(n, np.nan)
    return p, p_bg, given


def judge(
    smap: SaliencyMap, boxes: Sequence[Box], *, temperature: float = 1.0, top_k: int = 5
) -> PolicyResult:
    """Judge one composite under the argmax, sampling, top-k-mean and softmax-mass policies.

    Parameters
    ----------
    smap : SaliencyMap
        Saliency map of the composite.
    boxes : sequence of Box
        Slot rectangles in composite pixels, e.g. ``[box_a, box_b]``.
    temperature : float, default 1.0
        ``T`` of the sampling policy ``P(cell) ∝ exp(score / T)``; must be > 0.
    top_k : int, default 5
        Number of best cells averaged per slot by the top-k policy; must be >= 1.

    Returns
    -------
    PolicyResult

    Raises
    ------
    ValueError
        On a bad ``temperature`` / ``top_k``, or an empty or non-finite score grid.

    Examples
    --------
    >>> import numpy as np
    >>> smap = SaliencyMap(np.array([[0.0, 1.0]], np.float32), np.array([8.0, 24.0], np.float32),
    ...                    np.array([8.0], np.float32), (32, 16), (32, 16))
    >>> r = judge(smap, [Box(0, 0, 16, 16), Box(16, 0, 16, 16)])
    >>> r.argmax_slot, round(float(r.p_sample[1]), 4)
    (1, 0.7311)
    """
    t = _check_temperature(temperature)
    if int(top_k) < 1:
        raise ValueError(_MSG_TOP_K.format(value=top_k))
    k = int(top_k)
    scores = _check_scores(smap)
    slots = cell_slots(smap, boxes)
    n = len(boxes)

    flat = int(np.argmax(scores))  # first maximum in row-major order, as the program scans
    r, c = divmod(flat, scores.shape[1])
    argmax_slot = int(slots[r, c])

    p, p_bg, given = _shares(scores / t, slots, n)
    if t == 1.0:
        mass, mass_bg = p, p_bg
    else:
        mass, mass_bg, _ = _shares(scores, slots, n)

    topk = np.full(n, np.nan)
    smax = np.full(n, np.nan)
    counts = np.zeros(n, dtype=np.int64)
    for i in range(n):
        sel = scores[slots == i]
        counts[i] = sel.size
        if sel.size:
            smax[i] = sel.max()
            # partition is O(n); only the k largest are needed, in any order.
            kk = min(k, sel.size)
            topk[i] = np.partition(sel, sel.size - kk)[sel.size - kk:].mean()
    share = np.zeros(n)
    if np.isfinite(topk).any():
        best = np.nanmax(topk)
        winners = topk == best
        share[winners] = 1.0 / np.count_nonzero(winners)

    return PolicyResult(
        argmax_cell=(int(r), int(c)),
        argmax_slot=argmax_slot,
        p_sample=p,
        p_background=p_bg,
        p_sample_given_slot=given,
        topk_mean=topk,
        topk_share=share,
        mass=mass,
        mass_background=mass_bg,
        score_max=smax,
        n_cells=counts,
        temperature=t,
        top_k=k,
    )


def sample_point(
    smap: SaliencyMap,
    rng: np.random.Generator,
    temperature: float = 1.0,
    boxes: Sequence[Box] = (),
) -> tuple[float, float, int]:
    """Draw a crop centre with ``P(cell) ∝ exp(score / T)``, the authors' sampling alternative.

    Parameters
    ----------
    smap : SaliencyMap
        Saliency map of the image or composite.
    rng : numpy.random.Generator
        Source of randomness (pass a seeded generator for reproducible trials).
    temperature : float, default 1.0
        ``T``; small values approach argmax, large values approach uniform.
    boxes : sequence of Box, optional
        Slot rectangles; when given, the returned slot says which one holds the drawn cell.

    Returns
    -------
    tuple
        ``(x, y, slot)``: the drawn cell's centre in original pixels and its slot index
        (``-1`` for background or when no boxes are given).
    """
    t = _check_temperature(temperature)
    scores = _check_scores(smap)
    logits = scores.ravel() / t
    prob = np.exp(logits - logsumexp(logits))
    # Inverse-CDF draw; clamp guards against the cumulative sum ending a hair below 1.
    idx = int(np.searchsorted(np.cumsum(prob), rng.random() * prob.sum(), side="right"))
    idx = min(idx, prob.size - 1)
    r, c = divmod(idx, scores.shape[1])
    slot = int(cell_slots(smap, boxes)[r, c]) if len(boxes) else BACKGROUND
    return float(smap.xs[c]), float(smap.ys[r]), slot
