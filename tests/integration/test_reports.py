"""RPT-1..RPT-4 on SQLite and PostgreSQL: a generated month of cases with known
counts and ratios, through the reporting view, and a rebuild equal to the live view."""

from __future__ import annotations

from datetime import datetime, timedelta
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest

from application.app import CaseApplication
from application.reports import departments, monthly, weekly
from application.sla import sweep
from domain.actors import Actor, Role
from domain.cases import CommandContext
from domain.corrective_actions import CorrectiveAction, Severity, Source, SourceKind
from domain.service_exceptions.model import ServiceException
from domain.service_exceptions.values import Category, Level
from projections.obligations import ObligationsProjection, construct_view
from projections.reports import ReportsProjection, construct_reports_view
from projections.runtime import ViewRunner
from tests.factories import (
    approve,
    ctx,
    feedback,
    investigate,
    propose,
    record,
    report_fully,
    resolve,
    start_response,
)

CST = ZoneInfo("Asia/Shanghai")
NOV, DEC = datetime(2026, 11, 1, tzinfo=CST), datetime(2026, 12, 1, tzinfo=CST)


class Month:
    def __init__(self, cases: CaseApplication) -> None:
        self.cases = cases
        self.clock = cases.clock
        self.view = construct_reports_view(cases)
        self.runner = ViewRunner(cases, ReportsProjection(cases, self.view))
        self.ids: dict[str, str] = {}

    def at(self, when: datetime) -> None:
        self.clock.set(when)  # type: ignore[attr-defined]

    def exception(self, name: str, opened: datetime, department: str, level: Level,
                  category: Category, step: str, *, report_after: timedelta,
                  resolve_at: datetime | None = None, satisfaction: int | None = None) -> None:
        self.at(opened)
        case = record(ctx(opened), level=level, discovered_at=opened, department=department,
                      category=category, service_step=step)
        self.cases.save_case(case)
        self.ids[name] = str(case.id)
        self.at(opened + report_after)
        self.cases.execute(ServiceException, case.id,
                           lambda c: report_fully(c, self.clock.now()))
        if resolve_at is not None:
            self.at(resolve_at)

            def finish(c: ServiceException) -> None:
                now = self.clock.now()
                start_response(c, now)
                investigate(c, now)
                approve(c, propose(c, now), now)
                resolve(c, now)
                feedback(c, now, satisfaction=satisfaction or 3)

            self.cases.execute(ServiceException, case.id, finish)

    def action(self, opened: datetime, severity: Severity, *, close: bool) -> None:
        self.at(opened)
        cs = ctx(opened, Role.CS_HEAD)
        action = CorrectiveAction.open(cs, source=Source(SourceKind.MANAGEMENT_REVIEW, None, "MR"),
                                       severity=severity, title="t", description="d",
                                       department="after_sales")
        action.assign(cs, unit="after_sales", person="zhang")
        if close:
            unit = CommandContext(Actor("zhang", (Role.FRONTLINE,), "after_sales"), opened, "c")
            action.record_implementation(unit, evidence="done")
            action.close(cs)
        self.cases.save_case(action)


@pytest.fixture
def month(cases: CaseApplication) -> Month:
    m = Month(cases)
    quick, late = timedelta(minutes=20), timedelta(hours=2)
    G, M = Level.GENERAL, Level.MAJOR
    m.exception("a", datetime(2026, 11, 10, 10, 0, tzinfo=CST), "after_sales", G,
                Category.AFTER_SALES, "after_sales_visit", report_after=quick,
                resolve_at=datetime(2026, 11, 11, 9, 0, tzinfo=CST), satisfaction=4)
    m.exception("b", datetime(2026, 11, 11, 10, 0, tzinfo=CST), "after_sales", G,
                Category.AFTER_SALES, "after_sales_visit", report_after=late)
    m.exception("c", datetime(2026, 11, 12, 10, 0, tzinfo=CST), "delivery", G,
                Category.DELIVERY, "delivery", report_after=quick,
                resolve_at=datetime(2026, 11, 12, 15, 0, tzinfo=CST), satisfaction=2)
    m.exception("d", datetime(2026, 11, 12, 11, 0, tzinfo=CST), "delivery", M,
                Category.DELIVERY, "delivery", report_after=quick)
    m.exception("e", datetime(2026, 11, 20, 10, 0, tzinfo=CST), "after_sales", M,
                Category.INSTALLATION, "installation", report_after=quick)
    m.exception("f", datetime(2026, 11, 23, 10, 0, tzinfo=CST), "after_sales", G,
                Category.AFTER_SALES, "after_sales_visit", report_after=quick)
    m.action(datetime(2026, 11, 16, 10, 0, tzinfo=CST), Severity.GENERAL, close=True)
    m.action(datetime(2026, 11, 16, 11, 0, tzinfo=CST), Severity.KEY, close=False)
    m.at(datetime(2026, 11, 30, 20, 0, tzinfo=CST))  # the key action's plan is long overdue
    view = construct_view(cases)
    ViewRunner(cases, ObligationsProjection(cases, view)).catch_up()
    sweep(cases, view)
    m.runner.catch_up()
    return m


@pytest.mark.rule("RPT-1")
def test_rpt_1_the_weekly_general_exception_summary_per_department(month: Month) -> None:
    week = month.view.select("exception", datetime(2026, 11, 9, tzinfo=CST),
                             datetime(2026, 11, 16, tzinfo=CST))
    rows = {w.department: w for w in weekly(week)}
    assert (rows["after_sales"].opened, rows["after_sales"].resolved) == (2, 1)
    assert (rows["delivery"].opened, rows["delivery"].resolved) == (1, 1)  # d is major
    assert rows["after_sales"].cases == [month.ids["a"], month.ids["b"]]
    assert [w.department for w in weekly(week, "delivery")] == ["delivery"]


@pytest.mark.rule("RPT-1")
def test_rpt_1_an_exception_counts_in_the_week_it_was_discovered(
        cases: CaseApplication) -> None:
    """Entered on Monday of week 47, discovered on Friday of week 46: week 46's."""
    entered = datetime(2026, 11, 16, 9, 0, tzinfo=CST)
    cases.clock.set(entered)  # type: ignore[attr-defined]
    case = record(ctx(entered, backdating_reason="reported by phone after the weekend"),
                  discovered_at=datetime(2026, 11, 13, 17, 0, tzinfo=CST))
    cases.save_case(case)
    view = construct_reports_view(cases)
    ViewRunner(cases, ReportsProjection(cases, view)).catch_up()
    week_46 = view.select("exception", datetime(2026, 11, 9, tzinfo=CST), entered.replace(hour=0))
    assert [f.case_id for f in week_46] == [case.id]
    assert view.select("exception", entered.replace(hour=0), DEC) == []


@pytest.mark.rule("RPT-1")
def test_rpt_1_the_monthly_summary_frequent_problems_and_weak_steps(month: Month) -> None:
    result = monthly(month.view.month_counts(NOV, DEC))
    assert result.major_cases == [month.ids["d"], month.ids["e"]]
    assert result.by_category_level == {"after_sales": {"general": 3},
                                        "delivery": {"general": 1, "major": 1},
                                        "installation": {"major": 1}}
    assert result.frequent_problems == [("after_sales", 3), ("delivery", 2), ("installation", 1)]
    assert result.weak_steps == [("after_sales_visit", 3, Fraction(4)),
                                 ("delivery", 2, Fraction(2)), ("installation", 1, None)]


@pytest.mark.rule("RPT-2")
def test_rpt_2_department_kpis(month: Month) -> None:
    kpis = {k.department: k for k in departments(
        month.view.select("exception", NOV, DEC),
        month.view.select("corrective_action", NOV, DEC))}
    after_sales, delivery = kpis["after_sales"], kpis["delivery"]
    assert (after_sales.exceptions, after_sales.exception_rate) == (4, Fraction(2, 3))
    assert after_sales.response_timeliness == Fraction(3, 4)  # b was reported late
    assert (after_sales.completion_rate, after_sales.satisfaction) == (Fraction(1, 4), 4)
    assert (after_sales.actions, after_sales.action_completion_rate) == (2, Fraction(1, 2))
    assert after_sales.actions_overdue == 1
    assert (delivery.response_timeliness, delivery.completion_rate) == (1, Fraction(1, 2))


@pytest.mark.rule("RPT-4")
def test_rpt_4_a_rebuilt_reporting_view_equals_the_live_one(month: Month) -> None:
    live = [month.view.select(t) for t in ("exception", "corrective_action", "survey")]
    month.runner.rebuild()
    assert [month.view.select(t) for t in ("exception", "corrective_action", "survey")] == live


@pytest.mark.rule("RPT-1")
def test_rpt_1_the_scheduler_produces_the_weekly_and_monthly_reports_once(
        month: Month, store_settings) -> None:
    from infrastructure.scheduler import SingleProcessLeadership, Workers

    workers = Workers(month.cases, store_settings, SingleProcessLeadership())
    month.at(datetime(2026, 12, 1, 9, 0, tzinfo=CST))  # Tuesday 1 December
    assert workers.produce_reports() == [("weekly", "2026-W48"), ("monthly", "2026-11")]
    assert workers.produce_reports() == []  # once per period
    runs = {(r["kind"], r["period"]): r for r in month.cases.index.report_runs()}
    import json

    monthly_report = json.loads(runs[("monthly", "2026-11")]["payload"])
    assert monthly_report["items"]["major_cases"] == [month.ids["d"], month.ids["e"]]
    weekly_report = json.loads(runs[("weekly", "2026-W48")]["payload"])
    assert [i["department"] for i in weekly_report["items"]] == ["after_sales"]  # case f
