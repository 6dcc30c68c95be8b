"""Service-exception requests and views (API.md "Cases").

Requests are API models (unknown fields refused). Views are built from the
aggregate; nested records reuse the domain's value objects, which carry no
personal data. The customer contact is the one exception, shown only to the
roles that deal with the customer (SEC-PII).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, EmailStr, Field, StrictBool, StrictInt

from api.models.common import (
    Day,
    Instant,
    LongText,
    OptionalText,
    RequestModel,
    Text,
    UtcDatetime,
)
from domain.actors import Role
from domain.cases import Case
from domain.obligations import Obligation, ObligationState
from domain.service_exceptions.model import PlanRecord, ServiceException
from domain.service_exceptions.values import (
    CancelReason,
    Category,
    Contact,
    Customer,
    DocumentRef,
    Improvement,
    Investigation,
    Level,
    LossAssessment,
    Measure,
    MeasureKind,
    Meeting,
    Milestone,
    OnSite,
    Plan,
    Progress,
    ProgressKind,
    QualityFinding,
    Recovery,
    RecoveryParty,
    Report,
    Response,
    Review,
    SignOff,
    SpecialType,
    Status,
    SupplementaryAgreement,
)

Phone = Annotated[str, Field(min_length=3, max_length=40, pattern=r"^[0-9+()\- ]+$")]
Names = Annotated[list[Text], Field(max_length=100)]


# --- requests ------------------------------------------------------------------------

class ContactIn(RequestModel):
    name: Text
    phone: Phone | None = None
    email: EmailStr | None = None


class CustomerIn(RequestModel):
    id: Text
    name: Text
    key_account: StrictBool
    contact: ContactIn

    def to_domain(self) -> Customer:
        return Customer(id=self.id, name=self.name, key_account=self.key_account,
                        contact=Contact(**self.contact.model_dump()))


class ClaimsInstants(RequestModel):
    """A command that reports business instants (EX-REC-2)."""

    backdating_reason: OptionalText | None = Field(
        default=None, description="EX-REC-2: needed when a business instant in this request "
        "is earlier than now by more than the backdating tolerance (policy, default 15 "
        "minutes); the event is then marked backdated")


class OpenException(ClaimsInstants):
    """EX-REC-1. The reporter is the token's user; the server stamps `recorded_at`."""

    customer: CustomerIn
    category: Category
    level: Level
    title: Text
    description: LongText
    service_step: Text
    discovered_at: Instant = Field(
        description="when the problem was found or the customer's feedback came; not future")
    department: Text
    contract_ref: Text | None = None
    impact_scope: OptionalText | None = None
    customer_demands: OptionalText | None = None
    special: list[SpecialType] = Field(default_factory=list, description="EX-SPEC-1 flags")


class ReportUpIn(ClaimsInstants):
    """EX-ESC-1: whom it was reported to, when, and what."""

    reported_to: Annotated[list[Role], Field(min_length=1)]
    reported_at: Instant
    details: LongText
    first_judgement: OptionalText = ""
    customer_demands: OptionalText = ""
    measures_taken: OptionalText = ""


class ReclassificationIn(RequestModel):
    """EX-LVL-2."""

    level: Level
    reason: LongText


class FlagsIn(RequestModel):
    """EX-SPEC-1: the full set of special types (replaces the current set)."""

    special: list[SpecialType]
    reason: LongText


class MilestoneIn(RequestModel):
    name: Text
    due_at: Instant

    def to_domain(self) -> Milestone:
        return Milestone(self.name, self.due_at)


class MeetingIn(RequestModel):
    held_at: Instant
    attendees: Annotated[list[Text], Field(min_length=1, max_length=100)]
    minutes: LongText

    def to_domain(self) -> Meeting:
        return Meeting(self.held_at, tuple(self.attendees), self.minutes)


class ResponseIn(ClaimsInstants):
    """EX-RESP-1: `handler` (general), `team_owner` + `team_members` + `milestones`
    (major), `meeting` (critical)."""

    handler: Text | None = None
    team_owner: Text | None = None
    team_members: Names = Field(default_factory=list)
    milestones: list[MilestoneIn] = Field(default_factory=list, max_length=100)
    meeting: MeetingIn | None = None


class InvestigationIn(RequestModel):
    """EX-INV-1; `finding` and R&D + supply chain are needed for product quality."""

    contract_clauses: OptionalText = ""
    service_records: OptionalText = ""
    interviews: OptionalText = ""
    site_visit: OptionalText = ""
    root_cause: LongText
    participants: list[Role] = Field(default_factory=list)
    finding: QualityFinding | None = None

    def to_domain(self) -> Investigation:
        return Investigation(
            contract_clauses=self.contract_clauses, service_records=self.service_records,
            interviews=self.interviews, site_visit=self.site_visit, root_cause=self.root_cause,
            participants=tuple(self.participants), finding=self.finding)


class LegalOpinionIn(RequestModel):
    opinion: LongText


class LossAssessmentIn(RequestModel):
    """EX-SPEC-1 major loss: finance and legal each send theirs."""

    assessed_as: Literal[Role.FINANCE, Role.LEGAL]
    amount: Annotated[Decimal, Field(ge=0, max_digits=18, decimal_places=2)]
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] = "CNY"
    basis: LongText


class AgreementIn(ClaimsInstants):
    """EX-SPEC-2 contract dispute: the supplementary agreement with the customer."""

    reference: Text
    signed_at: Instant
    summary: LongText

    def to_domain(self) -> SupplementaryAgreement:
        return SupplementaryAgreement(self.reference, self.signed_at, self.summary)


class RecoveryIn(RequestModel):
    """EX-SPEC-2 major loss: the recovery against a liable third party or member of
    staff; `none` with the basis when nobody else is liable."""

    against: RecoveryParty
    amount: Annotated[Decimal | None, Field(ge=0, max_digits=18, decimal_places=2)] = None
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] = "CNY"
    basis: LongText

    def to_domain(self) -> Recovery:
        return Recovery(self.against, self.basis,
                        None if self.amount is None else str(self.amount), self.currency)


class OnSiteIn(ClaimsInstants):
    """EX-SPEC-2: the person stationed at a critical case's customer site."""

    person: Text
    since: Instant


class SignOffIn(RequestModel):
    """EX-SIGN-1: the caller signs the closing document off in the role the level
    needs next; nothing else to send."""


class MeasureIn(RequestModel):
    description: LongText
    responsible_department: Text
    responsible_person: Text
    due_at: Instant
    kind: MeasureKind = Field(default=MeasureKind.GENERAL, description=(
        "EX-SPEC-2: a product-quality case needs replace_repair and supply_chain_trace "
        "(product defect) or rectification (installation fault)"))

    def to_domain(self) -> Measure:
        return Measure(self.description, self.responsible_department,
                       self.responsible_person, self.due_at, self.kind)


class PlanIn(RequestModel):
    """EX-PLAN-1. Critical plans need staged milestones (EX-PLAN-2); a major-loss
    case's plan carries the compensation plan (EX-SPEC-1)."""

    measures: Annotated[list[MeasureIn], Field(min_length=1, max_length=200)]
    resources: OptionalText = ""
    milestones: list[MilestoneIn] = Field(default_factory=list, max_length=100)
    compensation: OptionalText | None = None
    contract_change: StrictBool = Field(default=False, description=(
        "the plan changes the contract: a contract dispute then needs a supplementary "
        "agreement before resolution (EX-SPEC-2)"))


class PlanDecisionIn(RequestModel):
    approved: StrictBool
    reason: OptionalText | None = Field(default=None, description="required to reject")
    refer_to_management: StrictBool = Field(default=False, description=(
        "critical only: the group leader approves and puts the plan before management, "
        "who then decide it (EX-PLAN-1); execution starts with management's approval"))


class ProgressIn(ClaimsInstants):
    """EX-PROG-1: a report (major) or the daily meeting's minutes (critical)."""

    kind: ProgressKind
    summary: LongText
    day: Day | None = Field(default=None, description="the working day covered; default today")
    meeting: MeetingIn | None = None


class ResolutionIn(ClaimsInstants):
    summary: LongText
    resolved_at: Instant | None = Field(default=None, description="default: now")


class FeedbackIn(ClaimsInstants):
    """EX-FB-1: the customer was told the result; satisfaction 1-5."""

    satisfaction: Annotated[StrictInt, Field(ge=1, le=5)]
    comment: OptionalText = ""
    informed_at: Instant


class AcceptanceIn(RequestModel):
    """EX-FB-1: major and critical; a rejection (with a note) reopens execution."""

    accepted: StrictBool
    note: OptionalText = ""


class ImprovementIn(RequestModel):
    description: LongText
    corrective_action: StrictBool = Field(default=False,
                                    description="ask for a tracked corrective action")


class ReviewIn(ClaimsInstants):
    """EX-REV-1; critical reviews are a retrospective meeting."""

    root_cause: LongText
    lessons: LongText
    improvements: list[ImprovementIn] = Field(default_factory=list, max_length=200)
    retrospective: MeetingIn | None = None

    def improvements_domain(self) -> tuple[Improvement, ...]:
        return tuple(Improvement(i.description, i.corrective_action) for i in self.improvements)


class DocumentRefIn(RequestModel):
    name: Text
    uri: Annotated[str, Field(min_length=1, max_length=2000)]
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class ArchiveIn(RequestModel):
    """EX-ARC-1: the file's documents by reference and content hash."""

    documents: list[DocumentRefIn] = Field(default_factory=list, max_length=500)


class CancellationIn(RequestModel):
    reason: CancelReason
    detail: LongText


# --- views ---------------------------------------------------------------------------

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


class ObligationView(BaseModel):
    key: str
    rule: str
    description: str
    state: ObligationState
    started_at: UtcDatetime
    due_at: UtcDatetime
    met_at: UtcDatetime | None
    met_by_version: int | None
    void_by_version: int | None
    breach_version: int | None = Field(description="the breach event on record, if any")
    warning_version: int | None = Field(description="the warning event on record, if any")
    responsible: str
    met_recorded_at: UtcDatetime | None = Field(
        description="EX-REC-2: when the event that met it was recorded, where its claimed "
        "`met_at` was backdated; the state is then met_recorded_late, never on time")

    @classmethod
    def of(cls, obligation: Obligation, now: datetime, case: Case) -> ObligationView:
        return cls(key=obligation.key, rule=obligation.rule,
                   description=obligation.description,
                   state=obligation.state_at(now),
                   started_at=obligation.started_at, due_at=obligation.due_at,
                   met_at=obligation.met_at, met_by_version=obligation.met_by_version,
                   void_by_version=obligation.void_by_version,
                   breach_version=case.breaches.get(obligation.key),
                   warning_version=case.warnings.get(obligation.key),
                   responsible=obligation.responsible,
                   met_recorded_at=obligation.met_recorded_at)


class ReportView(BaseModel):
    version: int
    report: Report


class PlanView(BaseModel):
    number: int
    status: str
    proposed_by: str
    decided_by: str | None
    decided_at: UtcDatetime | None
    reason: str | None
    referred_by: str | None = Field(description="the group leader who put it before management")
    plan: Plan

    @classmethod
    def of(cls, record: PlanRecord) -> PlanView:
        return cls(number=record.plan.number, status=record.status,
                   proposed_by=record.proposed_by, decided_by=record.decided_by,
                   decided_at=record.decided_at, reason=record.reason,
                   referred_by=record.referred_by, plan=record.plan)


class ProgressView(BaseModel):
    version: int
    recorded_at: UtcDatetime
    progress: Progress


class ResolutionView(BaseModel):
    resolved_at: UtcDatetime
    summary: str
    version: int
    reopened: bool


class FeedbackView(BaseModel):
    satisfaction: int
    comment: str
    informed_at: UtcDatetime


class AcceptanceView(BaseModel):
    accepted: bool
    note: str


class CancellationView(BaseModel):
    reason: CancelReason
    detail: str


class Links(BaseModel):
    self: str
    history: str
    document: str
    corrective_actions: list[str] = Field(
        default_factory=list, description="corrective actions opened from the review")
    survey: str | None = Field(default=None, description=(
        "the survey campaign whose respondent's dissatisfaction opened it (SV-FIND-1)"))


class ExceptionView(BaseModel):
    id: UUID
    version: int
    status: Status
    category: Category
    level: Level
    special: list[SpecialType]
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
    reached_report_recipients: list[Role] = Field(
        description="whom the reports up have reached since the level was set")
    report_count: int = Field(description="reports up made; each one is in the history")
    last_report: ReportView | None
    response: Response | None
    investigation: Investigation | None
    legal_opinions: list[str]
    loss_assessments: list[LossAssessment]
    supplementary_agreements: list[SupplementaryAgreement]
    recoveries: list[Recovery]
    on_site: OnSite | None = Field(description="critical: who is stationed at the site")
    flags_reopened: list[SpecialType] = Field(description=(
        "flags raised after the plan in force was approved: investigation and plan "
        "approval are open again (EX-SPEC-2)"))
    sign_offs: list[SignOff]
    sign_offs_pending: list[Role] = Field(description="who signs off next, in order "
                                          "(EX-SIGN-1)")
    plans: list[PlanView]
    plan_in_force: int | None
    progress: list[ProgressView]
    resolutions: list[ResolutionView]
    feedback: FeedbackView | None
    acceptance: AcceptanceView | None
    review: Review | None
    documents: list[DocumentRef]
    archived_at: UtcDatetime | None
    cancellation: CancellationView | None
    obligations: list[ObligationView]
    links: Links
    modified_at: UtcDatetime

    @classmethod
    def of(cls, case: ServiceException, *, reveal_contact: bool,
           obligations: list[ObligationView]) -> ExceptionView:
        contact = case.customer.contact
        href = f"/v1/exceptions/{case.id}"
        in_force = case.plan_in_force
        return cls(
            id=case.id, version=case.version, status=case.status, category=case.category,
            level=case.level, special=sorted(case.special, key=lambda s: s.value),
            title=case.title, description=case.description, service_step=case.service_step,
            department=case.department,
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
            reached_report_recipients=sorted(case.current_epoch.reached, key=lambda r: r.value),
            report_count=case.report_count,
            last_report=ReportView(version=case.last_report[1], report=case.last_report[0])
            if case.last_report else None,
            response=case.response, investigation=case.investigation,
            legal_opinions=[opinion for _, opinion in case.legal_opinions],
            loss_assessments=list(case.loss_assessments.values()),
            supplementary_agreements=list(case.agreements), recoveries=list(case.recoveries),
            on_site=case.on_site, flags_reopened=list(case.flags_reopened),
            sign_offs=list(case.sign_offs), sign_offs_pending=list(case.sign_offs_pending),
            plans=[PlanView.of(r) for r in case.plans],
            plan_in_force=in_force.number if in_force else None,
            progress=[ProgressView(version=v, recorded_at=at, progress=p)
                      for p, at, v in case.progress],
            resolutions=[ResolutionView(resolved_at=r.resolved_at, summary=r.summary,
                                        version=r.version, reopened=r.reopened)
                         for r in case.resolutions],
            feedback=FeedbackView(satisfaction=case.feedback[0], comment=case.feedback[1],
                                  informed_at=case.feedback[2]) if case.feedback else None,
            acceptance=AcceptanceView(accepted=case.acceptance[0], note=case.acceptance[1])
            if case.acceptance else None,
            review=case.review[0] if case.review else None,
            documents=list(case.documents), archived_at=case.archived_at,
            cancellation=CancellationView(reason=case.cancellation[0],
                                          detail=case.cancellation[1])
            if case.cancellation else None,
            obligations=obligations,
            links=Links(self=href, history=f"{href}/history", document=f"{href}/document",
                        corrective_actions=[f"/v1/corrective-actions/{a}"
                                            for a in case.corrective_actions],
                        survey=f"/v1/surveys/{case.survey_id}" if case.survey_id else None),
            modified_at=case.modified_on,
        )


class ExceptionSummary(BaseModel):
    id: UUID
    version: int
    status: Status
    level: Level
    category: Category
    title: str
    customer_id: str
    customer_name: str
    department: str
    opened_at: UtcDatetime
    updated_at: UtcDatetime
    href: str


class ExceptionPage(BaseModel):
    items: list[ExceptionSummary]
    next_cursor: str | None
