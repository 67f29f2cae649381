"""CSV that is safe to open in a spreadsheet (docs/security.md, "Formula injection").

A CRM export holds whatever customers and reps typed; a name such as
``=cmd|' /C calc'!A0`` becomes a formula when Excel, LibreOffice or Google Sheets open a
CSV cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return. Every
CSV the product writes goes through :func:`to_csv`, which puts the common ``'`` before
such a text cell (and such a column name), so that the spreadsheet shows the text
instead of running it. Numbers are not text: a numeric column's ``-5`` stays ``-5``, and
so does a text cell that is a plain number (``-5``, ``+1.5``, ``-2e3``).
"""

from __future__ import annotations

import re

import polars as pl

#: the first characters that make a spreadsheet read a cell as a formula
FORMULA_START = "=+-@\t\r"
_FORMULA_START_RE = "^[=+\\-@\\t\\r]"
#: a text cell that is a plain number (sign, digits, decimals, exponent): left as it is
PLAIN_NUMBER = r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$"
_PLAIN_NUMBER = re.compile(PLAIN_NUMBER)


def neutralise_text(text: str) -> str:
    """``text`` with a ``'`` before it when a spreadsheet would read it as a formula."""
    if text[:1] and text[0] in FORMULA_START and not _PLAIN_NUMBER.match(text):
        return "'" + text
    return text


def neutralise_formulas(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with every text cell and column name that starts like a formula
    prefixed with ``'`` (:func:`neutralise_text`); numeric and date columns as they are."""
    texts = [
        name
        for name, dtype in frame.schema.items()
        if dtype == pl.String or isinstance(dtype, pl.Categorical | pl.Enum)
    ]
    cells = [pl.col(name).cast(pl.String) for name in texts]
    frame = frame.with_columns(
        pl.when(cell.str.contains(_FORMULA_START_RE) & ~cell.str.contains(PLAIN_NUMBER))
        .then(pl.lit("'") + cell)
        .otherwise(cell)
        .alias(name)
        for name, cell in zip(texts, cells, strict=True)
    )
    return frame.rename({name: neutralise_text(name) for name in frame.columns})


def to_csv(frame: pl.DataFrame) -> str:
    """``frame`` as CSV text (header row, comma-separated), formulas neutralised."""
    return neutralise_formulas(frame).write_csv()
