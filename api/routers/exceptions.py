"""`/v1/exceptions`: service exceptions (DOMAIN.md section 2, API.md "Cases").

Every command endpoint has one shape (load -> command -> save, If-Match,
Idempotency-Key, the new view), so they are declared as a table below. This
module deliberately has no `from __future__ import annotations`: FastAPI reads
the body type of each generated endpoint from its real annotation.
"""

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import Depends, Query, Request, Response
from fastapi.responses import PlainTextResponse
from markdown_it import MarkdownIt

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
    IfMatch,
    require,
)
from api.models import exceptions as m
from api.models.common import Instant
from api.problems import ApiProblem, Problem
from api.rendering import bar_chart, page
from api.routers.audit import add_audit_routes
from api.routing import Router
from application.app import CaseApplication
from application.case_index import SearchFilters
from application.corrective_actions import from_review
from application.documents import FORMS, render_markdown
from domain.actors import Actor, Role
from domain.cases import CommandContext
from domain.corrective_actions import CorrectiveAction
from domain.service_exceptions.model import (
    AGREEMENT_RECORDERS,
    CUSTOMER_FACING,
    HANDLERS,
    LEADS,
    MANAGEMENT_DECIDES,
    ServiceException,
)
from domain.service_exceptions.values import (
    CONTACT_VIEWERS,
    PLAN_APPROVERS,
    RESPONDERS,
    REVIEWERS,
    SIGN_OFFS,
    Category,
    DocumentRef,
    Level,
    LossAssessment,
    Status,
)

PROBLEMS: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "content": {"application/problem+json": {}}}
    for status in (401, 403, 404, 409, 412, 422, 503)}
router = Router(prefix="/v1/exceptions", tags=["exceptions"], responses=PROBLEMS)
CASE = "exception"
_html = MarkdownIt("commonmark", {"html": False}).enable("table")


def any_level(table: dict[Level, frozenset[Role]]) -> frozenset[Role]:
    """Route-level check: the roles of any level; the aggregate checks the case's own."""
    return frozenset().union(*table.values())


def _reveal(actor: Actor) -> bool:
    return actor.has_any(*CONTACT_VIEWERS)


def _view(cases: CaseApplication, actor: Actor, case: ServiceException,
          at: datetime | None = None) -> m.ExceptionView:
    """The case with its obligations judged at `at` (default now; AUD-2)."""
    now = at or cases.clock.now()
    return m.ExceptionView.of(
        case, reveal_contact=_reveal(actor),
        obligations=[m.ObligationView.of(o, now, case) for o in cases.obligations(case, now)])


# --- open, read, search ---------------------------------------------------------------

@router.post("", status_code=201, response_model=m.ExceptionView,
             dependencies=[Depends(require(HANDLERS))])
def open_exception(body: m.OpenException, request: Request,
                   cases: CasesApp, actor: CurrentActor, correlation_id: CorrelationId,
                   metrics: AppMetrics, idempotency_key: IdempotencyKey) -> Response:
    """Record a service exception (EX-REC-1). Its deadlines run from `discovered_at`;
    one more than the backdating tolerance before now needs a reason (EX-REC-2)."""
    ctx = cases.context(actor, correlation_id, body.backdating_reason)

    def create() -> ServiceException:
        return ServiceException.record(
            ctx, customer=body.customer.to_domain(), category=body.category,
            level=body.level, title=body.title, description=body.description,
            service_step=body.service_step, discovered_at=body.discovered_at,
            department=body.department, contract_ref=body.contract_ref,
            impact_scope=body.impact_scope, customer_demands=body.customer_demands,
            special=tuple(body.special))

    render = ROUTES.creation(cases, actor)
    idem = idempotency_for(request, actor, idempotency_key, body)
    result = run_command(metrics, CASE, "record",
                         lambda: cases.open(create, idempotency=idem, render=render))
    return command_response(result, lambda: render(cases.case_after(ServiceException, result)))


@router.get("", response_model=m.ExceptionPage)
def search_exceptions(
    cases: CasesApp, actor: CurrentActor,
    status: Status | None = None, level: Level | None = None,
    category: Category | None = None, customer_id: str | None = None,
    department: str | None = None,
    opened_from: Annotated[Instant | None, Query(
        description="recorded at or after")] = None,
    opened_to: Annotated[Instant | None, Query(description="recorded before")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
) -> m.ExceptionPage:
    """Search, newest first, with cursor paging."""
    page = cases.search(SearchFilters(
        case_type=CASE, status=status.value if status else None,
        level=level.value if level else None, category=category.value if category else None,
        customer_id=customer_id, department=department, opened_from=opened_from,
        opened_to=opened_to), limit, cursor)
    return m.ExceptionPage(next_cursor=page.next_cursor, items=[m.ExceptionSummary(
        id=s.case_id, version=s.version, status=Status(s.status), level=Level(s.level),
        category=Category(s.category), title=s.title, customer_id=s.customer_id or "",
        customer_name=s.customer_name or "", department=s.department,
        opened_at=s.opened_at, updated_at=s.updated_at,
        href=f"{router.prefix}/{s.case_id}") for s in page.items])


@router.get("/{case_id}", response_model=m.ExceptionView)
def get_exception(
    case_id: UUID, response: Response, cases: CasesApp, actor: CurrentActor,
    version: AtVersion = None, as_of: AsOf = None,
) -> m.ExceptionView:
    """The current state, with obligations and links; `?version=N` or `?as_of=` for an
    earlier one, its obligations judged at that instant (AUD-2)."""
    case, at = read_case(cases, ServiceException, case_id, version, as_of)
    response.headers["ETag"] = etag(case.version)
    return _view(cases, actor, case, at)


@router.get("/{case_id}/plans/{number}", response_model=m.PlanView)
def get_plan(case_id: UUID, number: int, cases: CasesApp, actor: CurrentActor) -> m.PlanView:
    """One plan revision (EX-PLAN-1)."""
    return m.PlanView.of(cases.get_case(ServiceException, case_id).plan(number))


@router.get("/{case_id}/document", response_class=PlainTextResponse, responses={
    200: {"content": {"text/markdown": {}, "text/html": {}},
          "description": "the level's closing document (EX-FORM-1)"},
    406: {"model": Problem}})
def exception_document(case_id: UUID, request: Request, cases: CasesApp,
                       actor: CurrentActor) -> Response:
    """The closing document of the case's level, as Markdown or HTML by `Accept`."""
    accept = request.headers.get("accept", "*/*")
    wants_html = "text/html" in accept
    if not wants_html and not any(t in accept for t in ("text/markdown", "text/*", "*/*")):
        raise ApiProblem(406, "not-acceptable", "Not acceptable",
                         "the document is available as text/markdown or text/html")
    case = cases.get_case(ServiceException, case_id)
    text = closing_markdown(cases, case, _reveal(actor))
    if wants_html:
        now = cases.clock.now()
        owed = [o for o in cases.obligations(case) if o.rule != "EX-PROG-1"]
        chart = bar_chart("Deadlines: hours allowed and taken", {
            "allowed": [(o.due_at - o.started_at).total_seconds() / 3600 for o in owed],
            "taken": [((o.met_at or now) - o.started_at).total_seconds() / 3600
                      for o in owed]}, [o.rule for o in owed], x_title="rule",
            y_title="hours")
        response = page(f"{FORMS[case.level][0]} — {case.title[:80]}", _html.render(text),
                        f"<figure>{chart}</figure>", heading=False)
        response.headers["ETag"] = etag(case.version)
        return response
    return Response(text, media_type="text/markdown; charset=utf-8",
                    headers={"ETag": etag(case.version)})


# --- commands -----------------------------------------------------------------------------

def _review(case: ServiceException, ctx: CommandContext, body: m.ReviewIn,
            _: CaseApplication) -> list[CorrectiveAction]:
    case.record_review(ctx, root_cause=body.root_cause, lessons=body.lessons,
                       improvements=body.improvements_domain(),
                       retrospective=body.retrospective.to_domain() if body.retrospective
                       else None)
    return from_review(case, ctx)


COMMANDS = [
    Command("reports", "report_up", m.ReportUpIn, HANDLERS, lambda c, ctx, b, _: c.report_up(
        ctx, reported_to=tuple(b.reported_to), reported_at=b.reported_at, details=b.details,
        first_judgement=b.first_judgement, customer_demands=b.customer_demands,
        measures_taken=b.measures_taken), "Report up the line (EX-ESC-1)"),
    Command("reclassification", "reclassification", m.ReclassificationIn, LEADS,
            lambda c, ctx, b, _: c.reclassify(ctx, level=b.level, reason=b.reason),
            "Raise or lower the level with a reason (EX-LVL-2)"),
    Command("flags", "flags", m.FlagsIn, LEADS,
            lambda c, ctx, b, _: c.set_special_types(ctx, special=tuple(b.special),
                                                     reason=b.reason),
            "Set the special types (EX-SPEC-1)"),
    Command("responses", "response", m.ResponseIn, any_level(RESPONDERS),
            lambda c, ctx, b, _: c.start_response(
                ctx, handler=b.handler, team_owner=b.team_owner,
                team_members=tuple(b.team_members),
                milestones=tuple(x.to_domain() for x in b.milestones),
                meeting=b.meeting.to_domain() if b.meeting else None),
            "Start the response (EX-RESP-1)"),
    Command("investigations", "investigation", m.InvestigationIn, HANDLERS,
            lambda c, ctx, b, _: c.record_investigation(ctx, b.to_domain()),
            "Record the investigation (EX-INV-1)"),
    Command("legal-opinion", "legal_opinion", m.LegalOpinionIn, frozenset({Role.LEGAL}),
            lambda c, ctx, b, _: c.give_legal_opinion(ctx, opinion=b.opinion),
            "Legal's opinion on a contract dispute (EX-SPEC-1)"),
    Command("loss-assessment", "loss_assessment", m.LossAssessmentIn,
            frozenset({Role.FINANCE, Role.LEGAL}),
            lambda c, ctx, b, _: c.assess_loss(ctx, LossAssessment(
                b.assessed_as, str(b.amount), b.currency, b.basis)),
            "Finance's or legal's loss assessment (EX-SPEC-1)"),
    Command("supplementary-agreement", "supplementary_agreement", m.AgreementIn,
            AGREEMENT_RECORDERS, lambda c, ctx, b, _: c.record_agreement(ctx, b.to_domain()),
            "A contract dispute's supplementary agreement (EX-SPEC-2)"),
    Command("recovery", "recovery", m.RecoveryIn, frozenset({Role.FINANCE, Role.LEGAL}),
            lambda c, ctx, b, _: c.record_recovery(ctx, b.to_domain()),
            "A major loss's recovery against those liable (EX-SPEC-2)"),
    Command("on-site", "on_site", m.OnSiteIn, LEADS,
            lambda c, ctx, b, _: c.station_on_site(ctx, person=b.person, since=b.since),
            "The person stationed at a critical case's site (EX-SPEC-2)"),
    Command("plans", "plans", m.PlanIn, HANDLERS, lambda c, ctx, b, _: c.propose_plan(
        ctx, measures=tuple(x.to_domain() for x in b.measures), resources=b.resources,
        milestones=tuple(x.to_domain() for x in b.milestones), compensation=b.compensation,
        contract_change=b.contract_change),
        "Propose a plan revision (EX-PLAN-1)", status_code=201,
        location=lambda case, case_id: f"/v1/exceptions/{case_id}/plans/{len(case.plans)}"),
    Command("progress", "progress", m.ProgressIn, HANDLERS,
            lambda c, ctx, b, app: c.report_progress(
                ctx, app.calendar, kind=b.kind, summary=b.summary, day=b.day,
                meeting=b.meeting.to_domain() if b.meeting else None),
            "Daily progress report or meeting minutes (EX-PROG-1)"),
    Command("resolution", "resolution", m.ResolutionIn, CUSTOMER_FACING,
            lambda c, ctx, b, _: c.resolve(ctx, summary=b.summary, resolved_at=b.resolved_at),
            "Resolve (EX-RES-1)"),
    Command("feedback", "feedback", m.FeedbackIn, CUSTOMER_FACING,
            lambda c, ctx, b, _: c.record_feedback(
                ctx, satisfaction=b.satisfaction, comment=b.comment,
                informed_at=b.informed_at), "The customer's feedback (EX-FB-1)"),
    Command("acceptance", "acceptance", m.AcceptanceIn, CUSTOMER_FACING,
            lambda c, ctx, b, _: c.record_acceptance(ctx, accepted=b.accepted, note=b.note),
            "The customer's acceptance; a rejection reopens execution (EX-FB-1)"),
    Command("review", "review", m.ReviewIn, any_level(REVIEWERS), _review,
            "Review, with the retrospective for critical (EX-REV-1); improvement measures "
            "asking for it open corrective actions in the same transaction (CA-SRC-1)"),
    Command("sign-off", "sign_off", m.SignOffIn, frozenset().union(*SIGN_OFFS.values()),
            lambda c, ctx, b, _: c.sign_off(ctx),
            "Sign the closing document off: general by the department head, major by "
            "cs_head, critical by the group leader then management (EX-SIGN-1)"),
    Command("archive", "archive", m.ArchiveIn, LEADS, lambda c, ctx, b, _: c.archive(
        ctx, documents=tuple(DocumentRef(d.name, d.uri, d.sha256) for d in b.documents)),
        "Archive; read-only afterwards (EX-ARC-1)"),
    Command("cancellation", "cancellation", m.CancellationIn, LEADS,
            lambda c, ctx, b, _: c.cancel(ctx, reason=b.reason, detail=b.detail),
            "Cancel before resolution (EX-FLOW-1)"),
]


ROUTES = CommandRoutes(router, ServiceException, m.ExceptionView, _view)  # type: ignore[arg-type]
for _command in COMMANDS:
    ROUTES.add(_command)


def closing_markdown(cases: CaseApplication, case: ServiceException, reveal: bool,
                     events: list[Any] | None = None) -> str:
    """The closing document; `events` are the case's (read here when not given)."""
    reports = ServiceException.reports_in(
        events if events is not None else cases.events_of(case.id, lte=case.version))
    return render_markdown(case, reports, cases.obligations(case), now=cases.clock.now(),
                           zone=cases.calendar.zone, reveal_contact=reveal)


add_audit_routes(router, ServiceException, CONTACT_VIEWERS)


@router.post("/{case_id}/plans/{number}/approval", response_model=m.ExceptionView,
             summary="Approve or reject a plan revision (EX-PLAN-1)",
             dependencies=[Depends(require(any_level(PLAN_APPROVERS) | MANAGEMENT_DECIDES))])
def plan_approval(case_id: UUID, number: int, body: m.PlanDecisionIn, request: Request,
                  cases: CasesApp, actor: CurrentActor,
                  correlation_id: CorrelationId, metrics: AppMetrics, expected_version: IfMatch,
                  idempotency_key: IdempotencyKey) -> Response:
    command = Command("plans/approval", "plan_approval", m.PlanDecisionIn, frozenset(),
                      lambda *_: None, "")
    return ROUTES.execute(
        command, case_id, body, request, cases, actor, correlation_id, metrics,
        expected_version, idempotency_key,
        lambda case, ctx: case.decide_plan(ctx, number=number, approved=body.approved,
                                           reason=body.reason,
                                           refer_to_management=body.refer_to_management))

