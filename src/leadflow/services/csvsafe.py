"""CSV cells that are safe to open in a spreadsheet: no formula injection in any export."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import IO, Any

# A cell starting with one of these is run as a formula by Excel, LibreOffice and Sheets
# ("=cmd|' /C calc'!A0", "+1+1", "@SUM(...)"); OWASP's advice is to prefix a quote.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def safe_cell(value: Any) -> str:
    """The value as text that a spreadsheet shows but never evaluates."""
    if value is None:
        return ""
    text = str(value)
    if text.startswith(_FORMULA_START):
        return "'" + text
    return text


class SafeWriter:
    """csv.writer that escapes every cell against formula injection."""

    def __init__(self, stream: IO[str]) -> None:
        self._writer = csv.writer(stream, quoting=csv.QUOTE_MINIMAL, lineterminator="\n")

    def writerow(self, row: Iterable[Any]) -> None:
        self._writer.writerow([safe_cell(v) for v in row])
