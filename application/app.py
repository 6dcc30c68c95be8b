"""The one eventsourcing Application for every case type, and its use cases.

A use case loads a case, runs one command on it and saves the new events in one
transaction. Nothing is saved when the command raises. Conflicts are told apart:
a stale If-Match is caught before the command runs (StaleVersion, 412); a writer
that lost the race for the next version is caught by the store's uniqueness of
(case, version) (ConcurrentUpdate, 409). No update is ever lost.
"""

from __future__ import annotations

import contextlib
import pickle
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from datetime import datetime
from types import MappingProxyType
from typing import Any, NamedTuple, Protocol, TypeVar
from uuid import UUID

from eventsourcing.application import (
    AggregateNotFoundError,
    Application,
    LRUCache,
    ProcessingEvent,
    Repository,
)
from eventsourcing.domain import DomainEventProtocol, EventSourcingError
from eventsourcing.persistence import (
    IntegrityError,
    JSONTranscoder,
    Mapper,
    PersistenceError,
    StoredEvent,
    Transcoder,
)
from eventsourcing.utils import Environment, EnvType

from application.access import current_scope
from application.audit import Head, StoredRecord, Verification, verify
from application.case_index import (
    CaseIndex,
    Cursor,
    Page,
    SearchFilters,
    summarise,
    summarise_hold,
)
from application.idempotency import IdempotencyRecord, IdempotencyStore, StoredResponse
from domain.actors import Actor
from domain.calendar import BusinessCalendar
from domain.cases import Case, CommandContext
from domain.clock import Clock
from domain.corrective_actions import CorrectiveAction
from domain.errors import (
    CaseNotFound,
    ConcurrentUpdate,
    HistoryDamaged,
    IdempotencyKeyReused,
    StaleVersion,
)
from domain.filings import SummaryFiling, SummaryKind, filing_id
from domain.legal_holds import LegalHold
from domain.obligations import Obligation
from domain.policy import Policy
from domain.service_exceptions import obligations as exception_obligations
from domain.service_exceptions.model import ServiceException
from domain.surveys import obligations as survey_obligations
from domain.surveys.campaign import SurveyCampaign

C = TypeVar("C", bound=Case)

UNREADABLE = (ValueError, KeyError, TypeError, AttributeError, EventSourcingError)
"""What stored bytes that were tampered with raise when decoded or folded (bad JSON,
a missing field, a version gap); store failures (PersistenceError) are not among
them and are re-raised first."""


@dataclass(frozen=True)
class Idempotency:
    """An Idempotency-Key as the API received it."""

    scope: str
    key: str
    fingerprint: str


@dataclass(frozen=True)
class CommandResult:
    case_id: UUID
    version: int
    status_code: int
    replayed: bool = False
    case: Case | LegalHold | SummaryFiling | None = field(default=None, compare=False,
                                                        repr=False)
    """The case as saved (None on a replay): what the response shows, without a reload."""
    response: StoredResponse | None = field(default=None, compare=False, repr=False)
    """The answer rendered before the save and kept with the key, or the one kept by
    the first request when this is a replay (AUD-6)."""


Render = Callable[[Any], StoredResponse]
"""The response to a command, from the case as the command left it (before saving)."""


class CaseStream(NamedTuple):
    snapshot: StoredEvent | None
    events: list[StoredEvent]
    key_epoch: int | None
    """The store's key epoch, read with the events: the cached customer keys that may
    open them (RET-4)."""


key_epoch_read: ContextVar[int | None] = ContextVar("casetrail_key_epoch", default=None)
"""Set while a case read with its key epoch is decoded; unset, a customer key is
read from the store each time it is needed."""

customers_saved: ContextVar[Mapping[UUID, str]] = ContextVar(
    "casetrail_customers_saved", default=MappingProxyType({}))
"""While cases are saved: the customer of each, whose key seals its personal data."""


@dataclass(frozen=True)
class StoredHistory:
    """A case's history as stored, from one read: the case (loaded just before), the
    records with their links, every version the chain holds, and the events decoded
    from the records, which may reach beyond the case's version."""

    case: Case
    records: list[StoredRecord]
    chain: list[int]
    events: list[Any]


class SnapshotUnreadable(Exception):
    """A snapshot sealed under a destroyed customer key: the case replays from its
    events instead, whose figures are stored in the clear."""


class CaseStreams(Protocol):
    def select_case_stream(self, case_id: UUID, lte: int | None = None) -> CaseStream:
        """The case's latest snapshot at or before `lte` and the events after it."""


class CaseRepository(Repository[UUID]):
    """Loads a case with one query: its latest snapshot and the events after it (the
    library's repository asks for each in turn, a round trip more on every load), and
    folds them with `mutate` directly: the library's projector first checks each event
    with `isinstance` against a runtime Protocol, which on Python 3.11 costs more than
    applying most events."""

    def _reconstruct_aggregate(self, aggregate_id: UUID, version: int | None,
                               projector_func: Any) -> Any:
        return self.load(aggregate_id, version)[0]

    def load(self, aggregate_id: UUID, version: int | None = None) -> tuple[Any, int | None]:
        """The aggregate, and the key epoch of the store it was read from (RET-4)."""
        streams: CaseStreams = self.event_store.recorder  # type: ignore[assignment]
        snapshot, stored, key_epoch = streams.select_case_stream(aggregate_id, lte=version)
        aggregate = None
        reading = key_epoch_read.set(key_epoch)
        try:
            events: list[Any] = [self.event_store.mapper.to_domain_event(s) for s in stored]
            if snapshot is not None and self.snapshot_store is not None:
                try:
                    events.insert(0, self.snapshot_store.mapper.to_domain_event(snapshot))
                except SnapshotUnreadable:
                    events = list(self.event_store.get(aggregate_id, lte=version))
            for event in events:
                aggregate = event.mutate(aggregate)
        except PersistenceError:
            raise  # the store did not answer: not damage
        except UNREADABLE as e:  # what the bytes or a gap made of the replay
            at = aggregate.version + 1 if aggregate is not None else 1
            raise HistoryDamaged(
                f"case {aggregate_id} cannot be replayed beyond version {at - 1} "
                f"({type(e).__name__}); its verify call names the first bad version") from e
        finally:
            key_epoch_read.reset(reading)
        if aggregate is None:
            raise AggregateNotFoundError(f"Aggregate {aggregate_id!r} version {version!r} "
                                         "not found.")
        return aggregate, key_epoch


class RecentCases:
    """A bounded per-process memory of the cases this process last commanded, as their
    save left them, so that a command on one of them costs one round trip (the save)
    instead of two. Only commands use it: what they remember may be stale, and the
    save's uniqueness of (case, version) refuses a command run on a stale copy, which
    is then read again and run once more (CaseApplication.execute). Reads always go
    to the store, so every process reads what any process wrote. Each entry keeps the
    key epoch its case was read at, which the save checks: a case remembered from
    before a customer key was destroyed is read again (RET-4). Entries are pickled: a
    command gets its own copy to change."""

    def __init__(self, size: int) -> None:
        self._entries: LRUCache[UUID, tuple[bytes, int | None]] | None = (
            LRUCache(maxsize=size) if size > 0 else None)

    def get(self, case_id: UUID) -> tuple[Any, int | None] | None:
        if self._entries is None:
            return None
        try:
            pickled, epoch = self._entries.get(case_id)
        except KeyError:
            return None
        return pickle.loads(pickled), epoch  # this process's own bytes

    def put(self, case: Case, epoch: int | None) -> None:
        if self._entries is not None:
            self._entries.put(case.id, (pickle.dumps(case, pickle.HIGHEST_PROTOCOL), epoch))

    def forget(self, case_id: UUID) -> None:
        if self._entries is not None:
            with contextlib.suppress(KeyError):
                self._entries.get(case_id, evict=True)


class _StaleCopy(Exception):
    """A command on a remembered case failed or conflicted: read it and run again."""


class CaseApplication(Application[UUID]):
    name = "casetrail"

    def __init__(
        self,
        *,
        env: EnvType,
        clock: Clock,
        calendar: BusinessCalendar,
        policy: Policy,
        transcodings: Callable[[JSONTranscoder], None],
        mapper: Callable[[Transcoder], Mapper[UUID]] | None = None,
        snapshot_interval: int = 50,
        case_cache_size: int = 1000,
    ) -> None:
        # Snapshots bound the events read to rebuild any version, so as-of reads stay
        # fast however long a case grows (AUD-2).
        # The library reads this class variable through the instance, so a per-instance
        # value configures this application only.
        self.snapshotting_intervals = {ServiceException: snapshot_interval}  # type: ignore[misc]
        self.clock = clock
        self.calendar = calendar
        self.policy = policy
        self._transcodings = transcodings
        self._mapper = mapper
        self.recent = RecentCases(case_cache_size)
        super().__init__(env=env)

    def _take_snapshots(self, processing_event: ProcessingEvent[UUID]) -> None:
        """A case saved at a snapshot version is snapshotted as it is in memory: its
        state is what its events replay to. The library would read it back first (a
        round trip and a replay of up to `snapshot_interval` events in the command).
        A save of several events that passes the interval is left to the library."""
        for event in processing_event.events:
            case = processing_event.aggregates.get(event.originator_id)
            interval = self.snapshotting_intervals.get(type(case))  # type: ignore[arg-type]
            if case is None or interval is None or event.originator_version % interval:
                continue
            if case.version != event.originator_version:
                self.take_snapshot(event.originator_id, event.originator_version)
            elif self.snapshots is not None:
                taking = getattr(type(case), "Snapshot", self.snapshot_class)
                if taking is not None:
                    self.snapshots.put([taking.take(case)])

    def construct_env(self, name: str, env: EnvType | None = None) -> Environment:
        # Only what the composition root passes: the process environment must not
        # reconfigure the store behind the settings' back.
        return Environment(name, dict(env or {}))

    def construct_mapper(self) -> Mapper[UUID]:
        if self._mapper is None:
            return super().construct_mapper()
        return self._mapper(self.construct_transcoder())

    def construct_repository(self) -> Repository[UUID]:
        return CaseRepository(event_store=self.events, snapshot_store=self.snapshots)

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        self._transcodings(transcoder)

    @property
    def idempotency(self) -> IdempotencyStore:
        return self.recorder  # type: ignore[return-value]

    @property
    def index(self) -> CaseIndex:
        return self.recorder  # type: ignore[return-value]

    def context(self, actor: Actor, correlation_id: str,
                backdating_reason: str | None = None) -> CommandContext:
        return CommandContext(actor=actor, at=self.clock.now(), correlation_id=correlation_id,
                              backdating_reason=backdating_reason,
                              backdating_tolerance=self.policy.exceptions.backdating_tolerance)

    # --- queries -------------------------------------------------------------

    def get_case(self, case_type: type[C], case_id: UUID, version: int | None = None) -> C:
        case, _ = self._load(case_type, case_id, version)
        if version is not None and isinstance(case, Case) and case.version != version:
            raise CaseNotFound(f"{case_type.case_type} {case_id} has no version {version}; "
                               f"it is at version {case.version}")
        return self._visible(case_type, case_id, case)

    def _load(self, case_type: type[Case], case_id: UUID,
              version: int | None = None) -> tuple[Any, int | None]:
        """The case as stored (not yet checked against the caller's scope), and the
        key epoch it was read at."""
        try:
            return self.repository.load(case_id, version)  # type: ignore[attr-defined,no-any-return]
        except AggregateNotFoundError:
            raise CaseNotFound(f"no {case_type.case_type} {case_id}") from None

    @staticmethod
    def _visible(case_type: type[C], case_id: UUID, case: object) -> C:
        scope = current_scope.get()
        if not isinstance(case, case_type) or (scope is not None and not scope.sees(case)):
            raise CaseNotFound(f"no {case_type.case_type} {case_id}")  # SEC-AUTH-2: as missing
        return case

    @contextlib.contextmanager
    def keys_as_now(self) -> Iterator[None]:
        """Events read before this decode with the customer keys cached at the store's
        key epoch, read now (RET-4): one query, not a key lookup an event. Read the
        rows first: what they hold was readable at this instant."""
        reading = key_epoch_read.set(self.recorder.key_epoch())  # type: ignore[attr-defined]
        try:
            yield
        finally:
            key_epoch_read.reset(reading)

    def events_of(self, case_id: UUID, lte: int | None = None) -> list[Any]:
        """The case's events (up to version `lte`), decoded."""
        stored = self.events.get(case_id, lte=lte)  # the rows are read here ...
        with self.keys_as_now():
            return list(stored)  # ... and decoded here

    def history(self, case_type: type[Case], case_id: UUID) -> Sequence[DomainEventProtocol[UUID]]:
        return self.stored_history(case_type, case_id).events

    def stored_history(self, case_type: type[Case], case_id: UUID) -> StoredHistory:
        """The case (CaseNotFound outside the caller's scope), then its stored records
        and chain read once, and its events decoded from those same records: what an
        auditor reads, verifies and exports comes from one read (AUD-1, AUD-4)."""
        case = self.get_case(case_type, case_id)
        records, chain = self.stored_records(case_id)
        try:
            with self.keys_as_now():
                events = [self.mapper.to_domain_event(StoredEvent(
                    originator_id=case_id, originator_version=r.version, topic=r.topic,
                    state=r.state)) for r in records]
        except PersistenceError:
            raise
        except UNREADABLE as e:  # an event that no longer decodes (AUD-3)
            raise HistoryDamaged(f"an event of case {case_id} does not decode "
                                 f"({type(e).__name__}); its verify call names it") from e
        return StoredHistory(case, records, chain, events)

    def case_after(self, case_type: type[C], result: CommandResult) -> C:
        """The case as the command left it: the saved object, or read back at the
        version a replayed command recorded."""
        if isinstance(result.case, case_type):
            return result.case
        return self.get_case(case_type, result.case_id, result.version)

    def get_case_as_of(self, case_type: type[C], case_id: UUID, instant: datetime) -> C:
        """AUD-2: the state as it was at `instant`: the last version recorded at or
        before it (from the timestamp index written with the events)."""
        version = self.recorder.version_at(case_id, instant)  # type: ignore[attr-defined]
        if version is None:
            self.get_case(case_type, case_id)  # 404 when there is no such case at all
            raise CaseNotFound(f"{case_type.case_type} {case_id} did not exist at "
                               f"{instant.isoformat()}")
        return self.get_case(case_type, case_id, version=version)

    def read(self, case_type: type[C], case_id: UUID, *, version: int | None = None,
             as_of: datetime | None = None) -> tuple[C, datetime]:
        """AUD-2: the case now, at a version, or as of an instant, with the instant at
        which what depends on time (obligation states) is to be judged: the as-of
        instant, the instant the version was recorded, or now. Never today for a
        past state."""
        if as_of is not None:
            return self.get_case_as_of(case_type, case_id, as_of), as_of
        case = self.get_case(case_type, case_id, version=version)
        return case, case.modified_on if version is not None else self.clock.now()

    def stored_records(self, case_id: UUID) -> tuple[list[StoredRecord], list[int]]:
        return self.recorder.case_records(case_id)  # type: ignore[attr-defined,no-any-return]

    def verify_case(self, case_id: UUID, head: Head | None = None,
                    checkpoint: int | None = None) -> Verification:
        """AUD-3: recompute the case's hash chain and name the first broken link."""
        records, chain = self.stored_records(case_id)
        return verify(case_id, records, chain, head, checkpoint)

    def obligations(self, case: Case, now: datetime | None = None) -> list[Obligation]:
        """What the case owes under the policy in force, as of `now` (SLA-1)."""
        if isinstance(case, ServiceException):
            return exception_obligations.obligations(
                case, self.policy.exceptions, self.calendar, now or self.clock.now())
        if isinstance(case, SurveyCampaign):
            return survey_obligations.obligations(
                case, self.policy.surveys, self.calendar, now or self.clock.now())
        if isinstance(case, CorrectiveAction):
            return case.obligations(self.policy.corrective_actions, self.calendar,
                                    now or self.clock.now())
        return []

    def ensure_visible(self, case_type: type[Case], case_id: UUID) -> None:
        """SEC-AUTH-2 for a read that does not load the case (verify): CaseNotFound when
        it is out of the caller's scope; a case that cannot be replayed is judged by
        its department in the index."""
        scope = current_scope.get()
        if scope is None or scope.everywhere:
            return
        try:
            self.get_case(case_type, case_id)
        except HistoryDamaged:
            department = self.index.case_department(case_id)
            if department is None or not scope.sees_department(department):
                raise CaseNotFound(f"no {case_type.case_type} {case_id}") from None

    def search(self, filters: SearchFilters, limit: int, cursor: str | None) -> Page:
        """Newest first; only the caller's departments (SEC-AUTH-2)."""
        scope = current_scope.get()
        if scope is not None and scope.departments is not None:
            departments = scope.departments if filters.department is None \
                else scope.departments & {filters.department}
            if not departments:
                return Page(items=[], next_cursor=None)
            filters = replace(filters, department=None, departments=departments)
        after = Cursor.decode(cursor) if cursor else None
        rows = self.index.search_cases(filters, limit + 1, after)
        more = len(rows) > limit
        items = rows[:limit]
        next_cursor = Cursor(items[-1].opened_at, items[-1].case_id).encode() if more else None
        return Page(items=items, next_cursor=next_cursor)

    def is_ready(self) -> bool:
        """The store answers and its schema exists."""
        self.recorder.check_schema()  # type: ignore[attr-defined]
        return True

    # --- commands ------------------------------------------------------------

    def open(
        self,
        create: Callable[[], C],
        *,
        idempotency: Idempotency | None = None,
        status_code: int = 201,
        render: Render | None = None,
    ) -> CommandResult:
        if replay := self._replay(idempotency):
            return replay
        case = create()
        return self._save(case, idempotency, status_code, render=render)

    def execute(
        self,
        case_type: type[C],
        case_id: UUID,
        command: Callable[[C], Any],
        *,
        expected_version: int | None = None,
        idempotency: Idempotency | None = None,
        status_code: int = 200,
        render: Render | None = None,
    ) -> CommandResult:
        """Run `command` on the case; new cases the command returns (a list of Case)
        are saved with it, atomically. `render` makes the response before the save,
        so the Idempotency-Key record keeps it (AUD-6).

        The case comes from this process's recent cases when it is there (no read).
        Should the save find the remembered copy stale (another process wrote the
        case, or a customer key was destroyed since), the case is read from the store
        and the command run once more on it; that run's conflict is the client's
        (409, or 412 with If-Match), exactly as without the memory."""
        if replay := self._replay(idempotency):
            return replay
        remembered = self.recent.get(case_id)
        if remembered is not None and expected_version in (None, remembered[0].version):
            with contextlib.suppress(_StaleCopy):
                return self._run(case_type, remembered[0], remembered[1], command,
                                 idempotency, status_code, render)
        case, epoch = self._load(case_type, case_id)
        if expected_version is not None and expected_version != case.version:
            self._visible(case_type, case_id, case)
            raise StaleVersion(expected_version, case.version)
        return self._run(case_type, case, epoch, command, idempotency, status_code, render,
                         remembered=False)

    def _run(self, case_type: type[C], case: Any, epoch: int | None,
             command: Callable[[C], Any], idempotency: Idempotency | None, status_code: int,
             render: Render | None, *, remembered: bool = True) -> CommandResult:
        """The command on `case` and the save. On a remembered copy, whatever goes
        wrong before the store answers, and a conflict, may come of the copy being
        stale: _StaleCopy, and the caller reads the case and runs it again."""
        try:
            visible = self._visible(case_type, case.id, case)
            created = command(visible)
        except Exception:
            if not remembered:
                raise
            self.recent.forget(case.id)
            raise _StaleCopy from None
        also = [c for c in created if isinstance(c, Case)] if isinstance(created, list) else []
        try:
            result = self._save(visible, idempotency, status_code, *also, render=render,
                                key_epoch=epoch, conflict_version=not remembered)
        except ConcurrentUpdate:
            self.recent.forget(case.id)
            if remembered:
                raise _StaleCopy from None
            raise
        if not result.replayed:
            self.recent.put(visible, epoch)
        return result

    def place_hold(self, ctx: CommandContext, *, case_id: str | None, customer_id: str | None,
                   reason: str, idempotency: Idempotency | None = None,
                   render: Render | None = None) -> CommandResult:
        """RET-2: a hold on a case (which must exist) or on a customer."""
        if case_id is not None:
            self.get_case(Case, UUID(case_id))
        if replay := self._replay(idempotency):
            return replay
        hold = LegalHold.place(ctx, case_id=case_id, customer_id=customer_id, reason=reason)
        return self._save(hold, idempotency, 201, render=render)

    def release_hold(self, ctx: CommandContext, hold_id: UUID, reason: str) -> CommandResult:
        hold = self.get_hold(hold_id)
        hold.release(ctx, reason=reason)
        return self._save(hold, None, 200)

    def file_summary(self, ctx: CommandContext, *, kind: SummaryKind, period: str,
                     department: str | None, period_end: datetime, figures: str,
                     reason: str | None) -> tuple[SummaryFiling, int]:
        """EX-SIGN-1: submit a weekly or monthly summary for filing, or file it again
        with a reason once its figures changed. The filing and 201, or 200 again."""
        try:
            filing = self.get_filing(kind, period, department)
        except CaseNotFound:
            new = SummaryFiling.submit(ctx, kind=kind, period=period, department=department,
                                       period_end=period_end, figures=figures)
            self._save(new, None, 201)
            return new, 201
        filing.resubmit(ctx, period_end=period_end, figures=figures, reason=reason)
        self._save(filing, None, 200)
        return filing, 200

    def get_filing(self, kind: SummaryKind, period: str,
                   department: str | None) -> SummaryFiling:
        try:
            filing: object = self.repository.get(filing_id(kind, period, department))
        except AggregateNotFoundError:
            raise CaseNotFound(f"no {kind.value} summary {period} filed"
                               + (f" for {department}" if department else "")) from None
        assert isinstance(filing, SummaryFiling)
        return filing

    def get_hold(self, hold_id: UUID) -> LegalHold:
        try:
            hold: object = self.repository.get(hold_id)
        except AggregateNotFoundError:
            raise CaseNotFound(f"no legal hold {hold_id}") from None
        if not isinstance(hold, LegalHold):
            raise CaseNotFound(f"no legal hold {hold_id}")
        return hold

    def save_many(self, new_cases: list[Case]) -> CommandResult:
        """New cases saved together, all or nothing."""
        return self._save(new_cases[0], None, 201, *new_cases[1:])

    def save_case(self, case: Case) -> CommandResult:
        """Save what a command already did to a loaded case (ConcurrentUpdate on a race)."""
        return self._save(case, None, 200)

    def _replay(self, idempotency: Idempotency | None) -> CommandResult | None:
        if idempotency is None:
            return None
        record = self.idempotency.find_idempotency(idempotency.scope, idempotency.key)
        if record is None:
            return None
        if record.fingerprint != idempotency.fingerprint:
            raise IdempotencyKeyReused(
                "this Idempotency-Key was already used with a different request")
        return CommandResult(record.case_id, record.case_version, record.status_code,
                             replayed=True, response=record.response)

    def _current_version(self, case_id: UUID) -> int | None:
        """The version another writer left, for the loser's 409 (API.md): the last
        event's (not the whole history, which every loser of a race would read)."""
        last = self.recorder.select_events(case_id, desc=True, limit=1)
        return last[0].originator_version if last else None

    def retain_until(self, case: Case) -> datetime | None:
        """RET-1, RET-4: the end of a case's retention, per its type; None while open."""
        if case.retention_start is None:
            return None
        years = getattr(self.policy.retention, f"{case.case_type}s_years")
        return self.calendar.add_months(case.retention_start, 12 * years)

    def reindex_retention(self) -> int:
        """Give each case the index knows without a retention end the one its history
        gives now (after an upgrade that added one, e.g. directory customers, RET-4).
        How many got one."""
        done = 0
        for case_id in self.index.without_retention_end():
            try:
                case: object = self.repository.get(case_id)
            except (AggregateNotFoundError, HistoryDamaged):
                continue
            if isinstance(case, Case) and (until := self.retain_until(case)) is not None:
                self.index.set_retention_end(case_id, case.version, until)
                done += 1
        return done

    def _save(self, case: Case | LegalHold | SummaryFiling, idempotency: Idempotency | None,
              status_code: int, *also: Case, render: Render | None = None,
              key_epoch: int | None = None, conflict_version: bool = True) -> CommandResult:
        """Save the case, and any other aggregates its command touched, in one
        transaction: the events, their links, their index rows and the key with the
        response it answers (AUD-6). With `key_epoch` (the one the case was read at),
        the store refuses the save unless its key epoch is still that one (RET-4).
        `conflict_version`: whether a ConcurrentUpdate carries the version the
        winner left."""
        response = render(case) if render is not None else None
        record = None
        if idempotency is not None:
            record = IdempotencyRecord(
                scope=idempotency.scope, key=idempotency.key,
                fingerprint=idempotency.fingerprint, status_code=status_code,
                case_id=case.id, case_version=case.version, created_at=self.clock.now(),
                response=response)
        aggregates = (case, *also)
        times = {(e.originator_id, e.originator_version): e.timestamp
                 for a in aggregates for e in a.pending_events}
        cases = [a for a in aggregates if isinstance(a, Case)]
        sealing = customers_saved.set({c.id: c.customer_id for c in cases if c.customer_id})
        # Keys cached at the epoch the case was read at seal its new events: the store
        # refuses the save if that epoch has passed (a key destroyed meanwhile).
        keying = key_epoch_read.set(key_epoch)
        try:
            self.save(*aggregates, idempotency=record, event_times=times, key_epoch=key_epoch,
                      case_summaries=[summarise(c, self.retain_until(c)) for c in cases],
                      legal_holds=[summarise_hold(a) for a in aggregates
                                   if isinstance(a, LegalHold)])
        except IntegrityError:
            # Either another writer took this version, or a concurrent request with
            # the same Idempotency-Key committed first: both rolled back ours whole.
            if replay := self._replay(idempotency):
                return replay
            raise ConcurrentUpdate(
                f"another change to {case.case_type} {case.id} was recorded first; "
                "reload it and try again",
                self._current_version(case.id) if conflict_version else None) from None
        finally:
            key_epoch_read.reset(keying)
            customers_saved.reset(sealing)
        return CommandResult(case.id, case.version, status_code, case=case, response=response)
