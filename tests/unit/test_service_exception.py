"""EX-REC-1, EX-ESC-1, EX-ROLE-1, AUD-1 on the ServiceException aggregate."""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain.actors import Role
from domain.errors import InvalidInput, NotPermitted
from domain.service_exceptions.model import ServiceException
from domain.service_exceptions.values import REPORT_UP_RECIPIENTS, Level, Status
from tests.conftest import T0
from tests.factories import LATE, ctx, record, report_up, version_1_snapshot


def test_ex_rec_1_recording_keeps_discovery_time_and_server_time_apart() -> None:
    case = record(ctx(T0, backdating_reason=LATE), discovered_at=T0 - timedelta(hours=3))
    assert case.discovered_at == T0 - timedelta(hours=3)
    assert case.recorded_at == T0
    assert case.reporter == "li.wei"
    assert case.status is Status.RECORDED


def test_ex_rec_1_discovered_at_in_the_future_is_rejected() -> None:
    with pytest.raises(InvalidInput) as caught:
        record(ctx(T0), discovered_at=T0 + timedelta(seconds=1))
    assert caught.value.field == "discovered_at"


@pytest.mark.parametrize("field", ["title", "description", "service_step", "department"])
def test_ex_rec_1_required_text_must_not_be_blank(field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        record(ctx(T0), **{field: "   "})
    assert caught.value.field == field


def test_ex_role_1_an_auditor_cannot_record() -> None:
    with pytest.raises(NotPermitted):
        record(ctx(T0, Role.AUDITOR))


def test_aud_1_every_event_carries_actor_correlation_and_server_time() -> None:
    case = record(ctx(T0))
    report_up(case, ctx(T0 + timedelta(minutes=5), Role.FRONTLINE, user="zhao"),
              Role.DEPARTMENT_HEAD)
    recorded, reported = case.collect_events()
    assert recorded.timestamp == T0
    assert reported.timestamp == T0 + timedelta(minutes=5)
    assert reported.meta.actor.user == "zhao"
    assert reported.meta.actor.roles == (Role.FRONTLINE,)
    assert reported.meta.correlation_id == "corr-1"
    assert reported.meta.command == "report_up"
    assert ServiceException.occurred_at(recorded) == case.discovered_at
    assert ServiceException.occurred_at(reported) == T0 + timedelta(minutes=5)


@pytest.mark.parametrize(("level", "needed"), [
    (Level.GENERAL, {Role.DEPARTMENT_HEAD}),
    (Level.MAJOR, {Role.CS_HEAD}),
    (Level.CRITICAL, {Role.GROUP_LEADER, Role.PRINCIPAL}),
])
def test_ex_esc_1_each_level_reports_to_its_recipients(level: Level, needed: set[Role]) -> None:
    case = record(ctx(T0), level=level)
    assert case.required_recipients == needed


def test_ex_esc_1_critical_needs_leader_and_principal() -> None:
    case = record(ctx(T0), level=Level.CRITICAL)
    report_up(case, ctx(T0 + timedelta(minutes=10)), Role.GROUP_LEADER)
    assert not case.report_up_complete
    assert case.status is Status.RECORDED
    report_up(case, ctx(T0 + timedelta(minutes=20)), Role.PRINCIPAL)
    assert case.report_up_complete
    assert case.status is Status.REPORTED
    assert case.current_epoch.reached == (Role.GROUP_LEADER, Role.PRINCIPAL)
    assert (case.current_epoch.complete_at, case.current_epoch.complete_version) == (
        T0 + timedelta(minutes=20), 3)
    assert case.report_count == 2 and case.last_report[0].reported_to == (Role.PRINCIPAL,)


def test_ex_esc_1_a_report_to_the_wrong_recipient_does_not_complete_the_report_up() -> None:
    case = record(ctx(T0), level=Level.MAJOR)
    report_up(case, ctx(T0), Role.DEPARTMENT_HEAD)
    assert not case.report_up_complete


def chain_report(case: ServiceException, by: Role, *to: Role) -> None:
    case.report_up(ctx(T0, by, user="reporter"), reported_to=to, reported_at=T0,
                   details="cell down since 09:00")


@pytest.mark.parametrize(("level", "links"), [
    (Level.GENERAL, [(Role.FRONTLINE, (Role.DEPARTMENT_HEAD,))]),
    (Level.MAJOR, [(Role.FRONTLINE, (Role.DEPARTMENT_HEAD,)),
                   (Role.DEPARTMENT_HEAD, (Role.CS_HEAD,))]),
    (Level.CRITICAL, [(Role.FRONTLINE, (Role.DEPARTMENT_HEAD,)),
                      (Role.DEPARTMENT_HEAD, (Role.CS_HEAD,)),
                      (Role.CS_HEAD, (Role.GROUP_LEADER, Role.PRINCIPAL))]),
])
def test_ex_chain_1_each_link_of_the_level_s_chain_reports_to_the_next(
        level: Level, links: list[tuple[Role, tuple[Role, ...]]]) -> None:
    case = record(ctx(T0), level=level)
    for by, to in links:
        chain_report(case, by, *to)
    assert case.report_up_complete
    assert [r.reported_to for r, _ in ServiceException.reports_in(case.collect_events())] == [
        to for _, to in links]


@pytest.mark.parametrize(("level", "by"), [
    (Level.GENERAL, Role.CS_HEAD),  # general stops at the department head
    (Level.MAJOR, Role.CS_HEAD),
    (Level.CRITICAL, Role.GROUP_LEADER),
    (Level.CRITICAL, Role.IMPLEMENTATION),
])
def test_ex_chain_1_a_role_outside_the_level_s_chain_cannot_report_up(
        level: Level, by: Role) -> None:
    case = record(ctx(T0), level=level)
    with pytest.raises(NotPermitted, match="EX-CHAIN-1"):
        chain_report(case, by, *REPORT_UP_RECIPIENTS[level])
    assert case.version == 1


@pytest.mark.parametrize(("level", "by", "to"), [
    (Level.MAJOR, Role.FRONTLINE, Role.CS_HEAD),  # skipping the department head
    (Level.CRITICAL, Role.DEPARTMENT_HEAD, Role.PRINCIPAL),
    (Level.CRITICAL, Role.CS_HEAD, Role.DEPARTMENT_HEAD),  # down is not up
])
def test_ex_chain_1_a_report_goes_to_the_next_link_only(level: Level, by: Role,
                                                        to: Role) -> None:
    case = record(ctx(T0), level=level)
    with pytest.raises(InvalidInput) as caught:
        chain_report(case, by, to)
    assert caught.value.field == "reported_to"
    assert case.version == 1


def test_ex_esc_1_report_time_cannot_precede_discovery_or_lie_in_the_future() -> None:
    case = record(ctx(T0), discovered_at=T0 - timedelta(minutes=10))
    with pytest.raises(InvalidInput) as early:
        report_up(case, ctx(T0), Role.DEPARTMENT_HEAD, at=T0 - timedelta(minutes=11))
    assert early.value.field == "reported_at"
    with pytest.raises(InvalidInput) as future:
        report_up(case, ctx(T0), Role.DEPARTMENT_HEAD, at=T0 + timedelta(minutes=1))
    assert future.value.field == "reported_at"
    with pytest.raises(InvalidInput) as nobody:
        report_up(case, ctx(T0))
    assert nobody.value.field == "reported_to"
    assert case.version == 1  # nothing applied by the rejected commands


def test_ex_rec_1_a_discovery_before_2000_is_a_typo() -> None:
    from datetime import UTC, datetime

    with pytest.raises(InvalidInput) as caught:
        record(ctx(T0), discovered_at=datetime(169, 1, 23, tzinfo=UTC))
    assert caught.value.field == "discovered_at"


@pytest.mark.rule("AUD-2")
def test_a_version_1_snapshot_that_kept_every_report_loads_as_the_case_it_was() -> None:
    case = record(ctx(T0), level=Level.MAJOR)
    report_up(case, ctx(T0 + timedelta(minutes=5)), Role.DEPARTMENT_HEAD)
    report_up(case, ctx(T0 + timedelta(minutes=10)), Role.CS_HEAD)
    case.reclassify(ctx(T0 + timedelta(minutes=20), Role.CS_HEAD), level=Level.CRITICAL,
                    reason="line stopped")
    report_up(case, ctx(T0 + timedelta(minutes=30)), Role.GROUP_LEADER)
    loaded = version_1_snapshot(case, case.pending_events).mutate(None)

    assert vars(loaded) == {**vars(case), "_pending_events": []}
    assert loaded.epochs[0].complete_version == 3 and loaded.epochs[1].complete_version is None
