"""Salesforce record ids: 15/18-character forms, checksum, per-org id allocation.

A 15-character id is case-sensitive base 62: key prefix (3), pod (2), reserved (1),
record number (9). The 18-character form appends a 3-character checksum that encodes
which of the 15 characters are upper-case, which makes it usable case-insensitively.
"""

from __future__ import annotations

import secrets
import threading

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
CHECKSUM_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_ALNUM = frozenset(BASE62)

MASTER_RECORD_TYPE_ID = "012000000000000AAA"


def checksum(id15: str) -> str:
    """Return the 3-character checksum suffix of a 15-character id."""
    suffix = []
    for start in (0, 5, 10):
        chunk = id15[start : start + 5]
        bits = 0
        for position, char in enumerate(chunk):
            if "A" <= char <= "Z":
                bits |= 1 << position
        suffix.append(CHECKSUM_CHARS[bits])
    return "".join(suffix)


def to18(id15: str) -> str:
    """Return the 18-character form of a 15-character id."""
    return id15 + checksum(id15)


def _restore_case(id18: str) -> str | None:
    """Rebuild the case of the first 15 characters from the checksum, or None."""
    chars = []
    for chunk_index in range(3):
        code = CHECKSUM_CHARS.find(id18[15 + chunk_index].upper())
        if code < 0:
            return None
        for position in range(5):
            char = id18[chunk_index * 5 + position]
            upper = bool(code & (1 << position))
            if char.isalpha():
                char = char.upper() if upper else char.lower()
            elif upper:
                return None
            chars.append(char)
    return "".join(chars)


def normalize_id(value: object) -> str | None:
    """Return the canonical 18-character id for a 15/18-character id, else None.

    An 18-character id whose checksum does not match is accepted when the checksum
    explains the case of the first 15 characters (case-insensitive use), as
    Salesforce does; otherwise it is malformed.
    """
    if not isinstance(value, str):
        return None
    length = len(value)
    if length == 18:
        if not _ALNUM.issuperset(value):
            return None
        head = value[:15]
        if checksum(head) == value[15:]:
            return value
        restored = _restore_case(value)
        if restored is None:
            return None
        return to18(restored)
    if length == 15 and _ALNUM.issuperset(value):
        return to18(value)
    return None


def encode_base62(number: int, width: int) -> str:
    """Encode ``number`` in base 62, left-padded with zeros to ``width`` characters."""
    if number < 0:
        raise ValueError("negative number")
    chars = []
    while number:
        number, rest = divmod(number, 62)
        chars.append(BASE62[rest])
    text = "".join(reversed(chars)) or "0"
    if len(text) > width:
        raise ValueError(f"{number} does not fit in {width} base-62 characters")
    return text.rjust(width, "0")


def random_pod(taken: set[str]) -> str:
    """Pick a 2-character pod id not in ``taken``."""
    while True:
        pod = secrets.choice(BASE62[1:]) + secrets.choice(BASE62)
        if pod not in taken:
            return pod


class IdSpace:
    """Allocates ids for one org: prefix + pod + '0' + counter, plus checksum.

    The pod is unique per org, so ids of two orgs never collide.
    """

    COUNTER_WIDTH = 9

    def __init__(self, pod: str, counter: int = 0) -> None:
        if len(pod) != 2 or not _ALNUM.issuperset(pod):
            raise ValueError(f"invalid pod {pod!r}")
        self.pod = pod
        self.counter = counter
        self._lock = threading.Lock()

    def next_id(self, key_prefix: str) -> str:
        with self._lock:
            self.counter += 1
            number = self.counter
        return to18(
            f"{key_prefix}{self.pod}0{encode_base62(number, self.COUNTER_WIDTH)}"
        )

    def next_ids(self, key_prefix: str, count: int) -> list[str]:
        with self._lock:
            first = self.counter + 1
            self.counter += count
        head = f"{key_prefix}{self.pod}0"
        return [
            to18(head + encode_base62(number, self.COUNTER_WIDTH))
            for number in range(first, first + count)
        ]
