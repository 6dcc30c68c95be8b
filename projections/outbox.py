"""The notifications outbox (SLA-2 warnings, SLA-1 breaches, EX-CHAIN-1 reports up and
their results fed back down): one row per event and
webhook target, written with its tracking row, so no notification is lost or made
twice however the worker stops. Delivery (infrastructure/webhooks.py) works from
these rows and keeps a log of every attempt.

The outbox is never cleared by a rebuild: a replay only adds rows it lacks
(delivery ids are derived from the event and the target), so nothing that was
delivered is sent again.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from eventsourcing.persistence import Tracking
from eventsourcing.postgres import PostgresDatastore, PostgresTrackingRecorder
from eventsourcing.sqlite import SQLiteTrackingRecorder
from psycopg.sql import SQL, Identifier

from application.app import CaseApplication
from domain.service_exceptions.model import ServiceException
from domain.service_exceptions.values import Level, chain_reporter, reporting_chain
from infrastructure.settings import WebhookTarget
from projections.runtime import Batch
from projections.sql import PostgresSql, SQLiteSql, SqlView, for_backend

OUTBOX = "casetrail_outbox"
LOG = "casetrail_delivery_log"
EVENTS = {"ObligationWarned": "obligation.warned", "ObligationBreached": "obligation.breached",
          "ReportedUp": "exception.reported", "Resolved": "exception.resolved"}
_NAMESPACE = uuid.UUID("5f0c7a52-6d1e-4f8e-9c1a-0b7e5d2c9a11")


@dataclass(frozen=True)
class Delivery:
    delivery_id: str
    target: str
    event: str
    payload: str
    attempts: int


class OutboxView(SqlView):
    outbox: str
    log: str

    def add(self, deliveries: Sequence[tuple[str, str, str, str, datetime]],
            tracking: Tracking) -> None:
        with self._transaction() as c:
            for delivery_id, target, event, payload, at in deliveries:
                c.execute(self._sql(
                    f"INSERT INTO {self.outbox} (delivery_id, target, event, payload, status, "
                    "attempts, next_attempt_at, created_at) VALUES "
                    "({p}, {p}, {p}, {p}, 'pending', 0, {p}, {p}) "
                    "ON CONFLICT (delivery_id) DO NOTHING"),
                    [delivery_id, target, event, payload, self._instant(at), self._instant(at)])
            self._insert_tracking(c, tracking)  # type: ignore[attr-defined]

    skip_locked = ""

    def clear(self, tracking_name: str) -> None:
        """For a replay: only the position is reset; rows stay, so what was
        delivered is never sent again and a replay adds only what is missing."""
        with self._transaction() as c:
            self._reset_tracking(c, tracking_name)

    def claim(self, now: datetime, lease: timedelta, limit: int) -> list[Delivery]:
        """Take due deliveries for `lease`; a crashed deliverer's lease runs out."""
        with self._transaction() as c:
            c.execute(self._sql(
                f"UPDATE {self.outbox} SET claimed_until = {{p}} WHERE delivery_id IN ("
                f"SELECT delivery_id FROM {self.outbox} WHERE status = 'pending' "
                "AND next_attempt_at <= {p} AND (claimed_until IS NULL OR claimed_until < {p})"
                f" ORDER BY next_attempt_at LIMIT {{p}}{self.skip_locked}) "
                "RETURNING delivery_id, target, event, payload, attempts"),
                [self._instant(now + lease), self._instant(now), self._instant(now), limit])
            return [Delivery(r["delivery_id"], r["target"], r["event"], r["payload"],
                             r["attempts"]) for r in c.fetchall()]

    def record_attempt(self, delivery: Delivery, at: datetime, status_code: int | None,
                       error: str | None, next_attempt_at: datetime | None) -> None:
        """Delivered when `next_attempt_at` is None; else retried then."""
        attempt = delivery.attempts + 1
        with self._transaction() as c:
            if next_attempt_at is None:
                c.execute(self._sql(
                    f"UPDATE {self.outbox} SET status = 'delivered', attempts = {{p}}, "
                    "delivered_at = {p}, claimed_until = NULL WHERE delivery_id = {p}"),
                    [attempt, self._instant(at), delivery.delivery_id])
            else:
                c.execute(self._sql(
                    f"UPDATE {self.outbox} SET attempts = {{p}}, next_attempt_at = {{p}}, "
                    "claimed_until = NULL, last_error = {p} WHERE delivery_id = {p}"),
                    [attempt, self._instant(next_attempt_at), error, delivery.delivery_id])
            c.execute(self._sql(
                f"INSERT INTO {self.log} (delivery_id, attempt, at, status_code, error) "
                "VALUES ({p}, {p}, {p}, {p}, {p})"),
                [delivery.delivery_id, attempt, self._instant(at), status_code, error])

    def backlog(self) -> tuple[int, datetime | None]:
        """Deliveries not yet made, and when the oldest of them was created."""
        [row] = self._fetch(f"SELECT count(*) AS n, min(created_at) AS oldest FROM "
                            f"{self.outbox} WHERE status = 'pending'", [])
        oldest = row["oldest"]
        return int(row["n"]), self._read_instant(oldest) if oldest is not None else None

    def deliveries(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self._fetch(
            f"SELECT * FROM {self.outbox} ORDER BY created_at, delivery_id", [])]

    def attempts_log(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self._fetch(
            f"SELECT * FROM {self.log} ORDER BY at, delivery_id, attempt", [])]


def _tables(outbox: str, log: str, instant: str) -> list[str]:
    return [
        f"CREATE TABLE IF NOT EXISTS {outbox} (delivery_id TEXT PRIMARY KEY, target TEXT NOT NULL,"
        f" event TEXT NOT NULL, payload TEXT NOT NULL, status TEXT NOT NULL, "
        f"attempts INTEGER NOT NULL, next_attempt_at {instant} NOT NULL, "
        f"claimed_until {instant}, created_at {instant} NOT NULL, delivered_at {instant}, "
        "last_error TEXT)",
        f"CREATE INDEX IF NOT EXISTS {OUTBOX}_due ON {outbox} (status, next_attempt_at)",
        f"CREATE TABLE IF NOT EXISTS {log} (delivery_id TEXT NOT NULL, attempt INTEGER NOT NULL,"
        f" at {instant} NOT NULL, status_code INTEGER, error TEXT, "
        "PRIMARY KEY (delivery_id, attempt))",
    ]


class SQLiteOutboxView(OutboxView, SQLiteSql, SQLiteTrackingRecorder):
    outbox, log = OUTBOX, LOG

    def construct_create_table_statements(self) -> list[str]:
        return [*super().construct_create_table_statements(), *_tables(OUTBOX, LOG, "TEXT")]


class PostgresOutboxView(OutboxView, PostgresSql, PostgresTrackingRecorder):
    skip_locked = " FOR UPDATE SKIP LOCKED"

    def __init__(self, datastore: PostgresDatastore, **kwargs: Any) -> None:
        super().__init__(datastore, tracking_table_name=f"{OUTBOX}_tracking", **kwargs)
        self.outbox = Identifier(self.datastore.schema, OUTBOX).as_string()
        self.log = Identifier(self.datastore.schema, LOG).as_string()
        self.sql_create_statements += [
            SQL(t) for t in _tables(self.outbox, self.log, "timestamptz")]  # type: ignore[arg-type]


def construct_outbox(cases: CaseApplication) -> OutboxView:
    return for_backend(cases, SQLiteOutboxView, PostgresOutboxView)


class OutboxProjection:
    """Turns each warning, breach, report up and resolution into one delivery per
    interested target."""

    name = "outbox"

    def __init__(self, cases: CaseApplication, view: OutboxView,
                 targets: Sequence[WebhookTarget]) -> None:
        self.cases = cases
        self.view = view
        self.targets = targets

    def process(self, batch: Batch, tracking: Tracking) -> None:
        self.view.add([delivery for _, event in batch for delivery in self._deliveries(event)],
                      tracking)

    def _deliveries(self, event: Any) -> list[tuple[str, str, str, str, datetime]]:
        kind = EVENTS.get(type(event).__name__)
        targets = [t for t in self.targets if kind in t.events]
        if kind is None or not targets:
            return []
        event_id = f"{event.originator_id}/{event.originator_version}"
        body = {"event": kind, "event_id": event_id, "case_id": str(event.originator_id),
                **self._body(event), "recorded_at": event.timestamp.isoformat()}
        deliveries = []
        for target in targets:
            delivery_id = str(uuid.uuid5(_NAMESPACE, f"{event_id}|{target.url}"))
            payload = json.dumps({"delivery_id": delivery_id, **body}, ensure_ascii=False,
                                 separators=(",", ":"))
            deliveries.append((delivery_id, str(target.url), kind, payload, event.timestamp))
        return deliveries

    def _body(self, event: Any) -> dict[str, Any]:
        """What a receiver needs to act, and no personal data: the report's texts and
        the resolution summary stay in the case."""
        if isinstance(event, ServiceException.ReportedUp):  # type: ignore[attr-defined]
            report = event.report
            return {"reported_by": report.reported_by,
                    "link": {"from": chain_reporter(report.reported_to).value,
                             "to": sorted(r.value for r in report.reported_to)},
                    "recipients": sorted(r.value for r in report.reported_to),
                    "reported_at": report.reported_at.isoformat()}
        if isinstance(event, ServiceException.Resolved):  # type: ignore[attr-defined]
            level: Level = self.cases.repository.get(event.originator_id,
                                              version=event.originator_version).level
            return {"level": level.value, "resolved_at": event.resolved_at.isoformat(),
                    "recipients": [by.value for by, _ in reversed(reporting_chain(level))]}
        return {"key": event.key, "rule": event.rule, "description": event.description,
                "due_at": event.due_at.isoformat(),
                "met_at": event.met_at.isoformat() if getattr(event, "met_at", None) else None,
                "responsible": event.responsible}
