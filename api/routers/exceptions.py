"""`/v1/exceptions`: service exceptions (DOMAIN.md section 2)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request, Response

from api.commands import case_headers, etag, idempotency_for, run_command
from api.deps import (
    AppMetrics,
    CasesApp,
    CorrelationId,
    CurrentActor,
    IdempotencyKey,
    IfMatch,
    require,
)
from api.models.common import ActorView, History, HistoryEntry, jsonable
from api.models.exceptions import ExceptionView, OpenException, ReportUpIn
from api.problems import Problem
from application.app import CaseApplication, CommandResult
from domain.actors import Actor
from domain.service_exceptions.model import HANDLERS, ServiceException
from domain.service_exceptions.values import CONTACT_VIEWERS

PROBLEMS = {status: {"model": Problem, "content": {"application/problem+json": {}}}
            for status in (401, 403, 404, 409, 412, 422, 503)}
router = APIRouter(prefix="/v1/exceptions", tags=["exceptions"], responses=PROBLEMS)
CASE = "exception"


def _view(cases: CaseApplication, actor: Actor, result: CommandResult) -> ExceptionView:
    case = cases.get_case(ServiceException, result.case_id, version=result.version)
    return ExceptionView.of(case, reveal_contact=actor.has_any(*CONTACT_VIEWERS))


@router.post("", status_code=201, response_model=ExceptionView,
             dependencies=[Depends(require(HANDLERS))])
def open_exception(body: OpenException, request: Request, response: Response,
                   cases: CasesApp, actor: CurrentActor, correlation_id: CorrelationId,
                   metrics: AppMetrics, idempotency_key: IdempotencyKey) -> ExceptionView:
    """Record a service exception (EX-REC-1)."""
    ctx = cases.context(actor, correlation_id)

    def create() -> ServiceException:
        return ServiceException.record(
            ctx, customer=body.customer.to_domain(), category=body.category,
            level=body.level, title=body.title, description=body.description,
            service_step=body.service_step, discovered_at=body.discovered_at,
            department=body.department, contract_ref=body.contract_ref,
            impact_scope=body.impact_scope, customer_demands=body.customer_demands)

    idem = idempotency_for(request, actor, idempotency_key, body.model_dump(mode="json"))
    result = run_command(metrics, CASE, "record", lambda: cases.open(create, idempotency=idem))
    case_headers(response, result, location=f"{router.prefix}/{result.case_id}")
    return _view(cases, actor, result)


@router.get("/{case_id}", response_model=ExceptionView)
def get_exception(
    case_id: UUID, response: Response, cases: CasesApp, actor: CurrentActor,
    version: Annotated[int | None, Query(ge=1, description="the state at this version (AUD-2)")]
    = None,
) -> ExceptionView:
    case = cases.get_case(ServiceException, case_id, version=version)
    response.headers["ETag"] = etag(case.version)
    return ExceptionView.of(case, reveal_contact=actor.has_any(*CONTACT_VIEWERS))


@router.get("/{case_id}/history", response_model=History)
def exception_history(case_id: UUID, cases: CasesApp, actor: CurrentActor) -> History:
    """Every recorded event of the case, oldest first, straight from the store."""
    reveal = actor.has_any(*CONTACT_VIEWERS)
    items = []
    for event in cases.history(ServiceException, case_id):
        data = {k: v for k, v in vars(event).items()
                if k not in {"originator_id", "originator_version", "timestamp", "meta",
                             "originator_topic"}}
        meta = event.meta  # type: ignore[attr-defined]
        items.append(HistoryEntry(
            version=event.originator_version, type=type(event).__name__,
            recorded_at=event.timestamp, occurred_at=ServiceException.occurred_at(event),
            actor=ActorView.of(meta.actor), correlation_id=meta.correlation_id,
            data=jsonable(data, reveal_contact=reveal)))
    return History(case_id=case_id, items=items)


@router.post("/{case_id}/reports", response_model=ExceptionView,
             dependencies=[Depends(require(HANDLERS))])
def report_up(case_id: UUID, body: ReportUpIn, request: Request, response: Response,
              cases: CasesApp, actor: CurrentActor, correlation_id: CorrelationId,
              metrics: AppMetrics, expected_version: IfMatch,
              idempotency_key: IdempotencyKey) -> ExceptionView:
    """Report the exception up the line (EX-ESC-1)."""
    ctx = cases.context(actor, correlation_id)
    idem = idempotency_for(request, actor, idempotency_key, body.model_dump(mode="json"))
    result = run_command(metrics, CASE, "report_up", lambda: cases.execute(
        ServiceException, case_id,
        lambda case: case.report_up(ctx, reported_to=tuple(body.reported_to),
                                    reported_at=body.reported_at, details=body.details,
                                    first_judgement=body.first_judgement,
                                    customer_demands=body.customer_demands,
                                    measures_taken=body.measures_taken),
        expected_version=expected_version, idempotency=idem))
    case_headers(response, result)
    return _view(cases, actor, result)
