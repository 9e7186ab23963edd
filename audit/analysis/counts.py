"""The authors' published counts: a safe parser for their results file and the paper's table.

Input: ``twitter_results.txt`` from twitter-research/image-crop-analysis, one printed Python
dict per line (``group_name_list``, ``stats = array([...])``, ``num_iterations``, ``setting``).
The parser walks the syntax tree and accepts only literals, tuples, lists, dicts and the calls
``array([...])`` and ``dict_keys([...])``; nothing is ever evaluated. Output: a tidy counts
table and :func:`paper_table`, the published figure's numbers next to cropaudit's statistics.
"""

from __future__ import annotations

import ast
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import norm

from audit.analysis.aggregates import (
    assign_panels,
    compute_aggregates,
    group_code,
    groups_from_labels,
    pair_labels,
)
from audit.analysis.win_rates import CiMethod, Correction, add_rate_statistics
from audit.pinned import PinnedFile, resolve_pinned

log = logging.getLogger(__name__)

COUNTS_COLUMNS = (
    "line", "setting", "num_iterations", "n_groups", "groups", "group_a", "group_b",
    "wins_a", "wins_b", "n", "stats",
)  # fmt: skip
REQUIRED_KEYS = ("group_name_list", "stats", "num_iterations", "setting")
PANEL_ORDER = ("Race", "Gender", "Cross", "Aggregate")

_ALLOWED_CALLS = ("array", "dict_keys")
_MSG_UNSAFE = (
    "{where}: refusing {what}; only literals, tuples, lists, dicts, array([...]) and "
    "dict_keys([...]) are accepted in a counts file"
)
_MSG_SYNTAX = "{where}: not a Python literal ({error})"
_MSG_KEYS = "{where}: a counts line needs keys {required}, got {got}"
_MSG_NO_ROWS = (
    "counts have no two-group rows with setting={setting!r} and num_iterations={iterations}; "
    "available: {available}. Check analysis.counts_setting and analysis.counts_iterations"
)
_MSG_DUPLICATE = (
    "counts have {k} rows for pair {pair} with setting={setting!r} and "
    "num_iterations={iterations}; expected one"
)


def parse_literal(text: str, *, where: str = "<string>") -> Any:
    """Parse one printed Python value without evaluating any code.

    Parameters
    ----------
    text : str
        For example ``"{'stats': array([1., 2.]), 'setting': 'x'}"``.
    where : str
        Location for error messages (``"file.txt:3"``).

    Returns
    -------
    object
        dicts, lists, tuples, str, int, float, bool, None; ``array([...])`` becomes a list of
        floats and ``dict_keys([...])`` a tuple.

    Raises
    ------
    ValueError
        On syntax errors and on any name, attribute, operator or call not listed above.

    Examples
    --------
    >>> parse_literal("{'stats': array([1., 2.]), 'k': (('a', 'b'), 'c')}")
    {'stats': [1.0, 2.0], 'k': (('a', 'b'), 'c')}
    """
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise ValueError(_MSG_SYNTAX.format(where=where, error=exc.msg)) from None
    return _convert(tree.body, where)


def _convert(node: ast.AST, where: str) -> Any:
    if isinstance(node, ast.Constant) and (
        node.value is None or isinstance(node.value, str | int | float | bool)
    ):
        return node.value
    if (
        isinstance(node, ast.UnaryOp)
        and isinstance(node.op, ast.USub | ast.UAdd)
        and isinstance(node.operand, ast.Constant)
        and isinstance(node.operand.value, int | float)
        and not isinstance(node.operand.value, bool)
    ):
        return -node.operand.value if isinstance(node.op, ast.USub) else node.operand.value
    if isinstance(node, ast.Tuple):
        return tuple(_convert(e, where) for e in node.elts)
    if isinstance(node, ast.List):
        return [_convert(e, where) for e in node.elts]
    if isinstance(node, ast.Dict):
        if any(k is None for k in node.keys):  # ``**mapping`` unpacking
            raise ValueError(_MSG_UNSAFE.format(where=where, what="dict unpacking"))
        return {
            _convert(k, where): _convert(v, where)
            for k, v in zip(node.keys, node.values, strict=True)
        }
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in _ALLOWED_CALLS
        and len(node.args) == 1
        and not node.keywords
        and isinstance(node.args[0], ast.List | ast.Tuple)
    ):
        items = [_convert(e, where) for e in node.args[0].elts]
        if node.func.id == "dict_keys":
            return tuple(items)
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in items):
            raise ValueError(_MSG_UNSAFE.format(where=where, what="a non-numeric array"))
        return [float(v) for v in items]
    what = type(node).__name__
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        what = f"call {node.func.id}(...)"
    elif isinstance(node, ast.Name):
        what = f"name {node.id!r}"
    raise ValueError(_MSG_UNSAFE.format(where=where, what=what))


def _label(name: Any) -> str:
    if isinstance(name, tuple | list):
        return "_".join(str(part) for part in name)
    return str(name)


def parse_counts_lines(lines: list[str], *, source: str = "<counts>") -> pd.DataFrame:
    """Parse printed count dicts, one per line, into the tidy counts table.

    Parameters
    ----------
    lines : list of str
        Lines of the counts file; blank lines and ``#`` comments are skipped.
    source : str
        File name for error messages.

    Returns
    -------
    pandas.DataFrame
        Columns ``COUNTS_COLUMNS``: 1-based ``line``, ``setting``, ``num_iterations``,
        ``n_groups``, ``groups`` (list of labels like ``"black_female"``), ``group_a``/``group_b``
        (two-group rows; ``None`` otherwise), ``wins_a``/``wins_b`` (first/second entry of
        ``stats``, i.e. left/right wins), ``n`` (sum of ``stats``), ``stats`` (list of float).
    """
    rows = []
    for number, raw in enumerate(lines, start=1):
        text = raw.strip()
        if not text or text.startswith("#"):
            continue
        where = f"{source}:{number}"
        value = parse_literal(text, where=where)
        if not isinstance(value, dict) or any(k not in value for k in REQUIRED_KEYS):
            got = sorted(value) if isinstance(value, dict) else type(value).__name__
            raise ValueError(_MSG_KEYS.format(where=where, required=list(REQUIRED_KEYS), got=got))
        groups = [_label(g) for g in value["group_name_list"]]
        stats = [float(s) for s in value["stats"]]
        pairwise = len(groups) == 2
        rows.append({
            "line": number, "setting": str(value["setting"]),
            "num_iterations": int(value["num_iterations"]), "n_groups": len(groups),
            "groups": groups, "group_a": groups[0] if pairwise else None,
            "group_b": groups[1] if pairwise else None,
            "wins_a": int(round(stats[0])), "wins_b": int(round(stats[1])) if pairwise else None,
            "n": int(round(sum(stats))), "stats": stats,
        })  # fmt: skip
    table = pd.DataFrame(rows, columns=list(COUNTS_COLUMNS))
    table["wins_b"] = table["wins_b"].astype("Int64")
    return table


def parse_counts_file(path: str | Path) -> pd.DataFrame:
    """Read the authors' counts file into the tidy counts table (see :func:`parse_counts_lines`).

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist (set ``analysis.counts_file`` to the file's path).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"counts file {path} not found; set analysis.counts_file to the authors' "
            "twitter_results.txt (shipped in shared/reference/)"
        )
    return parse_counts_lines(path.read_text(encoding="utf-8").splitlines(), source=str(path))


def paper_table(
    counts: pd.DataFrame,
    *,
    setting: str = "wiki_no_scaling_intersect",
    num_iterations: int = 10000,
    alpha: float = 0.05,
    ci_method: CiMethod = "wilson",
    correction: Correction = "holm",
    include_oriented_aggregates: bool = True,
) -> pd.DataFrame:
    """Build the published pairwise figure's table from counts, beside cropaudit's statistics.

    Rows: each two-group pair of the setting (as keyed, left group first), ordered by panel
    (Race, Gender, Cross), then the aggregates as published (``aggregate_method == "paper"``:
    level_a-first pairs only, so F↔M uses BF-BM, BF-WM and WF-WM), and, if
    ``include_oriented_aggregates``, cropaudit's aggregates over all relevant pairs.

    Parameters
    ----------
    counts : pandas.DataFrame
        From :func:`parse_counts_file`.
    setting, num_iterations : str, int
        Which lines make the figure.
    alpha, ci_method, correction
        cropaudit's interval (``ci_low``/``ci_high``), exact test and correction; the pairs form
        one family, each aggregate method another.
    include_oriented_aggregates : bool
        Also add the all-pairs aggregates.

    Returns
    -------
    pandas.DataFrame
        ``panel``, ``label`` (``"BF↔WF"``), ``group_a``, ``group_b``, ``aggregate_method``,
        ``wins_left``, ``wins_right``, ``n``, ``p_left`` (= ``rate``), ``p_left_4dp`` and
        ``delta_pct`` (rounded half up, as printed), ``delta``, ``se``, ``two_se``,
        ``wald_low``, ``wald_high`` (the study's bars), ``deff_to_overturn`` (the design
        effect of recurring images at which the pair's two-sided Wald test at ``alpha`` would
        stop rejecting: ``(z / z_{1-α/2})²``), then ``ci_low``, ``ci_high``,
        ``ci_method``, ``p_value``, ``p_holm``, ``p_bh``, ``p_adjusted``, ``reject``.

    Raises
    ------
    ValueError
        If no two-group row matches, or a pair occurs twice.
    """
    select = (
        (counts["setting"] == setting)
        & (counts["num_iterations"] == num_iterations)
        & (counts["n_groups"] == 2)
    )
    pairs = counts[select]
    if pairs.empty:
        two = counts[counts["n_groups"] == 2]
        available = sorted(set(zip(two["setting"], two["num_iterations"], strict=True)))
        raise ValueError(
            _MSG_NO_ROWS.format(setting=setting, iterations=num_iterations, available=available)
        )
    for (a, b), sub in pairs.groupby(["group_a", "group_b"]):
        if len(sub) > 1:
            raise ValueError(
                _MSG_DUPLICATE.format(k=len(sub), pair=(a, b), setting=setting,
                                      iterations=num_iterations)
            )  # fmt: skip
    pairs = pairs[["group_a", "group_b", "wins_a", "n"]].reset_index(drop=True)
    labels = sorted(set(pairs["group_a"]) | set(pairs["group_b"]))
    n_parts = {len(g.split("_")) for g in labels}
    factors = ("race", "gender") if n_parts == {2} else ("race",) if n_parts == {1} else None
    stats = dict(alpha=alpha, ci_method=ci_method, correction=correction)
    pair_rows = add_rate_statistics(pairs, **stats)
    pair_rows["aggregate_method"] = None
    if factors is not None:
        groups = groups_from_labels(labels, factors=factors)
        pair_rows["panel"] = assign_panels(pair_rows, groups)
    else:  # single-factor labels that mix kinds (e.g. 'female' vs 'black'): one panel
        groups = None
        pair_rows["panel"] = "Pairs"
    pair_rows["label"] = pair_labels(pair_rows["group_a"], pair_rows["group_b"])
    rank = {p: i for i, p in enumerate(PANEL_ORDER)}
    pair_rows["_rank"] = pair_rows["panel"].map(rank).fillna(len(rank))
    pair_rows = pair_rows.sort_values(["_rank", "group_a", "group_b"]).drop(columns="_rank")
    parts = [pair_rows]
    methods = ["paper", "all_pairs"] if include_oriented_aggregates else ["paper"]
    if groups is not None:
        for method in methods:
            agg = compute_aggregates(pairs, groups, method=method, **stats)
            if agg.empty:
                continue
            agg["panel"] = "Aggregate"
            agg["aggregate_method"] = method
            agg["label"] = [
                f"{group_code(a)}↔{group_code(b)}" + ("" if method == "paper" else " (all pairs)")
                for a, b in zip(agg["group_a"], agg["group_b"], strict=True)
            ]
            parts.append(agg)
    table = pd.concat(parts, ignore_index=True)
    table["wins_left"] = table["wins_a"].astype(np.int64)
    table["wins_right"] = (table["n"] - table["wins_a"]).astype(np.int64)
    table["p_left"] = table["rate"]
    # printed values round half up (0.45745 -> 0.4575); integer arithmetic avoids float ties
    wins, n = table["wins_a"].astype(np.int64), table["n"].astype(np.int64)
    table["p_left_4dp"] = ((20000 * wins + n) // (2 * n)) / 10000
    table["delta_pct"] = ((200 * wins - 100 * n + n) // (2 * n)).astype(np.int64)
    table["se"] = np.sqrt(table["rate"] * (1 - table["rate"]) / table["n"])
    table["two_se"] = 2 * table["se"]
    table["wald_low"] = table["rate"] - table["two_se"]
    table["wald_high"] = table["rate"] + table["two_se"]
    # Images recur across trials, which inflates the variance by a design effect the counts
    # cannot show (no image ids): the one at which a pair's two-sided test stops rejecting.
    z = table["delta"] / table["se"]
    table["deff_to_overturn"] = (z / norm.ppf(1 - alpha / 2)) ** 2
    columns = [
        "panel", "label", "group_a", "group_b", "aggregate_method", "wins_left", "wins_right",
        "n", "p_left", "p_left_4dp", "rate", "delta", "delta_pct", "se", "two_se",
        "wald_low", "wald_high", "deff_to_overturn",
        "ci_low", "ci_high", "ci_method", "p_value", "p_holm", "p_bh", "p_adjusted",
        "correction", "reject",
    ]  # fmt: skip
    log.info("paper table: %d pairs, %d aggregates", len(pair_rows), len(table) - len(pair_rows))
    return table[columns]


#: The authors' raw counts (their ``data/results.txt``), pinned to the commit the study cites.
COUNTS_FILE = PinnedFile(
    what="the authors' counts file",
    file_name="twitter_results.txt",
    url=("https://raw.githubusercontent.com/twitter-research/image-crop-analysis/"
         "d66ad3bb3881fdbd12a27e04c3e57cc8fd772dd1/data/results.txt"),
    sha256="dc21ff997b7d4e137ff2164dc7b1c935e23cdc18cb0c34f54b6459fc29d3674e",
    env_var="AUDIT_COUNTS_FILE",
    config_key="analysis.counts_file",
    max_bytes=1_000_000,
)


def resolve_counts_file(explicit: str | Path | None = None, *, download: bool = True) -> Path:
    """Return a local copy of the counts file: ``explicit``, ``$AUDIT_COUNTS_FILE``, cache, URL.

    An explicit file is used as given (any counts file in the authors' format); only the
    environment, cache and download candidates are held to the pinned SHA-256.
    """
    if explicit is not None and str(explicit) != "":
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise FileNotFoundError(
                f"analysis.counts_file={path} does not exist; give the path of a counts file "
                "in the authors' format, or null to use the pinned copy of theirs")
        return path
    return resolve_pinned(COUNTS_FILE, None, download=download)
