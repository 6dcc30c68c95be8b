"""The web console under `/console`: a read-only view, for people, of the same
application and rules as the API. Server-rendered (Jinja2, plain forms and links,
no script), signed in with the deployment's identity (see `auth.py`), scoped as the
API is (SEC-AUTH-2).

- Auditors: search cases of all three types; a case's timeline (every event with
  its actor and role, recorded and business instants, backdating marked, breaches
  and warnings), its state and obligations as of any instant (AUD-2), the
  verification of its chain against the signed checkpoint (AUD-5), its export.
- Managers: the weekly and monthly exception reports, department KPIs and the
  survey trend, each with its period, as a page that prints on A4 and as CSV.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import quote, urlencode
from uuid import UUID

from fastapi import APIRouter, Depends, FastAPI, Form, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from api.console.auth import COOKIE, FLOW_COOKIE, ConsoleAuth, Session
from api.models.common import jsonable
from api.problems import ApiProblem
from api.rendering import csv_response, render
from api.routers import reports
from api.routers.audit import EXPORTERS, entries, export
from application.access import current_scope
from application.app import CaseApplication
from application.case_index import SearchFilters
from domain.access import Scope
from domain.cases import Case
from domain.corrective_actions import CorrectiveAction
from domain.errors import CaseNotFound
from domain.obligations import ObligationState
from domain.service_exceptions.model import ServiceException
from domain.surveys.campaign import SurveyCampaign
from infrastructure.tokens import InvalidToken

router = APIRouter(prefix="/console", include_in_schema=False)
CASE_TYPES: dict[str, type[Case]] = {"exception": ServiceException,
                                     "corrective_action": CorrectiveAction,
                                     "survey": SurveyCampaign}
TYPE_NAMES = {"exception": "服务异常 service exception",
              "corrective_action": "整改 corrective action",
              "survey": "满意度调查 survey campaign"}
MARKED = {"ObligationBreached": "breach", "ObligationWarned": "warning"}


class SignInRequired(Exception):
    def __init__(self, next_path: str) -> None:
        self.next_path = next_path


def _auth(request: Request) -> ConsoleAuth:
    return request.app.state.console  # type: ignore[no-any-return]


async def _session(request: Request) -> Session:
    session = _auth(request).session(request.cookies.get(COOKIE))
    if session is None:
        raise SignInRequired(request.url.path + (f"?{request.url.query}"
                                                 if request.url.query else ""))
    request.state.user = session.actor.user
    current_scope.set(Scope.of(session.actor))  # SEC-AUTH-2, as in the API
    return session


Signed = Annotated[Session, Depends(_session)]


def _cases(request: Request) -> CaseApplication:
    return request.app.state.cases  # type: ignore[no-any-return]


def _page(request: Request, template: str, session: Session | None, code: int = 200,
          **context: Any) -> HTMLResponse:
    zone = _cases(request).calendar.zone
    return HTMLResponse(render(
        f"console/{template}", session=session, zone=zone,
        csrf=_auth(request).csrf(session) if session else "",
        local=lambda at: at.astimezone(zone).strftime("%Y-%m-%d %H:%M %z") if at else "—",
        **context), status_code=code)


def _safe_next(path: str | None) -> str:
    """Only a page of the console: never a redirect elsewhere."""
    return path if path and path.startswith("/console") and "//" not in path else "/console"


def _signed_in(actor: Any, request: Request, next_path: str | None) -> RedirectResponse:
    response = RedirectResponse(_safe_next(next_path), status_code=303)
    auth = _auth(request)
    response.set_cookie(COOKIE, auth.session_cookie(actor), httponly=True, secure=True,
                        samesite="lax", path="/console",
                        max_age=int(auth.session_ttl.total_seconds()))
    response.delete_cookie(FLOW_COOKIE, path="/console")
    return response


# --- signing in and out -------------------------------------------------------------

@router.get("/sign-in")
def sign_in(request: Request, token: str | None = None,
            next: Annotated[str | None, Query(alias="next")] = None) -> Response:
    auth = _auth(request)
    if token:
        try:
            actor = auth.redeem(token, _cases(request).index.redeem_link)  # type: ignore[attr-defined]
        except InvalidToken as e:
            return _page(request, "sign_in.html", None, 400, error=str(e), oidc=False)
        return _signed_in(actor, request, next)
    if auth.provider is not None:
        location, flow = auth.authorization()
        response = RedirectResponse(location, status_code=303)
        response.set_cookie(FLOW_COOKIE, flow, httponly=True, secure=True, samesite="lax",
                            path="/console", max_age=600)
        return response
    return _page(request, "sign_in.html", None, error=None, oidc=False)


@router.get("/oidc/callback")
def oidc_callback(request: Request, code: str = "", state: str = "",
                  error: str | None = None) -> Response:
    auth = _auth(request)
    if auth.provider is None:
        return RedirectResponse("/console/sign-in", status_code=303)
    try:
        if error:
            raise InvalidToken(f"the identity provider says: {error}")
        actor = auth.complete(request.cookies.get(FLOW_COOKIE), state, code)
    except InvalidToken as e:
        return _page(request, "sign_in.html", None, 400, error=str(e), oidc=True)
    return _signed_in(actor, request, "/console")


@router.post("/sign-out")
def sign_out(request: Request, session: Signed,
             csrf: Annotated[str | None, Form()] = None) -> Response:
    if not _auth(request).csrf_ok(session, csrf):
        return _page(request, "home.html", session, 403,
                     error="the form has expired: reload the page and try again")
    response = RedirectResponse("/console/sign-in", status_code=303)
    response.delete_cookie(COOKIE, path="/console")
    return response


@router.get("")
def home(request: Request, session: Signed) -> HTMLResponse:
    return _page(request, "home.html", session, error=None)


# --- cases (auditors) ----------------------------------------------------------------

@router.get("/cases")
def search(request: Request, session: Signed, type: str = "exception",
           status: str = "", department: str = "", id: str = "",
           cursor: str | None = None) -> Response:
    if id.strip():
        try:
            return RedirectResponse(f"/console/cases/{UUID(id.strip())}", status_code=303)
        except ValueError:
            return _search_page(request, session, type, status, department, None,
                                error=f"{id!r} is not a case id (a UUID)")
    return _search_page(request, session, type, status, department, cursor)


def _search_page(request: Request, session: Session, case_type: str, status: str,
                 department: str, cursor: str | None, error: str | None = None) -> HTMLResponse:
    if case_type not in CASE_TYPES:
        case_type, error = "exception", f"no case type {case_type!r}"
    page = _cases(request).search(SearchFilters(
        case_type=case_type, status=status or None, department=department or None),
        25, cursor)
    more = None if page.next_cursor is None else "/console/cases?" + urlencode(
        {"type": case_type, "status": status, "department": department,
         "cursor": page.next_cursor})
    return _page(request, "cases.html", session, 422 if error else 200, error=error,
                 items=page.items, case_type=case_type, status=status,
                 department=department, types=TYPE_NAMES, more=more)


@dataclass(frozen=True)
class TimelineRow:
    version: int
    type: str
    actor: str
    recorded_at: datetime
    occurred_at: datetime | None
    backdated: list[str]
    backdating_reason: str | None
    mark: str
    after: bool
    """Recorded after the as-of instant: not yet known then."""


def _instant(text: str, zone: Any) -> datetime:
    """A datetime-local field (the company's time) or an ISO instant with offset."""
    value = datetime.fromisoformat(text.strip())
    return value.replace(tzinfo=zone) if value.tzinfo is None else value


@router.get("/cases/{case_id}")
def case_page(request: Request, case_id: UUID, session: Signed, as_of: str = "",
              verify: bool = False) -> Response:
    cases = _cases(request)
    zone = cases.calendar.zone
    try:
        current = cases.get_case(Case, case_id)
    except CaseNotFound:
        return _page(request, "not_found.html", session, 404, case_id=case_id)
    case_type = type(current)
    instant, error, state, code = None, None, current, 200
    if as_of.strip():
        try:
            instant = _instant(as_of, zone)
            state = cases.get_case_as_of(case_type, case_id, instant)
        except ValueError:
            error, code = f"{as_of!r} is not a date and time", 422
        except CaseNotFound:
            state, error = None, f"the case did not exist yet at {instant:%Y-%m-%d %H:%M %z}"
    at = instant or cases.clock.now()
    rows = [TimelineRow(
        version=entry["version"], type=entry["type"], recorded_at=entry["recorded_at"],
        occurred_at=entry["occurred_at"], backdated=entry["backdated"],
        backdating_reason=entry["backdating_reason"], mark=MARKED.get(entry["type"], ""),
        actor=f"{entry['actor']['user']} ({', '.join(entry['actor']['roles'])})",
        after=instant is not None and entry["recorded_at"] > instant)
        for entry in entries(cases.stored_history(case_type, case_id), case_type,
                             reveal_contact=False)]
    obligations = [] if state is None else [
        (o, o.state_at(at)) for o in cases.obligations(state, at)]
    verification = (request.app.state.checkpoints.verify_case(cases, case_id)
                    if verify else None)
    return _page(
        request, "case.html", session, code, case=current, state=state,
        case_type=case_type.case_type, type_name=TYPE_NAMES[case_type.case_type],
        rows=rows, obligations=obligations, at=at, as_of=instant, error=error,
        as_of_value=(instant or at).astimezone(zone).strftime("%Y-%m-%dT%H:%M"),
        state_json=None if state is None else jsonable(
            {k: v for k, v in vars(state).items() if not k.startswith("_")},
            reveal_contact=False),
        verification=verification, may_export=session.actor.has_any(*EXPORTERS),
        ObligationState=ObligationState)


@router.get("/cases/{case_id}/export")
def case_export(request: Request, case_id: UUID, session: Signed) -> Response:
    if not session.actor.has_any(*EXPORTERS):
        return _page(request, "home.html", session, 403,
                     error="exporting a case file needs an auditor's or a manager's role")
    cases = _cases(request)
    case_type = type(cases.get_case(Case, case_id))
    exported = export(request.app.state.checkpoints, cases, case_type, case_id,
                      reveal_contact=False)
    return JSONResponse(exported.model_dump(mode="json"), headers={
        "Content-Disposition": f'attachment; filename="case-{case_id}.json"'})


# --- reports (managers) ---------------------------------------------------------------

def _today(request: Request) -> date:
    cases = _cases(request)
    return cases.clock.now().astimezone(cases.calendar.zone).date()


def _day(cases: CaseApplication, text: str) -> datetime:
    day = date.fromisoformat(text)
    return datetime(day.year, day.month, day.day, tzinfo=cases.calendar.zone)


@router.get("/reports")
def report_index(request: Request, session: Signed) -> HTMLResponse:
    return _report_index(request, session)


def _report_index(request: Request, session: Session, error: str | None = None) -> HTMLResponse:
    today = _today(request)
    last_week = today - timedelta(days=today.weekday() + 7)
    year, week, _ = last_week.isocalendar()
    month_start = (today.replace(day=1) - timedelta(days=1)).replace(day=1)
    return _page(request, "reports.html", session, 422 if error else 200, error=error,
                 week=f"{year}-W{week:02d}", month=f"{month_start:%Y-%m}",
                 month_from=month_start.isoformat(),
                 month_to=today.replace(day=1).isoformat(),
                 year_from=today.replace(year=today.year - 1, day=1).isoformat(),
                 today=today.isoformat())


def _report(request: Request, session: Session, build: Any, fmt: str) -> Response:
    try:
        report = build()
    except (ApiProblem, ValueError) as e:
        return _report_index(request, session, getattr(e, "detail", None) or str(e))
    if fmt == "csv":
        return csv_response(report)
    csv_link = f"{request.url.path}?" + urlencode(
        [*((k, v) for k, v in request.query_params.items() if k != "format"),
         ("format", "csv")])
    return _page(request, "report.html", session, report=report, csv_link=csv_link)


@router.get("/reports/weekly")
def weekly(request: Request, session: Signed, week: str, department: str = "",
           format: str = "html") -> Response:
    cases = _cases(request)
    return _report(request, session, lambda: reports.weekly_report(
        cases, request.app.state.reports, week, department or None), format)


@router.get("/reports/monthly")
def monthly(request: Request, session: Signed, month: str,
            format: str = "html") -> Response:
    cases = _cases(request)
    return _report(request, session, lambda: reports.monthly_report(
        cases, request.app.state.reports, month), format)


def _period(cases: CaseApplication, start: str, end: str) -> tuple[datetime, datetime]:
    begin, finish = _day(cases, start), _day(cases, end)
    if finish <= begin:
        raise ValueError("the period must end after it starts")
    return begin, finish


@router.get("/reports/departments")
def department_kpis(request: Request, session: Signed,
                    period_from: Annotated[str, Query(alias="from")],
                    period_to: Annotated[str, Query(alias="to")],
                    format: str = "html") -> Response:
    cases = _cases(request)
    return _report(request, session, lambda: reports.departments_report(
        request.app.state.reports, *_period(cases, period_from, period_to)), format)


@router.get("/reports/surveys")
def survey_trend(request: Request, session: Signed,
                 period_from: Annotated[str, Query(alias="from")],
                 period_to: Annotated[str, Query(alias="to")],
                 format: str = "html") -> Response:
    cases = _cases(request)
    return _report(request, session, lambda: reports.surveys_report(
        cases, request.app.state.reports, *_period(cases, period_from, period_to)), format)


def install(app: FastAPI, auth: ConsoleAuth) -> None:
    app.state.console = auth
    app.include_router(router)

    @app.exception_handler(SignInRequired)
    async def _to_sign_in(request: Request, exc: SignInRequired) -> Response:
        return RedirectResponse(f"/console/sign-in?next={quote(exc.next_path)}",
                                status_code=303)
