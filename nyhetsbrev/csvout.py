"""Every CSV the tool writes, in one convention and through one function: `to_csv`.

The convention is Swedish Excel's: UTF-8 with a byte order mark (so Excel knows the
encoding on a double click), semicolons between cells (the comma is the decimal sign),
CRLF line ends (the csv module's default) and every cell in double quotes.

Cells are neutralised against formula injection as OWASP describes: a cell that starts with
a character a spreadsheet reads as the start of a formula (=, +, -, @, a tab, a carriage
return, NUL, or their full-width forms, which some spreadsheets also read so) gets a single
quote in front. The value stays readable: `=HYPERLINK(…)` becomes `'=HYPERLINK(…)`, shown
as text, never run.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

BOM = "\ufeff"
DELIMITER = ";"
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\0", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def safe_cell(value: object) -> str:
    """Return the value as a cell that no spreadsheet will run as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def to_csv(header: Iterable[object], rows: Iterable[Iterable[object]]) -> bytes:
    """Return header and rows as the bytes of a CSV file in the tool's one convention."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, delimiter=DELIMITER, quoting=csv.QUOTE_ALL)
    for row in (header, *rows):
        writer.writerow([safe_cell(cell) for cell in row])
    return (BOM + buffer.getvalue()).encode("utf-8")
