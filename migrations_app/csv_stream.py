"""CSV text streamed a line at a time, for downloads of any size."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator

# A cell starting with one of these is run as a formula by spreadsheets (CSV
# injection): record values and messages come from the orgs, so they are written
# as text, behind an apostrophe, as OWASP advises.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class _Echo:
    """A file-like object whose write returns the line, for streaming csv rows."""

    def write(self, value: str) -> str:
        return value


def csv_lines(rows: Iterable[Iterable[object]]) -> Iterator[str]:
    """Each row as one line of CSV text, no cell readable as a formula."""
    writer = csv.writer(_Echo())
    for row in rows:
        yield writer.writerow([as_text_cell(value) for value in row])


def as_text_cell(value: object) -> object:
    """A text cell a spreadsheet would run as a formula, written as text."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value
