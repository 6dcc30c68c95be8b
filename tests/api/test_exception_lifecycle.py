"""A general, a major and a critical exception walked through their whole lifecycle
over HTTP, on SQLite and PostgreSQL, with the history showing every step and its
actor; bad input and wrong steps as problems that record nothing."""

from __future__ import annotations

from datetime import datetime

import pytest
from fastapi.testclient import TestClient

from application.app import CaseApplication
from infrastructure.clock import FrozenClock
from tests.api.conftest import bearer, stored_events
from tests.api.walk import CST, Walker
from tests.factories import open_body


@pytest.fixture
def walk(client: TestClient, make_token, clock: FrozenClock) -> Walker:
    return Walker(client, make_token, clock)


def steps(walk: Walker) -> list[tuple[str, str]]:
    return [(e["type"], e["actor"]["user"]) for e in walk.get("/history", "audit.1")["items"]]


def obligation_states(view: dict) -> dict[str, str]:
    return {o["key"]: o["state"] for o in view["obligations"]}


def test_ex_flow_1_a_general_exception_from_record_to_archive(walk: Walker) -> None:
    walk.at(datetime(2026, 9, 30, 15, 0))
    walk.open(level="general", discovered_at="2026-09-30T14:50:00+08:00")
    walk.report("department_head")
    walk.respond("general")
    walk.investigate()
    walk.propose()
    assert walk.approve("general")["status"] == "executing"
    walk.at(datetime(2026, 10, 8, 11, 0))
    assert walk.resolve()["status"] == "resolved"
    walk.feedback()
    walk.review("general")
    view = walk.archive("general")
    assert view["status"] == "archived"
    assert obligation_states(view) == {"EX-ESC-1@v1": "met", "EX-RES-1@v1": "met"}
    assert steps(walk) == [
        ("Recorded", "li.wei"), ("ReportedUp", "li.wei"), ("ResponseStarted", "zhao"),
        ("Investigated", "li.wei"), ("PlanProposed", "li.wei"), ("PlanApproved", "zhao"),
        ("Resolved", "li.wei"), ("FeedbackRecorded", "li.wei"), ("Reviewed", "zhao"),
        ("CorrectiveActionsOpened", "zhao"), ("SignedOff", "zhao"), ("Archived", "zhao")]
    assert len(view["links"]["corrective_actions"]) == 1  # the review asked for one
    closed = walk.post("reports", {"reported_to": ["department_head"],
                                   "reported_at": walk.now(), "details": "x"}, "li.wei", 409)
    assert closed["type"] == "urn:casetrail:problem:case-closed"


def test_ex_flow_1_a_major_exception_with_a_rejected_acceptance(walk: Walker) -> None:
    walk.at(datetime(2026, 10, 8, 9, 0))
    walk.open(level="major", discovered_at="2026-10-08T08:30:00+08:00",
              backdating_reason="the customer called the hotline before the case was entered")
    walk.report("cs_head")
    walk.respond("major")
    walk.investigate()
    walk.propose()
    wrong = walk.post("plans/1/approval", {"approved": True}, "zhao", expect=403)
    assert "cs_head" in wrong["detail"]
    walk.approve("major")
    walk.at(datetime(2026, 10, 9, 17, 0))
    walk.progress("report")
    walk.at(datetime(2026, 10, 10, 10, 0))  # Saturday, an adjusted working day
    walk.resolve()
    walk.feedback(satisfaction=2)
    reopened = walk.accept(False, "still stops twice a shift")
    assert reopened["status"] == "executing"
    walk.at(datetime(2026, 10, 10, 16, 0))
    walk.resolve()
    walk.feedback()
    walk.accept(True)
    walk.review("major")
    view = walk.archive("major")
    states = obligation_states(view)
    assert states["EX-ESC-1@v1"] == states["EX-PLAN-2@v1"] == states["EX-RES-1@v1"] == "met"
    assert states["EX-PROG-1@2026-10-09"] == "met"
    assert [t for t, _ in steps(walk)].count("Resolved") == 2
    assert ("AcceptanceRecorded", "li.wei") in steps(walk)


def test_ex_plan_1_a_critical_plan_put_before_management(walk: Walker) -> None:
    walk.at(datetime(2026, 10, 8, 9, 0))
    walk.open(level="critical", discovered_at="2026-10-08T08:50:00+08:00")
    walk.report("group_leader", "principal")
    walk.respond("critical")
    walk.investigate()
    walk.propose(final_due=datetime(2026, 10, 16, 18, 0, tzinfo=CST))
    walk.post("plans/1/approval", {"approved": True}, "feng", expect=403)
    referred = walk.post("plans/1/approval", {"approved": True, "refer_to_management": True},
                         "sun")
    assert referred["status"] != "executing"
    assert walk.get("/plans/1")["status"] == "referred"
    assert walk.get("/plans/1")["referred_by"] == "sun"
    walk.post("plans/1/approval", {"approved": True}, "sun", expect=403)
    approved = walk.post("plans/1/approval", {"approved": True}, "feng")
    assert approved["status"] == "executing"
    assert walk.get("/plans/1")["decided_by"] == "feng"


def test_ex_flow_1_a_critical_contract_dispute_through_its_retrospective(
        walk: Walker) -> None:
    walk.at(datetime(2026, 10, 8, 9, 0))
    walk.open(level="critical", discovered_at="2026-10-08T08:50:00+08:00",
              special=["contract_dispute"])
    after_one = walk.report("group_leader")
    assert not after_one["report_up_complete"]
    walk.report("principal")
    walk.respond("critical")
    walk.investigate()
    walk.propose(final_due=datetime(2026, 10, 16, 18, 0, tzinfo=CST))
    missing = walk.post("plans/1/approval", {"approved": True}, "sun", expect=409)
    assert missing["missing_step"] == "legal_opinion"
    walk.post("legal-opinion", {"opinion": "clause 9 limits liability"}, "wu")
    walk.approve("critical")
    walk.at(datetime(2026, 10, 9, 17, 30))
    walk.progress("meeting")
    walk.at(datetime(2026, 10, 9, 17, 45))
    walk.resolve()
    walk.feedback()
    walk.accept(True)
    walk.at(datetime(2026, 10, 30, 10, 0))
    walk.review("critical")
    view = walk.archive("critical")
    states = obligation_states(view)
    assert states["EX-REV-1@v11"] == "met"  # owed from the resolution, version 11
    assert states["EX-RES-1@v1"] == "met" and states["EX-ESC-1@v1"] == "met"
    retro = next(o for o in view["obligations"] if o["rule"] == "EX-REV-1")
    assert retro["due_at"] == "2026-11-09T16:00:00Z"  # end of 9 Nov CST, one month on
    assert ("LegalOpinionGiven", "wu") in steps(walk)
    assert view["links"]["history"].endswith("/history")


def test_ex_lvl_2_reclassification_over_http(walk: Walker) -> None:
    walk.at(datetime(2026, 9, 30, 15, 0))
    walk.open(level="general", discovered_at="2026-09-30T15:00:00+08:00")
    walk.at(datetime(2026, 9, 30, 15, 20))
    view = walk.post("reclassification", {"level": "critical", "reason": "line stopped"},
                     "zhao")
    states = obligation_states(view)
    assert states["EX-ESC-1@v1"] == states["EX-RES-1@v1"] == "void"
    escalation = next(o for o in view["obligations"] if o["key"] == "EX-ESC-1@v2")
    assert escalation["due_at"] == "2026-09-30T07:50:00Z"  # 15:20 + 30 min CST
    history = walk.get("/history", "audit.1")["items"]
    assert history[-1]["data"] == {"level": "critical", "previous": "general",
                                   "reason": "line stopped"}


# --- bad input: a clear problem, nothing recorded ---------------------------------------------

@pytest.mark.parametrize(("change", "field"), [
    ({"category": "weather"}, "category"),
    ({"level": "apocalyptic"}, "level"),
    ({"discovered_at": "2026-09-30T15:30:00+08:00"}, "discovered_at"),  # the future
    ({"customer": None}, "customer"),
    ({"special": ["haunted"]}, "special.0"),
])
def test_sec_in_1_bad_input_names_the_field_and_records_nothing(
        client: TestClient, make_token, cases: CaseApplication, change: dict,
        field: str) -> None:
    body = open_body(**change)
    if change.get("customer", 1) is None:
        del body["customer"]
    before = stored_events(cases)
    response = client.post("/v1/exceptions", json=body, headers=bearer(make_token()))
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert field in {e["field"] for e in response.json()["errors"]}
    assert stored_events(cases) == before


def test_ex_role_1_wrong_role_and_wrong_state_are_problems_recording_nothing(
        walk: Walker, cases: CaseApplication) -> None:
    walk.open(level="major")
    before = stored_events(cases)
    forbidden = walk.post("responses", {"handler": "x"}, "li.wei", expect=403)
    assert forbidden["type"] == "urn:casetrail:problem:forbidden"
    early = walk.post("responses", {"team_owner": "x", "team_members": ["y"],
                                    "milestones": []}, "qian", expect=409)
    assert early["missing_step"] == "report_up"
    assert early["type"] == "urn:casetrail:problem:step-missing"
    too_early = walk.post("resolution", {"summary": "done"}, "li.wei", expect=409)
    assert too_early["missing_step"] == "plan_approval"
    walk.report("cs_head")
    invalid = walk.post("responses", {"team_owner": "x"}, "qian", expect=422)
    assert invalid["errors"][0]["field"] == "team_members"
    assert walk.client.post(f"{walk.location}/plans/7/approval", json={"approved": True},
                            headers=bearer(walk.tokens["qian"])).status_code == 404
    assert stored_events(cases) == before + 1  # only the report


# --- search and paging ---------------------------------------------------------------------------

def test_search_filters_and_cursor_paging(walk: Walker, client: TestClient) -> None:
    for i, (level, department) in enumerate([("general", "after_sales"), ("major", "delivery"),
                                             ("major", "after_sales"), ("critical", "delivery"),
                                             ("general", "after_sales")]):
        walk.at(datetime(2026, 9, 30, 10, i))
        walk.open(level=level, department=department, title=f"case {i}",
                  discovered_at=f"2026-09-30T10:0{i}:00+08:00",
                  customer={"id": f"C-{i % 2}", "name": "ACME", "key_account": False,
                            "contact": {"name": "Wang"}})
    token = bearer(walk.tokens["audit.1"])
    majors = client.get("/v1/exceptions?level=major", headers=token).json()
    assert [e["title"] for e in majors["items"]] == ["case 2", "case 1"]
    assert client.get("/v1/exceptions?department=delivery&customer_id=C-1",
                      headers=token).json()["items"][0]["title"] == "case 3"
    titles, cursor = [], None
    while True:
        page = client.get("/v1/exceptions", params={"limit": 2, **(
            {"cursor": cursor} if cursor else {})}, headers=token).json()
        titles += [e["title"] for e in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert titles == ["case 4", "case 3", "case 2", "case 1", "case 0"]
    window = client.get("/v1/exceptions", params={
        "opened_from": "2026-09-30T10:01:00+08:00", "opened_to": "2026-09-30T10:03:00+08:00"},
        headers=token).json()
    assert [e["title"] for e in window["items"]] == ["case 2", "case 1"]
    bad = client.get("/v1/exceptions?cursor=not-a-cursor", headers=token)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "cursor"
    assert client.get("/v1/exceptions?limit=500", headers=token).status_code == 422
    reported = walk.report("department_head")
    assert client.get("/v1/exceptions?status=reported", headers=token).json()["items"][0][
        "id"] == reported["id"]


# --- closing documents (EX-FORM-1) ---------------------------------------------------------

@pytest.mark.parametrize(("level", "title"), [
    ("general", "一般客户服务异常处置记录表"), ("major", "较大客户服务异常处置报告"),
    ("critical", "重大客户服务异常处置总结报告")])
def test_ex_form_1_each_level_renders_its_own_closing_document(
        walk: Walker, client: TestClient, level: str, title: str) -> None:
    walk.open(level=level, title="Arm <script>alert(1)</script> | stopped")
    markdown = client.get(f"{walk.location}/document",
                          headers=bearer(walk.tokens["zhao"], Accept="text/markdown"))
    assert markdown.status_code == 200
    assert markdown.headers["content-type"].startswith("text/markdown")
    assert markdown.text.startswith(f"# {title}")
    assert "Wang Fang" in markdown.text
    html = client.get(f"{walk.location}/document",
                      headers=bearer(walk.tokens["audit.1"], Accept="text/html"))
    assert html.headers["content-type"].startswith("text/html")
    assert f"<h1>{title}</h1>" in html.text
    assert "<script>" not in html.text and "&lt;script&gt;" in html.text
    assert "<svg" in html.text and "Deadlines: hours allowed and taken" in html.text
    assert "Wang Fang" not in html.text and "withheld" in html.text
    refused = client.get(f"{walk.location}/document",
                         headers=bearer(walk.tokens["zhao"], Accept="application/pdf"))
    assert refused.status_code == 406
