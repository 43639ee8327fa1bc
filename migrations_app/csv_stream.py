"""CSV text streamed a line at a time, for downloads of any size."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator


class _Echo:
    """A file-like object whose write returns the line, for streaming csv rows."""

    def write(self, value: str) -> str:
        return value


def csv_lines(rows: Iterable[Iterable[object]]) -> Iterator[str]:
    """Each row as one line of CSV text."""
    writer = csv.writer(_Echo())
    for row in rows:
        yield writer.writerow(row)
