"""Running a command from a route: idempotency, metrics, and the response headers
every case response carries (ETag = version, Location on creation)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TypeVar
from uuid import UUID

from fastapi import Request, Response
from pydantic import BaseModel

from api.deps import AppMetrics
from api.problems import ApiProblem, FieldError
from application.app import CaseApplication, CommandResult, Idempotency
from application.idempotency import StoredResponse, fingerprint
from domain.actors import Actor
from domain.cases import Case
from domain.errors import ConcurrentUpdate, DomainError, StaleVersion

C = TypeVar("C", bound=Case)


def read_case(cases: CaseApplication, case_type: type[C], case_id: UUID, version: int | None,
              as_of: datetime | None) -> tuple[C, datetime]:
    """`?version=` or `?as_of=` (AUD-2): the case and the instant to judge it at."""
    if version is not None and as_of is not None:
        raise ApiProblem(422, "validation", "Invalid request", "give version or as_of, not both",
                         errors=[FieldError(field="query.as_of",
                                            message="give version or as_of, not both")])
    return cases.read(case_type, case_id, version=version, as_of=as_of)


def etag(version: int) -> str:
    return f'"{version}"'


def idempotency_for(request: Request, actor: Actor, key: str | None,
                    body: BaseModel) -> Idempotency | None:
    """The key as scoped to its caller and call, with the request body's fingerprint."""
    if key is None:
        return None
    return Idempotency(scope=f"{actor.user} {request.method} {request.url.path}", key=key,
                       fingerprint=fingerprint(body.model_dump(mode="json")))


def run_command(metrics: AppMetrics, case_type: str, command: str,
                run: Callable[[], CommandResult]) -> CommandResult:
    try:
        result = run()
    except (StaleVersion, ConcurrentUpdate) as e:
        kind = "stale_version" if isinstance(e, StaleVersion) else "concurrent_update"
        metrics.conflicts.labels(kind).inc()
        metrics.commands.labels(case_type, command, "conflict").inc()
        raise
    except DomainError:
        metrics.commands.labels(case_type, command, "rejected").inc()
        raise
    outcome = "replayed" if result.replayed else "recorded"
    metrics.commands.labels(case_type, command, outcome).inc()
    return result


def case_response(status_code: int, view: BaseModel, version: int | None,
                  location: str | None = None,
                  content_location: str | None = None) -> StoredResponse:
    """A command's answer as it is sent and kept with its Idempotency-Key: the view,
    its ETag and, on creation, its Location. Where the created resource is another
    case than the one shown (a survey finding's exception), `Content-Location` names
    the case the body and its ETag are of (RFC 9110 8.7)."""
    headers = [("Content-Type", "application/json")]
    if version is not None:
        headers.append(("ETag", etag(version)))
    if location:
        headers.append(("Location", location))
    if content_location:
        headers.append(("Content-Location", content_location))
    return StoredResponse(status_code, tuple(headers), view.model_dump_json())


def command_response(result: CommandResult, render: Callable[[], StoredResponse]) -> Response:
    """The answer kept with the command (AUD-6: a replay gets the first answer as it
    was sent, marked `Idempotent-Replayed`). `render` is for a key recorded before
    answers were kept: the case at the version the command produced."""
    stored = result.response or render()
    response = Response(stored.body, status_code=stored.status_code,
                        headers=dict(stored.headers))
    if result.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response
