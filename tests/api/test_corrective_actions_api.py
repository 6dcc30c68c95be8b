"""Corrective actions over HTTP on SQLite and PostgreSQL: from an exception's review
through a key action to verified closure, with the link shown from both sides
(CA-SRC-1); a management-review action; roles enforced."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from domain.actors import Role
from tests.api.conftest import bearer
from tests.api.walk import CST, Walker


@pytest.fixture
def walk(client: TestClient, make_token, clock) -> Walker:
    return Walker(client, make_token, clock)


@pytest.mark.rule("CA-SRC-1")
def test_from_an_exception_review_to_a_verified_closure(walk: Walker, client: TestClient,
                                                        make_token) -> None:
    walk.at(datetime(2026, 10, 8, 9, 0))
    walk.open(level="major", discovered_at="2026-10-08T08:30:00+08:00",
              backdating_reason="the customer called the hotline before the case was entered")
    walk.report("cs_head")
    walk.respond("major")
    walk.investigate()
    walk.propose()
    walk.approve("major")
    walk.resolve()
    walk.feedback()
    walk.accept(True)
    reviewed = walk.review("major")
    [href] = reviewed["links"]["corrective_actions"]
    long = timedelta(days=3650)
    cs = bearer(make_token("qian", Role.CS_HEAD, ttl=long))
    impl = bearer(make_token("zhang", Role.IMPLEMENTATION, department="implementation",
                             ttl=long))
    action = client.get(href, headers=cs).json()
    assert (action["severity"], action["status"]) == ("key", "open")
    assert action["source_href"] == walk.location  # the link back (CA-SRC-1)

    def post(path: str, body: dict, who: dict, expect: int = 200) -> dict:
        response = client.post(f"{href}/{path}", json=body, headers=who)
        assert response.status_code == expect, (path, response.text)
        return response.json()

    post("assignment", {"unit": "implementation", "person": "zhang"}, cs)
    horizon = datetime(2026, 12, 31, 18, 0, tzinfo=CST).isoformat()
    too_far = datetime(2027, 3, 1, tzinfo=CST).isoformat()
    refused = post("plans", {"measures": ["stock parts"], "responsible_person": "zhang",
                             "horizon_end": too_far}, impl, expect=422)
    assert refused["errors"][0]["field"] == "horizon_end"
    post("plans", {"measures": ["stock parts"], "responsible_person": "zhang",
                   "horizon_end": horizon}, impl)
    post("plan-review", {"approved": True}, impl, expect=403)  # customer service reviews
    post("plan-review", {"approved": True}, cs)
    walk.clock.advance(timedelta(days=20))
    post("progress-evaluations", {"summary": "stock at 80 %", "effective": True}, impl)
    post("implementation", {"evidence": "local warehouse live"}, impl)
    early = post("closure", {}, cs, expect=409)
    assert early["missing_step"] == "verification"
    post("verification", {"effective": True, "revisited_at": walk.now(),
                          "notes": "customer confirms next-day parts"}, cs)
    closed = post("closure", {}, cs)
    assert closed["status"] == "closed"
    assert {o["rule"] for o in closed["obligations"]} >= {"CA-SEV-1", "CA-PLAN-1", "CA-PROG-1"}
    history = client.get(f"{href}/history", headers=cs).json()["items"]
    assert [e["type"] for e in history] == [
        "Opened", "Assigned", "PlanSubmitted", "PlanReviewed", "Evaluated", "Implemented",
        "Verified", "Closed"]


@pytest.mark.rule("CA-SEV-1")
def test_a_management_review_action_and_its_roles(client: TestClient, make_token) -> None:
    boss = bearer(make_token("boss", Role.MANAGEMENT))
    created = client.post("/v1/corrective-actions", headers=boss, json={
        "severity": "major", "title": "Spare-parts policy", "description": "late parts",
        "department": "after_sales", "review": "management review 2026-Q4"})
    assert created.status_code == 201, created.text
    assert created.json()["source"]["kind"] == "management_review"
    assert created.json()["source_href"] is None
    assert client.post("/v1/corrective-actions", headers=bearer(make_token("a", Role.AUDITOR)),
                       json={"severity": "key", "title": "x", "description": "y",
                             "department": "z", "review": "r"}).status_code == 403


def test_corrective_actions_and_surveys_are_listed_as_pages(
        client: TestClient, make_token, clock) -> None:
    from datetime import timedelta

    boss = bearer(make_token("boss", Role.MANAGEMENT))
    for title in ("first", "second", "third"):
        clock.advance(timedelta(minutes=1))
        created = client.post("/v1/corrective-actions", headers=boss, json={
            "severity": "key", "title": title, "description": "d",
            "department": "after_sales", "review": "r"})
        assert created.status_code == 201
    page = client.get("/v1/corrective-actions?limit=2", headers=boss).json()
    rest = client.get(f"/v1/corrective-actions?limit=2&cursor={page['next_cursor']}",
                      headers=boss).json()
    assert [a["title"] for a in page["items"] + rest["items"]] == ["third", "second", "first"]
    assert rest["next_cursor"] is None and page["items"][0]["href"].startswith(
        "/v1/corrective-actions/")
    assert client.get("/v1/corrective-actions?severity=major", headers=boss).json()[
        "items"] == []
    surveys = client.get("/v1/surveys", headers=boss).json()
    assert surveys == {"items": [], "next_cursor": None}
