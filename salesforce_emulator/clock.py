"""The emulator's clock: real time plus an offset that tests and benchmarks move forward.

Every timestamp the emulated Salesforce produces (CreatedDate, LastModifiedDate,
SystemModstamp, deletedDate, latestDateCovered, token expiry, job dates, SOQL's TODAY)
comes from one ``Clock`` shared by all orgs of an ``Emulator``, so that "an hour later"
or "sixteen days later" can be observed without waiting.

The offset models time passing at Salesforce, not a skewed client clock: what a client
stamps itself (a JWT assertion's ``exp``) is still checked against real time.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

from salesforce_emulator.values import format_datetime

MINUTE = timedelta(minutes=1)


class Clock:
    """Wall-clock time shifted by ``offset_seconds``; thread-safe."""

    def __init__(self, offset_seconds: float = 0.0) -> None:
        self._lock = threading.Lock()
        self._offset = 0.0
        self.set_offset(offset_seconds)

    @property
    def offset_seconds(self) -> float:
        return self._offset

    def set_offset(self, seconds: float) -> datetime:
        """Put the clock ``seconds`` ahead of real time; returns the new now.

        Negative offsets are refused: Salesforce time never runs behind the client's,
        and 0 brings the clock back to real time (between tests).
        """
        seconds = float(seconds)
        if seconds < 0 or seconds != seconds:
            raise ValueError("the clock offset must be a number of seconds >= 0")
        with self._lock:
            self._offset = seconds
        return self.now()

    def advance(self, seconds: float) -> datetime:
        """Move the clock forward by ``seconds`` (>= 0); returns the new now."""
        seconds = float(seconds)
        if seconds < 0 or seconds != seconds:
            raise ValueError("the clock only moves forward: seconds must be >= 0")
        with self._lock:
            self._offset += seconds
        return self.now()

    def time(self) -> float:
        """Seconds since the epoch, like ``time.time()``."""
        return time.time() + self._offset

    def now(self) -> datetime:
        """The current moment, timezone-aware UTC."""
        return datetime.fromtimestamp(self.time(), UTC)

    def now_text(self) -> str:
        """The current moment as Salesforce writes datetimes (``...T10:30:00.000+0000``)."""
        return format_datetime(self.now())


def floor_minute(moment: datetime) -> datetime:
    """``moment`` without its seconds: Salesforce's replication calls work per minute."""
    return moment.replace(second=0, microsecond=0)
