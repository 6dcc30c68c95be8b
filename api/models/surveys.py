"""Survey-campaign requests and views (API.md "Cases": `surveys`)."""

from __future__ import annotations

from fractions import Fraction
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, Field, StrictBool, StrictInt, StrictStr

from api.models.common import (
    Day,
    Instant,
    LongText,
    OptionalText,
    RequestModel,
    Text,
    UtcDatetime,
)
from api.models.exceptions import ClaimsInstants, CustomerIn, ObligationView
from domain.policy import SurveyPolicy
from domain.service_exceptions.values import Category, Level
from domain.surveys.campaign import (
    CallBackResult,
    CampaignPlan,
    CampaignStatus,
    Channel,
    CleaningResult,
    CleaningReview,
    Exclusion,
    LedgerEntry,
    LedgerStep,
    Recipient,
    ReminderKind,
    ReturnPath,
    ReviewDecision,
    SurveyCampaign,
    SurveySubtype,
    SurveyType,
)
from domain.surveys.findings import Finding
from domain.surveys.questionnaire import DEFAULT_PERIODIC, Dimension, Item, Questionnaire
from domain.surveys.responses import (
    InvalidReason,
    OpinionCategory,
    OpinionKind,
    Priority,
    RespondentClass,
)
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
    subtype: SurveySubtype | None = Field(default=None, description=(
        "SV-TYPE-1: what a special or sudden survey is for; required for those, none "
        "for the others"))
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


class NewServiceIn(ClaimsInstants):
    """SV-TYPE-4: a new service launched makes a special survey due."""

    service: Text
    launched_at: Instant


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


class OpinionIn(RequestModel):
    kind: OpinionKind
    text: LongText


class ResponseIn(RequestModel):
    """Answers 1-5 or `unable_to_comment` per item key; fill time from the two instants;
    free-text opinions and suggestions (SV-TEXT-1), sealed as personal data."""

    respondent: Text
    started_at: Instant
    submitted_at: Instant
    answers: dict[str, StrictInt | StrictStr] = Field(
        max_length=500, description="1-5 or `unable_to_comment`; true/false are not scores")
    opinions: list[OpinionIn] = Field(default_factory=list, max_length=20)
    return_path: ReturnPath | None = Field(default=None, description=(
        "SV-CH-1: how the questionnaire came back (mail, fax, e-mail, web), if not by "
        "its channel"))


class OpinionClassIn(RequestModel):
    """SV-TEXT-1: opinion `number` (from 1) of the respondent's, classified."""

    respondent: Text
    number: StrictInt
    category: OpinionCategory
    priority: Priority


class LedgerIn(ClaimsInstants):
    """SV-LEDGER-1: one step of an item's follow-up."""

    item: Text = Field(description="the item's key, as the view's `ledger` lists it")
    step: LedgerStep
    department: Text | None = Field(default=None, description="for `notice`")
    measure: LongText | None = Field(default=None, description="for `customer_told`")
    at: Instant | None = Field(default=None, description="when it happened; default now")


class LedgerView(BaseModel):
    key: str
    kind: str
    customer_id: str
    what: str
    tracked: bool = Field(description="a top-20 % finding: notice due in 3 working days")
    notified_to: str | None
    notified_at: UtcDatetime | None
    measure: str | None
    told_at: UtcDatetime | None
    closed_at: UtcDatetime | None


class OpinionView(BaseModel):
    key: str = Field(description="`<respondent>/<n>`")
    kind: OpinionKind
    text: str
    category: OpinionCategory | None
    priority: Priority | None


class CleaningIn(RequestModel):
    exclusions: dict[str, InvalidReason] = Field(
        default_factory=dict, description="respondent -> contradictory or malicious")
    seed: StrictInt | None = Field(default=None, ge=0, le=2**31,
                             description="call-back draw seed; default from the campaign id")


class ReportIn(RequestModel):
    summary: LongText


class CallBackIn(RequestModel):
    """SV-SAMPLE-2: what calling back a drawn delegated respondent found."""

    respondent: Text
    confirmed: StrictBool
    note: OptionalText = Field(default="", description="required when not confirmed")


class CleaningReviewIn(RequestModel):
    """SV-REVIEW-1: the decision on a cleaning flagged by SV-VALID-1."""

    decision: ReviewDecision
    reason: LongText


class Figure(BaseModel):
    """SV-KPI-4: a figure as a decimal with its unit, and the exact value it rounds."""

    value: float = Field(description="rounded to four decimals")
    unit: Literal["percent", "points"] = Field(
        description="percent: 0-100; points: a score on SV-KPI-1's 0-100 scale")
    exact: str = Field(description="the exact value, as an integer or 'numerator/denominator'")

    @classmethod
    def of(cls, exact: str | None, unit: Literal["percent", "points"],
           scale: int = 1) -> Figure | None:
        if exact is None:
            return None
        value = Fraction(exact) * scale
        return cls(value=round(float(value), 4), unit=unit, exact=str(value))

    @classmethod
    def each(cls, exact: dict[str, str], unit: Literal["percent", "points"]
             ) -> dict[str, Figure]:
        return {k: f for k, v in exact.items() if (f := cls.of(v, unit)) is not None}


class CleaningView(BaseModel):
    """The cleaning's figures (SV-KPI-1..4, SV-RATE-1, SV-VALID-1, SV-REVIEW-1), every
    one in percent or points with its exact value."""

    valid: list[str]
    excluded: list[Exclusion]
    excluded_share: Figure | None
    flagged_for_review: bool
    customers_surveyed: int
    overall_score: Figure | None
    customer_scores: dict[str, Figure]
    dimension_scores: dict[str, Figure]
    item_scores: dict[str, Figure]
    satisfaction_rate: Figure | None
    loyalty: Figure | None
    favourable_rate: Figure | None = Field(description="key-account weighted (SV-KPI-3)")
    dimension_favourable: dict[str, Figure]
    item_favourable: dict[str, Figure]
    kpi_targets_met: dict[str, bool | None] = Field(
        description="SV-KPI-2's targets, from the policy in force at cleaning")
    scores_by_size: dict[str, Figure]
    scores_by_tenure: dict[str, Figure]
    scores_by_scenario: dict[str, Figure]
    previous_campaign: str | None
    previous_overall_score: Figure | None
    response_rate: Figure | None
    online_response_rate: Figure | None
    on_site_share: Figure | None
    rate_targets_met: dict[str, bool | None]
    a_class_direct_ok: bool
    call_backs: list[str]
    call_back_seed: int
    tracked_findings: list[Finding]
    notices: list[Finding]
    key_account_weight: float
    min_fill_seconds: float
    max_excluded_share: float

    @classmethod
    def of(cls, c: CleaningResult) -> CleaningView:
        percent, points = "percent", "points"
        return cls(
            valid=list(c.valid), excluded=list(c.excluded),
            excluded_share=Figure.of(c.excluded_share, percent, 100),
            flagged_for_review=c.flagged_for_review, customers_surveyed=c.customers_surveyed,
            overall_score=Figure.of(c.overall_score, points),
            customer_scores=Figure.each(c.customer_scores, points),
            dimension_scores=Figure.each(c.dimension_scores, points),
            item_scores=Figure.each(c.item_scores, points),
            satisfaction_rate=Figure.of(c.satisfaction_rate, percent),
            loyalty=Figure.of(c.loyalty, percent),
            favourable_rate=Figure.of(c.favourable_rate, percent),
            dimension_favourable=Figure.each(c.dimension_favourable, percent),
            item_favourable=Figure.each(c.item_favourable, percent),
            kpi_targets_met=c.kpi_targets_met,
            scores_by_size=Figure.each(c.scores_by_size, points),
            scores_by_tenure=Figure.each(c.scores_by_tenure, points),
            scores_by_scenario=Figure.each(c.scores_by_scenario, points),
            previous_campaign=c.previous_campaign,
            previous_overall_score=Figure.of(c.previous_overall_score, points),
            # stored as ratios (0-1) since SV-RATE-1 was built; shown in percent
            response_rate=Figure.of(c.response_rate, percent, 100),
            online_response_rate=Figure.of(c.online_response_rate, percent, 100),
            on_site_share=Figure.of(c.on_site_share, percent, 100),
            rate_targets_met=c.rate_targets_met, a_class_direct_ok=c.a_class_direct_ok,
            call_backs=list(c.call_backs), call_back_seed=c.call_back_seed,
            tracked_findings=list(c.tracked_findings), notices=list(c.notices),
            key_account_weight=c.key_account_weight, min_fill_seconds=c.min_fill_seconds,
            max_excluded_share=c.max_excluded_share)


class SurveyView(BaseModel):
    id: UUID
    version: int
    status: CampaignStatus
    survey_type: SurveyType
    subtype: SurveySubtype | None
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
    cleaning: CleaningView | None
    opinions: list[OpinionView] = Field(description="SV-TEXT-1, with their classes")
    ledger: list[LedgerView] = Field(description="SV-LEDGER-1: every item and its follow-up")
    call_back_results: list[CallBackResult]
    call_backs_pending: list[str] = Field(description=(
        "SV-SAMPLE-2: drawn respondents not called back yet; the report waits for them"))
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
            subtype=c.subtype,
            title=c.title, department=c.department, plan=c.plan,
            item_keys=list(c.questionnaire.item_keys), approved_at=c.approved_at,
            sample=list(c.sample),
            sample_spread=check_sample(c.active, c.sample, SurveyPolicy()).spread,
            sample_override=c.sample_override, started_at=c.started_at,
            recipients=len(c.recipients), responses=len(c.responses),
            late_entries=list(c.late_entries), closed_at=c.survey_closed_at,
            cleaning=CleaningView.of(c.cleaning) if c.cleaning else None,
            opinions=[OpinionView(key=key, kind=o.kind, text=o.text,
                                  category=k.category if k else None,
                                  priority=k.priority if k else None)
                      for key, o, k in c.opinions()],
            ledger=[LedgerView(key=key, kind=i.kind, customer_id=i.customer_id, what=i.what,
                               tracked=i.tracked, **vars(c.ledger.get(key, LedgerEntry())))
                    for key, i in c.ledger_items().items()],
            call_back_results=list(c.call_back_results.values()),
            call_backs_pending=list(c.call_backs_pending),
            review_pending=c.review_pending, reviews=list(c.reviews),
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
