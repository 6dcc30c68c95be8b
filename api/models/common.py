"""Shapes shared by every case type."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from enum import Enum
from typing import Annotated, Any
from uuid import UUID

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    field_validator,
)

from domain.cases import EARLIEST_BUSINESS_TIME, LATEST_BUSINESS_DATE
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


def _date_only(value: Any) -> Any:
    """A calendar date is written as one: 0 is not 1970-01-01 (SEC-IN-2)."""
    if not isinstance(value, str | date) or isinstance(value, datetime):
        raise ValueError("expected a date such as 2026-11-22")
    return value


Day = Annotated[date, BeforeValidator(_date_only)]
"""A calendar date a caller gives: ISO 8601 text, never a number."""

EARLIEST = EARLIEST_BUSINESS_TIME
LATEST = datetime.combine(LATEST_BUSINESS_DATE + timedelta(days=1), time(), UTC)


def _in_range(value: datetime) -> datetime:
    """Instants this service can mean (SEC-IN-2): 2000-01-01 to 2199-12-31 UTC. Beyond,
    a date with an offset cannot even be converted to UTC."""
    try:
        utc = value.astimezone(UTC)
    except OverflowError:
        utc = None
    if utc is None or not EARLIEST <= utc < LATEST:
        raise ValueError("an instant between 2000-01-01 and 2199-12-31 (UTC) is expected")
    return value


Instant = Annotated[AwareDatetime, BeforeValidator(_iso_only), AfterValidator(_in_range)]
"""An instant a caller gives: ISO 8601 with an offset, never a bare number, within
2000-01-01 to 2199-12-31 UTC."""

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def control_characters(value: Any) -> bool:
    """Whether a value holds a control character other than tab and newlines,
    anywhere in its strings, keys and items."""
    if isinstance(value, str):
        return bool(_CONTROL.search(value))
    if isinstance(value, dict):
        return any(control_characters(k) or control_characters(v) for k, v in value.items())
    if isinstance(value, list | tuple | set | frozenset):
        return any(control_characters(v) for v in value)
    return False

REDACTED = "[redacted]"

Text = Annotated[str, Field(min_length=1, max_length=200)]
LongText = Annotated[str, Field(min_length=1, max_length=20_000)]
OptionalText = Annotated[str, Field(max_length=20_000)]


class RequestModel(BaseModel):
    """Unknown fields are errors, so an `actor` smuggled into a body is refused. No
    field may carry a NUL or another control character (SEC-IN-2): both stores would
    treat it differently, PostgreSQL refuses it outright."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="after")
    @classmethod
    def _printable(cls, value: Any) -> Any:
        if control_characters(value):
            raise ValueError("control characters (such as NUL) are not allowed")
        return value


class ActorView(BaseModel):
    user: str
    roles: list[str]


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


Convert = Callable[[Any, bool], Any]


def jsonable(value: Any, *, reveal_contact: bool) -> Any:
    """Event data as JSON values; customer contacts redacted unless the reader may
    see them (SEC-PII)."""
    return _json(value, reveal_contact)


def _json(value: Any, reveal: bool) -> Any:
    convert = _CONVERTERS.get(type(value)) or _converter(type(value))
    return convert(value, reveal)


def _converter(cls: type) -> Convert:
    """How values of one type become JSON values, decided once per type (an export
    converts every field of 10,000 events)."""
    convert: Convert
    if dataclasses.is_dataclass(cls):
        names = tuple(f.name for f in dataclasses.fields(cls))

        def fields(value: Any, reveal: bool) -> Any:
            return {name: _json(getattr(value, name), reveal) for name in names}

        convert = fields
        if issubclass(cls, Contact):
            def contact(value: Any, reveal: bool) -> Any:
                return fields(value, reveal) if reveal else REDACTED

            convert = contact
    elif issubclass(cls, Enum):
        convert = _enum_value
    elif issubclass(cls, datetime):
        convert = _utc_of
    elif issubclass(cls, (date, time)):
        convert = _isoformat
    elif issubclass(cls, timedelta):
        convert = _seconds
    elif issubclass(cls, UUID):
        convert = _text
    elif issubclass(cls, dict):
        convert = _mapping
    elif issubclass(cls, (list, tuple)):
        convert = _sequence
    elif issubclass(cls, (set, frozenset)):
        convert = _members
    else:  # str, int, float, bool, None: JSON values already
        convert = _as_is
    _CONVERTERS[cls] = convert
    return convert


def _as_is(value: Any, reveal: bool) -> Any:
    return value


def _enum_value(value: Enum, reveal: bool) -> Any:
    return value.value


def _utc_of(value: datetime, reveal: bool) -> str:
    return _utc(value)


def _isoformat(value: date | time, reveal: bool) -> str:
    return value.isoformat()


def _seconds(value: timedelta, reveal: bool) -> float:
    return value.total_seconds()


def _text(value: Any, reveal: bool) -> str:
    return str(value)


def _mapping(value: dict[Any, Any], reveal: bool) -> dict[str, Any]:
    return {str(k): _json(v, reveal) for k, v in value.items()}


def _sequence(value: list[Any] | tuple[Any, ...], reveal: bool) -> list[Any]:
    return [_json(v, reveal) for v in value]


def _members(value: set[Any] | frozenset[Any], reveal: bool) -> list[Any]:
    return sorted((_json(v, reveal) for v in value), key=str)


_CONVERTERS: dict[type, Convert] = {}
