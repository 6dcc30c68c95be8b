"""SEC-IN-2, the inputs that gave 500s or were silently coerced, on both stores: each
is a 4xx problem naming what is wrong, and nothing is recorded."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from application.app import CaseApplication
from domain.actors import Role
from tests.api.conftest import bearer, stored_events
from tests.api.test_survey_api import Survey, start_campaign
from tests.factories import open_body

LONG = timedelta(days=3650)


@pytest.fixture
def frontline(make_token: Callable[..., str]) -> dict[str, str]:
    return bearer(make_token("li.wei", Role.FRONTLINE, Role.CS_HEAD, ttl=LONG))


def opened(client: TestClient, headers: dict[str, str]) -> str:
    created = client.post("/v1/exceptions", headers=headers, json=open_body())
    assert created.status_code == 201, created.text
    return created.headers["location"]


@pytest.mark.rule("SEC-IN-2")
@pytest.mark.parametrize(("method", "path", "body", "field"), [
    ("POST", "/v1/exceptions", open_body(title="cell\x00down"), "title"),
    ("POST", "/v1/exceptions", open_body(customer={
        "id": "C\x01", "name": "A", "key_account": True,
        "contact": {"name": "W", "phone": "123"}}), "customer.id"),
    ("POST", "/v1/exceptions", open_body(discovered_at="0001-01-01T00:00:00+14:00"),
     "discovered_at"),
    ("POST", "/v1/exceptions", open_body(discovered_at="9999-12-31T23:59:59-14:00"),
     "discovered_at"),
    ("POST", "/v1/customers", {"id": "C9", "name": "N", "key_account": True, "size": "key",
                               "region": "east", "first_contract": 0}, "first_contract"),
    ("POST", "/v1/customers", {"id": "C9", "name": "N", "key_account": 1, "size": "key",
                               "region": "east"}, "key_account"),
])
def test_sec_in_2_bad_bodies_are_422_naming_the_field(
        method: str, path: str, body: dict, field: str, client: TestClient,
        frontline: dict[str, str], cases: CaseApplication) -> None:
    before = stored_events(cases)
    response = client.request(method, path, json=body, headers=frontline)
    assert response.status_code == 422, response.text
    assert field in {e["field"] for e in response.json()["errors"]}
    assert stored_events(cases) == before


@pytest.mark.rule("SEC-IN-2")
@pytest.mark.parametrize("query", [
    "/v1/exceptions?opened_from=9999-12-31T23:59:59-14:00",
    "/v1/exceptions?opened_to=0001-01-01T00:00:00%2B14:00",
    "/v1/exceptions?department=after%00sales",
    "/v1/reports/exceptions/monthly?month=9999-12",
    "/v1/reports/exceptions/weekly?week=9999-W01",
])
def test_sec_in_2_bad_queries_are_422(query: str, client: TestClient,
                                      frontline: dict[str, str]) -> None:
    response = client.get(query, headers=frontline)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.rule("SEC-IN-2")
def test_sec_in_2_bad_headers_are_4xx_and_record_nothing(
        client: TestClient, frontline: dict[str, str], cases: CaseApplication) -> None:
    href = opened(client, frontline)
    before = stored_events(cases)
    report = {"reported_to": ["cs_head"], "details": "x",
              "reported_at": "2026-09-30T14:55:00+08:00"}
    huge = client.post(f"{href}/reports", json=report,
                       headers=frontline | {"If-Match": f'"{"9" * 4300}"'})
    assert huge.status_code == 422 and huge.json()["errors"][0]["field"] == "header.If-Match"
    spaced = client.post(f"{href}/reports", json=report,
                         headers=frontline | {"Idempotency-Key": "two words"})
    assert spaced.status_code == 422
    assert stored_events(cases) == before


@pytest.mark.rule("SEC-IN-2")
@pytest.mark.parametrize("answer", [True, False, 4.0])
def test_sec_in_2_a_boolean_or_a_float_is_not_a_score(
        answer: object, client: TestClient, make_token: Callable[..., str], clock,
        cases: CaseApplication) -> None:
    survey = Survey(client, make_token, clock)
    start_campaign(survey)
    before = stored_events(cases)
    refused = survey.respond("C0-a", expect=422, **survey.answers(market_staff=answer))
    assert any(e["field"].startswith("answers") for e in refused["errors"])
    assert stored_events(cases) == before


@pytest.mark.rule("SEC-IN-2")
def test_sec_in_2_csv_cells_never_become_formulas(
        client: TestClient, make_token: Callable[..., str], cases: CaseApplication) -> None:
    from projections.reports import ReportsProjection, construct_reports_view
    from projections.runtime import ViewRunner

    boss = bearer(make_token("boss", Role.MANAGEMENT, ttl=LONG))
    evil = '=HYPERLINK("http://attacker.example","x")'
    created = client.post("/v1/exceptions", headers=boss, json=open_body(department=evil))
    assert created.status_code == 201, created.text
    ViewRunner(cases, ReportsProjection(cases, construct_reports_view(cases))).catch_up()
    csv = client.get("/v1/reports/departments", headers=boss | {"Accept": "text/csv"}, params={
        "from": "2026-09-01T00:00:00+08:00", "to": "2026-11-01T00:00:00+08:00"}).text
    assert "'=HYPERLINK" in csv
    assert "\n=HYPERLINK" not in csv and ",=HYPERLINK" not in csv
