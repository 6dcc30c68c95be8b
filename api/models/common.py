"""Shapes shared by every case type."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, date, datetime, time, timedelta
from enum import Enum
from typing import Annotated, Any
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer

from domain.actors import Actor
from domain.service_exceptions.values import Contact


def _utc(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


UtcDatetime = Annotated[datetime, PlainSerializer(_utc, return_type=str)]
"""Instants go out in UTC with a `Z` (API.md conventions)."""

_NUMBER = re.compile(r"\s*[+-]?\d+(\.\d*)?\s*")


def _iso_only(value: Any) -> Any:
    """Pydantic reads a bare number as Unix time; an API caller who sends one has
    almost certainly made a mistake, so it is refused (SEC-IN-1)."""
    if isinstance(value, int | float) or (isinstance(value, str) and _NUMBER.fullmatch(value)):
        raise ValueError("expected an ISO 8601 instant with its offset, "
                         "e.g. 2026-11-22T09:00:00+08:00")
    return value


Instant = Annotated[AwareDatetime, BeforeValidator(_iso_only)]
"""An instant a caller gives: ISO 8601 with an offset, never a bare number."""

REDACTED = "[redacted]"

Text = Annotated[str, Field(min_length=1, max_length=200)]
LongText = Annotated[str, Field(min_length=1, max_length=20_000)]
OptionalText = Annotated[str, Field(max_length=20_000)]


class RequestModel(BaseModel):
    """Unknown fields are errors, so an `actor` smuggled into a body is refused."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ActorView(BaseModel):
    user: str
    roles: list[str]

    @classmethod
    def of(cls, actor: Actor) -> ActorView:
        return cls(user=actor.user, roles=[r.value for r in actor.roles])


class HistoryEntry(BaseModel):
    seq: int = Field(description="position in the whole event log")
    version: int
    type: str
    recorded_at: UtcDatetime
    occurred_at: UtcDatetime | None = Field(description="the business time the event reports")
    actor: ActorView
    correlation_id: str
    command: str
    data: dict[str, Any]
    hash: str | None = Field(description="this event's link in the case's SHA-256 chain")
    prev_hash: str | None
    backdated: list[str] = Field(
        default_factory=list, description="EX-REC-2: the business instants this command "
        "claimed earlier than its recording by more than the backdating tolerance")
    backdating_reason: str | None = None


class History(BaseModel):
    case_id: UUID
    items: list[HistoryEntry]


def jsonable(value: Any, *, reveal_contact: bool) -> Any:
    """Event data as JSON values; customer contacts redacted unless the reader may
    see them (SEC-PII)."""
    if isinstance(value, Contact) and not reveal_contact:
        return REDACTED
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name), reveal_contact=reveal_contact)
                for f in dataclasses.fields(value)}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return _utc(value)
    if isinstance(value, (date, time)):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, dict):
        return {str(k): jsonable(v, reveal_contact=reveal_contact) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v, reveal_contact=reveal_contact) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((jsonable(v, reveal_contact=reveal_contact) for v in value), key=str)
    return value
