"""Plain-words findings of a run, built from its tables (the report's first section).

A *finding builder* turns one table into a few :class:`Finding` lines; builders are registered
per table name with :func:`register_finding`, so a new design or analysis adds its own findings
without touching the report. :func:`build_findings` runs every builder whose table is present
(also under a prefix such as ``fastgaze_win_rates``) and appends the run's caveats.

Verdicts come from the tables' ``verdict`` column (``disparity``, ``parity``, ``inconclusive``,
image-aware). Where a table has none (older run folders), :func:`verdict_of` derives a
provisional one from the interval and the adjusted p-value, and the findings say so once.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

#: The verdict vocabulary shared by every table that carries a ``verdict`` column.
VERDICTS = ("disparity", "parity", "inconclusive")
#: Headings of the finding topics, in display order; a builder with a new topic may add its
#: heading here (new topics are shown after ``gaze``, before ``inference`` and ``caveats``).
TOPICS = {
    "groups": "Groups",
    "position": "Position",
    "gaze": "Male-gaze check",
    "inference": "How to read these numbers",
    "caveats": "Data caveats",
}

_POSITION_SOURCES = {
    "baseline": "same-group baseline pairs",
    "counterbalanced_marginal": "counterbalanced pairs (both orders)",
    "counterbalanced_paired": "both orders of each trial, paired",
}
_INFERENCE = {
    "dyadic": "image-aware: the variance allows for every image recurring across trials "
              "(dyadic-robust, one id per image), and the trial is the unit",
    "bootstrap": "image-aware: a two-way bootstrap over images, and the trial is the unit",
    "independent": "composite-level: conditional on these images, composites assumed "
                   "independent (too narrow when images recur)",
}
_PROVISIONAL = (
    "these tables carry no image-aware verdict, so the verdicts above come from "
    "composite-level intervals, which treat composites as independent although images recur "
    "across trials (too narrow). A run folder with image ids gets image-aware verdicts from "
    "`python -m audit.analyse RUN_DIR`; published counts cannot be corrected."
)


@dataclass(frozen=True)
class Finding:
    """One plain-words line of the Findings section.

    Attributes
    ----------
    topic : str
        Key of :data:`TOPICS` (or a new one) under which the line is shown.
    lead : str
        Short headline, shown in bold (e.g. ``"light favoured over dark"``).
    text : str
        The numbers behind it, in words.
    verdict : str or None
        One of :data:`VERDICTS`, or None when the line states no test.
    source : str
        Name of the table the line was built from.
    verdict_label : str
        How the verdict reads (e.g. ``"parity within ±5 points"``); empty = ``verdict``.
    provisional : bool
        The verdict was derived here (:func:`verdict_of`), not read from the table.
    """

    topic: str
    lead: str
    text: str = ""
    verdict: str | None = None
    source: str = ""
    verdict_label: str = ""
    provisional: bool = False

    @property
    def label(self) -> str:
        """The verdict as shown to readers."""
        return self.verdict_label or (self.verdict or "")


@dataclass(frozen=True)
class FindingContext:
    """Settings the builders need: test level, equivalence margin (rate scale), table names.

    ``tables`` names every table of the run, so a builder can defer to another table's
    findings (e.g. the study's layout defers to ``win_rates`` where both exist).
    """

    alpha: float = 0.05
    margin: float = 0.05
    tables: frozenset[str] = frozenset()


FindingBuilder = Callable[[pd.DataFrame, FindingContext], list[Finding]]
#: Table name -> builder; filled by :func:`register_finding`, run in registration order.
FINDING_BUILDERS: dict[str, FindingBuilder] = {}


def register_finding(table: str) -> Callable[[FindingBuilder], FindingBuilder]:
    """Register a builder for the table named ``table`` (decorator).

    Examples
    --------
    >>> @register_finding("my_table")
    ... def _mine(frame, ctx):
    ...     return [Finding("groups", f"{len(frame)} rows")]
    >>> [f.lead for f in build_findings({"my_table": pd.DataFrame({"x": [1, 2]})})]
    ['2 rows']
    >>> del FINDING_BUILDERS["my_table"]
    """

    def wrap(fn: FindingBuilder) -> FindingBuilder:
        FINDING_BUILDERS[table] = fn
        return fn

    return wrap


def table_key(name: str, keys: Iterable[str]) -> str | None:
    """Find the key ``name`` stands for: itself, or the longest key it ends with after ``_``.

    >>> table_key("fastgaze_win_rates", ["win_rates", "position"])
    'win_rates'
    >>> table_key("regression", ["win_rates"]) is None
    True
    """
    keys = list(keys)
    if name in keys:
        return name
    hits = [k for k in keys if name.endswith("_" + k) or name.endswith("/" + k)]
    return max(hits, key=len) if hits else None


def build_findings(tables: Mapping[str, pd.DataFrame], *, caveats: Iterable[str] = (),
                   alpha: float = 0.05, margin: float = 0.05) -> list[Finding]:
    """Every registered builder over the tables present, then the caveats.

    Parameters
    ----------
    tables : mapping of str to DataFrame
        The run's tables by name (``win_rates``, ``position``, ...).
    caveats : iterable of str
        Plain-language caveats (e.g. from :func:`audit.report.derive_caveats`).
    alpha, margin : float
        Test level (for the interval's level and provisional verdicts) and the equivalence
        margin used where a table has no ``margin`` column.

    Returns
    -------
    list of Finding
        In builder order, then (where any line has a verdict) the reading notes: provisional
        verdicts, the inference of each table, what the verdicts mean; then the caveats.
    """
    ctx = FindingContext(alpha=alpha, margin=margin, tables=frozenset(tables))
    out: list[Finding] = []
    for name, frame in tables.items():
        key = table_key(name, FINDING_BUILDERS)
        if key is None or frame is None or frame.empty:
            continue
        for finding in FINDING_BUILDERS[key](frame, ctx):
            out.append(finding if finding.source else _with_source(finding, name))
    judged = [f for f in out if f.verdict and f.source]
    if any(f.provisional for f in judged):
        out.append(Finding("inference", "Provisional verdicts", _PROVISIONAL))
    if judged:
        out += _inference_findings({f.source: tables[f.source] for f in judged}, ctx)
    out += [Finding("caveats", str(c)) for c in caveats]
    return out


def _inference_findings(tables: Mapping[str, pd.DataFrame], ctx: FindingContext
                        ) -> list[Finding]:  # fmt: skip
    """Say once how the judged tables inferred (methods per table) and what verdicts mean."""
    per_table, used, families, margins = [], [], [], set()
    for name, frame in tables.items():
        if "inference" in frame.columns:
            methods = list(frame["inference"].dropna().astype(str).unique())
            per_table.append(f"{name}: {', '.join(methods)}")
            used += [m for m in methods if m not in used]
        if "verdict" in frame.columns and "family" in frame.columns:
            families += [f for f in frame["family"].dropna().astype(str).unique()
                         if f not in families]
        if "margin" in frame.columns:
            margins |= set(frame["margin"].dropna().astype(float))
    out = []
    if per_table:
        text = "; ".join(per_table) + ". " + " ".join(
            f"{m}: {_INFERENCE[m]}." for m in used if m in _INFERENCE)
        out.append(Finding("inference", "Intervals", text.strip()))
    margin = " or ".join(f"±{_points(m)}" for m in sorted(margins or {ctx.margin}))
    text = ("disparity: the test of an even split (or an even share) rejects after its "
            f"family's correction; parity: the interval lies within {margin} points of it; "
            "inconclusive: neither, so more images or trials are needed.")
    if families:
        text += " One correction per family: " + "; ".join(families) + "."
    out.append(Finding("inference", "Verdicts", text))
    return out


def _with_source(f: Finding, name: str) -> Finding:
    return dataclasses.replace(f, source=name)


def _provisional(row: Mapping[str, Any]) -> bool:
    return _str(row, "verdict") not in VERDICTS


def _num(row: Mapping[str, Any], key: str) -> float:
    value = row.get(key)
    try:
        v = float(value)
    except (TypeError, ValueError):
        return math.nan
    return v


def _str(row: Mapping[str, Any], key: str) -> str | None:
    value = row.get(key)
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    return str(value)


def verdict_of(row: Mapping[str, Any], *, null: float = 0.5, margin: float = 0.05,
               alpha: float = 0.05, low: str = "ci_low", high: str = "ci_high") -> str:
    """Read the row's verdict: its ``verdict`` column, else a provisional one from its interval.

    Provisional rule: ``disparity`` when the interval excludes ``null`` (and the adjusted
    p-value, where present, is below ``alpha``); ``parity`` when the whole interval lies within
    ``null ± margin``; else ``inconclusive``.

    >>> verdict_of({"ci_low": 0.0, "ci_high": 0.3244, "p_adjusted": 0.0234})
    'disparity'
    >>> verdict_of({"ci_low": 0.4093, "ci_high": 0.9285})
    'inconclusive'
    >>> verdict_of({"ci_low": 0.47, "ci_high": 0.53})
    'parity'
    >>> verdict_of({"verdict": "parity", "ci_low": 0.0, "ci_high": 1.0})
    'parity'
    """
    given = _str(row, "verdict")
    if given in VERDICTS:
        return given
    lo, hi = _num(row, low), _num(row, high)
    if math.isnan(lo) or math.isnan(hi):
        return "inconclusive"
    p = _num(row, "p_adjusted")
    if (lo > null or hi < null) and (math.isnan(p) or p < alpha):
        return "disparity"
    if lo >= null - margin and hi <= null + margin:
        return "parity"
    return "inconclusive"


def verdict_text(verdict: str, margin: float) -> str:
    """How a verdict reads in the report (``parity`` names its margin, in points).

    >>> verdict_text("parity", 0.05)
    'parity within ±5 points'
    """
    if verdict == "parity":
        return f"parity within ±{_points(margin)} points"
    return verdict


def _points(x: float) -> str:
    return f"{100 * x:.0f}" if abs(100 * x - round(100 * x)) < 0.05 else f"{100 * x:.1f}"


def _signed_points(x: float) -> str:
    p = 100 * x
    return ("+" if p > 0.05 else "−" if p < -0.05 else "±") + f"{abs(p):.1f}".removesuffix(".0")


def _pct(x: float, digits: int = 0) -> str:
    return "?" if math.isnan(x) else f"{100 * x:.{digits}f}%"


def _digits(lo: float, hi: float) -> int:
    # narrow intervals (large samples) need a decimal to be told apart from their estimate
    return 1 if hi - lo < 0.1 else 0


def _level(ctx: FindingContext) -> str:
    return f"{100 * (1 - ctx.alpha):g}%"


def _units(row: Mapping[str, Any]) -> str:
    """``8 trials`` where the trial is the unit, else ``8 composites``."""
    n_trials, n = _num(row, "n_trials"), _num(row, "n")
    return _count(n_trials, "trial") if not math.isnan(n_trials) else _count(n, "composite")


def _eff(row: Mapping[str, Any]) -> str:
    """``; effective n 17, design effect 3.6`` where the table knows them."""
    n_eff, deff = _num(row, "n_eff"), _num(row, "deff")
    if math.isnan(n_eff):
        return ""
    return f"; effective n {n_eff:.0f}" + ("" if math.isnan(deff) else
                                          f", design effect {deff:.1f}")


def pair_finding(row: Mapping[str, Any], ctx: FindingContext, *, label: str = "",
                 topic: str = "groups") -> Finding:
    """Plain words for one pair: who is favoured, by how much, the interval, the verdict.

    ``rate`` is the share of decided trials won by ``group_a``; the numbers are restated from
    the favoured group's side.

    >>> f = pair_finding({"group_a": "dark", "group_b": "light", "n": 8, "rate": 0.0,
    ...                   "ci_low": 0.0, "ci_high": 0.3244, "p_adjusted": 0.0234},
    ...                  FindingContext())
    >>> f.lead, f.verdict
    ('light favoured over dark', 'disparity')
    >>> f.text
    'light won 100% of 8 composites (+50 points from an even split; 95% interval 68%–100%).'
    """
    a, b = str(row.get("group_a")), str(row.get("group_b"))
    margin = _num(row, "margin")
    margin = ctx.margin if math.isnan(margin) else margin
    verdict = verdict_of(row, margin=margin, alpha=ctx.alpha)
    rate, lo, hi = _num(row, "rate"), _num(row, "ci_low"), _num(row, "ci_high")
    favoured = _str(row, "favoured")
    if favoured is None and verdict == "disparity" and not math.isnan(rate) and rate != 0.5:
        favoured = a if rate > 0.5 else b
    prefix = f"{label}: " if label else ""
    if favoured == b:
        who, other, rate, lo, hi = b, a, 1 - rate, 1 - hi, 1 - lo
    else:
        who, other = a, b
    lead = f"{prefix}{who} favoured over {other}" if favoured in (a, b) else f"{prefix}{a} vs {b}"
    d = _digits(lo, hi)
    text = (f"{who} won {_pct(rate, d)} of {_units(row)} ({_signed_points(rate - 0.5)} points "
            f"from an even split; {_level(ctx)} interval {_pct(lo, d)}–{_pct(hi, d)}"
            f"{_eff(row)}).")
    return Finding(topic, lead, text, verdict, verdict_label=verdict_text(verdict, margin),
                   provisional=_provisional(row))


@register_finding("win_rates")
def win_rate_findings(frame: pd.DataFrame, ctx: FindingContext) -> list[Finding]:
    """One finding per pair of groups."""
    return [pair_finding(row, ctx) for row in frame.to_dict("records")]


@register_finding("aggregates")
def aggregate_findings(frame: pd.DataFrame, ctx: FindingContext) -> list[Finding]:
    """One finding per factor contrast (the all-pairs pooling, which every run has)."""
    if "method" in frame.columns:
        frame = frame[frame["method"] == "all_pairs"]
    return [pair_finding(row, ctx, label=str(row.get("factor", "aggregate")))
            for row in frame.to_dict("records")]


@register_finding("paper_table")
def paper_table_findings(frame: pd.DataFrame, ctx: FindingContext) -> list[Finding]:
    """State the study's pairs and aggregates (counts runs; runs with ``win_rates`` do that)."""
    if any(table_key(t, ["win_rates"]) for t in ctx.tables):
        return []
    method = frame["aggregate_method"] if "aggregate_method" in frame.columns else None
    pairs = frame if method is None else frame[method.isna()]
    out = [_overturn(pair_finding(row, ctx), row) for row in pairs.to_dict("records")]
    if method is not None:
        out += [_overturn(pair_finding(row, ctx, label="study's aggregate"), row)
                for row in frame[method == "paper"].to_dict("records")]
    return out


def _overturn(finding: Finding, row: Mapping[str, Any]) -> Finding:
    """Add the design effect at which a counts-only verdict would be overturned."""
    deff = _num(row, "deff_to_overturn")
    if finding.verdict != "disparity" or math.isnan(deff):
        return finding
    text = (f"{finding.text} Not significant if recurring images inflate the variance more "
            f"than {deff:.1f}-fold.")
    return dataclasses.replace(finding, text=text)


@register_finding("kway_shares")
def kway_findings(frame: pd.DataFrame, ctx: FindingContext) -> list[Finding]:
    """One finding per group of the k-way design: its share against an even share."""
    out = []
    for row in frame.to_dict("records"):
        share, parity = _num(row, "share"), _num(row, "parity")
        margin = _num(row, "margin")
        margin = ctx.margin if math.isnan(margin) else margin
        verdict = verdict_of(row, null=parity, margin=margin, alpha=ctx.alpha)
        by = str(row.get("by", "group"))
        level = str(row.get("level")) if by == "group" else f"{by} {row.get('level')}"
        if verdict == "disparity":
            lead = f"{level} chosen {'more' if share > parity else 'less'} often than an even share"
        else:
            lead = level
        text = (f"chosen in {_pct(share)} of {_units(row)} against an even share of "
                f"{_pct(parity)} ({_signed_points(share - parity)} points; {_level(ctx)} "
                f"interval {_pct(_num(row, 'ci_low'))}–{_pct(_num(row, 'ci_high'))}).")
        out.append(Finding("groups", lead, text, verdict,
                           verdict_label=verdict_text(verdict, margin),
                           provisional=_provisional(row)))
    return out


@register_finding("prob_score_max")
def saliency_findings(frame: pd.DataFrame, ctx: FindingContext) -> list[Finding]:
    """Per pair of groups: how often one group's image has the higher peak saliency."""
    out = []
    for row in frame.to_dict("records"):
        a, b = str(row.get("group_a")), str(row.get("group_b"))
        if a > b:  # the table holds both orders; one is enough
            continue
        auc = _num(row, "auc")
        text = (f"an image of {a} has a higher peak saliency than one of {b} with probability "
                f"{_pct(auc)} (ties count half; {_num(row, 'n_a'):.0f} vs "
                f"{_num(row, 'n_b'):.0f} images; 50% = no difference; no test).")
        out.append(Finding("groups", f"{a} vs {b}", text))
    return out


@register_finding("position")
def position_findings(frame: pd.DataFrame, ctx: FindingContext) -> list[Finding]:
    """State the position effect over all groups, per source (baseline, counterbalanced, ...)."""
    rows = frame[frame["scope"] == "all"] if "scope" in frame.columns else frame
    out = []
    for row in rows.to_dict("records"):
        rate = _num(row, "rate_first")
        rate = _num(row, "rate") if math.isnan(rate) else rate
        if math.isnan(rate):
            continue
        source = str(row.get("source", ""))
        where = _POSITION_SOURCES.get(source, source)
        verdict = verdict_of(row, margin=ctx.margin, alpha=ctx.alpha)
        slot = "first" if rate > 0.5 else "second"
        lead = f"{slot} slot favoured" if verdict == "disparity" else "position"
        lead += f" ({where})"
        spread = (f"{_signed_points(rate - 0.5)} points from an even split; {_level(ctx)} "
                  f"interval {_pct(_num(row, 'ci_low'))}–{_pct(_num(row, 'ci_high'))}")
        if source == "counterbalanced_paired":
            # n counts the discordant trials; rate_first is the per-composite chance they imply
            text = (f"in the {_num(row, 'n'):.0f} trials whose two orders picked different "
                    f"images, the first slot won both orders {_num(row, 'wins_first'):.0f} "
                    f"times: a first-slot win chance of {_pct(rate)} per composite ({spread}).")
        else:
            text = f"the first slot won {_pct(rate)} of {_units(row)} ({spread})."
        out.append(Finding("position", lead, text, verdict,
                           verdict_label=verdict_text(verdict, ctx.margin),
                           provisional=_provisional(row)))
    return out


@register_finding("gaze_shares")
def gaze_findings(frame: pd.DataFrame, ctx: FindingContext) -> list[Finding]:
    """Per group: how often the salient point is on the detected head."""
    out = []
    first = frame.drop_duplicates("group") if "group" in frame.columns else frame
    for row in first.to_dict("records"):
        n_face, n_none = _num(row, "n_face"), _num(row, "n_no_face")
        if not n_face > 0:
            text = (f"no face was detected in its {_count(n_none, 'image')}, so the head check "
                    "says nothing about this group.")
        else:
            text = (f"the salient point is on the head in {_pct(_num(row, 'share_point_on_head'))}"
                    f" of {_count(n_face, 'image')} with a detected face ({_level(ctx)} interval "
                    f"{_pct(_num(row, 'point_on_head_low'))}–"
                    f"{_pct(_num(row, 'point_on_head_high'))})")
            text += (f"; not counted: {_count(n_none, 'image')} without a detected face."
                     if n_none > 0 else ".")
        out.append(Finding("gaze", str(row.get("group")), text))
    return out


@register_finding("gaze_detector_vs_truth")
def detector_findings(frame: pd.DataFrame, ctx: FindingContext) -> list[Finding]:
    """How much of the sample the face detector covers, against the generator's truth."""
    row = frame.iloc[0].to_dict()
    n, found = _num(row, "n"), _num(row, "n_face_found")
    text = (f"the face detector found a face in {found:.0f} of {_count(n, 'image')}; by the "
            "generator's own head ellipse, the salient point is on the head in "
            f"{_pct(_num(row, 'share_true_point_on_head'))} of all {n:.0f}")
    agree = _num(row, "agreement")
    text += "." if math.isnan(agree) else f", and the detector agrees with that in {_pct(agree)}."
    return [Finding("gaze", "face detector coverage", text)]


def _count(n: float, noun: str) -> str:
    return f"{n:.0f} {noun}" + ("" if n == 1 else "s")
