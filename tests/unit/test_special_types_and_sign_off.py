"""EX-SPEC-2 (special types drive the case, whenever flagged; the person on site)
and EX-SIGN-1 (sign-off before archive) on the ServiceException aggregate."""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain.actors import Role
from domain.errors import InvalidInput, NotPermitted, StepMissing, WrongState
from domain.service_exceptions.model import ServiceException
from domain.service_exceptions.values import (
    FINDING_MEASURES,
    SIGN_OFFS,
    Level,
    LossAssessment,
    Measure,
    MeasureKind,
    Meeting,
    QualityFinding,
    Recovery,
    RecoveryParty,
    SpecialType,
    Status,
    SupplementaryAgreement,
)
from tests.conftest import T0
from tests.factories import (
    LEAD_FOR,
    approve,
    ctx,
    feedback,
    investigate,
    propose,
    record,
    report_fully,
    resolve,
    review,
    sign_off,
    start_response,
    to_executing,
    version_2_snapshot,
)

QUALITY_TEAM = (Role.RND, Role.SUPPLY_CHAIN)


def flag(case: ServiceException, *special: SpecialType) -> None:
    case.set_special_types(ctx(T0, LEAD_FOR[case.level]), special=special,
                           reason="found out on site")


def plan_with(case: ServiceException, *kinds: MeasureKind, contract_change: bool = False,
              compensation: str | None = None) -> int:
    due = T0 + timedelta(days=1)
    return case.propose_plan(ctx(T0), measures=tuple(
        Measure(f"{kind.value} step", "after_sales", "zhang.san", due, kind) for kind in kinds),
        resources="two engineers", milestones=(), compensation=compensation,
        contract_change=contract_change)


def to_review(case: ServiceException) -> None:
    to_executing(case, T0)
    resolve(case, T0)
    feedback(case, T0)
    if case.level is not Level.GENERAL:
        case.record_acceptance(ctx(T0), accepted=True, note="")
    review(case, T0)


# --- EX-SPEC-2: a flag set late ------------------------------------------------------------

def test_ex_spec_2_a_flag_raised_after_plan_approval_reopens_investigation_and_approval(
) -> None:
    case = record(ctx(T0), level=Level.MAJOR)
    to_executing(case, T0)
    flag(case, SpecialType.PRODUCT_QUALITY)
    assert case.flags_reopened == (SpecialType.PRODUCT_QUALITY,)
    with pytest.raises(StepMissing) as reopened:
        resolve(case, T0)
    assert reopened.value.missing_step == "plan_approval"
    with pytest.raises(InvalidInput) as without_the_team:
        investigate(case, T0)  # re-investigation is open, on the flag's terms
    assert without_the_team.value.field == "participants"
    investigate(case, T0, participants=QUALITY_TEAM, finding=QualityFinding.INSTALLATION_FAULT)
    assert case.status is Status.EXECUTING  # work runs on under the plan in force
    with pytest.raises(StepMissing) as still:
        resolve(case, T0)
    assert still.value.missing_step == "plan_approval"
    approve(case, plan_with(case, MeasureKind.RECTIFICATION), T0)
    assert case.flags_reopened == ()
    resolve(case, T0)
    assert case.status is Status.RESOLVED


def test_ex_spec_2_a_flag_raised_after_the_investigation_asks_for_a_new_one_first() -> None:
    case = record(ctx(T0), level=Level.MAJOR)
    report_fully(case, T0)
    start_response(case, T0)
    investigate(case, T0)
    flag(case, SpecialType.CONTRACT_DISPUTE)
    case.give_legal_opinion(ctx(T0, Role.LEGAL), opinion="clause 9 applies")
    number = propose(case, T0)
    with pytest.raises(StepMissing) as stale:
        approve(case, number, T0)
    assert stale.value.missing_step == "investigation"
    investigate(case, T0)
    approve(case, number, T0)
    assert case.status is Status.EXECUTING


def test_ex_spec_2_lowering_the_flags_reopens_nothing() -> None:
    case = record(ctx(T0), level=Level.MAJOR, special=(SpecialType.CONTRACT_DISPUTE,))
    case.give_legal_opinion(ctx(T0, Role.LEGAL), opinion="clause 9 applies")
    to_executing(case, T0)
    flag(case)
    assert case.flags_reopened == ()
    resolve(case, T0)


def test_ex_spec_2_investigation_stays_closed_after_approval_without_a_new_flag() -> None:
    case = record(ctx(T0), level=Level.MAJOR)
    to_executing(case, T0)
    with pytest.raises(WrongState):
        investigate(case, T0)


# --- EX-SPEC-2: product quality drives the plan ---------------------------------------------

@pytest.mark.parametrize("finding", list(QualityFinding))
def test_ex_spec_2_product_quality_resolves_only_with_the_measures_its_finding_needs(
        finding: QualityFinding) -> None:
    case = record(ctx(T0), level=Level.MAJOR, special=(SpecialType.PRODUCT_QUALITY,))
    report_fully(case, T0)
    start_response(case, T0)
    investigate(case, T0, participants=QUALITY_TEAM, finding=finding)
    needed = sorted(FINDING_MEASURES[finding], key=lambda k: k.value)
    for short in ([MeasureKind.GENERAL], needed[:-1] or [MeasureKind.GENERAL]):
        with pytest.raises(StepMissing) as missing:
            approve(case, plan_with(case, *short), T0)
        assert missing.value.missing_step == "plan_measures"
        assert needed[-1].value in str(missing.value)
    approve(case, plan_with(case, MeasureKind.GENERAL, *needed), T0)
    resolve(case, T0)
    assert case.status is Status.RESOLVED


# --- EX-SPEC-2: contract dispute, major loss, critical on site -------------------------------

def test_ex_spec_2_a_contract_change_needs_the_supplementary_agreement_before_resolution(
) -> None:
    case = record(ctx(T0), level=Level.MAJOR, special=(SpecialType.CONTRACT_DISPUTE,))
    report_fully(case, T0)
    start_response(case, T0)
    investigate(case, T0)
    case.give_legal_opinion(ctx(T0, Role.LEGAL), opinion="clause 9 applies")
    approve(case, plan_with(case, MeasureKind.GENERAL, contract_change=True), T0)
    with pytest.raises(StepMissing) as missing:
        resolve(case, T0)
    assert missing.value.missing_step == "supplementary_agreement"
    agreement = SupplementaryAgreement("SA-2026-014", T0, "acceptance moved to 30 Nov")
    with pytest.raises(NotPermitted):
        case.record_agreement(ctx(T0, Role.FRONTLINE), agreement)
    with pytest.raises(InvalidInput) as blank:
        case.record_agreement(ctx(T0, Role.LEGAL), SupplementaryAgreement(" ", T0, "x"))
    assert blank.value.field == "reference"
    case.record_agreement(ctx(T0, Role.LEGAL), agreement)
    resolve(case, T0)
    assert case.agreements == [agreement]


def test_ex_spec_2_a_plan_that_keeps_the_contract_needs_no_agreement() -> None:
    case = record(ctx(T0), level=Level.MAJOR, special=(SpecialType.CONTRACT_DISPUTE,))
    case.give_legal_opinion(ctx(T0, Role.LEGAL), opinion="clause 9 applies")
    to_executing(case, T0)
    resolve(case, T0)
    with pytest.raises(WrongState):  # and none is taken once resolved
        case.record_agreement(ctx(T0, Role.LEGAL), SupplementaryAgreement("SA", T0, "x"))


def test_ex_spec_2_only_a_contract_dispute_takes_an_agreement() -> None:
    case = record(ctx(T0), level=Level.MAJOR)
    with pytest.raises(WrongState):
        case.record_agreement(ctx(T0, Role.LEGAL), SupplementaryAgreement("SA", T0, "x"))


def test_ex_spec_2_major_loss_records_the_recovery_before_archive() -> None:
    case = record(ctx(T0), level=Level.MAJOR, special=(SpecialType.MAJOR_LOSS,))
    report_fully(case, T0)
    start_response(case, T0)
    investigate(case, T0)
    for role in (Role.FINANCE, Role.LEGAL):
        case.assess_loss(ctx(T0, role), LossAssessment(role, "80000.00", "CNY", "downtime"))
    approve(case, plan_with(case, MeasureKind.GENERAL, compensation="credit note"), T0)
    resolve(case, T0)
    feedback(case, T0)
    case.record_acceptance(ctx(T0), accepted=True, note="")
    review(case, T0)
    sign_off(case, T0)
    with pytest.raises(StepMissing) as missing:
        case.archive(ctx(T0, Role.CS_HEAD))
    assert missing.value.missing_step == "recovery"
    with pytest.raises(InvalidInput) as no_amount:
        case.record_recovery(ctx(T0, Role.FINANCE),
                             Recovery(RecoveryParty.THIRD_PARTY, "the carrier dropped it"))
    assert no_amount.value.field == "amount"
    with pytest.raises(NotPermitted):
        case.record_recovery(ctx(T0, Role.CS_HEAD), Recovery(RecoveryParty.NONE, "nobody"))
    case.record_recovery(ctx(T0, Role.FINANCE), Recovery(
        RecoveryParty.THIRD_PARTY, "the carrier dropped the cell", "30000.00"))
    case.archive(ctx(T0, Role.CS_HEAD))
    assert case.status is Status.ARCHIVED


def test_ex_spec_2_a_critical_case_records_the_person_on_site_before_resolution() -> None:
    case = record(ctx(T0), level=Level.CRITICAL)
    report_fully(case, T0)
    lead = ctx(T0, Role.GROUP_LEADER)
    case.start_response(lead, meeting=Meeting(T0, ("leader",), "emergency plan"))
    investigate(case, T0)
    approve(case, propose(case, T0), T0)
    with pytest.raises(StepMissing) as missing:
        resolve(case, T0)
    assert missing.value.missing_step == "on_site"
    with pytest.raises(InvalidInput) as early:
        case.station_on_site(lead, person="zhang.san", since=T0 - timedelta(days=1))
    assert early.value.field == "since"
    case.station_on_site(lead, person="zhang.san", since=T0)
    resolve(case, T0)
    assert case.on_site is not None and case.on_site.person == "zhang.san"


def test_ex_spec_2_only_a_critical_case_stations_someone_on_site() -> None:
    case = record(ctx(T0), level=Level.MAJOR)
    with pytest.raises(WrongState):
        case.station_on_site(ctx(T0, Role.CS_HEAD), person="zhang.san", since=T0)


# --- EX-SIGN-1 ----------------------------------------------------------------------------

@pytest.mark.parametrize("level", list(Level))
def test_ex_sign_1_the_level_s_owners_sign_off_in_order_before_archive(level: Level) -> None:
    case = record(ctx(T0), level=level)
    with pytest.raises(StepMissing) as early:
        case.sign_off(ctx(T0, SIGN_OFFS[level][0]))
    assert early.value.missing_step == "review"
    to_review(case)
    with pytest.raises(StepMissing) as unsigned:
        case.archive(ctx(T0, LEAD_FOR[level]))
    assert unsigned.value.missing_step == "sign_off"
    with pytest.raises(NotPermitted):
        case.sign_off(ctx(T0, Role.FRONTLINE))
    if len(SIGN_OFFS[level]) > 1:  # filed with management after the group deliberated
        with pytest.raises(NotPermitted, match="group_leader"):
            case.sign_off(ctx(T0, Role.MANAGEMENT))
    reviewed = case.version
    for role in SIGN_OFFS[level]:
        case.sign_off(ctx(T0, role, user=f"{role.value}.1"))
    assert [(s.role, s.signed_by, s.version) for s in case.sign_offs] == [
        (role, f"{role.value}.1", reviewed + i) for i, role in enumerate(SIGN_OFFS[level])]
    with pytest.raises(WrongState):
        case.sign_off(ctx(T0, SIGN_OFFS[level][-1]))
    case.archive(ctx(T0, LEAD_FOR[level]))
    assert case.status is Status.ARCHIVED


def test_ex_sign_1_a_version_2_snapshot_loads_with_nothing_signed_or_flagged() -> None:
    case = record(ctx(T0), level=Level.CRITICAL)
    report_fully(case, T0)
    start_response(case, T0)
    loaded = version_2_snapshot(case).mutate(None)
    assert loaded.sign_offs == [] and loaded.on_site is None and loaded.flags_reopened == ()
    assert loaded.version == case.version and loaded.status is case.status
