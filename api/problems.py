"""RFC 9457 problem details: the one place domain and infrastructure errors become
HTTP responses. Every error the API returns is `application/problem+json`."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from eventsourcing.persistence import InterfaceError, OperationalError, ProgrammingError
from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from domain.errors import (
    CaseClosed,
    CaseNotFound,
    ConcurrentUpdate,
    DomainError,
    HistoryDamaged,
    IdempotencyKeyReused,
    InvalidInput,
    NotPermitted,
    StaleVersion,
    StepMissing,
    WrongState,
)
from infrastructure.store_gate import StoreGate

log = logging.getLogger("casetrail.api")
MEDIA_TYPE = "application/problem+json"


class FieldError(BaseModel):
    field: str = Field(examples=["customer.contact.email"])
    message: str


class Problem(BaseModel):
    type: str = Field(examples=["urn:casetrail:problem:validation"])
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[FieldError] | None = Field(
        default=None, description="validation: every field and what is wrong with it")
    missing_step: str | None = Field(
        default=None, description="step-missing: the step the command needs first")
    state: str | None = Field(default=None, description="wrong-state: the case's state")
    current_version: int | None = Field(
        default=None, description="stale-version, concurrent-update: the case's version now")
    header: str | None = Field(default=None, description="duplicate-header: which one")
    limit: int | None = Field(default=None, description="body-too-large: the limit in bytes")


class ApiProblem(Exception):
    """Raised by API code for errors that are not domain rules (auth, headers)."""

    def __init__(self, status: int, slug: str, title: str, detail: str,
                 errors: list[FieldError] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status, self.slug, self.title, self.detail = status, slug, title, detail
        self.errors = errors
        self.headers = headers


def problem_response(request: Request, status: int, slug: str, title: str, detail: str, *,
                     errors: list[FieldError] | None = None,
                     headers: dict[str, str] | None = None,
                     **extra: Any) -> JSONResponse:
    body = Problem(type=f"urn:casetrail:problem:{slug}", title=title, status=status,
                   detail=detail, instance=request.url.path, errors=errors)
    content = body.model_dump(exclude_none=True) | extra
    return JSONResponse(content, status_code=status, media_type=MEDIA_TYPE, headers=headers)


ALWAYS_SERVED = frozenset({"/healthz", "/metrics"})


def store_unavailable(request: Request, detail: str) -> JSONResponse:
    return problem_response(request, 503, "store-unavailable", "Service unavailable", detail,
                            headers={"Retry-After": "2"})


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI documentation of problem responses."""
    return {status: {"model": Problem, "content": {MEDIA_TYPE: {}},
                     "description": HTTPStatus(status).phrase} for status in statuses}


COMMON_RESPONSES = problem_responses(400, 401, 403, 422, 500, 503)
"""Any call may meet these: a body that does not parse, no or a bad token, a role
the call does not allow, invalid input, a fault, the store unreachable."""


def unauthorized(detail: str) -> ApiProblem:
    return ApiProblem(401, "unauthorized", "Not authenticated", detail,
                      headers={"WWW-Authenticate": 'Bearer realm="casetrail"'})


def invalid_header(name: str, detail: str) -> ApiProblem:
    return ApiProblem(422, "validation", "Invalid request", detail,
                      errors=[FieldError(field=f"header.{name}", message=detail)])


def _field_name(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] == "body":
        parts = parts[1:]
    return ".".join(parts) or "body"


# Each domain error class -> (status, slug, title). Subclasses before bases.
DOMAIN_PROBLEMS: list[tuple[type[DomainError], int, str, str]] = [
    (InvalidInput, 422, "validation", "Invalid request"),
    (IdempotencyKeyReused, 422, "idempotency-key-reused", "Idempotency-Key reused"),
    (StepMissing, 409, "step-missing", "A required step is missing"),
    (CaseClosed, 409, "case-closed", "The case is read-only"),
    (WrongState, 409, "wrong-state", "Not possible in the case's state"),
    (StaleVersion, 412, "stale-version", "Precondition failed"),
    (ConcurrentUpdate, 409, "concurrent-update", "Conflicting update"),
    (NotPermitted, 403, "forbidden", "Forbidden"),
    (CaseNotFound, 404, "not-found", "Not found"),
    (HistoryDamaged, 409, "history-damaged", "The case's stored history is damaged"),
    (DomainError, 422, "rule-violated", "Rule violated"),
]


def install(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [FieldError(field=_field_name(tuple(e["loc"])), message=e["msg"])
                  for e in exc.errors()]
        fields = ", ".join(sorted({e.field for e in errors}))
        return problem_response(request, 422, "validation", "Invalid request",
                                f"invalid fields: {fields}", errors=errors)

    @app.exception_handler(ApiProblem)
    async def _api_problem(request: Request, exc: ApiProblem) -> JSONResponse:
        return problem_response(request, exc.status, exc.slug, exc.title, exc.detail,
                                errors=exc.errors, headers=exc.headers)

    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> JSONResponse:
        status, slug, title = next((status, slug, title) for cls, status, slug, title
                                   in DOMAIN_PROBLEMS if isinstance(exc, cls))
        extra: dict[str, Any] = {}
        errors = None
        if isinstance(exc, InvalidInput):
            errors = [FieldError(field=exc.field, message=exc.detail)]
        if isinstance(exc, StepMissing):
            extra["missing_step"] = exc.missing_step
        if isinstance(exc, WrongState):
            extra["state"] = exc.state
        if isinstance(exc, StaleVersion):
            extra["current_version"] = exc.actual
        if isinstance(exc, ConcurrentUpdate) and exc.current_version is not None:
            extra["current_version"] = exc.current_version
        return problem_response(request, status, slug, title, exc.detail, errors=errors, **extra)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        slug = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http-error")
        return problem_response(request, exc.status_code, slug, detail, detail,
                                headers=getattr(exc, "headers", None))

    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    async def _store_down(request: Request, exc: Exception) -> JSONResponse:
        log.warning("store unavailable", extra={"error": type(exc).__name__})
        gate = request.app.state.store_gate
        if gate is not None:
            await run_in_threadpool(gate.suspect)
        # The connection may have broken while the write was committing: say so.
        return store_unavailable(request, "the event store did not answer; a command may "
                                 "or may not have been recorded: repeat it with the same "
                                 "Idempotency-Key, which applies it at most once")

    @app.exception_handler(ProgrammingError)
    async def _schema_missing(request: Request, exc: Exception) -> JSONResponse:
        log.error("store not usable", extra={"error": str(exc)})
        return problem_response(request, 503, "store-not-initialised", "Service unavailable",
                                "the event store is not usable; has `casetrail db upgrade` run?")

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        # Answered outside the middleware that stamps request ids: stamp it here.
        request_id = getattr(request.state, "request_id", None)
        return problem_response(request, 500, "internal", "Internal error",
                                "an unexpected error occurred; quote the X-Request-ID "
                                "response header when reporting it",
                                headers={"X-Request-ID": request_id} if request_id else None)


class StoreGateMiddleware:
    """R4: while the store is known to be away, answer at once (liveness and metrics
    still answer: the process itself is fine). Pure ASGI: it sits on every request."""

    def __init__(self, app: ASGIApp, gate: StoreGate) -> None:
        self.app = app
        self.gate = gate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.gate.closed and scope["path"] not in ALWAYS_SERVED:
            response = store_unavailable(Request(scope), "the event store is not reachable; "
                                         "nothing was recorded")
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
