"""A quarterly campaign over HTTP on SQLite and PostgreSQL, from plan to report: a
sample that fails its check then is fixed, dispatch, reminders with an advanced
clock, responses, cleaning with KPIs, a finding that opens a linked exception;
and bad input refused with nothing recorded."""

from __future__ import annotations

from datetime import datetime, timedelta
from fractions import Fraction
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from application.app import CaseApplication
from domain.actors import Role
from domain.surveys.questionnaire import DEFAULT_PERIODIC
from infrastructure.clock import FrozenClock
from tests.api.conftest import bearer, stored_events

CST = ZoneInfo("Asia/Shanghai")
CUSTOMERS = [{"id": f"C{i}", "key_account": i < 2, "size": "key" if i < 2 else "sme",
              "tenure": "old" if i % 2 else "new", "region": "east", "scenario": "after_sales"}
             for i in range(5)]
FRAME = {"active": CUSTOMERS, "override_reason": "the directory is not loaded yet"}
"""A frame of active customers given by the caller: management's, with a reason."""


class Survey:
    def __init__(self, client: TestClient, make_token, clock: FrozenClock) -> None:
        self.client, self.clock = client, clock
        long = timedelta(days=3650)
        self.cs = bearer(make_token("qian", Role.CS_HEAD, ttl=long))
        self.boss = bearer(make_token("boss", Role.MANAGEMENT, ttl=long))
        self.location = ""

    def at(self, *args: int) -> None:
        self.clock.set(datetime(*args, tzinfo=CST))  # type: ignore[misc]

    def post(self, path: str, body: dict, headers: dict | None = None, expect: int = 200):
        response = self.client.post(f"{self.location}/{path}" if path else "/v1/surveys",
                                    json=body, headers=headers or self.cs)
        assert response.status_code == expect, (path, response.text)
        return response.json()

    def answers(self, base: int = 4, **overrides) -> dict:
        return {key: base + (i % 2) if base < 5 else base
                for i, key in enumerate(DEFAULT_PERIODIC.item_keys)} | overrides

    def respond(self, respondent: str, expect: int = 201, seconds: int = 300, **answers):
        submitted = self.clock.now()
        return self.post("responses", {
            "respondent": respondent,
            "started_at": (submitted - timedelta(seconds=seconds)).isoformat(),
            "submitted_at": submitted.isoformat(),
            "answers": answers or self.answers()}, expect=expect)


@pytest.fixture
def survey(client: TestClient, make_token, clock: FrozenClock) -> Survey:
    return Survey(client, make_token, clock)


def start_campaign(s: Survey) -> None:
    s.at(2026, 10, 8, 9, 0)
    created = s.client.post("/v1/surveys", headers=s.cs, json={
        "survey_type": "quarterly", "title": "Q4 2026 satisfaction",
        "plan": {"goals": "measure Q4", "period_start": "2026-10-01",
                 "period_end": "2026-12-31", "scope": "Q4 customers",
                 "channels": ["online", "phone"], "owners": ["qian"], "budget": "CNY 20k"}})
    assert created.status_code == 201, created.text
    s.location = created.headers["location"]
    s.post("plan-approval", {}, headers=s.boss)
    s.post("sample", FRAME | {"sample": ["C0", "C1", "C2", "C3", "C4"]}, headers=s.boss)
    s.post("start", {})
    s.post("dispatches", {"recipients": [
        {"respondent": f"C{i}-a", "customer_id": f"C{i}", "key_account": i < 2,
         "respondent_class": "A", "channel": "online", "delegated": i == 4}
        for i in range(5)]})


@pytest.mark.rule("SV-DISP-1")
def test_a_quarterly_campaign_from_plan_to_report(survey: Survey, client: TestClient,
                                                  cases: CaseApplication) -> None:
    s = survey
    s.at(2026, 10, 8, 9, 0)
    created = client.post("/v1/surveys", headers=s.cs, json={
        "survey_type": "quarterly", "title": "Q4 2026 satisfaction",
        "plan": {"goals": "measure Q4", "period_start": "2026-10-01",
                 "period_end": "2026-12-31", "scope": "Q4 customers",
                 "channels": ["online", "phone"], "owners": ["qian"], "budget": "CNY 20k"}})
    assert created.status_code == 201
    s.location = created.headers["location"]
    plan_due = next(o for o in created.json()["obligations"] if o["rule"] == "SV-PLAN-1")
    assert plan_due["due_at"] == "2026-10-13T10:00:00Z"  # 5th working day of Q4, 18:00 CST
    s.post("plan-approval", {}, headers=s.boss)
    own = s.post("sample", {"active": CUSTOMERS, "sample": ["C0", "C1", "C2", "C3", "C4"]},
                 expect=422)  # SV-SAMPLE-1: the frame is the directory's unless overridden
    assert own["errors"][0]["field"] == "active"
    s.post("sample", FRAME | {"sample": ["C0", "C1", "C2", "C3", "C4"]}, headers=s.boss)
    s.post("start", {})
    s.post("dispatches", {"recipients": [
        {"respondent": f"C{i}-a", "customer_id": f"C{i}", "key_account": i < 2,
         "respondent_class": "A", "channel": "online", "delegated": i == 4}
        for i in range(5)]})
    # Silent for 3 working days (9th, Saturday 10th, 12th): follow-ups owed by the 13th.
    s.at(2026, 10, 13, 10, 0)
    view = s.client.get(s.location, headers=s.cs).json()
    follow_ups = [o for o in view["obligations"] if o["key"].endswith("/follow-up")]
    assert len(follow_ups) == 5 and {o["state"] for o in follow_ups} == {"pending"}
    for i in range(5):
        s.post("reminders", {"respondent": f"C{i}-a", "kind": "phone_follow_up"})
    s.at(2026, 10, 15, 10, 0)
    for i in range(4):
        s.respond(f"C{i}-a")
    # C4 is very dissatisfied: 54 points over 14 items, 77.1 out of 100.
    s.respond("C4-a", **s.answers(price=1, operating_stability=1, performance=2))
    finding = s.post("findings", {
        "respondent": "C4-a", "category": "after_sales", "level": "major",
        "title": "Customer very dissatisfied with price and stability",
        "description": "survey answer", "service_step": "after_sales_visit",
        "department": "after_sales",
        "customer": {"id": "C4", "name": "Delta Automation", "key_account": False,
                     "contact": {"name": "Zhou Min"}}}, expect=201)
    [exception_id] = finding["linked_exceptions"]
    exception = client.get(f"/v1/exceptions/{exception_id}", headers=s.cs)
    assert exception.status_code == 200 and exception.json()["level"] == "major"
    s.at(2026, 10, 20, 18, 0)
    s.post("close", {})
    s.at(2026, 10, 22, 10, 0)
    cleaned = s.post("cleaning", {"exclusions": {"C3-a": "contradictory"}, "seed": 7})
    result = cleaned["cleaning"]
    assert result["customers_surveyed"] == 4 and result["flagged_for_review"]
    assert result["call_backs"] == ["C4#1"] and result["call_back_seed"] == 7
    # SV-KPI-4: decimals with units, the exact fraction alongside
    assert result["satisfaction_rate"] == {"value": 75.0, "unit": "percent", "exact": "75"}
    assert result["response_rate"] == {"value": 100.0, "unit": "percent", "exact": "100"}
    assert result["customer_scores"]["C4"] == {"value": 77.1429, "unit": "points",
                                               "exact": "540/7"}
    assert set(result["item_favourable"]) == set(DEFAULT_PERIODIC.item_keys)
    assert result["dimension_favourable"]["product"]["unit"] == "percent"
    assert result["kpi_targets_met"] == {"satisfaction_rate": False, "loyalty": False}
    # Three findings (two 1s, one 2); the top 20 % is one: a 1, ranked by item.
    assert [f["item"] for f in result["tracked_findings"]] == ["operating_stability"]
    assert [f["item"] for f in result["notices"]] == ["price", "performance"]
    assert result["excluded_share"]["exact"] == "20" and cleaned["review_pending"]
    s.at(2026, 10, 23, 16, 0)
    uncalled = s.post("report", {"summary": "Q4: price is the issue"}, expect=409)
    assert uncalled["missing_step"] == "call_backs"  # SV-SAMPLE-2
    called = s.post("call-backs", {"respondent": "C4-a", "confirmed": True})
    assert called["call_backs_pending"] == [] and called["call_back_results"][0]["confirmed"]
    unreviewed = s.post("report", {"summary": "Q4: price is the issue"}, expect=409)
    assert unreviewed["missing_step"] == "cleaning_review"  # SV-REVIEW-1
    s.post("cleaning-review", {"decision": "accept", "reason": "C3 contradicts itself"},
           headers=s.boss)
    reported = s.post("report", {"summary": "Q4: price is the issue"})
    assert reported["status"] == "reported"
    document = client.get(f"{s.location}/document", headers=s.cs).text
    assert "- Excluded: 1 (20.0 %) — flagged for review" in document
    assert "- Review boss, 2026-10-23: accept — C3 contradicts itself" in document
    states = {o["key"]: o["state"] for o in reported["obligations"]}
    assert states["SV-PLAN-1"] == "met" and states["SV-DISP-1"] == "met"
    assert states["SV-CLOSE-1/cleaning"] == states["SV-CLOSE-1/report"] == "met"
    assert states["SV-CLOSE-1/process"] == "met"
    history = client.get(f"{s.location}/history", headers=s.cs).json()["items"]
    assert [e["type"] for e in history][-6:] == [
        "Closed", "Cleaned", "CorrectiveActionsOpened", "CalledBack", "CleaningReviewed",
        "Reported"]
    [action_id] = reported["corrective_actions"]  # the tracked finding, CA-SRC-1
    action = client.get(f"/v1/corrective-actions/{action_id}", headers=s.cs)
    assert action.status_code == 200
    assert action.json()["source"]["case_id"] == reported["id"]
    assert action.json()["source_href"] == s.location
    assert client.get(f"{s.location}/verify", headers=s.cs).json()["ok"]


@pytest.mark.rule("SV-VALID-1")
def test_bad_survey_input_is_refused_and_records_nothing(
        survey: Survey, cases: CaseApplication) -> None:
    s = survey
    start_campaign(s)
    s.at(2026, 10, 9, 10, 0)
    before = stored_events(cases)
    for bad in (s.answers(price=0), s.answers(price=6), s.answers(colour=3),
                s.answers(price=True)):  # a boolean is not a score
        problem = s.respond("C0-a", expect=422, **bad)
        assert problem["type"] == "urn:casetrail:problem:validation"
        assert problem["errors"][0]["field"].startswith("answers.")
    assert s.respond("nobody", expect=422)["errors"][0]["field"] == "respondent"
    assert stored_events(cases) == before
    s.respond("C0-a")
    duplicate = s.respond("C0-a", expect=422)
    assert "already answered" in duplicate["detail"]
    s.post("close", {})
    after_close = s.respond("C1-a", expect=409)
    assert after_close["type"] == "urn:casetrail:problem:wrong-state"
    assert stored_events(cases) == before + 2  # the one response and the close
    forbidden = s.post("plan-approval", {}, expect=403)
    assert forbidden["status"] == 403


@pytest.mark.rule("SV-KPI-4")
def test_sv_kpi_4_dispatch_cannot_restate_who_is_a_key_account(
        survey: Survey, cases: CaseApplication) -> None:
    """The probe as filed: C1 sent as a non-key account and C4 as one were accepted,
    changing the favourable rate. The frame (CUSTOMERS) says C1 is, C4 is not."""
    s = survey
    start_campaign(s)
    before = stored_events(cases)
    for i, wrong in ((1, False), (4, True)):
        problem = s.post("dispatches", {"recipients": [
            {"respondent": f"C{i}-b", "customer_id": f"C{i}", "key_account": wrong,
             "respondent_class": "B", "channel": "online"}]}, expect=422)
        assert problem["errors"][0]["field"] == "recipients.0.key_account"
    assert stored_events(cases) == before
    s.post("dispatches", {"recipients": [{"respondent": "C1-b", "customer_id": "C1",
                                          "respondent_class": "B", "channel": "online"}]})
    s.at(2026, 10, 8, 8, 0)  # an answer that starts before the campaign did
    early = s.respond("C1-b", expect=422, seconds=60)
    assert early["errors"][0]["field"] == "started_at"


@pytest.mark.rule("SV-KPI-1")
def test_sample_from_the_directory_and_kpis_versus_the_previous_campaign(
        survey: Survey, client: TestClient) -> None:
    s = survey
    s.at(2026, 10, 8, 9, 0)
    for i in range(3):
        assert client.post("/v1/customers", headers=s.cs, json={
            "id": f"C{i}", "name": f"Customer {i}", "key_account": i == 0,
            "size": "key" if i == 0 else "sme", "region": "east",
            "first_contract": "2020-01-01"}).status_code == 201
        assert client.post(f"/v1/customers/C{i}/service-nodes", headers=s.cs, json={
            "node_type": "after_sales_visit", "completed_at": "2026-10-08T08:00:00+08:00",
            "reference": f"V{i}"}).status_code == 201

    def run_campaign(title: str, base: int) -> dict:
        created = client.post("/v1/surveys", headers=s.cs, json={
            "survey_type": "quarterly", "title": title,
            "plan": {"goals": "g", "period_start": "2026-10-01", "period_end": "2026-12-31",
                     "scope": "s", "channels": ["online"], "owners": ["qian"],
                     "budget": "b"}})
        s.location = created.headers["location"]
        s.post("plan-approval", {}, headers=s.boss)
        sampled = s.post("sample", {"sample": ["C0", "C1", "C2"]})  # active from the directory
        assert sampled["sample_spread"]["size"] == {"key": 1, "sme": 2}
        s.post("start", {})
        s.post("dispatches", {"recipients": [
            {"respondent": f"C{i}-a", "customer_id": f"C{i}", "key_account": i == 0,
             "respondent_class": "A", "channel": "online"} for i in range(3)]})
        s.clock.advance(timedelta(minutes=10))  # answers start after the campaign did
        for i in range(3):
            s.respond(f"C{i}-a", **s.answers(base))
        s.post("close", {})
        cleaned = s.post("cleaning", {})
        s.post("report", {"summary": title})
        s.clock.advance(timedelta(days=1))
        return cleaned

    first = run_campaign("Q4 first", 4)
    assert first["cleaning"]["previous_campaign"] is None
    missing = s.post("sample", {"sample": ["C0"]}, expect=409)  # reported: no resampling
    assert missing["status"] == 409
    second = run_campaign("Q4 second", 3)
    assert second["cleaning"]["previous_campaign"] == first["id"]
    assert second["cleaning"]["previous_overall_score"] == first["cleaning"]["overall_score"]
    assert Fraction(second["cleaning"]["overall_score"]["exact"]) < Fraction(
        first["cleaning"]["overall_score"]["exact"])


@pytest.mark.rule("RPT-3")
def test_rpt_3_the_survey_trend_and_the_report_endpoints(
        survey: Survey, client: TestClient, cases: CaseApplication) -> None:
    from projections.reports import ReportsProjection, construct_reports_view
    from projections.runtime import ViewRunner

    test_sample_from_the_directory_and_kpis_versus_the_previous_campaign(survey, client)
    ViewRunner(cases, ReportsProjection(cases, construct_reports_view(cases))).catch_up()
    trend = client.get("/v1/reports/surveys", headers=survey.cs, params={
        "from": "2026-10-01T00:00:00+08:00", "to": "2027-01-01T00:00:00+08:00"}).json()
    scores = [Fraction(i["overall_score"]) for i in trend["items"]]
    assert len(scores) == 2 and scores[1] < scores[0]
    assert [i["excluded_share"] for i in trend["items"]] == ["0", "0"]  # SV-REVIEW-1
    favourable = [i["dimension_favourable"] for i in trend["items"]]  # SV-KPI-4 trend
    assert set(favourable[0]) == {"personnel", "service", "product", "technology"}
    assert Fraction(favourable[1]["product"]) < Fraction(favourable[0]["product"])
    page = client.get("/v1/reports/surveys", headers=survey.cs | {"Accept": "text/html"},
                      params={"from": "2026-10-01T00:00:00+08:00",
                              "to": "2027-01-01T00:00:00+08:00"}).text
    assert "Favourable rate by dimension, %" in page and page.count("<svg") >= 2
    assert client.get("/v1/reports/exceptions/weekly?week=2026-W99",
                      headers=survey.cs).status_code == 422
    assert client.get("/v1/reports/exceptions/monthly?month=2026-13",
                      headers=survey.cs).status_code == 422
    weekly = client.get("/v1/reports/exceptions/weekly?week=2026-W41", headers=survey.cs)
    assert weekly.status_code == 200 and weekly.json()["items"] == []
    departments = client.get("/v1/reports/departments", headers=survey.cs, params={
        "from": "2026-10-01T00:00:00+08:00", "to": "2027-01-01T00:00:00+08:00"})
    assert departments.status_code == 200


@pytest.mark.rule("SV-REP-1")
def test_sv_rep_1_the_analysis_report_as_markdown_and_html_with_a_chart(
        survey: Survey, client: TestClient) -> None:
    test_a_quarterly_campaign_from_plan_to_report(survey, client, None)  # type: ignore[arg-type]
    markdown = client.get(f"{survey.location}/document", headers=survey.cs)
    assert markdown.headers["content-type"].startswith("text/markdown")
    text = markdown.text
    assert text.startswith("# 客户满意度分析报告 — Q4 2026 satisfaction")
    for section in ("Scope", "Sample", "Process", "Scores", "customer type", "Core problems",
                    "Suggestions", "Proposed actions", "Summary"):
        assert section in text
    assert "operating\\_stability scored 1 by C4" in text  # Markdown-escaped
    assert "Satisfaction rate: 75.0 %" in text
    html = client.get(f"{survey.location}/document",
                      headers={**survey.cs, "Accept": "text/html"}).text
    assert "<svg" in html and "Score by dimension" in html and "<script" not in html
    exported = client.get(f"{survey.location}/export", headers=survey.cs).json()
    assert exported["documents"]["closing.md"] == text


@pytest.mark.rule("RET-4")
def test_ret_4_respondents_are_named_by_the_campaign_and_erased_with_their_customer(
        survey: Survey, cases: CaseApplication) -> None:
    """The organiser names each person; the campaign names them `<customer>#<n>`,
    keeps the person's name sealed under the customer's key, and its figures do not
    change when that customer is erased."""
    from uuid import UUID

    from domain.surveys.campaign import SurveyCampaign

    s = survey
    start_campaign(s)  # respondents C0-a … C4-a
    s.post("dispatches", {"recipients": [  # the same person again keeps their name
        {"respondent": "C0-a", "customer_id": "C0", "key_account": True,
         "respondent_class": "A", "channel": "phone"}]})
    s.at(2026, 10, 15, 10, 0)
    for i in range(5):
        s.respond(f"C{i}#1" if i % 2 else f"C{i}-a")  # by the campaign's name or their own
    s.at(2026, 10, 20, 18, 0)
    s.post("close", {})
    s.at(2026, 10, 22, 10, 0)
    before = s.post("cleaning", {"exclusions": {"C3-a": "contradictory"}, "seed": 7})
    assert before["cleaning"]["valid"] == ["C0#1", "C1#1", "C2#1", "C4#1"]
    campaign_id = UUID(s.location.rsplit("/", 1)[1])
    stored = b"".join(r.state for r in cases.stored_records(campaign_id)[0])
    assert b"C0-a" not in stored and b"C4-a" not in stored

    cases.keys.destroy("C4")  # type: ignore[attr-defined]
    campaign = cases.get_case(SurveyCampaign, campaign_id)
    assert campaign.recipients["C4#1"].name == "[erased]"
    assert campaign.recipients["C0#1"].name == "C0-a"
    after = s.client.get(s.location, headers=s.cs).json()
    assert after["cleaning"] == before["cleaning"] and after["responses"] == 5


def finding_body(respondent: str, customer: str, **extra) -> dict:
    return {"respondent": respondent, "category": "after_sales", "level": "major",
            "title": "very dissatisfied", "description": "survey answer",
            "service_step": "after_sales_visit", "department": "after_sales",
            "customer": {"id": customer, "name": f"Customer {customer}", "key_account": False,
                         "contact": {"name": "Zhou Min"}}} | extra


@pytest.mark.rule("SV-FIND-1")
def test_sv_find_1_a_very_dissatisfied_answer_prompts_a_linked_exception(
        survey: Survey, client: TestClient, cases: CaseApplication) -> None:
    s = survey
    start_campaign(s)
    s.at(2026, 10, 9, 10, 0)  # a Friday
    s.respond("C0-a")  # satisfied
    answered = s.respond("C4-a", **s.answers(price=1))
    assert answered["exceptions_due"] == ["C4#1"]
    prompt = next(o for o in answered["obligations"] if o["key"] == "SV-FIND-1@C4#1")
    assert prompt["state"] == "pending"
    assert prompt["due_at"] == "2026-10-10T10:00:00Z"  # Saturday 10 October is worked
    before = stored_events(cases)
    content = s.post("findings", finding_body("C0-a", "C0"), expect=422)
    assert content["errors"][0]["field"] == "respondent"  # C0 is not dissatisfied
    other = s.post("findings", finding_body("C4-a", "C3"), expect=422)
    assert other["errors"][0]["field"] == "customer.id"  # C4 answered for C4
    assert stored_events(cases) == before
    created = client.post(f"{s.location}/findings", json=finding_body("C4-a", "C4"),
                          headers=s.cs)
    assert created.status_code == 201, created.text
    view = created.json()
    [exception_id] = view["linked_exceptions"]
    assert created.headers["location"] == f"/v1/exceptions/{exception_id}"
    assert created.headers["content-location"] == s.location  # the body and ETag are it
    assert created.headers["etag"] == f'"{view["version"]}"'
    assert view["exceptions_due"] == []
    met = next(o for o in view["obligations"] if o["key"] == "SV-FIND-1@C4#1")
    assert met["state"] == "met"
    exception = client.get(f"/v1/exceptions/{exception_id}", headers=s.cs).json()
    assert exception["links"]["survey"] == s.location
    flaw = s.post("findings", finding_body("C0-a", "C0", serious_flaw="engineer was rude"),
                  expect=201)
    assert len(flaw["linked_exceptions"]) == 2


@pytest.mark.rule("SV-FIND-1")
def test_sv_find_1_no_finding_once_the_campaign_is_reported(survey: Survey) -> None:
    s = survey
    start_campaign(s)
    s.at(2026, 10, 9, 10, 0)
    for i in range(4):
        s.respond(f"C{i}-a")
    s.respond("C4-a", **s.answers(price=2))
    s.post("close", {})
    s.post("cleaning", {"seed": 1})
    s.post("call-backs", {"respondent": "C4-a", "confirmed": True})  # C4 was delegated
    s.post("report", {"summary": "Q4"})
    late = s.post("findings", finding_body("C4-a", "C4"), expect=409)
    assert late["type"] == "urn:casetrail:problem:wrong-state"


@pytest.mark.rule("SV-KPI-4")
def test_sv_kpi_4_a_caller_s_frame_cannot_change_who_is_a_key_account(
        survey: Survey, client: TestClient) -> None:
    """Even in a frame management allowed, the directory says who is a key account."""
    s = survey
    s.at(2026, 10, 8, 9, 0)
    assert client.post("/v1/customers", headers=s.cs, json={
        "id": "C0", "name": "Customer 0", "key_account": True, "size": "key",
        "region": "east", "first_contract": "2020-01-01"}).status_code == 201
    created = client.post("/v1/surveys", headers=s.cs, json={
        "survey_type": "quarterly", "title": "Q4",
        "plan": {"goals": "g", "period_start": "2026-10-01", "period_end": "2026-12-31",
                 "scope": "s", "channels": ["online"], "owners": ["qian"], "budget": "b"}})
    s.location = created.headers["location"]
    s.post("plan-approval", {}, headers=s.boss)
    demoted = [c | {"key_account": False} for c in CUSTOMERS]  # C0 restated as non-key
    s.post("sample", FRAME | {"active": demoted, "sample": [c["id"] for c in CUSTOMERS]},
           headers=s.boss)
    s.post("start", {})
    refused = s.post("dispatches", {"recipients": [
        {"respondent": "C0-a", "customer_id": "C0", "key_account": False,
         "respondent_class": "A", "channel": "online"}]}, expect=422)
    assert refused["errors"][0]["field"] == "recipients.0.key_account"


@pytest.mark.rule("SV-TEXT-1")
def test_sv_text_1_opinions_are_sealed_classified_and_reported_by_category(
        survey: Survey, client: TestClient, cases: CaseApplication) -> None:
    s = survey
    start_campaign(s)
    s.at(2026, 10, 9, 10, 0)
    said = {"C0": [("improvement", "备件交付太慢 spare parts arrive late"),
                   ("wished_service", "remote diagnostics")],
            "C1": [("most_satisfied", "installation team was careful")],
            "C4": [("improvement", "price of the annual service contract")]}
    blank = s.post("responses", {
        "respondent": "C2-a", "started_at": "2026-10-09T01:55:00Z",
        "submitted_at": "2026-10-09T02:00:00Z", "answers": s.answers(),
        "opinions": [{"kind": "other", "text": " "}]}, expect=422)
    assert blank["errors"][0]["field"] == "opinions.0.text"
    for i in range(5):
        opinions = [{"kind": k, "text": t} for k, t in said.get(f"C{i}", [])]
        submitted = s.clock.now()
        s.post("responses", {"respondent": f"C{i}-a",
                             "started_at": (submitted - timedelta(minutes=5)).isoformat(),
                             "submitted_at": submitted.isoformat(),
                             "answers": s.answers(), "opinions": opinions}, expect=201)
    campaign_id = UUID(s.location.rsplit("/", 1)[1])
    stored = b"".join(r.state for r in cases.stored_records(campaign_id)[0])
    assert "备件交付太慢".encode() not in stored and b"remote diagnostics" not in stored

    for respondent, number, category, priority in (
            ("C0-a", 1, "equipment", "high"), ("C0-a", 2, "service", "medium"),
            ("C1-a", 1, "service", "low")):
        s.post("opinion-classes", {"respondent": respondent, "number": number,
                                   "category": category, "priority": priority})
    wrong = s.post("opinion-classes", {"respondent": "C1-a", "number": 2,
                                       "category": "policy", "priority": "low"}, expect=422)
    assert wrong["errors"][0]["field"] == "number"
    view = s.client.get(s.location, headers=s.cs).json()
    assert [(o["key"], o["category"]) for o in view["opinions"]] == [
        ("C0#1/1", "equipment"), ("C0#1/2", "service"), ("C1#1/1", "service"),
        ("C4#1/1", None)]
    assert [i["key"] for i in view["ledger"]] == [  # SV-LEDGER-1: classified ones
        "opinion:C0#1/1", "opinion:C0#1/2", "opinion:C1#1/1"]
    s.post("close", {})
    s.post("cleaning", {"seed": 1})
    document = client.get(f"{s.location}/document", headers=s.cs).text
    assert "- 设备类 equipment: 1 of 4 (25.0 %)" in document
    assert "- 服务类 service: 2 of 4 (50.0 %)" in document
    assert "  - [high] 备件交付太慢 spare parts arrive late" in document
    assert "- not classified yet: 1" in document

    cases.keys.destroy("C0")  # type: ignore[attr-defined]  # C0's personal data erased
    erased = s.client.get(s.location, headers=s.cs).json()["opinions"]
    assert [o["text"] for o in erased[:2]] == ["[erased]", "[erased]"]
    assert erased[2]["text"] == "installation team was careful"


@pytest.mark.rule("SV-LEDGER-1")
def test_sv_ledger_1_every_finding_is_followed_until_the_customer_is_told_and_it_closes(
        survey: Survey, client: TestClient) -> None:
    s = survey
    start_campaign(s)
    s.at(2026, 10, 9, 10, 0)
    for i in range(4):
        s.respond(f"C{i}-a")
    s.respond("C4-a", **s.answers(price=1, performance=2))
    s.post("close", {})
    s.at(2026, 10, 12, 10, 0)  # a Monday
    cleaned = s.post("cleaning", {"seed": 1})
    ledger = {i["key"]: i for i in cleaned["ledger"]}
    assert {k: i["tracked"] for k, i in ledger.items()} == {
        "finding:C4#1/price": True, "finding:C4#1/performance": False}
    notice_due = next(o for o in cleaned["obligations"]
                      if o["key"] == "SV-LEDGER-1@finding:C4#1/price")
    assert notice_due["due_at"] == "2026-10-15T10:00:00Z"  # 3 working days, 18:00 CST
    item = "finding:C4#1/price"
    early = s.post("ledger", {"item": item, "step": "customer_told", "measure": "discount"},
                   expect=409)
    assert early["missing_step"] == "notice"
    assert s.post("ledger", {"item": "finding:C0#1/price", "step": "notice",
                             "department": "sales"}, expect=422)["errors"][0]["field"] == "item"
    noticed = s.post("ledger", {"item": item, "step": "notice", "department": "sales"})
    assert next(o for o in noticed["obligations"]
                if o["key"] == f"SV-LEDGER-1@{item}")["state"] == "met"
    s.post("ledger", {"item": "finding:C4#1/performance", "step": "notice",
                      "department": "rnd"})  # the others' notices, recorded as sent
    s.post("ledger", {"item": item, "step": "closed"}, expect=409)
    s.post("call-backs", {"respondent": "C4-a", "confirmed": True})
    s.post("report", {"summary": "Q4"})
    s.post("ledger", {"item": item, "step": "customer_told",  # follow-up goes on
                      "measure": "price list revised for 2027"})
    closed = s.post("ledger", {"item": item, "step": "closed"})
    entry = next(i for i in closed["ledger"] if i["key"] == item)
    assert (entry["notified_to"], entry["measure"]) == ("sales", "price list revised for 2027")
    assert entry["closed_at"] is not None
    document = client.get(f"{s.location}/document", headers=s.cs).text
    assert "items: 2; notice sent: 2; customer told: 1; closed: 1" in document
