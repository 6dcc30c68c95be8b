"""Service-exception requests and views (API.md "Cases")."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, EmailStr, Field

from api.models.common import RequestModel, UtcDatetime
from domain.actors import Role
from domain.service_exceptions.model import ServiceException
from domain.service_exceptions.values import Category, Contact, Customer, Level, Report, Status

Text = Annotated[str, Field(min_length=1, max_length=200)]
LongText = Annotated[str, Field(min_length=1, max_length=20_000)]
OptionalText = Annotated[str, Field(max_length=20_000)]
Phone = Annotated[str, Field(min_length=3, max_length=40, pattern=r"^[0-9+()\- ]+$")]


class ContactIn(RequestModel):
    name: Text
    phone: Phone | None = None
    email: EmailStr | None = None


class CustomerIn(RequestModel):
    id: Text
    name: Text
    key_account: bool
    contact: ContactIn

    def to_domain(self) -> Customer:
        return Customer(id=self.id, name=self.name, key_account=self.key_account,
                        contact=Contact(**self.contact.model_dump()))


class OpenException(RequestModel):
    """EX-REC-1. The reporter is the token's user; the server stamps `recorded_at`."""

    customer: CustomerIn
    category: Category
    level: Level
    title: Text
    description: LongText
    service_step: Text
    discovered_at: AwareDatetime = Field(
        description="when the problem was found or the customer's feedback came; not future")
    department: Text
    contract_ref: Text | None = None
    impact_scope: OptionalText | None = None
    customer_demands: OptionalText | None = None


class ReportUpIn(RequestModel):
    """EX-ESC-1: whom it was reported to, when, and what."""

    reported_to: Annotated[list[Role], Field(min_length=1)]
    reported_at: AwareDatetime
    details: LongText
    first_judgement: OptionalText = ""
    customer_demands: OptionalText = ""
    measures_taken: OptionalText = ""


class ContactView(BaseModel):
    name: str
    phone: str | None
    email: str | None


class CustomerView(BaseModel):
    id: str
    name: str
    key_account: bool
    contact: ContactView | None = Field(
        description="only for roles that handle the case (SEC-PII); null otherwise")


class ReportView(BaseModel):
    reported_by: str
    reported_to: list[Role]
    reported_at: UtcDatetime
    details: str
    first_judgement: str
    customer_demands: str
    measures_taken: str

    @classmethod
    def of(cls, report: Report) -> ReportView:
        return cls(reported_by=report.reported_by, reported_to=list(report.reported_to),
                   reported_at=report.reported_at, details=report.details,
                   first_judgement=report.first_judgement,
                   customer_demands=report.customer_demands,
                   measures_taken=report.measures_taken)


class ExceptionView(BaseModel):
    id: UUID
    version: int
    status: Status
    category: Category
    level: Level
    title: str
    description: str
    service_step: str
    department: str
    customer: CustomerView
    contract_ref: str | None
    impact_scope: str | None
    customer_demands: str | None
    discovered_at: UtcDatetime
    recorded_at: UtcDatetime
    reporter: str
    required_report_recipients: list[Role]
    report_up_complete: bool
    reports: list[ReportView]
    modified_at: UtcDatetime

    @classmethod
    def of(cls, case: ServiceException, *, reveal_contact: bool) -> ExceptionView:
        contact = case.customer.contact
        return cls(
            id=case.id, version=case.version, status=case.status, category=case.category,
            level=case.level, title=case.title, description=case.description,
            service_step=case.service_step, department=case.department,
            customer=CustomerView(
                id=case.customer.id, name=case.customer.name,
                key_account=case.customer.key_account,
                contact=ContactView(name=contact.name, phone=contact.phone, email=contact.email)
                if reveal_contact else None),
            contract_ref=case.contract_ref, impact_scope=case.impact_scope,
            customer_demands=case.customer_demands, discovered_at=case.discovered_at,
            recorded_at=case.recorded_at, reporter=case.reporter,
            required_report_recipients=sorted(case.required_recipients, key=lambda r: r.value),
            report_up_complete=case.report_up_complete,
            reports=[ReportView.of(r) for r in case.reports],
            modified_at=case.modified_on,
        )
