"""Legal holds (RET-2) and the retention view (RET-1): what may be purged, and when."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import Depends, Query, Request, Response
from pydantic import BaseModel, Field

from api.commands import case_response, command_response, idempotency_for, run_command
from api.deps import AppMetrics, CasesApp, CorrelationId, CurrentActor, IdempotencyKey, require
from api.models.common import Instant, RequestModel, UtcDatetime
from api.problems import Problem
from api.routing import Router
from application.idempotency import StoredResponse
from application.retention import plan_purge
from domain.actors import Role
from domain.legal_holds import HOLDERS, LegalHold

router = Router(tags=["retention"], responses={
    s: {"model": Problem, "content": {"application/problem+json": {}}}
    for s in (401, 403, 404, 409, 422)})
READERS = frozenset({Role.AUDITOR, Role.LEGAL, Role.MANAGEMENT})


class HoldIn(RequestModel):
    """One of `case_id` and `customer_id`."""

    case_id: UUID | None = None
    customer_id: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    reason: Annotated[str, Field(min_length=1, max_length=5000)]


class HoldView(BaseModel):
    id: UUID
    case_id: str | None
    customer_id: str | None
    reason: str
    placed_by: str
    placed_at: UtcDatetime
    released_at: UtcDatetime | None

    @classmethod
    def of(cls, hold: LegalHold) -> HoldView:
        return cls(id=hold.id, case_id=hold.case_id, customer_id=hold.customer_id,
                   reason=hold.reason, placed_by=hold.placed_by, placed_at=hold.placed_at,
                   released_at=hold.released_at)


@router.post("/v1/legal-holds", status_code=201, response_model=HoldView,
             dependencies=[Depends(require(HOLDERS))])
def place_hold(body: HoldIn, request: Request, cases: CasesApp,
               actor: CurrentActor, correlation_id: CorrelationId, metrics: AppMetrics,
               idempotency_key: IdempotencyKey) -> Response:
    """Place a legal hold on a case or a customer: nothing of theirs is purged while
    it stands."""
    ctx = cases.context(actor, correlation_id)

    def render(hold: LegalHold) -> StoredResponse:
        return case_response(201, HoldView.of(hold), None, f"/v1/legal-holds/{hold.id}")

    idem = idempotency_for(request, actor, idempotency_key, body)
    result = run_command(metrics, "legal_hold", "place", lambda: cases.place_hold(
        ctx, case_id=str(body.case_id) if body.case_id else None,
        customer_id=body.customer_id, reason=body.reason, idempotency=idem, render=render))
    return command_response(result, lambda: render(cases.get_hold(result.case_id)))


@router.delete("/v1/legal-holds/{hold_id}", response_model=HoldView,
               dependencies=[Depends(require(HOLDERS))])
def release_hold(hold_id: UUID, cases: CasesApp, actor: CurrentActor,
                 correlation_id: CorrelationId, metrics: AppMetrics,
                 reason: Annotated[str, Query(min_length=1, max_length=5000)]) -> HoldView:
    """Release a hold, with a reason (kept on the hold's record)."""
    ctx = cases.context(actor, correlation_id)
    run_command(metrics, "legal_hold", "release",
                lambda: cases.release_hold(ctx, hold_id, reason))
    return HoldView.of(cases.get_hold(hold_id))


class RetentionItem(BaseModel):
    case_id: UUID
    case_type: str
    customer_id: str | None
    closed_at: UtcDatetime | None
    retain_until: UtcDatetime | None
    purgeable: bool
    held_by: list[UUID]
    blocked_because: str | None


class RetentionPage(BaseModel):
    items: list[RetentionItem]


@router.get("/v1/retention", response_model=RetentionPage,
            dependencies=[Depends(require(READERS))])
def retention(request: Request, cases: CasesApp,
              due_before: Instant | None = None) -> RetentionPage:
    """Closed records whose retention ends by `due_before` (default: now), whether
    each may be purged, and the holds that keep it."""
    store = cases.index
    when = due_before or cases.clock.now()
    plan = plan_purge(store, when)  # type: ignore[arg-type]
    holds = store.active_holds()  # type: ignore[attr-defined]
    items = []
    for summary in store.retention_due(when):  # type: ignore[attr-defined]
        held = [h.hold_id for h in holds if h.case_id == str(summary.case_id)
                or (h.customer_id and h.customer_id == summary.customer_id)]
        items.append(RetentionItem(
            case_id=summary.case_id, case_type=summary.case_type,
            customer_id=summary.customer_id, closed_at=summary.closed_at,
            retain_until=summary.retain_until, purgeable=summary.case_id in plan.cases,
            held_by=held, blocked_because=plan.blocked.get(summary.customer_id or "")))
    return RetentionPage(items=items)
