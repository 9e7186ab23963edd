"""Render a run's report as Markdown and standalone HTML from plain values (no file writes).

Input: :class:`ReportInput` (run facts, tables as DataFrames, relative figure paths, caveats).
Output: ``(markdown, html)`` strings; the HTML has inline CSS and every text is escaped.
:func:`derive_caveats` turns the statistics tables into plain-language warnings.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

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
CAVEAT_POOLED = (
    "aggregate and per-pair tests treat composites as independent although images recur "
    "across trials; see the regression with image-clustered SEs"
)

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:1100px;margin:2em auto;
padding:0 1em;color:#222;line-height:1.45}
h1{border-bottom:2px solid #0072B2}h2{margin-top:1.6em;color:#0072B2}
table{border-collapse:collapse;margin:.6em 0;font-size:.85em}
th,td{border:1px solid #ccc;padding:.25em .5em;text-align:right}
th{background:#f0f4f8}td:first-child,th:first-child{text-align:left}
.warning{border:3px solid #D55E00;background:#fff1e6;padding:.8em 1em;font-weight:bold}
.meta td{text-align:left}figure{margin:1em 0}img{max-width:100%}
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
        Section title -> table, in display order.
    figures : list of str
        Figure paths relative to the report (e.g. ``figures/win_rates.png``).
    caveats : list of str
        Warnings, e.g. from :func:`derive_caveats`.
    notes : list of str
        Free-form remarks.
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


def derive_caveats(
    win_rates: pd.DataFrame | None = None,
    position: pd.DataFrame | None = None,
    *,
    outcomes: pd.DataFrame | None = None,
    synthetic: bool = False,
    model: Mapping[str, Any] | None = None,
    background_threshold: float = 0.05,
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

    Returns
    -------
    list of str
        Caveats in a fixed order: synthetic, fallback, position, background, pooled tests.
    """
    caveats = []
    if synthetic:
        caveats.append(CAVEAT_SYNTHETIC)
    if model and model.get("fallback_reason"):
        caveats.append(CAVEAT_FALLBACK.format(reason=model["fallback_reason"]))
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
    if win_rates is not None and len(win_rates) and (
            "inference" not in win_rates or (win_rates["inference"] == "independent").any()):
        caveats.append(CAVEAT_POOLED)
    return caveats


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
    reason = report.model.get("fallback_reason")
    if not reason:
        return None
    return (f"WARNING: the model is a FALLBACK ({reason}). These results were NOT produced by "
            f"the audited cropper and must not be cited as such.")  # fmt: skip


def _section_items(mapping: Mapping[str, Any]) -> list[tuple[str, str]]:
    return [(str(k), _fmt(v)) for k, v in mapping.items()]


def render_report(report: ReportInput) -> tuple[str, str]:
    """Render the report as Markdown and as a standalone HTML page.

    Parameters
    ----------
    report : ReportInput
        Facts, tables, figures and caveats of one run.

    Returns
    -------
    (markdown, html) : tuple of str
        Sections: title, run facts (run, date, command, overrides, model, weights SHA-256,
        data source, seed), a loud warning when ``model["fallback_reason"]`` is set, Caveats,
        Data, Provenance, one section per table, Figures (relative links), Attribution, Notes.
    """
    esc = html.escape
    title = f"cropaudit report: {report.name}"
    warning = _fallback_warning(report)
    md: list[str] = [f"# {_md_text(title)}", ""]
    body: list[str] = [f"<h1>{esc(title)}</h1>"]
    if warning:
        md += [f"> **{_md_text(warning)}**", ""]
        body.append(f'<div class="warning">{esc(warning)}</div>')
    facts = pd.DataFrame(_facts(report), columns=["item", "value"])
    md += ["## Run", "", markdown_table(facts), ""]
    body += ["<h2>Run</h2>", html_table(facts).replace("<table>", '<table class="meta">', 1)]
    md += ["## Caveats", ""]
    body.append("<h2>Caveats</h2>")
    if report.caveats:
        md += [f"- {_md_text(c)}" for c in report.caveats] + [""]
        body.append("<ul>" + "".join(f"<li>{esc(c)}</li>" for c in report.caveats) + "</ul>")
    else:
        md += ["(none detected)", ""]
        body.append("<p>(none detected)</p>")
    for heading, mapping in (("Model", report.model), ("Data", report.data),
                             ("Provenance", report.provenance)):  # fmt: skip
        if not mapping:
            continue
        frame = pd.DataFrame(_section_items(mapping), columns=["item", "value"])
        md += [f"## {heading}", "", markdown_table(frame), ""]
        body += [f"<h2>{esc(heading)}</h2>",
                 html_table(frame).replace("<table>", '<table class="meta">', 1)]  # fmt: skip
    for heading, frame in report.tables.items():
        md += [f"## {_md_text(heading)}", "", markdown_table(frame), ""]
        body += [f"<h2>{esc(heading)}</h2>", html_table(frame)]
    if report.figures:
        md += ["## Figures", ""]
        body.append("<h2>Figures</h2>")
        for path in report.figures:
            md += [f"![{_md_text(path)}]({_md_text(path)})", ""]
            body.append(f'<figure><img src="{esc(path, quote=True)}" alt="{esc(path)}">'
                        f"<figcaption>{esc(path)}</figcaption></figure>")  # fmt: skip
    if report.attribution is not None and len(report.attribution):
        md += ["## Attribution", "", markdown_table(report.attribution), ""]
        body += ["<h2>Attribution</h2>", html_table(report.attribution)]
    if report.notes:
        md += ["## Notes", ""] + [f"- {_md_text(n)}" for n in report.notes] + [""]
        items = "".join(f"<li>{esc(n)}</li>" for n in report.notes)
        body += ["<h2>Notes</h2>", f"<ul>{items}</ul>"]
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
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
