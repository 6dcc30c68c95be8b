"""Business-calendar arithmetic (CAL-1..CAL-5).

`BusinessCalendar` owns the deadline arithmetic; which days are working days is
left to a subclass (the adapter over the `holidays` package lives in
infrastructure), so the rules here stay pure and testable.
"""

from __future__ import annotations

import calendar as _stdlib_calendar
from abc import ABC, abstractmethod
from datetime import UTC, date, datetime, time, timedelta, tzinfo


def require_aware(instant: datetime, name: str = "instant") -> None:
    """CAL-1: naive datetimes are ambiguous; refuse them everywhere."""
    if instant.tzinfo is None or instant.utcoffset() is None:
        msg = f"{name} must be timezone-aware, got naive {instant.isoformat()}"
        raise ValueError(msg)


def utc(instant: datetime, name: str = "instant") -> datetime:
    """CAL-1: every stored instant is aware and in UTC."""
    require_aware(instant, name)
    return instant.astimezone(UTC)


class BusinessCalendar(ABC):
    """Working days in a zone, with a close of business.

    `close_of_business` None means no business hours are configured: a working day
    then ends at 24:00 local (CAL-3).
    """

    def __init__(self, zone: tzinfo, close_of_business: time | None = time(18, 0)) -> None:
        self.zone = zone
        self.close_of_business = close_of_business
        self._after: dict[tuple[date, int], date] = {}
        """Answers of `working_days_after`, which views ask again for every case."""

    @abstractmethod
    def is_working_day(self, day: date) -> bool:
        """CAL-2: Monday-Friday, minus public holidays, plus adjusted working days."""

    def local_date(self, instant: datetime) -> date:
        require_aware(instant)
        return instant.astimezone(self.zone).date()

    def end_of_working_day(self, day: date) -> datetime:
        """The instant (UTC) a working day closes: close of business, or 24:00."""
        if self.close_of_business is None:
            return self.end_of_day(day)
        local = datetime.combine(day, self.close_of_business, tzinfo=self.zone)
        return local.astimezone(UTC)

    def end_of_day(self, day: date) -> datetime:
        """24:00 local of `day`, i.e. the next day's first instant, in UTC."""
        midnight = datetime.combine(day + timedelta(days=1), time(0), tzinfo=self.zone)
        return midnight.astimezone(UTC)

    def working_days_after(self, day: date, n: int) -> date:
        """The n-th working day after `day`; `day` itself is never counted (CAL-3)."""
        if n < 1:
            msg = f"n must be at least 1, got {n}"
            raise ValueError(msg)
        if (known := self._after.get((day, n))) is not None:
            return known
        counted = 0
        current = day
        while counted < n:
            current += timedelta(days=1)
            if self.is_working_day(current):
                counted += 1
        if len(self._after) < 50_000:  # bounded: a few years of days x the rules' N
            self._after[(day, n)] = current
        return current

    def add_working_days(self, start: datetime, n: int) -> datetime:
        """CAL-3 "within N working days": close of business of the N-th working day
        after the local day the clock started (Civil Code art. 201/203)."""
        return self.end_of_working_day(self.working_days_after(self.local_date(start), n))

    def next_working_day(self, day: date) -> date:
        return self.working_days_after(day, 1)

    @staticmethod
    def add_duration(start: datetime, duration: timedelta) -> datetime:
        """CAL-4: minutes and hours run on the wall clock, 24x7."""
        require_aware(start, "start")
        return (start + duration).astimezone(UTC)

    def add_months(self, start: datetime, months: int) -> datetime:
        """CAL-5 "within N months": the same day-of-month N months on (or that month's
        last day when it has none), to the end of that day (Civil Code art. 202)."""
        day = self.local_date(start)
        month_index = day.month - 1 + months
        year, month = day.year + month_index // 12, month_index % 12 + 1
        last = _stdlib_calendar.monthrange(year, month)[1]
        return self.end_of_day(date(year, month, min(day.day, last)))
