"""The clock interface (CAL-6): every time-dependent decision asks a clock for "now"."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol


class Clock(Protocol):
    """Gives the current instant, timezone-aware, in UTC (CAL-1)."""

    def now(self) -> datetime: ...
