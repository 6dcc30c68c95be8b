"""AUD-1..AUD-4 over HTTP: history with its chain, verify, as-of reads, export that
verifies offline."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta
from uuid import UUID

import pytest
from fastapi.testclient import TestClient

from application.app import CaseApplication
from application.export_check import check_export
from infrastructure.checkpoints import REFUSALS, CheckpointRefused
from tests.api.conftest import bearer
from tests.api.walk import Walker


@pytest.fixture
def walk(client: TestClient, make_token, clock) -> Walker:
    return Walker(client, make_token, clock)


def test_aud_1_history_carries_seq_actor_command_and_the_chain(walk: Walker) -> None:
    walk.open(level="major")
    walk.report("cs_head")
    items = walk.get("/history", "audit.1")["items"]
    assert [i["version"] for i in items] == [1, 2]
    assert items[0]["seq"] < items[1]["seq"]
    assert items[0]["prev_hash"] == "0" * 64
    assert items[1]["prev_hash"] == items[0]["hash"]
    assert items[1]["command"] == "report_up" and items[1]["actor"]["user"] == "zhao"


def test_aud_2_the_state_as_of_any_instant_between_two_events(walk: Walker) -> None:
    walk.at(datetime(2026, 10, 8, 9, 0))
    walk.open(level="major", discovered_at="2026-10-08T08:50:00+08:00")
    walk.at(datetime(2026, 10, 8, 9, 30))
    walk.report("cs_head")
    between = walk.get("?as_of=2026-10-08T09:15:00%2B08:00", "audit.1")
    assert between == walk.get("?version=1", "audit.1")
    assert (between["report_count"], between["last_report"]) == (0, None)
    after = walk.get("?as_of=2026-10-08T09:30:00%2B08:00", "audit.1")
    assert after["version"] == 2
    before = walk.client.get(f"{walk.location}?as_of=2026-10-08T08:59:00%2B08:00",
                             headers=bearer(walk.tokens["audit.1"]))
    assert before.status_code == 404 and "did not exist" in before.json()["detail"]
    both = walk.client.get(f"{walk.location}?as_of=2026-10-08T09:15:00%2B08:00&version=1",
                           headers=bearer(walk.tokens["audit.1"]))
    assert both.status_code == 422


def test_aud_3_verify_over_http(walk: Walker, client: TestClient) -> None:
    walk.open(level="general")
    walk.report("department_head")
    result = walk.get("/verify", "audit.1")
    assert result == {"ok": True, "events": 2, "first_bad_version": None, "reason": None,
                      "checkpoint": None, "bad_checkpoint": None}


@pytest.mark.rule("AUD-5")
def test_aud_5_damage_is_a_finding_over_http_never_a_server_error(
        walk: Walker, client: TestClient, cases: CaseApplication, store_settings) -> None:
    from tests.integration.test_tamper import Store

    case = walk.open(level="critical")
    for role in ("group_leader", "principal", "group_leader"):
        walk.report(role)
    client.app.state.checkpoints.create(walk.clock.now(), cases.verify_case)
    store = Store(store_settings)
    auditor = bearer(walk.tokens["audit.1"])
    assert client.get("/v1/audit/verify", headers=auditor).json()["ok"]
    store.delete(UUID(case["id"]), 3)
    verified = client.get(f"{walk.location}/verify", headers=auditor)
    assert verified.status_code == 200
    assert (verified.json()["ok"], verified.json()["first_bad_version"]) == (False, 3)
    for path in ("", "/history", "/export"):
        damaged = client.get(f"{walk.location}{path}", headers=auditor)
        assert damaged.status_code == 409, path
        assert damaged.json()["type"].endswith(":history-damaged")
        assert "beyond version 2" in damaged.json()["detail"]
    store.checkpoint_sql("UPDATE {table} SET signature = 'AAAA' WHERE seq = ?", 1)
    with pytest.raises(CheckpointRefused):
        client.app.state.checkpoints.create(walk.clock.now(), cases.verify_case)
    metrics = client.get("/metrics").text
    assert f"casetrail_checkpoint_refusals_total {REFUSALS._value.get()}" in metrics
    edited = client.get(f"{walk.location}/verify", headers=auditor).json()
    assert (edited["ok"], edited["bad_checkpoint"]) == (False, 1)
    report = client.get("/v1/audit/verify", headers=auditor)
    assert report.status_code == 200
    assert [(d["case_id"], d["version"], d["checkpoint"]) for d in report.json()["damage"]] == [
        (None, None, 1), (None, None, 1), (case["id"], 3, 1)]
    assert [d["reason"] for d in report.json()["damage"]][:2] == [
        "checkpoint 1 does not verify with the signing key",
        "checkpoint 1 differs from the witness's copy"]
    assert report.json()["witness"] is True
    assert client.get("/v1/audit/verify", headers=bearer(walk.tokens["li.wei"])
                      ).status_code == 403


def test_aud_4_export_verifies_offline_and_catches_an_edited_file(
        walk: Walker, client: TestClient, cases: CaseApplication) -> None:
    walk.open(level="critical")
    walk.report("group_leader")
    client.app.state.checkpoints.create(walk.clock.now(), cases.verify_case)
    walk.clock.advance(timedelta(minutes=1))
    walk.report("principal")
    response = client.get(f"{walk.location}/export", headers=bearer(walk.tokens["audit.1"]))
    assert response.status_code == 200
    export = json.loads(response.text)
    assert [e["entry"]["type"] for e in export["events"]] == [
        "Recorded", "ReportedUp", "ReportedUp"]
    assert export["documents"]["closing.md"].startswith("# 重大客户服务异常处置总结报告")
    assert export["verification"]["ok"] and export["checkpoint"]["seq"] == 1
    assert check_export(export, export["key_fingerprint"]) == []
    edited = json.loads(response.text)
    state = bytearray(base64.b64decode(edited["events"][1]["state"]))
    state[5] ^= 1
    edited["events"][1]["state"] = base64.b64encode(bytes(state)).decode()
    assert check_export(edited) == ["event 2 does not match its hash"]
    truncated = json.loads(response.text)
    truncated["events"] = truncated["events"][:1]
    assert check_export(truncated) == ["the events do not reach the checkpoint's head 2"]
    assert check_export(export, "0" * 64) == ["the export's key is not the trusted key"]
    forbidden = client.get(f"{walk.location}/export", headers=bearer(walk.tokens["li.wei"]))
    assert forbidden.status_code == 403


def test_aud_1_the_audit_trail_across_cases_by_actor_case_and_time(
        walk: Walker, client: TestClient, cases: CaseApplication) -> None:
    from projections.audit import AuditProjection, construct_audit_view
    from projections.runtime import ViewRunner

    walk.at(datetime(2026, 10, 8, 9, 0))
    first = walk.open(level="general", discovered_at="2026-10-08T08:55:00+08:00")
    walk.report("department_head")
    walk.at(datetime(2026, 10, 8, 10, 0))
    second = walk.open(as_user="zhao", level="general",
                       discovered_at="2026-10-08T09:55:00+08:00")
    ViewRunner(cases, AuditProjection(cases, construct_audit_view(cases))).catch_up()
    auditor = bearer(walk.tokens["audit.1"])
    everything = client.get("/v1/audit", headers=auditor).json()["items"]
    assert [(e["case_id"], e["type"]) for e in everything] == [
        (first["id"], "Recorded"), (first["id"], "ReportedUp"), (second["id"], "Recorded")]
    assert everything[0]["roles"] == ["frontline"] and everything[0]["command"] == "record"
    by_zhao = client.get("/v1/audit?actor=zhao", headers=auditor).json()["items"]
    assert [e["case_id"] for e in by_zhao] == [second["id"]]
    by_case = client.get(f"/v1/audit?case={first['id']}", headers=auditor).json()["items"]
    assert len(by_case) == 2
    window = client.get("/v1/audit", headers=auditor, params={
        "from": "2026-10-08T09:30:00+08:00", "to": "2026-10-08T11:00:00+08:00"}).json()
    assert [e["case_id"] for e in window["items"]] == [second["id"]]
    page = client.get("/v1/audit?limit=2", headers=auditor).json()
    rest = client.get(f"/v1/audit?limit=2&cursor={page['next_cursor']}", headers=auditor).json()
    assert len(page["items"]) == 2 and len(rest["items"]) == 1 and rest["next_cursor"] is None
    assert client.get("/v1/audit", headers=bearer(walk.tokens["qian"])).status_code == 403
