"""Input checks shared by the statistics modules: required columns, with actionable messages."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

_MSG_MISSING_COLUMNS = (
    "{table} lacks column(s) {missing}; it has {present}. "
    "Check that the table was written by the matching cropaudit stage."
)


def require_columns(frame: pd.DataFrame, columns: Iterable[str], *, table: str) -> None:
    """Raise ``ValueError`` if ``frame`` lacks any of ``columns``.

    Parameters
    ----------
    frame : pandas.DataFrame
        Table to check.
    columns : iterable of str
        Column names that must be present.
    table : str
        Name of the table, used in the message (for example ``"records"``).

    Raises
    ------
    ValueError
        Naming the missing and the present columns.
    """
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(
            _MSG_MISSING_COLUMNS.format(table=table, missing=missing, present=list(frame.columns))
        )
