"""The event store on SQLite (embedded default) or PostgreSQL (production).

Both backends are eventsourcing's own recorders, subclassed only to write an
Idempotency-Key record inside the same transaction as the events it answers
(`_insert_events` is the library's hook for exactly that: it runs in the insert
transaction, before the events). Tables are created only by `create_schema`
(the `casetrail db init` command), never as a side effect of starting up.
"""

from __future__ import annotations

import getpass
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor, SQLiteDatastore
from psycopg.sql import SQL, Identifier

from application.idempotency import IdempotencyRecord
from infrastructure.settings import Settings

IDEMPOTENCY_TABLE = "casetrail_idempotency"


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
    )


class SQLiteCaseRecorder(SQLiteApplicationRecorder):
    def __init__(self, datastore: SQLiteDatastore, events_table_name: str = "stored_events"):
        super().__init__(datastore, events_table_name)

    def construct_create_table_statements(self) -> list[str]:
        return [
            *super().construct_create_table_statements(),
            f"CREATE TABLE IF NOT EXISTS {IDEMPOTENCY_TABLE} ("
            "scope TEXT NOT NULL, key TEXT NOT NULL, fingerprint TEXT NOT NULL, "
            "status_code INTEGER NOT NULL, case_id TEXT NOT NULL, "
            "case_version INTEGER NOT NULL, created_at TEXT NOT NULL, "
            "PRIMARY KEY (scope, key)) WITHOUT ROWID",
        ]

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        record: IdempotencyRecord | None = kwargs.get("idempotency")
        if record is not None:
            c.execute(
                f"INSERT INTO {IDEMPOTENCY_TABLE} VALUES (?,?,?,?,?,?,?)",
                (record.scope, record.key, record.fingerprint, record.status_code,
                 record.case_id.hex, record.case_version, record.created_at.isoformat()),
            )
        return super()._insert_events(c, stored_events, **kwargs)

    def find_idempotency(self, scope: str, key: str) -> IdempotencyRecord | None:
        with self.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT * FROM {IDEMPOTENCY_TABLE} WHERE scope=? AND key=?", (scope, key))
            row = c.fetchone()
        return _record_from_row(row) if row else None


class PostgresCaseRecorder(PostgresApplicationRecorder):
    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events"):
        super().__init__(datastore, events_table_name=events_table_name)
        table = (Identifier(self.datastore.schema), Identifier(IDEMPOTENCY_TABLE))
        self.sql_create_statements.append(SQL(
            "CREATE TABLE IF NOT EXISTS {}.{} ("
            "scope text NOT NULL, key text NOT NULL, fingerprint text NOT NULL, "
            "status_code integer NOT NULL, case_id uuid NOT NULL, "
            "case_version bigint NOT NULL, created_at timestamptz NOT NULL, "
            "PRIMARY KEY (scope, key))"
        ).format(*table))
        self.insert_idempotency_statement = SQL(
            "INSERT INTO {}.{} VALUES (%s,%s,%s,%s,%s,%s,%s)").format(*table)
        self.select_idempotency_statement = SQL(
            "SELECT * FROM {}.{} WHERE scope=%s AND key=%s").format(*table)

    def _insert_events(
        self, curs: psycopg.Cursor[Any], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        record: IdempotencyRecord | None = kwargs.get("idempotency")
        if record is not None:
            curs.execute(self.insert_idempotency_statement, (
                record.scope, record.key, record.fingerprint, record.status_code,
                record.case_id, record.case_version, record.created_at))
        super()._insert_events(curs, stored_events, **kwargs)

    def find_idempotency(self, scope: str, key: str) -> IdempotencyRecord | None:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self.select_idempotency_statement, (scope, key))
            row = curs.fetchone()
        return _record_from_row(row) if row else None


def _topic(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def persistence_env(settings: Settings, *, create_tables: bool = False) -> dict[str, str]:
    """The eventsourcing environment for the configured store. Built only from
    settings, so the process environment cannot reconfigure the store behind them."""
    common = {"CREATE_TABLE": "y" if create_tables else "n"}
    if settings.database_url is None:
        settings.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
        return common | {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": str(settings.sqlite_path),
            "SQLITE_LOCK_TIMEOUT": str(settings.sqlite_lock_timeout),
            "APPLICATION_RECORDER_TOPIC": _topic(SQLiteCaseRecorder),
        }
    dsn = psycopg.conninfo.conninfo_to_dict(settings.database_url.get_secret_value())
    return common | {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
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
        "POSTGRES_PRE_PING": "y",
        # Off on purpose: the insert function bypasses the recorder's Python-side
        # hook, which would drop the idempotency record (and is unsafe with
        # several recorders on one database).
        "POSTGRES_ENABLE_DB_FUNCTIONS": "n",
        "APPLICATION_RECORDER_TOPIC": _topic(PostgresCaseRecorder),
    }
