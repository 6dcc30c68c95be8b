"""The CorrectiveAction aggregate (DOMAIN.md section 4, 000 art. 10-11, 003 6.4-6.5):
a source (CA-SRC-1), a severity with its deadlines (CA-SEV-1), assignment to a
responsible unit, a plan of at most 3 months reviewed by customer service
(CA-PLAN-1), monthly effectiveness evaluations (CA-PROG-1), implementation
evidence, a customer re-visit for key and major actions, closure, and reopening
when the effect is not there (CA-VER-1). A major action closes with a special
report to management.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import Enum
from typing import ClassVar

from eventsourcing.domain import event

from domain.actors import EventMeta, Role
from domain.calendar import BusinessCalendar, utc
from domain.cases import Case, CommandContext, authorise, business_instant, required_text
from domain.errors import InvalidInput, NotPermitted, StepMissing, WrongState
from domain.obligations import Obligation
from domain.policy import CorrectiveActionPolicy

CUSTOMER_SERVICE = frozenset({Role.CS_HEAD})
"""Customer service assigns, reviews plans and verifies (003 6.4)."""
OPENERS = frozenset({Role.CS_HEAD, Role.MANAGEMENT, Role.DEPARTMENT_HEAD, Role.GROUP_LEADER})
UNIT_ROLES = frozenset(Role) - {Role.AUDITOR}


class Severity(Enum):
    """CA-SEV-1 (000 art. 10)."""

    GENERAL = "general"
    KEY = "key"
    MAJOR = "major"


class SourceKind(Enum):
    """CA-SRC-1."""

    SURVEY_FINDING = "survey_finding"
    EXCEPTION_REVIEW = "exception_review"
    MANAGEMENT_REVIEW = "management_review"


class ActionStatus(Enum):
    OPEN = "open"
    ASSIGNED = "assigned"
    PLAN_SUBMITTED = "plan_submitted"
    IMPLEMENTING = "implementing"
    IMPLEMENTED = "implemented"
    CLOSED = "closed"


@dataclass(frozen=True)
class Source:
    kind: SourceKind
    case_id: str | None
    """The campaign or exception, shown back from there."""
    detail: str


@dataclass(frozen=True)
class ActionPlan:
    measures: tuple[str, ...]
    responsible_person: str
    horizon_end: datetime
    emergency_measures: str | None = None
    """Major actions: immediate measures beside the long-term plan."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "measures", tuple(self.measures))
        object.__setattr__(self, "horizon_end", utc(self.horizon_end, "horizon_end"))


class CorrectiveAction(Case):
    case_type: ClassVar[str] = "corrective_action"

    @classmethod
    def open(cls, ctx: CommandContext, *, source: Source, severity: Severity, title: str,
             description: str, department: str) -> CorrectiveAction:
        """Opened by management review, or with its source's command (a review, a
        survey's cleaning) in the same transaction."""
        if source.kind is SourceKind.MANAGEMENT_REVIEW:
            authorise(ctx, "open", OPENERS)
        required_text("title", title)
        required_text("department", department)
        return cls(timestamp=ctx.at, meta=ctx.meta("open"), source=source, severity=severity,
                   title=title, description=description, department=department)

    @event("Opened")
    def __init__(self, *, timestamp: datetime, meta: EventMeta, source: Source,
                 severity: Severity, title: str, description: str, department: str) -> None:
        self.source = source
        self.severity = severity
        self.title = title
        self.description = description
        self.department = department
        self.status = ActionStatus.OPEN
        self.opened_at = timestamp
        self.unit: str | None = None
        self.responsible: str | None = None
        self.assigned_at: datetime | None = None
        self.plans: list[tuple[ActionPlan, datetime]] = []
        self.plan_reviews: list[tuple[bool, str, datetime]] = []
        self.approved_at: datetime | None = None
        self.evaluations: list[tuple[datetime, str, bool]] = []
        self.evidence: list[tuple[str, datetime]] = []
        self.implemented_at: datetime | None = None
        self.verifications: list[tuple[bool, datetime, str]] = []
        self.management_report: str | None = None
        self.customer_communication: str | None = None
        self.effect_confirmed = False
        """CA-VER-1: a re-visit confirmed the latest implementation."""
        self.closed_version: int | None = None
        self.reopenings: list[tuple[str, datetime]] = []
        self._start_case_record()

    # --- assignment and plan (CA-SEV-1, CA-PLAN-1) -------------------------------------

    def _open(self, command: str) -> None:
        if self.status is ActionStatus.CLOSED:
            raise WrongState(command, "closed", "the action is closed; reopen it first")

    def assign(self, ctx: CommandContext, *, unit: str, person: str) -> None:
        """The notice to the responsible unit: the plan deadline runs from here."""
        authorise(ctx, "assignment", CUSTOMER_SERVICE | {Role.MANAGEMENT})
        if self.severity is Severity.MAJOR:  # CA-SEV-1: a management-led task force
            authorise(ctx, "assignment", frozenset({Role.MANAGEMENT}))
        self._open("assignment")
        if self.status is not ActionStatus.OPEN:
            raise WrongState("assignment", self.status.value, "the action is already assigned")
        self._assigned(timestamp=ctx.at, meta=ctx.meta("assignment"),
                       unit=required_text("unit", unit), person=required_text("person", person))

    @event("Assigned")
    def _assigned(self, *, timestamp: datetime, meta: EventMeta, unit: str,
                  person: str) -> None:
        self.unit, self.responsible, self.assigned_at = unit, person, timestamp
        self.status = ActionStatus.ASSIGNED

    def _unit_member(self, ctx: CommandContext, command: str) -> None:
        authorise(ctx, command, UNIT_ROLES)
        if ctx.actor.department != self.unit and not ctx.actor.has_any(Role.MANAGEMENT):
            raise NotPermitted(f"'{command}' is for the responsible unit ({self.unit})")

    def submit_plan(self, ctx: CommandContext, calendar: BusinessCalendar,
                    policy: CorrectiveActionPolicy, plan: ActionPlan) -> None:
        """CA-PLAN-1: a horizon of at most 3 months; major actions add emergency measures."""
        self._open("plans")
        if self.status is ActionStatus.OPEN:
            raise StepMissing("plans", "assignment")
        if self.status not in {ActionStatus.ASSIGNED, ActionStatus.PLAN_SUBMITTED}:
            raise WrongState("plans", self.status.value, "the plan is already approved")
        self._unit_member(ctx, "plans")
        if not plan.measures:
            raise InvalidInput("measures", "a plan needs at least one measure")
        limit = calendar.add_months(ctx.at, policy.plan_horizon_months)
        if plan.horizon_end > limit:
            raise InvalidInput("horizon_end", f"a plan reaches at most "
                               f"{policy.plan_horizon_months} months ahead "
                               f"(until {limit.isoformat()})")
        if plan.horizon_end <= ctx.at:
            raise InvalidInput("horizon_end", "the plan's horizon is in the past")
        if self.severity is Severity.MAJOR and not plan.emergency_measures:
            raise InvalidInput("emergency_measures",
                               "a major action needs emergency measures beside the plan")
        self._plan_submitted(timestamp=ctx.at, meta=ctx.meta("plans"), plan=plan)

    @event("PlanSubmitted")
    def _plan_submitted(self, *, timestamp: datetime, meta: EventMeta,
                        plan: ActionPlan) -> None:
        self.plans.append((plan, timestamp))
        self.status = ActionStatus.PLAN_SUBMITTED

    def review_plan(self, ctx: CommandContext, *, approved: bool, reason: str = "") -> None:
        """CA-PLAN-1: customer service reviews; a rejected plan goes back with reasons."""
        authorise(ctx, "plan_review", CUSTOMER_SERVICE)
        self._open("plan_review")
        if self.status is not ActionStatus.PLAN_SUBMITTED:
            raise StepMissing("plan_review", "plans")
        if not approved:
            required_text("reason", reason)
        self._plan_reviewed(timestamp=ctx.at, meta=ctx.meta("plan_review"), approved=approved,
                            reason=reason)

    @event("PlanReviewed")
    def _plan_reviewed(self, *, timestamp: datetime, meta: EventMeta, approved: bool,
                       reason: str) -> None:
        self.plan_reviews.append((approved, reason, timestamp))
        if approved:
            self.approved_at = self.approved_at or timestamp
            self.status = ActionStatus.IMPLEMENTING
        else:
            self.status = ActionStatus.ASSIGNED

    # --- progress, implementation, verification (CA-PROG-1, CA-VER-1) ------------------

    def evaluate(self, ctx: CommandContext, *, summary: str, effective: bool) -> None:
        """CA-PROG-1: the monthly effectiveness evaluation (纠正预防阶段性效果评估)."""
        self._open("progress_evaluations")
        if self.approved_at is None:
            raise StepMissing("progress_evaluations", "plan_review")
        self._unit_member(ctx, "progress_evaluations")
        self._evaluated(timestamp=ctx.at, meta=ctx.meta("progress_evaluations"),
                        summary=required_text("summary", summary), effective=effective)

    @event("Evaluated")
    def _evaluated(self, *, timestamp: datetime, meta: EventMeta, summary: str,
                   effective: bool) -> None:
        self.evaluations.append((timestamp, summary, effective))

    def record_implementation(self, ctx: CommandContext, *, evidence: str) -> None:
        """CA-VER-1: evidence of implementation (general: the rectification, CA-SEV-1)."""
        self._open("implementation")
        if self.severity is not Severity.GENERAL and self.approved_at is None:
            raise StepMissing("implementation", "plan_review")
        if self.severity is Severity.GENERAL and self.status is ActionStatus.OPEN:
            raise StepMissing("implementation", "assignment")
        self._unit_member(ctx, "implementation")
        self._implemented(timestamp=ctx.at, meta=ctx.meta("implementation"),
                          evidence=required_text("evidence", evidence))

    @event("Implemented")
    def _implemented(self, *, timestamp: datetime, meta: EventMeta, evidence: str) -> None:
        self.evidence.append((evidence, timestamp))
        self.implemented_at = timestamp
        self.effect_confirmed = False  # CA-VER-1: a re-visit must confirm this one
        self.status = ActionStatus.IMPLEMENTED

    def verify(self, ctx: CommandContext, *, effective: bool, revisited_at: datetime,
               notes: str) -> None:
        """CA-VER-1: the customer re-visit confirming the effect (key and major); an
        ineffective result reopens the action."""
        authorise(ctx, "verification", CUSTOMER_SERVICE)
        self._open("verification")
        if self.status is not ActionStatus.IMPLEMENTED:
            raise StepMissing("verification", "implementation")
        business_instant(ctx, "revisited_at", revisited_at)
        if not effective:
            required_text("notes", notes)
        self._verified(timestamp=ctx.at, meta=ctx.meta("verification"), effective=effective,
                       revisited_at=revisited_at, notes=notes)

    @event("Verified")
    def _verified(self, *, timestamp: datetime, meta: EventMeta, effective: bool,
                  revisited_at: datetime, notes: str) -> None:
        self.verifications.append((effective, utc(revisited_at, "revisited_at"), notes))
        self.effect_confirmed = effective
        if not effective:
            self.reopenings.append((f"re-visit found no effect: {notes}", timestamp))
            self.status = ActionStatus.IMPLEMENTING

    def parties(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """The responsible unit and person (SEC-AUTH-2)."""
        return ((self.unit,) if self.unit else ()), \
            ((self.responsible,) if self.responsible else ())

    @property
    def verified(self) -> bool:
        """CA-VER-1: a re-visit confirmed the effect of the implementation in force
        (one made before a reopening no longer counts)."""
        return self.effect_confirmed and self.status is ActionStatus.IMPLEMENTED

    def close(self, ctx: CommandContext, *, management_report: str | None = None,
              customer_communication: str | None = None) -> None:
        """Closing needs evidence; key and major a confirming re-visit; major a special
        report to management and the customer told of the result (CA-SEV-1)."""
        authorise(ctx, "closure", CUSTOMER_SERVICE)
        self._open("closure")
        if self.status is not ActionStatus.IMPLEMENTED:
            raise StepMissing("closure", "implementation")
        if self.severity is not Severity.GENERAL and not self.verified:
            raise StepMissing("closure", "verification",
                              f"a {self.severity.value} action closes after a customer re-visit "
                              "confirms the effect")
        if self.severity is Severity.MAJOR and not management_report:
            raise InvalidInput("management_report",
                               "a major action closes with a special report to management")
        if self.severity is Severity.MAJOR and not (customer_communication or "").strip():
            raise InvalidInput("customer_communication",
                               "a major action closes once the customer is told the result")
        self._closed(timestamp=ctx.at, meta=ctx.meta("closure"),
                     management_report=management_report,
                     customer_communication=customer_communication)

    @event("Closed")
    def _closed(self, *, timestamp: datetime, meta: EventMeta, management_report: str | None,
                customer_communication: str | None = None) -> None:
        self.management_report = management_report
        self.customer_communication = customer_communication
        self.closed_at = timestamp
        self.closed_version = self.version + 1
        self.status = ActionStatus.CLOSED

    def reopen(self, ctx: CommandContext, *, reason: str) -> None:
        """CA-VER-1: the effect did not last."""
        authorise(ctx, "reopening", CUSTOMER_SERVICE)
        if self.status is not ActionStatus.CLOSED:
            raise WrongState("reopening", self.status.value, "only a closed action reopens")
        self._reopened(timestamp=ctx.at, meta=ctx.meta("reopening"),
                       reason=required_text("reason", reason))

    @event("Reopened")
    def _reopened(self, *, timestamp: datetime, meta: EventMeta, reason: str) -> None:
        self.reopenings.append((reason, timestamp))
        self.closed_at = self.closed_version = None
        self.status = ActionStatus.IMPLEMENTING

    # --- obligations -------------------------------------------------------------------

    def obligations(self, policy: CorrectiveActionPolicy, calendar: BusinessCalendar,
                    now: datetime) -> list[Obligation]:
        """CA-SEV-1 / CA-PLAN-1 plan (or rectification) deadlines from the opening (an
        assignment made late does not extend them), the plan review, and CA-PROG-1's
        monthly evaluations until closed. What is still pending when the action
        closes becomes void: nothing is breached on a closed action."""
        found: list[Obligation] = []
        level = self.severity.value
        notice = self.opened_at
        if self.severity is Severity.GENERAL:
            found.append(Obligation(
                key="CA-SEV-1/rectification", rule="CA-SEV-1",
                description="rectify and file the result with customer service",
                started_at=notice, due_at=calendar.add_working_days(
                    notice, policy.rectify_general_working_days),
                met_at=self.implemented_at, level=level, responsible=self.unit or ""))
        days = {Severity.GENERAL: policy.plan_working_days,
                Severity.KEY: max(policy.plan_key_working_days, policy.plan_working_days),
                Severity.MAJOR: policy.plan_major_working_days}[self.severity]
        rule = "CA-PLAN-1" if self.severity is Severity.GENERAL else "CA-SEV-1"
        # A general action rectified without a plan owes none (CA-SEV-1).
        planned = [at for at in (self.plans[0][1] if self.plans else None,
                                 self.implemented_at if self.severity is Severity.GENERAL
                                 else None) if at is not None]
        found.append(Obligation(
            key=f"{rule}/plan", rule=rule, description="submit the corrective plan",
            started_at=notice, due_at=calendar.add_working_days(notice, days),
            met_at=min(planned, default=None), level=level,
            responsible=self.unit or ""))
        for index, (_, submitted) in enumerate(self.plans):
            reviewed = self.plan_reviews[index][2] if index < len(self.plan_reviews) else None
            found.append(Obligation(
                key=f"CA-PLAN-1/review-{index + 1}", rule="CA-PLAN-1",
                description=f"review plan {index + 1}", started_at=submitted,
                due_at=calendar.add_working_days(submitted, policy.plan_review_working_days),
                met_at=reviewed, level=level, responsible="cs_head"))
        if self.approved_at is not None:
            until = self.closed_at or now
            month, start = 1, self.approved_at
            while True:
                due = calendar.add_months(self.approved_at,
                                          month * policy.evaluation_interval_months)
                if start >= until:
                    break
                done = [at for at, _, _ in self.evaluations if start < at <= due]
                found.append(Obligation(
                    key=f"CA-PROG-1/month-{month}", rule="CA-PROG-1",
                    description=f"monthly effectiveness evaluation {month}",
                    started_at=start, due_at=due, met_at=min(done) if done else None,
                    level=level, responsible=self.unit or ""))
                month, start = month + 1, due
        if self.closed_at is None:
            return found
        return [replace(o, void_by_version=self.closed_version)
                if o.met_at is None and o.due_at > self.closed_at else o for o in found]
