"""EX-SIGN-1: the weekly and monthly summaries (RPT-1) are submitted for filing, by
whom the regulation names, once their period is over; who and when are recorded
with the figures as filed."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from domain.actors import Role
from domain.service_exceptions.model import ServiceException
from tests.api.conftest import bearer
from tests.factories import approve, investigate, propose, resolve, start_response
from tests.integration.test_reports import Month, month  # noqa: F401 - the fixture

CST = ZoneInfo("Asia/Shanghai")
WEEK = {"week": "2026-W46", "department": "after_sales"}  # 9-15 November


@pytest.mark.rule("EX-SIGN-1")
def test_ex_sign_1_the_department_head_files_the_weekly_summary_once_the_week_is_over(
        month: Month, client: TestClient, make_token) -> None:  # noqa: F811
    head = bearer(make_token("zhao", Role.DEPARTMENT_HEAD, department="after_sales"))
    other = bearer(make_token("he", Role.DEPARTMENT_HEAD, department="delivery"))
    cs_head = bearer(make_token("qian", Role.CS_HEAD))

    assert client.post("/v1/reports/exceptions/weekly/filing", json=WEEK,
                       headers=cs_head).status_code == 403
    assert client.post("/v1/reports/exceptions/weekly/filing", json=WEEK,
                       headers=other).status_code == 403  # not their department
    bad = client.post("/v1/reports/exceptions/weekly/filing",
                      json={**WEEK, "week": "2026-W60"}, headers=head)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "body.week"
    early = client.post("/v1/reports/exceptions/weekly/filing",
                        json={**WEEK, "week": "2026-W49"}, headers=head)
    assert early.status_code == 422 and "filed once it is over" in early.json()["detail"]

    filed = client.post("/v1/reports/exceptions/weekly/filing", json=WEEK, headers=head)
    assert filed.status_code == 201, filed.text
    view = filed.json()
    [first] = view["submissions"]
    assert (first["submitted_by"], first["reason"]) == ("zhao", None)
    assert datetime.fromisoformat(first["submitted_at"]) == datetime(
        2026, 11, 30, 20, 0, tzinfo=CST)
    [row] = view["report"]["items"]
    assert (row["department"], row["opened"], row["resolved"]) == ("after_sales", 2, 1)
    assert "客户服务部门" in view["filed_with"]
    again = client.post("/v1/reports/exceptions/weekly/filing", json=WEEK, headers=head)
    assert again.status_code == 409  # the same figures are filed already

    # A case of that week is resolved later: the figures change, and filing them
    # again needs a reason; both submissions stay on record.
    def finish(case: ServiceException) -> None:
        now = month.clock.now()
        start_response(case, now)
        investigate(case, now)
        approve(case, propose(case, now), now)
        resolve(case, now)

    month.cases.execute(ServiceException, UUID(month.ids["b"]), finish)
    month.runner.catch_up()
    no_reason = client.post("/v1/reports/exceptions/weekly/filing", json=WEEK, headers=head)
    assert no_reason.status_code == 422
    refiled = client.post("/v1/reports/exceptions/weekly/filing",
                          json={**WEEK, "reason": "case b resolved after filing"}, headers=head)
    assert refiled.status_code == 200, refiled.text
    kept = client.get("/v1/reports/filings/weekly/2026-W46?department=after_sales",
                      headers=other).json()
    assert [s["reason"] for s in kept["submissions"]] == [None, "case b resolved after filing"]
    assert kept["report"]["items"][0]["resolved"] == 2
    first_sha, second_sha = (s["sha256"] for s in kept["submissions"])
    assert first_sha != second_sha
    assert first_sha == hashlib.sha256(json.dumps(
        view["report"], separators=(",", ":")).encode()).hexdigest()
    assert client.get("/v1/reports/filings/weekly/2026-W46?department=delivery",
                      headers=other).status_code == 404


@pytest.mark.rule("EX-SIGN-1")
def test_ex_sign_1_cs_head_files_the_monthly_summary_with_the_handling_group(
        month: Month, client: TestClient, make_token) -> None:  # noqa: F811
    cs_head = bearer(make_token("qian", Role.CS_HEAD, ttl=timedelta(days=2)))
    body = {"month": "2026-11"}
    assert client.post("/v1/reports/exceptions/monthly/filing", json=body, headers=bearer(
        make_token("zhao", Role.DEPARTMENT_HEAD))).status_code == 403
    early = client.post("/v1/reports/exceptions/monthly/filing", json=body, headers=cs_head)
    assert early.status_code == 422 and early.json()["errors"][0]["field"] == "month"
    month.at(datetime(2026, 12, 1, 9, 0, tzinfo=CST))
    filed = client.post("/v1/reports/exceptions/monthly/filing", json=body, headers=cs_head)
    assert filed.status_code == 201, filed.text
    view = filed.json()
    assert view["submissions"][0]["submitted_by"] == "qian"
    assert "处置小组" in view["filed_with"]
    assert sorted(view["report"]["items"]["major_cases"]) == sorted(
        [month.ids["d"], month.ids["e"]])
