"""`/v1/surveys`: satisfaction survey campaigns (DOMAIN.md section 3)."""

from datetime import datetime
from fractions import Fraction
from typing import Annotated, Any
from uuid import UUID

from fastapi import Depends, Query, Request, Response
from markdown_it import MarkdownIt
from pydantic import BaseModel, Field

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
from api.models import surveys as m
from api.models.exceptions import ObligationView
from api.problems import problem_responses
from api.rendering import bar_chart, page
from api.routers.audit import add_audit_routes
from api.routing import Router
from application.app import CaseApplication
from application.case_index import SearchFilters
from application.corrective_actions import from_cleaning
from application.survey_report import render_survey_report
from application.surveys import (
    active_customers,
    new_service_launched,
    previous_comparable,
    weighed_by_directory,
)
from domain.actors import Actor
from domain.cases import CommandContext
from domain.corrective_actions import CorrectiveAction
from domain.policy import SurveyPolicy
from domain.service_exceptions.model import ServiceException
from domain.surveys.campaign import (
    APPROVERS,
    CLEANING_REVIEWERS,
    ORGANISERS,
    CampaignStatus,
    SurveyCampaign,
    SurveyType,
)

router = Router(prefix="/v1/surveys", tags=["surveys"],
                responses=problem_responses(404, 409, 412))
CASE = "survey"


def _view(cases: CaseApplication, actor: Actor, campaign: SurveyCampaign,
          at: datetime | None = None) -> m.SurveyView:
    """The campaign with its obligations judged at `at` (default now; AUD-2)."""
    now = at or cases.clock.now()
    return m.SurveyView.of(campaign, [ObligationView.of(o, now, campaign)
                                      for o in cases.obligations(campaign, now)])


@router.post("", status_code=201, response_model=m.SurveyView,
             dependencies=[Depends(require(ORGANISERS))])
def open_survey(body: m.OpenSurvey, request: Request, cases: CasesApp,
                actor: CurrentActor, correlation_id: CorrelationId, metrics: AppMetrics,
                idempotency_key: IdempotencyKey) -> Response:
    """Draft a campaign with its plan (SV-TYPE-1, SV-PLAN-1)."""
    ctx = cases.context(actor, correlation_id)

    render = ROUTES.creation(cases, actor)
    idem = idempotency_for(request, actor, idempotency_key, body)
    result = run_command(metrics, CASE, "plan", lambda: cases.open(
        lambda: SurveyCampaign.draft(ctx, survey_type=body.survey_type, title=body.title,
                                     plan=body.plan.to_domain(),
                                     questionnaire=body.questionnaire_domain(),
                                     department=body.department, subtype=body.subtype),
        idempotency=idem, render=render))
    return command_response(result, lambda: render(cases.case_after(SurveyCampaign, result)))


@router.post("/new-service", status_code=201, response_model=m.SurveyView,
             dependencies=[Depends(require(ORGANISERS | APPROVERS))])
def new_service(body: m.NewServiceIn, request: Request, cases: CasesApp, actor: CurrentActor,
                correlation_id: CorrelationId, metrics: AppMetrics) -> Response:
    """SV-TYPE-4: record a new service's launch; the special survey of it is drafted,
    due to start within 15 working days."""
    ctx = cases.context(actor, correlation_id, body.backdating_reason)
    result = run_command(metrics, CASE, "new_service", lambda: new_service_launched(
        cases, ctx, service=body.service, launched_at=body.launched_at))
    render = ROUTES.creation(cases, actor)
    return command_response(result, lambda: render(cases.case_after(SurveyCampaign, result)))


class SurveyPage(BaseModel):
    items: list[m.SurveyView]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page")


@router.get("", response_model=SurveyPage)
def search_surveys(
    cases: CasesApp, actor: CurrentActor, status: CampaignStatus | None = None,
    survey_type: SurveyType | None = None, department: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
) -> SurveyPage:
    """Campaigns, newest first, with cursor paging."""
    page = cases.search(SearchFilters(case_type=CASE, status=status.value if status else None,
                                      category=survey_type.value if survey_type else None,
                                      department=department), limit, cursor)
    return SurveyPage(items=[_view(cases, actor, cases.get_case(SurveyCampaign, s.case_id))
                             for s in page.items], next_cursor=page.next_cursor)


@router.get("/{case_id}", response_model=m.SurveyView)
def get_survey(case_id: UUID, response: Response, cases: CasesApp, actor: CurrentActor,
               version: AtVersion = None, as_of: AsOf = None) -> m.SurveyView:
    """The campaign now; `?version=N` or `?as_of=` for an earlier state, its
    obligations judged at that instant (AUD-2)."""
    campaign, at = read_case(cases, SurveyCampaign, case_id, version, as_of)
    response.headers["ETag"] = etag(campaign.version)
    return _view(cases, actor, campaign, at)


def _open_exception(campaign: SurveyCampaign, ctx: CommandContext, body: m.FindingIn,
                    cases: CaseApplication) -> list[ServiceException]:
    """SV-FIND-1: the exception and the link are saved in one transaction."""
    exception = ServiceException.record(
        ctx, customer=body.customer.to_domain(), category=body.category, level=body.level,
        title=body.title, description=body.description, service_step=body.service_step,
        discovered_at=ctx.at, department=body.department, survey_id=str(campaign.id))
    campaign.link_exception(ctx, exception_id=str(exception.id), respondent=body.respondent,
                            customer_id=body.customer.id, serious_flaw=body.serious_flaw)
    return [exception]


def _policy(cases: CaseApplication) -> SurveyPolicy:
    return cases.policy.surveys


def _clean(campaign: SurveyCampaign, ctx: CommandContext, body: m.CleaningIn,
           app: CaseApplication) -> list[CorrectiveAction]:
    campaign.clean(ctx, _policy(app), exclusions=dict(body.exclusions),
                   seed=body.seed if body.seed is not None else campaign.id.int % 2**31,
                   previous=previous_comparable(app, campaign))
    return from_cleaning(campaign, ctx)


COMMANDS = [
    Command("plan-approval", "plan_approval", m.Empty, APPROVERS,
            lambda c, ctx, b, _: c.approve_plan(ctx), "Approve the plan (SV-PLAN-1)"),
    Command("sample", "sample", m.SampleIn, ORGANISERS | APPROVERS,
            lambda c, ctx, b, app: c.set_sample(
                ctx, _policy(app), active=weighed_by_directory(
                    app, tuple(x.to_domain() for x in b.active)) if b.active is not None
                else active_customers(app, c.plan.period_start, c.plan.period_end),
                sample=tuple(b.sample), override_reason=b.override_reason,
                frame_from_directory=b.active is None),
            "Set the sample, checked against SV-SAMPLE-1 (active customers from the "
            "directory unless given)"),
    Command("start", "start", m.Empty, ORGANISERS, lambda c, ctx, b, _: c.start(ctx),
            "Start the campaign"),
    Command("dispatches", "dispatches", m.DispatchIn, ORGANISERS,
            lambda c, ctx, b, _: c.dispatch(ctx, tuple(r.to_domain() for r in b.recipients)),
            "Send the survey to recipients (SV-DISP-1, SV-CH-1)"),
    Command("reminders", "reminders", m.ReminderIn, ORGANISERS,
            lambda c, ctx, b, _: c.remind(ctx, respondent=b.respondent, kind=b.kind),
            "Phone follow-up or weekly reminder (SV-DISP-1)"),
    Command("responses", "responses", m.ResponseIn, ORGANISERS,
            lambda c, ctx, b, app: c.record_response(
                ctx, _policy(app), respondent=b.respondent, started_at=b.started_at,
                submitted_at=b.submitted_at, answers=b.answers,
                opinions=tuple((o.kind, o.text) for o in b.opinions),
                return_path=b.return_path),
            "Record a response (SV-VALID-1 checks run)", status_code=201),
    Command("close", "close", m.Empty, ORGANISERS, lambda c, ctx, b, _: c.close(ctx),
            "Close the survey"),
    Command("cleaning", "cleaning", m.CleaningIn, ORGANISERS, _clean,
            "Clean the data: exclusions, KPIs, findings; the top findings open corrective "
            "actions in the same transaction (SV-CLOSE-1, SV-KPI-*, SV-FIND-2, CA-SRC-1)"),
    Command("opinion-classes", "opinion_classes", m.OpinionClassIn, ORGANISERS,
            lambda c, ctx, b, _: c.classify_opinion(
                ctx, respondent=b.respondent, number=b.number, category=b.category,
                priority=b.priority),
            "Classify a free-text opinion: equipment, service, process or policy, with a "
            "priority (SV-TEXT-1)"),
    Command("ledger", "ledger", m.LedgerIn, ORGANISERS,
            lambda c, ctx, b, _: c.follow_up(ctx, item=b.item, step=b.step,
                                             department=b.department, measure=b.measure,
                                             at=b.at),
            "Follow a ledger item up: notice sent, customer told, closed (SV-LEDGER-1)"),
    Command("call-backs", "call_backs", m.CallBackIn, ORGANISERS,
            lambda c, ctx, b, _: c.record_call_back(ctx, respondent=b.respondent,
                                                    confirmed=b.confirmed, note=b.note),
            "Record a drawn call-back's result; one not confirmed goes before a reviewer "
            "(SV-SAMPLE-2)"),
    Command("cleaning-review", "cleaning_review", m.CleaningReviewIn, CLEANING_REVIEWERS,
            lambda c, ctx, b, _: c.review_cleaning(ctx, decision=b.decision, reason=b.reason),
            "Decide on a cleaning flagged for review: accept, re-survey or exclude more "
            "(SV-REVIEW-1)"),
    Command("report", "report", m.ReportIn, ORGANISERS,
            lambda c, ctx, b, _: c.report(ctx, summary=b.summary),
            "Submit the analysis report (SV-REP-1)"),
    Command("findings", "findings", m.FindingIn, ORGANISERS, _open_exception,
            "Open a linked service exception for a strongly dissatisfied respondent "
            "(SV-FIND-1)", status_code=201,
            location=lambda c, _: f"/v1/exceptions/{c.linked_exceptions[-1]}"),
]
ROUTES = CommandRoutes(router, SurveyCampaign, m.SurveyView, _view)  # type: ignore[arg-type]
for _command in COMMANDS:
    ROUTES.add(_command)

def survey_markdown(cases: CaseApplication, campaign: SurveyCampaign, reveal: bool,
                    events: list[Any] | None = None) -> str:
    return render_survey_report(campaign, cases.calendar.zone)


add_audit_routes(router, SurveyCampaign, frozenset())


@router.get("/{case_id}/document", response_class=Response, responses={
    200: {"content": {"text/markdown": {}, "text/html": {}},
          "description": "the survey analysis report (SV-REP-1)"}})
def survey_document(case_id: UUID, request: Request, cases: CasesApp,
                    actor: CurrentActor) -> Response:
    """The analysis report as Markdown, or HTML with the dimension chart."""
    campaign = cases.get_case(SurveyCampaign, case_id)
    text = survey_markdown(cases, campaign, False)
    if "text/html" not in request.headers.get("accept", ""):
        return Response(text, media_type="text/markdown; charset=utf-8")
    charts = []
    if campaign.cleaning is not None:
        scores = campaign.cleaning.dimension_scores
        charts.append(bar_chart("Score by dimension", {
            "score": [float(Fraction(v)) for v in scores.values()]}, list(scores),
            x_title="dimension", y_title="score"))
    body = MarkdownIt("commonmark", {"html": False}).enable("table").render(text)
    return page(campaign.title, "".join(f"<figure>{c}</figure>" for c in charts), body)
