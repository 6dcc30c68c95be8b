"""`/v1/obligations` (SLA-1) and `/v1/compliance/escalations` (SLA-4)."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import Depends, Query, Request
from pydantic import BaseModel, Field

from api.deps import CurrentActor, require
from api.models.common import Instant, UtcDatetime
from api.problems import ApiProblem, FieldError, Problem
from api.routing import Router
from application.compliance import (
    ESCALATION_RULES,
    EVIDENCE_STATES,
    escalation_compliance,
    event_id,
)
from domain.actors import Role
from domain.obligations import ObligationState
from projections.obligations import ObligationQuery, ObligationRow, ObligationsView

router = Router(tags=["obligations"], responses={
    s: {"model": Problem, "content": {"application/problem+json": {}}} for s in (401, 403, 422)})
COMPLIANCE_READERS = frozenset({Role.AUDITOR, Role.MANAGEMENT, Role.PRINCIPAL,
                                Role.GROUP_LEADER, Role.CS_HEAD, Role.DEPARTMENT_HEAD})


class ObligationItem(BaseModel):
    subject: UUID
    case_type: str
    key: str
    rule: str
    level: str | None
    department: str
    description: str
    responsible: str
    state: ObligationState
    started_at: UtcDatetime
    due_at: UtcDatetime
    warn_at: UtcDatetime
    met_at: UtcDatetime | None
    met_by_event: str | None
    void_by_event: str | None
    breach_event: str | None
    warning_event: str | None
    met_recorded_at: UtcDatetime | None = Field(
        description="EX-REC-2: when a backdated meeting event was recorded")

    @classmethod
    def of(cls, row: ObligationRow) -> ObligationItem:
        return cls(
            subject=row.case_id, case_type=row.case_type, key=row.key, rule=row.rule,
            level=row.level, department=row.department, description=row.description,
            responsible=row.responsible, state=ObligationState(row.state),
            started_at=row.started_at, due_at=row.due_at, warn_at=row.warn_at,
            met_at=row.met_at, met_by_event=event_id(row.case_id, row.met_by_version),
            void_by_event=event_id(row.case_id, row.void_by_version),
            breach_event=event_id(row.case_id, row.breach_version),
            warning_event=event_id(row.case_id, row.warning_version),
            met_recorded_at=row.met_recorded_at)


class ObligationPage(BaseModel):
    items: list[ObligationItem]
    next_cursor: str | None


def _view(request: Request) -> ObligationsView:
    return request.app.state.obligations  # type: ignore[no-any-return]


def _encode(row: ObligationRow) -> str:
    raw = json.dumps([row.due_at.isoformat(), str(row.case_id), row.key]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str) -> tuple[datetime, UUID, str]:
    try:
        due, case_id, key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        return datetime.fromisoformat(due), UUID(case_id), str(key)
    except (ValueError, TypeError, binascii.Error):
        detail = "not a cursor this service returned"
        raise ApiProblem(422, "validation", "Invalid request", detail,
                         errors=[FieldError(field="query.cursor", message=detail)]) from None


@router.get("/v1/obligations", response_model=ObligationPage)
def list_obligations(
    request: Request, actor: CurrentActor,
    state: ObligationState | None = None,
    rule: Annotated[str | None, Query(examples=["EX-ESC-1"])] = None,
    subject: Annotated[UUID | None, Query(description="a case id")] = None,
    due_before: Instant | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: str | None = None,
) -> ObligationPage:
    """SLA timers from the obligations view, earliest due first. The view follows the
    event log; a breach shows as `breached` once the sweep has put it on record (or
    when the obligation was met late)."""
    query = ObligationQuery(state=state.value if state else None, rule=rule, subject=subject,
                            due_before=due_before, after=_decode(cursor) if cursor else None)
    rows = _view(request).select(query, limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return ObligationPage(items=[ObligationItem.of(r) for r in rows],
                          next_cursor=_encode(rows[-1]) if more else None)


class TallyView(BaseModel):
    level: str
    department: str
    rule: str
    met_on_time: int
    breached: int
    pending: int
    met_recorded_late: int = Field(
        description="EX-REC-2: met on a backdated claim, recorded only later; not on time")
    on_time_share: float | None = Field(
        description="met on time / (met on time + met recorded late + breached)")


class BreachView(BaseModel):
    subject: UUID
    key: str
    rule: str
    level: str
    department: str
    due_at: UtcDatetime
    actual_at: UtcDatetime | None
    breach_event: str | None
    met_by_event: str | None
    responsible: str


class RecordedLateView(BaseModel):
    """Met on claim, recorded late (EX-REC-2): both instants."""

    subject: UUID
    key: str
    rule: str
    level: str
    department: str
    due_at: UtcDatetime
    claimed_at: UtcDatetime = Field(description="the business instant the client claimed")
    recorded_at: UtcDatetime = Field(description="when the server recorded it: the evidence")
    met_by_event: str | None
    responsible: str


class ComplianceReport(BaseModel):
    period_from: UtcDatetime
    period_to: UtcDatetime
    rules: list[str]
    tallies: list[TallyView]
    breaches: list[BreachView]
    recorded_late: list[RecordedLateView] = Field(
        description="EX-REC-2: obligations met on claim, recorded late")


@router.get("/v1/compliance/escalations", response_model=ComplianceReport,
            dependencies=[Depends(require(COMPLIANCE_READERS))])
def escalation_compliance_report(
    request: Request,
    period_from: Annotated[Instant, Query(alias="from", description="due at or after")],
    period_to: Annotated[Instant, Query(alias="to", description="due before")],
    level: str | None = None,
    department: str | None = None,
) -> ComplianceReport:
    """SLA-4: per level and department, the share of report-up (EX-ESC-1), plan
    (EX-PLAN-2) and resolution (EX-RES-1) obligations due in the period that were
    met on time, and every breach with its evidence."""
    if period_to <= period_from:
        detail = "'to' must be after 'from'"
        raise ApiProblem(422, "validation", "Invalid request", detail,
                         errors=[FieldError(field="query.to", message=detail)])
    query = ObligationQuery(rules=ESCALATION_RULES, due_from=period_from,
                            due_before=period_to, level=level, department=department)
    tallies, breaches, recorded_late = escalation_compliance(
        *_view(request).compliance(query, EVIDENCE_STATES))
    return ComplianceReport(
        period_from=period_from, period_to=period_to, rules=list(ESCALATION_RULES),
        tallies=[TallyView(level=t.level, department=t.department, rule=t.rule,
                           met_on_time=t.met_on_time, breached=t.breached, pending=t.pending,
                           met_recorded_late=t.met_recorded_late,
                           on_time_share=t.on_time_share) for t in tallies],
        breaches=[BreachView(subject=b.case_id, key=b.key, rule=b.rule, level=b.level,
                             department=b.department, due_at=b.due_at, actual_at=b.met_at,
                             breach_event=b.breach_event, met_by_event=b.met_by_event,
                             responsible=b.responsible) for b in breaches],
        recorded_late=[RecordedLateView(
            subject=r.case_id, key=r.key, rule=r.rule, level=r.level, department=r.department,
            due_at=r.due_at, claimed_at=r.claimed_at, recorded_at=r.recorded_at,
            met_by_event=r.met_by_event, responsible=r.responsible) for r in recorded_late])
