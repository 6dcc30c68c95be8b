"""R6, the role matrix (EX-ROLE-1, SEC-AUTH-1): every call of the HTTP API x every role
gets the decision DOMAIN.md implies, and the level-dependent decisions of an exception
(who responds, approves, reviews) follow the case's level.

The expected table is written here from DOMAIN.md, independently of the code's own
role sets, and must name every operation the API publishes: a new endpoint without a
row fails the test until someone decides who may call it."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from application.app import CaseApplication
from domain.actors import Role
from domain.errors import DomainError, NotPermitted
from domain.service_exceptions.model import ServiceException
from domain.service_exceptions.values import Improvement, Level, Meeting, Milestone
from tests.api.conftest import bearer, stored_events
from tests.conftest import T0
from tests.factories import (
    ctx,
    feedback,
    investigate,
    propose,
    record,
    report_fully,
    resolve,
    start_response,
)

EVERYONE = frozenset(Role)
STAFF = EVERYONE - {Role.AUDITOR}
"""EX-ROLE-1: the auditor is read-only; every other role may take part in a case."""
LEADS = frozenset({Role.DEPARTMENT_HEAD, Role.CS_HEAD, Role.GROUP_LEADER})
"""The three handling levels' leads (EX-ESC-1, EX-RESP-1, EX-PLAN-1)."""
CUSTOMER_FACING = LEADS | {Role.FRONTLINE}
"""Who talks to the customer: resolution, feedback, acceptance (EX-FB-1)."""
SURVEY_ORGANISERS = frozenset({Role.FRONTLINE, Role.DEPARTMENT_HEAD, Role.CS_HEAD})
"""Customer service runs the survey campaigns (SV-*; 000 art. 5)."""
DIRECTORY_KEEPERS = SURVEY_ORGANISERS | {Role.SALES, Role.IMPLEMENTATION}
"""Who knows a customer and its completed service nodes (SV-TYPE-2)."""
CASE_FILE_READERS = LEADS | {Role.PRINCIPAL, Role.MANAGEMENT, Role.AUDITOR}
"""Whole case files and escalation compliance: leadership and the auditor (AUD-4)."""
HOLD_KEEPERS = frozenset({Role.LEGAL, Role.MANAGEMENT})
"""Legal holds (RET-2)."""

EXPECTED: dict[tuple[str, str], frozenset[Role]] = {
    # --- service exceptions (EX-*) ---
    ("POST", "/v1/exceptions"): STAFF,  # EX-REC-1: anyone who finds a problem records it
    ("POST", "/v1/exceptions/{case_id}/reports"): STAFF,  # EX-ESC-1
    ("POST", "/v1/exceptions/{case_id}/reclassification"): LEADS,  # EX-LVL-2
    ("POST", "/v1/exceptions/{case_id}/flags"): LEADS,  # EX-SPEC-1
    ("POST", "/v1/exceptions/{case_id}/responses"): LEADS,  # EX-RESP-1, by level below
    ("POST", "/v1/exceptions/{case_id}/investigations"): STAFF,  # EX-INV-1
    ("POST", "/v1/exceptions/{case_id}/legal-opinion"): frozenset({Role.LEGAL}),  # EX-SPEC-1
    ("POST", "/v1/exceptions/{case_id}/loss-assessment"):
        frozenset({Role.LEGAL, Role.FINANCE}),  # EX-SPEC-1 major_loss
    # EX-SPEC-2: legal (or the lead who negotiated) records a supplementary agreement;
    # finance and legal the recovery of a major loss; a lead who is stationed on site.
    ("POST", "/v1/exceptions/{case_id}/supplementary-agreement"):
        LEADS | {Role.LEGAL},
    ("POST", "/v1/exceptions/{case_id}/recovery"): frozenset({Role.LEGAL, Role.FINANCE}),
    ("POST", "/v1/exceptions/{case_id}/on-site"): LEADS,
    ("POST", "/v1/exceptions/{case_id}/plans"): STAFF,  # EX-PLAN-1: proposed by handlers
    # EX-PLAN-1: the level's lead; management decides a critical plan referred to it.
    ("POST", "/v1/exceptions/{case_id}/plans/{number}/approval"): LEADS | {Role.MANAGEMENT},
    ("POST", "/v1/exceptions/{case_id}/progress"): STAFF,  # EX-PROG-1
    ("POST", "/v1/exceptions/{case_id}/resolution"): CUSTOMER_FACING,  # EX-RES-1
    ("POST", "/v1/exceptions/{case_id}/feedback"): CUSTOMER_FACING,  # EX-FB-1
    ("POST", "/v1/exceptions/{case_id}/acceptance"): CUSTOMER_FACING,  # EX-FB-1
    ("POST", "/v1/exceptions/{case_id}/review"): LEADS,  # EX-REV-1, by level below
    # EX-SIGN-1: the level's owner; a critical summary is filed with management.
    ("POST", "/v1/exceptions/{case_id}/sign-off"):
        frozenset({Role.DEPARTMENT_HEAD, Role.CS_HEAD, Role.GROUP_LEADER, Role.MANAGEMENT}),
    ("POST", "/v1/exceptions/{case_id}/archive"): LEADS,  # EX-ARC-1
    ("POST", "/v1/exceptions/{case_id}/cancellation"): LEADS,  # EX-FLOW-1
    ("GET", "/v1/exceptions"): EVERYONE,
    ("GET", "/v1/exceptions/{case_id}"): EVERYONE,  # AUD-2 (contacts filtered: SEC-PII)
    ("GET", "/v1/exceptions/{case_id}/plans/{number}"): EVERYONE,
    ("GET", "/v1/exceptions/{case_id}/document"): EVERYONE,  # EX-FORM-1
    ("GET", "/v1/exceptions/{case_id}/history"): EVERYONE,  # AUD-2
    ("GET", "/v1/exceptions/{case_id}/verify"): EVERYONE,  # AUD-3
    ("GET", "/v1/exceptions/{case_id}/export"): CASE_FILE_READERS,  # AUD-4
    # --- survey campaigns (SV-*) ---
    ("POST", "/v1/surveys"): SURVEY_ORGANISERS,
    ("POST", "/v1/surveys/{case_id}/plan-approval"): frozenset({Role.MANAGEMENT}),
    # Sampling is the organisers'; overriding the sampling rules needs management.
    ("POST", "/v1/surveys/{case_id}/sample"): SURVEY_ORGANISERS | {Role.MANAGEMENT},
    **{("POST", f"/v1/surveys/{{case_id}}/{step}"): SURVEY_ORGANISERS
       for step in ("start", "dispatches", "reminders", "responses", "close", "cleaning",
                    "report", "findings")},
    ("POST", "/v1/surveys/{case_id}/call-backs"): SURVEY_ORGANISERS,  # SV-SAMPLE-2
    ("POST", "/v1/surveys/{case_id}/opinion-classes"): SURVEY_ORGANISERS,  # SV-TEXT-1
    ("POST", "/v1/surveys/{case_id}/ledger"): SURVEY_ORGANISERS,  # SV-LEDGER-1
    # SV-REVIEW-1: a flagged cleaning is decided by cs_head or management.
    ("POST", "/v1/surveys/{case_id}/cleaning-review"): frozenset({Role.CS_HEAD,
                                                                Role.MANAGEMENT}),
    ("POST", "/v1/surveys/new-service"): SURVEY_ORGANISERS | {Role.MANAGEMENT},  # SV-TYPE-4
    ("GET", "/v1/surveys"): EVERYONE,
    ("GET", "/v1/surveys/{case_id}"): EVERYONE,
    ("GET", "/v1/surveys/{case_id}/history"): EVERYONE,
    ("GET", "/v1/surveys/{case_id}/verify"): EVERYONE,
    ("GET", "/v1/surveys/{case_id}/document"): EVERYONE,  # SV-REP-1
    ("GET", "/v1/surveys/{case_id}/export"): CASE_FILE_READERS,
    # --- the customer directory ---
    ("POST", "/v1/customers"): DIRECTORY_KEEPERS,
    ("POST", "/v1/customers/{customer_id}/service-nodes"): DIRECTORY_KEEPERS,
    ("GET", "/v1/customers/{customer_id}"): EVERYONE,
    # --- corrective actions (CA-*): customer service steers, the unit does the work ---
    ("GET", "/v1/corrective-actions"): EVERYONE,  # filtered by department (SEC-AUTH-2)
    ("POST", "/v1/corrective-actions"):
        frozenset({Role.DEPARTMENT_HEAD, Role.CS_HEAD, Role.GROUP_LEADER, Role.MANAGEMENT}),
    ("POST", "/v1/corrective-actions/{case_id}/assignment"):
        frozenset({Role.CS_HEAD, Role.MANAGEMENT}),
    ("POST", "/v1/corrective-actions/{case_id}/plans"): STAFF,
    ("POST", "/v1/corrective-actions/{case_id}/plan-review"): frozenset({Role.CS_HEAD}),
    ("POST", "/v1/corrective-actions/{case_id}/progress-evaluations"): STAFF,
    ("POST", "/v1/corrective-actions/{case_id}/implementation"): STAFF,
    ("POST", "/v1/corrective-actions/{case_id}/verification"): frozenset({Role.CS_HEAD}),
    ("POST", "/v1/corrective-actions/{case_id}/closure"): frozenset({Role.CS_HEAD}),
    ("POST", "/v1/corrective-actions/{case_id}/reopening"): frozenset({Role.CS_HEAD}),
    ("GET", "/v1/corrective-actions/{case_id}"): EVERYONE,
    ("GET", "/v1/corrective-actions/{case_id}/history"): EVERYONE,
    ("GET", "/v1/corrective-actions/{case_id}/verify"): EVERYONE,
    ("GET", "/v1/corrective-actions/{case_id}/export"): CASE_FILE_READERS,
    # --- reports, obligations, audit, retention ---
    **{("GET", f"/v1/reports/{name}"): EVERYONE
       for name in ("exceptions/weekly", "exceptions/monthly", "departments", "surveys", "runs")},
    # EX-SIGN-1: the weekly summary by the department head (002 art. 9), the monthly
    # by cs_head (art. 10); what was filed is read like the reports.
    ("POST", "/v1/reports/exceptions/weekly/filing"): frozenset({Role.DEPARTMENT_HEAD}),
    ("POST", "/v1/reports/exceptions/monthly/filing"): frozenset({Role.CS_HEAD}),
    ("GET", "/v1/reports/filings/{kind}/{period}"): EVERYONE,
    ("GET", "/v1/library"): EVERYONE,  # EX-LIB-1: no personal data, shared for training
    ("GET", "/v1/obligations"): EVERYONE,  # SLA-*
    ("GET", "/v1/compliance/escalations"): CASE_FILE_READERS,  # RPT-2 for compliance
    ("GET", "/v1/audit"): frozenset({Role.AUDITOR}),  # AUD-3 across all cases
    ("GET", "/v1/audit/verify"): frozenset({Role.AUDITOR}),  # AUD-5: the whole store
    ("POST", "/v1/legal-holds"): HOLD_KEEPERS,  # RET-2
    ("DELETE", "/v1/legal-holds/{hold_id}"): HOLD_KEEPERS,
    ("GET", "/v1/retention"): HOLD_KEEPERS | {Role.AUDITOR},  # RET-1
}

UNAUTHENTICATED = {"/healthz", "/readyz", "/metrics"}
"""Probes and the Prometheus scrape: outside /v1, no case data."""


def operations(client: TestClient) -> list[tuple[str, str]]:
    return [(method.upper(), path) for path, ops in client.app.openapi()["paths"].items()
            for method in ops if path not in UNAUTHENTICATED]


@pytest.mark.rule("EX-ROLE-1")
@pytest.mark.rule("SEC-AUTH-1")
@pytest.mark.parametrize("store_settings", ["sqlite"], indirect=True)
def test_every_call_times_every_role_gets_the_decision_domain_md_implies(
        client: TestClient, make_token: Callable[..., str], cases: CaseApplication) -> None:
    published = operations(client)
    assert sorted(published) == sorted(EXPECTED), "the table must name every operation"
    before = stored_events(cases)
    wrong = []
    for method, path in published:
        url = re.sub(r"\{[^}]+\}", str(uuid.uuid4()), path)
        for role in Role:
            response = client.request(method, url, json={},
                                      headers=bearer(make_token("u", role)))
            permitted = role in EXPECTED[method, path]
            if (response.status_code == 403) == permitted or response.status_code >= 500:
                wrong.append(f"{method} {path} as {role.value}: {response.status_code}")
            if response.status_code == 403:
                assert response.headers["content-type"] == "application/problem+json"
    assert not wrong, "\n".join(wrong)
    assert stored_events(cases) == before, "a refused call recorded something"


# --- decisions that depend on the exception's level ------------------------------------

RESPOND = {Level.GENERAL: {Role.DEPARTMENT_HEAD}, Level.MAJOR: {Role.CS_HEAD},
           Level.CRITICAL: {Role.GROUP_LEADER}}  # EX-RESP-1
APPROVE = RESPOND  # EX-PLAN-1: department head / cs head / group leader
REVIEW = {Level.GENERAL: {Role.DEPARTMENT_HEAD},  # EX-REV-1: inside the department,
          Level.MAJOR: {Role.CS_HEAD, Role.GROUP_LEADER},  # else the handling group
          Level.CRITICAL: {Role.CS_HEAD, Role.GROUP_LEADER}}
SIGN = {Level.GENERAL: {Role.DEPARTMENT_HEAD}, Level.MAJOR: {Role.CS_HEAD},  # EX-SIGN-1:
        Level.CRITICAL: {Role.GROUP_LEADER}}  # first; management files it after


def _respond(case: ServiceException, role: Role) -> None:
    case.start_response(ctx(T0, role), handler="zhang.san", team_owner="zhang.san",
                        team_members=("li.si",),
                        milestones=(Milestone("site visit", T0 + timedelta(hours=8)),),
                        meeting=Meeting(T0, ("leader",), "emergency plan"))


def _approve(case: ServiceException, role: Role) -> None:
    case.decide_plan(ctx(T0, role), number=len(case.plans), approved=True)


def _review(case: ServiceException, role: Role) -> None:
    case.record_review(ctx(T0, role), root_cause="untested firmware", lessons="stage rollouts",
                       improvements=(Improvement("staged rollout", corrective_action=False),),
                       retrospective=Meeting(T0, ("leader",), "retrospective"))


def _reported(level: Level) -> ServiceException:
    case = record(ctx(T0), level=level)
    report_fully(case, T0)
    return case


def _planned(level: Level) -> ServiceException:
    case = _reported(level)
    start_response(case, T0)
    investigate(case, T0)
    propose(case, T0)
    return case


def _resolved(level: Level) -> ServiceException:
    case = _planned(level)
    _approve(case, next(iter(APPROVE[level])))
    resolve(case, T0)
    feedback(case, T0)
    if level is not Level.GENERAL:
        case.record_acceptance(ctx(T0), accepted=True, note="accepted")
    return case


def _reviewed(level: Level) -> ServiceException:
    case = _resolved(level)
    _review(case, next(iter(REVIEW[level])))
    return case


def _sign_off(case: ServiceException, role: Role) -> None:
    case.sign_off(ctx(T0, role))


@pytest.mark.rule("EX-ROLE-1")
@pytest.mark.parametrize("level", list(Level))
@pytest.mark.parametrize(("command", "prepare", "expected"), [
    pytest.param(_respond, _reported, RESPOND, id="EX-RESP-1 response"),
    pytest.param(_approve, _planned, APPROVE, id="EX-PLAN-1 plan approval"),
    pytest.param(_review, _resolved, REVIEW, id="EX-REV-1 review"),
    pytest.param(_sign_off, _reviewed, SIGN, id="EX-SIGN-1 sign-off"),
])
def test_level_dependent_decisions_follow_the_level(
        level: Level, command: Callable[[ServiceException, Role], None],
        prepare: Callable[[Level], ServiceException], expected: dict[Level, set[Role]]) -> None:
    decisions = {}
    for role in Role:
        case = prepare(level)
        try:
            command(case, role)
            decisions[role] = True
        except NotPermitted:
            decisions[role] = False
        except DomainError as e:  # any other refusal would hide the decision
            raise AssertionError(f"{role.value}: {e}") from e
    assert {role for role, allowed in decisions.items() if allowed} == expected[level]


# --- the department dimension (SEC-AUTH-2) ---------------------------------------------

@pytest.mark.rule("SEC-AUTH-2")
@pytest.mark.parametrize("store_settings", ["sqlite"], indirect=True)
def test_every_call_on_a_case_of_another_department_is_missing_to_a_scoped_role(
        client: TestClient, make_token: Callable[..., str], cases: CaseApplication) -> None:
    """Every published operation on one case, for every role, from a department that
    is not the case's: the roles scoped to their department get 404 (or their role's
    403, or 422 for a body that does not parse, which says nothing of the case);
    nothing is recorded. From the case's own department the same calls are never 404."""
    from domain.access import EVERY_DEPARTMENT
    from tests.factories import open_body

    cs = bearer(make_token("qian", Role.CS_HEAD))
    ids = {
        "exceptions": client.post("/v1/exceptions", headers=cs, json=open_body()),
        "corrective-actions": client.post("/v1/corrective-actions", headers=cs, json={
            "severity": "key", "title": "t", "description": "d", "department": "after_sales",
            "review": "r"}),
        "surveys": client.post("/v1/surveys", headers=cs, json={
            "survey_type": "quarterly", "title": "Q4", "department": "after_sales",
            "plan": {"goals": "g", "period_start": "2026-10-01", "period_end": "2026-12-31",
                     "scope": "s", "channels": ["online"], "owners": ["qian"],
                     "budget": "b"}}),
    }
    ids = {kind: created.json()["id"] for kind, created in ids.items()}
    before = stored_events(cases)
    wrong = []
    for method, path in operations(client):
        kind = path.split("/")[2]
        if "{case_id}" not in path or kind not in ids:
            continue
        url = path.replace("{case_id}", ids[kind]).replace("{number}", "1")
        for role in Role:
            if role in EVERY_DEPARTMENT:
                continue
            outside = client.request(method, url, json={}, headers=bearer(
                make_token("u", role, department="delivery")))
            if outside.status_code not in (403, 404, 422):
                wrong.append(f"{method} {path} as {role.value}: {outside.status_code}")
    assert not wrong, "\n".join(wrong)
    assert stored_events(cases) == before, "a call from outside recorded something"
    inside = client.get(f"/v1/exceptions/{ids['exceptions']}", headers=bearer(
        make_token("u", Role.FRONTLINE, department="after_sales")))
    assert inside.status_code == 200
