"""Command endpoints as data. Every case command has one shape: load -> command ->
save, with If-Match, Idempotency-Key, metrics and the new view; a case type
declares its commands as a table and gets one POST route each.

No `from __future__ import annotations` here: FastAPI reads each generated
endpoint's body type from its real annotation.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel

from api.commands import case_response, command_response, idempotency_for, run_command
from api.deps import (
    AppMetrics,
    CasesApp,
    CorrelationId,
    CurrentActor,
    IdempotencyKey,
    IfMatch,
    require,
)
from application.app import CaseApplication
from application.idempotency import StoredResponse
from domain.actors import Actor, Role
from domain.cases import Case, CommandContext


@dataclass(frozen=True)
class Command:
    path: str
    name: str
    body: type[BaseModel]
    roles: frozenset[Role]
    apply: Callable[[Any, CommandContext, Any, CaseApplication], object]
    """(case, ctx, body, application) -> None, or new cases to save with it."""
    summary: str
    status_code: int = 200
    location: Callable[[Any, UUID], str] | None = None
    """The created resource's path, from the case after the command."""


class CommandRoutes:
    def __init__(self, router: APIRouter, case_class: type[Case], view_model: type[BaseModel],
                 view: Callable[[CaseApplication, Actor, Case, datetime], BaseModel]) -> None:
        self.router = router
        self.case_class = case_class
        self.view_model = view_model
        self.view = view

    def render(self, cases: CaseApplication, actor: Actor, status_code: int,
               location: Callable[[Any], str | None]) -> Callable[[Any], StoredResponse]:
        """The answer from the case as the command left it, judged at the command's
        instant: what an as-of read of that version shows too (AUD-2, AUD-6)."""
        def render(case: Any) -> StoredResponse:
            created, own = location(case), f"{self.router.prefix}/{case.id}"
            return case_response(status_code, self.view(cases, actor, case, case.modified_on),
                                 case.version, created,
                                 own if created and not created.startswith(own) else None)
        return render

    def creation(self, cases: CaseApplication, actor: Actor) -> Callable[[Any], StoredResponse]:
        """The answer to opening a case: 201, its view, ETag and Location."""
        return self.render(cases, actor, 201, lambda case: f"{self.router.prefix}/{case.id}")

    def execute(self, command: Command, case_id: UUID, body: BaseModel, request: Request,
                cases: CaseApplication, actor: Actor, correlation_id: str,
                metrics: Any, expected_version: int | None, idempotency_key: str | None,
                apply: Callable[[Any, CommandContext], object]) -> Response:
        ctx = cases.context(actor, correlation_id, getattr(body, "backdating_reason", None))
        idem = idempotency_for(request, actor, idempotency_key, body)
        render = self.render(cases, actor, command.status_code, lambda case: (
            command.location(case, case_id) if command.location else None))
        result = run_command(metrics, self.case_class.case_type, command.name,
                             lambda: cases.execute(
                                 self.case_class, case_id, lambda case: apply(case, ctx),
                                 expected_version=expected_version, idempotency=idem,
                                 status_code=command.status_code, render=render))
        return command_response(
            result, lambda: render(cases.case_after(self.case_class, result)))

    def add(self, command: Command) -> None:
        body_model = command.body
        routes = self

        def endpoint(case_id: UUID, body: body_model, request: Request,  # type: ignore[valid-type]
                     cases: CasesApp, actor: CurrentActor,
                     correlation_id: CorrelationId, metrics: AppMetrics,
                     expected_version: IfMatch, idempotency_key: IdempotencyKey) -> Any:
            return routes.execute(command, case_id, body, request, cases, actor,
                                  correlation_id, metrics, expected_version, idempotency_key,
                                  lambda case, ctx: command.apply(case, ctx, body, cases))

        endpoint.__name__ = f"{self.case_class.case_type}_{command.name}"
        self.router.add_api_route(
            f"/{{case_id}}/{command.path}", endpoint, methods=["POST"],
            response_model=self.view_model, status_code=command.status_code,
            summary=command.summary, dependencies=[Depends(require(command.roles))])
