"""The customer directory (SV-SAMPLE-1/2, SV-TYPE-2/3): customers with their size,
tenure, region and kind, their contacts (personal data, sealed per customer at
rest) with a respondent class each, and the service nodes that make a customer
active in a period and make surveys due.

A customer's aggregate id derives from its business id, so importing the same
customer twice is a conflict, not a duplicate.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum
from typing import ClassVar

from eventsourcing.domain import event

from domain.actors import EventMeta, Role
from domain.calendar import BusinessCalendar, utc
from domain.cases import (
    Case,
    CommandContext,
    authorise,
    business_instant,
    plausible_date,
    required_text,
)
from domain.errors import InvalidInput
from domain.surveys.responses import RespondentClass

_NAMESPACE = uuid.UUID("0b7c1f3e-2a59-4d8e-b1e4-5c2f8a9d6e10")
KEEPERS = frozenset({Role.CS_HEAD, Role.DEPARTMENT_HEAD, Role.FRONTLINE, Role.SALES,
                     Role.IMPLEMENTATION})


def _check(customer_id: str, name: str, size: str, region: str, first_contract: date | None,
           contacts: tuple[DirectoryContact, ...]) -> None:
    for field, value in (("id", customer_id), ("name", name), ("region", region)):
        required_text(field, value)
    if first_contract is not None:
        plausible_date("first_contract", first_contract, date(1900, 1, 1))
    if size not in {"key", "sme"}:
        raise InvalidInput("size", "size is key or sme")
    for i, contact in enumerate(contacts):
        if contact.customer_id != customer_id:
            raise InvalidInput(f"contacts.{i}", "a contact of another customer")


def customer_uuid(customer_id: str) -> uuid.UUID:
    return uuid.uuid5(_NAMESPACE, customer_id)


class NodeType(Enum):
    """SV-TYPE-1 instant-survey scenarios, and deliveries with their warranty."""

    PRESALES_CONSULTATION = "presales_consultation"
    PROPOSAL_DELIVERED = "proposal_delivered"
    PRODUCT_ACCEPTED = "product_accepted"
    INSTALLATION_DONE = "installation_done"
    AFTER_SALES_VISIT = "after_sales_visit"
    DELIVERY = "delivery"


@dataclass(frozen=True)
class DirectoryContact:
    """Personal information under the PIPL (SEC-PII): sealed at rest per customer."""

    customer_id: str
    name: str
    phone: str | None
    email: str | None
    respondent_class: RespondentClass


@dataclass(frozen=True)
class ServiceNode:
    node_type: NodeType
    completed_at: datetime
    reference: str
    warranty_end: date | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "completed_at", utc(self.completed_at, "completed_at"))


class CustomerRecord(Case):
    case_type: ClassVar[str] = "customer"
    scoped: ClassVar[bool] = False
    """The directory is shared reference data, read by role, not by department."""
    personal_text: ClassVar[frozenset[str]] = frozenset({"name"})
    """An individual customer's name is personal data (RET-4)."""

    @classmethod
    def register(cls, ctx: CommandContext, *, customer_id: str, name: str, key_account: bool,
                 size: str, region: str, enterprise: bool, first_contract: date | None,
                 contacts: tuple[DirectoryContact, ...]) -> CustomerRecord:
        authorise(ctx, "register_customer", KEEPERS)
        if "/" in customer_id or any(ord(ch) < 32 for ch in customer_id):
            raise InvalidInput("id", "a customer id has no '/' and no control characters")
        _check(customer_id, name, size, region, first_contract, contacts)
        return cls(timestamp=ctx.at, meta=ctx.meta("register_customer"),
                   customer_id=customer_id, name=name, key_account=key_account, size=size,
                   region=region, enterprise=enterprise,
                   first_contract=first_contract, contacts=tuple(contacts),
                   department="customer_service")

    @staticmethod
    def create_id(customer_id: str) -> uuid.UUID:
        """The library names the new aggregate by this, from the creation arguments."""
        return customer_uuid(customer_id)

    @event("Registered")
    def __init__(self, *, timestamp: datetime, meta: EventMeta, customer_id: str, name: str,
                 key_account: bool, size: str, region: str, enterprise: bool,
                 first_contract: date | None, contacts: tuple[DirectoryContact, ...],
                 department: str) -> None:
        self.business_id = customer_id
        self.name = name
        self.key_account = key_account
        self.size = size
        self.region = region
        self.enterprise = enterprise
        self.first_contract = first_contract
        self.contacts = tuple(contacts)
        self.nodes: list[ServiceNode] = []
        self.department = department
        self.registered_at = timestamp
        self._start_case_record()

    def update(self, ctx: CommandContext, *, name: str, key_account: bool, size: str,
               region: str, enterprise: bool, first_contract: date | None,
               contacts: tuple[DirectoryContact, ...]) -> bool:
        """A re-import or a correction: the customer's details and contacts as given
        now. False, recording nothing, when nothing changed."""
        authorise(ctx, "update_customer", KEEPERS)
        _check(self.business_id, name, size, region, first_contract, contacts)
        now = (name, key_account, size, region, enterprise, first_contract, tuple(contacts))
        if now == (self.name, self.key_account, self.size, self.region, self.enterprise,
                   self.first_contract, self.contacts):
            return False
        self._updated(timestamp=ctx.at, meta=ctx.meta("update_customer"), name=name,
                      key_account=key_account, size=size, region=region,
                      enterprise=enterprise, first_contract=first_contract,
                      contacts=tuple(contacts))
        return True

    @event("Updated")
    def _updated(self, *, timestamp: datetime, meta: EventMeta, name: str, key_account: bool,
                 size: str, region: str, enterprise: bool, first_contract: date | None,
                 contacts: tuple[DirectoryContact, ...]) -> None:
        self.name, self.key_account, self.size, self.region = name, key_account, size, region
        self.enterprise, self.first_contract = enterprise, first_contract
        self.contacts = tuple(contacts)

    @property
    def customer_id(self) -> str | None:
        return self.business_id

    @property
    def retention_start(self) -> datetime | None:
        """RET-4: a directory customer is kept from its last activity, registration
        or the latest service node."""
        return max([self.registered_at, *(node.completed_at for node in self.nodes)])

    def tenure(self, on: date) -> str:
        """New within a year of the first contract, old after (SV-SAMPLE-1 spread)."""
        if self.first_contract is None:
            return "new"
        return "new" if (on - self.first_contract).days < 365 else "old"

    def active_in(self, start: date, end: date, calendar: BusinessCalendar) -> bool:
        """A customer is active in a period when a service node falls in it, by the
        business calendar's local date (CAL-1)."""
        return any(start <= calendar.local_date(node.completed_at) <= end
                   for node in self.nodes)

    def record_node(self, ctx: CommandContext, node: ServiceNode) -> None:
        authorise(ctx, "service_node", KEEPERS)
        business_instant(ctx, "completed_at", node.completed_at)
        if node.node_type is NodeType.DELIVERY and node.warranty_end is None:
            raise InvalidInput("warranty_end", "a delivery states when its warranty ends")
        if node.warranty_end is not None:
            plausible_date("warranty_end", node.warranty_end, node.completed_at.date())
        self._node_recorded(timestamp=ctx.at, meta=ctx.meta("service_node"), node=node)

    @event("ServiceNodeRecorded")
    def _node_recorded(self, *, timestamp: datetime, meta: EventMeta,
                       node: ServiceNode) -> None:
        self.nodes.append(node)

    @staticmethod
    def occurred_at(event: object) -> datetime | None:
        node = getattr(event, "node", None)
        return node.completed_at if node is not None else None
