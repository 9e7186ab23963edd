"""Render a run's report as Markdown and standalone HTML from plain values (no file writes).

Input: :class:`ReportInput` (run facts, tables as DataFrames, relative figure paths, caveats).
Output: ``(markdown, html)`` strings; the HTML has inline CSS and every text is escaped. The
report leads with its answer: plain-words findings (:mod:`audit.report_findings`), then the
main figure, then compact tables (full ones in the files, collapsed in the HTML).
:func:`derive_caveats` turns the statistics tables into plain-language warnings.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

import numpy as np
import pandas as pd

from audit.report_findings import TOPICS, Finding, build_findings, table_key

CAVEAT_SYNTHETIC = "synthetic data: not photos of people; the rates say nothing about real groups"
CAVEAT_POSITION = (
    "position effect larger than group effect: the {source} shows |Δ| = {pos:.3f} for the "
    "first slot, larger than the largest group |Δ| = {grp:.3f} ({pair}); without "
    "counterbalancing, position would masquerade as group bias"
)
CAVEAT_FALLBACK = "the model is a fallback ({reason}); results do not describe the audited cropper"
CAVEAT_BACKGROUND = (
    "{share:.1%} of composites ended on the background or in an error ({n} of {total}); "
    "they are reported in the outcomes table, not counted as wins"
)
FALLBACK_FIX = (
    "These are not the audited cropper's results; do not cite them as such. Fix: provide the "
    "FastGaze weights (model.weights=PATH or AUDIT_FASTGAZE_WEIGHTS=PATH, or allow the "
    "download) and rerun; manifest.json has the full message."
)
CAVEAT_SMALL_GROUPS = (
    "small groups: {groups} ha{s} fewer than {min_images} images; with so few images per group "
    "the intervals are wide and say little about the population of faces"
)
#: Groups with fewer images than this get the small-groups caveat.
SMALL_GROUP_IMAGES = 30
CAVEAT_POOLED = (
    "aggregate and per-pair tests treat composites as independent although images recur "
    "across trials; see the regression with image-clustered SEs"
)

#: Figure stems that can be a run's main figure, by priority.
MAIN_FIGURES = ("win_rates", "paper_pairwise", "kway_shares", "gaze_shares",
                "score_distributions")
#: Columns a reader needs per table (the files keep every column).
DISPLAY_COLUMNS: dict[str, tuple[str, ...]] = {
    "win_rates": ("group_a", "group_b", "n_trials", "n", "rate", "delta", "ci_low", "ci_high",
                  "p_adjusted", "n_eff", "deff", "verdict", "favoured"),
    "aggregates": ("factor", "method", "group_a", "group_b", "n", "rate", "delta", "ci_low",
                   "ci_high", "p_adjusted", "verdict", "favoured"),
    "kway_shares": ("by", "level", "n", "share", "parity", "ci_low", "ci_high", "p_adjusted",
                    "n_eff", "deff", "verdict"),
    "position": ("source", "scope", "n", "rate_first", "delta", "ci_low", "ci_high", "p_value",
                 "verdict"),
    "outcomes": ("group_a", "group_b", "n_total", "n_a", "n_b", "n_background", "n_error"),
    "policies": ("group_a", "group_b", "policy_label", "n", "rate"),
    "regression": ("term", "estimate", "se", "p_value", "odds_ratio", "or_low", "or_high"),
    "gaze_shares": ("group", "aspect_ratio", "n", "n_face", "share_point_on_head",
                    "point_on_head_low", "point_on_head_high", "share_crop_contains_head"),
    "paper_table": ("group_a", "group_b", "aggregate_method", "n", "p_left", "delta",
                    "wald_low", "wald_high", "ci_low", "ci_high", "p_adjusted"),
}
#: Unknown tables show at most this many columns (the rest collapsed / in the file).
MAX_COLUMNS = 10

_CSS = """
*{box-sizing:border-box}
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:1100px;margin:2em auto;
padding:0 1em;color:#222;line-height:1.45}
h1{border-bottom:2px solid #0072B2;overflow-wrap:anywhere}h2{margin-top:1.6em;color:#0072B2}
.summary{color:#555;overflow-wrap:anywhere}
.scroll{max-width:100%;overflow-x:auto}
table{border-collapse:collapse;margin:.6em 0;font-size:.85em}
th,td{border:1px solid #ccc;padding:.25em .5em;text-align:right}
th{background:#f0f4f8}td:first-child,th:first-child{text-align:left}
.meta td{text-align:left;overflow-wrap:anywhere;max-width:60em}
.warning{border:3px solid #D55E00;background:#fff1e6;padding:.8em 1em;font-weight:bold}
#findings{border-left:4px solid #0072B2;padding-left:1em}
ul.findings li{margin:.3em 0}
.verdict{font-size:.8em;padding:0 .4em;border-radius:3px;background:#eee;white-space:nowrap}
.v-disparity{background:#fde0cc}.v-parity{background:#d6ecd2}.v-inconclusive{background:#eee}
figure{margin:1em 0}img{max-width:100%;height:auto}
details{margin:.4em 0}summary{cursor:pointer;color:#0072B2}
code{background:#f4f4f4;padding:0 .2em}
"""


@dataclass
class ReportInput:
    """Everything a report shows; plain values so the renderer needs no run folder.

    Attributes
    ----------
    name : str
        Run (experiment) name.
    created : str
        Date and time of the run (ISO 8601).
    command : str
        Command line that produced the run.
    model : dict
        ``name``, ``weights_sha256`` and, when a stand-in model ran, ``fallback_reason``.
    data : dict
        ``source`` and any other facts about the images (counts, table sha256, ...).
    seed : int
        The run's seed.
    overrides : list of str
        Hydra overrides of the run.
    provenance : dict
        Git sha, package versions, device, ...
    attribution : pandas.DataFrame, optional
        Image credits (e.g. ``id``, ``author``, ``license``, ``url``).
    tables : dict of str to pandas.DataFrame
        Table name -> table, in display order; findings are built from these by name.
    figures : list of str
        Figure paths relative to the report (e.g. ``figures/win_rates.png``).
    caveats : list of str
        Warnings, e.g. from :func:`derive_caveats`.
    notes : list of str
        Free-form remarks.
    findings : list of Finding, optional
        The Findings section; None builds it from ``tables`` and ``caveats`` with
        :func:`audit.report_findings.build_findings`.
    main_figure : str, optional
        Path of the figure shown right after the findings; None picks one by
        :data:`MAIN_FIGURES`.
    table_files : dict of str to str
        Table name -> path of its full file relative to the report (linked from the details).
    alpha, margin : float
        Test level and equivalence margin (rate scale) used for the findings' wording.
    """

    name: str
    created: str
    command: str
    model: dict[str, Any]
    data: dict[str, Any]
    seed: int
    overrides: list[str] = field(default_factory=list)
    provenance: dict[str, Any] = field(default_factory=dict)
    attribution: pd.DataFrame | None = None
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    figures: list[str] = field(default_factory=list)
    caveats: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    findings: list[Finding] | None = None
    main_figure: str | None = None
    table_files: dict[str, str] = field(default_factory=dict)
    alpha: float = 0.05
    margin: float = 0.05


def derive_caveats(
    win_rates: pd.DataFrame | None = None,
    position: pd.DataFrame | None = None,
    *,
    outcomes: pd.DataFrame | None = None,
    synthetic: bool = False,
    model: Mapping[str, Any] | None = None,
    background_threshold: float = 0.05,
    groups: pd.DataFrame | None = None,
    min_images: int = SMALL_GROUP_IMAGES,
) -> list[str]:
    """Plain-language caveats detected from the run's tables.

    Parameters
    ----------
    win_rates : pandas.DataFrame, optional
        Per-pair table with ``group_a``, ``group_b``, ``delta``.
    position : pandas.DataFrame, optional
        From :mod:`audit.analysis.position` (``source``, ``scope``, ``delta``); the pooled
        baseline row and the marginal counterbalanced row are compared with the group effects.
    outcomes : pandas.DataFrame, optional
        From :func:`audit.analysis.win_rates.count_outcomes`; its ``all`` row is checked.
    synthetic : bool
        The images were generated, not photos of people.
    model : mapping, optional
        Model facts; a truthy ``fallback_reason`` adds a caveat.
    background_threshold : float
        Share of background/error composites above which a caveat is added.
    groups : pandas.DataFrame, optional
        ``tables/groups`` (``group``, ``n_images``); groups under ``min_images`` are named.
    min_images : int
        Fewest images per group before the small-groups caveat.

    Returns
    -------
    list of str
        Caveats in a fixed order: synthetic, fallback, small groups, confounded positions,
        position, background, pooled tests.
    """
    caveats = []
    if synthetic:
        caveats.append(CAVEAT_SYNTHETIC)
    if model and model.get("fallback_reason"):
        caveats.append(CAVEAT_FALLBACK.format(reason=model["fallback_reason"]))
    if groups is not None and {"group", "n_images"} <= set(groups.columns):
        small = groups[groups["n_images"] < min_images]
        if len(small):
            names = ", ".join(f"{g} ({n})" for g, n in zip(small["group"], small["n_images"],
                                                          strict=True))
            caveats.append(CAVEAT_SMALL_GROUPS.format(groups=names, min_images=min_images,
                                                      s="s" if len(small) == 1 else "ve"))
    # pairs whose positions were never swapped: audit.analysis.caveats.statistics_caveats
    if win_rates is not None and position is not None and len(win_rates) and len(position):
        pos = position[
            (position["scope"] == "all")
            & position["source"].isin(["baseline", "counterbalanced_marginal"])
        ].dropna(subset=["delta"])
        grp = win_rates.dropna(subset=["delta"])
        if len(pos) and len(grp):
            i = int(np.argmax(np.abs(pos["delta"].to_numpy())))
            j = int(np.argmax(np.abs(grp["delta"].to_numpy())))
            pos_d = abs(float(pos["delta"].iloc[i]))
            grp_d = abs(float(grp["delta"].iloc[j]))
            if pos_d > grp_d:
                source = {"baseline": "same-group baseline",
                          "counterbalanced_marginal": "counterbalanced design"}[
                    pos["source"].iloc[i]]  # fmt: skip
                pair = f"{grp['group_a'].iloc[j]} vs {grp['group_b'].iloc[j]}"
                caveats.append(CAVEAT_POSITION.format(source=source, pos=pos_d, grp=grp_d,
                                                      pair=pair))  # fmt: skip
    if outcomes is not None and len(outcomes):
        total = outcomes[outcomes["group_a"] == "all"]
        if len(total):
            row = total.iloc[0]
            lost = int(row["n_background"] + row["n_error"])
            share = lost / row["n_total"] if row["n_total"] else 0.0
            if share > background_threshold:
                caveats.append(CAVEAT_BACKGROUND.format(share=share, n=lost,
                                                        total=int(row["n_total"])))  # fmt: skip
    if win_rates is not None and len(win_rates) and _composite_level(win_rates):
        caveats.append(CAVEAT_POOLED)
    return caveats


def _composite_level(win_rates: pd.DataFrame) -> bool:
    """Whether a win-rate table predates image-aware inference (no ``inference`` column).

    Tables computed with ``analysis.inference=independent`` get their own caveat from
    :func:`audit.analysis.caveats.statistics_caveats`.
    """
    return "inference" not in win_rates.columns


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, float | np.floating):
        v = float(value)
        if v != 0 and (abs(v) < 1e-3 or abs(v) >= 1e6):
            return f"{v:.3g}"
        return f"{v:.4f}".rstrip("0").rstrip(".") if not v.is_integer() else f"{v:.0f}"
    if value is pd.NA:
        return ""
    return str(value)


def _md_text(text: Any) -> str:
    # angle brackets would be read as raw HTML by Markdown viewers
    return str(text).replace("<", "&lt;").replace(">", "&gt;")


def _md_cell(value: Any) -> str:
    return _md_text(_fmt(value)).replace("|", "\\|").replace("\n", " ")


def markdown_table(frame: pd.DataFrame) -> str:
    """Render a DataFrame as a GitHub-flavoured Markdown table (no index)."""
    header = "| " + " | ".join(_md_cell(c) for c in frame.columns) + " |"
    rule = "| " + " | ".join("---" for _ in frame.columns) + " |"
    rows = [
        "| " + " | ".join(_md_cell(v) for v in row) + " |"
        for row in frame.itertuples(index=False, name=None)
    ]
    return "\n".join([header, rule, *rows])


def html_table(frame: pd.DataFrame) -> str:
    """Render a DataFrame as an HTML table with every cell escaped (no index)."""
    esc = html.escape
    head = "".join(f"<th>{esc(str(c))}</th>" for c in frame.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{esc(_fmt(v))}</td>" for v in row) + "</tr>"
        for row in frame.itertuples(index=False, name=None)
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _facts(report: ReportInput) -> list[tuple[str, str]]:
    model = report.model
    return [
        ("run", report.name),
        ("date", report.created),
        ("command", report.command),
        ("overrides", " ".join(report.overrides) if report.overrides else "(none)"),
        ("model", str(model.get("name", "unknown"))),
        ("weights SHA-256", str(model.get("weights_sha256") or "(no weights)")),
        ("data source", str(report.data.get("source", "unknown"))),
        ("seed", str(report.seed)),
    ]


def _fallback_warning(report: ReportInput) -> str | None:
    """Say the fallback once, briefly, with the fix (the full message is in the manifest)."""
    reason = report.model.get("fallback_reason")
    if not reason:
        return None
    short = str(reason).split(": ", 1)[0].strip().rstrip(".")
    return f"Fallback model: {short}. {FALLBACK_FIX}"


def _is_fallback_caveat(text: str) -> bool:
    return text.startswith(CAVEAT_FALLBACK.split("{", 1)[0])


def _section_items(mapping: Mapping[str, Any]) -> list[tuple[str, str]]:
    return [(str(k), _fmt(v)) for k, v in mapping.items()]


def display_columns(name: str, frame: pd.DataFrame) -> list[str]:
    """Pick the columns a reader needs from table ``name`` (all for unknown narrow tables).

    Known tables keep the columns of :data:`DISPLAY_COLUMNS` that are present; unknown tables
    with more than :data:`MAX_COLUMNS` columns keep the first ones.
    """
    key = table_key(name, DISPLAY_COLUMNS)
    if key is not None:
        cols = [c for c in DISPLAY_COLUMNS[key] if c in frame.columns]
        if cols:
            return cols
    return list(frame.columns[:MAX_COLUMNS])


def main_figure(figures: Sequence[str]) -> str | None:
    """Pick the main figure: the first of :data:`MAIN_FIGURES` present, else the first one."""
    stems = {PurePosixPath(f).stem: f for f in reversed(figures)}
    for stem in MAIN_FIGURES:
        if stem in stems:
            return stems[stem]
    hits = [f for f in figures if table_key(PurePosixPath(f).stem, MAIN_FIGURES)]
    return hits[0] if hits else (figures[0] if figures else None)


def _findings_md(findings: Sequence[Finding]) -> list[str]:
    md: list[str] = []
    for topic, items in _by_topic(findings):
        md += [f"### {_md_text(TOPICS.get(topic, topic))}", ""]
        for f in items:
            verdict = f" — *{_md_text(f.label)}*" if f.verdict else ""
            text = f": {_md_text(f.text)}" if f.text else ""
            md.append(f"- **{_md_text(f.lead)}**{verdict}{text}" if f.text or f.verdict
                      else f"- {_md_text(f.lead)}")
        md.append("")
    return md


def _findings_html(findings: Sequence[Finding]) -> list[str]:
    esc = html.escape
    body: list[str] = []
    for topic, items in _by_topic(findings):
        body.append(f"<h3>{esc(TOPICS.get(topic, topic))}</h3><ul class=\"findings\">")
        for f in items:
            badge = (f' <span class="verdict v-{esc(f.verdict, quote=True)}">{esc(f.label)}'
                     "</span>" if f.verdict else "")
            if f.text or f.verdict:
                body.append(f'<li class="finding"><strong>{esc(f.lead)}</strong>{badge}: '
                            f"{esc(f.text)}</li>")
            else:
                body.append(f'<li class="finding">{esc(f.lead)}</li>')
        body.append("</ul>")
    return body


def _by_topic(findings: Sequence[Finding]) -> list[tuple[str, list[Finding]]]:
    # topics of new builders go after the group-level ones, before the reading notes
    tail = ("inference", "caveats")
    order = ([t for t in TOPICS if t not in tail] + [f.topic for f in findings if f.topic not in
             TOPICS] + list(tail))  # fmt: skip
    groups = {t: [f for f in findings if f.topic == t] for t in dict.fromkeys(order)}
    return [(t, items) for t, items in groups.items() if items]


def _detail_order(tables: Mapping[str, pd.DataFrame]) -> list[tuple[str, pd.DataFrame]]:
    """Tables with findings and known tables first (in :data:`DISPLAY_COLUMNS` order)."""
    rank = {k: i for i, k in enumerate(DISPLAY_COLUMNS)}

    def key(item: tuple[int, str]) -> tuple[int, int]:
        i, name = item
        k = table_key(name, DISPLAY_COLUMNS)
        return (rank[k] if k is not None else len(rank), i)

    order = sorted(enumerate(tables), key=key)
    return [(name, tables[name]) for _, name in order]


def _scroll(table_html: str) -> str:
    # wide tables scroll inside their own box instead of widening the page
    return f'<div class="scroll">{table_html}</div>'


def render_report(report: ReportInput) -> tuple[str, str]:
    """Render the report as Markdown and as a standalone HTML page.

    Parameters
    ----------
    report : ReportInput
        Facts, tables, figures and caveats of one run.

    Returns
    -------
    (markdown, html) : tuple of str
        In this order: title and a one-line run summary; one brief warning with the fix when
        ``model["fallback_reason"]`` is set; **Findings** (plain words per pair, position,
        caveats: :mod:`audit.report_findings`); the main figure; **Details** (each table with
        the columns a reader needs, a link to the full file and, in HTML, the full table
        collapsed; other figures; notes); run details (facts, model, data, provenance;
        collapsed in HTML); attribution.
    """
    esc = html.escape
    title = f"cropaudit report: {report.name}"
    warning = _fallback_warning(report)
    caveats = [c for c in report.caveats if not _is_fallback_caveat(c)]
    findings = report.findings
    if findings is None:
        findings = build_findings(report.tables, caveats=caveats, alpha=report.alpha,
                                  margin=report.margin)
        if any(f.topic == "inference" for f in findings):
            # the provisional-verdict line already says that composites were taken as independent
            findings = [f for f in findings if f.text != CAVEAT_POOLED and f.lead != CAVEAT_POOLED]
    model_name = str(report.model.get("name", "unknown"))
    data_text = str(report.data.get("source", "unknown"))
    if report.data.get("n_images") is not None:
        data_text += f" ({_fmt(report.data['n_images'])} images)"
    summary = (f"run {report.name} · {report.created} · model {model_name} · data {data_text} · "
               f"seed {report.seed}")
    md: list[str] = [f"# {_md_text(title)}", "", _md_text(summary), ""]
    body: list[str] = [f"<h1>{esc(title)}</h1>",
                       f'<p class="summary">{esc(summary)} · '
                       '<a href="#run-details">run details</a></p>']
    if warning:
        md += [f"> **{_md_text(warning)}**", ""]
        body.append(f'<div class="warning" id="fallback">{esc(warning)}</div>')

    md += ["## Findings", ""]
    body.append('<section id="findings"><h2>Findings</h2>')
    if findings:
        md += _findings_md(findings)
        body += _findings_html(findings)
    else:
        md += ["(no table of this run has findings to state)", ""]
        body.append("<p>(no table of this run has findings to state)</p>")
    body.append("</section>")

    main = report.main_figure if report.main_figure is not None else main_figure(report.figures)
    if main:
        md += [f"![main figure: {_md_text(main)}]({_md_text(main)})", ""]
        body.append(f'<figure id="main-figure"><img src="{esc(main, quote=True)}" '
                    f'alt="main figure: {esc(main, quote=True)}">'
                    f"<figcaption>{esc(main)}</figcaption></figure>")

    md += ["## Details", ""]
    body.append('<section id="details"><h2>Details</h2>')
    for heading, frame in _detail_order(report.tables):
        cols = display_columns(heading, frame)
        link = report.table_files.get(heading)
        md += [f"### {_md_text(heading)}", "", markdown_table(frame[cols]), ""]
        body += [f"<h3>{esc(heading)}</h3>", _scroll(html_table(frame[cols]))]
        hidden = len(frame.columns) - len(cols)
        if link:
            more = f" ({hidden} more column(s))" if hidden else ""
            md += [f"Full table{more}: [{_md_text(link)}]({_md_text(link)})", ""]
            body.append(f'<p class="file">Full table: <a href="{esc(link, quote=True)}">'
                        f"{esc(link)}</a></p>")
        elif hidden:
            md += [f"({hidden} more column(s) in the table file)", ""]
        if hidden:
            body.append(f"<details><summary>all {len(frame.columns)} columns</summary>"
                        f"{_scroll(html_table(frame))}</details>")
    others = [f for f in report.figures if f != main]
    if others:
        md += ["### Other figures", ""]
        body.append("<h3>Other figures</h3>")
        for path in others:
            md += [f"![{_md_text(path)}]({_md_text(path)})", ""]
            body.append(f'<figure><img src="{esc(path, quote=True)}" alt="{esc(path, quote=True)}">'
                        f"<figcaption>{esc(path)}</figcaption></figure>")
    if report.notes:
        md += ["### Notes", ""] + [f"- {_md_text(n)}" for n in report.notes] + [""]
        items = "".join(f"<li>{esc(n)}</li>" for n in report.notes)
        body += ["<h3>Notes</h3>", f"<ul>{items}</ul>"]
    body.append("</section>")

    md += ["## Run details", ""]
    body.append('<details id="run-details"><summary>Run details: command, model, data, '
                "provenance</summary>")
    facts = pd.DataFrame(_facts(report), columns=["item", "value"])
    md += ["### Run", "", markdown_table(facts), ""]
    body += ["<h3>Run</h3>",
             _scroll(html_table(facts).replace("<table>", '<table class="meta">', 1))]
    model = {k: v for k, v in report.model.items() if k != "fallback_reason"}
    for heading, mapping in (("Model", model), ("Data", report.data),
                             ("Provenance", report.provenance)):  # fmt: skip
        if not mapping:
            continue
        frame = pd.DataFrame(_section_items(mapping), columns=["item", "value"])
        md += [f"### {heading}", "", markdown_table(frame), ""]
        body += [f"<h3>{esc(heading)}</h3>",
                 _scroll(html_table(frame).replace("<table>", '<table class="meta">', 1))]
    body.append("</details>")
    if report.attribution is not None and len(report.attribution):
        md += ["## Attribution", "", markdown_table(report.attribution), ""]
        body += ['<h2 id="attribution">Attribution</h2>', _scroll(html_table(report.attribution))]
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{_CSS}</style></head><body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )
    return "\n".join(md).rstrip() + "\n", page


def tables_for_report(tables: Mapping[str, pd.DataFrame], *, columns: Sequence[str] | None = None
                      ) -> dict[str, pd.DataFrame]:  # fmt: skip
    """Keep only ``columns`` (those present) of each table, for a compact report."""
    if columns is None:
        return dict(tables)
    return {k: v[[c for c in columns if c in v.columns]] for k, v in tables.items()}
