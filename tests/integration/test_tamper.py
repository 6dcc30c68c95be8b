"""AUD-3 on SQLite and PostgreSQL: each kind of tampering with the stored history is
detected and the first bad version named; truncated and rewritten tails through
the signed checkpoint."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any
from uuid import UUID

import psycopg
import pytest

from application.app import CaseApplication
from domain.actors import Role
from domain.service_exceptions.values import Level
from infrastructure.checkpoints import CheckpointInvalid, Checkpoints, load_signer
from infrastructure.settings import Settings
from tests.factories import ctx, record, report_up


class Store:
    """Raw SQL on the event tables, as an intruder with database access would."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.pg = settings.database_url is not None
        schema = settings.postgres_schema
        self.events = f'"{schema}".casetrail_events' if self.pg else "stored_events"
        self.chain = f'"{schema}".casetrail_chain' if self.pg else "casetrail_chain"
        self.checkpoints = f'"{schema}".casetrail_checkpoints' if self.pg \
            else "casetrail_checkpoints"

    @contextlib.contextmanager
    def sql(self) -> Iterator[Callable[..., Any]]:
        if self.pg:
            with psycopg.connect(self.settings.database_url.get_secret_value(),
                                 autocommit=True) as conn:
                yield lambda q, p=(): conn.execute(q.replace("?", "%s"), p).fetchall() \
                    if q.lstrip().upper().startswith("SELECT") else conn.execute(
                    q.replace("?", "%s"), p)
        else:
            conn = sqlite3.connect(self.settings.sqlite_path, isolation_level=None)
            try:
                yield lambda q, p=(): conn.execute(q, p).fetchall()
            finally:
                conn.close()

    def key(self, case_id: UUID) -> Any:
        return case_id if self.pg else case_id.hex

    def state(self, case_id: UUID, version: int) -> tuple[str, bytes]:
        with self.sql() as run:
            [(topic, state)] = run(f"SELECT topic, state FROM {self.events} WHERE "
                                   "originator_id = ? AND originator_version = ?",
                                   (self.key(case_id), version))
            return topic, bytes(state)

    def set_state(self, case_id: UUID, version: int, topic: str, state: bytes) -> None:
        with self.sql() as run:
            run(f"UPDATE {self.events} SET topic = ?, state = ? WHERE originator_id = ? "
                "AND originator_version = ?", (topic, state, self.key(case_id), version))

    def delete(self, case_id: UUID, version: int, *, chain_too: bool = False) -> None:
        with self.sql() as run:
            run(f"DELETE FROM {self.events} WHERE originator_id = ? AND originator_version = ?",
                (self.key(case_id), version))
            if chain_too:
                run(f"DELETE FROM {self.chain} WHERE case_id = ? AND version = ?",
                    (self.key(case_id), version))


@pytest.fixture
def store(store_settings: Settings) -> Store:
    return Store(store_settings)


@pytest.fixture
def checkpoints(cases: CaseApplication, store_settings: Settings) -> Checkpoints:
    return Checkpoints(cases.recorder, load_signer(store_settings))


def five_events(cases: CaseApplication) -> UUID:
    now = cases.clock.now()
    case = record(ctx(now), level=Level.CRITICAL)
    cases.save_case(case)
    for role in (Role.GROUP_LEADER, Role.PRINCIPAL, Role.GROUP_LEADER, Role.PRINCIPAL):
        cases.clock.advance(timedelta(minutes=1))  # type: ignore[attr-defined]
        cases.execute(type(case), case.id,
                      lambda c, r=role: report_up(c, ctx(cases.clock.now()), r))
    return case.id


def verdict(cases: CaseApplication, checkpoints: Checkpoints, case_id: UUID):
    latest = checkpoints.latest()
    return cases.verify_case(case_id, latest.head(case_id) if latest else None,
                             latest.seq if latest else None)


def test_aud_3_an_untouched_history_verifies(cases: CaseApplication,
                                             checkpoints: Checkpoints) -> None:
    case_id = five_events(cases)
    checkpoints.create(cases.clock.now())
    result = verdict(cases, checkpoints, case_id)
    assert (result.ok, result.events, result.first_bad_version) == (True, 5, None)
    assert result.checkpoint == 1


def test_aud_3_links_written_several_to_a_transaction_verify(cases: CaseApplication) -> None:
    """Two new cases and more events of an existing one, in single transactions: each
    link follows the one before it, in the same save or stored earlier."""
    now = cases.clock.now()
    first, second = record(ctx(now)), record(ctx(now))
    for case in (first, second):
        for _ in range(3):
            report_up(case, ctx(now), Role.DEPARTMENT_HEAD)
    cases.save_many([first, second])
    for _ in range(3):
        report_up(first, ctx(now), Role.DEPARTMENT_HEAD)
    cases.save_case(first)
    assert (cases.verify_case(first.id).ok, cases.verify_case(first.id).events) == (True, 7)
    assert (cases.verify_case(second.id).ok, cases.verify_case(second.id).events) == (True, 4)
    records, _ = cases.stored_records(first.id)
    assert [r.prev_hash for r in records[1:]] == [r.hash for r in records[:-1]]


def test_aud_3_links_of_cases_interleaved_in_one_write_verify(cases: CaseApplication) -> None:
    """However a write orders the events of several cases, each link follows its own
    case's previous event, not the event written before it."""
    now = cases.clock.now()
    first, second = record(ctx(now)), record(ctx(now))
    for case in (first, second):
        report_up(case, ctx(now), Role.DEPARTMENT_HEAD)
    a, b = first.collect_events(), second.collect_events()
    cases.events.put([a[0], b[0], a[1], b[1]])
    for case_id in (first.id, second.id):
        assert (cases.verify_case(case_id).ok, cases.verify_case(case_id).events) == (True, 2)


def test_aud_3_one_byte_flipped_in_a_stored_event(cases: CaseApplication, store: Store,
                                                  checkpoints: Checkpoints) -> None:
    case_id = five_events(cases)
    topic, state = store.state(case_id, 3)
    flipped = state[:10] + bytes([state[10] ^ 0x01]) + state[11:]
    store.set_state(case_id, 3, topic, flipped)
    result = verdict(cases, checkpoints, case_id)
    assert (result.ok, result.first_bad_version) == (False, 3)
    assert "does not match its hash" in result.reason


@pytest.mark.parametrize("chain_too", [False, True])
def test_aud_3_a_middle_event_deleted(cases: CaseApplication, store: Store,
                                      checkpoints: Checkpoints, chain_too: bool) -> None:
    case_id = five_events(cases)
    store.delete(case_id, 3, chain_too=chain_too)
    result = verdict(cases, checkpoints, case_id)
    assert (result.ok, result.first_bad_version) == (False, 3)
    assert "missing" in result.reason


def test_aud_3_two_versions_swapped(cases: CaseApplication, store: Store,
                                    checkpoints: Checkpoints) -> None:
    case_id = five_events(cases)
    second, third = store.state(case_id, 2), store.state(case_id, 3)
    store.set_state(case_id, 2, *third)
    store.set_state(case_id, 3, *second)
    result = verdict(cases, checkpoints, case_id)
    assert (result.ok, result.first_bad_version) == (False, 2)


def test_aud_3_the_tail_truncated_is_caught_by_the_checkpoint(
        cases: CaseApplication, store: Store, checkpoints: Checkpoints) -> None:
    case_id = five_events(cases)
    checkpoints.create(cases.clock.now())
    for version in (5, 4):
        store.delete(case_id, version, chain_too=True)  # a consistent, shorter chain
    assert cases.verify_case(case_id).ok  # the chain alone cannot tell
    result = verdict(cases, checkpoints, case_id)
    assert (result.ok, result.first_bad_version, result.checkpoint) == (False, 4, 1)
    assert "checkpoint 1 saw version 5" in result.reason


def test_aud_3_a_rewritten_tail_is_caught_by_the_checkpoint(
        cases: CaseApplication, store: Store, checkpoints: Checkpoints) -> None:
    from application.audit import link

    case_id = five_events(cases)
    checkpoints.create(cases.clock.now())
    topic, state = store.state(case_id, 5)
    forged = state.replace(b"principal", b"principal"[::-1]) if b"principal" in state \
        else state + b" "
    store.set_state(case_id, 5, topic, forged)
    with store.sql() as run:  # the forger recomputes the last link too
        [(prev,)] = run(f"SELECT prev_hash FROM {store.chain} WHERE case_id = ? AND version = 5",
                        (store.key(case_id),))
        run(f"UPDATE {store.chain} SET hash = ? WHERE case_id = ? AND version = 5",
            (link(bytes.fromhex(prev), case_id, 5, topic, forged).hex(), store.key(case_id)))
    assert cases.verify_case(case_id).ok
    result = verdict(cases, checkpoints, case_id)
    assert (result.ok, result.first_bad_version) == (False, 5)


def test_aud_3_a_forged_checkpoint_is_refused(cases: CaseApplication, store: Store,
                                             checkpoints: Checkpoints) -> None:
    five_events(cases)
    checkpoints.create(cases.clock.now())
    with store.sql() as run:
        run(f"UPDATE {store.checkpoints} SET payload = replace(payload, '\"heads\"', "
            "'\"heads\" ')")
    with pytest.raises(CheckpointInvalid):
        checkpoints.latest()
