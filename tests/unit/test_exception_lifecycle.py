"""The ServiceException lifecycle, one rule ID at a time, with a frozen clock
(T0 = Wed 2026-09-30 15:00 CST, the day before the National Day holidays)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from domain.actors import Role
from domain.errors import CaseClosed, InvalidInput, NotPermitted, StepMissing, WrongState
from domain.obligations import Obligation, ObligationState
from domain.policy import ExceptionPolicy
from domain.service_exceptions.model import ServiceException
from domain.service_exceptions.obligations import obligations
from domain.service_exceptions.values import (
    CancelReason,
    Category,
    DocumentRef,
    Level,
    LossAssessment,
    Measure,
    Meeting,
    ProgressKind,
    QualityFinding,
    SpecialType,
    Status,
)
from infrastructure.holiday_calendar import HolidayCalendar
from tests.conftest import T0
from tests.factories import (
    LATE,
    approve,
    ctx,
    feedback,
    investigate,
    propose,
    record,
    report_fully,
    report_up,
    resolve,
    review,
    sign_off,
    start_response,
    to_executing,
)

CAL = HolidayCalendar()
POLICY = ExceptionPolicy()
CST = ZoneInfo("Asia/Shanghai")
MIN = timedelta(minutes=1)


def owed(case: ServiceException, now: datetime = T0) -> dict[str, Obligation]:
    return {o.key: o for o in obligations(case, POLICY, CAL, now)}


def by_rule(case: ServiceException, rule: str, now: datetime = T0) -> list[Obligation]:
    return [o for o in obligations(case, POLICY, CAL, now) if o.rule == rule]


def test_ex_cat_1_exactly_six_categories() -> None:
    assert {c.value for c in Category} == {
        "presales", "delivery", "installation", "after_sales", "technical_support", "other"}


def test_ex_lvl_1_three_levels_each_with_its_own_chain() -> None:
    assert [lvl.value for lvl in Level] == ["general", "major", "critical"]
    for level in Level:
        assert record(ctx(T0), level=level).level is level


# --- EX-ESC-1 ---------------------------------------------------------------------------

@pytest.mark.parametrize(("level", "allowed"), [
    (Level.GENERAL, timedelta(hours=1)), (Level.MAJOR, timedelta(hours=2)),
    (Level.CRITICAL, timedelta(minutes=30))])
def test_ex_esc_1_report_up_is_due_from_discovery(level: Level, allowed: timedelta) -> None:
    discovered = T0 - timedelta(minutes=10)
    case = record(ctx(T0), level=level, discovered_at=discovered)
    [report] = by_rule(case, "EX-ESC-1")
    assert report.due_at == discovered + allowed
    assert report.state_at(T0) is ObligationState.PENDING


def test_ex_esc_1_critical_obligation_is_met_only_by_both_reports() -> None:
    case = record(ctx(T0), level=Level.CRITICAL, discovered_at=T0 - timedelta(minutes=10))
    report_up(case, ctx(T0 + 5 * MIN), Role.GROUP_LEADER)
    assert by_rule(case, "EX-ESC-1")[0].met_at is None
    report_up(case, ctx(T0 + 15 * MIN), Role.PRINCIPAL)
    [report] = by_rule(case, "EX-ESC-1")
    assert (report.met_at, report.met_by_version) == (T0 + 15 * MIN, 3)
    assert report.state_at(T0 + timedelta(hours=5)) is ObligationState.MET


def test_ex_esc_1_a_late_report_is_met_but_breached() -> None:
    case = record(ctx(T0, backdating_reason=LATE), level=Level.CRITICAL,
                  discovered_at=T0 - timedelta(minutes=31))
    report_fully(case, T0)
    [report] = by_rule(case, "EX-ESC-1")
    assert report.state_at(T0) is ObligationState.BREACHED
    assert report.met_at == T0


# --- EX-LVL-2 ---------------------------------------------------------------------------

def test_ex_lvl_2_general_to_critical_after_20_minutes_restarts_the_clock() -> None:
    case = record(ctx(T0), level=Level.GENERAL, discovered_at=T0)
    later = T0 + timedelta(minutes=20)
    case.reclassify(ctx(later, Role.DEPARTMENT_HEAD), level=Level.CRITICAL,
                    reason="line stoppage at the customer")
    found = owed(case, later)
    general_report, general_resolve = found["EX-ESC-1@v1"], found["EX-RES-1@v1"]
    assert general_report.state_at(later) is ObligationState.VOID
    assert general_resolve.state_at(later) is ObligationState.VOID
    assert general_report.void_by_version == general_resolve.void_by_version == 2
    critical = found["EX-ESC-1@v2"]
    assert (critical.started_at, critical.due_at) == (later, later + timedelta(minutes=30))
    assert "group_leader and principal" in critical.description
    assert found["EX-PLAN-2@v2"].due_at == later + timedelta(minutes=30) + timedelta(hours=48)


def test_ex_lvl_2_met_obligations_stay_on_record_and_a_reason_is_needed() -> None:
    case = record(ctx(T0), level=Level.GENERAL, discovered_at=T0)
    report_fully(case, T0 + 10 * MIN)
    with pytest.raises(InvalidInput) as no_reason:
        case.reclassify(ctx(T0, Role.CS_HEAD), level=Level.MAJOR, reason=" ")
    assert no_reason.value.field == "reason"
    with pytest.raises(InvalidInput):
        case.reclassify(ctx(T0, Role.CS_HEAD), level=Level.GENERAL, reason="same level")
    with pytest.raises(NotPermitted):
        case.reclassify(ctx(T0, Role.FRONTLINE), level=Level.MAJOR, reason="worse")
    case.reclassify(ctx(T0 + 30 * MIN, Role.CS_HEAD), level=Level.MAJOR, reason="worse")
    found = owed(case, T0 + 30 * MIN)
    assert found["EX-ESC-1@v1"].state_at(T0 + 30 * MIN) is ObligationState.MET
    assert found["EX-ESC-1@v3"].due_at == T0 + 30 * MIN + timedelta(hours=2)
    assert not case.report_up_complete  # the major level needs cs_head now
    # The reason is on the event (a decision changed).
    assert case.collect_events()[-1].reason == "worse"


def test_ex_lvl_2_a_breach_before_the_reclassification_stays_on_record() -> None:
    """A general case not reported up within its hour, then raised to major: the late
    report-up stays breached; what was still running (resolution) becomes void."""
    case = record(ctx(T0), level=Level.GENERAL, discovered_at=T0)
    later = T0 + 90 * MIN
    case.reclassify(ctx(later, Role.DEPARTMENT_HEAD), level=Level.MAJOR, reason="worse")
    found = owed(case, later)
    assert found["EX-ESC-1@v1"].state_at(later) is ObligationState.BREACHED
    assert found["EX-ESC-1@v1"].void_by_version is None
    assert found["EX-RES-1@v1"].state_at(later) is ObligationState.VOID
    # A cancellation after a deadline passed leaves that breach on record too.
    case.cancel(ctx(later + 3 * 60 * MIN, Role.CS_HEAD), reason=CancelReason.DUPLICATE,
                detail="recorded twice")
    end = later + 4 * 60 * MIN
    ended = owed(case, end)
    assert ended["EX-ESC-1@v2"].state_at(end) is ObligationState.BREACHED
    assert ended["EX-RES-1@v2"].state_at(end) is ObligationState.VOID


# --- EX-ROLE-1, EX-FLOW-1 -----------------------------------------------------------------

def test_ex_role_1_an_auditor_can_do_nothing() -> None:
    case = record(ctx(T0))
    with pytest.raises(NotPermitted):
        report_up(case, ctx(T0, Role.AUDITOR), Role.DEPARTMENT_HEAD)
    with pytest.raises(NotPermitted):
        case.cancel(ctx(T0, Role.AUDITOR), reason=CancelReason.DUPLICATE, detail="dup")


def test_ex_flow_1_each_step_out_of_order_names_the_missing_step() -> None:
    case = record(ctx(T0), level=Level.MAJOR)
    with pytest.raises(StepMissing) as no_report:
        start_response(case, T0)
    assert no_report.value.missing_step == "report_up"
    assert "cs_head" in no_report.value.detail
    report_fully(case, T0)
    with pytest.raises(StepMissing) as no_response:
        investigate(case, T0)
    assert no_response.value.missing_step == "response"
    start_response(case, T0)
    number = propose(case, T0)
    with pytest.raises(StepMissing) as no_investigation:
        approve(case, number, T0)
    assert no_investigation.value.missing_step == "investigation"
    with pytest.raises(StepMissing) as not_executing:
        resolve(case, T0)
    assert not_executing.value.missing_step == "plan_approval"
    with pytest.raises(StepMissing) as not_resolved:
        feedback(case, T0)
    assert not_resolved.value.missing_step == "resolution"
    with pytest.raises(StepMissing) as not_reviewed:
        case.archive(ctx(T0, Role.CS_HEAD))
    assert not_reviewed.value.missing_step == "review"


def test_ex_flow_1_cancellation_only_before_resolution_and_voids_obligations() -> None:
    case = record(ctx(T0), level=Level.MAJOR)
    with pytest.raises(InvalidInput):
        case.cancel(ctx(T0, Role.CS_HEAD), reason=CancelReason.DUPLICATE, detail="")
    case.cancel(ctx(T0 + MIN, Role.CS_HEAD), reason=CancelReason.DUPLICATE,
                detail="same as the case opened by the sales office")
    assert case.status is Status.CANCELLED
    states = {o.rule: o.state_at(T0 + timedelta(days=30)) for o in obligations(
        case, POLICY, CAL, T0 + timedelta(days=30))}
    assert states == {"EX-ESC-1": ObligationState.VOID, "EX-PLAN-2": ObligationState.VOID,
                      "EX-RES-1": ObligationState.VOID}
    with pytest.raises(CaseClosed):
        report_up(case, ctx(T0), Role.CS_HEAD)

    resolved = record(ctx(T0), level=Level.GENERAL)
    to_executing(resolved, T0)
    resolve(resolved, T0)
    with pytest.raises(WrongState):
        resolved.cancel(ctx(T0, Role.DEPARTMENT_HEAD), reason=CancelReason.NOT_AN_EXCEPTION,
                        detail="late idea")


# --- EX-RESP-1, EX-INV-1 ------------------------------------------------------------------

def test_ex_resp_1_each_level_responds_in_its_own_way() -> None:
    general = record(ctx(T0), level=Level.GENERAL)
    report_fully(general, T0)
    with pytest.raises(NotPermitted):
        general.start_response(ctx(T0, Role.CS_HEAD), handler="x")
    with pytest.raises(InvalidInput) as no_handler:
        general.start_response(ctx(T0, Role.DEPARTMENT_HEAD))
    assert no_handler.value.field == "handler"
    major = record(ctx(T0), level=Level.MAJOR)
    report_fully(major, T0)
    with pytest.raises(InvalidInput) as no_team:
        major.start_response(ctx(T0, Role.CS_HEAD), team_owner="zhang")
    assert no_team.value.field == "team_members"
    critical = record(ctx(T0), level=Level.CRITICAL)
    report_fully(critical, T0)
    with pytest.raises(InvalidInput) as no_meeting:
        critical.start_response(ctx(T0, Role.GROUP_LEADER))
    assert no_meeting.value.field == "meeting"
    start_response(critical, T0)
    assert critical.status is Status.RESPONDING
    assert critical.response is not None and critical.response.meeting is not None


def test_ex_inv_1_investigation_before_plan_approval_and_needs_a_root_cause() -> None:
    case = record(ctx(T0), level=Level.GENERAL)
    report_fully(case, T0)
    start_response(case, T0)
    with pytest.raises(StepMissing, match="investigation"):
        approve(case, propose(case, T0), T0)
    investigate(case, T0)
    assert case.status is Status.INVESTIGATED
    approve(case, 1, T0)
    assert case.status is Status.EXECUTING


# --- EX-PLAN-1, EX-PLAN-2 -----------------------------------------------------------------

def test_ex_plan_1_major_plan_approved_by_a_department_head_is_rejected() -> None:
    case = record(ctx(T0), level=Level.MAJOR)
    report_fully(case, T0)
    start_response(case, T0)
    investigate(case, T0)
    number = propose(case, T0)
    with pytest.raises(NotPermitted, match="cs_head"):
        case.decide_plan(ctx(T0, Role.DEPARTMENT_HEAD), number=number, approved=True)
    case.decide_plan(ctx(T0, Role.CS_HEAD), number=number, approved=True)
    assert case.status is Status.EXECUTING


def test_ex_plan_1_revisions_are_versioned_and_reapproved_while_executing() -> None:
    case = record(ctx(T0), level=Level.MAJOR)
    to_executing(case, T0)
    first = case.plan_in_force
    second = propose(case, T0 + timedelta(hours=3))
    assert second == 2 and case.plan_in_force == first  # still the approved one
    with pytest.raises(InvalidInput) as no_reason:
        case.decide_plan(ctx(T0, Role.CS_HEAD), number=2, approved=False)
    assert no_reason.value.field == "reason"
    case.decide_plan(ctx(T0, Role.CS_HEAD), number=2, approved=False, reason="no budget line")
    third = propose(case, T0 + timedelta(hours=4))
    case.decide_plan(ctx(T0, Role.CS_HEAD), number=third, approved=True)
    assert case.plan_in_force is not None and case.plan_in_force.number == 3
    assert [r.status for r in case.plans] == ["approved", "rejected", "approved"]
    with pytest.raises(WrongState):
        case.decide_plan(ctx(T0, Role.CS_HEAD), number=2, approved=True)


def test_ex_plan_1_a_critical_plan_needs_milestones_and_the_group_leader() -> None:
    case = record(ctx(T0), level=Level.CRITICAL)
    report_fully(case, T0)
    start_response(case, T0)
    investigate(case, T0)
    measure = Measure("replace the drive", "after_sales", "zhang.san", T0 + timedelta(days=2))
    with pytest.raises(InvalidInput) as no_milestones:
        case.propose_plan(ctx(T0), measures=(measure,), resources="spare drive")
    assert no_milestones.value.field == "milestones"
    number = propose(case, T0)
    with pytest.raises(NotPermitted):
        case.decide_plan(ctx(T0, Role.CS_HEAD), number=number, approved=True)


def test_ex_plan_1_a_critical_plan_referred_to_management_is_decided_by_management() -> None:
    case = record(ctx(T0), level=Level.CRITICAL)
    report_fully(case, T0)
    start_response(case, T0)
    investigate(case, T0)
    number = propose(case, T0)
    with pytest.raises(NotPermitted):  # management alone does not approve a critical plan
        case.decide_plan(ctx(T0, Role.MANAGEMENT), number=number, approved=True)
    case.decide_plan(ctx(T0, Role.GROUP_LEADER, user="leader"), number=number, approved=True,
                     refer_to_management=True)
    assert case.plans[0].status == "referred" and case.plans[0].referred_by == "leader"
    assert case.status is not Status.EXECUTING and case.plan_in_force is None
    [plan] = by_rule(case, "EX-PLAN-2")
    assert plan.met_at is None  # the deadline runs on while management deliberates
    with pytest.raises(NotPermitted, match="management"):
        case.decide_plan(ctx(T0, Role.GROUP_LEADER), number=number, approved=True)
    case.decide_plan(ctx(T0 + timedelta(hours=5), Role.MANAGEMENT, user="board"),
                     number=number, approved=True)
    assert case.status is Status.EXECUTING
    assert case.plans[0].decided_by == "board"
    [plan] = by_rule(case, "EX-PLAN-2")
    assert plan.met_at == T0 + timedelta(hours=5)


def test_ex_plan_1_only_a_critical_approval_can_be_referred() -> None:
    case = record(ctx(T0), level=Level.MAJOR)
    report_fully(case, T0)
    start_response(case, T0)
    investigate(case, T0)
    number = propose(case, T0)
    with pytest.raises(InvalidInput) as refused:
        case.decide_plan(ctx(T0, Role.CS_HEAD), number=number, approved=True,
                         refer_to_management=True)
    assert refused.value.field == "refer_to_management"


def test_ex_plan_2_major_plan_due_24_hours_from_a_timely_report() -> None:
    case = record(ctx(T0, backdating_reason=LATE), level=Level.MAJOR,
                  discovered_at=T0 - timedelta(hours=1))
    report_fully(case, T0)  # on time: 1 hour after discovery, 2 allowed
    [plan] = by_rule(case, "EX-PLAN-2")
    assert plan.due_at == T0 + timedelta(hours=24)
    start_response(case, T0)
    investigate(case, T0)
    approve(case, propose(case, T0), T0 + timedelta(hours=23))
    [plan] = by_rule(case, "EX-PLAN-2")
    assert plan.state_at(T0 + timedelta(days=3)) is ObligationState.MET


def test_ex_plan_2_lateness_never_extends_the_plan_deadline() -> None:
    discovered = T0 - timedelta(hours=5)
    case = record(ctx(T0, backdating_reason=LATE), level=Level.CRITICAL, discovered_at=discovered)
    report_fully(case, T0)  # 4.5 hours late
    [plan] = by_rule(case, "EX-PLAN-2")
    assert plan.due_at == discovered + timedelta(minutes=30) + timedelta(hours=48)


# --- EX-RES-1 -----------------------------------------------------------------------------

def test_ex_res_1_resolution_due_in_working_days_from_discovery() -> None:
    general = record(ctx(T0), level=Level.GENERAL, discovered_at=T0)
    major = record(ctx(T0), level=Level.MAJOR, discovered_at=T0)
    assert by_rule(general, "EX-RES-1")[0].due_at == datetime(2026, 10, 8, 18, 0, tzinfo=CST)
    assert by_rule(major, "EX-RES-1")[0].due_at == datetime(2026, 10, 10, 18, 0, tzinfo=CST)


def test_ex_res_1_critical_resolution_is_due_at_the_plans_final_milestone() -> None:
    case = record(ctx(T0), level=Level.CRITICAL)
    assert by_rule(case, "EX-RES-1") == []
    report_fully(case, T0)
    start_response(case, T0)
    investigate(case, T0)
    final = T0 + timedelta(days=9)
    approve(case, propose(case, T0, final_due=final), T0)
    [resolution] = by_rule(case, "EX-RES-1")
    assert resolution.due_at == final
    resolve(case, T0 + timedelta(days=2))
    assert by_rule(case, "EX-RES-1")[0].met_at == T0 + timedelta(days=2)


# --- EX-PROG-1 ----------------------------------------------------------------------------

def test_ex_prog_1_major_needs_a_report_each_working_day_and_a_missing_one_breaches() -> None:
    start = datetime(2026, 10, 8, 10, 0, tzinfo=CST)  # Thu, after the holidays
    case = record(ctx(start), level=Level.MAJOR)
    to_executing(case, start)
    now = datetime(2026, 10, 12, 12, 0, tzinfo=CST)   # Mon
    # Fri 9 reported; Sat 10 (adjusted working day) missed; Mon 12 still open.
    case.report_progress(ctx(datetime(2026, 10, 9, 17, 0, tzinfo=CST)), CAL,
                         kind=ProgressKind.REPORT, summary="patch staged")
    items = {o.key: o for o in by_rule(case, "EX-PROG-1", now)}
    assert list(items) == ["EX-PROG-1@2026-10-09", "EX-PROG-1@2026-10-10", "EX-PROG-1@2026-10-12"]
    assert items["EX-PROG-1@2026-10-09"].state_at(now) is ObligationState.MET
    assert items["EX-PROG-1@2026-10-10"].state_at(now) is ObligationState.BREACHED
    assert items["EX-PROG-1@2026-10-12"].state_at(now) is ObligationState.PENDING
    assert items["EX-PROG-1@2026-10-12"].due_at == datetime(2026, 10, 12, 18, 0, tzinfo=CST)


def test_ex_prog_1_critical_needs_meeting_minutes_and_stops_at_resolution() -> None:
    start = datetime(2026, 10, 8, 10, 0, tzinfo=CST)
    case = record(ctx(start), level=Level.CRITICAL)
    to_executing(case, start)
    day = datetime(2026, 10, 9, 17, 0, tzinfo=CST)
    with pytest.raises(InvalidInput) as no_minutes:
        case.report_progress(ctx(day), CAL, kind=ProgressKind.MEETING, summary="daily")
    assert no_minutes.value.field == "meeting"
    case.report_progress(ctx(day), CAL, kind=ProgressKind.REPORT, summary="only a report")
    case.resolve(ctx(datetime(2026, 10, 10, 12, 0, tzinfo=CST)), summary="fixed")
    items = by_rule(case, "EX-PROG-1", datetime(2026, 10, 20, tzinfo=CST))
    assert [o.key for o in items] == ["EX-PROG-1@2026-10-09"]  # Sat 10 closes after resolution
    assert items[0].met_at is None  # a report is not the daily meeting a critical case needs
    assert "meeting" in items[0].description


# --- EX-SPEC-1 ----------------------------------------------------------------------------

def test_ex_spec_1_product_quality_needs_rnd_supply_chain_and_a_finding() -> None:
    case = record(ctx(T0), level=Level.MAJOR, special=(SpecialType.PRODUCT_QUALITY,))
    report_fully(case, T0)
    start_response(case, T0)
    with pytest.raises(InvalidInput) as absent:
        investigate(case, T0, participants=(Role.RND,))
    assert absent.value.field == "participants" and "supply_chain" in absent.value.detail
    with pytest.raises(InvalidInput) as no_finding:
        investigate(case, T0, participants=(Role.RND, Role.SUPPLY_CHAIN))
    assert no_finding.value.field == "finding"
    investigate(case, T0, participants=(Role.RND, Role.SUPPLY_CHAIN),
                finding=QualityFinding.PRODUCT_DEFECT)
    assert case.investigation is not None
    assert case.investigation.finding is QualityFinding.PRODUCT_DEFECT


def test_ex_spec_1_contract_dispute_plan_cannot_be_approved_before_the_legal_opinion() -> None:
    case = record(ctx(T0), level=Level.MAJOR)
    case.set_special_types(ctx(T0, Role.CS_HEAD), special=(SpecialType.CONTRACT_DISPUTE,),
                           reason="customer disputes the acceptance clause")
    report_fully(case, T0)
    start_response(case, T0)
    investigate(case, T0)
    number = propose(case, T0)
    with pytest.raises(StepMissing) as no_opinion:
        approve(case, number, T0)
    assert no_opinion.value.missing_step == "legal_opinion"
    with pytest.raises(NotPermitted):
        case.give_legal_opinion(ctx(T0, Role.CS_HEAD), opinion="fine")
    case.give_legal_opinion(ctx(T0, Role.LEGAL, user="legal.1"), opinion="clause 9 applies")
    approve(case, number, T0)
    assert case.status is Status.EXECUTING


def test_ex_spec_1_major_loss_needs_finance_and_legal_and_compensation_before_resolution(
) -> None:
    case = record(ctx(T0), level=Level.MAJOR, special=(SpecialType.MAJOR_LOSS,))
    to_executing(case, T0)
    with pytest.raises(StepMissing) as none_yet:
        resolve(case, T0)
    assert none_yet.value.missing_step == "loss_assessment"
    assessment = LossAssessment(Role.FINANCE, "120000.00", "CNY", "two days of downtime")
    with pytest.raises(NotPermitted):
        case.assess_loss(ctx(T0, Role.LEGAL), assessment)
    case.assess_loss(ctx(T0, Role.FINANCE), assessment)
    case.assess_loss(ctx(T0, Role.LEGAL), LossAssessment(Role.LEGAL, "120000.00", "CNY",
                                                         "liability capped by clause 11"))
    with pytest.raises(StepMissing) as no_compensation:
        resolve(case, T0)
    assert no_compensation.value.missing_step == "compensation_plan"
    number = propose(case, T0, compensation="credit note of CNY 60,000")
    approve(case, number, T0)
    resolve(case, T0)
    assert case.status is Status.RESOLVED


# --- EX-FB-1, EX-REV-1, EX-ARC-1 ------------------------------------------------------------

def test_ex_fb_1_satisfaction_is_1_to_5_and_a_rejected_acceptance_reopens_execution() -> None:
    case = record(ctx(T0), level=Level.MAJOR)
    to_executing(case, T0)
    resolve(case, T0 + timedelta(hours=5))
    with pytest.raises(InvalidInput) as bad:
        feedback(case, T0, satisfaction=6)
    assert bad.value.field == "satisfaction"
    with pytest.raises(StepMissing, match="feedback"):
        case.record_acceptance(ctx(T0), accepted=True, note="")
    feedback(case, T0 + timedelta(hours=6), satisfaction=2)
    with pytest.raises(InvalidInput):
        case.record_acceptance(ctx(T0), accepted=False, note="")
    case.record_acceptance(ctx(T0 + timedelta(hours=6)), accepted=False,
                           note="cell still stops twice a shift")
    assert case.status is Status.EXECUTING and case.resolution is None
    [res] = by_rule(case, "EX-RES-1", T0 + timedelta(hours=7))
    assert res.met_at is None  # owed again
    resolve(case, T0 + timedelta(hours=20))
    feedback(case, T0 + timedelta(hours=21))
    case.record_acceptance(ctx(T0 + timedelta(hours=21)), accepted=True, note="signed")
    assert case.status is Status.ACCEPTED
    assert by_rule(case, "EX-RES-1")[0].met_at == T0 + timedelta(hours=20)


def test_ex_fb_1_a_general_exception_needs_no_acceptance() -> None:
    case = record(ctx(T0), level=Level.GENERAL)
    to_executing(case, T0)
    resolve(case, T0)
    feedback(case, T0)
    with pytest.raises(WrongState):
        case.record_acceptance(ctx(T0), accepted=True, note="")
    review(case, T0)
    assert case.status is Status.REVIEWED


def test_ex_rev_1_critical_retrospective_due_one_calendar_month_after_resolution() -> None:
    case = record(ctx(T0), level=Level.CRITICAL)
    to_executing(case, T0)
    resolved_at = datetime(2027, 1, 31, 11, 0, tzinfo=CST)
    case.resolve(ctx(resolved_at), summary="fixed")
    [retro] = by_rule(case, "EX-REV-1", resolved_at)
    assert retro.due_at == datetime(2027, 3, 1, 0, 0, tzinfo=CST)  # end of 28 Feb (CAL-5)
    feedback(case, resolved_at)
    with pytest.raises(StepMissing, match="acceptance"):
        review(case, resolved_at)
    case.record_acceptance(ctx(resolved_at), accepted=True, note="")
    with pytest.raises(InvalidInput) as no_retro:
        case.record_review(ctx(resolved_at, Role.GROUP_LEADER), root_cause="x", lessons="y",
                           improvements=())
    assert no_retro.value.field == "retrospective"
    with pytest.raises(NotPermitted):
        case.record_review(ctx(resolved_at, Role.DEPARTMENT_HEAD), root_cause="x", lessons="y",
                           improvements=(), retrospective=Meeting(resolved_at, ("a",), "m"))
    review(case, resolved_at + timedelta(days=20))
    [retro] = by_rule(case, "EX-REV-1", resolved_at + timedelta(days=40))
    assert retro.state_at(resolved_at + timedelta(days=40)) is ObligationState.MET
    assert case.review is not None and case.review[0].improvements[0].corrective_action


def test_ex_arc_1_archive_keeps_document_hashes_and_makes_the_case_read_only() -> None:
    case = record(ctx(T0), level=Level.GENERAL)
    to_executing(case, T0)
    resolve(case, T0)
    feedback(case, T0)
    review(case, T0)
    sign_off(case, T0)
    with pytest.raises(InvalidInput) as bad_hash:
        case.archive(ctx(T0, Role.DEPARTMENT_HEAD),
                     documents=(DocumentRef("form", "dms://1", "nothex"),))
    assert bad_hash.value.field == "documents.0.sha256"
    case.archive(ctx(T0 + MIN, Role.DEPARTMENT_HEAD),
                 documents=(DocumentRef("handling form", "dms://cases/1", "a" * 64),))
    assert case.status is Status.ARCHIVED and case.archived_at == T0 + MIN
    with pytest.raises(CaseClosed, match="read-only"):
        report_up(case, ctx(T0), Role.DEPARTMENT_HEAD)
    with pytest.raises(CaseClosed):
        case.archive(ctx(T0, Role.DEPARTMENT_HEAD))


def test_ex_rec_1_times_are_utc_aware_throughout() -> None:
    case = record(ctx(T0, backdating_reason=LATE),
                  discovered_at=datetime(2026, 9, 30, 14, 0, tzinfo=CST))
    assert case.discovered_at == datetime(2026, 9, 30, 6, 0, tzinfo=UTC)


# --- EX-REC-2 -----------------------------------------------------------------------------

@pytest.mark.rule("EX-REC-2")
def test_ex_rec_2_a_claim_beyond_the_tolerance_needs_a_reason_and_marks_the_event() -> None:
    case = record(ctx(T0), level=Level.GENERAL, discovered_at=T0 - timedelta(minutes=15))
    assert case.pending_events[-1].meta.backdated == ()  # 15 minutes: within the tolerance
    later = T0 + timedelta(hours=3)
    with pytest.raises(InvalidInput) as refused:
        report_up(case, ctx(later), Role.DEPARTMENT_HEAD, at=T0 + timedelta(minutes=30))
    assert refused.value.field == "backdating_reason"
    assert "reported_at is 150 minutes" in refused.value.detail
    report_up(case, ctx(later, backdating_reason=" "), Role.DEPARTMENT_HEAD, at=later)
    assert case.pending_events[-1].meta.backdated == ()  # a reason alone marks nothing
    assert case.pending_events[-1].meta.backdating_reason is None
    with pytest.raises(InvalidInput):  # a blank reason is no reason
        report_up(case, ctx(later, backdating_reason=" "), Role.DEPARTMENT_HEAD,
                  at=T0 + timedelta(minutes=30))


@pytest.mark.rule("EX-REC-2")
def test_ex_rec_2_met_on_a_backdated_claim_is_met_recorded_late_with_both_instants() -> None:
    case = record(ctx(T0), level=Level.GENERAL, discovered_at=T0)
    later = T0 + timedelta(days=30)
    report_up(case, ctx(later, backdating_reason="told by phone"), Role.DEPARTMENT_HEAD,
              at=T0 + timedelta(minutes=20))
    assert case.pending_events[-1].meta.backdated == ("reported_at",)
    assert case.pending_events[-1].meta.backdating_reason == "told by phone"
    [esc] = by_rule(case, "EX-ESC-1", later)
    assert (esc.met_at, esc.met_recorded_at) == (T0 + timedelta(minutes=20), later)
    assert esc.state_at(later) is ObligationState.MET_RECORDED_LATE
    on_time = record(ctx(T0), level=Level.GENERAL, discovered_at=T0)
    report_up(on_time, ctx(T0 + timedelta(minutes=20)), Role.DEPARTMENT_HEAD)
    [met] = by_rule(on_time, "EX-ESC-1", later)
    assert (met.state_at(later), met.met_recorded_at) == (ObligationState.MET, None)


@pytest.mark.rule("EX-REC-2")
def test_ex_rec_2_a_backdated_resolution_and_a_late_claim_stay_what_they_are() -> None:
    case = record(ctx(T0), level=Level.GENERAL, discovered_at=T0)
    to_executing(case, T0 + timedelta(minutes=10))
    later = T0 + timedelta(days=10)
    case.resolve(ctx(later, backdating_reason="closed on site, entered later"),
                 summary="fixed", resolved_at=T0 + timedelta(hours=2))
    [res] = by_rule(case, "EX-RES-1", later)
    assert res.state_at(later) is ObligationState.MET_RECORDED_LATE
    assert res.met_recorded_at == later
    late = record(ctx(T0), level=Level.GENERAL, discovered_at=T0)
    report_up(late, ctx(later, backdating_reason="told by phone"), Role.DEPARTMENT_HEAD,
              at=T0 + timedelta(hours=2))
    [esc] = by_rule(late, "EX-ESC-1", later)
    assert esc.state_at(later) is ObligationState.BREACHED  # late even on its claim


@pytest.mark.rule("EX-REC-2")
def test_ex_rec_2_the_tolerance_is_policy() -> None:
    from domain.cases import CommandContext

    loose = CommandContext(actor=ctx(T0).actor, at=T0, correlation_id="c",
                           backdating_tolerance=timedelta(hours=1))
    case = record(loose, discovered_at=T0 - timedelta(minutes=45))
    assert case.pending_events[-1].meta.backdated == ()
    assert POLICY.backdating_tolerance == timedelta(minutes=15)
