"""A small, bounded log of an org's write calls: who wrote, what, and when.

Each entry is one API call that changed data (``request.wrote``): when it arrived and
when it was applied (real time, so that another process can line it up with its own
records), the kind of call, the caller's name from Salesforce's
``Sforce-Call-Options: client=NAME`` header, and a short fingerprint of the access
token. Tests use it to show that two writers never overlapped on the same records.

``org.write_log.entries()`` from Python, ``GET /__emulator__/orgs/<name>/write-log``
over HTTP (``POST`` with ``{"clear": true}`` empties it).
"""

from __future__ import annotations

import hashlib
import threading
from collections import deque
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from salesforce_emulator.transport import Request

# Enough for a long test or chaos run; the oldest entries go first.
MAX_ENTRIES = 20_000


@dataclass(frozen=True)
class WriteEntry:
    started: float
    applied: float
    kind: str
    caller: str
    token: str


class WriteLog:
    def __init__(self, size: int = MAX_ENTRIES) -> None:
        self._lock = threading.Lock()
        self._entries: deque[WriteEntry] = deque(maxlen=size)

    def record(self, request: Request, *, started: float, applied: float) -> None:
        entry = WriteEntry(
            started=started,
            applied=applied,
            kind=call_kind(request),
            caller=caller_of(request),
            token=token_fingerprint(request.bearer() or ""),
        )
        with self._lock:
            self._entries.append(entry)

    def entries(self) -> list[WriteEntry]:
        with self._lock:
            return list(self._entries)

    def as_dicts(self) -> list[dict[str, Any]]:
        return [asdict(entry) for entry in self.entries()]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def call_kind(request: Request) -> str:
    """The method and resource: POST composite/sobjects, PATCH jobs/ingest, ..."""
    resource = request.segments[3:5]
    return f"{request.method} {'/'.join(resource)}"


def caller_of(request: Request) -> str:
    """The client name of ``Sforce-Call-Options: client=NAME[, ...]``, or ""."""
    options = request.headers.get("Sforce-Call-Options") or ""
    for option in options.split(","):
        name, _, value = option.strip().partition("=")
        if name.strip().lower() == "client":
            return value.strip()
    return ""


def token_fingerprint(token: str) -> str:
    """Tells tokens apart without keeping them."""
    return hashlib.sha256(token.encode()).hexdigest()[:10] if token else ""
