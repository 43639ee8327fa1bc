"""Salesforce record ids in their 15- and 18-character forms. Pure functions.

Reports and the Salesforce UI show 15-character, case-sensitive ids; the API returns
18-character ids whose last three characters encode the case of the first fifteen.
The mapping table stores the 18-character form.
"""

from __future__ import annotations

import re

CHECKSUM_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
ID_PATTERN = re.compile(r"^[0-9A-Za-z]{15}(?:[0-9A-Za-z]{3})?$")


def checksum(id15: str) -> str:
    """The 3-character suffix that makes a 15-character id case-insensitive."""
    suffix = []
    for start in (0, 5, 10):
        bits = 0
        for position, char in enumerate(id15[start : start + 5]):
            if "A" <= char <= "Z":
                bits |= 1 << position
        suffix.append(CHECKSUM_CHARS[bits])
    return "".join(suffix)


def to_18(record_id: str) -> str | None:
    """The 18-character form of a 15- or 18-character id, or None if it is not one.

    An 18-character id is trusted as given (its case may have been lost: the suffix
    rebuilds the first fifteen characters' case).
    """
    value = record_id.strip()
    if not ID_PATTERN.match(value):
        return None
    if len(value) == 15:
        return value + checksum(value)
    return _restore_case(value)


def _restore_case(id18: str) -> str | None:
    chars = []
    for chunk in range(3):
        code = CHECKSUM_CHARS.find(id18[15 + chunk].upper())
        if code < 0:
            return None
        for position in range(5):
            char = id18[chunk * 5 + position]
            upper = bool(code & (1 << position))
            if char.isalpha():
                char = char.upper() if upper else char.lower()
            elif upper:
                return None
            chars.append(char)
    head = "".join(chars)
    return head + checksum(head)


def to_15(record_id: str) -> str:
    """The 15-character form: shorter in SOQL, accepted wherever an id is."""
    return record_id[:15]
