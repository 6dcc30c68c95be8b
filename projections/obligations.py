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
from dataclasses import dataclass, fields, replace
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Tracking
from eventsourcing.postgres import PostgresDatastore, PostgresTrackingRecorder
from eventsourcing.sqlite import SQLiteTrackingRecorder
from psycopg.sql import SQL, Identifier

from application.app import CaseApplication
from application.compliance import StateCount
from domain.cases import Case
from domain.obligations import Obligation
from projections.runtime import CaseProjection, Folded
from projections.sql import PostgresSql, SQLiteSql, SqlView, for_backend

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
    sweep_breach_at: datetime | None
    """due_at while a breach is owed to the record (unmet or met late), else null."""
    sweep_warn_at: datetime | None
    """warn_at while a warning is owed (pending, none sent), else null."""
    met_recorded_at: datetime | None = None
    """EX-REC-2: when a backdated meeting event was recorded (state met_recorded_late)."""


COLUMNS = tuple(f.name for f in fields(ObligationRow))
INSTANTS = {"started_at", "due_at", "warn_at", "met_at", "sweep_breach_at", "sweep_warn_at",
            "met_recorded_at"}


def rows_for(case: Case, obligations: Sequence[Obligation], fraction: float
             ) -> list[ObligationRow]:
    rows = []
    for o in obligations:
        breach = case.breaches.get(o.key)
        warning = case.warnings.get(o.key)
        late = o.met_at is not None and o.met_at > o.due_at
        if o.void_by_version is not None:
            state = "void"
        elif breach is not None or late:
            state = "breached"
        elif o.met_at is not None:
            state = "met" if o.met_recorded_at is None else "met_recorded_late"
        else:
            state = "pending"
        owes_breach = breach is None and state in {"pending", "breached"}
        rows.append(ObligationRow(
            case_id=case.id, key=o.key, case_type=case.case_type, department=case.department,
            rule=o.rule, level=o.level, description=o.description, responsible=o.responsible,
            started_at=o.started_at, due_at=o.due_at, warn_at=o.warn_at(fraction),
            met_at=o.met_at, met_by_version=o.met_by_version, void_by_version=o.void_by_version,
            breach_version=breach, warning_version=warning, state=state,
            case_version=case.version,
            sweep_breach_at=o.due_at if owes_breach else None,
            sweep_warn_at=o.warn_at(fraction) if state == "pending" and warning is None
            else None, met_recorded_at=o.met_recorded_at))
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
    states: tuple[str, ...] = ()
    after: tuple[datetime, UUID, str] | None = None
    """Keyset position: (due_at, case_id, key) of the last row seen."""


class ObligationsView(SqlView):
    """The view's queries, the same SQL on both backends."""

    columns = COLUMNS
    instants = frozenset(INSTANTS)

    def _where(self, query: ObligationQuery) -> tuple[str, list[Any]]:
        where, params = ["1 = 1"], []
        for column in ("state", "rule", "level", "department"):
            if (value := getattr(query, column)) is not None:
                where.append(f"{column} = {{p}}")
                params.append(value)
        if query.subject is not None:
            where.append("case_id = {p}")
            params.append(self._uuid(query.subject))
        for column, values in (("rule", query.rules), ("state", query.states)):
            if values:
                where.append(f"{column} IN ({', '.join(['{p}'] * len(values))})")
                params += list(values)
        self._in_scope(where, params)  # SEC-AUTH-2
        if query.due_from is not None:
            where.append("due_at >= {p}")
            params.append(self._instant(query.due_from))
        if query.due_before is not None:
            where.append("due_at < {p}")
            params.append(self._instant(query.due_before))
        if query.after is not None:
            due, case, key = query.after
            where.append("(due_at > {p} OR (due_at = {p} AND (case_id > {p} OR "
                         "(case_id = {p} AND key > {p}))))")
            params += [self._instant(due), self._instant(due), self._uuid(case),
                       self._uuid(case), key]
        return " AND ".join(where), params

    def _row(self, row: Any) -> ObligationRow:
        values = {name: row[name] for name in COLUMNS}
        values["case_id"] = UUID(str(values["case_id"]))
        for name in INSTANTS:
            if values[name] is not None:
                values[name] = self._read_instant(values[name])
        return ObligationRow(**values)

    def apply(self, changes: Sequence[tuple[UUID, Sequence[ObligationRow] | None]],
              tracking: Tracking) -> None:
        """Replace each case's rows (None: leave them) and advance tracking, atomically."""
        replaced = [(case_id, rows) for case_id, rows in changes if rows is not None]
        with self._transaction() as c:
            self._replace(c, [case_id for case_id, _ in replaced],
                          [self._params(row) for _, rows in replaced for row in rows])
            self._insert_tracking(c, tracking)  # type: ignore[attr-defined]

    def _select_sql(self, query: ObligationQuery, limit: int | None
                    ) -> tuple[str, list[Any]]:
        where, params = self._where(query)
        sql = f"SELECT * FROM {self.table} WHERE {where} ORDER BY due_at, case_id, key"
        return (sql, params) if limit is None else (sql + " LIMIT {p}", [*params, limit])

    def select(self, query: ObligationQuery, limit: int) -> list[ObligationRow]:
        return [self._row(row) for row in self._fetch(*self._select_sql(query, limit))]

    def compliance(self, query: ObligationQuery, evidence: tuple[str, ...]
                   ) -> tuple[list[StateCount], list[ObligationRow]]:
        """Obligations per level, department, rule and state, counted by the database
        over the (rule, due_at) index, and every obligation in an `evidence` state as
        a row: both from one snapshot (SLA-4, B7)."""
        where, params = self._where(query)
        counted, listed = self._fetch_together([
            (f"SELECT level, department, rule, state, count(*) AS n FROM {self.table} "
             f"WHERE {where} GROUP BY level, department, rule, state", params),
            self._select_sql(replace(query, states=evidence), None)])
        return ([StateCount(r["level"], r["department"], r["rule"], r["state"], int(r["n"]))
                 for r in counted], [self._row(row) for row in listed])

    def cases_due_for_breach(self, now: datetime, limit: int) -> list[UUID]:
        """Cases owing a breach to the record. Indexed on `sweep_breach_at`, so the
        cost follows what is due, not how much is pending (B5)."""
        rows = self._fetch(f"SELECT DISTINCT case_id FROM {self.table} "
                           "WHERE sweep_breach_at < {p} LIMIT {p}", [self._instant(now), limit])
        return [UUID(str(r["case_id"])) for r in rows]

    def cases_due_for_warning(self, now: datetime, limit: int) -> list[UUID]:
        rows = self._fetch(f"SELECT DISTINCT case_id FROM {self.table} "
                           "WHERE sweep_warn_at <= {p} AND due_at >= {p} LIMIT {p}",
                           [self._instant(now), self._instant(now), limit])
        return [UUID(str(r["case_id"])) for r in rows]


_INDEXES = (
    "CREATE INDEX IF NOT EXISTS {name}_breach ON {table} (sweep_breach_at)",
    "CREATE INDEX IF NOT EXISTS {name}_warn ON {table} (sweep_warn_at)",
    "CREATE INDEX IF NOT EXISTS {name}_due ON {table} (due_at, case_id, key)",
    "CREATE INDEX IF NOT EXISTS {name}_rule_due ON {table} (rule, due_at)",
)
_COLUMN_TYPES = {
    "case_id": ("TEXT", "uuid"), "version": ("INTEGER", "bigint"),
    "text": ("TEXT", "text"), "instant": ("TEXT", "timestamptz"),
}


def _create_table(table: str, kind: int) -> str:
    def col(name: str) -> str:
        if name == "case_id":
            typ = _COLUMN_TYPES["case_id"][kind]
        elif name in INSTANTS:
            typ = _COLUMN_TYPES["instant"][kind]
        elif name.endswith("version"):
            typ = _COLUMN_TYPES["version"][kind]
        else:
            typ = _COLUMN_TYPES["text"][kind]
        nullable = name in {"level", "met_at", "met_by_version", "void_by_version",
                            "breach_version", "warning_version", "sweep_breach_at",
                            "sweep_warn_at", "met_recorded_at"}
        return f"{name} {typ}{'' if nullable else ' NOT NULL'}"

    return (f"CREATE TABLE IF NOT EXISTS {table} ({', '.join(col(c) for c in COLUMNS)}, "
            "PRIMARY KEY (case_id, key))")


ADDED_COLUMN = "met_recorded_at"
"""Added after tables were first made (before 0.1.0): part of migration 0001."""


class SQLiteObligationsView(ObligationsView, SQLiteSql, SQLiteTrackingRecorder):
    table = TABLE

    def construct_create_table_statements(self) -> list[str]:
        return [*super().construct_create_table_statements(), _create_table(TABLE, 0),
                *(i.format(name=TABLE, table=TABLE) for i in _INDEXES)]

    def create_table(self) -> None:
        super().create_table()
        with self.datastore.transaction(commit=True) as c:
            c.execute(f"SELECT name FROM pragma_table_info('{TABLE}')")
            if ADDED_COLUMN not in {r["name"] for r in c.fetchall()}:
                c.execute(f"ALTER TABLE {TABLE} ADD COLUMN {ADDED_COLUMN} TEXT")


class PostgresObligationsView(ObligationsView, PostgresSql, PostgresTrackingRecorder):
    def __init__(self, datastore: PostgresDatastore, **kwargs: Any) -> None:
        super().__init__(datastore, tracking_table_name=f"{TABLE}_tracking", **kwargs)
        self.table = Identifier(self.datastore.schema, TABLE).as_string()
        self.sql_create_statements.append(SQL(_create_table(self.table, 1)))  # type: ignore[arg-type]
        self.sql_create_statements.append(SQL(  # type: ignore[arg-type]
            f"ALTER TABLE {self.table} ADD COLUMN IF NOT EXISTS {ADDED_COLUMN} timestamptz"))
        for index in _INDEXES:
            self.sql_create_statements.append(
                SQL(index.format(name=TABLE, table=self.table)))  # type: ignore[arg-type]


def construct_view(cases: CaseApplication) -> ObligationsView:
    return for_backend(cases, SQLiteObligationsView, PostgresObligationsView)


class ObligationsProjection(CaseProjection):
    """Derives a case's obligations again for each of its events."""

    name = "obligations"
    view: ObligationsView

    def process_cases(self, folded: Folded, tracking: Tracking) -> None:
        self.view.apply([(event.originator_id, self._rows(event, case))
                         for event, case in folded], tracking)

    def _rows(self, event: Any, case: Case | None) -> list[ObligationRow] | None:
        if case is None:
            return None
        horizon = self.cases.calendar.add_working_days(event.timestamp, 1)
        obligations = self.cases.obligations(case, now=horizon)
        return rows_for(case, obligations, self.cases.policy.sla.warning_fraction)

