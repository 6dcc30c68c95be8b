"""AUD-2 on SQLite and PostgreSQL: the state as of any instant is the state at the
last version recorded by then, snapshots or not; a property test over random
command sequences: every prefix replays to what it was, and the chain verifies."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.models.common import jsonable
from application.app import CaseApplication
from domain.actors import Role
from domain.errors import DomainError
from domain.service_exceptions.model import ServiceException
from domain.service_exceptions.values import (
    SIGN_OFFS,
    CancelReason,
    Level,
    ProgressKind,
    SpecialType,
)
from infrastructure.bootstrap import build_application, init_schema
from infrastructure.clock import FrozenClock
from infrastructure.settings import Settings
from tests.conftest import T0
from tests.factories import (
    LEAD_FOR,
    approve,
    ctx,
    feedback,
    investigate,
    propose,
    record,
    report_up,
    resolve,
    review,
    start_response,
    version_1_snapshot,
)


def state(case: ServiceException) -> Any:
    return jsonable({k: v for k, v in vars(case).items() if not k.startswith("_")} |
                    {"version": case.version}, reveal_contact=True)


def replayed(cases: CaseApplication, case_id: Any, version: int) -> ServiceException:
    """Every event up to `version` from the store, no snapshot: the independent answer."""
    case = None
    for event in cases.events.get(case_id, lte=version):
        case = event.mutate(case)  # type: ignore[attr-defined]
    assert isinstance(case, ServiceException)
    return case


@contextlib.contextmanager
def snapshotting(store_settings: Settings, interval: int
                 ) -> Iterator[tuple[CaseApplication, FrozenClock]]:
    """An application snapshotting every `interval` events, on a fresh schema."""
    settings = store_settings.model_copy(update={"snapshot_interval": interval})
    init_schema(settings)
    clock = FrozenClock(T0)
    cases = build_application(settings, clock)
    try:
        yield cases, clock
    finally:
        cases.close()


def test_aud_2_as_of_between_two_events_is_the_earlier_version_with_snapshots(
        store_settings: Settings) -> None:
    with snapshotting(store_settings, 3) as (cases, clock):
        case = record(ctx(clock.now()), level=Level.CRITICAL)
        cases.save_case(case)
        instants = [clock.now()]
        for i in range(9):
            clock.advance(timedelta(minutes=10))
            role = (Role.GROUP_LEADER, Role.PRINCIPAL)[i % 2]
            cases.execute(ServiceException, case.id,
                          lambda c, r=role: report_up(c, ctx(clock.now()), r))
            instants.append(clock.now())
        assert cases.snapshots is not None
        assert list(cases.snapshots.get(case.id))  # snapshots were taken
        for version, instant in enumerate(instants, start=1):
            expected = state(replayed(cases, case.id, version))
            assert state(cases.get_case(ServiceException, case.id, version=version)) == expected
            assert state(cases.get_case_as_of(ServiceException, case.id, instant)) == expected
            between = instant + timedelta(minutes=5)
            assert state(cases.get_case_as_of(ServiceException, case.id, between)) == expected


def test_aud_2_a_snapshot_taken_as_a_case_is_saved_holds_what_its_events_replay_to(
        store_settings: Settings) -> None:
    """Snapshots are taken from the case in memory when its save ends at a snapshot
    version, and read back from the store when a save of several events passes one:
    either way a snapshot's whole state, private attributes too, is the replay's."""
    with snapshotting(store_settings, 2) as (cases, clock):
        case = record(ctx(clock.now()), level=Level.CRITICAL)
        cases.save_case(case)
        for i in range(4):  # one event a save: versions 2..5
            clock.advance(timedelta(minutes=10))
            role = (Role.GROUP_LEADER, Role.PRINCIPAL)[i % 2]
            cases.execute(ServiceException, case.id,
                          lambda c, r=role: report_up(c, ctx(clock.now()), r))
        case = cases.get_case(ServiceException, case.id)
        for role in Role.GROUP_LEADER, Role.PRINCIPAL, Role.GROUP_LEADER:  # 6..8 in one save
            clock.advance(timedelta(minutes=10))
            report_up(case, ctx(clock.now()), role)
        cases.save_case(case)
        assert cases.snapshots is not None
        taken = list(cases.snapshots.get(case.id))
        assert [s.originator_version for s in taken] == [2, 4, 6, 8]
        for snapshot in taken:
            restored = snapshot.mutate(None)  # type: ignore[attr-defined]
            again = replayed(cases, case.id, snapshot.originator_version)
            assert whole_state(restored) == whole_state(again), snapshot.originator_version


def whole_state(case: ServiceException) -> Any:
    return jsonable({k: v for k, v in vars(case).items() if k != "_pending_events"},
                    reveal_contact=True)


def _step(name: str, case: ServiceException, at: Any, cases: CaseApplication) -> None:
    actions = {
        "report": lambda: report_up(case, ctx(at), *sorted(case.required_recipients,
                                                           key=lambda r: r.value)),
        "reclassify_up": lambda: case.reclassify(ctx(at, Role.GROUP_LEADER),
                                                 level=Level.CRITICAL, reason="worse"),
        "reclassify_down": lambda: case.reclassify(ctx(at, Role.GROUP_LEADER),
                                                   level=Level.GENERAL, reason="contained"),
        "flag": lambda: case.set_special_types(ctx(at, Role.CS_HEAD),
                                               special=(SpecialType.CONTRACT_DISPUTE,),
                                               reason="dispute"),
        "respond": lambda: start_response(case, at),
        "investigate": lambda: investigate(case, at),
        "opinion": lambda: case.give_legal_opinion(ctx(at, Role.LEGAL), opinion="ok"),
        "propose": lambda: propose(case, at),
        "approve": lambda: approve(case, len(case.plans), at),
        "progress": lambda: case.report_progress(ctx(at), cases.calendar,
                                                 kind=ProgressKind.REPORT, summary="on it"),
        "resolve": lambda: resolve(case, at),
        "feedback": lambda: feedback(case, at),
        "accept": lambda: case.record_acceptance(ctx(at), accepted=True, note=""),
        "reject": lambda: case.record_acceptance(ctx(at), accepted=False, note="no"),
        "review": lambda: review(case, at),
        "sign_off": lambda: case.sign_off(ctx(at, *SIGN_OFFS[case.level])),
        "archive": lambda: case.archive(ctx(at, LEAD_FOR[case.level])),
        "cancel": lambda: case.cancel(ctx(at, Role.GROUP_LEADER),
                                      reason=CancelReason.DUPLICATE, detail="dup"),
    }
    actions[name]()


ANY_STEP = st.sampled_from([
    "report", "reclassify_up", "reclassify_down", "flag", "respond", "investigate", "opinion",
    "propose", "approve", "progress", "resolve", "feedback", "accept", "reject", "review",
    "sign_off", "archive", "cancel"])
LIFECYCLE = ["report", "respond", "investigate", "opinion", "propose", "approve", "progress",
             "resolve", "feedback", "accept", "review", "sign_off", "sign_off", "archive"]


@st.composite
def steps_strategy(draw: Any) -> list[str]:
    """Mostly the lifecycle in order, each step sometimes dropped, with random steps
    (often refused) slipped in between: long valid histories and wrong turns."""
    steps = []
    for step in LIFECYCLE:
        if draw(st.integers(0, 9)) > 0:
            steps.append(step)
        if draw(st.booleans()):
            steps.append(draw(ANY_STEP))
    return steps


STEPS = steps_strategy()


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=STEPS, level=st.sampled_from(list(Level)))
def test_aud_2_aud_3_every_prefix_of_random_commands_replays_and_verifies(
        cases: CaseApplication, steps: list[str], level: Level) -> None:
    clock: FrozenClock = cases.clock  # type: ignore[assignment]
    case = record(ctx(clock.now()), level=level)
    cases.save_case(case)
    seen = {1: state(cases.get_case(ServiceException, case.id))}
    for name in steps:
        clock.advance(timedelta(minutes=7))
        try:
            result = cases.execute(ServiceException, case.id,
                                   lambda c, n=name: _step(n, c, clock.now(), cases))
        except DomainError:
            continue  # refused: nothing recorded
        seen[result.version] = state(cases.get_case(ServiceException, case.id))
    for version, expected in seen.items():
        assert state(cases.get_case(ServiceException, case.id, version=version)) == expected
    assert cases.verify_case(case.id).ok
    assert cases.verify_case(case.id).events == max(seen)


def test_aud_2_a_stored_snapshot_from_before_compact_reports_loads_as_the_replay(
        cases: CaseApplication) -> None:
    """An upgrade: a snapshot written by class version 1 (every report in the state)
    is in the store; loading the case, and an as-of read at it, upcast it."""
    case = record(ctx(cases.clock.now()), level=Level.MAJOR)
    cases.save_case(case)
    for role in (Role.DEPARTMENT_HEAD, Role.CS_HEAD):
        cases.clock.advance(timedelta(minutes=5))  # type: ignore[attr-defined]
        cases.execute(ServiceException, case.id,
                      lambda c, r=role: report_up(c, ctx(cases.clock.now()), r))
    cases.clock.advance(timedelta(minutes=5))  # type: ignore[attr-defined]
    cases.execute(ServiceException, case.id, lambda c: c.reclassify(
        ctx(cases.clock.now(), Role.CS_HEAD), level=Level.CRITICAL, reason="line stopped"))
    current = cases.get_case(ServiceException, case.id)
    assert cases.snapshots is not None
    cases.snapshots.put([version_1_snapshot(current, list(cases.events.get(case.id)))])
    snapshot, after, _ = cases.recorder.select_case_stream(case.id)  # type: ignore[attr-defined]
    assert (snapshot.originator_version, after) == (current.version, [])  # it is what loads

    loaded = cases.get_case(ServiceException, case.id)

    assert state(loaded) == state(replayed(cases, case.id, current.version))
    assert (loaded.report_count, loaded.epochs[0].complete_version) == (2, 3)
    assert state(cases.get_case_as_of(ServiceException, case.id, cases.clock.now())) == \
        state(loaded)
