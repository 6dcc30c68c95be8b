"""GET /v1/obligations (SLA-1) and GET /v1/compliance/escalations (SLA-4) over HTTP."""

from __future__ import annotations

from datetime import datetime

import pytest
from fastapi.testclient import TestClient

from application.app import CaseApplication
from application.sla import sweep
from projections.obligations import ObligationsProjection, construct_view
from projections.runtime import ViewRunner
from tests.api.conftest import bearer
from tests.api.walk import Walker
from tests.factories import open_body


@pytest.fixture
def walk(client: TestClient, make_token, clock) -> Walker:
    return Walker(client, make_token, clock)


def catch_up_and_sweep(cases: CaseApplication) -> None:
    view = construct_view(cases)
    runner = ViewRunner(cases, ObligationsProjection(cases, view))
    runner.catch_up()
    sweep(cases, view)
    runner.catch_up()


def test_sla_1_obligations_listed_by_state_rule_and_subject(
        walk: Walker, client: TestClient, cases: CaseApplication) -> None:
    walk.at(datetime(2026, 10, 8, 9, 0))
    late = walk.open(level="critical", discovered_at="2026-10-08T08:00:00+08:00",
                     backdating_reason="the customer called before the case was entered")
    on_time = walk.open(level="general", discovered_at="2026-10-08T08:55:00+08:00")
    walk.report("department_head")
    catch_up_and_sweep(cases)
    token = bearer(walk.tokens["audit.1"])
    breached = client.get("/v1/obligations?state=breached", headers=token).json()["items"]
    assert [(o["subject"], o["key"]) for o in breached] == [(late["id"], "EX-ESC-1@v1")]
    assert breached[0]["breach_event"] == f"{late['id']}/2"
    assert breached[0]["due_at"] == "2026-10-08T00:30:00Z"
    met = client.get("/v1/obligations", params={"state": "met", "rule": "EX-ESC-1"},
                     headers=token).json()["items"]
    assert [o["subject"] for o in met] == [on_time["id"]]
    mine = client.get("/v1/obligations", params={"subject": on_time["id"]},
                      headers=token).json()["items"]
    assert {o["rule"] for o in mine} == {"EX-ESC-1", "EX-RES-1"}
    page = client.get("/v1/obligations?limit=1", headers=token).json()
    second = client.get("/v1/obligations", params={"limit": 1, "cursor": page["next_cursor"]},
                        headers=token).json()
    assert page["items"][0]["key"] != second["items"][0]["key"] or \
        page["items"][0]["subject"] != second["items"][0]["subject"]
    assert client.get("/v1/obligations?state=late", headers=token).status_code == 422
    # The case view shows the breach on record too.
    view = client.get(f"/v1/exceptions/{late['id']}", headers=token).json()
    assert view["obligations"][0]["breach_version"] == 2


def test_sla_4_escalation_compliance_per_level_and_department_with_evidence(
        walk: Walker, client: TestClient, cases: CaseApplication) -> None:
    walk.at(datetime(2026, 10, 8, 9, 0))
    for department, discovered in (("after_sales", "08:50"), ("after_sales", "07:30"),
                                   ("delivery", "08:59")):
        who = "li.wei" if department == "after_sales" else "he"
        walk.open(who, level="general", department=department,
                  discovered_at=f"2026-10-08T{discovered}:00+08:00",
                  backdating_reason="the customer called the hotline before the case was entered")
        walk.report("department_head", as_user=who)
    catch_up_and_sweep(cases)
    auditor = bearer(walk.tokens["audit.1"])
    report = client.get("/v1/compliance/escalations", headers=auditor, params={
        "from": "2026-10-08T00:00:00+08:00", "to": "2026-10-09T00:00:00+08:00"}).json()
    tallies = {(t["department"], t["rule"]): t for t in report["tallies"]}
    after_sales = tallies[("after_sales", "EX-ESC-1")]
    assert (after_sales["met_on_time"], after_sales["breached"]) == (1, 1)
    assert after_sales["on_time_share"] == 0.5
    assert tallies[("delivery", "EX-ESC-1")]["on_time_share"] == 1.0
    [breach] = report["breaches"]
    assert breach["rule"] == "EX-ESC-1" and breach["department"] == "after_sales"
    assert breach["due_at"] == "2026-10-08T00:30:00Z"
    assert breach["actual_at"] == "2026-10-08T01:00:00Z"
    assert breach["breach_event"].endswith("/3") and breach["met_by_event"].endswith("/2")
    assert "li.wei" in breach["responsible"]
    only_delivery = client.get("/v1/compliance/escalations", headers=auditor, params={
        "from": "2026-10-08T00:00:00+08:00", "to": "2026-10-09T00:00:00+08:00",
        "department": "delivery"}).json()
    assert {t["department"] for t in only_delivery["tallies"]} == {"delivery"}
    assert client.get("/v1/compliance/escalations", headers=bearer(walk.tokens["li.wei"]),
                      params={"from": "2026-10-08T00:00:00Z", "to": "2026-10-09T00:00:00Z"}
                      ).status_code == 403
    backwards = client.get("/v1/compliance/escalations", headers=auditor, params={
        "from": "2026-10-09T00:00:00Z", "to": "2026-10-08T00:00:00Z"})
    assert backwards.status_code == 422


def test_sla_4_a_late_escalation_stays_in_the_figures_after_the_case_is_reclassified(
        walk: Walker, client: TestClient, cases: CaseApplication) -> None:
    walk.at(datetime(2026, 10, 8, 9, 0))
    walk.open(level="general", discovered_at="2026-10-08T09:00:00+08:00")  # due 10:00
    walk.at(datetime(2026, 10, 8, 10, 30))
    walk.post("reclassification", {"level": "major", "reason": "production slowed"}, "zhao")
    catch_up_and_sweep(cases)
    report = client.get("/v1/compliance/escalations", headers=bearer(walk.tokens["audit.1"]),
                        params={"from": "2026-10-08T00:00:00+08:00",
                                "to": "2026-10-09T00:00:00+08:00"}).json()
    tallies = {(t["level"], t["rule"]): t for t in report["tallies"]}
    assert tallies[("general", "EX-ESC-1")]["breached"] == 1
    [breach] = report["breaches"]
    assert (breach["level"], breach["due_at"]) == ("general", "2026-10-08T02:00:00Z")


def test_sla_4_nothing_due_in_the_period_is_an_empty_report(client: TestClient,
                                                           make_token) -> None:
    from domain.actors import Role

    response = client.get("/v1/compliance/escalations",
                          headers=bearer(make_token("audit.1", Role.AUDITOR)),
                          params={"from": "2020-01-01T00:00:00Z", "to": "2020-02-01T00:00:00Z"})
    assert response.status_code == 200
    assert response.json()["tallies"] == [] and response.json()["breaches"] == []




@pytest.mark.rule("EX-REC-2")
def test_ex_rec_2_a_report_backdated_a_month_is_met_on_claim_recorded_late_never_on_time(
        walk: Walker, client: TestClient, cases: CaseApplication) -> None:
    """Discovered 2026-11-02 10:00 CST, recorded and reported up on 2026-12-02 with
    claims of the month before: the claims need a reason, the events are marked, and
    compliance for 2026-11-02 shows the report as met on claim, recorded late."""
    walk.at(datetime(2026, 12, 2, 10, 0))
    refused = client.post("/v1/exceptions", headers=bearer(walk.tokens["li.wei"]),
                          json=open_body(level="general",
                                         discovered_at="2026-11-02T10:00:00+08:00"))
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "backdating_reason"
    assert client.get("/v1/exceptions", headers=bearer(walk.tokens["audit.1"])
                      ).json()["items"] == []  # nothing recorded
    walk.open(level="general", discovered_at="2026-11-02T10:00:00+08:00",
              backdating_reason="paper complaint found in the branch's mail")
    report = {"reported_to": ["department_head"], "reported_at": "2026-11-02T11:00:00+08:00",
              "details": "cell 3 down"}
    walk.post("reports", report, "li.wei", expect=422)
    within = walk.get()
    assert within["version"] == 1  # the refused report recorded nothing
    view = walk.post("reports", report | {"backdating_reason": "reported by phone then"},
                     "li.wei")
    [esc] = [o for o in view["obligations"] if o["rule"] == "EX-ESC-1"]
    assert esc["state"] == "met_recorded_late"
    assert (esc["met_at"], esc["met_recorded_at"]) == ("2026-11-02T03:00:00Z",
                                                       "2026-12-02T02:00:00Z")
    history = walk.get("/history", "audit.1")["items"]
    assert [(h["backdated"], h["backdating_reason"]) for h in history] == [
        (["discovered_at"], "paper complaint found in the branch's mail"),
        (["reported_at"], "reported by phone then")]
    catch_up_and_sweep(cases)
    compliance = client.get("/v1/compliance/escalations", headers=bearer(walk.tokens["audit.1"]),
                            params={"from": "2026-11-02T00:00:00+08:00",
                                    "to": "2026-11-03T00:00:00+08:00"}).json()
    [tally] = [t for t in compliance["tallies"] if t["rule"] == "EX-ESC-1"]
    assert (tally["met_on_time"], tally["met_recorded_late"], tally["on_time_share"]) == (
        0, 1, 0.0)
    [late] = compliance["recorded_late"]
    assert (late["claimed_at"], late["recorded_at"], late["due_at"]) == (
        "2026-11-02T03:00:00Z", "2026-12-02T02:00:00Z", "2026-11-02T03:00:00Z")
    listed = client.get("/v1/obligations?state=met_recorded_late",
                        headers=bearer(walk.tokens["audit.1"])).json()["items"]
    assert [o["met_recorded_at"] for o in listed] == ["2026-12-02T02:00:00Z"]
