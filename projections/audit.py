"""The audit view (AUD-1): one row per event of every case, for auditors' queries
across cases by actor, case and time. No event data and no personal data: the
history of a case (straight from the store) has the details."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Tracking
from eventsourcing.postgres import PostgresDatastore, PostgresTrackingRecorder
from eventsourcing.sqlite import SQLiteTrackingRecorder
from psycopg.sql import SQL, Identifier

from application.app import CaseApplication
from projections.runtime import Batch
from projections.sql import PostgresSql, SQLiteSql, SqlView, for_backend

TABLE = "casetrail_audit"


@dataclass(frozen=True)
class AuditRow:
    seq: int
    case_id: UUID
    version: int
    event_type: str
    recorded_at: datetime
    actor: str
    roles: str
    command: str
    correlation_id: str


@dataclass(frozen=True)
class AuditQuery:
    actor: str | None = None
    case_id: UUID | None = None
    recorded_from: datetime | None = None
    recorded_to: datetime | None = None
    after_seq: int | None = None


class AuditView(SqlView):
    def add(self, rows: Sequence[AuditRow], tracking: Tracking) -> None:
        with self._transaction() as c:
            c.executemany(self._sql(
                f"INSERT INTO {self.table} VALUES ({{p}}, {{p}}, {{p}}, {{p}}, {{p}}, {{p}}, "
                "{p}, {p}, {p}) ON CONFLICT (seq) DO NOTHING"),
                [[row.seq, self._uuid(row.case_id), row.version, row.event_type,
                  self._instant(row.recorded_at), row.actor, row.roles, row.command,
                  row.correlation_id] for row in rows])
            self._insert_tracking(c, tracking)  # type: ignore[attr-defined]

    def select(self, query: AuditQuery, limit: int) -> list[AuditRow]:
        where, params = ["1 = 1"], []
        if query.actor is not None:
            where.append("actor = {p}")
            params.append(query.actor)
        if query.case_id is not None:
            where.append("case_id = {p}")
            params.append(self._uuid(query.case_id))
        if query.recorded_from is not None:
            where.append("recorded_at >= {p}")
            params.append(self._instant(query.recorded_from))
        if query.recorded_to is not None:
            where.append("recorded_at < {p}")
            params.append(self._instant(query.recorded_to))
        if query.after_seq is not None:
            where.append("seq > {p}")
            params.append(query.after_seq)
        rows = self._fetch(f"SELECT * FROM {self.table} WHERE {' AND '.join(where)} "
                           "ORDER BY seq LIMIT {p}", [*params, limit])
        return [AuditRow(seq=r["seq"], case_id=UUID(str(r["case_id"])), version=r["version"],
                         event_type=r["event_type"],
                         recorded_at=self._read_instant(r["recorded_at"]), actor=r["actor"],
                         roles=r["roles"], command=r["command"],
                         correlation_id=r["correlation_id"]) for r in rows]


def _table(table: str, uuid: str, instant: str) -> list[str]:
    return [
        f"CREATE TABLE IF NOT EXISTS {table} (seq BIGINT PRIMARY KEY, case_id {uuid} NOT NULL, "
        f"version BIGINT NOT NULL, event_type TEXT NOT NULL, recorded_at {instant} NOT NULL, "
        "actor TEXT NOT NULL, roles TEXT NOT NULL, command TEXT NOT NULL, "
        "correlation_id TEXT NOT NULL)",
        f"CREATE INDEX IF NOT EXISTS {TABLE}_actor ON {table} (actor, seq)",
        f"CREATE INDEX IF NOT EXISTS {TABLE}_case ON {table} (case_id, seq)",
        f"CREATE INDEX IF NOT EXISTS {TABLE}_time ON {table} (recorded_at)",
    ]


class SQLiteAuditView(AuditView, SQLiteSql, SQLiteTrackingRecorder):
    table = TABLE

    def construct_create_table_statements(self) -> list[str]:
        return [*super().construct_create_table_statements(), *_table(TABLE, "TEXT", "TEXT")]


class PostgresAuditView(AuditView, PostgresSql, PostgresTrackingRecorder):
    def __init__(self, datastore: PostgresDatastore, **kwargs: Any) -> None:
        super().__init__(datastore, tracking_table_name=f"{TABLE}_tracking", **kwargs)
        self.table = Identifier(self.datastore.schema, TABLE).as_string()
        self.sql_create_statements += [
            SQL(s) for s in _table(self.table, "uuid", "timestamptz")]  # type: ignore[arg-type]


def construct_audit_view(cases: CaseApplication) -> AuditView:
    return for_backend(cases, SQLiteAuditView, PostgresAuditView)


class AuditProjection:
    name = "audit"

    def __init__(self, cases: CaseApplication, view: AuditView) -> None:
        self.cases = cases
        self.view = view

    def process(self, batch: Batch, tracking: Tracking) -> None:
        self.view.add([self._row(seq, event) for seq, event in batch], tracking)

    @staticmethod
    def _row(seq: int, event: Any) -> AuditRow:
        meta = getattr(event, "meta", None)
        return AuditRow(
            seq=seq, case_id=event.originator_id,
            version=event.originator_version, event_type=type(event).__name__,
            recorded_at=event.timestamp, actor=meta.actor.user if meta else "",
            roles=",".join(r.value for r in meta.actor.roles) if meta else "",
            command=meta.command if meta else "",
            correlation_id=meta.correlation_id if meta else "")
