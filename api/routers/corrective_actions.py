"""`/v1/corrective-actions`: corrective actions (DOMAIN.md section 4)."""


from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import Depends, Query, Request, Response
from pydantic import BaseModel, Field, StrictBool

from api.command_routes import Command, CommandRoutes
from api.commands import (
    command_response,
    etag,
    idempotency_for,
    read_case,
    run_command,
)
from api.deps import (
    AppMetrics,
    AsOf,
    AtVersion,
    CasesApp,
    CorrelationId,
    CurrentActor,
    IdempotencyKey,
    require,
)
from api.models.common import Instant, LongText, RequestModel, Text, UtcDatetime
from api.models.exceptions import ObligationView
from api.problems import problem_responses
from api.routers.audit import add_audit_routes
from api.routing import Router
from application.app import CaseApplication
from application.case_index import SearchFilters
from domain.actors import Actor, Role
from domain.corrective_actions import (
    CUSTOMER_SERVICE,
    OPENERS,
    UNIT_ROLES,
    ActionPlan,
    ActionStatus,
    CorrectiveAction,
    Severity,
    Source,
    SourceKind,
)

router = Router(prefix="/v1/corrective-actions", tags=["corrective actions"],
                responses=problem_responses(404, 409, 412))
SOURCE_PATHS = {SourceKind.SURVEY_FINDING: "/v1/surveys",
                SourceKind.EXCEPTION_REVIEW: "/v1/exceptions"}


class OpenAction(RequestModel):
    """A corrective action from a management review (CA-SRC-1); the other sources open
    theirs with the review or the survey's cleaning."""

    severity: Severity
    title: Text
    description: LongText
    department: Text
    review: LongText = Field(description="the management review it comes from")


class AssignmentIn(RequestModel):
    unit: Text
    person: Text


class PlanIn(RequestModel):
    measures: Annotated[list[LongText], Field(min_length=1, max_length=100)]
    responsible_person: Text
    horizon_end: Instant = Field(description="at most 3 months ahead (CA-PLAN-1)")
    emergency_measures: LongText | None = None


class PlanReviewIn(RequestModel):
    approved: StrictBool
    reason: Annotated[str, Field(max_length=20_000)] = ""


class EvaluationIn(RequestModel):
    summary: LongText
    effective: StrictBool


class ImplementationIn(RequestModel):
    evidence: LongText


class VerificationIn(RequestModel):
    effective: StrictBool
    revisited_at: Instant
    notes: Annotated[str, Field(max_length=20_000)] = ""


class ClosureIn(RequestModel):
    management_report: LongText | None = Field(default=None, description="major actions")
    customer_communication: LongText | None = Field(
        default=None, description="major actions: how and when the customer was told the "
        "result (CA-SEV-1)")


class ReopeningIn(RequestModel):
    reason: LongText


class ActionView(BaseModel):
    id: UUID
    version: int
    status: ActionStatus
    severity: Severity
    title: str
    description: str
    department: str
    source: Source
    source_href: str | None
    unit: str | None
    responsible: str | None
    plans: list[ActionPlan]
    plan_reviews: list[tuple[bool, str, UtcDatetime]]
    evaluations: list[tuple[UtcDatetime, str, bool]]
    evidence: list[tuple[str, UtcDatetime]]
    verifications: list[tuple[bool, UtcDatetime, str]]
    management_report: str | None
    customer_communication: str | None
    reopenings: list[tuple[str, UtcDatetime]]
    opened_at: UtcDatetime
    closed_at: UtcDatetime | None
    obligations: list[ObligationView]


def _view(cases: CaseApplication, actor: Actor, action: CorrectiveAction,
          at: datetime | None = None) -> ActionView:
    """The action with its obligations judged at `at` (default now; AUD-2)."""
    now = at or cases.clock.now()
    base = SOURCE_PATHS.get(action.source.kind)
    return ActionView(
        id=action.id, version=action.version, status=action.status, severity=action.severity,
        title=action.title, description=action.description, department=action.department,
        source=action.source,
        source_href=f"{base}/{action.source.case_id}" if base and action.source.case_id
        else None,
        unit=action.unit, responsible=action.responsible,
        plans=[p for p, _ in action.plans], plan_reviews=list(action.plan_reviews),
        evaluations=list(action.evaluations), evidence=list(action.evidence),
        verifications=list(action.verifications), management_report=action.management_report,
        customer_communication=action.customer_communication,
        reopenings=list(action.reopenings), opened_at=action.opened_at,
        closed_at=action.closed_at,
        obligations=[ObligationView.of(o, now, action)
                     for o in cases.obligations(action, now)])


@router.post("", status_code=201, response_model=ActionView,
             dependencies=[Depends(require(OPENERS))])
def open_action(body: OpenAction, request: Request, cases: CasesApp,
                actor: CurrentActor, correlation_id: CorrelationId, metrics: AppMetrics,
                idempotency_key: IdempotencyKey) -> Response:
    ctx = cases.context(actor, correlation_id)

    render = ROUTES.creation(cases, actor)
    idem = idempotency_for(request, actor, idempotency_key, body)
    result = run_command(metrics, "corrective_action", "open", lambda: cases.open(
        lambda: CorrectiveAction.open(
            ctx, source=Source(SourceKind.MANAGEMENT_REVIEW, None, body.review),
            severity=body.severity, title=body.title, description=body.description,
            department=body.department), idempotency=idem, render=render))
    return command_response(result, lambda: render(cases.case_after(CorrectiveAction, result)))


class ActionSummary(BaseModel):
    id: UUID
    version: int
    status: ActionStatus
    severity: Severity
    title: str
    department: str
    opened_at: UtcDatetime
    updated_at: UtcDatetime
    href: str


class ActionPage(BaseModel):
    items: list[ActionSummary]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page")


@router.get("", response_model=ActionPage)
def search_actions(
    cases: CasesApp, actor: CurrentActor, status: ActionStatus | None = None,
    severity: Severity | None = None, department: str | None = None,
    opened_from: Annotated[Instant | None, Query(description="opened at or after")] = None,
    opened_to: Annotated[Instant | None, Query(description="opened before")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
) -> ActionPage:
    """Corrective actions, newest first, with cursor paging."""
    page = cases.search(SearchFilters(
        case_type="corrective_action", status=status.value if status else None,
        level=severity.value if severity else None, department=department,
        opened_from=opened_from, opened_to=opened_to), limit, cursor)
    return ActionPage(next_cursor=page.next_cursor, items=[ActionSummary(
        id=s.case_id, version=s.version, status=ActionStatus(s.status),
        severity=Severity(s.level), title=s.title, department=s.department,
        opened_at=s.opened_at, updated_at=s.updated_at, href=f"{router.prefix}/{s.case_id}")
        for s in page.items])


@router.get("/{case_id}", response_model=ActionView)
def get_action(case_id: UUID, response: Response, cases: CasesApp, actor: CurrentActor,
               version: AtVersion = None, as_of: AsOf = None) -> ActionView:
    """The action now; `?version=N` or `?as_of=` for an earlier state, its obligations
    judged at that instant (AUD-2)."""
    action, at = read_case(cases, CorrectiveAction, case_id, version, as_of)
    response.headers["ETag"] = etag(action.version)
    return _view(cases, actor, action, at)


COMMANDS = [
    Command("assignment", "assignment", AssignmentIn, CUSTOMER_SERVICE | {Role.MANAGEMENT},
            lambda c, ctx, b, _: c.assign(ctx, unit=b.unit, person=b.person),
            "Notify the responsible unit (the plan deadline runs from here)"),
    Command("plans", "plans", PlanIn, UNIT_ROLES,
            lambda c, ctx, b, app: c.submit_plan(ctx, app.calendar,
                                                 app.policy.corrective_actions, ActionPlan(
                tuple(b.measures), b.responsible_person, b.horizon_end,
                b.emergency_measures)), "Submit the plan (CA-PLAN-1)"),
    Command("plan-review", "plan_review", PlanReviewIn, CUSTOMER_SERVICE,
            lambda c, ctx, b, _: c.review_plan(ctx, approved=b.approved, reason=b.reason),
            "Customer service reviews the plan (CA-PLAN-1)"),
    Command("progress-evaluations", "progress_evaluations", EvaluationIn, UNIT_ROLES,
            lambda c, ctx, b, _: c.evaluate(ctx, summary=b.summary, effective=b.effective),
            "The monthly effectiveness evaluation (CA-PROG-1)"),
    Command("implementation", "implementation", ImplementationIn, UNIT_ROLES,
            lambda c, ctx, b, _: c.record_implementation(ctx, evidence=b.evidence),
            "Evidence of implementation (CA-VER-1)"),
    Command("verification", "verification", VerificationIn, CUSTOMER_SERVICE,
            lambda c, ctx, b, _: c.verify(ctx, effective=b.effective,
                                          revisited_at=b.revisited_at, notes=b.notes),
            "The customer re-visit (CA-VER-1); no effect reopens the action"),
    Command("closure", "closure", ClosureIn, CUSTOMER_SERVICE,
            lambda c, ctx, b, _: c.close(ctx, management_report=b.management_report,
                                         customer_communication=b.customer_communication),
            "Close (key and major after a confirming re-visit; major with its report)"),
    Command("reopening", "reopening", ReopeningIn, CUSTOMER_SERVICE,
            lambda c, ctx, b, _: c.reopen(ctx, reason=b.reason),
            "Reopen: the effect did not last (CA-VER-1)"),
]
ROUTES = CommandRoutes(router, CorrectiveAction, ActionView, _view)  # type: ignore[arg-type]
for _command in COMMANDS:
    ROUTES.add(_command)

add_audit_routes(router, CorrectiveAction, frozenset())
