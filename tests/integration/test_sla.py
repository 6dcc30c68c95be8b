"""SLA-1..SLA-5 on SQLite and PostgreSQL: the obligations view, breaches and warnings
on the record, rebuilds, and concurrent sweepers."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from application.app import CaseApplication
from application.sla import sweep
from domain.actors import Role
from domain.service_exceptions.model import ServiceException
from domain.service_exceptions.values import Level, ProgressKind
from infrastructure.bootstrap import build_application
from infrastructure.clock import FrozenClock
from infrastructure.settings import Settings
from projections.obligations import (
    ObligationQuery,
    ObligationsProjection,
    ObligationsView,
    construct_view,
)
from projections.runtime import ViewRunner
from tests.factories import ctx, record, report_fully, report_up, to_executing

CST = ZoneInfo("Asia/Shanghai")
MIN = timedelta(minutes=1)


class Sla:
    def __init__(self, cases: CaseApplication) -> None:
        self.cases = cases
        self.clock: FrozenClock = cases.clock  # type: ignore[assignment]
        self.view: ObligationsView = construct_view(cases)
        self.runner = ViewRunner(cases, ObligationsProjection(cases, self.view))

    def open(self, level: Level, discovered_at: datetime | None = None,
             then=None) -> ServiceException:
        context = ctx(self.clock.now())
        case = record(context, level=level, discovered_at=discovered_at or context.at)
        if then:
            then(case)
        self.cases.save_case(case)
        return case

    def update(self, case_id, command) -> None:
        self.cases.execute(ServiceException, case_id, command)

    def sweep(self):
        self.runner.catch_up()
        report = sweep(self.cases, self.view)
        self.runner.catch_up()
        return report

    def rows(self, case_id=None) -> dict[str, object]:
        rows = self.view.select(ObligationQuery(subject=case_id), limit=100_000)
        return {f"{r.case_id}/{r.key}": r for r in rows}

    def breach_events(self, case_id) -> list:
        return [e for e in self.cases.history(ServiceException, case_id)
                if type(e).__name__ == "ObligationBreached"]


@pytest.fixture
def sla(cases: CaseApplication) -> Iterator[Sla]:
    yield Sla(cases)


def test_sla_1_critical_report_up_breach_recorded_31_minutes_after_discovery(sla: Sla) -> None:
    case = sla.open(Level.CRITICAL)
    sla.runner.catch_up()
    [row] = [r for r in sla.rows(case.id).values() if r.rule == "EX-ESC-1"]
    assert (row.state, row.due_at) == ("pending", case.discovered_at + 30 * MIN)
    sla.clock.advance(29 * MIN)
    assert sla.sweep().breaches == 0
    sla.clock.advance(2 * MIN)
    assert sla.sweep().breaches == 1
    [breach] = sla.breach_events(case.id)
    assert (breach.key, breach.rule, breach.due_at) == ("EX-ESC-1@v1", "EX-ESC-1",
                                                        case.discovered_at + 30 * MIN)
    assert breach.timestamp == case.discovered_at + 31 * MIN
    assert breach.meta.actor.user == "casetrail"
    [row] = [r for r in sla.rows(case.id).values() if r.rule == "EX-ESC-1"]
    assert (row.state, row.warning_version, row.breach_version) == ("breached", 2, 3)
    assert sla.sweep().breaches == 0  # once only


def test_sla_1_an_obligation_met_late_is_breached_then_met_with_both_instants(sla: Sla) -> None:
    case = sla.open(Level.MAJOR)
    sla.clock.advance(timedelta(hours=2, minutes=5))
    sla.update(case.id, lambda c: report_fully(c, sla.clock.now()))
    sla.runner.catch_up()
    [row] = [r for r in sla.rows(case.id).values() if r.rule == "EX-ESC-1"]
    assert row.state == "breached" and row.breach_version is None  # not yet on record
    assert sla.sweep().breaches == 1
    [row] = [r for r in sla.rows(case.id).values() if r.rule == "EX-ESC-1"]
    assert row.breach_version is not None
    assert (row.due_at, row.met_at) == (case.discovered_at + timedelta(hours=2),
                                        case.discovered_at + timedelta(hours=2, minutes=5))


@pytest.mark.parametrize(("resolved", "state"), [((17, 59), "met"), ((18, 1), "breached")])
def test_sla_1_major_resolved_on_working_day_3_at_1759_met_at_1801_breached(
        sla: Sla, resolved: tuple[int, int], state: str) -> None:
    sla.clock.set(datetime(2026, 9, 30, 15, 0, tzinfo=CST))
    case = sla.open(Level.MAJOR, then=lambda c: to_executing(c, sla.clock.now()))
    sla.clock.set(datetime(2026, 10, 10, *resolved, tzinfo=CST))  # day 3 (CAL-3 example)
    sla.update(case.id, lambda c: c.resolve(ctx(sla.clock.now()), summary="fixed"))
    sla.sweep()
    [row] = [r for r in sla.rows(case.id).values() if r.rule == "EX-RES-1"]
    assert row.due_at == datetime(2026, 10, 10, 18, 0, tzinfo=CST)
    assert row.state == state
    assert len([b for b in sla.breach_events(case.id) if b.rule == "EX-RES-1"]) == (
        state == "breached")


def test_sla_1_a_missing_daily_progress_report_breaches_that_day(sla: Sla) -> None:
    sla.clock.set(datetime(2026, 10, 8, 10, 0, tzinfo=CST))
    case = sla.open(Level.MAJOR, then=lambda c: to_executing(c, sla.clock.now()))
    sla.clock.set(datetime(2026, 10, 9, 17, 0, tzinfo=CST))
    sla.update(case.id, lambda c: c.report_progress(
        ctx(sla.clock.now()), sla.cases.calendar, kind=ProgressKind.REPORT, summary="patched"))
    sla.clock.set(datetime(2026, 10, 10, 18, 1, tzinfo=CST))  # Sat 10: adjusted working day
    sla.sweep()
    progress = {r.key: r.state for r in sla.rows(case.id).values() if r.rule == "EX-PROG-1"}
    assert progress["EX-PROG-1@2026-10-09"] == "met"
    assert progress["EX-PROG-1@2026-10-10"] == "breached"
    assert progress["EX-PROG-1@2026-10-12"] == "pending"  # the horizon moved on
    sla.clock.set(datetime(2026, 10, 12, 18, 1, tzinfo=CST))
    sla.sweep()
    keys = sorted(b.key for b in sla.breach_events(case.id))
    # Mon 12 is also the third working day: the resolution is overdue too (EX-RES-1).
    assert keys == ["EX-PROG-1@2026-10-10", "EX-PROG-1@2026-10-12", "EX-RES-1@v1"]


def test_sla_1_critical_retrospective_is_owed_one_calendar_month_after_resolution(
        sla: Sla) -> None:
    sla.clock.set(datetime(2027, 1, 20, 10, 0, tzinfo=CST))
    case = sla.open(Level.CRITICAL, then=lambda c: to_executing(c, sla.clock.now()))
    sla.clock.set(datetime(2027, 1, 31, 11, 0, tzinfo=CST))
    sla.update(case.id, lambda c: c.resolve(ctx(sla.clock.now()), summary="fixed"))
    sla.runner.catch_up()
    [row] = [r for r in sla.rows(case.id).values() if r.rule == "EX-REV-1"]
    assert row.due_at == datetime(2027, 3, 1, 0, 0, tzinfo=CST)
    assert row.state == "pending"


def test_sla_2_a_warning_at_75_percent_of_the_allowed_time_once(sla: Sla) -> None:
    case = sla.open(Level.MAJOR)  # report up within 2 hours: warn at 90 minutes
    sla.clock.advance(89 * MIN)
    assert sla.sweep().warnings == 0
    sla.clock.advance(2 * MIN)
    assert sla.sweep().warnings == 1
    assert sla.sweep().warnings == 0
    [row] = [r for r in sla.rows(case.id).values() if r.rule == "EX-ESC-1"]
    assert row.warning_version == 2 and row.state == "pending"
    warned = [e for e in sla.cases.history(ServiceException, case.id)
              if type(e).__name__ == "ObligationWarned"]
    assert [w.key for w in warned] == ["EX-ESC-1@v1"]


def test_sla_2_the_warning_fraction_is_policy(store_settings: Settings) -> None:
    from domain.policy import Policy, SlaPolicy
    from infrastructure.bootstrap import init_schema
    from tests.conftest import T0

    settings = store_settings.model_copy(update={"policy": Policy(sla=SlaPolicy(0.5))})
    init_schema(settings)
    cases = build_application(settings, FrozenClock(T0))
    try:
        sla = Sla(cases)
        sla.open(Level.MAJOR)
        sla.clock.advance(61 * MIN)
        assert sla.sweep().warnings == 1
    finally:
        cases.close()


def test_sla_3_a_rebuild_equals_the_live_view_breaches_included(sla: Sla) -> None:
    start = datetime(2026, 10, 8, 9, 0, tzinfo=CST)
    sla.clock.set(start)
    opened = [sla.open(level) for level in (Level.GENERAL, Level.MAJOR, Level.CRITICAL)]
    executing = sla.open(Level.MAJOR, then=lambda c: to_executing(c, sla.clock.now()))
    sla.clock.advance(timedelta(minutes=45))
    sla.update(opened[1].id, lambda c: report_up(c, ctx(sla.clock.now()), Role.CS_HEAD))
    sla.update(opened[2].id, lambda c: c.reclassify(ctx(sla.clock.now(), Role.GROUP_LEADER),
                                                     level=Level.MAJOR, reason="contained"))
    for _ in range(4):
        sla.clock.advance(timedelta(hours=7))
        sla.sweep()
    live = sla.rows()
    assert any(r.state == "breached" for r in live.values())
    assert any(r.state == "void" for r in live.values())
    assert any(r.rule == "EX-PROG-1" and r.case_id == executing.id for r in live.values())
    sla.runner.rebuild()
    assert sla.rows() == live


def test_sla_5_two_concurrent_sweepers_over_1000_due_obligations_record_1000_breaches(
        sla: Sla) -> None:
    ids = [sla.open(Level.GENERAL).id for _ in range(1000)]
    sla.runner.catch_up()
    sla.clock.advance(61 * MIN)  # every report up (1 hour) is now overdue
    start = threading.Barrier(2)
    reports = []

    def sweeper() -> None:
        start.wait()
        reports.append(sweep(sla.cases, sla.view))

    threads = [threading.Thread(target=sweeper) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r.breaches for r in reports) == 1000
    topic_count = sum(
        1 for n in sla.cases.recorder.select_notifications(start=1, limit=100_000)
        if n.topic.endswith("ObligationBreached"))
    assert topic_count == 1000
    assert {len(sla.breach_events(case_id)) for case_id in ids[:50]} == {1}


@pytest.mark.rule("CA-PROG-1")
def test_ca_prog_1_a_missed_monthly_evaluation_is_breached_on_the_record(sla: Sla) -> None:
    from domain.actors import Actor
    from domain.cases import CommandContext
    from domain.corrective_actions import (
        ActionPlan,
        CorrectiveAction,
        Severity,
        Source,
        SourceKind,
    )

    start = sla.clock.now()
    unit = CommandContext(Actor("zhang", (Role.IMPLEMENTATION,), "implementation"), start, "c")
    action = CorrectiveAction.open(
        ctx(start, Role.CS_HEAD), source=Source(SourceKind.MANAGEMENT_REVIEW, None, "MR"),
        severity=Severity.KEY, title="parts", description="late", department="after_sales")
    action.assign(ctx(start, Role.CS_HEAD), unit="implementation", person="zhang")
    action.submit_plan(unit, sla.cases.calendar, sla.cases.policy.corrective_actions,
                       ActionPlan(("stock",), "zhang", start + timedelta(days=60)))
    action.review_plan(ctx(start, Role.CS_HEAD), approved=True)
    sla.cases.save_case(action)
    sla.clock.advance(timedelta(days=32))
    sla.sweep()
    keys = [e.key for e in sla.cases.history(CorrectiveAction, action.id)
            if type(e).__name__ == "ObligationBreached"]
    assert "CA-PROG-1/month-1" in keys
