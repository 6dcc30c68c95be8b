"""The event store on SQLite (embedded default) or PostgreSQL (production).

Both backends are eventsourcing's own recorders, subclassed to write, inside the
same transaction as the events, the hash-chain link and timestamp of each event
(AUD-2, AUD-3), the Idempotency-Key record the events answer, and the case-index
row they change: on SQLite in `_insert_events` (the library's hook for exactly
that), on PostgreSQL in one call of the `casetrail_save` function (one round trip),
which computes the links in SQL from `application.audit.link_body`. Both load a
case with one query (`select_case_stream`).
Tables are created only by `casetrail db upgrade` (infrastructure/migrations), never
as a side effect of starting up.
"""

from __future__ import annotations

import functools
import getpass
import itertools
import json
import select
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.persistence import (
    IntegrityError,
    InterfaceError,
    OperationalError,
    ProgrammingError,
    StoredEvent,
)
from eventsourcing.postgres import (
    PostgresApplicationRecorder,
    PostgresDatastore,
    PostgresFactory,
)
from eventsourcing.sqlite import (
    SQLiteApplicationRecorder,
    SQLiteCursor,
    SQLiteDatastore,
    SQLiteFactory,
)
from eventsourcing.utils import retry
from psycopg.sql import SQL, Identifier
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from application.app import CaseStream
from application.audit import GENESIS, StoredRecord, link, link_body
from application.case_index import CaseSummary, Cursor, HoldSummary, SearchFilters
from application.idempotency import IdempotencyRecord, StoredResponse
from infrastructure.migrations import VERSION_TABLE, head
from infrastructure.settings import Settings

IDEMPOTENCY_TABLE = "casetrail_idempotency"
CHAIN_TABLE = "casetrail_chain"
CHECKPOINTS_TABLE = "casetrail_checkpoints"
KEYS_TABLE = "casetrail_customer_keys"
KEY_STATE_TABLE = "casetrail_key_state"
RUNS_TABLE = "casetrail_report_runs"
CASES_TABLE = "casetrail_cases"
SAVE_FUNCTION = "casetrail_save"
SAVE_ONE_FUNCTION = "casetrail_save_one"
CASE_COLUMNS = ("case_id", "case_type", "version", "status", "level", "category",
                "customer_id", "customer_name", "department", "title", "opened_at",
                "updated_at", "closed_at", "retain_until", "erased_at")
CASE_INSTANTS = ("opened_at", "updated_at", "closed_at", "retain_until", "erased_at")
HOLDS_TABLE = "casetrail_holds"
LINKS_TABLE = "casetrail_console_links"
"""Web console sign-in links redeemed: each works once."""
HOLD_COLUMNS = ("hold_id", "case_id", "customer_id", "reason", "placed_at", "released_at")
_FILTERS = ("status", "level", "category", "customer_id", "department")


SCHEMA_VERSION_SQL = "SELECT max(version_num) AS revision FROM {table}"


def require_revision(row: Any) -> None:
    """The schema must be at this release's head revision (`casetrail db upgrade`)."""
    found, needed = row["revision"] if row else None, head()
    if found != needed:
        raise ProgrammingError(f"the schema is at revision {found or 'none'}, this release "
                               f"needs {needed}: run `casetrail db upgrade`")


def values(p: str, count: int) -> str:
    return f"VALUES ({', '.join([p] * count)})"


def upsert_hold(table: str, rows: str) -> str:
    """`rows`: a VALUES or SELECT of HOLD_COLUMNS, in order."""
    return (f"INSERT INTO {table} ({', '.join(HOLD_COLUMNS)}) {rows} "
            "ON CONFLICT (hold_id) DO UPDATE SET released_at = excluded.released_at")


def upsert_case(table: str, rows: str) -> str:
    """`rows`: a VALUES or SELECT of CASE_COLUMNS, in order; an older version never
    overwrites a newer one."""
    return (f"INSERT INTO {table} ({', '.join(CASE_COLUMNS)}) {rows} "
            "ON CONFLICT (case_id) DO UPDATE SET "
            + ", ".join(f"{c} = excluded.{c}" for c in CASE_COLUMNS[1:])
            + f" WHERE excluded.version > {table}.version")


def search_statement(table: str, filters: SearchFilters, limit: int, after: Cursor | None,
                     placeholder: str, instant: Any) -> tuple[str, list[Any]]:
    """Filters and keyset paging, newest first. `instant` converts datetimes to the
    backend's stored form."""
    where, params = ["case_type = {p}"], [filters.case_type]
    for name in _FILTERS:
        value = getattr(filters, name)
        if value is not None:
            where.append(f"{name} = {{p}}")
            params.append(value)
    if filters.departments is not None:
        where.append(f"department IN ({', '.join(['{p}'] * len(filters.departments))})")
        params += sorted(filters.departments)
    if filters.opened_from is not None:
        where.append("opened_at >= {p}")
        params.append(instant(filters.opened_from))
    if filters.opened_to is not None:
        where.append("opened_at < {p}")
        params.append(instant(filters.opened_to))
    if after is not None:
        where.append("(opened_at < {p} OR (opened_at = {p} AND case_id < {p}))")
        params += [instant(after.opened_at), instant(after.opened_at), after.case_id]
    sql = (f"SELECT * FROM {table} WHERE {' AND '.join(where)} "
           "ORDER BY opened_at DESC, case_id DESC LIMIT {p}")
    return sql.replace("{p}", placeholder), [*params, limit]


def chain_rows(stored_events: Sequence[StoredEvent],
               times: dict[tuple[UUID, int], datetime],
               previous: Callable[[UUID, int], bytes]) -> list[tuple[UUID, int, datetime | None,
                                                                     str, str]]:
    """The chain links of a batch of events: (case, version, recorded_at, prev, hash)."""
    heads: dict[UUID, bytes] = {}
    rows = []
    for s in stored_events:
        case_id, version = UUID(str(s.originator_id)), s.originator_version
        prev = heads.get(case_id)
        if prev is None:
            prev = GENESIS if version == 1 else previous(case_id, version - 1)
        digest = link(prev, case_id, version, s.topic, s.state)
        rows.append((case_id, version, times.get((case_id, version)), prev.hex(), digest.hex()))
        heads[case_id] = digest
    return rows


def _records(rows: Any) -> list[StoredRecord]:
    return [StoredRecord(seq=r["seq"], version=r["version"], topic=r["topic"],
                         state=bytes(r["state"]), hash=r["hash"], prev_hash=r["prev_hash"])
            for r in rows]


CaseRecords = tuple[UUID, list[StoredRecord], list[int]]


def merge_by_case(events: Iterable[Any], chain: Iterable[Any]) -> Iterator[CaseRecords]:
    """Two scans ordered by case (the events with their links; the chain's versions)
    merged into each case's records and chain versions, a case at a time: a case
    may have events and no chain rows, or chain rows and no events (damage)."""
    grouped_events = itertools.groupby(events, key=lambda r: r["case_id"])
    grouped_chain = itertools.groupby(chain, key=lambda r: r["case_id"])
    e, c = next(grouped_events, None), next(grouped_chain, None)
    while e is not None or c is not None:
        if c is None or (e is not None and e[0] < c[0]):
            assert e is not None
            yield _uuid(e[0]), _records(e[1]), []
            e = next(grouped_events, None)
        elif e is None or c[0] < e[0]:
            yield _uuid(c[0]), [], [r["version"] for r in c[1]]
            c = next(grouped_chain, None)
        else:
            yield _uuid(e[0]), _records(e[1]), [r["version"] for r in c[1]]
            e, c = next(grouped_events, None), next(grouped_chain, None)


def _uuid(value: Any) -> UUID:
    return value if isinstance(value, UUID) else UUID(value)


def _summary_from_row(row: Any) -> CaseSummary:
    def instant(value: Any) -> datetime:
        return value if isinstance(value, datetime) else datetime.fromisoformat(value)

    values = {name: row[name] for name in CASE_COLUMNS}
    values["case_id"] = UUID(str(values["case_id"]))
    for name in CASE_INSTANTS:
        if values[name] is not None:
            values[name] = instant(values[name])
    return CaseSummary(**values)


def _sqlite_row(values: Sequence[Any]) -> list[Any]:
    return [sqlite_instant(v) if isinstance(v, datetime) else v.hex if isinstance(v, UUID)
            else v for v in values]


def sqlite_instant(value: datetime) -> str:
    """Fixed-width UTC text, so that SQLite's text order is time order."""
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def _record_from_row(row: Any) -> IdempotencyRecord:
    created_at = row["created_at"]
    return IdempotencyRecord(
        scope=row["scope"],
        key=row["key"],
        fingerprint=row["fingerprint"],
        status_code=row["status_code"],
        case_id=UUID(str(row["case_id"])),
        case_version=row["case_version"],
        created_at=created_at if isinstance(created_at, datetime)
        else datetime.fromisoformat(created_at),
        response=StoredResponse.loads(row["response"]) if row["response"] else None,
    )


def _hold_from_row(row: Any) -> HoldSummary:
    def instant(value: Any) -> datetime | None:
        if value is None or isinstance(value, datetime):
            return value
        return datetime.fromisoformat(value)

    return HoldSummary(hold_id=UUID(str(row["hold_id"])), case_id=row["case_id"],
                       customer_id=row["customer_id"], reason=row["reason"],
                       placed_at=instant(row["placed_at"]),  # type: ignore[arg-type]
                       released_at=instant(row["released_at"]))


def snapshots_table(events_table_name: str) -> str:
    """The library names an application's snapshot table after its events table."""
    return events_table_name.removesuffix("_events") + "_snapshots"


def case_stream_sql(events: str, snapshots: str, key_state: str, p: str, bounded: bool) -> str:
    """A case's latest snapshot (at or before the bound) and the events after it, in
    one round trip: the snapshot row first (`is_snapshot` 1), then the events. Each
    row carries the key epoch of the same snapshot of the store (RET-4)."""
    upto = f" AND originator_version <= {p}" if bounded else ""
    epoch = f"(SELECT epoch FROM {key_state} WHERE id = 1)"
    return (
        f"WITH s AS (SELECT originator_version, topic, state FROM {snapshots} "
        f"WHERE originator_id = {p}{upto} ORDER BY originator_version DESC LIMIT 1) "
        f"SELECT 1 AS is_snapshot, originator_version, topic, state, {epoch} AS key_epoch "
        f"FROM s UNION ALL SELECT 0, originator_version, topic, state, {epoch} "
        f"FROM {events} WHERE originator_id = {p}"
        f"{upto} AND originator_version > COALESCE((SELECT originator_version FROM s), 0) "
        "ORDER BY is_snapshot DESC, originator_version")


SAVE_PARAMETERS = (
    ("p_ids", "uuid[]"), ("p_versions", "bigint[]"), ("p_topics", "text[]"),
    ("p_states", "bytea[]"), ("p_case", "uuid[]"), ("p_version", "bigint[]"),
    ("p_at", "timestamptz[]"), ("p_body", "bytea[]"), ("p_first", "boolean[]"),
    ("p_cases", "jsonb"), ("p_holds", "jsonb"), ("p_idem", "jsonb"), ("p_lock_timeout", "text"),
    ("p_key_epoch", "bigint"))
"""The save function's parameters: its signature and the order of its arguments. The
events come as columns (plain arrays): an array of the library's composite type cost
more to send and to parse."""

SAVE_ONE_PARAMETERS = (
    ("p_id", "uuid"), ("p_version", "bigint"), ("p_topic", "text"), ("p_state", "bytea"),
    ("p_at", "timestamptz"), ("p_body", "bytea"), *SAVE_PARAMETERS[-5:])
"""The one-event save function's: the event and its link, then as the save function's."""

KEY_EPOCH_MOVED = ("customer keys were destroyed since this case was read; it is read "
                   "again (RET-4)")


def save_function(schema: str, *, events: str, channel: str) -> str:
    """PostgreSQL: everything a save writes, in one call and so one round trip (the
    library's pipelined transaction took four, and most of a command's client time).
    In order: the case-index and hold upserts; the library's table lock, which keeps
    notification ids in commit order for the views' tracking, and its NOTIFY; the
    events, whose (case, version) key refuses a writer that lost the race; their
    hash-chain links (AUD-3), computed in a loop over the events in (case, version)
    order, each case's first from its stored predecessor; the Idempotency-Key row,
    whose key refuses the slower of two identical requests. Any refusal raises and
    rolls back the whole call. First of all, a case a process remembered rather than
    read (`p_key_epoch`, the key epoch it was read at) is refused when a customer key
    was destroyed since: what it remembers may be what the key sealed (RET-4)."""
    q = Identifier(schema).as_string()
    chain = f"{q}.{CHAIN_TABLE}"
    return _save_body(schema, events, channel, SAVE_FUNCTION, SAVE_PARAMETERS, "SETOF bigint",
                      """
    prev text;
    prevs text[];
    hashes text[];""", f"""
    RETURN QUERY INSERT INTO {events} (originator_id, originator_version, topic, state)
        SELECT * FROM unnest(p_ids, p_versions, p_topics, p_states)
        RETURNING notification_id;
    FOR i IN 1 .. coalesce(array_length(p_case, 1), 0) LOOP
        IF p_first[i] THEN
            prev := coalesce((SELECT hash FROM {chain} WHERE case_id = p_case[i]
                              AND version = p_version[i] - 1), '{GENESIS.hex()}');
        END IF;
        prevs[i] := prev;
        prev := encode(sha256(decode(prev, 'hex') || p_body[i]), 'hex');
        hashes[i] := prev;
    END LOOP;
    INSERT INTO {chain} (case_id, version, recorded_at, prev_hash, hash)
        SELECT * FROM unnest(p_case, p_version, p_at, prevs, hashes);""", "")


def save_one_function(schema: str, *, events: str, channel: str) -> str:
    """The save function for the commonest save, one event: the same steps in the
    same order, the event and its link as plain values. Arrays cost the call more
    than the writes (bench/b1_save_parts.py: 0.44 of a raw INSERT's rate against 0.65,
    measured side by side)."""
    q = Identifier(schema).as_string()
    chain = f"{q}.{CHAIN_TABLE}"
    return _save_body(schema, events, channel, SAVE_ONE_FUNCTION, SAVE_ONE_PARAMETERS, "bigint",
                      """
    seq bigint;
    prev text;""", f"""
    INSERT INTO {events} (originator_id, originator_version, topic, state)
        VALUES (p_id, p_version, p_topic, p_state) RETURNING notification_id INTO seq;
    prev := coalesce((SELECT hash FROM {chain} WHERE case_id = p_id
                      AND version = p_version - 1), '{GENESIS.hex()}');
    INSERT INTO {chain} (case_id, version, recorded_at, prev_hash, hash)
        VALUES (p_id, p_version, p_at, prev,
                encode(sha256(decode(prev, 'hex') || p_body), 'hex'));""", """
    RETURN seq;""")


def _save_body(schema: str, events: str, channel: str, name: str,
               parameters: tuple[tuple[str, str], ...], returns: str, declare: str,
               writes: str, end: str) -> str:
    """A save function: the key-epoch check, the upserts, the lock and NOTIFY, then
    `writes` (the events and their links), then the Idempotency-Key row."""
    q = Identifier(schema).as_string()
    cases, holds, idem, key_state = (
        f"{q}.{t}" for t in (CASES_TABLE, HOLDS_TABLE, IDEMPOTENCY_TABLE, KEY_STATE_TABLE))
    return f"""
CREATE OR REPLACE FUNCTION {q}.{name}(
    {", ".join(f"{p} {type_}" for p, type_ in parameters)} DEFAULT NULL)
RETURNS {returns} LANGUAGE plpgsql AS $save$
DECLARE{declare}
BEGIN
    IF p_key_epoch <> (SELECT epoch FROM {key_state} WHERE id = 1) THEN
        RAISE integrity_constraint_violation USING MESSAGE = '{KEY_EPOCH_MOVED}';
    END IF;
    {upsert_case(cases, f"SELECT {', '.join(CASE_COLUMNS)} FROM "
                 f"jsonb_populate_recordset(NULL::{cases}, p_cases)")};
    {upsert_hold(holds, f"SELECT {', '.join(HOLD_COLUMNS)} FROM "
                 f"jsonb_populate_recordset(NULL::{holds}, p_holds)")};
    PERFORM set_config('lock_timeout', p_lock_timeout, true);
    LOCK TABLE {events} IN EXCLUSIVE MODE;
    NOTIFY {Identifier(channel).as_string()};{writes}
    IF p_idem IS NOT NULL THEN
        INSERT INTO {idem} SELECT * FROM jsonb_populate_record(NULL::{idem}, p_idem);
    END IF;{end}
END
$save$"""


def _case_version(stored: StoredEvent) -> tuple[str, int]:
    return str(stored.originator_id), stored.originator_version


def _json_default(obj: Any) -> str:
    return obj.isoformat() if isinstance(obj, datetime) else str(obj)  # instants, UUIDs


_dumps = functools.partial(json.dumps, default=_json_default)


def _json(value: Any) -> Jsonb:
    return Jsonb(value, dumps=_dumps)


def _case_stream(case_id: UUID, rows: Sequence[Any]) -> CaseStream:
    stored = [StoredEvent(originator_id=case_id, originator_version=r["originator_version"],
                          topic=r["topic"], state=bytes(r["state"])) for r in rows]
    epoch = rows[0]["key_epoch"] if rows else None
    if rows and rows[0]["is_snapshot"]:
        return CaseStream(stored[0], stored[1:], epoch)
    return CaseStream(None, stored, epoch)


class CustomerKeys:
    """Customers' data keys, stored wrapped by a key-encryption key (KEK), and the
    key state: one row whose `epoch` counts destroyed keys (every process drops its
    cached keys when it reads a newer one, RET-4) and whose `kek_version` names the
    KEK new keys are wrapped with. Writers of keys take that row's lock first, so a
    key added during a rotation is wrapped with the KEK the rotation leaves."""

    placeholder: str
    keys_sql: str
    key_state_sql: str
    datastore: Any

    def key_state_statements(self, bigint: str) -> list[str]:
        return [
            f"CREATE TABLE IF NOT EXISTS {self.keys_sql} (customer_id text PRIMARY KEY, "
            "wrapped_key text NOT NULL)",
            f"CREATE TABLE IF NOT EXISTS {self.key_state_sql} (id integer PRIMARY KEY "
            f"CHECK (id = 1), epoch {bigint} NOT NULL, kek_version integer NOT NULL, "
            f"rotated_epoch {bigint} NOT NULL)",
            f"INSERT INTO {self.key_state_sql} VALUES (1, 0, 1, 0) ON CONFLICT DO NOTHING"]

    def _claim_key_state(self, c: Any) -> tuple[int, int]:
        """Lock the key state for this transaction: (epoch, KEK version)."""
        c.execute(f"UPDATE {self.key_state_sql} SET epoch = epoch WHERE id = 1")
        c.execute(f"SELECT epoch, kek_version FROM {self.key_state_sql} WHERE id = 1")
        row = c.fetchone()
        if row is None:
            msg = f"{self.key_state_sql} has no row: run `casetrail db upgrade`"
            raise ProgrammingError(msg)
        return int(row["epoch"]), int(row["kek_version"])

    def key_epoch(self) -> int | None:
        """How many customer keys were destroyed so far (RET-4)."""
        with self.datastore.transaction(commit=False) as c:
            return self._key_epoch(c)

    def _key_epoch(self, c: Any) -> int | None:
        c.execute(f"SELECT epoch FROM {self.key_state_sql} WHERE id = 1")
        row = c.fetchone()
        return int(row["epoch"]) if row else None

    def rotation_due(self) -> bool:
        """A key was destroyed since the KEK was last rotated (RET-4)."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT epoch > rotated_epoch AS due FROM {self.key_state_sql} "
                      "WHERE id = 1")
            return bool(c.fetchone()["due"])

    def wrapped_key(self, customer_id: str) -> str | None:
        with self.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT wrapped_key FROM {self.keys_sql} WHERE customer_id = "
                      f"{self.placeholder}", (customer_id,))
            row = c.fetchone()
            return str(row["wrapped_key"]) if row else None

    def add_wrapped_key(self, customer_id: str, wrap: Callable[[int], str]) -> str:
        """The customer's wrapped key: the one stored, or `wrap(kek_version)` stored
        now. Another process may add it first: the first one stays."""
        p = self.placeholder
        with self.datastore.transaction(commit=True) as c:
            _, version = self._claim_key_state(c)
            c.execute(f"SELECT wrapped_key FROM {self.keys_sql} WHERE customer_id = {p}",
                      (customer_id,))
            row = c.fetchone()
            if row is not None:
                return str(row["wrapped_key"])
            wrapped = wrap(version)
            c.execute(f"INSERT INTO {self.keys_sql} VALUES ({p}, {p})", (customer_id, wrapped))
            return wrapped

    def destroy_key(self, customer_id: str) -> None:
        """Crypto-shredding: the key row goes and the epoch moves on, in one commit."""
        with self.datastore.transaction(commit=True) as c:
            self._claim_key_state(c)
            self._scrubbing(c)
            c.execute(f"DELETE FROM {self.keys_sql} WHERE customer_id = {self.placeholder}",
                      (customer_id,))
            c.execute(f"UPDATE {self.key_state_sql} SET epoch = epoch + 1 WHERE id = 1")
        self._scrub()

    def rewrap_keys(self, version: int, rewrap: Callable[[str, str], str]) -> int | None:
        """Make `version` the KEK and rewrap every key with it, in one transaction.
        None (nothing done) when the store is at that version or a later one already."""
        p = self.placeholder
        with self.datastore.transaction(commit=True) as c:
            _, current = self._claim_key_state(c)
            if current >= version:
                return None
            self._scrubbing(c)
            c.execute(f"UPDATE {self.key_state_sql} SET kek_version = {p}, "
                      "rotated_epoch = epoch WHERE id = 1", (version,))
            c.execute(f"SELECT customer_id, wrapped_key FROM {self.keys_sql}")
            rows = [(r["customer_id"], r["wrapped_key"]) for r in c.fetchall()]
            for customer_id, wrapped in rows:
                c.execute(f"UPDATE {self.keys_sql} SET wrapped_key = {p} WHERE customer_id = {p}",
                          (rewrap(customer_id, wrapped), customer_id))
        self._scrub()
        return len(rows)

    def _scrubbing(self, c: Any) -> None:
        """Before key rows are deleted or replaced, in their transaction."""

    def _scrub(self) -> None:
        """After key rows were deleted or replaced."""


class IndexQueries:
    """Reads of the case index and holds that retention needs, on either backend."""

    placeholder: str
    cases_sql: str
    holds_sql: str

    def _rows(self, sql: str, params: list[Any]) -> list[Any]:
        raise NotImplementedError

    def _value(self, value: Any) -> Any:
        return value

    def case_department(self, case_id: UUID) -> str | None:
        rows = self._rows(f"SELECT department FROM {self.cases_sql} WHERE case_id = "
                          f"{self.placeholder}", [self._value(case_id)])
        return rows[0]["department"] if rows else None

    def retention_due(self, before: datetime, limit: int = 10_000) -> list[CaseSummary]:
        """Closed cases whose retention ends at or before `before`, not yet erased."""
        p = self.placeholder
        return [_summary_from_row(r) for r in self._rows(
            f"SELECT * FROM {self.cases_sql} WHERE retain_until <= {p} AND erased_at IS NULL "
            f"ORDER BY retain_until LIMIT {p}", [self._value(before), limit])]

    def without_retention_end(self) -> list[UUID]:
        return [r["case_id"] if isinstance(r["case_id"], UUID) else UUID(r["case_id"])
                for r in self._rows(f"SELECT case_id FROM {self.cases_sql} "
                                    "WHERE retain_until IS NULL", [])]

    def set_retention_end(self, case_id: UUID, version: int, retain_until: datetime) -> None:
        """Unless the case has moved on since it was read (its own save sets it)."""
        p = self.placeholder
        self._write(f"UPDATE {self.cases_sql} SET retain_until = {p} WHERE case_id = {p} "
                    f"AND version = {p}", [self._value(retain_until), self._value(case_id),
                                           version])

    def customer_cases(self, customer_id: str) -> list[CaseSummary]:
        return [_summary_from_row(r) for r in self._rows(
            f"SELECT * FROM {self.cases_sql} WHERE customer_id = {self.placeholder}",
            [customer_id])]

    def count_cases(self, case_type: str, opened_from: datetime, opened_to: datetime) -> int:
        p = self.placeholder
        rows = self._rows(f"SELECT COUNT(*) AS n FROM {self.cases_sql} WHERE case_type = {p} "
                          f"AND opened_at >= {p} AND opened_at < {p}",
                          [case_type, self._value(opened_from), self._value(opened_to)])
        return int(rows[0]["n"])

    def find_by_title(self, case_type: str, title: str) -> list[CaseSummary]:
        p = self.placeholder
        return [_summary_from_row(r) for r in self._rows(
            f"SELECT * FROM {self.cases_sql} WHERE case_type = {p} AND title = {p}",
            [case_type, title])]

    runs_sql: str

    def record_report_run(self, kind: str, period: str, produced_at: datetime,
                          payload: str) -> bool:
        """Once per kind and period; False when it was already produced."""
        p = self.placeholder
        inserted = self._write(f"INSERT INTO {self.runs_sql} VALUES ({p}, {p}, {p}, {p}) "
                               "ON CONFLICT DO NOTHING RETURNING kind",
                               [kind, period, self._value(produced_at), payload])
        return bool(inserted)

    links_sql: str

    def redeem_link(self, jti: str, user: str, at: datetime) -> bool:
        """A web console sign-in link works once: False when it was used before."""
        p = self.placeholder
        return bool(self._write(f"INSERT INTO {self.links_sql} VALUES ({p}, {p}, {p}) "
                                "ON CONFLICT DO NOTHING RETURNING jti",
                                [jti, user, self._value(at)]))

    def forget_links(self, before: datetime) -> None:
        """Redeemed links name a user: kept only while they could still be replayed."""
        self._write(f"DELETE FROM {self.links_sql} WHERE used_at < {self.placeholder} "
                    "RETURNING jti", [self._value(before)])

    def report_runs(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self._rows(
            f"SELECT * FROM {self.runs_sql} ORDER BY produced_at, kind, period", [])]

    def _write(self, sql: str, params: list[Any]) -> list[Any]:
        """Run a statement in its own transaction; the rows it returns."""
        raise NotImplementedError

    def active_holds(self) -> list[HoldSummary]:
        return [_hold_from_row(r) for r in self._rows(
            f"SELECT * FROM {self.holds_sql} WHERE released_at IS NULL ORDER BY placed_at", [])]


class SQLiteCaseRecorder(CustomerKeys, IndexQueries, SQLiteApplicationRecorder):
    placeholder = "?"
    keys_sql = KEYS_TABLE
    key_state_sql = KEY_STATE_TABLE
    cases_sql = CASES_TABLE
    holds_sql = HOLDS_TABLE
    runs_sql = RUNS_TABLE
    links_sql = LINKS_TABLE

    def _write(self, sql: str, params: list[Any]) -> list[Any]:
        with self.datastore.transaction(commit=True) as c:
            c.execute(sql, params)
            return list(c.fetchall())

    def _rows(self, sql: str, params: list[Any]) -> list[Any]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(sql, params)
            return list(c.fetchall())

    def _value(self, value: Any) -> Any:
        if isinstance(value, UUID):
            return value.hex
        return sqlite_instant(value) if isinstance(value, datetime) else value

    def __init__(self, datastore: SQLiteDatastore, events_table_name: str = "stored_events"):
        super().__init__(datastore, events_table_name)
        self.case_stream_sql = {
            bounded: case_stream_sql(events_table_name, snapshots_table(events_table_name),
                                     KEY_STATE_TABLE, "?", bounded) for bounded in (False, True)}

    def construct_create_table_statements(self) -> list[str]:
        return [
            *super().construct_create_table_statements(),
            f"CREATE TABLE IF NOT EXISTS {IDEMPOTENCY_TABLE} ("
            "scope TEXT NOT NULL, key TEXT NOT NULL, fingerprint TEXT NOT NULL, "
            "status_code INTEGER NOT NULL, case_id TEXT NOT NULL, "
            "case_version INTEGER NOT NULL, created_at TEXT NOT NULL, response TEXT, "
            "PRIMARY KEY (scope, key)) WITHOUT ROWID",
            f"CREATE TABLE IF NOT EXISTS {CASES_TABLE} ("
            "case_id TEXT PRIMARY KEY, case_type TEXT NOT NULL, version INTEGER NOT NULL, "
            "status TEXT NOT NULL, level TEXT, category TEXT, customer_id TEXT, "
            "customer_name TEXT, department TEXT NOT NULL, title TEXT NOT NULL, "
            "opened_at TEXT NOT NULL, updated_at TEXT NOT NULL, closed_at TEXT, "
            "retain_until TEXT, erased_at TEXT)",
            f"CREATE INDEX IF NOT EXISTS {CASES_TABLE}_by_customer ON {CASES_TABLE} "
            "(customer_id)",
            f"CREATE INDEX IF NOT EXISTS {CASES_TABLE}_by_retention ON {CASES_TABLE} "
            "(retain_until)",
            f"CREATE TABLE IF NOT EXISTS {HOLDS_TABLE} (hold_id TEXT PRIMARY KEY, case_id TEXT, "
            "customer_id TEXT, reason TEXT NOT NULL, placed_at TEXT NOT NULL, released_at TEXT)",
            f"CREATE INDEX IF NOT EXISTS {CASES_TABLE}_by_type_opened "
            f"ON {CASES_TABLE} (case_type, opened_at DESC, case_id DESC)",
            f"CREATE TABLE IF NOT EXISTS {CHAIN_TABLE} (case_id TEXT NOT NULL, "
            "version INTEGER NOT NULL, recorded_at TEXT, prev_hash TEXT NOT NULL, "
            "hash TEXT NOT NULL, PRIMARY KEY (case_id, version)) WITHOUT ROWID",
            f"CREATE TABLE IF NOT EXISTS {CHECKPOINTS_TABLE} (seq INTEGER PRIMARY KEY "
            "AUTOINCREMENT, payload TEXT NOT NULL, signature TEXT NOT NULL, "
            "key_fingerprint TEXT NOT NULL)",
            *self.key_state_statements("INTEGER"),
            f"CREATE TABLE IF NOT EXISTS {RUNS_TABLE} (kind TEXT NOT NULL, period TEXT NOT NULL, "
            "produced_at TEXT NOT NULL, payload TEXT NOT NULL, PRIMARY KEY (kind, period))",
            f"CREATE TABLE IF NOT EXISTS {LINKS_TABLE} (jti TEXT PRIMARY KEY, "
            "user_id TEXT NOT NULL, used_at TEXT NOT NULL) WITHOUT ROWID",
        ]

    def create_table(self) -> None:
        super().create_table()
        with self.datastore.transaction(commit=True) as c:
            c.execute(f"SELECT name FROM pragma_table_info('{IDEMPOTENCY_TABLE}')")
            if "response" not in {r["name"] for r in c.fetchall()}:  # made before AUD-6
                c.execute(f"ALTER TABLE {IDEMPOTENCY_TABLE} ADD COLUMN response TEXT")

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        def previous(case_id: UUID, version: int) -> bytes:
            c.execute(f"SELECT hash FROM {CHAIN_TABLE} WHERE case_id=? AND version=?",
                      (case_id.hex, version))
            row = c.fetchone()
            return bytes.fromhex(row["hash"]) if row else GENESIS

        epoch = kwargs.get("key_epoch")  # see save_function
        if epoch is not None and self._key_epoch(c) not in (None, epoch):
            raise IntegrityError(KEY_EPOCH_MOVED)
        c.executemany(f"INSERT INTO {CHAIN_TABLE} VALUES (?,?,?,?,?)", [
            (case_id.hex, version, sqlite_instant(at) if at else None, prev, digest)
            for case_id, version, at, prev, digest
            in chain_rows(stored_events, kwargs.get("event_times", {}), previous)])
        record: IdempotencyRecord | None = kwargs.get("idempotency")
        if record is not None:
            row = record.row() | {"case_id": record.case_id.hex,
                                  "created_at": sqlite_instant(record.created_at)}
            c.execute(f"INSERT INTO {IDEMPOTENCY_TABLE} ({', '.join(row)}) "
                      f"{values('?', len(row))}", list(row.values()))
        summary: CaseSummary
        for summary in kwargs.get("case_summaries", ()):
            c.execute(upsert_case(CASES_TABLE, values("?", len(CASE_COLUMNS))),
                      _sqlite_row([getattr(summary, name) for name in CASE_COLUMNS]))
        hold: HoldSummary
        for hold in kwargs.get("legal_holds", ()):
            c.execute(upsert_hold(HOLDS_TABLE, values("?", len(HOLD_COLUMNS))),
                      _sqlite_row([getattr(hold, name) for name in HOLD_COLUMNS]))
        return super()._insert_events(c, stored_events, **kwargs)

    def forget_idempotency(self, before: datetime) -> int:
        with self.datastore.transaction(commit=True) as c:
            c.execute(f"DELETE FROM {IDEMPOTENCY_TABLE} WHERE created_at < ?",
                      (sqlite_instant(before),))
            c.execute("SELECT changes() AS n")
            return int(c.fetchone()["n"])

    def find_idempotency(self, scope: str, key: str) -> IdempotencyRecord | None:
        with self.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT * FROM {IDEMPOTENCY_TABLE} WHERE scope=? AND key=?", (scope, key))
            row = c.fetchone()
        return _record_from_row(row) if row else None

    def case_records(self, case_id: UUID) -> tuple[list[StoredRecord], list[int]]:
        """The case's stored events with their links, and every version the chain holds."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT e.rowid AS seq, e.originator_version AS version, e.topic, "
                      f"e.state, ch.hash, ch.prev_hash FROM {self.events_table_name} e "
                      f"LEFT JOIN {CHAIN_TABLE} ch ON ch.case_id = e.originator_id "
                      "AND ch.version = e.originator_version WHERE e.originator_id = ? "
                      "ORDER BY e.originator_version", (case_id.hex,))
            records = _records(c.fetchall())
            c.execute(f"SELECT version FROM {CHAIN_TABLE} WHERE case_id = ? ORDER BY version",
                      (case_id.hex,))
            return records, [r["version"] for r in c.fetchall()]

    def all_case_records(self) -> Iterator[CaseRecords]:
        """Every case's records and chain versions, a case at a time, in case order:
        two ordered scans of one read transaction, merged (verify --all)."""
        with self.datastore.transaction(commit=False) as transaction:
            c: Any = transaction.sqlite_cursor  # type: ignore[attr-defined]
            chain = c.connection.cursor()
            c.execute(f"SELECT e.originator_id AS case_id, e.rowid AS seq, "
                      f"e.originator_version AS version, e.topic, e.state, ch.hash, "
                      f"ch.prev_hash FROM {self.events_table_name} e LEFT JOIN {CHAIN_TABLE} "
                      "ch ON ch.case_id = e.originator_id AND ch.version = e.originator_version "
                      "ORDER BY e.originator_id, e.originator_version")
            chain.execute(f"SELECT case_id, version FROM {CHAIN_TABLE} "
                          "ORDER BY case_id, version")
            yield from merge_by_case(c, chain)

    def check_schema(self) -> None:
        """Raises when the store does not answer or its schema is not this release's."""
        with self.datastore.transaction(commit=False) as c:
            c.execute("SELECT 1 FROM sqlite_master WHERE name = ?", [VERSION_TABLE])
            if c.fetchone():
                c.execute(SCHEMA_VERSION_SQL.format(table=VERSION_TABLE))
            require_revision(c.fetchone())

    def select_case_stream(self, case_id: UUID, lte: int | None = None) -> tuple[
            StoredEvent | None, list[StoredEvent]]:
        bound = [] if lte is None else [lte]
        with self.datastore.transaction(commit=False) as c:
            c.execute(self.case_stream_sql[lte is not None],
                      [case_id.hex, *bound, case_id.hex, *bound])
            return _case_stream(case_id, c.fetchall())

    def version_at(self, case_id: UUID, instant: datetime) -> int | None:
        """AUD-2: the last version recorded at or before `instant`."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT MAX(version) AS v FROM {CHAIN_TABLE} WHERE case_id = ? "
                      "AND recorded_at <= ?", (case_id.hex, sqlite_instant(instant)))
            return c.fetchone()["v"]  # type: ignore[no-any-return]

    def chain_heads(self) -> list[tuple[UUID, int, str]]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT case_id, version, hash FROM {CHAIN_TABLE} ch WHERE version = "
                      f"(SELECT MAX(version) FROM {CHAIN_TABLE} WHERE case_id = ch.case_id)")
            return [(UUID(r["case_id"]), r["version"], r["hash"]) for r in c.fetchall()]

    def _scrubbing(self, c: Any) -> None:
        c.execute("PRAGMA secure_delete = ON")  # the old rows' bytes are overwritten

    def _scrub(self) -> None:
        """RET-3 on SQLite: the write-ahead log, which still holds earlier images of
        the key rows' page, is checkpointed and truncated to nothing."""
        with self.datastore.get_connection(commit=True) as conn:
            conn.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def insert_checkpoint(self, seq: int, payload: str, signature: str,
                          fingerprint: str) -> None:
        with self.datastore.transaction(commit=True) as c:
            c.execute(f"INSERT INTO {CHECKPOINTS_TABLE} (seq, payload, signature, "
                      "key_fingerprint) VALUES (?,?,?,?)", (seq, payload, signature, fingerprint))

    def latest_checkpoints(self, count: int) -> list[dict[str, Any]]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT * FROM {CHECKPOINTS_TABLE} ORDER BY seq DESC LIMIT ?", (count,))
            return [dict(row) for row in c.fetchall()]

    def checkpoint_rows(self, after: int = 0) -> list[dict[str, Any]]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT * FROM {CHECKPOINTS_TABLE} WHERE seq > ? ORDER BY seq", (after,))
            return [dict(row) for row in c.fetchall()]

    def search_cases(self, filters: SearchFilters, limit: int,
                     after: Cursor | None) -> list[CaseSummary]:
        sql, params = search_statement(CASES_TABLE, filters, limit, after, "?", sqlite_instant)
        params = [p.hex if isinstance(p, UUID) else p for p in params]
        with self.datastore.transaction(commit=False) as c:
            c.execute(sql, params)
            return [_summary_from_row(row) for row in c.fetchall()]


_retry_read_once = retry((InterfaceError, OperationalError), max_attempts=2, wait=0.2)


def _read_retry(method: Any) -> Any:
    """The library's read, retried once instead of its ten times (see below)."""
    return _retry_read_once(method.__wrapped__)


class PostgresCaseRecorder(CustomerKeys, IndexQueries, PostgresApplicationRecorder):
    placeholder = "%s"

    # The library retries each statement ten times, 0.2 s apart, each after a pool
    # wait: an outage took a minute to answer, and a write whose commit was cut off
    # was repeated into a false conflict (R4). Reads are retried once (the pool
    # checks connections, so a dead one is rare). A write is never repeated blindly:
    # its outcome is unknown, and the client's Idempotency-Key makes repeating it safe.
    select_events = _read_retry(PostgresApplicationRecorder.select_events)
    select_notifications = _read_retry(PostgresApplicationRecorder.select_notifications)
    max_notification_id = _read_retry(PostgresApplicationRecorder.max_notification_id)

    def _write(self, sql: str, params: list[Any]) -> list[Any]:
        with self.datastore.transaction(commit=True) as c:
            c.execute(sql, params)
            return list(c.fetchall()) if c.description else []

    def _rows(self, sql: str, params: list[Any]) -> list[Any]:
        with self.datastore.get_connection() as conn, conn.cursor() as c:
            c.execute(sql, params)
            return list(c.fetchall())

    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events"):
        super().__init__(datastore, events_table_name=events_table_name)
        table = (Identifier(self.datastore.schema), Identifier(IDEMPOTENCY_TABLE))
        self.sql_create_statements.append(SQL(
            "CREATE TABLE IF NOT EXISTS {}.{} ("
            "scope text NOT NULL, key text NOT NULL, fingerprint text NOT NULL, "
            "status_code integer NOT NULL, case_id uuid NOT NULL, "
            "case_version bigint NOT NULL, created_at timestamptz NOT NULL, response text, "
            "PRIMARY KEY (scope, key))"
        ).format(*table))
        self.sql_create_statements.append(SQL(  # tables made before AUD-6 kept responses
            "ALTER TABLE {}.{} ADD COLUMN IF NOT EXISTS response text").format(*table))
        cases = Identifier(self.datastore.schema, CASES_TABLE).as_string()
        self.cases_table = self.cases_sql = cases
        self.sql_create_statements.append(SQL(
            "CREATE TABLE IF NOT EXISTS " + cases + " ("
            "case_id uuid PRIMARY KEY, case_type text NOT NULL, version bigint NOT NULL, "
            "status text NOT NULL, level text, category text, customer_id text, "
            "customer_name text, department text NOT NULL, title text NOT NULL, "
            "opened_at timestamptz NOT NULL, updated_at timestamptz NOT NULL, "
            "closed_at timestamptz, retain_until timestamptz, erased_at timestamptz)"))
        for column in ("customer_id", "retain_until"):
            self.sql_create_statements.append(SQL(
                f"CREATE INDEX IF NOT EXISTS {CASES_TABLE}_by_{column} ON " + cases
                + f" ({column})"))
        self.holds_table = self.holds_sql = Identifier(self.datastore.schema,
                                                       HOLDS_TABLE).as_string()
        self.sql_create_statements.append(SQL(
            "CREATE TABLE IF NOT EXISTS " + self.holds_table + " (hold_id uuid PRIMARY KEY, "
            "case_id text, customer_id text, reason text NOT NULL, "
            "placed_at timestamptz NOT NULL, released_at timestamptz)"))
        self.sql_create_statements.append(SQL(
            "CREATE INDEX IF NOT EXISTS {} ON " + cases
            + " (case_type, opened_at DESC, case_id DESC)").format(
            Identifier(f"{CASES_TABLE}_by_type_opened")))
        self.chain_table = Identifier(self.datastore.schema, CHAIN_TABLE).as_string()
        events = Identifier(self.datastore.schema, events_table_name).as_string()
        snapshots = Identifier(self.datastore.schema,
                               snapshots_table(events_table_name)).as_string()
        self.keys_sql = Identifier(self.datastore.schema, KEYS_TABLE).as_string()
        self.key_state_sql = Identifier(self.datastore.schema, KEY_STATE_TABLE).as_string()
        self.case_stream_sql = {bounded: case_stream_sql(events, snapshots, self.key_state_sql,
                                                         "%s", bounded)
                                for bounded in (False, True)}
        self.sql_create_statements.append(SQL(
            "CREATE TABLE IF NOT EXISTS " + self.chain_table + " (case_id uuid NOT NULL, "
            "version bigint NOT NULL, recorded_at timestamptz, prev_hash text NOT NULL, "
            "hash text NOT NULL, PRIMARY KEY (case_id, version))"))
        self.checkpoints_table = Identifier(self.datastore.schema, CHECKPOINTS_TABLE).as_string()
        self.runs_sql = Identifier(self.datastore.schema, RUNS_TABLE).as_string()
        self.sql_create_statements.append(SQL(
            "CREATE TABLE IF NOT EXISTS " + self.runs_sql + " (kind text NOT NULL, period text "
            "NOT NULL, produced_at timestamptz NOT NULL, payload text NOT NULL, "
            "PRIMARY KEY (kind, period))"))
        self.sql_create_statements += [SQL(s)  # type: ignore[arg-type]
                                       for s in self.key_state_statements("bigint")]
        self.sql_create_statements.append(SQL(
            "CREATE TABLE IF NOT EXISTS " + self.checkpoints_table + " (seq bigserial PRIMARY "
            "KEY, payload text NOT NULL, signature text NOT NULL, key_fingerprint text NOT NULL)"))
        self.links_sql = Identifier(self.datastore.schema, LINKS_TABLE).as_string()
        self.sql_create_statements.append(SQL(
            "CREATE TABLE IF NOT EXISTS " + self.links_sql + " (jti text PRIMARY KEY, "
            "user_id text NOT NULL, used_at timestamptz NOT NULL)"))
        save = f"{Identifier(self.datastore.schema).as_string()}.{SAVE_FUNCTION}"
        event_type = Identifier(self.datastore.schema, self.stored_event_type_name).as_string()
        self.sql_create_statements.append(SQL(  # type: ignore[arg-type]
            f"DROP FUNCTION IF EXISTS {save}({event_type}[], uuid[], bigint[], timestamptz[], "
            "bytea[], boolean[], jsonb, jsonb, jsonb, text)"))  # took the events as composites
        for function in save_function, save_one_function:
            self.sql_create_statements.append(SQL(function(  # type: ignore[arg-type]
                self.datastore.schema, events=events, channel=self.channel_name)))
        save_one = f"{Identifier(self.datastore.schema).as_string()}.{SAVE_ONE_FUNCTION}"
        self.save_signatures = [f"{function}({', '.join(type_ for _, type_ in parameters)})"
                                for function, parameters in ((save, SAVE_PARAMETERS),
                                                             (save_one, SAVE_ONE_PARAMETERS))]
        self.save_statements = {  # (one event?, with the key epoch?)
            (one, epoch): f"SELECT * FROM {function}({', '.join(['%s'] * n)}) AS seq"
            for one, function, parameters in ((False, save, SAVE_PARAMETERS),
                                              (True, save_one, SAVE_ONE_PARAMETERS))
            for epoch, n in ((False, len(parameters) - 1), (True, len(parameters)))}
        self.select_idempotency_statement = SQL(
            "SELECT * FROM {}.{} WHERE scope=%s AND key=%s").format(*table)
        self.forget_idempotency_statement = SQL(
            "DELETE FROM {}.{} WHERE created_at < %s").format(*table)

    def insert_events(self, stored_events: Sequence[StoredEvent],
                      **kwargs: Any) -> Sequence[int] | None:
        """One call of the save function (never retried: see above)."""
        if not stored_events:
            return None
        times = kwargs.get("event_times", {})
        record: IdempotencyRecord | None = kwargs.get("idempotency")
        epoch = kwargs.get("key_epoch")
        rest = [  # as both functions take them, after the events
            _json([{n: getattr(c, n) for n in CASE_COLUMNS}
                   for c in kwargs.get("case_summaries", ())]),
            _json([{n: getattr(h, n) for n in HOLD_COLUMNS}
                   for h in kwargs.get("legal_holds", ())]),
            _json(record.row()) if record else None,
            f"{self.datastore.lock_timeout}s",
            *([] if epoch is None else [epoch])]
        if len(stored_events) == 1:  # the commonest save: plain values (save_one_function)
            s = stored_events[0]
            case_id = UUID(str(s.originator_id))
            return self._save(True, epoch, [
                case_id, s.originator_version, s.topic, s.state,
                times.get((case_id, s.originator_version)),
                link_body(case_id, s.originator_version, s.topic, s.state), *rest])
        links = []  # (case, version, recorded_at, link body, first of its case here)
        previous = None
        for s in sorted(stored_events, key=_case_version):
            case_id, version = UUID(str(s.originator_id)), s.originator_version
            links.append((case_id, version, times.get((case_id, version)),
                          link_body(case_id, version, s.topic, s.state), case_id != previous))
            previous = case_id
        return self._save(False, epoch, [
            [s.originator_id for s in stored_events],
            [s.originator_version for s in stored_events],
            [s.topic for s in stored_events],
            [s.state for s in stored_events],
            *(list(column) for column in zip(*links, strict=True)), *rest])

    def _save(self, one: bool, epoch: int | None, params: list[Any]) -> list[int]:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self.save_statements[one, epoch is not None], params)
            return [row["seq"] for row in curs.fetchall()]

    def forget_idempotency(self, before: datetime) -> int:
        with self.datastore.transaction(commit=True) as c:
            c.execute(self.forget_idempotency_statement, (before,))
            return int(c.rowcount)

    def find_idempotency(self, scope: str, key: str) -> IdempotencyRecord | None:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self.select_idempotency_statement, (scope, key))
            row = curs.fetchone()
        return _record_from_row(row) if row else None

    def case_records(self, case_id: UUID) -> tuple[list[StoredRecord], list[int]]:
        """One statement, so one snapshot and one round trip: a save committed between
        two reads would show as a chain link without its event, damage that is not
        there. The full join also yields the links whose event is gone."""
        events = Identifier(self.datastore.schema, self.events_table_name).as_string()
        with self.datastore.get_connection() as conn, conn.cursor() as c:
            c.execute(f"SELECT e.notification_id AS seq, e.originator_version AS version, "
                      f"e.topic, e.state, ch.hash, ch.prev_hash, ch.version AS chain_version "
                      f"FROM (SELECT * FROM {events} WHERE originator_id = %s) e "
                      f"FULL JOIN (SELECT * FROM {self.chain_table} WHERE case_id = %s) ch "
                      "ON ch.version = e.originator_version "
                      "ORDER BY coalesce(e.originator_version, ch.version)",
                      (case_id, case_id))
            rows = c.fetchall()
        return (_records(r for r in rows if r["version"] is not None),
                [r["chain_version"] for r in rows if r["chain_version"] is not None])

    def all_case_records(self) -> Iterator[CaseRecords]:
        """Every case's records and chain versions, a case at a time, in case order:
        two server-side cursors in one read-only snapshot, merged (verify --all)."""
        events = Identifier(self.datastore.schema, self.events_table_name).as_string()
        with self.datastore.get_connection() as conn, conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            with conn.cursor(name="casetrail_verify_events") as rows, \
                    conn.cursor(name="casetrail_verify_chain") as chain:
                rows.itersize = chain.itersize = 2000
                rows.execute(f"SELECT e.originator_id AS case_id, e.notification_id AS seq, "
                             "e.originator_version AS version, e.topic, e.state, ch.hash, "
                             f"ch.prev_hash FROM {events} e LEFT JOIN {self.chain_table} ch "
                             "ON ch.case_id = e.originator_id AND ch.version = "
                             "e.originator_version ORDER BY e.originator_id, "
                             "e.originator_version")
                chain.execute(f"SELECT case_id, version FROM {self.chain_table} "
                              "ORDER BY case_id, version")
                yield from merge_by_case(rows, chain)

    def check_schema(self) -> None:
        """Raises when the store does not answer or its schema is not this release's,
        or a save function is missing."""
        versions = Identifier(self.datastore.schema, VERSION_TABLE).as_string()
        with self.datastore.get_connection() as conn, conn.cursor() as c:
            c.execute("SELECT to_regclass(%s) AS t, "
                      + ", ".join(f"to_regprocedure(%s) AS f{i}"
                                  for i in range(len(self.save_signatures))),
                      [versions, *self.save_signatures])
            row = c.fetchone()
            if row and row["t"] is not None:
                c.execute(SCHEMA_VERSION_SQL.format(table=versions))
                require_revision(c.fetchone())
            else:
                require_revision(None)
        for i, signature in enumerate(self.save_signatures):
            if not row or row[f"f{i}"] is None:
                raise ProgrammingError(f"{signature} is missing")

    @_retry_read_once
    def select_case_stream(self, case_id: UUID, lte: int | None = None) -> tuple[
            StoredEvent | None, list[StoredEvent]]:
        bound = [] if lte is None else [lte]
        with self.datastore.get_connection() as conn, conn.cursor() as c:
            c.execute(self.case_stream_sql[lte is not None],
                      [case_id, *bound, case_id, *bound])
            return _case_stream(case_id, c.fetchall())

    def version_at(self, case_id: UUID, instant: datetime) -> int | None:
        with self.datastore.get_connection() as conn, conn.cursor() as c:
            c.execute(f"SELECT MAX(version) AS v FROM {self.chain_table} WHERE case_id = %s "
                      "AND recorded_at <= %s", (case_id, instant))
            row = c.fetchone()
            return row["v"] if row else None

    def chain_heads(self) -> list[tuple[UUID, int, str]]:
        with self.datastore.get_connection() as conn, conn.cursor() as c:
            c.execute(f"SELECT DISTINCT ON (case_id) case_id, version, hash FROM "
                      f"{self.chain_table} ORDER BY case_id, version DESC")
            return [(r["case_id"], r["version"], r["hash"]) for r in c.fetchall()]

    def insert_checkpoint(self, seq: int, payload: str, signature: str,
                          fingerprint: str) -> None:
        with self.datastore.transaction(commit=True) as c:
            c.execute(f"INSERT INTO {self.checkpoints_table} (seq, payload, signature, "
                      "key_fingerprint) VALUES (%s,%s,%s,%s)",
                      (seq, payload, signature, fingerprint))

    def latest_checkpoints(self, count: int) -> list[dict[str, Any]]:
        return self._rows(f"SELECT * FROM {self.checkpoints_table} ORDER BY seq DESC LIMIT %s",
                          [count])

    def checkpoint_rows(self, after: int = 0) -> list[dict[str, Any]]:
        return self._rows(f"SELECT * FROM {self.checkpoints_table} WHERE seq > %s ORDER BY seq",
                          [after])

    def search_cases(self, filters: SearchFilters, limit: int,
                     after: Cursor | None) -> list[CaseSummary]:
        sql, params = search_statement(self.cases_table, filters, limit, after, "%s",
                                       lambda value: value)
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(sql, params)
            return [_summary_from_row(row) for row in curs.fetchall()]


_LIBRARY_DSN_KEYS = {"dbname", "host", "port", "user", "password"}
"""What the library's own settings carry; every other DSN parameter (sslmode,
sslrootcert, application_name, options, ...) is passed through DSN_EXTRA."""


def check_passively(conn: psycopg.Connection[Any]) -> None:
    """Whether a pooled connection is still alive, usually without a round trip. An
    idle connection has nothing to read unless the server wrote to it: when a server
    restarts or ends a session it says so (an error, then end of file), and only
    then is the server asked (the pool's own ping). A pre-ping on every checkout was
    a round trip more on every command, and each command checks out once or twice.
    A connection that dies silently (a network cut, no packets) is found by the
    statement that uses it, as before; a write then answers 503 "outcome unknown"."""
    if conn.closed or conn.broken:
        raise psycopg.OperationalError("the connection is closed")
    readable, _, _ = select.select([conn.fileno()], [], [], 0)
    if readable:
        ConnectionPool.check_connection(conn)


class CasetrailPostgresFactory(PostgresFactory):
    """The library's factory, with the DSN parameters it has no setting for given to
    every connection of the pool (which opens on first use, after this), and the
    pool checking connections passively (`check_passively`)."""

    DSN_EXTRA = "CASETRAIL_DSN_EXTRA"

    def __init__(self, env: Any) -> None:
        super().__init__(env)
        pool = self.datastore.pool
        pool.kwargs.update(json.loads(self.env.get(self.DSN_EXTRA) or "{}"))
        # psycopg_pool takes its check only in the constructor, which the library
        # calls; the attribute it keeps it in is set here, before the pool opens.
        pool._check = check_passively


class CasetrailSQLiteFactory(SQLiteFactory):
    """The library's factory, with the time a caller waits for one of the pool's
    connections from the settings (the library fixes it at 5 s)."""

    POOL_TIMEOUT = "CASETRAIL_SQLITE_POOL_TIMEOUT"

    def __init__(self, env: Any) -> None:
        super().__init__(env)
        self.datastore.pool.pool_timeout = float(self.env.get(self.POOL_TIMEOUT) or 5)


def _topic(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def persistence_env(settings: Settings, *, create_tables: bool = False) -> dict[str, str]:
    """The eventsourcing environment for the configured store. Built only from
    settings, so the process environment cannot reconfigure the store behind them."""
    common = {"CREATE_TABLE": "y" if create_tables else "n", "IS_SNAPSHOTTING_ENABLED": "y"}
    if settings.database_url is None:
        settings.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
        return common | {
            "PERSISTENCE_MODULE": _topic(CasetrailSQLiteFactory),
            CasetrailSQLiteFactory.POOL_TIMEOUT: str(settings.sqlite_pool_timeout),
            "SQLITE_DBNAME": str(settings.sqlite_path),
            "SQLITE_LOCK_TIMEOUT": str(settings.sqlite_lock_timeout),
            "APPLICATION_RECORDER_TOPIC": _topic(SQLiteCaseRecorder),
        }
    dsn = psycopg.conninfo.conninfo_to_dict(settings.database_url.get_secret_value())
    extra = {k: v for k, v in dsn.items() if k not in _LIBRARY_DSN_KEYS}
    return common | {
        "PERSISTENCE_MODULE": _topic(CasetrailPostgresFactory),
        CasetrailPostgresFactory.DSN_EXTRA: json.dumps(extra),
        "POSTGRES_DBNAME": str(dsn.get("dbname") or "postgres"),
        "POSTGRES_HOST": str(dsn.get("host") or "localhost"),
        "POSTGRES_PORT": str(dsn.get("port") or "5432"),
        "POSTGRES_USER": str(dsn.get("user") or getpass.getuser()),
        "POSTGRES_PASSWORD": str(dsn.get("password") or ""),
        "POSTGRES_SCHEMA": settings.postgres_schema,
        "POSTGRES_CONNECT_TIMEOUT": str(settings.postgres_connect_timeout),
        "POSTGRES_LOCK_TIMEOUT": str(settings.postgres_lock_timeout),
        "POSTGRES_POOL_SIZE": str(settings.postgres_pool_size),
        "POSTGRES_MAX_OVERFLOW": str(settings.postgres_max_overflow),
        "POSTGRES_PRE_PING": "n",  # checked passively instead: CasetrailPostgresFactory
        # Off on purpose: the insert function bypasses the recorder's Python-side
        # hook, which would drop the idempotency record (and is unsafe with
        # several recorders on one database).
        "POSTGRES_ENABLE_DB_FUNCTIONS": "n",
        "APPLICATION_RECORDER_TOPIC": _topic(PostgresCaseRecorder),
    }
