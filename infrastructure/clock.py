"""Clock adapters (CAL-6). The only place that reads the system time."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from domain.calendar import require_aware


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FrozenClock:
    """Stands still until told to move: for tests and replays at a simulated instant."""

    def __init__(self, at: datetime) -> None:
        require_aware(at, "at")
        self._at = at.astimezone(UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._at

    def advance(self, delta: timedelta) -> datetime:
        with self._lock:
            self._at += delta
            return self._at

    def set(self, at: datetime) -> None:
        require_aware(at, "at")
        with self._lock:
            self._at = at.astimezone(UTC)


class OffsetClock:
    """The system time shifted by a fixed offset: a running service set in the past or future."""

    def __init__(self, offset: timedelta, base: SystemClock | None = None) -> None:
        self.offset = offset
        self._base = base or SystemClock()

    def now(self) -> datetime:
        return self._base.now() + self.offset
