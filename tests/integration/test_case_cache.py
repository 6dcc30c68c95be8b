"""A process remembers the cases its commands left (RecentCases), so a command on one
is a save and no read. Two applications on one store stand for two processes: what
one remembers, the other makes stale. The save refuses a stale copy; the case is
then read and the command run again, so nothing is lost and no answer is wrong."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from application.app import CaseApplication
from domain.actors import Role
from domain.errors import StaleVersion, WrongState
from domain.service_exceptions.model import ServiceException
from domain.service_exceptions.values import Contact, Customer
from infrastructure.bootstrap import build_application
from infrastructure.clock import FrozenClock
from infrastructure.settings import Settings
from tests.factories import ctx, record


@pytest.fixture
def other(cases: CaseApplication, store_settings: Settings,
          clock: FrozenClock) -> Iterator[CaseApplication]:
    """A second process on the same store."""
    app = build_application(store_settings, clock)
    yield app
    app.close()


def reads_of(app: CaseApplication, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Counts the case reads `app` makes (the store itself is real)."""
    reads: list[Any] = []
    recorder: Any = app.recorder
    original = recorder.select_case_stream

    def counted(*args: Any, **kwargs: Any) -> Any:
        reads.append(args)
        return original(*args, **kwargs)

    monkeypatch.setattr(recorder, "select_case_stream", counted)
    return reads


def reporting(app: CaseApplication, user: str) -> Callable[[ServiceException], None]:
    return lambda c: c.report_up(ctx(app.clock.now(), Role.FRONTLINE), details=user,
                                 reported_to=(Role.DEPARTMENT_HEAD,),
                                 reported_at=app.clock.now(), first_judgement="-",
                                 customer_demands="-", measures_taken="-")


def reports(app: CaseApplication, case_id: Any) -> list[str]:
    return [r.details for r, _ in ServiceException.reports_in(app.events.get(case_id))]


@pytest.mark.rule("SEC-IN-1")
def test_sec_in_1_a_command_on_a_remembered_case_reads_nothing_and_a_stale_one_loses_nothing(
        cases: CaseApplication, other: CaseApplication,
        monkeypatch: pytest.MonkeyPatch) -> None:
    case = record(ctx(cases.clock.now()))
    cases.save_case(case)
    cases.execute(ServiceException, case.id, reporting(cases, "zhao"))
    reads = reads_of(cases, monkeypatch)
    second = cases.execute(ServiceException, case.id, reporting(cases, "qian"))
    assert (second.version, reads) == (3, []), "a remembered case is not read again"

    other.execute(ServiceException, case.id, reporting(other, "sun"))  # v4
    fourth = cases.execute(ServiceException, case.id, reporting(cases, "li"))
    assert fourth.version == 5 and len(reads) == 1, "the stale copy refused, read again"
    assert reports(cases, case.id) == ["zhao", "qian", "sun", "li"], "the other's write kept"
    assert cases.verify_case(case.id).ok


@pytest.mark.rule("SEC-IN-1")
def test_sec_in_1_if_match_is_judged_against_the_store_not_a_remembered_copy(
        cases: CaseApplication, other: CaseApplication) -> None:
    case = record(ctx(cases.clock.now()))
    cases.save_case(case)
    cases.execute(ServiceException, case.id, reporting(cases, "zhao"))  # v2
    other.execute(ServiceException, case.id, reporting(other, "qian"))  # v3

    with pytest.raises(StaleVersion) as stale:  # the remembered copy is at 2, the store at 3
        cases.execute(ServiceException, case.id, reporting(cases, "li"),
                      expected_version=2)
    assert stale.value.actual == 3
    current = cases.execute(ServiceException, case.id, reporting(cases, "li"),
                            expected_version=3)
    assert current.version == 4
    assert reports(cases, case.id) == ["zhao", "qian", "li"]


def test_a_command_refused_on_a_stale_copy_is_judged_again_on_the_store(
        cases: CaseApplication, other: CaseApplication) -> None:
    """A rule the remembered state breaks but the stored state keeps: the answer is
    the store's."""
    case = record(ctx(cases.clock.now()))
    cases.save_case(case)
    cases.execute(ServiceException, case.id, reporting(cases, "zhao"))  # v2
    other.execute(ServiceException, case.id, reporting(other, "qian"))  # v3

    def after_two_reports(c: ServiceException) -> None:
        if c.report_count < 2:
            raise WrongState("needs two reports")
        reporting(cases, "li")(c)

    assert cases.execute(ServiceException, case.id, after_two_reports).version == 4


@pytest.mark.rule("RET-4")
def test_ret_4_a_case_remembered_before_a_customer_key_was_destroyed_is_read_again(
        cases: CaseApplication, other: CaseApplication,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """What a process remembers may be what a destroyed key sealed: once any key is
    destroyed (the store's key epoch moves), a remembered case's save is refused and
    the case read again, as the store now has it."""
    case = record(ctx(cases.clock.now()))
    cases.save_case(case)
    cases.execute(ServiceException, case.id, reporting(cases, "zhao"))
    reads = reads_of(cases, monkeypatch)
    cases.execute(ServiceException, case.id, reporting(cases, "qian"))
    assert reads == []

    elsewhere = record(ctx(cases.clock.now()), customer=Customer(
        "C-2", "Beta Rental", False, Contact("Liu Yang", "+86 139 0000 0000")))
    other.save_case(elsewhere)
    other.keys.destroy("C-2")  # type: ignore[attr-defined]
    after = cases.execute(ServiceException, case.id, reporting(cases, "sun"))
    assert (after.version, len(reads)) == (4, 1), "read again, not taken from memory"
    assert reports(cases, case.id) == ["zhao", "qian", "sun"]
