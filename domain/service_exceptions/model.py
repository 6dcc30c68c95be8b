"""The ServiceException aggregate: the whole lifecycle of DOMAIN.md section 2.

Commands are public methods that check role, state and input, then call one
private `@event` method; the event methods only apply state, so replaying the
stored events rebuilds exactly what was decided. Each event method takes the
server `timestamp` and `meta` (AUD-1). Deadlines are not decided here: the
obligations are derived from this state by `obligations.py`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any, ClassVar

from eventsourcing.domain import event

from domain.actors import EventMeta, Role
from domain.calendar import BusinessCalendar
from domain.cases import Case, CommandContext, authorise, business_instant, required_text
from domain.errors import (
    CaseClosed,
    CaseNotFound,
    InvalidInput,
    NotPermitted,
    StepMissing,
    WrongState,
)
from domain.service_exceptions.values import (
    DAILY_PROGRESS,
    FINDING_MEASURES,
    PLAN_APPROVERS,
    REPORT_UP_RECIPIENTS,
    RESPONDERS,
    REVIEWERS,
    SIGN_OFFS,
    CancelReason,
    Category,
    Customer,
    DocumentRef,
    Improvement,
    Investigation,
    Level,
    LossAssessment,
    Measure,
    Meeting,
    Milestone,
    OnSite,
    Plan,
    Progress,
    ProgressKind,
    Recovery,
    RecoveryParty,
    Report,
    Response,
    Review,
    SignOff,
    SpecialType,
    Status,
    SupplementaryAgreement,
    reporting_chain,
)

HANDLERS = frozenset(Role) - {Role.AUDITOR}
"""EX-ROLE-1: every role but the auditor's may record, report up, investigate, plan."""
LEADS = frozenset({Role.DEPARTMENT_HEAD, Role.CS_HEAD, Role.GROUP_LEADER})
"""Who may reclassify, flag, cancel and archive."""
MANAGEMENT_DECIDES = frozenset({Role.MANAGEMENT})
"""EX-PLAN-1: a critical plan the group leader referred is decided by management."""
CUSTOMER_FACING = frozenset({Role.FRONTLINE, Role.DEPARTMENT_HEAD, Role.CS_HEAD,
                             Role.GROUP_LEADER})
"""Who resolves and records the customer's feedback and acceptance."""

BEFORE_RESOLUTION = frozenset({Status.RECORDED, Status.REPORTED, Status.RESPONDING,
                               Status.INVESTIGATED, Status.EXECUTING})
CLOSED = frozenset({Status.ARCHIVED, Status.CANCELLED})
AGREEMENT_RECORDERS = frozenset({Role.LEGAL}) | LEADS
"""EX-SPEC-2: legal, or the lead who negotiated, records a supplementary agreement."""


class PlanStatus:
    PROPOSED = "proposed"
    REFERRED = "referred"
    """A critical plan the group leader put before management (EX-PLAN-1)."""
    APPROVED = "approved"
    REJECTED = "rejected"
    SUPERSEDED = "superseded"


@dataclass(frozen=True)
class LevelEpoch:
    """A stretch of time under one level: from discovery, or from a reclassification,
    with what its reports up (EX-ESC-1) achieved: the recipients reached, and the report
    that completed the level's list, if one did. A report belongs to the epoch current
    when it was made, so the case keeps no list of reports: an epoch holds all the rules
    need, and the reports themselves stay in the history."""

    level: Level
    started_at: datetime
    version: int
    reached: tuple[Role, ...] = ()
    complete_at: datetime | None = None
    """The `reported_at` of the report that completed the list."""
    complete_version: int | None = None
    complete_recorded_late: datetime | None = None
    """When that report was recorded, if its `reported_at` was backdated (EX-REC-2)."""

    def with_report(self, report: Report, version: int,
                    recorded_late: datetime | None = None) -> LevelEpoch:
        reached = tuple(dict.fromkeys((*self.reached, *report.reported_to)))
        if self.complete_version is not None \
                or not REPORT_UP_RECIPIENTS[self.level] <= set(reached):
            return replace(self, reached=reached)
        return replace(self, reached=reached, complete_at=report.reported_at,
                       complete_version=version, complete_recorded_late=recorded_late)


@dataclass
class PlanRecord:
    plan: Plan
    proposed_by: str
    status: str = PlanStatus.PROPOSED
    decided_by: str | None = None
    decided_at: datetime | None = None
    decided_version: int | None = None
    reason: str | None = None
    referred_by: str | None = None
    """The group leader who put a critical plan before management, if one did."""


@dataclass
class ExecutionPeriod:
    started_at: datetime
    version: int
    ended_at: datetime | None = None


@dataclass
class ResolutionRecord:
    resolved_at: datetime
    version: int
    summary: str
    level: Level
    reopened: bool = False
    recorded_late: datetime | None = None
    """When the resolution was recorded, if its `resolved_at` was backdated (EX-REC-2)."""


class ServiceException(Case):
    case_type: ClassVar[str] = "exception"
    personal_text: ClassVar[frozenset[str]] = frozenset({
        "title", "description", "impact_scope", "customer_demands", "reason", "opinion",
        "summary", "comment", "note", "detail"})
    class_version: ClassVar[int] = 3
    """Of the state in snapshots: 2 keeps the reports up in the level epochs; 3 adds
    the special types' steps (EX-SPEC-2) and the sign-offs (EX-SIGN-1)."""

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        """A version 1 snapshot kept every report in `reports`: fold them into the
        epochs they were made in, and keep the count and the latest."""
        reports = [tuple(r) for r in state.pop("reports")]
        epochs = list(state["epochs"])
        for report, version in reports:
            i = max(i for i, e in enumerate(epochs) if e.version < version)
            epochs[i] = epochs[i].with_report(report, version)
        state["epochs"] = epochs
        state["report_count"] = len(reports)
        state["last_report"] = reports[-1] if reports else None

    @staticmethod
    def upcast_v2_v3(state: dict[str, Any]) -> None:
        """Before EX-SPEC-2 and EX-SIGN-1 nothing of theirs was recorded."""
        state.update(flags_raised_version=0, investigated_version=0, on_site=None,
                     agreements=[], recoveries=[], sign_offs=[], survey_id=None)

    # --- record (EX-REC-1) -----------------------------------------------------

    @classmethod
    def record(
        cls,
        ctx: CommandContext,
        *,
        customer: Customer,
        category: Category,
        level: Level,
        title: str,
        description: str,
        service_step: str,
        discovered_at: datetime,
        department: str,
        contract_ref: str | None = None,
        impact_scope: str | None = None,
        customer_demands: str | None = None,
        special: tuple[SpecialType, ...] = (),
        survey_id: str | None = None,
    ) -> ServiceException:
        """EX-REC-1. SLA clocks start at `discovered_at`, not at recording. `survey_id`:
        the campaign whose respondent's dissatisfaction opened it (SV-FIND-1)."""
        authorise(ctx, "record", HANDLERS)
        discovered_at = business_instant(ctx, "discovered_at", discovered_at)
        for name, value in (("title", title), ("description", description),
                            ("service_step", service_step), ("department", department),
                            ("customer.id", customer.id), ("customer.name", customer.name),
                            ("customer.contact.name", customer.contact.name)):
            required_text(name, value)
        return cls(
            timestamp=ctx.at, meta=ctx.meta("record", {"discovered_at": discovered_at}),
            customer=customer, category=category,
            level=level, title=title, description=description, service_step=service_step,
            discovered_at=discovered_at, department=department, contract_ref=contract_ref,
            impact_scope=impact_scope, customer_demands=customer_demands,
            special=tuple(dict.fromkeys(special)), survey_id=survey_id)

    @event("Recorded")
    def __init__(
        self, *, timestamp: datetime, meta: EventMeta, customer: Customer, category: Category,
        level: Level, title: str, description: str, service_step: str, discovered_at: datetime,
        department: str, contract_ref: str | None, impact_scope: str | None,
        customer_demands: str | None, special: tuple[SpecialType, ...],
        survey_id: str | None = None,
    ) -> None:
        self.customer = customer
        self.category = category
        self.level = level
        self.title = title
        self.description = description
        self.service_step = service_step
        self.discovered_at = discovered_at
        self.department = department
        self.contract_ref = contract_ref
        self.impact_scope = impact_scope
        self.customer_demands = customer_demands
        # Plain tuples and string-keyed dicts: the state also goes into snapshots.
        self.special: tuple[SpecialType, ...] = tuple(special)
        self.survey_id = survey_id
        self.flags_raised_version = 0
        """EX-SPEC-2: the version that last raised a flag after recording."""
        self.reporter = meta.actor.user
        self.recorded_at = timestamp
        self.status = Status.RECORDED
        self.epochs = [LevelEpoch(level, discovered_at, 1)]
        self.report_count = 0
        self.last_report: tuple[Report, int] | None = None
        self.response: Response | None = None
        self.investigation: Investigation | None = None
        self.investigated_version = 0
        self.on_site: OnSite | None = None
        self.agreements: list[SupplementaryAgreement] = []
        self.recoveries: list[Recovery] = []
        self.sign_offs: list[SignOff] = []
        self.legal_opinions: list[tuple[str, str]] = []
        self.loss_assessments: dict[str, LossAssessment] = {}
        self.plans: list[PlanRecord] = []
        self.execution: list[ExecutionPeriod] = []
        self.progress: list[tuple[Progress, datetime, int]] = []
        self.resolutions: list[ResolutionRecord] = []
        self.feedback: tuple[int, str, datetime] | None = None
        self.acceptance: tuple[bool, str] | None = None
        self.review: tuple[Review, int] | None = None
        self.documents: tuple[DocumentRef, ...] = ()
        self.archived_at: datetime | None = None
        self.cancellation: tuple[CancelReason, str, int] | None = None
        self._start_case_record()

    # --- guards -------------------------------------------------------------------

    def _guard(self, ctx: CommandContext, command: str, roles: frozenset[Role]) -> None:
        if self.status in CLOSED:
            raise CaseClosed(command, self.status.value,
                             f"the case is {self.status.value} and read-only")
        authorise(ctx, command, roles)

    def _before_resolution(self, command: str) -> None:
        if self.status not in BEFORE_RESOLUTION:
            raise WrongState(command, self.status.value,
                             f"'{command}' applies only before resolution; the case is "
                             f"{self.status.value}")

    # --- report up (EX-ESC-1) and level (EX-LVL-2) ---------------------------------

    def report_up(
        self, ctx: CommandContext, *, reported_to: tuple[Role, ...], reported_at: datetime,
        details: str, first_judgement: str = "", customer_demands: str = "",
        measures_taken: str = "",
    ) -> None:
        """A report names whom it went to; it may cover only part of the recipients the
        level needs (critical needs group leader *and* principal). EX-CHAIN-1: it is
        a link of the level's reporting chain, from the link's reporter to the link's
        recipients (frontline to department head, department head to cs_head, cs_head
        to group leader and principal)."""
        self._guard(ctx, "report_up", HANDLERS)
        self._before_resolution("report_up")
        if not reported_to:
            raise InvalidInput("reported_to", "name at least one recipient role")
        chain = reporting_chain(self.level)
        mine = [to for by, to in chain if ctx.actor.has_any(by)]
        if not mine:
            raise NotPermitted(
                f"a {self.level.value} exception is reported up by "
                f"{' or '.join(by.value for by, _ in chain)} (EX-CHAIN-1)")
        allowed = frozenset().union(*mine)
        stray = sorted(r.value for r in reported_to if r not in allowed)
        if stray:
            raise InvalidInput("reported_to", f"{', '.join(stray)} is not the next link of "
                               f"the reporting chain; you report to "
                               f"{' and '.join(sorted(r.value for r in allowed))}")
        business_instant(ctx, "reported_at", reported_at)
        if reported_at < self.discovered_at:
            raise InvalidInput("reported_at", "reported_at is before the exception was discovered")
        required_text("details", details)
        self._reported_up(timestamp=ctx.at, meta=ctx.meta(
            "report_up", {"reported_at": reported_at}), report=Report(
            reported_by=ctx.actor.user, reported_to=tuple(dict.fromkeys(reported_to)),
            reported_at=reported_at, details=details, first_judgement=first_judgement,
            customer_demands=customer_demands, measures_taken=measures_taken))

    @event("ReportedUp")
    def _reported_up(self, *, timestamp: datetime, meta: EventMeta, report: Report) -> None:
        self.report_count += 1
        self.last_report = (report, self.version + 1)
        self.epochs[-1] = self.epochs[-1].with_report(
            report, self.version + 1, timestamp if "reported_at" in meta.backdated else None)
        if self.status is Status.RECORDED and self.report_up_complete:
            self.status = Status.REPORTED

    @property
    def current_epoch(self) -> LevelEpoch:
        return self.epochs[-1]

    @property
    def required_recipients(self) -> frozenset[Role]:
        return REPORT_UP_RECIPIENTS[self.level]

    @property
    def report_up_complete(self) -> bool:
        """Reported to every recipient the current level needs since it was set."""
        return self.current_epoch.complete_version is not None

    @classmethod
    def reports_in(cls, events: Iterable[object]) -> list[tuple[Report, int]]:
        """Every report up among a case's events, with its version."""
        return [(e.report, e.originator_version) for e in events
                if isinstance(e, cls.ReportedUp)]  # type: ignore[attr-defined]

    def reclassify(self, ctx: CommandContext, *, level: Level, reason: str) -> None:
        """EX-LVL-2: obligations that depend on the level restart from now."""
        self._guard(ctx, "reclassification", LEADS)
        self._before_resolution("reclassification")
        if level is self.level:
            raise InvalidInput("level", f"the exception is already {level.value}")
        required_text("reason", reason)
        self._reclassified(timestamp=ctx.at, meta=ctx.meta("reclassification"), level=level,
                           previous=self.level, reason=reason)

    @event("Reclassified")
    def _reclassified(self, *, timestamp: datetime, meta: EventMeta, level: Level,
                      previous: Level, reason: str) -> None:
        self.level = level
        self.epochs.append(LevelEpoch(level, timestamp, self.version + 1))

    def set_special_types(self, ctx: CommandContext, *, special: tuple[SpecialType, ...],
                          reason: str) -> None:
        """EX-SPEC-1 flags, set at record time or later (replacing the set). EX-SPEC-2:
        a flag raised once a plan is approved reopens the investigation and the plan
        approval; one raised after the investigation asks for a new one before any
        plan is approved."""
        self._guard(ctx, "flags", LEADS)
        self._before_resolution("flags")
        required_text("reason", reason)
        self._special_types_set(timestamp=ctx.at, meta=ctx.meta("flags"),
                                special=tuple(dict.fromkeys(special)), reason=reason)

    @event("SpecialTypesSet")
    def _special_types_set(self, *, timestamp: datetime, meta: EventMeta,
                           special: tuple[SpecialType, ...], reason: str) -> None:
        if set(special) - set(self.special):
            self.flags_raised_version = self.version + 1
        self.special = tuple(special)

    @property
    def flags_reopened(self) -> tuple[SpecialType, ...]:
        """EX-SPEC-2: the flags raised since the plan in force was approved, which
        reopen its investigation and approval; () when nothing is reopened."""
        approved = self._approved_record
        if approved is None or self.flags_raised_version <= (approved.decided_version or 0):
            return ()
        return self.special

    # --- response (EX-RESP-1) and investigation (EX-INV-1, EX-SPEC-1) ---------------

    def start_response(
        self, ctx: CommandContext, *, handler: str | None = None, team_owner: str | None = None,
        team_members: tuple[str, ...] = (), milestones: tuple[Milestone, ...] = (),
        meeting: Meeting | None = None,
    ) -> None:
        """General: the department head assigns a handler. Major: the cs head forms a
        team with an owner and milestones. Critical: the group leader convenes an
        emergency meeting."""
        self._guard(ctx, "response", RESPONDERS[self.level])
        if self.status is Status.RECORDED:
            missing = ", ".join(sorted(r.value for r in self.required_recipients))
            raise StepMissing("response", "report_up",
                              f"'response' needs the report up to {missing} first")
        if self.status is not Status.REPORTED:
            raise WrongState("response", self.status.value, "the response has already started")
        if self.level is Level.GENERAL and not handler:
            raise InvalidInput("handler", "a general exception needs a handler assigned")
        if self.level is Level.MAJOR:
            if not team_owner:
                raise InvalidInput("team_owner", "a major exception needs a team owner")
            if not team_members:
                raise InvalidInput("team_members", "a major exception needs a team")
            if not milestones:
                raise InvalidInput("milestones", "a major exception's team needs milestones")
        if self.level is Level.CRITICAL and meeting is None:
            raise InvalidInput("meeting", "a critical exception needs an emergency meeting")
        if meeting is not None:
            business_instant(ctx, "meeting.held_at", meeting.held_at)
        meta = ctx.meta("response", {"meeting.held_at": meeting.held_at if meeting else None})
        self._response_started(timestamp=ctx.at, meta=meta, response=Response(
            started_by=ctx.actor.user, handler=handler, team_owner=team_owner,
            team_members=tuple(team_members), milestones=tuple(milestones), meeting=meeting))

    @event("ResponseStarted")
    def _response_started(self, *, timestamp: datetime, meta: EventMeta,
                          response: Response) -> None:
        self.response = response
        self.status = Status.RESPONDING

    def record_investigation(self, ctx: CommandContext, investigation: Investigation) -> None:
        """EX-INV-1; for product quality, R&D and supply chain take part and the
        finding says product defect or installation fault (EX-SPEC-1)."""
        self._guard(ctx, "investigation", HANDLERS)
        if self.status in {Status.RECORDED, Status.REPORTED}:
            raise StepMissing("investigation", "response")
        reopened = self.status is Status.EXECUTING and self.flags_reopened
        if self.status not in {Status.RESPONDING, Status.INVESTIGATED} and not reopened:
            raise WrongState("investigation", self.status.value,
                             "the investigation is closed once a plan is approved, unless "
                             "a special type is flagged after the approval (EX-SPEC-2)")
        required_text("root_cause", investigation.root_cause)
        if SpecialType.PRODUCT_QUALITY in self.special:
            absent = {Role.RND, Role.SUPPLY_CHAIN} - set(investigation.participants)
            if absent:
                names = " and ".join(sorted(r.value for r in absent))
                raise InvalidInput("participants",
                                   f"a product-quality investigation needs {names}")
            if investigation.finding is None:
                raise InvalidInput("finding", "a product-quality investigation states whether "
                                   "it is a product defect or an installation fault")
        self._investigated(timestamp=ctx.at, meta=ctx.meta("investigation"),
                           investigation=investigation)

    @event("Investigated")
    def _investigated(self, *, timestamp: datetime, meta: EventMeta,
                      investigation: Investigation) -> None:
        self.investigation = investigation
        self.investigated_version = self.version + 1
        if self.status is not Status.EXECUTING:  # a reopened one runs on meanwhile
            self.status = Status.INVESTIGATED

    def give_legal_opinion(self, ctx: CommandContext, *, opinion: str) -> None:
        """EX-SPEC-1 contract dispute: legal's opinion precedes plan approval."""
        self._guard(ctx, "legal_opinion", frozenset({Role.LEGAL}))
        self._before_resolution("legal_opinion")
        required_text("opinion", opinion)
        self._legal_opinion_given(timestamp=ctx.at, meta=ctx.meta("legal_opinion"),
                                  opinion=opinion)

    @event("LegalOpinionGiven")
    def _legal_opinion_given(self, *, timestamp: datetime, meta: EventMeta,
                             opinion: str) -> None:
        self.legal_opinions.append((meta.actor.user, opinion))

    def assess_loss(self, ctx: CommandContext, assessment: LossAssessment) -> None:
        """EX-SPEC-1 major loss: finance and legal each assess the loss amount."""
        if assessment.assessed_as not in {Role.FINANCE, Role.LEGAL}:
            raise InvalidInput("assessed_as", "a loss is assessed as finance or as legal")
        self._guard(ctx, "loss_assessment", frozenset({assessment.assessed_as}))
        self._before_resolution("loss_assessment")
        if SpecialType.MAJOR_LOSS not in self.special:
            raise WrongState("loss_assessment", self.status.value,
                             "only a case flagged major_loss takes a loss assessment")
        required_text("amount", assessment.amount)
        required_text("basis", assessment.basis)
        self._loss_assessed(timestamp=ctx.at, meta=ctx.meta("loss_assessment"),
                            assessment=assessment)

    @event("LossAssessed")
    def _loss_assessed(self, *, timestamp: datetime, meta: EventMeta,
                       assessment: LossAssessment) -> None:
        self.loss_assessments[assessment.assessed_as.value] = assessment

    # --- what the special types and the critical level add (EX-SPEC-2) ----------------

    def record_agreement(self, ctx: CommandContext, agreement: SupplementaryAgreement) -> None:
        """A contract dispute's supplementary agreement with the customer."""
        self._guard(ctx, "supplementary_agreement", AGREEMENT_RECORDERS)
        self._before_resolution("supplementary_agreement")
        if SpecialType.CONTRACT_DISPUTE not in self.special:
            raise WrongState("supplementary_agreement", self.status.value,
                             "only a case flagged contract_dispute takes an agreement")
        required_text("reference", agreement.reference)
        required_text("summary", agreement.summary)
        signed_at = business_instant(ctx, "signed_at", agreement.signed_at)
        self._agreement_recorded(timestamp=ctx.at,
                                 meta=ctx.meta("supplementary_agreement",
                                               {"signed_at": signed_at}),
                                 agreement=agreement)

    @event("SupplementaryAgreementRecorded")
    def _agreement_recorded(self, *, timestamp: datetime, meta: EventMeta,
                            agreement: SupplementaryAgreement) -> None:
        self.agreements.append(agreement)

    def record_recovery(self, ctx: CommandContext, recovery: Recovery) -> None:
        """A major-loss case's recovery against those liable (or that none is), at
        any time before archive."""
        self._guard(ctx, "recovery", frozenset({Role.FINANCE, Role.LEGAL}))
        if SpecialType.MAJOR_LOSS not in self.special:
            raise WrongState("recovery", self.status.value,
                             "only a case flagged major_loss records a recovery")
        required_text("basis", recovery.basis)
        if recovery.against is not RecoveryParty.NONE:
            required_text("amount", recovery.amount or "")
        self._recovery_recorded(timestamp=ctx.at, meta=ctx.meta("recovery"),
                                recovery=recovery)

    @event("RecoveryRecorded")
    def _recovery_recorded(self, *, timestamp: datetime, meta: EventMeta,
                           recovery: Recovery) -> None:
        self.recoveries.append(recovery)

    def station_on_site(self, ctx: CommandContext, *, person: str, since: datetime) -> None:
        """The person stationed at a critical case's customer site (002 art. 11); a
        later record replaces the earlier one."""
        self._guard(ctx, "on_site", LEADS)
        self._before_resolution("on_site")
        if self.level is not Level.CRITICAL:
            raise WrongState("on_site", self.status.value,
                             "a person is stationed on site for a critical case")
        required_text("person", person)
        since = business_instant(ctx, "since", since)
        if since < self.discovered_at:
            raise InvalidInput("since", "since is before the exception was discovered")
        self._stationed(timestamp=ctx.at, meta=ctx.meta("on_site", {"since": since}),
                        on_site=OnSite(person, since))

    @event("StationedOnSite")
    def _stationed(self, *, timestamp: datetime, meta: EventMeta, on_site: OnSite) -> None:
        self.on_site = on_site

    # --- plans (EX-PLAN-1, EX-PLAN-2) -------------------------------------------------

    def propose_plan(
        self, ctx: CommandContext, *, measures: tuple[Measure, ...], resources: str,
        milestones: tuple[Milestone, ...] = (), compensation: str | None = None,
        contract_change: bool = False,
    ) -> int:
        """A new revision; it replaces any revision still awaiting a decision. While
        executing, work continues under the approved plan until this one is approved."""
        self._guard(ctx, "plans", HANDLERS)
        if self.status in {Status.RECORDED, Status.REPORTED}:
            raise StepMissing("plans", "response")
        if self.status not in {Status.RESPONDING, Status.INVESTIGATED, Status.EXECUTING}:
            raise WrongState("plans", self.status.value)
        if not measures:
            raise InvalidInput("measures", "a plan needs at least one measure")
        for i, measure in enumerate(measures):
            for name in ("description", "responsible_department", "responsible_person"):
                required_text(f"measures.{i}.{name}", getattr(measure, name))
        if self.level is Level.CRITICAL and not milestones:
            raise InvalidInput("milestones", "a critical exception's plan needs staged milestones")
        number = len(self.plans) + 1
        self._plan_proposed(timestamp=ctx.at, meta=ctx.meta("plans"), plan=Plan(
            number=number, measures=tuple(measures), resources=resources,
            milestones=tuple(milestones), compensation=compensation,
            contract_change=contract_change))
        return number

    @event("PlanProposed")
    def _plan_proposed(self, *, timestamp: datetime, meta: EventMeta, plan: Plan) -> None:
        for record in self.plans:
            if record.status in (PlanStatus.PROPOSED, PlanStatus.REFERRED):
                record.status = PlanStatus.SUPERSEDED
        self.plans.append(PlanRecord(plan=plan, proposed_by=meta.actor.user))

    def plan(self, number: int) -> PlanRecord:
        if not 1 <= number <= len(self.plans):
            raise CaseNotFound(f"exception {self.id} has no plan {number}")
        return self.plans[number - 1]

    def decide_plan(self, ctx: CommandContext, *, number: int, approved: bool,
                    reason: str | None = None, refer_to_management: bool = False) -> None:
        """EX-PLAN-1 approval by the level's role; EX-INV-1 and EX-SPEC-1 prerequisites.
        The first approval starts execution. A critical plan may instead be put before
        management (002 art. 8(5): 必要时提交公司管理层审议), who then decide it; the
        EX-PLAN-2 deadline runs on meanwhile."""
        record = self.plan(number)
        referred = record.status == PlanStatus.REFERRED
        self._guard(ctx, "plan_approval",
                    MANAGEMENT_DECIDES if referred else PLAN_APPROVERS[self.level])
        if record.status not in (PlanStatus.PROPOSED, PlanStatus.REFERRED):
            raise WrongState("plan_approval", record.status,
                             f"plan {number} is {record.status}, not awaiting a decision")
        if refer_to_management and (referred or self.level is not Level.CRITICAL
                                    or not approved):
            raise InvalidInput("refer_to_management", "only the group leader's approval of a "
                               "critical plan can be put before management")
        if approved:
            if self.investigation is None:
                raise StepMissing("plan_approval", "investigation")
            if self.flags_raised_version > self.investigated_version:
                raise StepMissing("plan_approval", "investigation",
                                  "a special type was flagged after the investigation; "
                                  "investigate again before a plan is approved (EX-SPEC-2)")
            if SpecialType.CONTRACT_DISPUTE in self.special and not self.legal_opinions:
                raise StepMissing("plan_approval", "legal_opinion",
                                  "a contract-dispute plan needs legal's opinion first")
            self._check_measures("plan_approval", record.plan)
            if refer_to_management:
                self._plan_referred(timestamp=ctx.at, meta=ctx.meta("plan_approval"),
                                    number=number)
            else:
                self._plan_approved(timestamp=ctx.at, meta=ctx.meta("plan_approval"),
                                    number=number)
        else:
            self._plan_rejected(timestamp=ctx.at, meta=ctx.meta("plan_approval"), number=number,
                                reason=required_text("reason", reason or ""))

    @event("PlanReferred")
    def _plan_referred(self, *, timestamp: datetime, meta: EventMeta, number: int) -> None:
        record = self.plans[number - 1]
        record.status = PlanStatus.REFERRED
        record.referred_by = meta.actor.user

    @event("PlanApproved")
    def _plan_approved(self, *, timestamp: datetime, meta: EventMeta, number: int) -> None:
        record = self.plans[number - 1]
        record.status = PlanStatus.APPROVED
        record.decided_by, record.decided_at = meta.actor.user, timestamp
        record.decided_version = self.version + 1
        if self.status is not Status.EXECUTING:
            self.status = Status.EXECUTING
            self.execution.append(ExecutionPeriod(timestamp, self.version + 1))

    @event("PlanRejected")
    def _plan_rejected(self, *, timestamp: datetime, meta: EventMeta, number: int,
                       reason: str) -> None:
        record = self.plans[number - 1]
        record.status = PlanStatus.REJECTED
        record.decided_by, record.decided_at, record.reason = meta.actor.user, timestamp, reason
        record.decided_version = self.version + 1

    @property
    def _approved_record(self) -> PlanRecord | None:
        approved = [r for r in self.plans if r.status == PlanStatus.APPROVED]
        return max(approved, key=lambda r: r.decided_version or 0) if approved else None

    @property
    def plan_in_force(self) -> Plan | None:
        """The latest approved revision."""
        record = self._approved_record
        return record.plan if record else None

    def _check_measures(self, command: str, plan: Plan | None) -> None:
        """EX-SPEC-2: a product-quality case's plan carries the measures its finding
        asks for (replace/repair and a supply-chain trace, or implementation's
        rectification)."""
        finding = self.investigation.finding if self.investigation else None
        if SpecialType.PRODUCT_QUALITY not in self.special or finding is None:
            return
        absent = FINDING_MEASURES[finding] - {m.kind for m in (plan.measures if plan else ())}
        if absent:
            raise StepMissing(command, "plan_measures",
                              f"a {finding.value} finding needs a plan measure of kind "
                              f"{' and '.join(sorted(k.value for k in absent))} (EX-SPEC-2)")

    # --- execution (EX-PROG-1) and resolution (EX-RES-1, EX-SPEC-1) ------------------

    def _require_executing(self, command: str) -> None:
        if self.status in {Status.RECORDED, Status.REPORTED, Status.RESPONDING,
                           Status.INVESTIGATED}:
            raise StepMissing(command, "plan_approval",
                              f"'{command}' needs an approved plan (execution) first")
        if self.status is not Status.EXECUTING:
            raise WrongState(command, self.status.value)

    def report_progress(
        self, ctx: CommandContext, calendar: BusinessCalendar, *, kind: ProgressKind,
        summary: str, day: date | None = None, meeting: Meeting | None = None,
    ) -> None:
        """A progress report (major) or daily meeting minutes (critical) for a working
        day of execution; the day defaults to today in the business zone."""
        self._guard(ctx, "progress", HANDLERS)
        self._require_executing("progress")
        required_text("summary", summary)
        today = calendar.local_date(ctx.at)
        day = day or today
        if day > today:
            raise InvalidInput("day", f"{day.isoformat()} is in the future")
        if day < calendar.local_date(self.execution[-1].started_at):
            raise InvalidInput("day", f"{day.isoformat()} is before execution started")
        if kind is ProgressKind.MEETING:
            if meeting is None:
                raise InvalidInput("meeting", "a daily meeting needs its minutes")
            business_instant(ctx, "meeting.held_at", meeting.held_at)
        meta = ctx.meta("progress", {"meeting.held_at": meeting.held_at if meeting else None})
        self._progress_reported(timestamp=ctx.at, meta=meta, progress=Progress(
            kind=kind, day=day, summary=summary, meeting=meeting))

    @event("ProgressReported")
    def _progress_reported(self, *, timestamp: datetime, meta: EventMeta,
                           progress: Progress) -> None:
        self.progress.append((progress, timestamp, self.version + 1))

    def resolve(self, ctx: CommandContext, *, summary: str,
                resolved_at: datetime | None = None) -> None:
        self._guard(ctx, "resolution", CUSTOMER_FACING)
        self._require_executing("resolution")
        required_text("summary", summary)
        resolved_at = business_instant(ctx, "resolved_at", resolved_at or ctx.at)
        if resolved_at < self.execution[-1].started_at:
            raise InvalidInput("resolved_at", "resolved_at is before execution started")
        self._special_steps_before_resolution()
        if SpecialType.MAJOR_LOSS in self.special:
            absent = {Role.FINANCE, Role.LEGAL} - {
                a.assessed_as for a in self.loss_assessments.values()}
            if absent:
                names = " and ".join(sorted(r.value for r in absent))
                raise StepMissing("resolution", "loss_assessment",
                                  f"a major-loss case needs the loss assessed by {names}")
            plan = self.plan_in_force
            if plan is None or not plan.compensation:
                raise StepMissing("resolution", "compensation_plan",
                                  "a major-loss case needs an approved plan with compensation")
        self._resolved(timestamp=ctx.at, meta=ctx.meta("resolution", {"resolved_at": resolved_at}),
                       resolved_at=resolved_at, summary=summary)

    def _special_steps_before_resolution(self) -> None:
        """EX-SPEC-2 (and EX-SPEC-1's major loss): what the flags and the level ask
        for before a case is resolved."""
        if self.flags_reopened:
            raise StepMissing("resolution", "plan_approval",
                              f"{', '.join(f.value for f in self.flags_reopened)} was flagged "
                              "after the plan was approved: investigate again and approve a "
                              "plan (EX-SPEC-2)")
        plan = self.plan_in_force
        self._check_measures("resolution", plan)
        if SpecialType.CONTRACT_DISPUTE in self.special and plan is not None \
                and plan.contract_change and not self.agreements:
            raise StepMissing("resolution", "supplementary_agreement",
                              "the plan changes the contract: record the supplementary "
                              "agreement reached with the customer first (EX-SPEC-2)")
        if self.level is Level.CRITICAL and self.on_site is None:
            raise StepMissing("resolution", "on_site", "a critical case records the person "
                              "stationed at the customer's site (EX-SPEC-2)")

    @event("Resolved")
    def _resolved(self, *, timestamp: datetime, meta: EventMeta, resolved_at: datetime,
                  summary: str) -> None:
        self.status = Status.RESOLVED
        self.execution[-1].ended_at = resolved_at
        self.resolutions.append(ResolutionRecord(
            resolved_at, self.version + 1, summary, self.level,
            recorded_late=timestamp if "resolved_at" in meta.backdated else None))
        self.feedback = None
        self.acceptance = None

    @property
    def resolution(self) -> ResolutionRecord | None:
        """The resolution in force: the latest one, unless the customer rejected it."""
        last = self.resolutions[-1] if self.resolutions else None
        return None if last is None or last.reopened else last

    # --- feedback and acceptance (EX-FB-1) ---------------------------------------------

    def record_feedback(self, ctx: CommandContext, *, satisfaction: int, comment: str,
                        informed_at: datetime) -> None:
        """The customer was told the result; their satisfaction with the handling, 1-5."""
        self._guard(ctx, "feedback", CUSTOMER_FACING)
        if self.status in BEFORE_RESOLUTION:
            raise StepMissing("feedback", "resolution")
        if self.status is not Status.RESOLVED:
            raise WrongState("feedback", self.status.value, "feedback is already recorded")
        if not 1 <= satisfaction <= 5:
            raise InvalidInput("satisfaction", "satisfaction is 1 (very dissatisfied) to 5")
        informed_at = business_instant(ctx, "informed_at", informed_at)
        self._feedback_recorded(timestamp=ctx.at,
                                meta=ctx.meta("feedback", {"informed_at": informed_at}),
                                satisfaction=satisfaction, comment=comment,
                                informed_at=informed_at)

    @event("FeedbackRecorded")
    def _feedback_recorded(self, *, timestamp: datetime, meta: EventMeta, satisfaction: int,
                           comment: str, informed_at: datetime) -> None:
        self.feedback = (satisfaction, comment, informed_at)
        self.status = Status.FEEDBACK_RECEIVED

    def record_acceptance(self, ctx: CommandContext, *, accepted: bool, note: str) -> None:
        """Major and critical need the customer's acceptance; a rejection reopens execution."""
        self._guard(ctx, "acceptance", CUSTOMER_FACING)
        if self.level is Level.GENERAL:
            raise WrongState("acceptance", self.status.value,
                             "a general exception needs no customer acceptance")
        if self.status in BEFORE_RESOLUTION or self.status is Status.RESOLVED:
            raise StepMissing("acceptance", self._next_step_after_resolution())
        if self.status is not Status.FEEDBACK_RECEIVED:
            raise WrongState("acceptance", self.status.value)
        if not accepted:
            required_text("note", note)
        self._acceptance_recorded(timestamp=ctx.at, meta=ctx.meta("acceptance"),
                                  accepted=accepted, note=note)

    @event("AcceptanceRecorded")
    def _acceptance_recorded(self, *, timestamp: datetime, meta: EventMeta, accepted: bool,
                             note: str) -> None:
        self.acceptance = (accepted, note)
        if accepted:
            self.status = Status.ACCEPTED
        else:
            self.resolutions[-1].reopened = True
            self.status = Status.EXECUTING
            self.execution.append(ExecutionPeriod(timestamp, self.version + 1))

    def _next_step_after_resolution(self) -> str:
        if self.status in BEFORE_RESOLUTION:
            return "resolution"
        return "feedback" if self.status is Status.RESOLVED else "acceptance"

    # --- review (EX-REV-1) and archive (EX-ARC-1) ----------------------------------------

    def record_review(
        self, ctx: CommandContext, *, root_cause: str, lessons: str,
        improvements: tuple[Improvement, ...], retrospective: Meeting | None = None,
    ) -> None:
        self._guard(ctx, "review", REVIEWERS[self.level])
        needed = Status.FEEDBACK_RECEIVED if self.level is Level.GENERAL else Status.ACCEPTED
        if self.status is Status.REVIEWED:
            raise WrongState("review", self.status.value, "the review is already recorded")
        if self.status is not needed:
            raise StepMissing("review", self._next_step_after_resolution())
        required_text("root_cause", root_cause)
        required_text("lessons", lessons)
        if self.level is Level.CRITICAL:
            if retrospective is None:
                raise InvalidInput("retrospective",
                                   "a critical exception's review is a retrospective meeting")
            business_instant(ctx, "retrospective.held_at", retrospective.held_at)
        meta = ctx.meta("review", {"retrospective.held_at":
                                   retrospective.held_at if retrospective else None})
        self._reviewed(timestamp=ctx.at, meta=meta, review=Review(
            root_cause=root_cause, lessons=lessons, improvements=tuple(improvements),
            retrospective=retrospective))

    @event("Reviewed")
    def _reviewed(self, *, timestamp: datetime, meta: EventMeta, review: Review) -> None:
        self.review = (review, self.version + 1)
        self.status = Status.REVIEWED

    @property
    def sign_offs_pending(self) -> tuple[Role, ...]:
        """EX-SIGN-1: who has still to sign the closing document off, in order."""
        return SIGN_OFFS[self.level][len(self.sign_offs):]

    def sign_off(self, ctx: CommandContext) -> None:
        """EX-SIGN-1: the level's owner signs the closing document (the case as it
        stands after the review) off; a critical summary is deliberated by the
        handling group (group leader) and then filed with management."""
        pending = self.sign_offs_pending
        self._guard(ctx, "sign_off", frozenset(SIGN_OFFS[self.level]))
        if self.status is not Status.REVIEWED:
            raise StepMissing("sign_off", "review")
        if not pending:
            raise WrongState("sign_off", self.status.value,
                             "the closing document is already signed off")
        if not ctx.actor.has_any(pending[0]):
            raise NotPermitted(f"the {self.level.value} closing document is signed off next "
                               f"by {pending[0].value} (EX-SIGN-1)")
        self._signed_off(timestamp=ctx.at, meta=ctx.meta("sign_off"), role=pending[0])

    @event("SignedOff")
    def _signed_off(self, *, timestamp: datetime, meta: EventMeta, role: Role) -> None:
        self.sign_offs.append(SignOff(role, meta.actor.user, timestamp, self.version))

    def archive(self, ctx: CommandContext, *, documents: tuple[DocumentRef, ...] = ()) -> None:
        """EX-ARC-1: the archive instant starts retention; the case is read-only after.
        The closing document is signed off (EX-SIGN-1) and a major loss's recovery
        is recorded (EX-SPEC-2) first."""
        self._guard(ctx, "archive", LEADS)
        if self.status is not Status.REVIEWED:
            raise StepMissing("archive", "review")
        if self.sign_offs_pending:
            raise StepMissing("archive", "sign_off", "the closing document needs the sign-off "
                              f"of {' then '.join(r.value for r in self.sign_offs_pending)} "
                              "(EX-SIGN-1)")
        if SpecialType.MAJOR_LOSS in self.special and not self.recoveries:
            raise StepMissing("archive", "recovery", "a major-loss case records the recovery "
                              "against third parties or staff first (EX-SPEC-2)")
        for i, doc in enumerate(documents):
            if len(doc.sha256) != 64 or any(c not in "0123456789abcdef" for c in doc.sha256):
                raise InvalidInput(f"documents.{i}.sha256", "a SHA-256 digest is 64 hex digits")
        self._archived(timestamp=ctx.at, meta=ctx.meta("archive"), documents=tuple(documents))

    @event("Archived")
    def _archived(self, *, timestamp: datetime, meta: EventMeta,
                  documents: tuple[DocumentRef, ...]) -> None:
        self.documents = documents
        self.archived_at = self.closed_at = timestamp
        self.status = Status.ARCHIVED

    def cancel(self, ctx: CommandContext, *, reason: CancelReason, detail: str) -> None:
        """EX-FLOW-1: duplicate or not an exception, only before resolution."""
        self._guard(ctx, "cancellation", LEADS)
        self._before_resolution("cancellation")
        required_text("detail", detail)
        self._cancelled(timestamp=ctx.at, meta=ctx.meta("cancellation"), reason=reason,
                        detail=detail)

    @event("Cancelled")
    def _cancelled(self, *, timestamp: datetime, meta: EventMeta, reason: CancelReason,
                   detail: str) -> None:
        if self.execution and self.execution[-1].ended_at is None:
            self.execution[-1].ended_at = timestamp
        self.cancellation = (reason, detail, self.version + 1)
        self.closed_at = timestamp
        self.status = Status.CANCELLED

    # --- reading ---------------------------------------------------------------------

    def parties(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """The handler, the team's owner and members (SEC-AUTH-2)."""
        response = self.response
        if response is None:
            return (), ()
        people = (response.handler, response.team_owner, *response.team_members)
        return (), tuple(p for p in people if p)

    @property
    def customer_id(self) -> str | None:
        return self.customer.id

    @property
    def daily_progress_kind(self) -> ProgressKind | None:
        return DAILY_PROGRESS[self.level]

    def level_at(self, instant: datetime) -> Level:
        level = self.epochs[0].level
        for epoch in self.epochs:
            if epoch.started_at <= instant:
                level = epoch.level
        return level

    @staticmethod
    def occurred_at(event: Any) -> datetime | None:
        """The business time an event reports, where its command gave one (AUD-1)."""
        for name in ("discovered_at", "resolved_at", "informed_at", "due_at"):
            if isinstance(value := getattr(event, name, None), datetime):
                return value
        for name in ("report", "response", "progress", "review"):
            inner = getattr(event, name, None)
            for attr in ("reported_at", "meeting", "retrospective"):
                value = getattr(inner, attr, None)
                if isinstance(value, Meeting):
                    value = value.held_at
                if isinstance(value, datetime):
                    return value
        return None
