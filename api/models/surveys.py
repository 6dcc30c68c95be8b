"""Survey-campaign requests and views (API.md "Cases": `surveys`)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, Field, StrictBool, StrictInt, StrictStr

from api.models.common import Day, Instant, LongText, RequestModel, Text, UtcDatetime
from api.models.exceptions import CustomerIn, ObligationView
from domain.policy import SurveyPolicy
from domain.service_exceptions.values import Category, Level
from domain.surveys.campaign import (
    CampaignPlan,
    CampaignStatus,
    Channel,
    CleaningResult,
    CleaningReview,
    Recipient,
    ReminderKind,
    ReviewDecision,
    SurveyCampaign,
    SurveyType,
)
from domain.surveys.questionnaire import DEFAULT_PERIODIC, Dimension, Item, Questionnaire
from domain.surveys.responses import InvalidReason, RespondentClass
from domain.surveys.sampling import SampleCustomer, check_sample


class ItemIn(RequestModel):
    key: Text
    text: Text


class DimensionIn(RequestModel):
    key: Text
    text: Text
    items: Annotated[list[ItemIn], Field(min_length=1, max_length=100)]


class PlanIn(RequestModel):
    goals: LongText
    period_start: Day
    period_end: Day
    scope: LongText
    channels: Annotated[list[Channel], Field(min_length=1)]
    owners: Annotated[list[Text], Field(min_length=1, max_length=50)]
    budget: Text

    def to_domain(self) -> CampaignPlan:
        return CampaignPlan(self.goals, self.period_start, self.period_end, self.scope,
                            tuple(self.channels), tuple(self.owners), self.budget)


class OpenSurvey(RequestModel):
    """SV-TYPE-1, SV-PLAN-1; the questionnaire defaults to SV-Q-1's 4 x 14 template."""

    survey_type: SurveyType
    title: Text
    plan: PlanIn
    questionnaire: Annotated[list[DimensionIn], Field(max_length=50)] | None = None
    department: Text = "customer_service"

    def questionnaire_domain(self) -> Questionnaire:
        if not self.questionnaire:
            return DEFAULT_PERIODIC
        return Questionnaire(tuple(Dimension(d.key, d.text, tuple(Item(i.key, i.text)
                                                                  for i in d.items))
                                   for d in self.questionnaire))


class Empty(RequestModel):
    """No fields: the command says it all."""


class SampleCustomerIn(RequestModel):
    id: Text
    key_account: StrictBool
    size: Text
    tenure: Text
    region: Text
    scenario: Text
    enterprise: StrictBool = True

    def to_domain(self) -> SampleCustomer:
        return SampleCustomer(self.id, self.key_account, self.size, self.tenure, self.region,
                              self.scenario, self.enterprise)


class SampleIn(RequestModel):
    """SV-SAMPLE-1: the customers active in the period, and those sampled."""

    active: Annotated[list[SampleCustomerIn], Field(max_length=100_000)] | None = Field(
        default=None, description="default: the directory's customers active in the period")
    sample: Annotated[list[Text], Field(min_length=1, max_length=100_000)]
    override_reason: LongText | None = Field(
        default=None, description="management only, when the sample breaks SV-SAMPLE-1")


class RecipientIn(RequestModel):
    respondent: Text
    customer_id: Text
    key_account: StrictBool | None = Field(default=None, description=(
        "SV-KPI-4: taken from the sampling frame (the directory); only for a customer "
        "outside it, and never contradicting it"))
    respondent_class: RespondentClass
    channel: Channel
    delegated: StrictBool = False

    def to_domain(self) -> Recipient:
        return Recipient(self.respondent, self.customer_id, self.key_account,
                         self.respondent_class, self.channel, self.delegated)


class DispatchIn(RequestModel):
    recipients: Annotated[list[RecipientIn], Field(min_length=1, max_length=10_000)]


class ReminderIn(RequestModel):
    respondent: Text
    kind: ReminderKind


class ResponseIn(RequestModel):
    """Answers 1-5 or `unable_to_comment` per item key; fill time from the two instants."""

    respondent: Text
    started_at: Instant
    submitted_at: Instant
    answers: dict[str, StrictInt | StrictStr] = Field(
        max_length=500, description="1-5 or `unable_to_comment`; true/false are not scores")


class CleaningIn(RequestModel):
    exclusions: dict[str, InvalidReason] = Field(
        default_factory=dict, description="respondent -> contradictory or malicious")
    seed: StrictInt | None = Field(default=None, ge=0, le=2**31,
                             description="call-back draw seed; default from the campaign id")


class ReportIn(RequestModel):
    summary: LongText


class CleaningReviewIn(RequestModel):
    """SV-REVIEW-1: the decision on a cleaning flagged by SV-VALID-1."""

    decision: ReviewDecision
    reason: LongText


class SurveyView(BaseModel):
    id: UUID
    version: int
    status: CampaignStatus
    survey_type: SurveyType
    title: str
    department: str
    plan: CampaignPlan
    item_keys: list[str]
    approved_at: UtcDatetime | None
    sample: list[str]
    sample_spread: dict[str, dict[str, int]] = Field(
        description="SV-SAMPLE-1: the sample over size, tenure, region and scenario")
    sample_override: str | None
    started_at: UtcDatetime | None
    recipients: int
    responses: int
    late_entries: list[str]
    closed_at: UtcDatetime | None
    cleaning: CleaningResult | None
    review_pending: bool = Field(description=(
        "SV-REVIEW-1: the cleaning is flagged and awaits a cs_head or management decision"))
    reviews: list[CleaningReview]
    reported_at: UtcDatetime | None
    report_summary: str | None
    linked_exceptions: list[str]
    exceptions_due: list[str] = Field(description=(
        "SV-FIND-1: respondents very dissatisfied (an answer of 1) with no service "
        "exception opened yet; `POST .../findings` opens one"))
    corrective_actions: list[str] = Field(description="CA-SRC-1: actions opened from here")
    obligations: list[ObligationView]

    @classmethod
    def of(cls, c: SurveyCampaign, obligations: list[ObligationView]) -> SurveyView:
        return cls(
            id=c.id, version=c.version, status=c.status, survey_type=c.survey_type,
            title=c.title, department=c.department, plan=c.plan,
            item_keys=list(c.questionnaire.item_keys), approved_at=c.approved_at,
            sample=list(c.sample),
            sample_spread=check_sample(c.active, c.sample, SurveyPolicy()).spread,
            sample_override=c.sample_override, started_at=c.started_at,
            recipients=len(c.recipients), responses=len(c.responses),
            late_entries=list(c.late_entries), closed_at=c.survey_closed_at,
            cleaning=c.cleaning, review_pending=c.review_pending, reviews=list(c.reviews),
            reported_at=c.reported_at, report_summary=c.report_summary,
            linked_exceptions=list(c.linked_exceptions),
            exceptions_due=[r for r, p in c.exception_prompts.items() if p.exception_id is None],
            corrective_actions=list(c.corrective_actions), obligations=obligations)


class FindingIn(RequestModel):
    """SV-FIND-1: a strongly dissatisfied respondent (or a serious service flaw) opens a
    service exception at once, linked to the campaign."""

    respondent: Text
    serious_flaw: LongText | None = Field(default=None, description=(
        "the serious service flaw the respondent reported, when no item is scored 1 or 2"))
    customer: CustomerIn
    category: Category
    level: Level
    title: Text
    description: LongText
    service_step: Text
    department: Text
