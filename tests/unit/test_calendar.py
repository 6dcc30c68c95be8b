"""CAL-1..CAL-6: the business calendar and the clock."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from infrastructure.clock import FrozenClock, OffsetClock, SystemClock
from infrastructure.holiday_calendar import HolidayCalendar

CST = ZoneInfo("Asia/Shanghai")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def cn() -> HolidayCalendar:
    return HolidayCalendar()


def cst(*args: int) -> datetime:
    return datetime(*args, tzinfo=CST)  # type: ignore[misc]


def test_cal_1_deadlines_are_utc_and_naive_instants_are_refused(cn: HolidayCalendar) -> None:
    due = cn.add_working_days(cst(2026, 9, 28, 10, 0), 1)
    assert due.tzinfo is UTC
    assert due == datetime(2026, 9, 29, 10, 0, tzinfo=UTC)  # 18:00 CST
    with pytest.raises(ValueError, match="timezone-aware"):
        cn.add_working_days(datetime(2026, 9, 28, 10, 0), 1)
    with pytest.raises(ValueError, match="timezone-aware"):
        cn.add_duration(datetime(2026, 9, 28, 10, 0), timedelta(hours=1))


def test_cal_1_the_business_zone_is_configurable() -> None:
    utc_calendar = HolidayCalendar(zone="UTC")
    # 20:00 UTC on Tue 29 Sep is already Wed 30 Sep in Shanghai, not in UTC.
    start = datetime(2026, 9, 29, 20, 0, tzinfo=UTC)
    assert utc_calendar.add_working_days(start, 1) == datetime(2026, 9, 30, 18, 0, tzinfo=UTC)
    assert HolidayCalendar().add_working_days(start, 1) == cst(2026, 10, 8, 18, 0)


def test_cal_2_cn_holidays_and_adjusted_weekend_working_days(cn: HolidayCalendar) -> None:
    assert not cn.is_working_day(date(2026, 10, 1))   # National Day
    assert not cn.is_working_day(date(2026, 10, 7))   # day off swapped from Sat 10 Oct
    assert cn.is_working_day(date(2026, 10, 10))      # Saturday, adjusted working day (调休)
    assert cn.is_working_day(date(2026, 9, 30))       # ordinary Wednesday
    assert not cn.is_working_day(date(2026, 10, 11))  # ordinary Sunday


def test_cal_2_company_closures_and_extra_working_days_come_from_configuration() -> None:
    company = HolidayCalendar(closures=[date(2026, 12, 31)],
                              extra_working_days=[date(2026, 12, 27)])
    assert not company.is_working_day(date(2026, 12, 31))  # Thursday, closed
    assert company.is_working_day(date(2026, 12, 27))      # Sunday, worked
    with pytest.raises(ValueError, match="both"):
        HolidayCalendar(closures=[date(2026, 12, 31)], extra_working_days=[date(2026, 12, 31)])


def test_cal_3_domain_example_wed_before_national_day_plus_three(cn: HolidayCalendar) -> None:
    # DOMAIN.md: Wed 2026-09-30 15:00 CST + 3 working days -> Sat 2026-10-10 18:00 CST.
    due = cn.add_working_days(cst(2026, 9, 30, 15, 0), 3)
    assert due == cst(2026, 10, 10, 18, 0)
    assert due == datetime(2026, 10, 10, 10, 0, tzinfo=UTC)


def test_cal_3_the_start_day_is_not_counted_even_early_in_the_morning(cn: HolidayCalendar) -> None:
    assert cn.add_working_days(cst(2026, 9, 28, 0, 5), 1) == cst(2026, 9, 29, 18, 0)


def test_cal_3_clock_started_on_a_holiday_counts_from_the_next_working_day(
        cn: HolidayCalendar) -> None:
    assert cn.add_working_days(cst(2026, 10, 3, 11, 0), 1) == cst(2026, 10, 8, 18, 0)


def test_cal_3_spring_festival_span(cn: HolidayCalendar) -> None:
    # Sat 14 Feb 2026 is an adjusted working day; 15-23 Feb are off (Sunday, the
    # festival, and two swapped days); Tue 24 Feb is the first day back.
    assert cn.add_working_days(cst(2026, 2, 13, 16, 0), 1) == cst(2026, 2, 14, 18, 0)
    assert cn.add_working_days(cst(2026, 2, 13, 16, 0), 2) == cst(2026, 2, 24, 18, 0)
    assert cn.add_working_days(cst(2026, 2, 14, 9, 0), 3) == cst(2026, 2, 26, 18, 0)


def test_cal_3_without_business_hours_a_day_ends_at_midnight() -> None:
    calendar = HolidayCalendar(close_of_business=None)
    assert calendar.add_working_days(cst(2026, 9, 30, 15, 0), 3) == cst(2026, 10, 11, 0, 0)


def test_cal_3_close_of_business_is_configurable() -> None:
    calendar = HolidayCalendar(close_of_business=time(17, 30))
    assert calendar.add_working_days(cst(2026, 9, 30, 15, 0), 1) == cst(2026, 10, 8, 17, 30)


def test_cal_3_n_must_be_positive(cn: HolidayCalendar) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        cn.add_working_days(cst(2026, 9, 30, 15, 0), 0)


def test_cal_4_hours_run_on_the_wall_clock_through_nights_and_holidays(
        cn: HolidayCalendar) -> None:
    start = cst(2026, 9, 30, 23, 45)
    assert cn.add_duration(start, timedelta(minutes=30)) == cst(2026, 10, 1, 0, 15)
    assert cn.add_duration(start, timedelta(hours=48)) == cst(2026, 10, 2, 23, 45)


@pytest.mark.parametrize(("start", "months", "end_of"), [
    (date(2026, 1, 31), 1, date(2026, 2, 28)),   # no 31 Feb: that month's last day
    (date(2028, 1, 31), 1, date(2028, 2, 29)),   # leap year
    (date(2026, 3, 31), 1, date(2026, 4, 30)),
    (date(2026, 10, 15), 1, date(2026, 11, 15)),
    (date(2026, 12, 20), 1, date(2027, 1, 20)),  # across the year end
    (date(2026, 11, 30), 3, date(2027, 2, 28)),
])
def test_cal_5_months_run_to_the_same_day_or_the_month_end(
        cn: HolidayCalendar, start: date, months: int, end_of: date) -> None:
    due = cn.add_months(datetime.combine(start, time(16, 0), tzinfo=CST), months)
    assert due == datetime.combine(end_of + timedelta(days=1), time(0), tzinfo=CST)


def test_cal_6_frozen_clock_stands_still_until_advanced() -> None:
    clock = FrozenClock(cst(2026, 9, 30, 15, 0))
    assert clock.now() == clock.now() == datetime(2026, 9, 30, 7, 0, tzinfo=UTC)
    assert clock.advance(timedelta(minutes=30)) == datetime(2026, 9, 30, 7, 30, tzinfo=UTC)
    with pytest.raises(ValueError, match="timezone-aware"):
        FrozenClock(datetime(2026, 9, 30, 15, 0))


def test_cal_6_offset_clock_shifts_the_system_time() -> None:
    before = SystemClock().now()
    shifted = OffsetClock(timedelta(days=-365)).now()
    assert timedelta(days=364) < before - shifted < timedelta(days=366)
    assert shifted.tzinfo is not None


def test_cal_6_no_module_reads_the_system_time_but_the_clock_adapter() -> None:
    pattern = re.compile(r"datetime\.(now|utcnow|today)\(|date\.today\(|time\.time\(")
    allowed = {ROOT / "infrastructure" / "clock.py"}
    offenders = [
        f"{path.relative_to(ROOT)}:{n}"
        for folder in ("domain", "application", "infrastructure", "api", "projections")
        for path in sorted((ROOT / folder).rglob("*.py")) if path not in allowed
        for n, line in enumerate(path.read_text().splitlines(), 1) if pattern.search(line)
    ]
    assert offenders == []


def test_cal_1_instants_callers_send_with_an_offset_are_kept_in_utc(cn: HolidayCalendar) -> None:
    """A service node at 01:00 CST on 1 October, sent as 17:00Z the day before,
    counts in Q4 by the business calendar's date; every such instant is kept in UTC."""
    from domain.corrective_actions import ActionPlan
    from domain.surveys.campaign import Trigger
    from domain.surveys.directory import CustomerRecord, NodeType, ServiceNode
    from domain.surveys.responses import RespondentClass, Response

    cst = ZoneInfo("Asia/Shanghai")
    node = ServiceNode(NodeType.INSTALLATION_DONE, datetime(2026, 10, 1, 1, 0, tzinfo=cst), "P")
    assert node.completed_at == datetime(2026, 9, 30, 17, 0, tzinfo=UTC)
    assert node.completed_at.tzinfo is UTC
    customer = object.__new__(CustomerRecord)
    customer.nodes = [node]
    assert customer.active_in(date(2026, 10, 1), date(2026, 12, 31), cn)
    assert not customer.active_in(date(2026, 7, 1), date(2026, 9, 30), cn)
    local = datetime(2026, 10, 12, 9, 0, tzinfo=cst)
    instants = [
        Trigger("SV-TYPE-2", "node", local).start,
        ActionPlan(("m",), "p", local).horizon_end,
        *(lambda r: (r.started_at, r.submitted_at))(Response(
            "C1#1", "C1", False, RespondentClass.A, "online", False, local, local, {})),
    ]
    assert all(i.tzinfo is UTC and i == local for i in instants)
