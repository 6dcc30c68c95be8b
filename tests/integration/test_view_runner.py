"""One runner feeding several views (RPT-4, SLA-1) on SQLite and PostgreSQL: each view
keeps its own position and transaction, so views at different positions catch up
together, and two runners racing over the same views apply each event once."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from application.app import CaseApplication
from domain.service_exceptions.model import ServiceException
from domain.service_exceptions.values import REPORT_UP_RECIPIENTS, Level
from projections.audit import AuditProjection, construct_audit_view
from projections.obligations import ObligationsProjection, construct_view
from projections.reports import ReportsProjection, construct_reports_view
from projections.runtime import ViewRunner
from tests.factories import ctx, record, report_up


def some_cases(cases: CaseApplication, count: int) -> None:
    for n in range(count):
        now = cases.clock.now()
        level = (Level.GENERAL, Level.MAJOR)[n % 2]
        case = record(ctx(now), level=level)
        cases.save_case(case)
        cases.clock.advance(timedelta(minutes=3))  # type: ignore[attr-defined]
        to = REPORT_UP_RECIPIENTS[level]
        cases.execute(ServiceException, case.id,
                      lambda c, to=to: report_up(c, ctx(cases.clock.now()), *to))


def group(cases: CaseApplication, batch_size: int = 4) -> ViewRunner:
    return ViewRunner(cases, ObligationsProjection(cases, construct_view(cases)),
                      ReportsProjection(cases, construct_reports_view(cases)),
                      AuditProjection(cases, construct_audit_view(cases)),
                      batch_size=batch_size)


def alone(runner: ViewRunner) -> list[list[tuple[object, ...]]]:
    """What each view of the runner holds when rebuilt by a runner of its own."""
    rebuilt = []
    for projection in runner.projections:
        single = ViewRunner(runner.cases, type(projection)(runner.cases, projection.view))
        single.rebuild()
        rebuilt.append(projection.view.rows())
    return rebuilt


@pytest.mark.rule("RPT-4")
def test_views_at_different_positions_catch_up_together(cases: CaseApplication) -> None:
    some_cases(cases, 5)
    runner = group(cases)
    assert runner.catch_up() == 10
    obligations, _, audit = runner.projections
    obligations.view.clear(runner.tracking_name(obligations))  # as `casetrail rebuild` does
    some_cases(cases, 3)
    assert runner.positions() == [0, 10, 10]
    assert runner.catch_up() == 16
    assert runner.positions() == [16, 16, 16]
    together = [p.view.rows() for p in runner.projections]
    assert together == alone(runner)
    assert len(audit.view.rows()) == 16  # each event once


@pytest.mark.rule("RPT-4")
def test_two_runners_racing_over_the_same_views_apply_each_event_once(
        cases: CaseApplication) -> None:
    some_cases(cases, 12)
    first, second = group(cases, batch_size=3), group(cases, batch_size=5)
    second_views = [
        type(p)(cases, q.view) for p, q in zip(second.projections, first.projections,
                                               strict=True)]
    second = ViewRunner(cases, *second_views, batch_size=5)  # same views, another runner
    threads = [threading.Thread(target=r.catch_up) for r in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert first.positions() == [24, 24, 24]
    audit = first.projections[2].view.rows()
    assert len(audit) == 24 and len({row[0] for row in audit}) == 24
    assert [p.view.rows() for p in first.projections] == alone(first)
