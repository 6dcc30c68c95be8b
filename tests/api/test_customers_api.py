"""The customer directory over HTTP: registration, contacts only for customer-service
roles (SEC-PII), service nodes drafting the surveys they make due (SV-TYPE-2)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from domain.actors import Role
from tests.api.conftest import bearer

ACME = {"id": "C1", "name": "ACME Robotics", "key_account": True, "size": "key",
        "region": "east", "first_contract": "2019-03-01",
        "contacts": [{"name": "Wang Fang", "phone": "+86 138 0000 0000",
                      "respondent_class": "A"}]}


def test_sec_pii_directory_contacts_and_service_nodes(client: TestClient, make_token) -> None:
    cs = bearer(make_token("qian", Role.CS_HEAD))
    created = client.post("/v1/customers", json=ACME, headers=cs)
    assert created.status_code == 201, created.text
    assert created.headers["location"] == "/v1/customers/C1"
    assert created.json()["contacts"][0]["name"] == "Wang Fang"
    again = client.post("/v1/customers", json=ACME, headers=cs)
    assert again.status_code == 409 and "already registered" in again.json()["detail"]
    auditor = client.get("/v1/customers/C1", headers=bearer(make_token("a", Role.AUDITOR)))
    assert auditor.json()["contacts"] is None and "Wang" not in auditor.text
    node = client.post("/v1/customers/C1/service-nodes", headers=cs, json={
        "node_type": "installation_done", "completed_at": "2026-09-30T14:00:00+08:00",
        "reference": "PRJ-7"})
    assert node.status_code == 201, node.text
    assert node.json()["service_nodes"][0]["reference"] == "PRJ-7"
    surveys = client.get("/v1/surveys", headers=cs).json()["items"]
    assert [s["survey_type"] for s in surveys] == ["instant"]
    launch = [o for o in surveys[0]["obligations"] if o["rule"] == "SV-TYPE-2"]
    assert launch[0]["due_at"] == "2026-10-10T10:00:00Z"
    bad = client.post("/v1/customers/C1/service-nodes", headers=cs, json={
        "node_type": "delivery", "completed_at": "2026-09-30T14:00:00+08:00",
        "reference": "DN-1"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "warranty_end"
    assert client.get("/v1/customers/nobody", headers=cs).status_code == 404


def test_a_customer_id_in_chinese_gets_an_encoded_location(client: TestClient,
                                                          make_token) -> None:
    cs = bearer(make_token("qian", Role.CS_HEAD))
    created = client.post("/v1/customers", headers=cs, json=ACME | {"id": "华东机器人-01"})
    assert created.status_code == 201
    location = created.headers["location"]
    assert location == "/v1/customers/%E5%8D%8E%E4%B8%9C%E6%9C%BA%E5%99%A8%E4%BA%BA-01"
    assert client.get(location, headers=cs).json()["id"] == "华东机器人-01"
    slash = client.post("/v1/customers", headers=cs, json=ACME | {"id": "EAST/01"})
    assert slash.status_code == 422 and slash.json()["errors"][0]["field"] == "id"
