"""The event store on SQLite (embedded default) or PostgreSQL (production).

Both backends are eventsourcing's own recorders, subclassed only to write, inside
the same transaction as the events (`_insert_events` is the library's hook for
exactly that), the Idempotency-Key record the events answer and the case-index
row they change. Tables are created only by `casetrail db init`, never as a side
effect of starting up.
"""

from __future__ import annotations

import getpass
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor, SQLiteDatastore
from psycopg.sql import SQL, Identifier

from application.case_index import CaseSummary, Cursor, SearchFilters
from application.idempotency import IdempotencyRecord
from infrastructure.settings import Settings

IDEMPOTENCY_TABLE = "casetrail_idempotency"
CASES_TABLE = "casetrail_cases"
CASE_COLUMNS = ("case_id", "case_type", "version", "status", "level", "category",
                "customer_id", "customer_name", "department", "title", "opened_at",
                "updated_at")
_FILTERS = ("status", "level", "category", "customer_id", "department")
UPSERT_CASE = (
    f"INSERT INTO {{table}} ({', '.join(CASE_COLUMNS)}) "
    f"VALUES ({', '.join(['{p}'] * len(CASE_COLUMNS))}) "
    "ON CONFLICT (case_id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in CASE_COLUMNS[1:])
    + " WHERE excluded.version > {table}.version"
)


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


def _summary_from_row(row: Any) -> CaseSummary:
    def instant(value: Any) -> datetime:
        return value if isinstance(value, datetime) else datetime.fromisoformat(value)

    values = {name: row[name] for name in CASE_COLUMNS}
    values["case_id"] = UUID(str(values["case_id"]))
    values["opened_at"] = instant(values["opened_at"])
    values["updated_at"] = instant(values["updated_at"])
    return CaseSummary(**values)


def sqlite_instant(value: datetime) -> str:
    """Fixed-width UTC text, so that SQLite's text order is time order."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


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
            f"CREATE TABLE IF NOT EXISTS {CASES_TABLE} ("
            "case_id TEXT PRIMARY KEY, case_type TEXT NOT NULL, version INTEGER NOT NULL, "
            "status TEXT NOT NULL, level TEXT, category TEXT, customer_id TEXT, "
            "customer_name TEXT, department TEXT NOT NULL, title TEXT NOT NULL, "
            "opened_at TEXT NOT NULL, updated_at TEXT NOT NULL)",
            f"CREATE INDEX IF NOT EXISTS {CASES_TABLE}_by_type_opened "
            f"ON {CASES_TABLE} (case_type, opened_at DESC, case_id DESC)",
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
        summary: CaseSummary | None = kwargs.get("case_summary")
        if summary is not None:
            c.execute(UPSERT_CASE.format(table=CASES_TABLE, p="?"), (
                summary.case_id.hex, summary.case_type, summary.version, summary.status,
                summary.level, summary.category, summary.customer_id, summary.customer_name,
                summary.department, summary.title, sqlite_instant(summary.opened_at),
                sqlite_instant(summary.updated_at)))
        return super()._insert_events(c, stored_events, **kwargs)

    def find_idempotency(self, scope: str, key: str) -> IdempotencyRecord | None:
        with self.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT * FROM {IDEMPOTENCY_TABLE} WHERE scope=? AND key=?", (scope, key))
            row = c.fetchone()
        return _record_from_row(row) if row else None

    def search_cases(self, filters: SearchFilters, limit: int,
                     after: Cursor | None) -> list[CaseSummary]:
        sql, params = search_statement(CASES_TABLE, filters, limit, after, "?", sqlite_instant)
        params = [p.hex if isinstance(p, UUID) else p for p in params]
        with self.datastore.transaction(commit=False) as c:
            c.execute(sql, params)
            return [_summary_from_row(row) for row in c.fetchall()]


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
        cases = Identifier(self.datastore.schema, CASES_TABLE).as_string()
        self.cases_table = cases
        self.sql_create_statements.append(SQL(
            "CREATE TABLE IF NOT EXISTS " + cases + " ("
            "case_id uuid PRIMARY KEY, case_type text NOT NULL, version bigint NOT NULL, "
            "status text NOT NULL, level text, category text, customer_id text, "
            "customer_name text, department text NOT NULL, title text NOT NULL, "
            "opened_at timestamptz NOT NULL, updated_at timestamptz NOT NULL)"))
        self.sql_create_statements.append(SQL(
            "CREATE INDEX IF NOT EXISTS {} ON " + cases
            + " (case_type, opened_at DESC, case_id DESC)").format(
            Identifier(f"{CASES_TABLE}_by_type_opened")))
        self.upsert_case_statement = UPSERT_CASE.format(table=cases, p="%s")
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
        summary: CaseSummary | None = kwargs.get("case_summary")
        if summary is not None:
            curs.execute(self.upsert_case_statement,
                         [getattr(summary, name) for name in CASE_COLUMNS])
        super()._insert_events(curs, stored_events, **kwargs)

    def find_idempotency(self, scope: str, key: str) -> IdempotencyRecord | None:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self.select_idempotency_statement, (scope, key))
            row = curs.fetchone()
        return _record_from_row(row) if row else None

    def search_cases(self, filters: SearchFilters, limit: int,
                     after: Cursor | None) -> list[CaseSummary]:
        sql, params = search_statement(self.cases_table, filters, limit, after, "%s",
                                       lambda value: value)
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(sql, params)
            return [_summary_from_row(row) for row in curs.fetchall()]


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
