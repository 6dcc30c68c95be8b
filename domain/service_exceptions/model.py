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
    PLAN_APPROVERS,
    REPORT_UP_RECIPIENTS,
    RESPONDERS,
    REVIEWERS,
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
    Plan,
    Progress,
    ProgressKind,
    Report,
    Response,
    Review,
    SpecialType,
    Status,
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
    class_version: ClassVar[int] = 2
    """Of the state in snapshots: 2 keeps the reports up in the level epochs."""

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
    ) -> ServiceException:
        """EX-REC-1. SLA clocks start at `discovered_at`, not at recording."""
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
            special=tuple(dict.fromkeys(special)))

    @event("Recorded")
    def __init__(
        self, *, timestamp: datetime, meta: EventMeta, customer: Customer, category: Category,
        level: Level, title: str, description: str, service_step: str, discovered_at: datetime,
        department: str, contract_ref: str | None, impact_scope: str | None,
        customer_demands: str | None, special: tuple[SpecialType, ...],
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
        self.reporter = meta.actor.user
        self.recorded_at = timestamp
        self.status = Status.RECORDED
        self.epochs = [LevelEpoch(level, discovered_at, 1)]
        self.report_count = 0
        self.last_report: tuple[Report, int] | None = None
        self.response: Response | None = None
        self.investigation: Investigation | None = None
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
        """EX-SPEC-1 flags, set at record time or later (replacing the set)."""
        self._guard(ctx, "flags", LEADS)
        self._before_resolution("flags")
        required_text("reason", reason)
        self._special_types_set(timestamp=ctx.at, meta=ctx.meta("flags"),
                                special=tuple(dict.fromkeys(special)), reason=reason)

    @event("SpecialTypesSet")
    def _special_types_set(self, *, timestamp: datetime, meta: EventMeta,
                           special: tuple[SpecialType, ...], reason: str) -> None:
        self.special = tuple(special)

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
        if self.status not in {Status.RESPONDING, Status.INVESTIGATED}:
            raise WrongState("investigation", self.status.value,
                             "the investigation is closed once a plan is approved")
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

    # --- plans (EX-PLAN-1, EX-PLAN-2) -------------------------------------------------

    def propose_plan(
        self, ctx: CommandContext, *, measures: tuple[Measure, ...], resources: str,
        milestones: tuple[Milestone, ...] = (), compensation: str | None = None,
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
            milestones=tuple(milestones), compensation=compensation))
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
            if SpecialType.CONTRACT_DISPUTE in self.special and not self.legal_opinions:
                raise StepMissing("plan_approval", "legal_opinion",
                                  "a contract-dispute plan needs legal's opinion first")
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
    def plan_in_force(self) -> Plan | None:
        """The latest approved revision."""
        approved = [r for r in self.plans if r.status == PlanStatus.APPROVED]
        return max(approved, key=lambda r: r.decided_version or 0).plan if approved else None

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

    def archive(self, ctx: CommandContext, *, documents: tuple[DocumentRef, ...] = ()) -> None:
        """EX-ARC-1: the archive instant starts retention; the case is read-only after."""
        self._guard(ctx, "archive", LEADS)
        if self.status is not Status.REVIEWED:
            raise StepMissing("archive", "review")
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
