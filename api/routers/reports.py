"""`/v1/reports/...` (RPT-1..RPT-3): JSON figures from the reporting view, which
follows the event log (see `/readyz` for lag). Ratios are exact fractions "n/d"."""

from __future__ import annotations

import json
import re
from datetime import date, datetime, timedelta
from fractions import Fraction
from typing import Annotated, Any

from fastapi import Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from api.deps import CasesApp, CorrelationId, CurrentActor, require
from api.models.common import Instant, OptionalText, RequestModel, Text, UtcDatetime
from api.problems import ApiProblem, FieldError, problem_responses
from api.rendering import bar_chart, line_chart, respond
from api.routing import Router
from application.reports import departments, monthly, monthly_items, weekly_items
from domain.cases import EARLIEST_BUSINESS_TIME, LATEST_BUSINESS_DATE
from domain.filings import FILED_WITH, FILERS, SummaryFiling, SummaryKind
from domain.surveys.campaign import SurveyCampaign

FORMATS: dict[int | str, dict[str, Any]] = {200: {"content": {
    "application/json": {}, "text/html": {}, "text/csv": {}},
    "description": "JSON; `Accept: text/html` for the page with charts, `text/csv` for the table"}}
router = Router(prefix="/v1/reports", tags=["reports"],
                responses=problem_responses(406, 422) | FORMATS)
_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
YEARS = range(EARLIEST_BUSINESS_TIME.year, LATEST_BUSINESS_DATE.year + 1)
"""The years a report can cover: those of the instants this service accepts."""


def _bad(field: str, detail: str, where: str = "query") -> ApiProblem:
    return ApiProblem(422, "validation", "Invalid request", detail,
                      errors=[FieldError(field=f"{where}.{field}", message=detail)])


def _ratio(value: Fraction | None) -> str | None:
    return None if value is None else str(value)


def _local(cases: Any, day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=cases.calendar.zone)


class Report(BaseModel):
    period_from: datetime
    period_to: datetime
    items: Any


def _as_float(value: str | None) -> float | None:
    return float(Fraction(value)) if value is not None else None


def _render(request: Request, report: Report, title: str, rows: list[dict[str, Any]],
            columns: list[str], charts: list[str]) -> Response:
    return respond(request, report.model_dump(mode="json"), title=title, rows=rows,
                   columns=columns, charts=charts)


@router.get("/exceptions/weekly", response_model=Report, response_class=Response)
def weekly_exceptions(request: Request, cases: CasesApp, actor: CurrentActor,
                      week: Annotated[str, Query(examples=["2026-W47"])],
                      department: str | None = None) -> Response:
    """RPT-1: general exceptions opened in an ISO week, per department."""
    begin, end = _week(cases, week)
    items = weekly_items(request.app.state.reports.select("exception", begin, end), department)
    chart = bar_chart(f"General exceptions, {week}",
                      {"opened": [i["opened"] for i in items],
                       "resolved": [i["resolved"] for i in items]},
                      [i["department"] for i in items])
    return _render(request, Report(period_from=begin, period_to=end, items=items),
                   f"一般客户服务异常周报 Weekly general exceptions {week}", items,
                   ["department", "opened", "resolved", "resolved_on_time"], [chart])


def _week(cases: Any, week: str, where: str = "query") -> tuple[datetime, datetime]:
    found = _WEEK.match(week)
    try:
        start = date.fromisocalendar(int(found.group(1)), int(found.group(2)), 1) \
            if found and int(found.group(1)) in YEARS else None
    except ValueError:
        start = None
    if start is None:
        raise _bad("week", "an ISO week such as 2026-W47", where)
    return _local(cases, start), _local(cases, start + timedelta(days=7))


def _month(cases: Any, month: str, where: str = "query") -> tuple[datetime, datetime]:
    found = _MONTH.match(month)
    if not found or not 1 <= int(found.group(2)) <= 12 or int(found.group(1)) not in YEARS:
        raise _bad("month", "a month such as 2026-11", where)
    year, number = int(found.group(1)), int(found.group(2))
    nxt = date(year + 1, 1, 1) if number == 12 else date(year, number + 1, 1)
    return _local(cases, date(year, number, 1)), _local(cases, nxt)


@router.get("/exceptions/monthly", response_model=Report, response_class=Response)
def monthly_exceptions(request: Request, cases: CasesApp, actor: CurrentActor,
                       month: Annotated[str, Query(examples=["2026-11"])]) -> Response:
    """RPT-1: the month's major exceptions, counts by category and level, the most
    frequent problem types and the weakest service steps."""
    begin, end = _month(cases, month)
    facts = request.app.state.reports.select("exception", begin, end)
    result = monthly(facts)
    items = monthly_items(facts)
    categories = list(result.by_category_level)
    chart = bar_chart(f"Exceptions by category and level, {month}", {
        level: [result.by_category_level[c].get(level, 0) for c in categories]
        for level in ("general", "major", "critical")}, categories)
    rows = [{"category": c, **levels} for c, levels in result.by_category_level.items()]
    return _render(request, Report(period_from=begin, period_to=end, items=items),
                   f"客户服务异常月报 Monthly exceptions {month}", rows,
                   ["category", "general", "major", "critical"], [chart])


@router.get("/departments", response_model=Report, response_class=Response)
def department_kpis(request: Request, cases: CasesApp, actor: CurrentActor,
                    period_from: Annotated[Instant, Query(alias="from")],
                    period_to: Annotated[Instant, Query(alias="to")]) -> Response:
    """RPT-2: per department, over cases opened in the period."""
    if period_to <= period_from:
        raise _bad("to", "'to' must be after 'from'")
    view = request.app.state.reports
    kpis = departments(view.select("exception", period_from, period_to),
                       view.select("corrective_action", period_from, period_to))
    items = [
        {"department": k.department, "exceptions": k.exceptions,
         "exception_rate": _ratio(k.exception_rate),
         "response_timeliness": _ratio(k.response_timeliness),
         "completion_rate": _ratio(k.completion_rate), "satisfaction": _ratio(k.satisfaction),
         "corrective_actions": k.actions,
         "corrective_action_completion_rate": _ratio(k.action_completion_rate),
         "corrective_actions_overdue": k.actions_overdue} for k in kpis]
    chart = bar_chart("SLA compliance: report-ups on time, and completion", {
        "response timeliness": [_as_float(i["response_timeliness"]) for i in items],
        "completion rate": [_as_float(i["completion_rate"]) for i in items]},
        [i["department"] for i in items])
    return _render(request, Report(period_from=period_from, period_to=period_to,
                                   items=items), "部门指标 Department KPIs", items,
                   list(items[0]) if items else ["department"], [chart])


@router.get("/surveys", response_model=Report, response_class=Response)
def survey_trend(request: Request, cases: CasesApp, actor: CurrentActor,
                 period_from: Annotated[Instant, Query(alias="from")],
                 period_to: Annotated[Instant, Query(alias="to")]) -> Response:
    """RPT-3: every reported campaign's KPIs in the period, oldest first."""
    if period_to <= period_from:
        raise _bad("to", "'to' must be after 'from'")
    facts = request.app.state.reports.select("survey", period_from, period_to)
    items = [
        {"campaign": str(f.case_id), "survey_type": f.category, "opened_at": f.opened_at,
         "reported_at": f.resolved_at, "overall_score": f.overall_score,
         "satisfaction_rate": f.satisfaction_rate, "loyalty": f.loyalty,
         "favourable_rate": f.favourable_rate,
         **_cleaning_figures(cases, f.case_id)}
        for f in facts if f.resolved_at is not None]
    dates = [str(i["reported_at"])[:10] for i in items]
    chart = line_chart("Satisfaction trend", {
        name: [_as_float(i[key]) for i in items]
        for name, key in (("overall score", "overall_score"),
                          ("satisfaction rate %", "satisfaction_rate"))}, dates)
    dimensions = sorted({d for i in items for d in i["dimension_favourable"]})
    favourable = line_chart("Favourable rate by dimension, %", {
        d: [_as_float(i["dimension_favourable"].get(d)) for i in items]
        for d in dimensions}, dates)
    report = Report(period_from=period_from, period_to=period_to, items=items)
    return _render(request, report, "满意度趋势 Survey trend", items,
                   ["campaign", "survey_type", "reported_at", "overall_score",
                    "satisfaction_rate", "loyalty", "favourable_rate", "excluded_share"],
                   [chart, favourable])


def _cleaning_figures(cases: Any, case_id: Any) -> dict[str, Any]:
    """SV-KPI-4's favourable rate per dimension and SV-REVIEW-1's excluded share (in
    percent), as the campaign's cleaning kept them."""
    cleaning = cases.get_case(SurveyCampaign, case_id).cleaning
    share = cleaning.excluded_share if cleaning else None
    return {"dimension_favourable": dict(cleaning.dimension_favourable) if cleaning else {},
            "excluded_share": str(Fraction(share) * 100) if share is not None else None}


@router.get("/runs", response_model=list[dict[str, Any]])
def report_runs(request: Request, cases: CasesApp, actor: CurrentActor) -> list[dict[str, Any]]:
    """The weekly and monthly reports the scheduler produced, and when (RPT-1)."""
    return [{"kind": r["kind"], "period": r["period"], "produced_at": r["produced_at"],
             "report": json.loads(r["payload"])} for r in cases.index.report_runs()]  # type: ignore[attr-defined]


# --- filing the summaries (EX-SIGN-1) -------------------------------------------------------

class WeeklyFilingIn(RequestModel):
    week: Annotated[str, Field(examples=["2026-W47"])]
    department: Text
    reason: OptionalText | None = Field(default=None, description="to file it again")


class MonthlyFilingIn(RequestModel):
    month: Annotated[str, Field(examples=["2026-11"])]
    reason: OptionalText | None = Field(default=None, description="to file it again")


class SubmissionView(BaseModel):
    submitted_by: str
    submitted_at: UtcDatetime
    sha256: str
    reason: str | None


class FilingView(BaseModel):
    kind: SummaryKind
    period: str
    department: str | None
    filed_with: str
    submissions: list[SubmissionView]
    report: Report = Field(description="the summary as last submitted")

    @classmethod
    def of(cls, filing: SummaryFiling) -> FilingView:
        return cls(kind=filing.kind, period=filing.period, department=filing.department,
                   filed_with=FILED_WITH[filing.kind],
                   submissions=[SubmissionView(submitted_by=s.submitted_by,
                                               submitted_at=s.submitted_at, sha256=s.sha256,
                                               reason=s.reason) for s in filing.submissions],
                   report=Report.model_validate_json(filing.submissions[-1].figures))


def _file(cases: CasesApp, actor: CurrentActor, correlation_id: str,
          kind: SummaryKind, period: str, department: str | None, begin: datetime,
          end: datetime, items: Any, reason: str | None) -> JSONResponse:
    figures = Report(period_from=begin, period_to=end, items=items).model_dump_json()
    filing, status = cases.file_summary(
        cases.context(actor, correlation_id), kind=kind, period=period, department=department,
        period_end=end, figures=figures, reason=reason)
    return JSONResponse(FilingView.of(filing).model_dump(mode="json"), status_code=status)


@router.post("/exceptions/weekly/filing", response_model=FilingView, status_code=201,
             dependencies=[Depends(require({FILERS[SummaryKind.WEEKLY]}))],
             responses=problem_responses(403, 409))
def file_weekly(body: WeeklyFilingIn, request: Request, cases: CasesApp, actor: CurrentActor,
                correlation_id: CorrelationId) -> JSONResponse:
    """EX-SIGN-1: the department head submits the department's weekly summary of
    general exceptions (002 art. 9) once the week is over: its figures, who and when
    are recorded. Filing it again after the figures changed needs a reason (200)."""
    begin, end = _week(cases, body.week, "body")
    items = weekly_items(request.app.state.reports.select("exception", begin, end),
                         body.department)
    return _file(cases, actor, correlation_id, SummaryKind.WEEKLY, body.week,
                 body.department, begin, end, items, body.reason)


@router.post("/exceptions/monthly/filing", response_model=FilingView, status_code=201,
             dependencies=[Depends(require({FILERS[SummaryKind.MONTHLY]}))],
             responses=problem_responses(403, 409))
def file_monthly(body: MonthlyFilingIn, request: Request, cases: CasesApp,
                 actor: CurrentActor, correlation_id: CorrelationId) -> JSONResponse:
    """EX-SIGN-1: cs_head submits the monthly summary of major exceptions to the
    handling group (002 art. 10) once the month is over."""
    begin, end = _month(cases, body.month, "body")
    items = monthly_items(request.app.state.reports.select("exception", begin, end))
    return _file(cases, actor, correlation_id, SummaryKind.MONTHLY, body.month,
                 None, begin, end, items, body.reason)


@router.get("/filings/{kind}/{period}", response_model=FilingView,
            responses=problem_responses(404))
def get_filing(kind: SummaryKind, period: str, cases: CasesApp, actor: CurrentActor,
               department: str | None = None) -> FilingView:
    """A filed summary: every submission, who and when, and the figures as filed."""
    return FilingView.of(cases.get_filing(kind, period, department))
