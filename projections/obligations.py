"""The obligations view (SLA-1): one row per obligation of every case, derived only
from the case's events and the policy in force, updated in the same transaction as
its tracking row, so each event is applied exactly once.

For each event, the case is loaded at that event's version and all its
obligations are derived again (the derivation lives in the domain), with "now" set
to the close of the next working day after the event: daily progress items
(EX-PROG-1) thus always exist a day ahead, and each day without a report produces
a breach event that moves the horizon on. Rows the derivation no longer yields
(progress days after an early resolution) are removed.

The state column is `void`, `met`, `breached` (a breach is on the record, or the
obligation was met late) or `pending` (possibly overdue until the sweep records
the breach).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Tracking
from eventsourcing.postgres import PostgresDatastore, PostgresTrackingRecorder
from eventsourcing.sqlite import SQLiteDatastore, SQLiteTrackingRecorder
from psycopg.sql import SQL, Identifier

from application.app import CaseApplication
from domain.cases import Case
from domain.obligations import Obligation

TABLE = "casetrail_obligations"


@dataclass(frozen=True)
class ObligationRow:
    case_id: UUID
    key: str
    case_type: str
    department: str
    rule: str
    level: str | None
    description: str
    responsible: str
    started_at: datetime
    due_at: datetime
    warn_at: datetime
    met_at: datetime | None
    met_by_version: int | None
    void_by_version: int | None
    breach_version: int | None
    warning_version: int | None
    state: str
    case_version: int


COLUMNS = tuple(f.name for f in fields(ObligationRow))
INSTANTS = {"started_at", "due_at", "warn_at", "met_at"}


def rows_for(case: Case, obligations: Sequence[Obligation], fraction: float
             ) -> list[ObligationRow]:
    rows = []
    for o in obligations:
        breach = case.breaches.get(o.key)
        if o.void_by_version is not None:
            state = "void"
        elif breach is not None or (o.met_at is not None and o.met_at > o.due_at):
            state = "breached"
        else:
            state = "met" if o.met_at is not None else "pending"
        rows.append(ObligationRow(
            case_id=case.id, key=o.key, case_type=case.case_type, department=case.department,
            rule=o.rule, level=o.level, description=o.description, responsible=o.responsible,
            started_at=o.started_at, due_at=o.due_at, warn_at=o.warn_at(fraction),
            met_at=o.met_at, met_by_version=o.met_by_version, void_by_version=o.void_by_version,
            breach_version=breach, warning_version=case.warnings.get(o.key), state=state,
            case_version=case.version))
    return rows


@dataclass(frozen=True)
class ObligationQuery:
    state: str | None = None
    rule: str | None = None
    subject: UUID | None = None
    due_before: datetime | None = None
    due_from: datetime | None = None
    level: str | None = None
    department: str | None = None
    rules: tuple[str, ...] = ()
    after: tuple[datetime, UUID, str] | None = None
    """Keyset position: (due_at, case_id, key) of the last row seen."""


def _where(query: ObligationQuery, instant: Any, case_id: Any) -> tuple[str, list[Any]]:
    where, params = ["1 = 1"], []
    for column in ("state", "rule", "level", "department"):
        if (value := getattr(query, column)) is not None:
            where.append(f"{column} = {{p}}")
            params.append(value)
    if query.subject is not None:
        where.append("case_id = {p}")
        params.append(case_id(query.subject))
    if query.rules:
        where.append(f"rule IN ({', '.join(['{p}'] * len(query.rules))})")
        params += list(query.rules)
    if query.due_from is not None:
        where.append("due_at >= {p}")
        params.append(instant(query.due_from))
    if query.due_before is not None:
        where.append("due_at < {p}")
        params.append(instant(query.due_before))
    if query.after is not None:
        due, case, key = query.after
        where.append("(due_at > {p} OR (due_at = {p} AND (case_id > {p} OR "
                     "(case_id = {p} AND key > {p}))))")
        params += [instant(due), instant(due), case_id(case), case_id(case), key]
    return " AND ".join(where), params


class ObligationsView:
    """What both backends' views offer; SQL is shared, `{p}` is the placeholder."""

    placeholder: str
    table: str

    def _instant(self, value: datetime) -> Any:
        return value

    def _case_id(self, value: UUID) -> Any:
        return value

    def _row(self, row: Any) -> ObligationRow:
        values = {name: row[name] for name in COLUMNS}
        values["case_id"] = UUID(str(values["case_id"]))
        for name in INSTANTS:
            value = values[name]
            if isinstance(value, str):
                values[name] = datetime.fromisoformat(value)
        return ObligationRow(**values)

    def _sql(self, text: str) -> str:
        return text.replace("{p}", self.placeholder)

    def _params(self, row: ObligationRow) -> list[Any]:
        values = []
        for name in COLUMNS:
            value = getattr(row, name)
            if name == "case_id":
                value = self._case_id(value)
            elif name in INSTANTS and value is not None:
                value = self._instant(value)
            values.append(value)
        return values

    def _replace(self, c: Any, case_id: UUID, rows: Sequence[ObligationRow]) -> None:
        c.execute(self._sql(f"DELETE FROM {self.table} WHERE case_id = {{p}}"),
                  [self._case_id(case_id)])
        insert = self._sql(f"INSERT INTO {self.table} ({', '.join(COLUMNS)}) VALUES "
                           f"({', '.join(['{p}'] * len(COLUMNS))})")
        for row in rows:
            c.execute(insert, self._params(row))

    def select(self, query: ObligationQuery, limit: int) -> list[ObligationRow]:
        where, params = _where(query, self._instant, self._case_id)
        rows = self._fetch(f"SELECT * FROM {self.table} WHERE {where} "
                           "ORDER BY due_at, case_id, key LIMIT {p}", [*params, limit])
        return [self._row(row) for row in rows]

    def cases_due_for_breach(self, now: datetime, limit: int) -> list[UUID]:
        """Cases with a pending obligation past due, or one met late, with no breach
        on record. The (state, due_at) index keeps this proportional to what is due."""
        rows = self._fetch(
            f"SELECT DISTINCT case_id FROM {self.table} WHERE "
            "(state = 'pending' AND due_at < {p}) "
            "OR (state = 'breached' AND breach_version IS NULL) LIMIT {p}",
            [self._instant(now), limit])
        return [UUID(str(r["case_id"])) for r in rows]

    def cases_due_for_warning(self, now: datetime, limit: int) -> list[UUID]:
        rows = self._fetch(
            f"SELECT DISTINCT case_id FROM {self.table} WHERE state = 'pending' "
            "AND warning_version IS NULL AND warn_at <= {p} AND due_at >= {p} LIMIT {p}",
            [self._instant(now), self._instant(now), limit])
        return [UUID(str(r["case_id"])) for r in rows]

    def _fetch(self, sql: str, params: list[Any]) -> list[Any]:
        raise NotImplementedError


_INDEXES = (
    "CREATE INDEX IF NOT EXISTS {name}_due ON {table} (state, due_at)",
    "CREATE INDEX IF NOT EXISTS {name}_warn ON {table} (state, warn_at)",
    "CREATE INDEX IF NOT EXISTS {name}_rule_due ON {table} (rule, due_at)",
)


class SQLiteObligationsView(ObligationsView, SQLiteTrackingRecorder):
    placeholder = "?"
    table = TABLE

    def construct_create_table_statements(self) -> list[str]:
        return [
            *super().construct_create_table_statements(),
            f"CREATE TABLE IF NOT EXISTS {TABLE} (case_id TEXT NOT NULL, key TEXT NOT NULL, "
            "case_type TEXT NOT NULL, department TEXT NOT NULL, rule TEXT NOT NULL, level TEXT,"
            " description TEXT NOT NULL, responsible TEXT NOT NULL, started_at TEXT NOT NULL, "
            "due_at TEXT NOT NULL, warn_at TEXT NOT NULL, met_at TEXT, met_by_version INTEGER, "
            "void_by_version INTEGER, breach_version INTEGER, warning_version INTEGER, "
            "state TEXT NOT NULL, case_version INTEGER NOT NULL, PRIMARY KEY (case_id, key))",
            *(i.format(name=TABLE, table=TABLE) for i in _INDEXES),
        ]

    def _instant(self, value: datetime) -> str:
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")

    def _case_id(self, value: UUID) -> str:
        return value.hex

    def apply(self, case_id: UUID, rows: Sequence[ObligationRow] | None,
              tracking: Tracking) -> None:
        """Replace the case's rows (None: leave them) and advance tracking, atomically."""
        with self.datastore.transaction(commit=True) as c:
            if rows is not None:
                self._replace(c, case_id, rows)
            self._insert_tracking(c, tracking)

    def clear(self, tracking_name: str) -> None:
        with self.datastore.transaction(commit=True) as c:
            c.execute(f"DELETE FROM {TABLE}")
            c.execute("DELETE FROM tracking WHERE application_name = ?", (tracking_name,))

    def _fetch(self, sql: str, params: list[Any]) -> list[Any]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(self._sql(sql), params)
            return list(c.fetchall())


class PostgresObligationsView(ObligationsView, PostgresTrackingRecorder):
    placeholder = "%s"

    def __init__(self, datastore: PostgresDatastore, **kwargs: Any) -> None:
        super().__init__(datastore, tracking_table_name=f"{TABLE}_tracking", **kwargs)
        schema = self.datastore.schema
        self.table = Identifier(schema, TABLE).as_string()
        self.sql_create_statements.append(SQL(
            "CREATE TABLE IF NOT EXISTS " + self.table + " (case_id uuid NOT NULL, "
            "key text NOT NULL, case_type text NOT NULL, department text NOT NULL, "
            "rule text NOT NULL, level text, description text NOT NULL, "
            "responsible text NOT NULL, started_at timestamptz NOT NULL, "
            "due_at timestamptz NOT NULL, warn_at timestamptz NOT NULL, met_at timestamptz, "
            "met_by_version bigint, void_by_version bigint, breach_version bigint, "
            "warning_version bigint, state text NOT NULL, case_version bigint NOT NULL, "
            "PRIMARY KEY (case_id, key))"))
        for index in _INDEXES:
            self.sql_create_statements.append(SQL(index.format(
                name=TABLE, table=self.table)))

    def apply(self, case_id: UUID, rows: Sequence[ObligationRow] | None,
              tracking: Tracking) -> None:
        with self.datastore.transaction(commit=True) as c:
            if rows is not None:
                self._replace(c, case_id, rows)
            self._insert_tracking(c, tracking)

    def clear(self, tracking_name: str) -> None:
        tracking = Identifier(self.datastore.schema, self.tracking_table_name).as_string()
        with self.datastore.transaction(commit=True) as c:
            c.execute(f"DELETE FROM {self.table}")
            c.execute(f"DELETE FROM {tracking} WHERE application_name = %s",
                      (tracking_name,))

    def _fetch(self, sql: str, params: list[Any]) -> list[Any]:
        with self.datastore.get_connection() as conn, conn.cursor() as c:
            c.execute(self._sql(sql), params)
            return list(c.fetchall())


def construct_view(cases: CaseApplication) -> ObligationsView:
    datastore = cases.factory.datastore
    if isinstance(datastore, SQLiteDatastore):
        return SQLiteObligationsView(datastore)
    return PostgresObligationsView(datastore)


class ObligationsProjection:
    """Derives a case's obligations again for each of its events."""

    name = "obligations"

    def __init__(self, cases: CaseApplication, view: ObligationsView) -> None:
        self.cases = cases
        self.view = view

    def process(self, case_id: UUID, version: int, timestamp: datetime,
                tracking: Tracking) -> None:
        case = self.cases.repository.get(case_id, version=version)
        rows = None
        if isinstance(case, Case):
            horizon = self.cases.calendar.add_working_days(timestamp, 1)
            obligations = self.cases.obligations(case, now=horizon)
            rows = rows_for(case, obligations, self.cases.policy.sla.warning_fraction)
        self.view.apply(case_id, rows, tracking)

