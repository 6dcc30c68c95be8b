"""AUD-3 and AUD-5 on SQLite and PostgreSQL: each kind of tampering with the stored
history or the checkpoint log, each followed by a checkpoint run, is detected and
named (the case and its first bad version, or the checkpoint); the signer refuses
to sign over damage that would otherwise be laundered; a witness file kept from
before detects what the store alone cannot."""

from __future__ import annotations

import contextlib
import re
import sqlite3
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
import pytest

from application.app import CaseApplication
from application.audit import Verification, link
from domain.actors import Role
from domain.service_exceptions.model import ServiceException
from domain.service_exceptions.values import Level
from infrastructure.checkpoints import (
    CheckpointRefused,
    Checkpoints,
    Witness,
    load_signer,
    read_witness,
)
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

    def delete_case(self, case_id: UUID) -> None:
        with self.sql() as run:
            run(f"DELETE FROM {self.events} WHERE originator_id = ?", (self.key(case_id),))
            run(f"DELETE FROM {self.chain} WHERE case_id = ?", (self.key(case_id),))

    def rewrite(self, case_id: UUID, version: int) -> None:
        """Change who made a report and recompute every link from it on, as a forger
        would: the forged event still decodes."""
        topic, state = self.state(case_id, version)
        forged = re.sub(rb'"reported_by":"[^"]+"', b'"reported_by":"mallory"', state)
        assert forged != state
        self.set_state(case_id, version, topic, forged)
        with self.sql() as run:
            rows = run(f"SELECT version, prev_hash FROM {self.chain} WHERE case_id = ? "
                       "ORDER BY version", (self.key(case_id),))
            prev = bytes.fromhex(rows[version - 1][1])
            for v, _ in rows[version - 1:]:
                topic, state = self.state(case_id, v)
                digest = link(prev, case_id, v, topic, state)
                run(f"UPDATE {self.chain} SET prev_hash = ?, hash = ? WHERE case_id = ? "
                    "AND version = ?", (prev.hex(), digest.hex(), self.key(case_id), v))
                prev = digest

    def checkpoint_sql(self, statement: str, seq: int) -> None:
        with self.sql() as run:
            run(statement.format(table=self.checkpoints), (seq,))

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
def witness_file(tmp_path: Path) -> Path:
    return tmp_path / "witness.jsonl"


@pytest.fixture
def checkpoints(cases: CaseApplication, store_settings: Settings,
                witness_file: Path) -> Checkpoints:
    return Checkpoints(cases.recorder, load_signer(store_settings), Witness(witness_file))


def five_events(cases: CaseApplication) -> UUID:
    now = cases.clock.now()
    case = record(ctx(now), level=Level.CRITICAL)
    cases.save_case(case)
    for role in (Role.GROUP_LEADER, Role.PRINCIPAL, Role.GROUP_LEADER, Role.PRINCIPAL):
        more(cases, case.id, role)
    return case.id


def more(cases: CaseApplication, case_id: UUID, role: Role = Role.GROUP_LEADER) -> None:
    cases.clock.advance(timedelta(minutes=1))  # type: ignore[attr-defined]
    cases.execute(ServiceException, case_id,
                  lambda c: report_up(c, ctx(cases.clock.now()), role))


def sign(cases: CaseApplication, checkpoints: Checkpoints) -> int | None:
    """A checkpoint run: its number, or None when the signer refused."""
    try:
        return checkpoints.create(cases.clock.now(), cases.verify_case)
    except CheckpointRefused:
        return None


def verdict(cases: CaseApplication, checkpoints: Checkpoints, case_id: UUID) -> Verification:
    return checkpoints.verify_case(cases, case_id)


def everything(cases: CaseApplication, checkpoints: Checkpoints,
               witness_file: Path | None = None) -> list[tuple[UUID | None, int | None,
                                                               int | None]]:
    """verify --all: (case, first bad version, checkpoint) of each finding."""
    kept = list(read_witness(witness_file)) if witness_file else None
    return [(d.case_id, d.version, d.checkpoint)
            for d in checkpoints.verify_all(cases, kept).damage]


def test_aud_3_an_untouched_history_verifies(cases: CaseApplication,
                                             checkpoints: Checkpoints) -> None:
    case_id = five_events(cases)
    assert sign(cases, checkpoints) == 1
    result = verdict(cases, checkpoints, case_id)
    assert (result.ok, result.events, result.first_bad_version) == (True, 5, None)
    assert result.checkpoint == 1
    more(cases, case_id)
    assert sign(cases, checkpoints) == 2
    assert everything(cases, checkpoints) == []


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


@pytest.fixture
def other(store_settings: Settings, cases: CaseApplication) -> Iterator[CaseApplication]:
    """Another process on the same store."""
    from infrastructure.bootstrap import build_application
    from infrastructure.clock import FrozenClock

    app = build_application(store_settings, FrozenClock(cases.clock.now()))
    yield app
    app.close()


@pytest.mark.rule("AUD-3")
def test_aud_3_a_case_verified_while_another_process_writes_it_shows_no_damage(
        cases: CaseApplication, checkpoints: Checkpoints, other: CaseApplication) -> None:
    """A case's events and their chain are read from one snapshot: a save that
    commits between the two reads is not a chain link without its event."""
    case_id = five_events(cases)
    done = threading.Event()

    def write() -> None:
        while not done.is_set():
            more(other, case_id, Role.DEPARTMENT_HEAD)

    thread = threading.Thread(target=write)
    thread.start()
    try:
        verdicts = [verdict(cases, checkpoints, case_id) for _ in range(150)]
    finally:
        done.set()
        thread.join()
    assert [v.reason for v in verdicts if not v.ok] == []
    assert verdicts[-1].events > 5


@pytest.mark.rule("AUD-5")
def test_aud_5_a_checkpoint_signed_after_the_case_was_read_is_not_damage(
        cases: CaseApplication, checkpoints: Checkpoints, other: CaseApplication,
        store_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """The newest checkpoint is read before the case's events: one signed just after
    them, over a version they do not reach, is not compared with them."""
    case_id = five_events(cases)
    sign(cases, checkpoints)
    read = cases.stored_records

    def then_another_process_writes_and_signs(case: UUID) -> Any:
        records = read(case)
        more(other, case_id, Role.DEPARTMENT_HEAD)
        assert sign(other, Checkpoints(other.recorder, load_signer(store_settings))) == 2
        return records

    monkeypatch.setattr(cases, "stored_records", then_another_process_writes_and_signs)
    result = verdict(cases, checkpoints, case_id)
    assert (result.ok, result.events, result.checkpoint) == (True, 5, 1), result.reason


def _flip(store: Store, case_id: UUID) -> None:
    topic, state = store.state(case_id, 3)
    store.set_state(case_id, 3, topic, state[:10] + bytes([state[10] ^ 0x01]) + state[11:])


def _swap(store: Store, case_id: UUID) -> None:
    second, third = store.state(case_id, 2), store.state(case_id, 3)
    store.set_state(case_id, 2, *third)
    store.set_state(case_id, 3, *second)


def _relink(store: Store, case_id: UUID) -> None:
    with store.sql() as run:
        run(f"UPDATE {store.chain} SET prev_hash = ? WHERE case_id = ? AND version = 3",
            ("ab" * 32, store.key(case_id)))


DAMAGE: dict[str, tuple[Callable[[Store, UUID], None], int, bool]] = {
    # name: (damage, first bad version, whether the signer must refuse afterwards)
    "one byte flipped": (_flip, 3, False),
    "two versions swapped": (_swap, 2, False),
    "a link's predecessor edited": (_relink, 3, False),
    "a middle event deleted": (lambda s, c: s.delete(c, 3), 3, False),
    "a middle event and its link deleted": (lambda s, c: s.delete(c, 3, chain_too=True), 3,
                                            False),
    "the last event deleted, its link kept": (lambda s, c: s.delete(c, 5), 5, False),
    "the tail deleted with its links": (
        lambda s, c: [s.delete(c, v, chain_too=True) for v in (5, 4)], 4, True),
    "version 2 rewritten and the chain recomputed": (lambda s, c: s.rewrite(c, 2), 5, True),
    "the whole case deleted": (lambda s, c: s.delete_case(c), 1, True),
}


@pytest.mark.rule("AUD-5")
@pytest.mark.parametrize("name", list(DAMAGE))
def test_aud_5_damage_to_a_case_is_named_after_a_checkpoint_run(
        name: str, cases: CaseApplication, store: Store, checkpoints: Checkpoints,
        witness_file: Path) -> None:
    damage, first_bad, refused = DAMAGE[name]
    case_id = five_events(cases)
    bystander = five_events(cases)
    assert sign(cases, checkpoints) == 1
    damage(store, case_id)
    assert sign(cases, checkpoints) == (None if refused else 2)
    result = verdict(cases, checkpoints, case_id)
    assert (result.ok, result.first_bad_version) == (False, first_bad), result.reason
    assert verdict(cases, checkpoints, bystander).ok
    expected = [(case_id, first_bad, 1 if refused else 2)]
    assert everything(cases, checkpoints) == expected
    assert everything(cases, checkpoints, witness_file) == expected  # one finding a case


@pytest.mark.rule("AUD-3")
def test_aud_3_the_last_event_deleted_while_its_link_remains_before_any_checkpoint(
        cases: CaseApplication, store: Store) -> None:
    case_id = five_events(cases)
    store.delete(case_id, 5)
    result = cases.verify_case(case_id)
    assert (result.ok, result.first_bad_version) == (False, 5)
    assert "the chain has version 5" in result.reason


@pytest.mark.rule("AUD-3")
def test_aud_3_verify_all_finds_links_without_events_among_intact_cases(
        cases: CaseApplication, store: Store, checkpoints: Checkpoints) -> None:
    """Before any checkpoint, only the chain's own rows show a deleted tail: verify
    --all reads events and links in two scans and must pair them case by case."""
    ids = sorted(five_events(cases) for _ in range(5))
    store.delete(ids[1], 5)  # the last event gone, its link kept
    with store.sql() as run:  # every event gone, the links kept
        run(f"DELETE FROM {store.events} WHERE originator_id = ?", (store.key(ids[3]),))
    assert everything(cases, checkpoints) == [(ids[1], 5, None), (ids[3], 1, None)]


def test_aud_5_the_refusal_names_the_damage_and_records_nothing(
        cases: CaseApplication, store: Store, checkpoints: Checkpoints,
        witness_file: Path) -> None:
    from infrastructure.checkpoints import REFUSALS

    case_id = five_events(cases)
    sign(cases, checkpoints)
    store.delete(case_id, 5, chain_too=True)
    before = REFUSALS._value.get()
    with pytest.raises(CheckpointRefused) as refused:
        checkpoints.create(cases.clock.now(), cases.verify_case)
    assert [(d.case_id, d.version) for d in refused.value.damage] == [(case_id, 5)]
    assert "checkpoint 1 saw version 5" in str(refused.value)
    assert REFUSALS._value.get() == before + 1
    assert [r.seq for r in checkpoints.rows()] == [1]
    assert [w.seq for w in read_witness(witness_file)] == [1]


@pytest.mark.rule("AUD-5")
def test_aud_5_an_edited_checkpoint_is_a_finding_not_an_error(
        cases: CaseApplication, store: Store, checkpoints: Checkpoints) -> None:
    case_id = five_events(cases)
    sign(cases, checkpoints)
    store.checkpoint_sql("UPDATE {table} SET payload = replace(payload, '\"heads\"', "
                         "'\"heads\" ') WHERE seq = ?", 1)
    result = verdict(cases, checkpoints, case_id)
    assert (result.ok, result.bad_checkpoint) == (False, 1)
    assert "does not verify" in result.reason
    assert sign(cases, checkpoints) is None
    assert everything(cases, checkpoints) == [(None, None, 1)]


@pytest.mark.rule("AUD-5")
@pytest.mark.parametrize(("statement", "bad"), [
    ("UPDATE {table} SET signature = 'AAAA' WHERE seq = ?", 1),  # the one before the newest
    ("DELETE FROM {table} WHERE seq <= ?", 1),  # every one before the newest
])
def test_aud_5_one_case_is_checked_against_the_newest_checkpoint_and_its_predecessor(
        statement: str, bad: int, cases: CaseApplication, store: Store,
        checkpoints: Checkpoints) -> None:
    case_id = five_events(cases)
    sign(cases, checkpoints)
    more(cases, case_id)
    sign(cases, checkpoints)
    store.checkpoint_sql(statement, 1)
    result = verdict(cases, checkpoints, case_id)
    assert (result.ok, result.bad_checkpoint) == (False, bad), result.reason


@pytest.mark.rule("AUD-5")
def test_aud_5_a_deleted_middle_checkpoint_breaks_the_log(
        cases: CaseApplication, store: Store, checkpoints: Checkpoints) -> None:
    case_id = five_events(cases)
    for _ in range(3):
        more(cases, case_id)
        sign(cases, checkpoints)
    store.checkpoint_sql("DELETE FROM {table} WHERE seq = ?", 2)
    result = verdict(cases, checkpoints, case_id)
    assert (result.ok, result.bad_checkpoint) == (False, 2)
    assert sign(cases, checkpoints) is None
    assert everything(cases, checkpoints) == [(None, None, 2)]


@pytest.mark.rule("AUD-5")
def test_aud_5_the_newest_checkpoint_deleted_then_the_tail_truncated(
        cases: CaseApplication, store: Store, checkpoints: Checkpoints,
        witness_file: Path) -> None:
    """The store alone cannot tell a deleted newest checkpoint; the witness it was
    published to can, and the signer checks it before signing again."""
    case_id = five_events(cases)
    sign(cases, checkpoints)
    more(cases, case_id)
    more(cases, case_id)
    sign(cases, checkpoints)
    store.checkpoint_sql("DELETE FROM {table} WHERE seq = ?", 2)
    for version in (7, 6):
        store.delete(case_id, version, chain_too=True)
    assert verdict(cases, checkpoints, case_id).ok  # checkpoint 1 saw version 5
    assert sign(cases, checkpoints) is None
    assert everything(cases, checkpoints, witness_file) == [
        (None, None, 2), (case_id, 6, 2)]


@pytest.mark.rule("AUD-5")
def test_aud_5_a_witness_kept_from_yesterday_detects_todays_rewrite(
        cases: CaseApplication, store: Store, checkpoints: Checkpoints,
        witness_file: Path, tmp_path: Path) -> None:
    """Even a forger holding the signing key, who re-signs the whole log, is caught by
    the witness an auditor copied before."""
    case_id = five_events(cases)
    sign(cases, checkpoints)
    kept = tmp_path / "kept-by-the-auditor.jsonl"
    kept.write_bytes(witness_file.read_bytes())
    cases.clock.advance(timedelta(days=1))  # type: ignore[attr-defined]
    store.rewrite(case_id, 2)
    store.checkpoint_sql("DELETE FROM {table} WHERE seq >= ?", 1)
    witness_file.unlink()
    assert sign(cases, checkpoints) == 1  # a fresh log over the forged history
    assert verdict(cases, checkpoints, case_id).ok
    assert everything(cases, checkpoints, kept) == [(None, None, 1), (case_id, 5, 1)]


@pytest.mark.rule("AUD-5")
def test_aud_5_an_export_checked_offline_against_a_kept_witness(
        cases: CaseApplication, store: Store, checkpoints: Checkpoints,
        witness_file: Path, tmp_path: Path) -> None:
    """The export of a forged store is consistent on its own, re-signed checkpoint and
    all; the witness the auditor kept shows it does not reach yesterday's head."""
    import json

    from api.routers.audit import export
    from application.export_check import check_export

    case_id = five_events(cases)
    sign(cases, checkpoints)
    kept = list(read_witness(witness_file))

    def exported() -> dict:
        return json.loads(export(checkpoints, cases, ServiceException, case_id,
                                 False).model_dump_json())

    assert check_export(exported(), witness=kept) == []
    store.rewrite(case_id, 2)
    store.checkpoint_sql("DELETE FROM {table} WHERE seq >= ?", 1)
    witness_file.unlink()
    sign(cases, checkpoints)
    forged = exported()
    assert check_export(forged) == []
    assert check_export(forged, witness=kept) == [
        "the export's checkpoint 1 differs from the witness's",
        "the events do not reach the head of witness checkpoint 1 (version 5)"]


@pytest.mark.rule("AUD-5")
def test_aud_5_each_checkpoint_is_posted_to_the_witness_webhook(
        cases: CaseApplication, store_settings: Settings, tmp_path: Path) -> None:
    """A local stand-in for the operator's receiver; one that fails is counted and
    logged, and the checkpoint stands (the file witness has it)."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    from infrastructure.checkpoints import PUBLISH_FAILURES

    received: list[dict] = []
    answer = [204]

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(answer[0])
            self.end_headers()

        def log_message(self, *_: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/witness"
        checkpoints = Checkpoints(cases.recorder, load_signer(store_settings),
                                  Witness(tmp_path / "w.jsonl", url))
        five_events(cases)
        assert sign(cases, checkpoints) == 1
        assert [r["seq"] for r in received] == [1]
        assert received[0]["payload"] == checkpoints.rows()[0].payload
        answer[0] = 500
        failures = PUBLISH_FAILURES._value.get()
        assert sign(cases, checkpoints) == 2
        assert PUBLISH_FAILURES._value.get() == failures + 1
        assert [w.seq for w in read_witness(tmp_path / "w.jsonl")] == [1, 2]
    finally:
        server.shutdown()


@pytest.mark.rule("AUD-5")
def test_aud_5_checkpoints_signed_before_the_log_was_chained_still_count(
        cases: CaseApplication, store: Store, checkpoints: Checkpoints) -> None:
    """An upgrade: a checkpoint in the earlier form (heads and a signature) is the
    predecessor of the first chained one, and its heads still catch a truncation."""
    import json

    case_id = five_events(cases)
    heads = {str(c): [v, h] for c, v, h in cases.recorder.chain_heads()}
    payload = json.dumps({"created_at": cases.clock.now().isoformat(), "heads": heads,
                          "key_fingerprint": checkpoints.signer.fingerprint},
                         sort_keys=True, separators=(",", ":"))
    cases.recorder.insert_checkpoint(7, payload, checkpoints.signer.sign(payload),
                                     checkpoints.signer.fingerprint)
    assert verdict(cases, checkpoints, case_id).checkpoint == 7
    more(cases, case_id)
    assert sign(cases, checkpoints) == 8
    assert everything(cases, checkpoints) == []
    for version in (6, 5):
        store.delete(case_id, version, chain_too=True)
    assert sign(cases, checkpoints) is None
    store.checkpoint_sql("DELETE FROM {table} WHERE seq = ?", 8)
    assert (verdict(cases, checkpoints, case_id).first_bad_version, sign(cases, checkpoints)
            ) == (5, None)  # the legacy checkpoint saw version 5


def test_aud_5_the_witness_is_read_from_its_end(tmp_path: Path) -> None:
    from application.audit import StoredCheckpoint

    witness = Witness(tmp_path / "w.jsonl")
    assert witness.last() is None
    long = StoredCheckpoint(1, "x" * 200_000, "s1")
    witness.publish(long)
    assert witness.last() == long
    witness.publish(StoredCheckpoint(2, "y" * 100_000, "s2"))
    witness.publish(StoredCheckpoint(3, "short", "s3"))
    assert witness.last() == StoredCheckpoint(3, "short", "s3")
    assert [w.seq for w in read_witness(tmp_path / "w.jsonl")] == [1, 2, 3]


@pytest.mark.rule("AUD-3")
def test_aud_3_a_damaged_case_stalls_neither_the_views_nor_the_sweep(
        cases: CaseApplication, store: Store) -> None:
    """Its rows stay as they were, every other case's go on; the sweep passes it."""
    from application.sla import sweep
    from projections.obligations import ObligationsProjection, construct_view
    from projections.runtime import ViewRunner

    view = construct_view(cases)
    runner = ViewRunner(cases, ObligationsProjection(cases, view))
    swept = five_events(cases)
    runner.catch_up()  # its rows are in the view; then its history is damaged
    store.delete(swept, 3)
    folded = five_events(cases)
    store.delete(folded, 3)  # damaged before the view saw it
    healthy = five_events(cases)
    runner.catch_up()
    key = (lambda c: c) if store.pg else (lambda c: c.hex)
    assert {r[0] for r in view.rows()} == {key(swept), key(healthy)}
    cases.clock.advance(timedelta(days=30))  # type: ignore[attr-defined]
    assert sweep(cases, view).breaches >= 1  # the healthy case's, recorded
    runner.catch_up()
    assert runner.lag() == 0


@pytest.mark.rule("AUD-3")
def test_aud_3_a_changed_sealed_contact_is_damage_not_a_fault(
        cases: CaseApplication, store: Store, checkpoints: Checkpoints) -> None:
    from domain.errors import HistoryDamaged

    case_id = five_events(cases)
    topic, state = store.state(case_id, 1)
    at = state.index(b'"contact":"') + len(b'"contact":"') + 20
    changed = state[:at] + (b"B" if state[at:at + 1] != b"B" else b"C") + state[at + 1:]
    store.set_state(case_id, 1, topic, changed)
    with pytest.raises(HistoryDamaged):
        cases.get_case(ServiceException, case_id)
    assert verdict(cases, checkpoints, case_id).first_bad_version == 1
