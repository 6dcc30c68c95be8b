"""Value objects and enums of service exceptions (EX-CAT-1, EX-LVL-1, EX-REC-1)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from domain.actors import Role


class Category(Enum):
    """EX-CAT-1: exactly six categories."""

    PRESALES = "presales"
    DELIVERY = "delivery"
    INSTALLATION = "installation"
    AFTER_SALES = "after_sales"
    TECHNICAL_SUPPORT = "technical_support"
    OTHER = "other"


class Level(Enum):
    """EX-LVL-1."""

    GENERAL = "general"
    MAJOR = "major"
    CRITICAL = "critical"


class Status(Enum):
    """EX-FLOW-1 states reached so far."""

    RECORDED = "recorded"
    REPORTED = "reported"


# EX-ESC-1: whom each level must be reported up to.
REPORT_UP_RECIPIENTS: dict[Level, frozenset[Role]] = {
    Level.GENERAL: frozenset({Role.DEPARTMENT_HEAD}),
    Level.MAJOR: frozenset({Role.CS_HEAD}),
    Level.CRITICAL: frozenset({Role.GROUP_LEADER, Role.PRINCIPAL}),
}


@dataclass(frozen=True)
class Contact:
    """Personal information under the PIPL (SEC-PII)."""

    name: str
    phone: str | None = None
    email: str | None = None


@dataclass(frozen=True)
class Customer:
    id: str
    name: str
    key_account: bool
    contact: Contact


@dataclass(frozen=True)
class Report:
    """EX-ESC-1: who reported to whom, when, and what."""

    reported_by: str
    reported_to: tuple[Role, ...]
    reported_at: datetime
    details: str
    first_judgement: str
    customer_demands: str
    measures_taken: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "reported_to", tuple(self.reported_to))


# SEC-PII: the roles that deal with the customer and so may read contact details.
CONTACT_VIEWERS: frozenset[Role] = frozenset({
    Role.FRONTLINE, Role.DEPARTMENT_HEAD, Role.CS_HEAD, Role.GROUP_LEADER, Role.PRINCIPAL,
})
