"""CSV for spreadsheets: the one writer every CSV export uses.

A CSV file is opened in Excel or LibreOffice by people who trust it, so a text cell that a
spreadsheet would read as a formula (a shop named ``=HYPERLINK("http://evil","Click")``) is
an attack on them (OWASP "CSV injection"). :class:`SpreadsheetWriter` neutralises **text**
cells that start with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return by putting a
single quote in front (spreadsheets show the text as typed and do not evaluate it).

Numbers are left alone, including negative ones: an ``int`` cell ``-5`` and a text cell that
is only a decimal number (``"-3.50"``) are what a spreadsheet should read as numbers, and
they cannot be formulas. Only text that is not a plain number is changed (``"-1+2"`` is
neutralised; ``"-12.50"`` is not).

Use :func:`writer` instead of ``csv.writer``; a test fails on any other use in credits/.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from typing import Any

#: First characters that make a spreadsheet evaluate a cell (OWASP).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?")


def neutralise(cell: Any) -> Any:
    """``cell`` as it is safe to put in a CSV cell: text that a spreadsheet would evaluate
    gets a leading ``'``; numbers (and text that is just a decimal number) are unchanged."""
    if not isinstance(cell, str) or not cell.startswith(FORMULA_STARTS):
        return cell
    if _PLAIN_NUMBER.fullmatch(cell):
        return cell
    return "'" + cell


class SpreadsheetWriter:
    """``csv.writer`` whose rows pass through :func:`neutralise`."""

    def __init__(self, out: Any, **kwargs: Any) -> None:
        self._writer = csv.writer(out, **kwargs)

    def writerow(self, row: Iterable[Any]) -> Any:
        """Write one row, neutralising its text cells."""
        return self._writer.writerow([neutralise(cell) for cell in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        """Write several rows."""
        for row in rows:
            self.writerow(row)


def writer(out: Any, **kwargs: Any) -> SpreadsheetWriter:
    """A CSV writer for files people open in a spreadsheet (see the module docstring)."""
    return SpreadsheetWriter(out, **kwargs)
