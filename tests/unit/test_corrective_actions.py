"""CorrectiveAction with a frozen clock, one rule ID at a time (CA-SRC-1, CA-SEV-1,
CA-PLAN-1, CA-PROG-1, CA-VER-1)."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from application.corrective_actions import from_review
from domain.actors import Actor, Role
from domain.cases import CommandContext
from domain.corrective_actions import (
    ActionPlan,
    ActionStatus,
    CorrectiveAction,
    Severity,
    Source,
    SourceKind,
)
from domain.errors import InvalidInput, NotPermitted, StepMissing, WrongState
from domain.obligations import Obligation, ObligationState
from domain.policy import CorrectiveActionPolicy
from domain.service_exceptions.values import Level
from infrastructure.holiday_calendar import HolidayCalendar
from tests.factories import ctx, feedback, record, resolve, review, to_executing

CST = ZoneInfo("Asia/Shanghai")
CAL = HolidayCalendar()
POLICY = CorrectiveActionPolicy()
T = datetime(2026, 10, 12, 9, 0, tzinfo=CST)  # Monday


def cs(at: datetime) -> CommandContext:
    return ctx(at, Role.CS_HEAD, user="qian")


def unit(at: datetime) -> CommandContext:
    return CommandContext(Actor("zhang", (Role.IMPLEMENTATION,), "implementation"), at, "c")


def action(severity: Severity, at: datetime = T) -> CorrectiveAction:
    a = CorrectiveAction.open(cs(at), source=Source(SourceKind.MANAGEMENT_REVIEW, None, "MR-4"),
                              severity=severity, title="Late spare parts",
                              description="parts arrive after 5 days", department="after_sales")
    assigner = ctx(at, Role.MANAGEMENT, user="boss") if severity is Severity.MAJOR else cs(at)
    a.assign(assigner, unit="implementation", person="zhang")
    return a


def plan(at: datetime, months: int = 2, emergency: str | None = None) -> ActionPlan:
    return ActionPlan(("stock critical parts locally",), "zhang", at + timedelta(days=30 * months),
                      emergency)


def owed(a: CorrectiveAction, now: datetime) -> dict:
    return {o.key: o for o in a.obligations(POLICY, CAL, now)}


def approved(severity: Severity) -> CorrectiveAction:
    a = action(severity)
    a.submit_plan(unit(T), CAL, POLICY, plan(T, emergency="air freight now"))
    a.review_plan(cs(T), approved=True)
    return a


def test_ca_src_1_an_exception_review_opens_linked_actions() -> None:
    case = record(ctx(T), level=Level.MAJOR)
    to_executing(case, T)
    resolve(case, T)
    feedback(case, T)
    case.record_acceptance(ctx(T), accepted=True, note="")
    review(case, T)  # one improvement asks for a corrective action
    [opened] = from_review(case, ctx(T, Role.GROUP_LEADER))
    assert opened.source.kind is SourceKind.EXCEPTION_REVIEW
    assert opened.source.case_id == str(case.id)
    assert opened.severity is Severity.KEY  # major exception -> key action
    assert case.corrective_actions == [str(opened.id)]


def test_ca_sev_1_general_is_rectified_within_3_working_days() -> None:
    a = action(Severity.GENERAL)
    due = owed(a, T)["CA-SEV-1/rectification"].due_at
    assert due == datetime(2026, 10, 15, 18, 0, tzinfo=CST)
    a.record_implementation(unit(T + timedelta(days=1)), evidence="parts stocked")
    a.close(cs(T + timedelta(days=1)))
    assert a.status is ActionStatus.CLOSED  # general: no re-visit needed


@pytest.mark.parametrize(("severity", "days", "due_day"), [
    (Severity.GENERAL, 2, 14), (Severity.KEY, 5, 19), (Severity.MAJOR, 1, 13)])
def test_ca_sev_1_and_ca_plan_1_plan_deadlines_by_severity(severity: Severity, days: int,
                                                           due_day: int) -> None:
    a = action(severity)
    key = "CA-PLAN-1/plan" if severity is Severity.GENERAL else "CA-SEV-1/plan"
    assert owed(a, T)[key].due_at == datetime(2026, 10, due_day, 18, 0, tzinfo=CST)


def test_ca_sev_1_a_major_plan_needs_emergency_measures_and_closes_with_a_report() -> None:
    a = action(Severity.MAJOR)
    with pytest.raises(InvalidInput) as no_emergency:
        a.submit_plan(unit(T), CAL, POLICY, plan(T))
    assert no_emergency.value.field == "emergency_measures"
    a.submit_plan(unit(T), CAL, POLICY, plan(T, emergency="air freight now"))
    a.review_plan(cs(T), approved=True)
    a.record_implementation(unit(T), evidence="local stock in place")
    a.verify(cs(T), effective=True, revisited_at=T, notes="customer confirms")
    with pytest.raises(InvalidInput) as no_report:
        a.close(cs(T))
    assert no_report.value.field == "management_report"
    with pytest.raises(InvalidInput) as untold:
        a.close(cs(T), management_report="special report: stock policy changed")
    assert untold.value.field == "customer_communication"
    a.close(cs(T), management_report="special report: stock policy changed",
            customer_communication="told the customer's plant manager by phone, 12 Oct")
    assert a.status is ActionStatus.CLOSED and a.customer_communication


def test_ca_plan_1_a_four_month_plan_is_rejected_and_reviews_are_due_in_2_days() -> None:
    a = action(Severity.KEY)
    with pytest.raises(InvalidInput) as too_long:
        a.submit_plan(unit(T), CAL, POLICY, plan(T, months=4))
    assert too_long.value.field == "horizon_end"
    with pytest.raises(NotPermitted):  # not the responsible unit
        a.submit_plan(ctx(T, Role.SALES), CAL, POLICY, plan(T))
    a.submit_plan(unit(T), CAL, POLICY, plan(T))
    assert owed(a, T)["CA-PLAN-1/review-1"].due_at == datetime(2026, 10, 14, 18, 0, tzinfo=CST)
    with pytest.raises(InvalidInput):
        a.review_plan(cs(T), approved=False)
    a.review_plan(cs(T), approved=False, reason="no budget owner")
    assert a.status is ActionStatus.ASSIGNED
    a.submit_plan(unit(T + timedelta(days=1)), CAL, POLICY, plan(T))
    a.review_plan(cs(T + timedelta(days=1)), approved=True)
    assert a.status is ActionStatus.IMPLEMENTING


def test_ca_prog_1_a_missing_monthly_evaluation_is_a_breach() -> None:
    a = approved(Severity.KEY)
    a.evaluate(unit(T + timedelta(days=20)), summary="stock at 80 %", effective=True)
    now = T + timedelta(days=75)
    items = {k: o for k, o in owed(a, now).items() if k.startswith("CA-PROG-1")}
    assert list(items) == ["CA-PROG-1/month-1", "CA-PROG-1/month-2", "CA-PROG-1/month-3"]
    assert items["CA-PROG-1/month-1"].state_at(now) is ObligationState.MET
    assert items["CA-PROG-1/month-2"].state_at(now) is ObligationState.BREACHED
    assert items["CA-PROG-1/month-3"].state_at(now) is ObligationState.PENDING


def test_ca_ver_1_a_key_action_cannot_close_without_a_confirming_re_visit() -> None:
    a = approved(Severity.KEY)
    with pytest.raises(StepMissing) as early:
        a.close(cs(T))
    assert early.value.missing_step == "implementation"
    a.record_implementation(unit(T), evidence="local stock")
    with pytest.raises(StepMissing) as no_visit:
        a.close(cs(T))
    assert no_visit.value.missing_step == "verification"
    a.verify(cs(T), effective=False, revisited_at=T, notes="still waiting 4 days")
    assert a.status is ActionStatus.IMPLEMENTING  # no effect: reopened
    a.record_implementation(unit(T + timedelta(days=3)), evidence="second warehouse")
    a.verify(cs(T + timedelta(days=3)), effective=True, revisited_at=T + timedelta(days=3),
             notes="next-day parts")
    a.close(cs(T + timedelta(days=3)))
    with pytest.raises(WrongState):
        a.evaluate(unit(T + timedelta(days=4)), summary="x", effective=True)
    a.reopen(cs(T + timedelta(days=40)), reason="delays are back")
    assert a.status is ActionStatus.IMPLEMENTING and a.closed_at is None


def test_ca_sev_1_a_major_action_is_assigned_by_management_only() -> None:
    a = CorrectiveAction.open(cs(T), source=Source(SourceKind.MANAGEMENT_REVIEW, None, "MR-5"),
                              severity=Severity.MAJOR, title="Line stoppages",
                              description="three stoppages", department="after_sales")
    with pytest.raises(NotPermitted):
        a.assign(cs(T), unit="implementation", person="zhang")
    a.assign(ctx(T, Role.MANAGEMENT, user="boss"), unit="implementation", person="zhang")
    assert a.status is ActionStatus.ASSIGNED


def test_ca_sev_1_an_unassigned_action_owes_its_plan_from_the_opening() -> None:
    a = CorrectiveAction.open(cs(T), source=Source(SourceKind.MANAGEMENT_REVIEW, None, "MR-6"),
                              severity=Severity.MAJOR, title="Line stoppages",
                              description="three stoppages", department="after_sales")
    now = T + timedelta(days=2)
    plan_due = owed(a, now)["CA-SEV-1/plan"]
    assert plan_due.due_at == datetime(2026, 10, 13, 18, 0, tzinfo=CST)  # 1 working day
    assert plan_due.state_at(now) is ObligationState.BREACHED
    late = CorrectiveAction.open(cs(T), source=Source(SourceKind.MANAGEMENT_REVIEW, None, "M"),
                                 severity=Severity.KEY, title="t", description="d",
                                 department="after_sales")
    late.assign(cs(T + timedelta(days=7)), unit="implementation", person="zhang")
    assert owed(late, T)["CA-SEV-1/plan"].started_at == T  # a late notice moves nothing


def test_ca_plan_1_a_general_action_rectified_without_a_plan_owes_none_and_closed_breaches_nothing(
        ) -> None:
    a = action(Severity.GENERAL)
    a.record_implementation(unit(T + timedelta(hours=2)), evidence="parts reordered")
    a.close(cs(T + timedelta(hours=3)))
    later = T + timedelta(days=30)
    found = owed(a, later)
    assert found["CA-PLAN-1/plan"].state_at(later) is ObligationState.MET
    assert all(o.state_at(later) is not ObligationState.BREACHED for o in found.values())


def test_ca_plan_1_no_breach_is_recorded_on_a_closed_action() -> None:
    a = approved(Severity.KEY)
    a.record_implementation(unit(T), evidence="local stock")
    a.verify(cs(T), effective=True, revisited_at=T, notes="customer confirms")
    a.close(cs(T + timedelta(days=1)))
    later = T + timedelta(days=90)
    for obligation in a.obligations(POLICY, CAL, later):
        assert not a.record_breach(ctx(later), obligation)
    # Whatever a case type derives, the case itself refuses a breach that fell due
    # after it closed.
    pending_at_close = Obligation(key="any", rule="CA-PROG-1", description="any",
                                  started_at=T, due_at=T + timedelta(days=2))
    assert not a.record_breach(ctx(later), pending_at_close)


def test_ca_ver_1_a_reopened_key_action_needs_a_new_re_visit_to_close() -> None:
    a = approved(Severity.KEY)
    a.record_implementation(unit(T), evidence="local stock")
    a.verify(cs(T), effective=True, revisited_at=T, notes="customer confirms")
    a.close(cs(T))
    a.reopen(cs(T + timedelta(days=40)), reason="delays are back")
    a.record_implementation(unit(T + timedelta(days=41)), evidence="third warehouse")
    with pytest.raises(StepMissing) as stale:
        a.close(cs(T + timedelta(days=41)))
    assert stale.value.missing_step == "verification"
    a.verify(cs(T + timedelta(days=42)), effective=True, revisited_at=T + timedelta(days=42),
             notes="parts next day again")
    a.close(cs(T + timedelta(days=42)))
    assert a.status is ActionStatus.CLOSED
