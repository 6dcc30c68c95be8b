"""The persistence contract, run on SQLite and on PostgreSQL through one fixture:
save, load, load at a version, conflicts, idempotent repeats, schema creation."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from uuid import uuid4

import psycopg
import pytest
from eventsourcing.persistence import OperationalError, PersistenceError, ProgrammingError
from pydantic import SecretStr

from application.app import CaseApplication, CommandResult, Idempotency
from domain.actors import Role
from domain.errors import CaseNotFound, ConcurrentUpdate, IdempotencyKeyReused, StaleVersion
from domain.service_exceptions.model import ServiceException
from domain.service_exceptions.values import Category, Level, Status
from infrastructure.bootstrap import build_application, init_schema
from infrastructure.clock import FrozenClock
from infrastructure.scheduler import SingleProcessLeadership, Workers
from infrastructure.settings import Settings
from tests.factories import ctx, record, report_up


def open_case(cases: CaseApplication, idem: Idempotency | None = None, **kw: object):
    """A major case unless told otherwise: its reporting chain has two links, to the
    department head and on to cs_head (EX-CHAIN-1)."""
    kw.setdefault("level", Level.MAJOR)
    context = ctx(cases.clock.now())
    return cases.open(lambda: record(context, **kw), idempotency=idem)


def report(cases: CaseApplication, case_id, *to: Role, expected_version=None, idem=None):
    context = ctx(cases.clock.now())
    return cases.execute(ServiceException, case_id, lambda c: report_up(c, context, *to),
                         expected_version=expected_version, idempotency=idem)


def stored_event_count(cases: CaseApplication) -> int:
    return cases.recorder.max_notification_id() or 0


def test_save_and_load_round_trip_every_type(cases: CaseApplication) -> None:
    opened = open_case(cases, level=Level.CRITICAL)
    assert (opened.version, opened.status_code, opened.replayed) == (1, 201, False)
    loaded = cases.get_case(ServiceException, opened.case_id)
    assert loaded.level is Level.CRITICAL
    assert loaded.category is Category.AFTER_SALES
    assert loaded.status is Status.RECORDED
    assert loaded.customer.contact.name == "Wang Fang"
    assert loaded.discovered_at == cases.clock.now() - timedelta(minutes=10)
    assert loaded.discovered_at.tzinfo is not None


def test_load_at_a_version_gives_the_state_then(cases: CaseApplication) -> None:
    opened = open_case(cases, level=Level.CRITICAL)
    report(cases, opened.case_id, Role.GROUP_LEADER)
    report(cases, opened.case_id, Role.PRINCIPAL)
    assert cases.get_case(ServiceException, opened.case_id).status is Status.REPORTED
    first = cases.get_case(ServiceException, opened.case_id, version=1)
    second = cases.get_case(ServiceException, opened.case_id, version=2)
    assert (first.version, first.report_count, first.status) == (1, 0, Status.RECORDED)
    assert (second.version, second.report_count, second.status) == (2, 1, Status.RECORDED)
    with pytest.raises(CaseNotFound, match="no version 9"):
        cases.get_case(ServiceException, opened.case_id, version=9)


def test_unknown_case_is_not_found(cases: CaseApplication) -> None:
    with pytest.raises(CaseNotFound):
        cases.get_case(ServiceException, uuid4())


def test_sec_in_1_stale_expected_version_is_refused_before_anything_runs(
        cases: CaseApplication) -> None:
    opened = open_case(cases)
    report(cases, opened.case_id, Role.DEPARTMENT_HEAD, expected_version=1)
    before = stored_event_count(cases)
    with pytest.raises(StaleVersion) as caught:
        report(cases, opened.case_id, Role.DEPARTMENT_HEAD, expected_version=1)
    assert caught.value.actual == 2
    assert stored_event_count(cases) == before


def test_sec_in_1_a_writer_that_loses_the_race_gets_a_conflict_and_records_nothing(
        cases: CaseApplication) -> None:
    opened = open_case(cases)
    context = ctx(cases.clock.now())

    def meanwhile_another_writer_wins(case: ServiceException) -> None:
        report(cases, opened.case_id, Role.CS_HEAD)  # commits version 2 first
        report_up(case, context, Role.DEPARTMENT_HEAD)  # ours is also version 2

    with pytest.raises(ConcurrentUpdate):
        cases.execute(ServiceException, opened.case_id, meanwhile_another_writer_wins)
    final = cases.get_case(ServiceException, opened.case_id)
    assert final.version == 2
    assert [r.reported_to for r, _ in ServiceException.reports_in(
        cases.events.get(opened.case_id))] == [(Role.CS_HEAD,)]


def test_idempotent_repeat_returns_the_first_result_and_records_nothing(
        cases: CaseApplication) -> None:
    idem = Idempotency(scope="li.wei POST /v1/exceptions", key="k-1", fingerprint="f1")
    first = open_case(cases, idem)
    count = stored_event_count(cases)
    cases.clock.advance(timedelta(minutes=5))
    again = open_case(cases, idem)
    assert (again.case_id, again.version, again.status_code) == (
        first.case_id, first.version, first.status_code)
    assert again.replayed
    assert stored_event_count(cases) == count


def test_keys_expire_after_the_idempotency_retention(cases: CaseApplication,
                                                     store_settings: Settings) -> None:
    """The hourly job forgets keys older than `idempotency_retention` (7 days): a
    key used again after that is a new request; a younger one still replays."""
    workers = Workers(cases, store_settings, SingleProcessLeadership())
    old = Idempotency("li.wei POST /v1/exceptions", "k-old", "f1")
    first = open_case(cases, old)
    cases.clock.advance(timedelta(days=6))
    young = Idempotency("li.wei POST /v1/exceptions", "k-young", "f1")
    kept = open_case(cases, young)
    cases.clock.advance(timedelta(days=1, seconds=1))
    assert workers.forget_idempotency() == 1
    assert open_case(cases, young).replayed
    again = open_case(cases, old)
    assert not again.replayed and again.case_id != first.case_id
    assert open_case(cases, young).case_id == kept.case_id


def test_same_key_with_another_request_is_refused(cases: CaseApplication) -> None:
    open_case(cases, Idempotency("li.wei POST /v1/exceptions", "k-1", "f1"))
    count = stored_event_count(cases)
    with pytest.raises(IdempotencyKeyReused):
        open_case(cases, Idempotency("li.wei POST /v1/exceptions", "k-1", "f2"))
    assert stored_event_count(cases) == count


def test_keys_are_scoped_per_caller(cases: CaseApplication) -> None:
    a = open_case(cases, Idempotency("li.wei POST /v1/exceptions", "k-1", "f1"))
    b = open_case(cases, Idempotency("zhao POST /v1/exceptions", "k-1", "f1"))
    assert a.case_id != b.case_id


def test_a_key_is_stored_only_with_the_events_it_produced(cases: CaseApplication) -> None:
    """A command that lost a race leaves its key unused, so a retry runs for real."""
    opened = open_case(cases)
    idem = Idempotency("li.wei POST /reports", "k-race", "f")
    context = ctx(cases.clock.now())

    def lose_the_race(case: ServiceException) -> None:
        report(cases, opened.case_id, Role.CS_HEAD)
        report_up(case, context, Role.DEPARTMENT_HEAD)

    with pytest.raises(ConcurrentUpdate):
        cases.execute(ServiceException, opened.case_id, lose_the_race, idempotency=idem)
    assert cases.idempotency.find_idempotency(idem.scope, idem.key) is None
    retried = report(cases, opened.case_id, Role.DEPARTMENT_HEAD, idem=idem)
    assert (retried.version, retried.replayed) == (3, False)
    assert report(cases, opened.case_id, Role.DEPARTMENT_HEAD, idem=idem).replayed


def test_a_request_that_loses_the_race_for_its_key_answers_as_the_one_that_won(
        cases: CaseApplication) -> None:
    """The same request twice at once: the key is checked before the command runs,
    but the one that commits second is refused by the key's row and rolled back
    whole, then answers with the first one's result."""
    opened = open_case(cases)
    idem = Idempotency("li.wei POST /v1/exceptions", "k-twice", "f")
    context = ctx(cases.clock.now())
    won: list[CommandResult] = []

    def the_same_request_commits_first(case: ServiceException) -> None:
        won.append(open_case(cases, idem))
        report_up(case, context, Role.DEPARTMENT_HEAD)

    lost = cases.execute(ServiceException, opened.case_id, the_same_request_commits_first,
                         idempotency=idem)
    assert lost.replayed and (lost.case_id, lost.version) == (won[0].case_id, 1)
    assert cases.get_case(ServiceException, opened.case_id).version == 1
    assert cases.verify_case(opened.case_id).ok


def test_db_init_is_idempotent_and_nothing_is_created_by_accident(
        store_settings: Settings, clock: FrozenClock) -> None:
    uninitialised = build_application(store_settings, clock)
    with pytest.raises((OperationalError, PersistenceError)):
        uninitialised.is_ready()
    uninitialised.close()
    init_schema(store_settings)
    init_schema(store_settings)
    cases = build_application(store_settings, clock)
    assert cases.is_ready()
    opened = open_case(cases)
    init_schema(store_settings)
    assert cases.get_case(ServiceException, opened.case_id).version == 1
    cases.close()


def test_early_instants_sort_and_read_back_on_sqlite() -> None:
    """Fixed-width instants: the year is zero-padded, so text order is time order."""
    from datetime import UTC, datetime

    from infrastructure.persistence import sqlite_instant

    early, late = datetime(999, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC)
    assert sqlite_instant(early) < sqlite_instant(late)
    assert datetime.fromisoformat(sqlite_instant(early)) == early


@pytest.mark.postgres
@pytest.mark.parametrize("store_settings", ["postgres"], indirect=True)
def test_db_init_creates_the_schema_it_is_told_to_use(store_settings: Settings,
                                                      clock: FrozenClock) -> None:
    fresh = store_settings.model_copy(update={
        "postgres_schema": f"{store_settings.postgres_schema}_new"})
    dsn = store_settings.database_url.get_secret_value()  # type: ignore[union-attr]
    try:
        init_schema(fresh)
        cases = build_application(fresh, clock)
        assert cases.is_ready()
        cases.close()
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{fresh.postgres_schema}" CASCADE')


@pytest.mark.postgres
@pytest.mark.parametrize("store_settings", ["postgres"], indirect=True)
@pytest.mark.parametrize("function", ["casetrail_save", "casetrail_save_one"])
def test_a_postgres_store_without_its_save_function_is_not_ready(
        store_settings: Settings, clock: FrozenClock, function: str) -> None:
    """A damaged schema: readiness names the missing save function, a save that needs
    it is refused (503 in the API) and nothing is written. One event is saved by
    casetrail_save_one, several by casetrail_save."""
    init_schema(store_settings)
    cases = build_application(store_settings, clock)
    try:
        opened = open_case(cases)
        with psycopg.connect(store_settings.database_url.get_secret_value(),  # type: ignore[union-attr]
                             autocommit=True) as conn:
            conn.execute(f'DROP FUNCTION "{store_settings.postgres_schema}".{function}')
        with pytest.raises(ProgrammingError, match=rf"\.{function}\("):
            cases.is_ready()
        case = cases.get_case(ServiceException, opened.case_id)
        report_up(case, ctx(clock.now()), Role.DEPARTMENT_HEAD)
        if function == "casetrail_save":
            report_up(case, ctx(clock.now()), Role.CS_HEAD)
        with pytest.raises(ProgrammingError):
            cases.save_case(case)
        assert cases.get_case(ServiceException, opened.case_id).version == 1
    finally:
        cases.close()


@pytest.mark.postgres
@pytest.mark.parametrize("store_settings", ["postgres"], indirect=True)
def test_a_save_waits_for_the_events_table_lock_no_longer_than_the_lock_timeout(
        store_settings: Settings, clock: FrozenClock) -> None:
    """CASETRAIL_POSTGRES_LOCK_TIMEOUT bounds the wait for the table lock that keeps
    notification ids in commit order; the writer that times out records nothing."""
    settings = store_settings.model_copy(update={"postgres_lock_timeout": 1})
    init_schema(settings)
    cases = build_application(settings, clock)
    try:
        with psycopg.connect(settings.database_url.get_secret_value()) as holder:  # type: ignore[union-attr]
            holder.execute(f'LOCK TABLE "{settings.postgres_schema}".casetrail_events '
                           "IN EXCLUSIVE MODE")
            release = threading.Timer(5, holder.rollback)  # a save that ignored the timeout
            release.start()                                # would then succeed: a failure
            started = time.monotonic()
            with pytest.raises(OperationalError, match="lock timeout"):
                open_case(cases)
            assert 0.9 < time.monotonic() - started < 5
            release.cancel()
        assert stored_event_count(cases) == 0
        assert open_case(cases).version == 1
    finally:
        cases.close()


@pytest.mark.rule("EX-REC-2")
def test_ex_rec_2_commands_get_the_tolerance_of_the_policy_in_force(
        store_settings: Settings, clock) -> None:
    from domain.actors import Actor
    from domain.policy import ExceptionPolicy, Policy

    init_schema(store_settings)
    settings = store_settings.model_copy(update={"policy": Policy(
        exceptions=ExceptionPolicy(backdating_tolerance=timedelta(hours=2)))})
    app = build_application(settings, clock)
    try:
        ctx = app.context(Actor("li.wei", (Role.FRONTLINE,)), "c", "why")
        assert (ctx.backdating_tolerance, ctx.backdating_reason) == (timedelta(hours=2), "why")
    finally:
        app.close()


@pytest.mark.postgres
def test_every_dsn_parameter_reaches_the_pool(postgres_settings: Settings) -> None:
    """application_name and sslmode (and any other libpq parameter) in
    CASETRAIL_DATABASE_URL reach every pooled connection, views' included."""
    from projections.obligations import construct_view

    base = postgres_settings.database_url.get_secret_value()  # type: ignore[union-attr]
    sep = "&" if "?" in base else "?"
    named = postgres_settings.model_copy(update={
        "database_url": SecretStr(f"{base}{sep}application_name=casetrail-dsn-test"
                                  "&options=-c%20statement_timeout%3D1234")})
    init_schema(named)
    cases = build_application(named)
    try:
        with cases.factory.datastore.get_connection() as conn:  # type: ignore[attr-defined]
            assert conn.execute("SHOW application_name").fetchone()["application_name"] == (
                "casetrail-dsn-test")
            assert conn.execute("SHOW statement_timeout").fetchone()["statement_timeout"] == (
                "1234ms")
        assert construct_view(cases).count_by("state") == {}
    finally:
        cases.close()
    # this server has no TLS: a DSN demanding it must fail, which proves sslmode is passed
    strict = postgres_settings.model_copy(update={
        "database_url": SecretStr(f"{base}{sep}sslmode=require"), "postgres_connect_timeout": 1})
    with pytest.raises(OperationalError):
        build_application(strict).is_ready()


@pytest.mark.postgres
def test_connections_the_server_ended_are_replaced_before_a_command_uses_them(
        postgres_settings: Settings, clock: FrozenClock) -> None:
    """No pre-ping round trip on every checkout: the pool looks at each connection's
    socket, and one the server ended (a restart, a terminated session) is replaced
    before it is used, so the command after a restart succeeds, its save included."""
    base = postgres_settings.database_url.get_secret_value()  # type: ignore[union-attr]
    name = f"casetrail-{uuid4().hex[:8]}"
    named = postgres_settings.model_copy(update={"database_url": SecretStr(
        f"{base}{'&' if '?' in base else '?'}application_name={name}")})
    init_schema(named)
    cases = build_application(named, clock)
    try:
        opened = open_case(cases)
        report(cases, opened.case_id, Role.DEPARTMENT_HEAD)  # remembered: next is a save
        with psycopg.connect(base, autocommit=True) as admin:
            ended = admin.execute("SELECT count(pg_terminate_backend(pid)) FROM "
                                  "pg_stat_activity WHERE application_name = %s",
                                  (name,)).fetchone()
        assert ended is not None and ended[0] >= 2  # every pooled connection
        time.sleep(0.2)  # the server's goodbye reaches the sockets
        assert report(cases, opened.case_id, Role.DEPARTMENT_HEAD).version == 3
        assert cases.get_case(ServiceException, opened.case_id).version == 3
    finally:
        cases.close()
