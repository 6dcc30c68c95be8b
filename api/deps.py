"""Request dependencies, as `Annotated` aliases: the application, the acting user
(from the bearer token only, SEC-AUTH-1), role requirements, If-Match and
Idempotency-Key. All `async def`: none of them blocks, and a plain `def` would cost
each request a hop to the thread pool per dependency (B2)."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable
from typing import Annotated, Any, get_args, get_origin

from fastapi import Depends, Header, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.models.common import Instant
from api.observability import Metrics
from api.problems import ApiProblem, FieldError, invalid_header, unauthorized
from application.access import current_scope
from application.app import CaseApplication
from domain.access import Scope
from domain.actors import Actor, Role
from infrastructure.tokens import InvalidToken, TokenService

_bearer = HTTPBearer(auto_error=False, description="A token from `casetrail token`")
_ETAG = re.compile(r'^(?:W/)?"(\d{1,18})"$')
_KEY = re.compile(r"^[\x21-\x7e]{1,200}$")


async def _cases(request: Request) -> CaseApplication:
    return request.app.state.cases  # type: ignore[no-any-return]


async def _metrics(request: Request) -> Metrics:
    return request.app.state.metrics  # type: ignore[no-any-return]


async def _actor(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Actor:
    if credentials is None:
        raise unauthorized("send 'Authorization: Bearer <token>'")
    tokens: TokenService = request.app.state.tokens
    try:
        actor = tokens.verify(credentials.credentials)
    except InvalidToken as e:
        raise unauthorized(f"invalid token: {e}") from None
    request.state.user = actor.user
    current_scope.set(Scope.of(actor))  # SEC-AUTH-2 for everything this request reads
    return actor


async def _correlation_id(request: Request) -> str:
    return str(request.state.request_id)


async def _if_match(if_match: Annotated[str | None, Header(
        description='The case version the command expects, as its ETag: "3"')] = None,
) -> int | None:
    if if_match is None or if_match.strip() == "*":
        return None
    found = _ETAG.match(if_match.strip())
    if not found:
        raise invalid_header("If-Match", 'expected an ETag such as "3"')
    return int(found.group(1))


async def _idempotency_key(idempotency_key: Annotated[str | None, Header(
        description="Repeat a POST safely: same key and body -> the first response")] = None,
) -> str | None:
    if idempotency_key is None:
        return None
    if not _KEY.match(idempotency_key):
        raise invalid_header("Idempotency-Key", "must be 1 to 200 printable ASCII characters")
    return idempotency_key


AtVersion = Annotated[int | None, Query(
    ge=1, le=2**53, description="the state at this version, obligations judged at the "
    "instant it was recorded (AUD-2)")]
AsOf = Annotated[Instant | None, Query(
    description="the state as it was at this instant, obligations judged at it (AUD-2)")]
CasesApp = Annotated[CaseApplication, Depends(_cases)]
AppMetrics = Annotated[Metrics, Depends(_metrics)]
CurrentActor = Annotated[Actor, Depends(_actor)]
CorrelationId = Annotated[str, Depends(_correlation_id)]
IfMatch = Annotated[int | None, Depends(_if_match)]
IdempotencyKey = Annotated[str | None, Depends(_idempotency_key)]


def require(roles: Iterable[Role]) -> Callable[[Actor], Awaitable[Actor]]:
    """Route dependency: 403 unless the actor holds one of `roles` (EX-ROLE-1)."""
    allowed = frozenset(roles)
    names = ", ".join(sorted(r.value for r in allowed))

    async def check(actor: CurrentActor) -> Actor:
        if not actor.has_any(*allowed):
            raise ApiProblem(403, "forbidden", "Forbidden",
                             f"this call needs one of the roles: {names}")
        return actor

    return check


async def reject_unknown_query(request: Request) -> None:
    """SEC-IN-1: a query parameter the call does not take is an error, not ignored (a
    mistyped filter, `?levle=major`, would otherwise silently return everything), and
    so is a single-valued one given twice (which value would count?)."""
    route = request.scope.get("route")
    if route is None or not request.query_params:
        return
    declared = _declared_query(route.dependant)
    errors = [FieldError(field=f"query.{name}", message="not a parameter of this call")
              for name in sorted(set(request.query_params) - set(declared))]
    errors += [FieldError(field=f"query.{name}", message="given more than once")
               for name, many in sorted(declared.items())
               if not many and len(request.query_params.getlist(name)) > 1]
    if errors:
        fields = ", ".join(e.field for e in errors)
        raise ApiProblem(422, "validation", "Invalid request", f"invalid fields: {fields}",
                         errors=errors)


def _declared_query(dependant: Any) -> dict[str, bool]:
    """Every query parameter of a route (with its dependencies): may it repeat?"""
    names = {field.alias: _is_sequence(field.field_info.annotation)
             for field in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _declared_query(sub)
    return names


def _is_sequence(annotation: Any) -> bool:
    if get_origin(annotation) in (list, tuple, set, frozenset):
        return True
    return any(_is_sequence(arg) for arg in get_args(annotation))
