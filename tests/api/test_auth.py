"""SEC-AUTH-1 through HTTP: 401 without a valid token, 403 for the wrong role,
the actor taken from the token and never from the body."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient

from domain.actors import Role
from infrastructure.clock import FrozenClock
from tests.api.conftest import bearer, stored_events
from tests.factories import open_body

PROBLEM = "application/problem+json"


def test_sec_auth_1_no_token_is_a_401_problem(client: TestClient) -> None:
    response = client.post("/v1/exceptions", json=open_body())
    assert response.status_code == 401
    assert response.headers["content-type"] == PROBLEM
    assert response.headers["www-authenticate"].startswith("Bearer")
    body = response.json()
    assert (body["status"], body["type"]) == (401, "urn:casetrail:problem:unauthorized")
    assert client.get("/v1/exceptions/00000000-0000-0000-0000-000000000000").status_code == 401


def test_sec_auth_1_garbage_or_expired_tokens_are_401(client: TestClient, make_token,
                                                      clock: FrozenClock) -> None:
    assert client.post("/v1/exceptions", json=open_body(),
                       headers=bearer("not.a.jwt")).status_code == 401
    token = make_token(ttl=timedelta(minutes=5))
    clock.advance(timedelta(minutes=6))
    response = client.post("/v1/exceptions", json=open_body(), headers=bearer(token))
    assert response.status_code == 401
    assert "expired" in response.json()["detail"]


def test_ex_role_1_an_auditor_may_read_but_not_record(client: TestClient, make_token,
                                                      cases) -> None:
    auditor = make_token("audit.1", Role.AUDITOR)
    before = stored_events(cases)
    response = client.post("/v1/exceptions", json=open_body(), headers=bearer(auditor))
    assert response.status_code == 403
    assert response.headers["content-type"] == PROBLEM
    assert "frontline" in response.json()["detail"]
    assert stored_events(cases) == before
    created = client.post("/v1/exceptions", json=open_body(), headers=bearer(make_token()))
    read = client.get(created.headers["location"], headers=bearer(auditor))
    assert read.status_code == 200


def test_sec_auth_1_the_actor_comes_from_the_token_not_the_body(client: TestClient,
                                                                make_token) -> None:
    smuggled = client.post("/v1/exceptions", json=open_body(reporter="the.ceo"),
                           headers=bearer(make_token("li.wei")))
    assert smuggled.status_code == 422
    assert smuggled.json()["errors"][0]["field"] == "reporter"
    created = client.post("/v1/exceptions", json=open_body(), headers=bearer(make_token("li.wei")))
    assert created.json()["reporter"] == "li.wei"
    history = client.get(f"{created.headers['location']}/history",
                         headers=bearer(make_token("li.wei")))
    assert history.json()["items"][0]["actor"] == {"user": "li.wei", "roles": ["frontline"]}


def test_sec_pii_contact_details_only_for_roles_that_handle_the_case(
        client: TestClient, make_token) -> None:
    created = client.post("/v1/exceptions", json=open_body(), headers=bearer(make_token()))
    location = created.headers["location"]
    assert created.json()["customer"]["contact"]["phone"] == "+86 138 0000 0000"
    auditor = bearer(make_token("audit.1", Role.AUDITOR))
    assert client.get(location, headers=auditor).json()["customer"]["contact"] is None
    history = client.get(f"{location}/history", headers=auditor).text
    assert "138 0000" not in history and "wang.fang" not in history
