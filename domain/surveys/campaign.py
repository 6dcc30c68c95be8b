"""The SurveyCampaign aggregate (DOMAIN.md section 3): plan and approval (SV-PLAN-1),
sample (SV-SAMPLE-1/2), start, dispatch and reminders (SV-DISP-1, SV-CH-1),
responses and their validity (SV-VALID-1), close, cleaning with the KPIs and
findings it produces (SV-KPI-*, SV-FIND-*), and the report (SV-CLOSE-1).

Cleaning records the figures together with the settings that produced them
(key-account weight, minimum fill time, exclusion threshold) and the seed of the
call-back draw, so a replay reproduces them exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime
from enum import Enum
from fractions import Fraction
from typing import ClassVar

from eventsourcing.domain import event

from domain.actors import EventMeta, Role
from domain.calendar import utc
from domain.cases import (
    Case,
    CommandContext,
    authorise,
    business_instant,
    plausible_date,
    required_text,
)
from domain.errors import InvalidInput, StepMissing, WrongState
from domain.personal import PERSONAL
from domain.policy import SurveyPolicy
from domain.surveys import kpi as kpis
from domain.surveys.findings import (
    DISSATISFIED,
    STRONGLY_DISSATISFIED,
    Finding,
    findings,
    triage,
)
from domain.surveys.questionnaire import Questionnaire
from domain.surveys.responses import (
    InvalidReason,
    Opinion,
    OpinionCategory,
    OpinionKind,
    Priority,
    RespondentClass,
    Response,
    automatic_reasons,
    check_answers,
    needs_review,
)
from domain.surveys.sampling import (
    SampleCustomer,
    call_back_draw,
    check_sample,
    direct_a_class_ok,
)

ORGANISERS = frozenset({Role.CS_HEAD, Role.DEPARTMENT_HEAD, Role.FRONTLINE})
"""The customer-service department runs campaigns (000 art. 5)."""
APPROVERS = frozenset({Role.MANAGEMENT})
"""Plans are approved by management (000 art. 9); so are sample overrides."""
CLEANING_REVIEWERS = frozenset({Role.CS_HEAD, Role.MANAGEMENT})
"""SV-REVIEW-1: who decides on a campaign flagged by SV-VALID-1."""


class SurveyType(Enum):
    """SV-TYPE-1."""

    INSTANT = "instant"
    QUARTERLY = "quarterly"
    ANNUAL = "annual"
    SPECIAL = "special"
    SUDDEN = "sudden"


class SurveySubtype(Enum):
    """SV-TYPE-1: what a special or a sudden survey is for."""

    NEW_CUSTOMER_RETENTION = "new_customer_retention"
    REPURCHASE_INTENT = "repurchase_intent"
    COMPLAINT_REPAIR = "complaint_repair"
    NEW_PRODUCT_SERVICE = "new_product_service"
    MARKET_POLICY_CHANGE = "market_policy_change"
    MAJOR_SERVICE_EVENT = "major_service_event"


SUBTYPES: dict[SurveyType, frozenset[SurveySubtype]] = {
    SurveyType.SPECIAL: frozenset({SurveySubtype.NEW_CUSTOMER_RETENTION,
                                   SurveySubtype.REPURCHASE_INTENT,
                                   SurveySubtype.COMPLAINT_REPAIR,
                                   SurveySubtype.NEW_PRODUCT_SERVICE}),
    SurveyType.SUDDEN: frozenset({SurveySubtype.MARKET_POLICY_CHANGE,
                                  SurveySubtype.MAJOR_SERVICE_EVENT}),
}


class ReturnPath(Enum):
    """SV-CH-1: how a questionnaire came back, besides the channel it went out by."""

    MAIL = "mail"
    FAX = "fax"
    EMAIL = "email"
    WEB = "web"


class Channel(Enum):
    """SV-CH-1."""

    ONLINE = "online"
    PHONE = "phone"
    ON_SITE = "on_site"
    THIRD_PARTY = "third_party"


class CampaignStatus(Enum):
    PLANNED = "planned"
    APPROVED = "approved"
    SAMPLED = "sampled"
    RUNNING = "running"
    CLOSED = "closed"
    CLEANED = "cleaned"
    REPORTED = "reported"


class ReviewDecision(Enum):
    """SV-REVIEW-1: what the reviewer of a flagged cleaning decided."""

    ACCEPT = "accept"              # the figures stand; the report may follow
    RE_SURVEY = "re_survey"        # the survey runs again to collect more responses
    EXCLUDE_MORE = "exclude_more"  # the data is cleaned again with more exclusions


@dataclass(frozen=True)
class CleaningReview:
    decision: ReviewDecision
    reason: str
    reviewed_by: str
    reviewed_at: datetime
    excluded_share: str | None
    """The share of responses excluded by the cleaning reviewed (exact fraction)."""


class LedgerStep(Enum):
    """SV-LEDGER-1, in order."""

    NOTICE = "notice"                # sent to the department that acts on it
    CUSTOMER_TOLD = "customer_told"  # the customer was told the measure
    CLOSED = "closed"


@dataclass(frozen=True)
class LedgerItem:
    kind: str
    """finding or opinion"""
    customer_id: str
    what: str
    tracked: bool
    """A top-20 % finding (SV-FIND-2): its notice is due within 3 working days."""


@dataclass(frozen=True)
class LedgerEntry:
    notified_to: str | None = None
    notified_at: datetime | None = None
    measure: str | None = None
    told_at: datetime | None = None
    closed_at: datetime | None = None


@dataclass(frozen=True)
class OpinionClass:
    """SV-TEXT-1: an opinion's category and priority, and who classified it."""

    category: OpinionCategory
    priority: Priority
    classified_by: str


@dataclass(frozen=True)
class CallBackResult:
    """SV-SAMPLE-2: a delegated respondent called back to verify their answers."""

    respondent: str
    confirmed: bool
    note: str
    called_by: str
    called_at: datetime


@dataclass(frozen=True)
class ExceptionPrompt:
    """SV-FIND-1: a response with an answer of 1 calls for a service exception."""

    recorded_at: datetime
    version: int
    exception_id: str | None = None
    opened_at: datetime | None = None
    opened_version: int | None = None


class ReminderKind(Enum):
    PHONE_FOLLOW_UP = "phone_follow_up"
    WEEKLY = "weekly"


@dataclass(frozen=True)
class CampaignPlan:
    """SV-PLAN-1: goals, types, period, scope, channels, owners, budget."""

    goals: str
    period_start: date
    period_end: date
    scope: str
    channels: tuple[Channel, ...]
    owners: tuple[str, ...]
    budget: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "channels", tuple(self.channels))
        object.__setattr__(self, "owners", tuple(self.owners))


@dataclass(frozen=True)
class Trigger:
    """Why the service itself scheduled a campaign, which sets its launch deadline:
    SV-TYPE-2 (a service node: 3 working days), SV-TYPE-3 (a follow-up visit
    `months` after a delivery, or at `due_date`, the warranty's end), SV-TYPE-4
    (complaints up on the previous quarter: 15 working days)."""

    rule: str
    source: str
    start: datetime
    months: int | None = None
    due_date: date | None = None
    node_type: str | None = None
    """SV-TYPE-2: the service node, whose launch days the policy may set (004)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", utc(self.start, "start"))


@dataclass(frozen=True)
class Recipient:
    respondent: str
    """Who answers, as the campaign names them: `<customer id>#<n>`, given at dispatch
    (campaigns dispatched before RET-4 name them as the organiser did)."""
    customer_id: str
    key_account: bool | None
    """As the sampling frame says (SV-KPI-4): None from a caller means "look it up"."""
    respondent_class: RespondentClass
    channel: Channel
    delegated: bool
    """Sent through an office rather than by customer service directly (SV-SAMPLE-2)."""
    name: str = field(default="", metadata=PERSONAL)
    """The person, as the organiser named them: personal data, sealed (RET-4)."""


@dataclass(frozen=True)
class Exclusion:
    respondent: str
    reasons: tuple[InvalidReason, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "reasons", tuple(self.reasons))


@dataclass(frozen=True)
class CleaningResult:
    """What cleaning produced, with the settings that produced it."""

    valid: tuple[str, ...]
    excluded: tuple[Exclusion, ...]
    flagged_for_review: bool
    customers_surveyed: int
    overall_score: str | None
    dimension_scores: dict[str, str]
    item_scores: dict[str, str]
    satisfaction_rate: str | None
    loyalty: str | None
    favourable_rate: str | None
    a_class_direct_ok: bool
    call_backs: tuple[str, ...]
    call_back_seed: int
    tracked_findings: tuple[Finding, ...]
    """The top share by severity: due as tracked corrective actions (SV-FIND-2)."""
    notices: tuple[Finding, ...]
    scores_by_size: dict[str, str]
    scores_by_tenure: dict[str, str]
    scores_by_scenario: dict[str, str]
    previous_campaign: str | None
    previous_overall_score: str | None
    response_rate: str | None
    online_response_rate: str | None
    on_site_share: str | None
    rate_targets_met: dict[str, bool | None]
    key_account_weight: float
    min_fill_seconds: float
    max_excluded_share: float
    excluded_share: str | None = None
    """Excluded responses of all responses (SV-REVIEW-1), exact fraction."""
    customer_scores: dict[str, str] = field(default_factory=dict)
    dimension_favourable: dict[str, str] = field(default_factory=dict)
    item_favourable: dict[str, str] = field(default_factory=dict)
    kpi_targets_met: dict[str, bool | None] = field(default_factory=dict)
    """SV-KPI-4: kept with the campaign (cleanings of earlier releases have none)."""


def _fraction(value: object) -> str | None:
    """Figures are stored exactly, as 'numerator/denominator'."""
    return None if value is None else str(value)


class SurveyCampaign(Case):
    case_type: ClassVar[str] = "survey"
    class_version: ClassVar[int] = 7
    """Of the state in snapshots: 2 adds the reviews of flagged cleanings, 3 the
    exceptions strong dissatisfaction calls for (SV-FIND-1), 4 the call-backs'
    results (SV-SAMPLE-2), 5 the opinions' classes (SV-TEXT-1), 6 the feedback
    ledger (SV-LEDGER-1), 7 the subtype of a special or sudden survey (SV-TYPE-1)."""

    @staticmethod
    def upcast_v1_v2(state: dict[str, object]) -> None:
        state["reviews"] = []

    @staticmethod
    def upcast_v2_v3(state: dict[str, object]) -> None:
        state["exception_prompts"] = {}

    @staticmethod
    def upcast_v3_v4(state: dict[str, object]) -> None:
        state["call_back_results"] = {}
        reviews: list[CleaningReview] = state["reviews"]  # type: ignore[assignment]
        state["cleaning_accepted"] = bool(reviews) and reviews[-1].decision is (
            ReviewDecision.ACCEPT)

    @staticmethod
    def upcast_v4_v5(state: dict[str, object]) -> None:
        state["classifications"] = {}

    @staticmethod
    def upcast_v5_v6(state: dict[str, object]) -> None:
        state["ledger"] = {}

    @staticmethod
    def upcast_v6_v7(state: dict[str, object]) -> None:
        state["subtype"] = None

    @classmethod
    def draft(cls, ctx: CommandContext, *, survey_type: SurveyType, title: str,
              plan: CampaignPlan, questionnaire: Questionnaire,
              department: str = "customer_service",
              subtype: SurveySubtype | None = None) -> SurveyCampaign:
        authorise(ctx, "plan", ORGANISERS)
        required_text("title", title)
        allowed = SUBTYPES.get(survey_type, frozenset())
        if (subtype is None) != (not allowed) or (subtype is not None and subtype not in allowed):
            raise InvalidInput("subtype", f"a {survey_type.value} survey " + (
                f"is one of: {', '.join(sorted(s.value for s in allowed))}" if allowed
                else "has no subtype"))
        required_text("goals", plan.goals)
        plausible_date("plan.period_start", plan.period_start)
        plausible_date("plan.period_end", plan.period_end)
        if plan.period_end < plan.period_start:
            raise InvalidInput("plan.period_end", "the period ends before it starts")
        if not plan.channels:
            raise InvalidInput("plan.channels", "name at least one channel")
        return cls(timestamp=ctx.at, meta=ctx.meta("plan"), survey_type=survey_type,
                   title=title, plan=plan, questionnaire=questionnaire, department=department,
                   trigger=None, subtype=subtype)

    @classmethod
    def schedule(cls, ctx: CommandContext, *, trigger: Trigger, survey_type: SurveyType,
                 title: str, plan: CampaignPlan, questionnaire: Questionnaire,
                 department: str = "customer_service",
                 subtype: SurveySubtype | None = None) -> SurveyCampaign:
        """A campaign the service drafts itself when a trigger makes one due; the
        launch deadline runs from the trigger (SV-TYPE-2/3/4)."""
        return cls(timestamp=ctx.at, meta=ctx.meta("schedule"), survey_type=survey_type,
                   title=title, plan=plan, questionnaire=questionnaire, department=department,
                   trigger=trigger, subtype=subtype)

    @event("Planned")
    def __init__(self, *, timestamp: datetime, meta: EventMeta, survey_type: SurveyType,
                 title: str, plan: CampaignPlan, questionnaire: Questionnaire,
                 department: str, trigger: Trigger | None,
                 subtype: SurveySubtype | None = None) -> None:
        self.survey_type = survey_type
        self.subtype = subtype
        self.trigger = trigger
        self.title = title
        self.plan = plan
        self.questionnaire = questionnaire
        self.department = department
        self.status = CampaignStatus.PLANNED
        self.planned_at = timestamp
        self.approved_at: datetime | None = None
        self.approved_version: int | None = None
        self.sample: tuple[str, ...] = ()
        self.active: tuple[SampleCustomer, ...] = ()
        self.sample_override: str | None = None
        self.started_at: datetime | None = None
        self.recipients: dict[str, Recipient] = {}
        self.dispatched_at: dict[str, datetime] = {}
        self.reminders: list[tuple[str, ReminderKind, datetime]] = []
        self.responses: dict[str, Response] = {}
        self.response_reasons: dict[str, tuple[InvalidReason, ...]] = {}
        self.late_entries: list[str] = []
        self.survey_closed_at: datetime | None = None
        self.cleaned_at: datetime | None = None
        self.cleaning: CleaningResult | None = None
        self.reported_at: datetime | None = None
        self.report_summary: str | None = None
        self.linked_exceptions: list[str] = []
        self.reviews: list[CleaningReview] = []
        self.exception_prompts: dict[str, ExceptionPrompt] = {}
        self.call_back_results: dict[str, CallBackResult] = {}
        """SV-SAMPLE-2: what calling back the drawn delegated respondents found."""
        self.cleaning_accepted = False
        """SV-REVIEW-1: a reviewer accepted the cleaning in force as it now stands."""
        self.classifications: dict[str, OpinionClass] = {}
        """SV-TEXT-1: each opinion's class, by `<respondent>/<n>` (n from 1)."""
        self.ledger: dict[str, LedgerEntry] = {}
        """SV-LEDGER-1: how far each item has been followed, by its key."""
        """SV-FIND-1: respondents whose answer of 1 calls for a service exception."""
        self._start_case_record()

    # --- plan and sample (SV-PLAN-1, SV-SAMPLE-1) -----------------------------------

    def parties(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """The plan's owners (SEC-AUTH-2)."""
        return (), tuple(self.plan.owners)

    def _expect(self, command: str, status: CampaignStatus, missing: str) -> None:
        order = list(CampaignStatus)
        if order.index(self.status) < order.index(status):
            raise StepMissing(command, missing)
        if self.status is not status:
            raise WrongState(command, self.status.value)

    def approve_plan(self, ctx: CommandContext) -> None:
        authorise(ctx, "plan_approval", APPROVERS)
        self._expect("plan_approval", CampaignStatus.PLANNED, "plan")
        self._plan_approved(timestamp=ctx.at, meta=ctx.meta("plan_approval"))

    @event("PlanApproved")
    def _plan_approved(self, *, timestamp: datetime, meta: EventMeta) -> None:
        self.approved_at = timestamp
        self.approved_version = self.version + 1
        self.status = CampaignStatus.APPROVED

    def set_sample(self, ctx: CommandContext, policy: SurveyPolicy, *,
                   active: tuple[SampleCustomer, ...], sample: tuple[str, ...],
                   override_reason: str | None = None,
                   frame_from_directory: bool = True) -> None:
        """SV-SAMPLE-1; a sample that breaks it, or a frame of active customers other
        than the directory's (which could get round the rule), needs management's
        override and a reason."""
        authorise(ctx, "sample", ORGANISERS | APPROVERS)
        if self.status not in {CampaignStatus.APPROVED, CampaignStatus.SAMPLED}:
            self._expect("sample", CampaignStatus.APPROVED, "plan_approval")
        if not sample:
            raise InvalidInput("sample", "the sample is empty")
        result = check_sample(active, sample, policy)
        if not frame_from_directory and not (override_reason or "").strip():
            raise InvalidInput("active", "the active customers come from the directory; "
                               "another list needs management's override with a reason")
        overridden = not result.ok or not frame_from_directory
        if overridden:
            if not (override_reason or "").strip():
                raise InvalidInput("sample", "; ".join(result.problems()))
            authorise(ctx, "sample_override", APPROVERS)
        self._sample_set(timestamp=ctx.at, meta=ctx.meta("sample"), active=tuple(active),
                         sample=tuple(dict.fromkeys(sample)),
                         override=override_reason if overridden else None)

    @event("SampleSet")
    def _sample_set(self, *, timestamp: datetime, meta: EventMeta,
                    active: tuple[SampleCustomer, ...], sample: tuple[str, ...],
                    override: str | None) -> None:
        self.active = active
        self.sample = sample
        self.sample_override = override
        self.status = CampaignStatus.SAMPLED

    def start(self, ctx: CommandContext) -> None:
        authorise(ctx, "start", ORGANISERS)
        self._expect("start", CampaignStatus.SAMPLED, "sample")
        self._started(timestamp=ctx.at, meta=ctx.meta("start"))

    @event("Started")
    def _started(self, *, timestamp: datetime, meta: EventMeta) -> None:
        self.started_at = timestamp
        self.status = CampaignStatus.RUNNING

    # --- dispatch, reminders, responses (SV-DISP-1, SV-CH-1, SV-VALID-1) ------------

    def dispatch(self, ctx: CommandContext, recipients: tuple[Recipient, ...]) -> None:
        authorise(ctx, "dispatches", ORGANISERS)
        self._expect("dispatches", CampaignStatus.RUNNING, "start")
        if not recipients:
            raise InvalidInput("recipients", "name at least one recipient")
        frame = {c.id: c for c in self.active}
        weighed = []
        for i, recipient in enumerate(recipients):
            if recipient.customer_id not in self.sample:
                raise InvalidInput(f"recipients.{i}.customer_id",
                                   f"{recipient.customer_id} is not in the sample")
            if recipient.channel not in self.plan.channels:
                raise InvalidInput(f"recipients.{i}.channel",
                                   f"{recipient.channel.value} is not a channel of the plan")
            weighed.append(self._weighed(recipient, frame, f"recipients.{i}.key_account"))
        self._dispatched(timestamp=ctx.at, meta=ctx.meta("dispatches"),
                         recipients=self._named(tuple(weighed)))

    @staticmethod
    def _weighed(recipient: Recipient, frame: dict[str, SampleCustomer],
                 where: str) -> Recipient:
        """SV-KPI-4: whether a customer is a key account is the sampling frame's word,
        taken from the directory when the sample was drawn; a caller may omit it and
        may not contradict it."""
        known = frame.get(recipient.customer_id)
        if known is None:
            if recipient.key_account is None:
                raise InvalidInput(where, f"{recipient.customer_id} is not in the sampling "
                                   "frame: say whether it is a key account")
            return recipient
        if recipient.key_account not in (None, known.key_account):
            raise InvalidInput(where, f"{recipient.customer_id} is "
                               f"{'' if known.key_account else 'not '}a key account in the "
                               "sampling frame; dispatch does not restate it (SV-KPI-4)")
        return replace(recipient, key_account=known.key_account)

    def _named(self, recipients: tuple[Recipient, ...]) -> tuple[Recipient, ...]:
        """RET-4: each person, given by name, gets the campaign's name for them,
        `<customer id>#<n>`: only the recipient's sealed `name` says who they are, so
        the responses and figures stay whole when their customer is erased. Sending
        to the same person again keeps their name."""
        known = {(r.customer_id, r.name): k for k, r in self.recipients.items() if r.name}
        taken = set(self.recipients)
        named = []
        for recipient in recipients:
            person = (recipient.customer_id, recipient.respondent)
            if person not in known:
                n = 1 + sum(1 for k in taken if k.startswith(f"{recipient.customer_id}#"))
                while f"{recipient.customer_id}#{n}" in taken:
                    n += 1
                known[person] = f"{recipient.customer_id}#{n}"
                taken.add(known[person])
            named.append(replace(recipient, respondent=known[person],
                                 name=recipient.respondent))
        return tuple(named)

    def respondent(self, given: str, where: str = "respondent") -> str:
        """The campaign's name for a recipient given by it or by their own name."""
        if given in self.recipients:
            return given
        matches = [k for k, r in self.recipients.items() if r.name == given]
        if len(matches) > 1:
            raise InvalidInput(where, f"{len(matches)} recipients have that name; give "
                               f"their respondent id: {', '.join(matches)}")
        if not matches:
            raise InvalidInput(where, f"{given} was not sent the survey")
        return matches[0]

    @event("Dispatched")
    def _dispatched(self, *, timestamp: datetime, meta: EventMeta,
                    recipients: tuple[Recipient, ...]) -> None:
        for recipient in recipients:
            self.recipients[recipient.respondent] = recipient
            self.dispatched_at.setdefault(recipient.respondent, timestamp)

    def remind(self, ctx: CommandContext, *, respondent: str, kind: ReminderKind) -> None:
        authorise(ctx, "reminders", ORGANISERS)
        self._expect("reminders", CampaignStatus.RUNNING, "start")
        respondent = self.respondent(respondent)
        if respondent in self.responses:
            raise WrongState("reminders", "answered", f"{respondent} has already answered")
        self._reminded(timestamp=ctx.at, meta=ctx.meta("reminders"), respondent=respondent,
                       kind=kind)

    @event("Reminded")
    def _reminded(self, *, timestamp: datetime, meta: EventMeta, respondent: str,
                  kind: ReminderKind) -> None:
        self.reminders.append((respondent, kind, timestamp))

    def record_response(self, ctx: CommandContext, policy: SurveyPolicy, *, respondent: str,
                        started_at: datetime, submitted_at: datetime,
                        answers: dict[str, int | str],
                        opinions: tuple[tuple[OpinionKind, str], ...] = (),
                        return_path: ReturnPath | None = None) -> None:
        """A response from a recipient, once; never after close. Interview answers typed
        in later than SV-CH-1 allows are kept and marked as a late entry."""
        authorise(ctx, "responses", ORGANISERS)
        if self.status in {CampaignStatus.CLOSED, CampaignStatus.CLEANED,
                           CampaignStatus.REPORTED}:
            raise WrongState("responses", self.status.value, "the survey is closed")
        self._expect("responses", CampaignStatus.RUNNING, "start")
        respondent = self.respondent(respondent)
        recipient = self.recipients[respondent]
        if respondent in self.responses:
            raise InvalidInput("respondent", f"{respondent} has already answered")
        business_instant(ctx, "started_at", started_at)
        business_instant(ctx, "submitted_at", submitted_at)
        if submitted_at < started_at:
            raise InvalidInput("submitted_at", "submitted before it was started")
        if self.started_at is not None and started_at < self.started_at:
            raise InvalidInput("started_at", "the campaign started at "
                               f"{self.started_at.isoformat()}; an answer cannot start "
                               "before that")
        check_answers(self.questionnaire, answers)
        for i, (_, text) in enumerate(opinions):
            required_text(f"opinions.{i}.text", text)
        response = Response(
            respondent=respondent, customer_id=recipient.customer_id,
            key_account=bool(recipient.key_account),
            respondent_class=recipient.respondent_class,
            channel=recipient.channel.value, delegated=recipient.delegated,
            started_at=started_at, submitted_at=submitted_at, answers=dict(answers),
            opinions=tuple(Opinion(recipient.customer_id, kind, text)
                           for kind, text in opinions),
            return_path=return_path.value if return_path else None)
        late = (recipient.channel in {Channel.ON_SITE, Channel.PHONE}
                and ctx.at - submitted_at > policy.interview_entry)
        self._response_recorded(timestamp=ctx.at, meta=ctx.meta("responses"),
                                response=response,
                                reasons=automatic_reasons(self.questionnaire, response, policy),
                                late_entry=late,
                                prompts_exception=STRONGLY_DISSATISFIED in answers.values())

    @event("ResponseRecorded")
    def _response_recorded(self, *, timestamp: datetime, meta: EventMeta, response: Response,
                           reasons: tuple[InvalidReason, ...], late_entry: bool,
                           prompts_exception: bool = False) -> None:
        """`prompts_exception` is decided when the response is recorded (responses of
        earlier releases carry none, so replaying them owes nothing new)."""
        self.responses[response.respondent] = response
        self.response_reasons[response.respondent] = tuple(reasons)
        if late_entry:
            self.late_entries.append(response.respondent)
        if prompts_exception:
            self.exception_prompts[response.respondent] = ExceptionPrompt(
                timestamp, self.version + 1)

    def classify_opinion(self, ctx: CommandContext, *, respondent: str, number: int,
                         category: OpinionCategory, priority: Priority) -> None:
        """SV-TEXT-1: customer service classifies an opinion (number n of the
        respondent's, from 1) into one of 004's four categories with a priority; a
        later classification replaces an earlier one until the report."""
        authorise(ctx, "opinion_classes", ORGANISERS)
        if self.status is CampaignStatus.REPORTED:
            raise WrongState("opinion_classes", self.status.value, "the campaign is reported")
        respondent = self.respondent(respondent)
        response = self.responses.get(respondent)
        if response is None:
            raise InvalidInput("respondent", f"{respondent} has not answered")
        if not 1 <= number <= len(response.opinions):
            raise InvalidInput("number", f"{respondent} gave {len(response.opinions)} "
                               "opinion(s), numbered from 1")
        self._opinion_classified(timestamp=ctx.at, meta=ctx.meta("opinion_classes"),
                                 key=f"{respondent}/{number}",
                                 opinion_class=OpinionClass(category, priority, ctx.actor.user))

    @event("OpinionClassified")
    def _opinion_classified(self, *, timestamp: datetime, meta: EventMeta, key: str,
                            opinion_class: OpinionClass) -> None:
        self.classifications[key] = opinion_class

    def opinions(self) -> list[tuple[str, Opinion, OpinionClass | None]]:
        """Every opinion of the valid-or-not responses, with its key and class."""
        return [(f"{r}/{n}", o, self.classifications.get(f"{r}/{n}"))
                for r, response in self.responses.items()
                for n, o in enumerate(response.opinions, 1)]

    # --- the feedback ledger (SV-LEDGER-1) ------------------------------------------

    def ledger_items(self) -> dict[str, LedgerItem]:
        """Every finding of the cleaning in force and every classified opinion, by key:
        the ones the ledger follows until the customer is told and the item closed."""
        items: dict[str, LedgerItem] = {}
        if self.cleaning is not None:
            for tracked, found in ((True, self.cleaning.tracked_findings),
                                   (False, self.cleaning.notices)):
                for f in found:
                    items[f"finding:{f.respondent}/{f.item}"] = LedgerItem(
                        "finding", f.customer_id, f"{f.item} scored {f.score}", tracked)
        for key, opinion, opinion_class in self.opinions():
            if opinion_class is not None:
                items[f"opinion:{key}"] = LedgerItem(
                    "opinion", opinion.customer_id,
                    f"{opinion_class.category.value} ({opinion_class.priority.value})", False)
        return items

    def follow_up(self, ctx: CommandContext, *, item: str, step: LedgerStep,
                  department: str | None = None, measure: str | None = None,
                  at: datetime | None = None) -> None:
        """SV-LEDGER-1: an item's notice sent to the department that acts on it, the
        customer told the measure taken, the item closed, in that order. Follow-up
        goes on after the report."""
        authorise(ctx, "ledger", ORGANISERS)
        items = self.ledger_items()
        if item not in items:
            raise InvalidInput("item", f"{item} is not an item of the ledger "
                               "(a finding of the cleaning or a classified opinion)")
        entry = self.ledger.get(item, LedgerEntry())
        when = business_instant(ctx, "at", at or ctx.at)
        if step is LedgerStep.NOTICE:
            required_text("department", department or "")
            if entry.notified_at is not None:
                raise WrongState("ledger", "notified", f"{item}'s notice is already sent")
            entry = replace(entry, notified_to=department, notified_at=when)
        elif step is LedgerStep.CUSTOMER_TOLD:
            required_text("measure", measure or "")
            if entry.notified_at is None:
                raise StepMissing("ledger", "notice", f"send {item}'s notice first")
            entry = replace(entry, measure=measure, told_at=when)
        else:
            if entry.told_at is None:
                raise StepMissing("ledger", "customer_told",
                                  f"tell the customer the measure for {item} first")
            if entry.closed_at is not None:
                raise WrongState("ledger", "closed", f"{item} is already closed")
            entry = replace(entry, closed_at=when)
        self._followed_up(timestamp=ctx.at, meta=ctx.meta("ledger", {"at": when}),
                          item=item, entry=entry)

    @event("FollowedUp")
    def _followed_up(self, *, timestamp: datetime, meta: EventMeta, item: str,
                     entry: LedgerEntry) -> None:
        self.ledger[item] = entry

    def link_exception(self, ctx: CommandContext, *, exception_id: str, respondent: str,
                       customer_id: str, serious_flaw: str | None = None) -> None:
        """SV-FIND-1: a respondent who is strongly dissatisfied (an answer of 1 or 2),
        or who reported a serious service flaw (named), opened a service exception for
        their own customer, while the campaign is not yet reported."""
        authorise(ctx, "findings", ORGANISERS)
        if self.status is CampaignStatus.REPORTED:
            raise WrongState("findings", self.status.value, "the campaign is reported; "
                             "open the service exception on its own")
        respondent = self.respondent(respondent)
        if respondent not in self.responses:
            raise InvalidInput("respondent", f"{respondent} has not answered")
        own = self.recipients[respondent].customer_id
        if customer_id != own:
            raise InvalidInput("customer.id", f"{respondent} answered for {own}, not for "
                               f"{customer_id}")
        low = [k for k, v in self.responses[respondent].scored().items() if v <= DISSATISFIED]
        if not low and not (serious_flaw or "").strip():
            raise InvalidInput("respondent", f"{respondent} scored no item 1 or 2: a finding "
                               "is for a dissatisfied respondent, or names the serious "
                               "service flaw they reported")
        self._exception_linked(timestamp=ctx.at, meta=ctx.meta("findings"),
                               exception_id=exception_id, respondent=respondent)

    @event("ExceptionLinked")
    def _exception_linked(self, *, timestamp: datetime, meta: EventMeta, exception_id: str,
                          respondent: str) -> None:
        self.linked_exceptions.append(exception_id)
        prompt = self.exception_prompts.get(respondent)
        if prompt is not None and prompt.exception_id is None:
            self.exception_prompts[respondent] = replace(
                prompt, exception_id=exception_id, opened_at=timestamp,
                opened_version=self.version + 1)

    # --- close, clean, report (SV-CLOSE-1, SV-KPI-*, SV-FIND-*) ----------------------

    def close(self, ctx: CommandContext) -> None:
        authorise(ctx, "close", ORGANISERS)
        self._expect("close", CampaignStatus.RUNNING, "start")
        self._closed(timestamp=ctx.at, meta=ctx.meta("close"))

    @event("Closed")
    def _closed(self, *, timestamp: datetime, meta: EventMeta) -> None:
        self.survey_closed_at = timestamp
        self.status = CampaignStatus.CLOSED

    def clean(self, ctx: CommandContext, policy: SurveyPolicy, *,
              exclusions: dict[str, InvalidReason], seed: int,
              previous: tuple[str, str | None] | None = None) -> CleaningResult:
        """Judge contradictory and malicious responses, then compute the figures, with
        the previous comparable campaign's overall score beside them (`previous`:
        its id and score)."""
        authorise(ctx, "cleaning", ORGANISERS)
        self._expect("cleaning", CampaignStatus.CLOSED, "close")
        exclusions = {self.respondent(r, f"exclusions.{r}"): reason
                      for r, reason in exclusions.items()}
        for respondent, reason in exclusions.items():
            if respondent not in self.responses:
                raise InvalidInput(f"exclusions.{respondent}", "no such response")
            if reason not in {InvalidReason.CONTRADICTORY, InvalidReason.MALICIOUS}:
                raise InvalidInput(f"exclusions.{respondent}",
                                   "only contradictory or malicious are judged by people")
        reasons = {r: tuple(self.response_reasons[r])
                   + ((exclusions[r],) if r in exclusions else ()) for r in self.responses}
        sampled = {c.id: c for c in self.active}
        valid = [self._frame_weight(self.responses[r], sampled)
                 for r, why in reasons.items() if not why]
        figures = kpis.compute(self.questionnaire, valid, policy)
        found = triage(findings(valid), policy)
        a_class = [r for r in self.recipients.values() if r.respondent_class is RespondentClass.A]
        rates = kpis.response_rates(
            dispatched=len(self.recipients), responded=len(self.responses),
            online_dispatched=sum(1 for r in self.recipients.values()
                                  if r.channel is Channel.ONLINE),
            online_responded=sum(1 for r in self.responses.values()
                                 if r.channel == Channel.ONLINE.value),
            # SV-RATE-1 (004): of all the period's enterprise customers, not the sampled
            enterprise_customers=sum(1 for c in self.active if c.enterprise),
            on_site_interviewed=len({r.customer_id for r in self.responses.values()
                                     if r.channel == Channel.ON_SITE.value}))

        def by(aspect: str) -> dict[str, str]:
            groups = {cid: getattr(c, aspect) for cid, c in sampled.items()}
            return {g: str(v) for g, v in kpis.scores_by(valid, groups, policy).items()}

        result = CleaningResult(
            valid=tuple(r.respondent for r in valid),
            excluded=tuple(Exclusion(r, why) for r, why in reasons.items() if why),
            flagged_for_review=needs_review(len(reasons), len(reasons) - len(valid), policy),
            excluded_share=_fraction(Fraction(len(reasons) - len(valid), len(reasons))
                                     if reasons else None),
            customers_surveyed=figures.customers_surveyed,
            overall_score=_fraction(figures.overall_score),
            dimension_scores={k: str(v) for k, v in figures.dimension_scores.items()},
            item_scores={k: str(v) for k, v in figures.item_scores.items()},
            satisfaction_rate=_fraction(figures.satisfaction_rate),
            loyalty=_fraction(figures.loyalty),
            favourable_rate=_fraction(figures.favourable_rate),
            a_class_direct_ok=direct_a_class_ok(
                len(a_class), sum(1 for r in a_class if not r.delegated), policy),
            call_backs=call_back_draw(
                [r.respondent for r in valid if r.delegated], seed, policy),
            call_back_seed=seed, tracked_findings=found.tracked, notices=found.notices,
            scores_by_size=by("size"), scores_by_tenure=by("tenure"),
            scores_by_scenario=by("scenario"),
            previous_campaign=previous[0] if previous else None,
            previous_overall_score=previous[1] if previous else None,
            response_rate=_fraction(rates.questionnaire),
            online_response_rate=_fraction(rates.online),
            on_site_share=_fraction(rates.on_site_enterprise_share),
            rate_targets_met=rates.against(policy),
            key_account_weight=policy.key_account_weight,
            min_fill_seconds=policy.min_fill_time.total_seconds(),
            max_excluded_share=policy.max_excluded_share,
            customer_scores={k: str(v) for k, v in sorted(figures.customer_scores.items())},
            dimension_favourable={k: str(v) for k, v in figures.dimension_favourable.items()},
            item_favourable={k: str(v) for k, v in figures.item_favourable.items()},
            kpi_targets_met=figures.targets_met(policy))
        self._cleaned(timestamp=ctx.at, meta=ctx.meta("cleaning"), result=result)
        return result

    @staticmethod
    def _frame_weight(response: Response, frame: dict[str, SampleCustomer]) -> Response:
        """SV-KPI-4: the weight as the sampling frame has it, also for responses of
        campaigns dispatched while callers still restated it."""
        known = frame.get(response.customer_id)
        return response if known is None or known.key_account == response.key_account \
            else replace(response, key_account=known.key_account)

    @event("Cleaned")
    def _cleaned(self, *, timestamp: datetime, meta: EventMeta, result: CleaningResult) -> None:
        self.cleaning = result
        self.cleaned_at = timestamp
        self.status = CampaignStatus.CLEANED
        self.cleaning_accepted = False

    def record_call_back(self, ctx: CommandContext, *, respondent: str, confirmed: bool,
                         note: str) -> None:
        """SV-SAMPLE-2: the result of calling back a delegated respondent the cleaning
        drew. One that does not confirm their answers puts the cleaning before a
        reviewer (SV-REVIEW-1), who may exclude more."""
        authorise(ctx, "call_backs", ORGANISERS)
        self._expect("call_backs", CampaignStatus.CLEANED, "cleaning")
        assert self.cleaning is not None
        respondent = self.respondent(respondent)
        if respondent not in self.cleaning.call_backs:
            raise InvalidInput("respondent", f"{respondent} was not drawn for a call-back; "
                               f"drawn: {', '.join(self.cleaning.call_backs) or 'nobody'}")
        if respondent in self.call_back_results:
            raise WrongState("call_backs", self.status.value,
                             f"the call-back of {respondent} is already recorded")
        if not confirmed:
            required_text("note", note)
        self._called_back(timestamp=ctx.at, meta=ctx.meta("call_backs"), result=CallBackResult(
            respondent, confirmed, note, ctx.actor.user, ctx.at))

    @event("CalledBack")
    def _called_back(self, *, timestamp: datetime, meta: EventMeta,
                     result: CallBackResult) -> None:
        self.call_back_results[result.respondent] = result
        if not result.confirmed:
            self.cleaning_accepted = False  # what was accepted no longer stands

    @property
    def call_backs_pending(self) -> tuple[str, ...]:
        drawn = self.cleaning.call_backs if self.cleaning else ()
        return tuple(r for r in drawn if r not in self.call_back_results)

    @property
    def review_pending(self) -> bool:
        """SV-REVIEW-1: the cleaning in force is flagged, a call-back did not confirm its
        answers, or fewer than a third of A-class respondents were surveyed directly
        (SV-SAMPLE-2), and nobody accepted it yet."""
        unconfirmed = any(not r.confirmed for r in self.call_back_results.values())
        return self.cleaning is not None and (
            self.cleaning.flagged_for_review or unconfirmed
            or not self.cleaning.a_class_direct_ok) and not self.cleaning_accepted

    def review_cleaning(self, ctx: CommandContext, *, decision: ReviewDecision,
                        reason: str) -> None:
        """SV-REVIEW-1: a cs_head or management decision on a flagged cleaning: accept
        the figures, survey again, or clean again excluding more."""
        authorise(ctx, "cleaning_review", CLEANING_REVIEWERS)
        self._expect("cleaning_review", CampaignStatus.CLEANED, "cleaning")
        if not self.review_pending:
            raise WrongState("cleaning_review", self.status.value,
                             "only a cleaning flagged for review (more than the allowed share "
                             "excluded, SV-VALID-1; a call-back that did not confirm or too "
                             "few A-class respondents surveyed directly, SV-SAMPLE-2) awaits "
                             "a review decision")
        required_text("reason", reason)
        assert self.cleaning is not None
        self._cleaning_reviewed(timestamp=ctx.at, meta=ctx.meta("cleaning_review"),
                                review=CleaningReview(decision, reason, ctx.actor.user, ctx.at,
                                                      self.cleaning.excluded_share))

    @event("CleaningReviewed")
    def _cleaning_reviewed(self, *, timestamp: datetime, meta: EventMeta,
                           review: CleaningReview) -> None:
        self.reviews.append(review)
        self.cleaning_accepted = review.decision is ReviewDecision.ACCEPT
        if review.decision is ReviewDecision.RE_SURVEY:
            self.status = CampaignStatus.RUNNING
            self.survey_closed_at = self.cleaned_at = self.cleaning = None
            self.call_back_results = {}
        elif review.decision is ReviewDecision.EXCLUDE_MORE:
            self.status = CampaignStatus.CLOSED
            self.cleaned_at = self.cleaning = None
            self.call_back_results = {}

    def report(self, ctx: CommandContext, *, summary: str) -> None:
        """SV-REP-1: the analysis report, submitted to management; a flagged cleaning
        needs its review first (SV-REVIEW-1)."""
        authorise(ctx, "report", ORGANISERS)
        self._expect("report", CampaignStatus.CLEANED, "cleaning")
        if self.call_backs_pending:
            raise StepMissing("report", "call_backs", "call back "
                              f"{', '.join(self.call_backs_pending)} first (SV-SAMPLE-2)")
        if self.review_pending:
            raise StepMissing("report", "cleaning_review",
                              f"{self.cleaning.excluded_share if self.cleaning else ''} of the "
                              "responses were excluded: a cs_head or management reviewer "
                              "decides first (SV-REVIEW-1)")
        required_text("summary", summary)
        self._reported(timestamp=ctx.at, meta=ctx.meta("report"), summary=summary)

    @event("Reported")
    def _reported(self, *, timestamp: datetime, meta: EventMeta, summary: str) -> None:
        self.reported_at = timestamp
        self.report_summary = summary
        self.closed_at = timestamp  # the record is complete: retention runs from here
        self.status = CampaignStatus.REPORTED
