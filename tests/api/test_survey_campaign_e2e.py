"""A full quarterly campaign over HTTP with 200 generated customers, on both stores:
the directory as the sampling frame, dispatch, responses with free-text opinions
(and a straight-liner and a speeder), a very dissatisfied respondent's exception,
a cleaning flagged for review, call-backs, the review, classified opinions, the
feedback ledger followed to the customer, a corrective action verified by a
re-visit, and the report: complete in the document and in the KPIs."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from domain.actors import Role
from domain.surveys.questionnaire import DEFAULT_PERIODIC
from infrastructure.clock import FrozenClock
from tests.api.conftest import bearer

CST = ZoneInfo("Asia/Shanghai")
REGIONS = ("east", "north", "south", "west")
NODES = ("after_sales_visit", "installation_done", "proposal_delivered")
CUSTOMERS = 200
KEY_ACCOUNTS = 20
LONG = timedelta(days=3650)
CATEGORIES = ("equipment", "service", "process", "policy")


def answers(n: int) -> dict[str, int]:
    """Mostly satisfied customers, every seventh lukewarm, and C-0099 very unhappy."""
    keys = DEFAULT_PERIODIC.item_keys
    if n == 99:
        return {k: 1 if k == "price" else 3 for k in keys}
    base = 3 if n % 7 == 0 else 4
    return {k: base + (i + n) % 2 for i, k in enumerate(keys)}


@pytest.mark.rule("SV-REP-1")
@pytest.mark.rule("SV-KPI-4")
def test_a_quarterly_campaign_of_200_customers_reads_complete(
        client: TestClient, make_token, clock: FrozenClock) -> None:
    cs = bearer(make_token("qian", Role.CS_HEAD, ttl=LONG))
    boss = bearer(make_token("boss", Role.MANAGEMENT, ttl=LONG))
    impl = bearer(make_token("zhang", Role.IMPLEMENTATION, department="implementation",
                             ttl=LONG))

    def at(*args: int) -> None:
        clock.set(datetime(*args, tzinfo=CST))  # type: ignore[misc]

    def call(path: str, body: dict, who: dict = cs, expect: int = 200) -> dict:
        response = client.post(path, json=body, headers=who)
        assert response.status_code == expect, (path, response.text)
        return response.json()

    # The directory: 200 customers, each with a service node in Q4.
    at(2026, 10, 5, 10, 0)
    for n in range(CUSTOMERS):
        cid = f"C-{n:04d}"
        call("/v1/customers", {
            "id": cid, "name": f"Customer {n}", "key_account": n < KEY_ACCOUNTS,
            "size": "key" if n < KEY_ACCOUNTS else "sme", "region": REGIONS[n % 4],
            "first_contract": "2020-03-01" if n % 3 else "2026-07-01"}, expect=201)
        call(f"/v1/customers/{cid}/service-nodes", {
            "node_type": NODES[n % 3], "completed_at": "2026-10-05T09:00:00+08:00",
            "reference": f"N-{n}"}, expect=201)

    # Plan, approval, the sample from the directory (every customer), dispatch.
    at(2026, 10, 8, 9, 0)
    survey = call("/v1/surveys", {
        "survey_type": "quarterly", "title": "Q4 2026 satisfaction",
        "plan": {"goals": "measure Q4", "period_start": "2026-10-01",
                 "period_end": "2026-12-31", "scope": "Q4 customers",
                 "channels": ["online", "phone"], "owners": ["qian"], "budget": "CNY 60k"}},
        expect=201)
    here = f"/v1/surveys/{survey['id']}"
    call(f"{here}/plan-approval", {}, boss)
    sampled = call(f"{here}/sample", {"sample": [f"C-{n:04d}" for n in range(CUSTOMERS)]})
    assert sampled["sample_spread"]["size"] == {"key": KEY_ACCOUNTS, "sme": 180}
    call(f"{here}/start", {})
    call(f"{here}/dispatches", {"recipients": [
        {"respondent": f"R-{n:04d}", "customer_id": f"C-{n:04d}",
         "respondent_class": "A" if n < KEY_ACCOUNTS or n % 3 == 0 else "BC"[n % 2],
         "channel": "online" if n % 2 else "phone", "delegated": n % 10 == 5}
        for n in range(CUSTOMERS)]})

    # 190 answer; 30 give opinions; one straight-lines, one is too fast.
    at(2026, 10, 12, 10, 0)
    for n in range(190):
        submitted = clock.now()
        body = {"respondent": f"R-{n:04d}", "answers": answers(n),
                "started_at": (submitted - timedelta(seconds=12 if n == 150 else 400))
                .isoformat(), "submitted_at": submitted.isoformat()}
        if n == 140:
            body["answers"] = dict.fromkeys(DEFAULT_PERIODIC.item_keys, 4)
        if n % 6 == 0 and n < 180:
            body["opinions"] = [{"kind": "improvement", "text": f"opinion of customer {n}"}]
        answered = call(f"{here}/responses", body, expect=201)
    assert answered["responses"] == 190

    # The very dissatisfied respondent opens a service exception at once (SV-FIND-1).
    assert "R-0099" not in answered["exceptions_due"]  # it uses the campaign's name
    assert answered["exceptions_due"] == ["C-0099#1"]
    finding = call(f"{here}/findings", {
        "respondent": "R-0099", "category": "after_sales", "level": "major",
        "title": "very dissatisfied with the price", "description": "survey answer",
        "service_step": "after_sales_visit", "department": "after_sales",
        "customer": {"id": "C-0099", "name": "Customer 99", "key_account": False,
                     "contact": {"name": "Zhou Min"}}}, expect=201)
    assert finding["exceptions_due"] == [] and len(finding["linked_exceptions"]) == 1

    # Close and clean: 8 contradictory answers judged, 10 of 190 excluded in all.
    at(2026, 10, 20, 18, 0)
    call(f"{here}/close", {})
    at(2026, 10, 22, 10, 0)
    cleaned = call(f"{here}/cleaning", {"seed": 11, "exclusions": {
        f"R-{n:04d}": "contradictory" for n in range(160, 168)}})
    result = cleaned["cleaning"]
    assert len(result["excluded"]) == 10 and result["flagged_for_review"]
    assert result["excluded_share"]["value"] == pytest.approx(5.2632)
    assert result["customers_surveyed"] == 180
    assert result["satisfaction_rate"]["unit"] == "percent"
    assert set(result["dimension_favourable"]) == {
        "personnel", "service", "product", "technology"}
    assert len(result["customer_scores"]) == 180
    assert result["response_rate"]["exact"] == "95"

    # Call-backs, classified opinions, the review, the ledger, then the report.
    for respondent in cleaned["call_backs_pending"]:
        call(f"{here}/call-backs", {"respondent": respondent, "confirmed": True})
    for i, opinion in enumerate(cleaned["opinions"]):
        respondent, number = opinion["key"].split("/")
        call(f"{here}/opinion-classes", {"respondent": respondent, "number": int(number),
                                         "category": CATEGORIES[i % 4],
                                         "priority": ("high", "medium", "low")[i % 3]})
    call(f"{here}/report", {"summary": "early"}, expect=409)  # the review first
    call(f"{here}/cleaning-review", {"decision": "accept",
                                     "reason": "the contradictions are plain"}, boss)
    view = client.get(here, headers=cs).json()
    for item in view["ledger"]:
        call(f"{here}/ledger", {"item": item["key"], "step": "notice",
                                "department": "after_sales"})
    tracked = [i["key"] for i in view["ledger"] if i["tracked"]]
    assert tracked  # the top 20 % of the findings
    call(f"{here}/ledger", {"item": tracked[0], "step": "customer_told",
                            "measure": "price reviewed with the customer"})
    call(f"{here}/ledger", {"item": tracked[0], "step": "closed"})
    reported = call(f"{here}/report", {"summary": "Q4: price is the weak point"})
    assert reported["status"] == "reported"

    # A corrective action from a tracked finding, verified by a re-visit (CA-VER-1).
    action = reported["corrective_actions"][0]
    path = f"/v1/corrective-actions/{action}"
    severity = client.get(path, headers=cs).json()["severity"]
    call(f"{path}/assignment", {"unit": "implementation", "person": "zhang"},
         boss if severity == "major" else cs)
    call(f"{path}/plans", {"measures": ["price review"], "responsible_person": "zhang",
                           "horizon_end": "2026-12-31T18:00:00+08:00"}
         | ({"emergency_measures": "hold the price for the customer"}
            if severity == "major" else {}), impl)
    call(f"{path}/plan-review", {"approved": True}, cs)
    at(2026, 11, 20, 10, 0)
    call(f"{path}/progress-evaluations", {"summary": "new list out", "effective": True}, impl)
    call(f"{path}/implementation", {"evidence": "price list 2027"}, impl)
    call(f"{path}/verification", {"effective": True, "revisited_at": clock.now().isoformat(),
                                  "notes": "customer re-visited: satisfied"}, cs)
    closed = call(f"{path}/closure", {"customer_communication": "told on the re-visit",
                                      "management_report": "price reviewed"}
                  if severity == "major" else {}, cs)
    assert closed["status"] == "closed"

    document = client.get(f"{here}/document", headers=cs).text
    for part in ("## 4. Scores / 满意度得分", "- Excluded: 10 (5.3 %) — flagged for review",
                 "- Review boss, 2026-10-22: accept", "### Opinions by category / 意见分类",
                 "- 设备类 equipment: 8 of 30 (26.7 %)", "### Feedback ledger / 反馈跟踪台账",
                 "customer told: 1; closed: 1", "## 9. Summary / 结论",
                 "| personnel |"):
        assert part in document, part
