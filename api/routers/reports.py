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
from api.rendering import Column, ReportPage, bar_chart, line_chart, percent_series, respond
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


DISCOVERED = "exceptions counted by the date they were discovered"


def weekly_report(cases: Any, view: Any, week: str, department: str | None = None,
                  where: str = "query") -> ReportPage:
    begin, end = _week(cases, week, where)
    items = weekly_items(view.select("exception", begin, end), department)
    chart = bar_chart(f"General exceptions, {week}",
                      {"opened": [i["opened"] for i in items],
                       "resolved": [i["resolved"] for i in items]},
                      [i["department"] for i in items], x_title="department",
                      y_title="exceptions", counts=True)
    return ReportPage(
        title=f"一般客户服务异常周报 Weekly general exceptions {week}",
        slug=f"weekly-exceptions-{week}" + (f"-{department}" if department else ""),
        period_from=begin, period_to=end, note=DISCOVERED,
        payload=_payload(begin, end, items), rows=items, charts=[chart],
        columns=[Column("department", "部门 department"),
                 Column("opened", "发生 opened", "count"),
                 Column("resolved", "已解决 resolved", "count"),
                 Column("resolved_on_time", "按时解决 resolved on time", "count")])


def monthly_report(cases: Any, view: Any, month: str, where: str = "query") -> ReportPage:
    begin, end = _month(cases, month, where)
    counts = view.month_counts(begin, end)
    result = monthly(counts)
    categories = list(result.by_category_level)
    chart = bar_chart(f"Exceptions by category and level, {month}", {
        level: [result.by_category_level[c].get(level, 0) for c in categories]
        for level in ("general", "major", "critical")}, categories,
        x_title="category", y_title="exceptions", counts=True)
    rows = [{"category": c, **levels} for c, levels in result.by_category_level.items()]
    return ReportPage(
        title=f"客户服务异常月报 Monthly exceptions {month}", slug=f"monthly-exceptions-{month}",
        period_from=begin, period_to=end, note=DISCOVERED,
        payload=_payload(begin, end, monthly_items(counts)), rows=rows, charts=[chart],
        columns=[Column("category", "类别 category"),
                 *(Column(level, f"{name} {level}", "count") for level, name in (
                     ("general", "一般"), ("major", "重大"), ("critical", "特大")))])


def departments_report(view: Any, period_from: datetime, period_to: datetime) -> ReportPage:
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
        "response timeliness": percent_series([i["response_timeliness"] for i in items]),
        "completion rate": percent_series([i["completion_rate"] for i in items])},
        [i["department"] for i in items], x_title="department", y_title="%")
    return ReportPage(
        title="部门指标 Department KPIs",
        slug=f"department-kpis-{period_from:%Y-%m-%d}-{period_to:%Y-%m-%d}",
        period_from=period_from, period_to=period_to,
        note=DISCOVERED + "; corrective actions by the date they were opened",
        payload=_payload(period_from, period_to, items), rows=items, charts=[chart],
        columns=[Column("department", "部门 department"),
                 Column("exceptions", "异常 exceptions", "count"),
                 Column("exception_rate", "异常占比 exception rate", "ratio"),
                 Column("response_timeliness", "响应及时率 response timeliness", "ratio"),
                 Column("completion_rate", "完成率 completion rate", "ratio"),
                 Column("satisfaction", "满意度 satisfaction (1-5)", "score"),
                 Column("corrective_actions", "整改 corrective actions", "count"),
                 Column("corrective_action_completion_rate",
                        "整改完成率 corrective action completion", "ratio"),
                 Column("corrective_actions_overdue", "整改逾期 overdue", "count")])


def surveys_report(cases: Any, view: Any, period_from: datetime,
                   period_to: datetime) -> ReportPage:
    facts = view.select("survey", period_from, period_to)
    items = [
        {"campaign": str(f.case_id), "survey_type": f.category, "opened_at": f.opened_at,
         "reported_at": f.resolved_at, "overall_score": f.overall_score,
         "satisfaction_rate": f.satisfaction_rate, "loyalty": f.loyalty,
         "favourable_rate": f.favourable_rate,
         **_cleaning_figures(cases, f.case_id)}
        for f in facts if f.resolved_at is not None]
    dates = [str(i["reported_at"])[:10] for i in items]
    chart = line_chart("Satisfaction trend", {
        "overall score (of 100)": percent_series([i["overall_score"] for i in items],
                                                 "percent"),
        "satisfaction rate %": percent_series([i["satisfaction_rate"] for i in items],
                                              "percent")},
        dates, x_title="report date", y_title="score / %")
    dimensions = sorted({d for i in items for d in i["dimension_favourable"]})
    favourable = line_chart("Favourable rate by dimension, %", {
        d: percent_series([i["dimension_favourable"].get(d) for i in items], "percent")
        for d in dimensions}, dates, x_title="report date", y_title="%")
    return ReportPage(
        title="满意度趋势 Survey trend",
        slug=f"survey-trend-{period_from:%Y-%m-%d}-{period_to:%Y-%m-%d}",
        period_from=period_from, period_to=period_to,
        note="campaigns counted by the date they were planned",
        payload=_payload(period_from, period_to, items), rows=items,
        charts=[chart, favourable],
        columns=[Column("campaign", "调查 campaign"), Column("survey_type", "类型 type"),
                 Column("reported_at", "报告 reported", "instant"),
                 Column("overall_score", "总分 overall score", "score"),
                 Column("satisfaction_rate", "满意率 satisfaction rate", "percent"),
                 Column("loyalty", "忠诚度 loyalty", "percent"),
                 Column("favourable_rate", "好评率 favourable rate", "percent"),
                 Column("excluded_share", "剔除 excluded", "percent")])


def _payload(begin: datetime, end: datetime, items: Any) -> dict[str, Any]:
    return Report(period_from=begin, period_to=end, items=items).model_dump(mode="json")


@router.get("/exceptions/weekly", response_model=Report, response_class=Response)
def weekly_exceptions(request: Request, cases: CasesApp, actor: CurrentActor,
                      week: Annotated[str, Query(examples=["2026-W47"])],
                      department: str | None = None) -> Response:
    """RPT-1: general exceptions discovered in an ISO week, per department."""
    return respond(request, weekly_report(cases, request.app.state.reports, week, department))


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
    return respond(request, monthly_report(cases, request.app.state.reports, month))


@router.get("/departments", response_model=Report, response_class=Response)
def department_kpis(request: Request, cases: CasesApp, actor: CurrentActor,
                    period_from: Annotated[Instant, Query(alias="from")],
                    period_to: Annotated[Instant, Query(alias="to")]) -> Response:
    """RPT-2: per department, over exceptions discovered (corrective actions opened)
    in the period."""
    if period_to <= period_from:
        raise _bad("to", "'to' must be after 'from'")
    return respond(request, departments_report(request.app.state.reports, period_from,
                                               period_to))


@router.get("/surveys", response_model=Report, response_class=Response)
def survey_trend(request: Request, cases: CasesApp, actor: CurrentActor,
                 period_from: Annotated[Instant, Query(alias="from")],
                 period_to: Annotated[Instant, Query(alias="to")]) -> Response:
    """RPT-3: every reported campaign's KPIs in the period, oldest first."""
    if period_to <= period_from:
        raise _bad("to", "'to' must be after 'from'")
    return respond(request, surveys_report(cases, request.app.state.reports, period_from,
                                           period_to))


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
    items = monthly_items(request.app.state.reports.month_counts(begin, end))
    return _file(cases, actor, correlation_id, SummaryKind.MONTHLY, body.month,
                 None, begin, end, items, body.reason)


@router.get("/filings/{kind}/{period}", response_model=FilingView,
            responses=problem_responses(404))
def get_filing(kind: SummaryKind, period: str, cases: CasesApp, actor: CurrentActor,
               department: str | None = None) -> FilingView:
    """A filed summary: every submission, who and when, and the figures as filed."""
    return FilingView.of(cases.get_filing(kind, period, department))
