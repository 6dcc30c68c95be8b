"""The case index: one row per case for search and paging (API.md search filters).

It is written by the recorder in the same transaction as the case's events, like
the idempotency record, so a search always sees a case the moment its command
returned. Rows are upserted only forwards (a higher version wins).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID

from domain.cases import Case
from domain.corrective_actions import CorrectiveAction
from domain.errors import InvalidInput
from domain.legal_holds import LegalHold
from domain.service_exceptions.model import ServiceException
from domain.surveys.campaign import SurveyCampaign
from domain.surveys.directory import CustomerRecord


@dataclass(frozen=True)
class CaseSummary:
    case_id: UUID
    case_type: str
    version: int
    status: str
    level: str | None
    category: str | None
    customer_id: str | None
    customer_name: str | None
    department: str
    title: str
    opened_at: datetime
    updated_at: datetime
    closed_at: datetime | None = None
    retain_until: datetime | None = None
    """RET-1: closed_at plus the retention of the case's type."""
    erased_at: datetime | None = None


@dataclass(frozen=True)
class HoldSummary:
    hold_id: UUID
    case_id: str | None
    customer_id: str | None
    reason: str
    placed_at: datetime
    released_at: datetime | None


@dataclass(frozen=True)
class SearchFilters:
    case_type: str
    status: str | None = None
    level: str | None = None
    category: str | None = None
    customer_id: str | None = None
    department: str | None = None
    opened_from: datetime | None = None
    opened_to: datetime | None = None
    departments: frozenset[str] | None = None
    """Any of these (SEC-AUTH-2: the caller's scope)."""


@dataclass(frozen=True)
class Cursor:
    """Keyset position: newest first, by (opened_at, case_id)."""

    opened_at: datetime
    case_id: UUID

    def encode(self) -> str:
        raw = json.dumps([self.opened_at.isoformat(), str(self.case_id)]).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str) -> Cursor:
        try:
            padded = token + "=" * (-len(token) % 4)
            opened_at, case_id = json.loads(base64.urlsafe_b64decode(padded))
            return cls(datetime.fromisoformat(opened_at), UUID(case_id))
        except (ValueError, TypeError, binascii.Error, json.JSONDecodeError):
            raise InvalidInput("cursor", "not a cursor this service returned") from None


@dataclass(frozen=True)
class Page:
    items: list[CaseSummary]
    next_cursor: str | None


class CaseIndex(Protocol):
    def search_cases(self, filters: SearchFilters, limit: int,
                     after: Cursor | None) -> list[CaseSummary]: ...

    def case_department(self, case_id: UUID) -> str | None:
        """The department the index holds for the case, if it knows the case."""

    def without_retention_end(self) -> list[UUID]:
        """The cases the index gives no retention end."""

    def set_retention_end(self, case_id: UUID, version: int, retain_until: datetime) -> None:
        """Give the case at that version its retention end."""


def summarise(case: Case, retain_until: datetime | None) -> CaseSummary:
    if isinstance(case, ServiceException):
        return CaseSummary(
            case_id=case.id, case_type=case.case_type, version=case.version,
            status=case.status.value, level=case.level.value, category=case.category.value,
            customer_id=case.customer.id, customer_name=case.customer.name,
            department=case.department, title=case.title, opened_at=case.recorded_at,
            updated_at=case.modified_on, closed_at=case.closed_at, retain_until=retain_until,
            erased_at=case.erased_at)
    if isinstance(case, CorrectiveAction):
        return CaseSummary(
            case_id=case.id, case_type=case.case_type, version=case.version,
            status=case.status.value, level=case.severity.value,
            category=case.source.kind.value, customer_id=None, customer_name=None,
            department=case.department, title=case.title, opened_at=case.opened_at,
            updated_at=case.modified_on, closed_at=case.closed_at, retain_until=retain_until,
            erased_at=case.erased_at)
    if isinstance(case, CustomerRecord):
        return CaseSummary(
            case_id=case.id, case_type=case.case_type, version=case.version,
            status="active", level=None, category=case.size, customer_id=case.business_id,
            customer_name=case.name, department=case.department, title=case.name,
            opened_at=case.registered_at, updated_at=case.modified_on, closed_at=None,
            retain_until=retain_until, erased_at=case.erased_at)
    if isinstance(case, SurveyCampaign):
        return CaseSummary(
            case_id=case.id, case_type=case.case_type, version=case.version,
            status=case.status.value, level=None, category=case.survey_type.value,
            customer_id=None, customer_name=None, department=case.department,
            title=case.title, opened_at=case.planned_at, updated_at=case.modified_on,
            closed_at=case.closed_at, retain_until=retain_until, erased_at=case.erased_at)
    msg = f"no summary for {type(case).__name__}"
    raise TypeError(msg)


def summarise_hold(hold: LegalHold) -> HoldSummary:
    return HoldSummary(hold_id=hold.id, case_id=hold.case_id, customer_id=hold.customer_id,
                       reason=hold.reason, placed_at=hold.placed_at,
                       released_at=hold.released_at)
