"""SEC-AUTH-2 over HTTP on both stores: a case of another department is missing to the
roles scoped to their department, through every route that names it, and absent
from every list; the roles that see every department see it; a person the case
names (a handler, a responsible person or unit) sees it from anywhere."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from domain.access import EVERY_DEPARTMENT
from domain.actors import Role
from tests.api.conftest import bearer
from tests.factories import open_body

LONG = timedelta(days=3650)
SCOPED = [r for r in Role if r not in EVERY_DEPARTMENT]


@pytest.fixture
def cases_of_after_sales(client: TestClient, make_token: Callable[..., str]) -> dict[str, str]:
    """One case of each type, all in after_sales: type -> its path."""
    cs = bearer(make_token("qian", Role.CS_HEAD, ttl=LONG))
    exception = client.post("/v1/exceptions", headers=cs, json=open_body(level="general"))
    survey = client.post("/v1/surveys", headers=cs, json={
        "survey_type": "quarterly", "title": "Q4", "department": "after_sales",
        "plan": {"goals": "g", "period_start": "2026-10-01", "period_end": "2026-12-31",
                 "scope": "s", "channels": ["online"], "owners": ["qian"], "budget": "b"}})
    action = client.post("/v1/corrective-actions", headers=cs, json={
        "severity": "key", "title": "t", "description": "d", "department": "after_sales",
        "review": "r"})
    for created in (exception, survey, action):
        assert created.status_code == 201, created.text
    return {"exceptions": exception.headers["location"], "surveys": survey.headers["location"],
            "corrective-actions": action.headers["location"]}


def case_reads(client: TestClient, kind: str) -> list[str]:
    """Every GET the API publishes on one case of this type."""
    return [path for path, ops in client.app.openapi()["paths"].items()
            if "get" in ops and re.fullmatch(rf"/v1/{kind}/\{{case_id\}}(/[a-z-]+)?", path)]


@pytest.mark.rule("SEC-AUTH-2")
@pytest.mark.parametrize("kind", ["exceptions", "surveys", "corrective-actions"])
def test_sec_auth_2_another_departments_case_is_missing_through_every_read(
        kind: str, client: TestClient, make_token: Callable[..., str],
        cases_of_after_sales: dict[str, str]) -> None:
    href = cases_of_after_sales[kind]
    case_id = href.rsplit("/", 1)[1]
    reads = case_reads(client, kind)
    assert {"/v1/{kind}/{case_id}".replace("{kind}", kind)} < set(reads)
    wrong = []
    for role in Role:
        outsider = bearer(make_token("outsider", role, department="delivery", ttl=LONG))
        insider = bearer(make_token("insider", role, department="after_sales", ttl=LONG))
        for path in reads:
            url = path.replace("{case_id}", case_id)
            answer = client.get(url, headers=outsider).status_code
            own = client.get(url, headers=insider).status_code
            if role in EVERY_DEPARTMENT and answer != own:
                wrong.append(f"{role.value} {url}: {answer}, own department {own}")
            if role not in EVERY_DEPARTMENT and answer not in (403, 404):
                wrong.append(f"{role.value} {url}: {answer} out of scope")
            if role not in EVERY_DEPARTMENT and answer == 404 and own == 404:
                wrong.append(f"{role.value} {url}: 404 in its own department too")
        listed = client.get(f"/v1/{kind}", headers=outsider)
        if listed.status_code == 200:
            body = listed.json()
            items = body["items"] if isinstance(body, dict) else body
            if role not in EVERY_DEPARTMENT and any(i["id"] == case_id for i in items):
                wrong.append(f"{role.value} lists another department's case")
    assert not wrong, "\n".join(wrong)


@pytest.mark.rule("SEC-AUTH-2")
def test_sec_auth_2_commands_on_another_departments_case_are_404_and_record_nothing(
        client: TestClient, make_token: Callable[..., str],
        cases_of_after_sales: dict[str, str]) -> None:
    href = cases_of_after_sales["exceptions"]
    head = bearer(make_token("dh", Role.DEPARTMENT_HEAD, department="delivery", ttl=LONG))
    own = bearer(make_token("dh", Role.DEPARTMENT_HEAD, department="after_sales", ttl=LONG))
    downgrade = {"level": "general", "reason": "not that bad"}
    for path, body in (("reports", {"reported_to": ["department_head"], "details": "x",
                                    "reported_at": "2026-09-30T14:55:00+08:00"}),
                       ("reclassification", downgrade), ("flags", {"special": [], "reason": "r"})):
        refused = client.post(f"{href}/{path}", headers=head, json=body)
        assert refused.status_code == 404, (path, refused.text)
        assert refused.json()["detail"] == f"no exception {href.rsplit('/', 1)[1]}"
    assert client.get(href, headers=own).json()["version"] == 1


@pytest.mark.rule("SEC-AUTH-2")
def test_sec_auth_2_a_person_the_case_names_sees_it_from_another_department(
        client: TestClient, make_token: Callable[..., str],
        cases_of_after_sales: dict[str, str]) -> None:
    boss = bearer(make_token("boss", Role.MANAGEMENT, ttl=LONG))
    action = cases_of_after_sales["corrective-actions"]
    unit = bearer(make_token("someone", Role.IMPLEMENTATION, department="delivery", ttl=LONG))
    person = bearer(make_token("zhang", Role.RND, department="rnd", ttl=LONG))
    assert client.get(action, headers=unit).status_code == 404
    assert client.get(action, headers=person).status_code == 404
    assigned = client.post(f"{action}/assignment", headers=boss,
                           json={"unit": "delivery", "person": "zhang"})
    assert assigned.status_code == 200, assigned.text
    assert client.get(action, headers=unit).status_code == 200  # the responsible unit
    assert client.get(action, headers=person).status_code == 200  # the responsible person


@pytest.mark.rule("SEC-AUTH-2")
def test_sec_auth_2_obligations_compliance_and_reports_are_filtered(
        client: TestClient, make_token: Callable[..., str], cases,
        cases_of_after_sales: dict[str, str]) -> None:
    from projections.obligations import ObligationsProjection, construct_view
    from projections.reports import ReportsProjection, construct_reports_view
    from projections.runtime import ViewRunner

    ViewRunner(cases, ObligationsProjection(cases, construct_view(cases)),
               ReportsProjection(cases, construct_reports_view(cases))).catch_up()
    period = {"from": "2026-09-01T00:00:00+08:00", "to": "2026-11-01T00:00:00+08:00"}
    seen = {}
    for department in ("after_sales", "delivery"):
        head = bearer(make_token("dh", Role.DEPARTMENT_HEAD, department=department, ttl=LONG))
        seen[department] = (
            len(client.get("/v1/obligations", headers=head).json()["items"]),
            len(client.get("/v1/compliance/escalations", headers=head,
                           params=period).json()["tallies"]),
            client.get("/v1/reports/departments", headers=head, params=period).json())
    assert seen["after_sales"][0] > 0 and seen["after_sales"][1] > 0
    assert seen["delivery"][:2] == (0, 0)
    assert "after_sales" in str(seen["after_sales"][2])
    assert "after_sales" not in str(seen["delivery"][2])
