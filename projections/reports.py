"""The reporting view (RPT-1..RPT-4): one row of facts per case, kept by a projection
with tracking, from which the weekly and monthly exception reports, the
department KPIs and the survey trend are aggregated when asked.

Facts per case: type, department, category, level, service step, when it counts
in a period (`opened_at`: an exception's discovery, a corrective action's opening,
a campaign's plan) and when it was resolved, whether its report up, plan and
resolution were on time, the customer's satisfaction with the handling, the
status, whether any obligation is breached, and for surveys the KPIs of their
cleaning. `casetrail rebuild reports`
replays it; a rebuild equals the live view (RPT-4).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Tracking
from eventsourcing.postgres import PostgresDatastore, PostgresTrackingRecorder
from eventsourcing.sqlite import SQLiteTrackingRecorder
from psycopg.sql import SQL, Identifier

from application.app import CaseApplication
from application.reports import Facts, MonthCounts
from domain.cases import Case
from domain.corrective_actions import ActionStatus, CorrectiveAction
from domain.obligations import ObligationState
from domain.service_exceptions.model import ServiceException
from domain.surveys.campaign import SurveyCampaign
from projections.runtime import CaseProjection, Folded
from projections.sql import PostgresSql, SQLiteSql, SqlView, for_backend

TABLE = "casetrail_report_facts"


COLUMNS = tuple(f.name for f in fields(Facts))
INSTANTS = {"opened_at", "resolved_at"}
FLAGS = {"report_on_time", "plan_on_time", "resolution_on_time", "overdue", "closed"}


def _on_time(case: Case, obligations: list[Any], rule: str, now: datetime) -> bool | None:
    """Of the level in force last: met on time, breached, or not decided yet."""
    decided = [o for o in obligations if o.rule == rule and o.void_by_version is None]
    if not decided:
        return None
    state = decided[-1].state_at(now)
    if state is ObligationState.PENDING:
        return None
    return state is ObligationState.MET


def facts_of(cases: CaseApplication, case: Case, now: datetime) -> Facts | None:
    obligations = cases.obligations(case, now)
    overdue = bool(case.breaches)
    if isinstance(case, ServiceException):
        resolution = case.resolution
        return Facts(
            case_id=case.id, case_type=case.case_type, department=case.department,
            category=case.category.value, level=case.level.value,
            service_step=case.service_step, status=case.status.value,
            opened_at=case.discovered_at, resolved_at=resolution.resolved_at if resolution
            else None, report_on_time=_on_time(case, obligations, "EX-ESC-1", now),
            plan_on_time=_on_time(case, obligations, "EX-PLAN-2", now),
            resolution_on_time=_on_time(case, obligations, "EX-RES-1", now),
            satisfaction=case.feedback[0] if case.feedback else None, overdue=overdue,
            closed=case.closed_at is not None, overall_score=None, satisfaction_rate=None,
            loyalty=None, favourable_rate=None)
    if isinstance(case, CorrectiveAction):
        return Facts(
            case_id=case.id, case_type=case.case_type, department=case.department,
            category=case.source.kind.value, level=case.severity.value, service_step=None,
            status=case.status.value, opened_at=case.opened_at, resolved_at=case.closed_at,
            report_on_time=None, plan_on_time=None, resolution_on_time=None,
            satisfaction=None, overdue=overdue, closed=case.status is ActionStatus.CLOSED,
            overall_score=None, satisfaction_rate=None, loyalty=None, favourable_rate=None)
    if isinstance(case, SurveyCampaign):
        cleaning = case.cleaning
        return Facts(
            case_id=case.id, case_type=case.case_type, department=case.department,
            category=case.survey_type.value, level=None, service_step=None,
            status=case.status.value, opened_at=case.planned_at,
            resolved_at=case.reported_at, report_on_time=None, plan_on_time=None,
            resolution_on_time=None, satisfaction=None, overdue=overdue,
            closed=case.reported_at is not None,
            overall_score=cleaning.overall_score if cleaning else None,
            satisfaction_rate=cleaning.satisfaction_rate if cleaning else None,
            loyalty=cleaning.loyalty if cleaning else None,
            favourable_rate=cleaning.favourable_rate if cleaning else None)
    return None


class ReportsView(SqlView):
    columns = COLUMNS
    instants = frozenset(INSTANTS)

    def apply(self, changes: Sequence[tuple[UUID, Facts | None]], tracking: Tracking) -> None:
        """Replace each case's facts (None: remove them) and advance tracking, atomically."""
        with self._transaction() as c:
            self._replace(c, [case_id for case_id, _ in changes],
                          [self._params(facts) for _, facts in changes if facts is not None])
            self._insert_tracking(c, tracking)  # type: ignore[attr-defined]

    def select(self, case_type: str, opened_from: datetime | None = None,
               opened_to: datetime | None = None) -> list[Facts]:
        where, params = ["case_type = {p}"], [case_type]
        if opened_from is not None:
            where.append("opened_at >= {p}")
            params.append(self._instant(opened_from))
        if opened_to is not None:
            where.append("opened_at < {p}")
            params.append(self._instant(opened_to))
        self._in_scope(where, params)  # SEC-AUTH-2
        rows = self._fetch(f"SELECT * FROM {self.table} WHERE {' AND '.join(where)} "
                           "ORDER BY opened_at, case_id", params)
        return [self._facts(r) for r in rows]

    def month_counts(self, opened_from: datetime, opened_to: datetime) -> MonthCounts:
        """RPT-1's monthly figures counted by the database over the (case_type,
        opened_at) index, all from one snapshot: the month's exceptions by category
        and level, and by service step with their satisfaction, and the major ones."""
        where, params = ["case_type = 'exception'", "opened_at >= {p}", "opened_at < {p}"], \
            [self._instant(opened_from), self._instant(opened_to)]
        self._in_scope(where, params)  # SEC-AUTH-2
        month = " AND ".join(where)
        by_category_level, by_step, major = self._fetch_together([
            (f"SELECT coalesce(category, '') AS category, coalesce(level, '') AS level, "
             f"count(*) AS n FROM {self.table} WHERE {month} GROUP BY 1, 2", params),
            (f"SELECT coalesce(service_step, '') AS step, count(*) AS n, "
             "coalesce(sum(satisfaction), 0) AS total, count(satisfaction) AS scored "
             f"FROM {self.table} WHERE {month} GROUP BY 1", params),
            (f"SELECT case_id FROM {self.table} WHERE {month} AND level = 'major' "
             "ORDER BY opened_at, case_id", params)])
        return MonthCounts(
            by_category_level=[(r["category"], r["level"], int(r["n"]))
                               for r in by_category_level],
            by_step=[(r["step"], int(r["n"]), int(r["total"]), int(r["scored"]))
                     for r in by_step],
            major_cases=[str(UUID(str(r["case_id"]))) for r in major])

    def _facts(self, row: Any) -> Facts:
        values = {name: row[name] for name in COLUMNS}
        values["case_id"] = UUID(str(values["case_id"]))
        for name in INSTANTS:
            if values[name] is not None:
                values[name] = self._read_instant(values[name])
        for name in FLAGS:
            if values[name] is not None:
                values[name] = bool(values[name])
        return Facts(**values)


def _table(table: str, uuid: str, instant: str, flag: str) -> list[str]:
    types = {"case_id": uuid, "satisfaction": "INTEGER"} | {n: instant for n in INSTANTS} \
        | {n: flag for n in FLAGS}
    cols = ", ".join(f"{c} {types.get(c, 'TEXT')}" for c in COLUMNS)
    return [f"CREATE TABLE IF NOT EXISTS {table} ({cols}, PRIMARY KEY (case_id))",
            f"CREATE INDEX IF NOT EXISTS {TABLE}_type_opened ON {table} (case_type, opened_at)"]


class SQLiteReportsView(ReportsView, SQLiteSql, SQLiteTrackingRecorder):
    table = TABLE

    def construct_create_table_statements(self) -> list[str]:
        return [*super().construct_create_table_statements(),
                *_table(TABLE, "TEXT", "TEXT", "INTEGER")]


class PostgresReportsView(ReportsView, PostgresSql, PostgresTrackingRecorder):
    def __init__(self, datastore: PostgresDatastore, **kwargs: Any) -> None:
        super().__init__(datastore, tracking_table_name=f"{TABLE}_tracking", **kwargs)
        self.table = Identifier(self.datastore.schema, TABLE).as_string()
        self.sql_create_statements += [
            SQL(s) for s in _table(self.table, "uuid", "timestamptz", "boolean")]  # type: ignore[arg-type]


def construct_reports_view(cases: CaseApplication) -> ReportsView:
    return for_backend(cases, SQLiteReportsView, PostgresReportsView)


class ReportsProjection(CaseProjection):
    """Facts as of each event: deterministic on replay (the event's own time is "now")."""

    name = "reports"
    view: ReportsView

    def process_cases(self, folded: Folded, tracking: Tracking) -> None:
        self.view.apply([(event.originator_id, facts_of(self.cases, case, event.timestamp)
                          if case is not None else None)
                         for event, case in folded], tracking)
