"""The business calendar over the `holidays` package (CAL-2): statutory holidays and
officially adjusted weekend working days of a country, plus company closures and
extra working days from configuration."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, time
from zoneinfo import ZoneInfo

import holidays

from domain.calendar import BusinessCalendar


class HolidayCalendar(BusinessCalendar):
    def __init__(
        self,
        *,
        zone: str = "Asia/Shanghai",
        country: str = "CN",
        close_of_business: time | None = time(18, 0),
        closures: Iterable[date] = (),
        extra_working_days: Iterable[date] = (),
    ) -> None:
        super().__init__(ZoneInfo(zone), close_of_business)
        self.country = country
        self.closures = frozenset(closures)
        self.extra_working_days = frozenset(extra_working_days)
        overlap = self.closures & self.extra_working_days
        if overlap:
            days = ", ".join(d.isoformat() for d in sorted(overlap))
            msg = f"days configured both as closures and as working days: {days}"
            raise ValueError(msg)
        self._holidays = holidays.country_holidays(country)

    def is_working_day(self, day: date) -> bool:
        if day in self.closures:
            return False
        if day in self.extra_working_days:
            return True
        return bool(self._holidays.is_working_day(day))

    def holiday_name(self, day: date) -> str | None:
        name = self._holidays.get(day)
        return str(name) if name else None
