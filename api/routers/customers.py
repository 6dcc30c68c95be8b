"""`/v1/customers`: the customer directory and its service nodes (SV-SAMPLE-1/2,
SV-TYPE-2/3). Contacts are personal data: shown only to customer-service roles."""

from __future__ import annotations

from datetime import date
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Response
from pydantic import BaseModel, EmailStr, Field, StrictBool

from api.commands import run_command
from api.deps import AppMetrics, CasesApp, CorrelationId, CurrentActor, require
from api.models.common import Day, Instant, RequestModel, Text, UtcDatetime
from api.problems import problem_responses
from api.routing import Router
from application.app import CommandResult
from application.surveys import record_service_node
from domain.actors import Actor
from domain.errors import ConcurrentUpdate, WrongState
from domain.service_exceptions.values import CONTACT_VIEWERS
from domain.surveys.directory import (
    KEEPERS,
    CustomerRecord,
    DirectoryContact,
    NodeType,
    ServiceNode,
    customer_uuid,
)
from domain.surveys.responses import RespondentClass

router = Router(prefix="/v1/customers", tags=["customers"],
                responses=problem_responses(404, 409))


class ContactIn(RequestModel):
    name: Text
    phone: Annotated[str, Field(max_length=40, pattern=r"^[0-9+()\- ]+$")] | None = None
    email: EmailStr | None = None
    respondent_class: RespondentClass


class CustomerIn(RequestModel):
    id: Text
    name: Text
    key_account: StrictBool
    size: Annotated[str, Field(pattern="^(key|sme)$")]
    region: Text
    enterprise: StrictBool = True
    first_contract: Day | None = None
    contacts: Annotated[list[ContactIn], Field(max_length=200)] = Field(default_factory=list)


class NodeIn(RequestModel):
    node_type: NodeType
    completed_at: Instant
    reference: Text
    warranty_end: Day | None = None


class CustomerView(BaseModel):
    id: str
    name: str
    key_account: bool
    size: str
    tenure: str
    region: str
    enterprise: bool
    contacts: list[DirectoryContact] | None = Field(
        description="only for customer-service roles (SEC-PII); null otherwise")
    service_nodes: list[ServiceNode]
    version: int
    registered_at: UtcDatetime

    @classmethod
    def of(cls, c: CustomerRecord, actor: Actor, today: date) -> CustomerView:
        return cls(id=c.business_id, name=c.name, key_account=c.key_account, size=c.size,
                   tenure=c.tenure(today), region=c.region, enterprise=c.enterprise,
                   contacts=list(c.contacts) if actor.has_any(*CONTACT_VIEWERS) else None,
                   service_nodes=list(c.nodes), version=c.version,
                   registered_at=c.registered_at)


@router.post("", status_code=201, response_model=CustomerView,
             dependencies=[Depends(require(KEEPERS))])
def register(body: CustomerIn, response: Response, cases: CasesApp, actor: CurrentActor,
             correlation_id: CorrelationId, metrics: AppMetrics) -> CustomerView:
    ctx = cases.context(actor, correlation_id)
    record = CustomerRecord.register(
        ctx, customer_id=body.id, name=body.name, key_account=body.key_account,
        size=body.size, region=body.region, enterprise=body.enterprise,
        first_contract=body.first_contract, contacts=tuple(
            DirectoryContact(body.id, c.name, c.phone, c.email, c.respondent_class)
            for c in body.contacts))

    def save() -> CommandResult:
        try:
            return cases.save_many([record])
        except ConcurrentUpdate:
            raise WrongState("register", "registered",
                             f"customer {body.id} is already registered") from None

    run_command(metrics, "customer", "register", save)
    response.headers["Location"] = f"/v1/customers/{quote(body.id, safe='')}"
    return CustomerView.of(cases.get_case(CustomerRecord, record.id), actor,
                           cases.calendar.local_date(cases.clock.now()))


@router.get("/{customer_id}", response_model=CustomerView)
def get_customer(customer_id: str, cases: CasesApp, actor: CurrentActor) -> CustomerView:
    return CustomerView.of(cases.get_case(CustomerRecord, customer_uuid(customer_id)), actor,
                           cases.calendar.local_date(cases.clock.now()))


@router.post("/{customer_id}/service-nodes", status_code=201, response_model=CustomerView,
             dependencies=[Depends(require(KEEPERS))])
def add_service_node(customer_id: str, body: NodeIn, cases: CasesApp, actor: CurrentActor,
                     correlation_id: CorrelationId, metrics: AppMetrics) -> CustomerView:
    """A service node: the customer is active in its period, and the instant survey
    (SV-TYPE-2) and, after a delivery, the follow-up visits (SV-TYPE-3) are drafted
    with their deadlines."""
    ctx = cases.context(actor, correlation_id)
    node = ServiceNode(body.node_type, body.completed_at, body.reference, body.warranty_end)
    run_command(metrics, "customer", "service_node",
                lambda: record_service_node(cases, ctx, customer_id, node))
    return get_customer(customer_id, cases, actor)
