"""RET-1..RET-3 and SEC-PII: contacts sealed at rest, nothing purged before retention
ends or while a hold stands, and after the purge no response, read model or raw
byte gives the contact back, while history replays and the chain verifies."""

from __future__ import annotations

import base64
import re
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from fastapi.testclient import TestClient

from application.app import CaseApplication
from domain.cases import Case
from domain.service_exceptions.model import ServiceException
from infrastructure.bootstrap import build_workers
from infrastructure.settings import Settings
from tests.api.conftest import bearer
from tests.api.walk import Walker

CST = ZoneInfo("Asia/Shanghai")
PHONE, EMAIL, PERSON = "+86 138 0000 0000", "wang.fang@acme.example", "Wang Fang"


@pytest.fixture
def walk(client: TestClient, make_token, clock) -> Walker:
    return Walker(client, make_token, clock)


def archived_general_case(walk: Walker, customer: str = "C-1",
                          day: datetime = datetime(2026, 10, 8, 9, 0)) -> dict:
    walk.at(day)
    walk.open(level="general", discovered_at=(day - timedelta(minutes=10)).isoformat() + "+08:00",
              customer={"id": customer, "name": "ACME Robotics", "key_account": True,
                        "contact": {"name": PERSON, "phone": PHONE, "email": EMAIL}})
    walk.report("department_head")
    walk.respond("general")
    walk.investigate()
    walk.propose()
    walk.approve("general")
    walk.resolve()
    walk.feedback()
    walk.review("general")
    return walk.archive("general")  # archived 2026-10-08 09:00 CST


def raw_bytes(cases: CaseApplication, case_id: str) -> bytes:
    from uuid import UUID

    return b"".join(r.state for r in cases.stored_records(UUID(case_id))[0])


def purge(cases: CaseApplication, settings: Settings):
    return build_workers(settings, cases).purge()


def test_sec_pii_contacts_are_sealed_at_rest(walk: Walker, cases: CaseApplication) -> None:
    view = walk.open()
    assert view["customer"]["contact"]["phone"] == PHONE
    stored = raw_bytes(cases, view["id"])
    assert PHONE.encode() not in stored and b"wang.fang" not in stored
    assert PERSON.encode() not in stored
    # An individual customer's name is personal data: names are sealed too, ids not.
    assert b"ACME Robotics" not in stored and b'"id":"C-1"' in stored
    assert view["customer"]["name"] == "ACME Robotics"


@pytest.mark.rule("RET-1")
def test_ret_1_nothing_is_purged_a_day_before_three_years_and_all_a_day_after(
        walk: Walker, cases: CaseApplication, store_settings: Settings,
        client: TestClient) -> None:
    case = archived_general_case(walk)
    walk.at(datetime(2029, 10, 7, 12, 0))  # 3 years minus one day
    plan = purge(cases, store_settings)
    assert plan.customers == [] and plan.cases == []
    assert walk.get("", "zhao")["customer"]["contact"]["phone"] == PHONE
    auditor = bearer(walk.tokens["audit.1"])
    listed = client.get("/v1/retention", headers=auditor,
                        params={"due_before": "2029-10-09T00:00:00+08:00"}).json()["items"]
    assert [(i["case_id"], i["retain_until"]) for i in listed] == [
        (case["id"], "2029-10-08T16:00:00Z")]  # end of 8 Oct 2029 CST
    walk.at(datetime(2029, 10, 9, 12, 0))  # and one day after
    plan = purge(cases, store_settings)
    assert plan.customers == ["C-1"] and [str(c) for c in plan.cases] == [case["id"]]


@pytest.mark.rule("RET-2")
def test_ret_2_a_hold_keeps_the_data_until_it_is_released(
        walk: Walker, cases: CaseApplication, store_settings: Settings,
        client: TestClient) -> None:
    case = archived_general_case(walk)
    legal = bearer(walk.tokens["wu"])
    hold = client.post("/v1/legal-holds", headers=legal,
                       json={"case_id": case["id"], "reason": "arbitration pending"})
    assert hold.status_code == 201, hold.text
    on_customer = client.post("/v1/legal-holds", headers=legal,
                              json={"customer_id": "C-1", "reason": "regulator inquiry"})
    assert client.post("/v1/legal-holds", headers=bearer(walk.tokens["qian"]),
                       json={"customer_id": "C-1", "reason": "x"}).status_code == 403
    assert client.post("/v1/legal-holds", headers=legal,
                       json={"reason": "on nothing"}).status_code == 422
    walk.at(datetime(2030, 1, 1, 12, 0))
    assert purge(cases, store_settings).customers == []
    listed = client.get("/v1/retention", headers=legal).json()["items"]
    assert listed[0]["purgeable"] is False and len(listed[0]["held_by"]) == 2
    released = client.delete(f"/v1/legal-holds/{hold.json()['id']}", headers=legal,
                             params={"reason": "award issued"})
    assert released.status_code == 200 and released.json()["released_at"]
    plan = purge(cases, store_settings)
    assert plan.customers == [] and "customer" in plan.blocked["C-1"]
    client.delete(f"/v1/legal-holds/{on_customer.json()['id']}", headers=legal,
                  params={"reason": "closed"})
    assert purge(cases, store_settings).customers == ["C-1"]
    again = client.delete(f"/v1/legal-holds/{on_customer.json()['id']}", headers=legal,
                          params={"reason": "twice"})
    assert again.status_code == 409


@pytest.mark.rule("RET-2")
def test_ret_2_a_customer_with_a_case_still_open_keeps_its_key(
        walk: Walker, cases: CaseApplication, store_settings: Settings) -> None:
    archived_general_case(walk)
    walk.open(customer={"id": "C-1", "name": "ACME Robotics", "key_account": True,
                        "contact": {"name": PERSON, "phone": PHONE}}, discovered_at=walk.now())
    walk.at(datetime(2030, 1, 1, 12, 0))
    plan = purge(cases, store_settings)
    assert plan.customers == [] and "is open" in plan.blocked["C-1"]


@pytest.mark.rule("RET-3")
def test_ret_3_after_the_purge_the_contact_is_gone_everywhere_and_history_still_holds(
        walk: Walker, cases: CaseApplication, store_settings: Settings,
        client: TestClient) -> None:
    case = archived_general_case(walk)
    before = raw_bytes(cases, case["id"])
    walk.at(datetime(2029, 10, 9, 12, 0))
    purge(cases, store_settings)
    handler = bearer(walk.tokens["zhao"])
    responses = [
        client.get(walk.location, headers=handler),
        client.get(f"{walk.location}?version=1", headers=handler),
        client.get(f"{walk.location}/history", headers=handler),
        client.get(f"{walk.location}/document", headers=handler),
        client.get(f"{walk.location}/export", headers=handler),
        client.get("/v1/exceptions", headers=handler),
        client.get("/v1/obligations", headers=handler),
        client.get("/v1/audit", headers=bearer(walk.tokens["audit.1"])),
    ]
    for response in responses:
        assert response.status_code == 200, response.text
        for secret in (PHONE, EMAIL, PERSON):
            assert secret not in response.text, response.request.url
    view = responses[0].json()
    assert view["customer"]["contact"] == {"name": "[erased]", "phone": None, "email": None}
    history = responses[2].json()["items"]
    assert history[-1]["type"] == "PersonalDataErased"
    assert history[-1]["actor"]["user"] == "casetrail"
    # The stored bytes are untouched, so the chain verifies; they just cannot be opened.
    assert raw_bytes(cases, case["id"]).startswith(before)
    assert walk.get("/verify", "audit.1")["ok"] is True
    assert cases.recorder.wrapped_key("C-1") is None  # type: ignore[attr-defined]
    from infrastructure.bootstrap import build_application

    fresh = build_application(store_settings)  # even a new process with the master key
    try:
        from uuid import UUID

        from domain.service_exceptions.model import ServiceException

        old = fresh.get_case(ServiceException, UUID(case["id"]), version=1)
        assert old.customer.contact.name == "[erased]"
    finally:
        fresh.close()


@pytest.mark.rule("RET-2")
def test_ret_2_a_hold_on_one_case_alone_keeps_the_customers_key(
        walk: Walker, cases: CaseApplication, store_settings: Settings,
        client: TestClient) -> None:
    case = archived_general_case(walk)
    assert client.post("/v1/legal-holds", headers=bearer(walk.tokens["wu"]), json={
        "case_id": case["id"], "reason": "arbitration pending"}).status_code == 201
    walk.at(datetime(2030, 1, 1, 12, 0))
    plan = purge(cases, store_settings)
    assert plan.customers == [] and plan.cases == []
    assert plan.blocked == {"C-1": f"a legal hold stands on case {case['id']}"}
    assert walk.get("", "zhao")["customer"]["contact"]["phone"] == PHONE


@pytest.mark.rule("RET-2")
def test_ret_2_one_case_still_retained_keeps_the_key_of_a_customer_whose_other_is_due(
        walk: Walker, cases: CaseApplication, store_settings: Settings) -> None:
    archived_general_case(walk)
    later = archived_general_case(walk, day=datetime(2027, 10, 8, 9, 0))
    walk.at(datetime(2030, 1, 1, 12, 0))  # the first is past its 3 years, the second not
    plan = purge(cases, store_settings)
    assert plan.customers == []
    assert plan.blocked["C-1"].startswith(f"case {later['id']} is retained until 2030-10-")


@pytest.mark.rule("RET-3")
def test_ret_3_a_dry_run_changes_nothing(
        walk: Walker, cases: CaseApplication, store_settings: Settings) -> None:
    archived_general_case(walk)
    walk.at(datetime(2030, 1, 1, 12, 0))
    plan = build_workers(store_settings, cases).purge(dry_run=True)
    assert plan.customers == ["C-1"]
    assert walk.get("", "zhao")["customer"]["contact"]["phone"] == PHONE
    assert [h["type"] for h in walk.get("/history", "audit.1")["items"]][-1] == "Archived"


@pytest.mark.rule("RET-3")
def test_ret_3_a_damaged_case_does_not_stop_the_purge_of_the_others(
        walk: Walker, cases: CaseApplication, store_settings: Settings) -> None:
    from uuid import UUID

    from tests.integration.test_tamper import Store

    damaged = archived_general_case(walk, "C-1")
    archived_general_case(walk, "C-2")
    Store(store_settings).delete(UUID(damaged["id"]), 3)
    walk.at(datetime(2030, 1, 1, 12, 0))
    assert purge(cases, store_settings).customers == ["C-1", "C-2"]
    assert [h["type"] for h in walk.get("/history", "audit.1")["items"]][-1] == \
        "PersonalDataErased"


@pytest.mark.rule("RET-3")
@pytest.mark.parametrize("store_settings", ["sqlite"], indirect=True)
def test_ret_3_on_sqlite_the_destroyed_key_is_in_neither_the_file_nor_its_log(
        walk: Walker, cases: CaseApplication, store_settings: Settings) -> None:
    archived_general_case(walk)
    wrapped = cases.recorder.wrapped_key("C-1")
    path = store_settings.sqlite_path
    files = (path, path.with_name(path.name + "-wal"))
    assert any(wrapped.encode() in f.read_bytes() for f in files if f.exists())
    walk.at(datetime(2030, 1, 1, 12, 0))
    assert purge(cases, store_settings).customers == ["C-1"]
    for file in files:
        if file.exists():
            assert wrapped.encode() not in file.read_bytes(), file.name


def store_files(settings: Settings, since: float) -> list[Path]:
    """The files the store keeps its data in: the SQLite file and its WAL, or the
    PostgreSQL key table's files and the WAL segments written since `since`."""
    if settings.database_url is None:
        path = settings.sqlite_path
        return [f for f in (path, path.with_name(path.name + "-wal")) if f.exists()]
    with psycopg.connect(settings.database_url.get_secret_value(), autocommit=True) as conn:
        conn.execute("CHECKPOINT")  # the heap pages reach their files
        data = Path(conn.execute("SHOW data_directory").fetchone()[0])
        table = conn.execute("SELECT pg_relation_filepath(%s)", (
            f'"{settings.postgres_schema}".casetrail_customer_keys',)).fetchone()[0]
    heap = data / table
    return [*heap.parent.glob(heap.name + "*"),
            *(f for f in (data / "pg_wal").iterdir() if f.is_file() and f.stat().st_mtime >= since)]


WRAPPED = re.compile(rb"(\d+):([A-Za-z0-9+/]{80})")  # version:base64(nonce, key, tag)


def recover_contact(settings: Settings, files: list[Path], customer: str,
                    sealed: bytes) -> list[str]:
    """What an attacker with the files and every KEK still on disk gets: each wrapped
    key found in the files, unwrapped by each KEK, tried on the sealed contact."""
    keks = [AESGCM(bytes.fromhex(p.read_text())) for p in
            (settings.master_key_file.parent / "keks").glob("kek-*.hex")]
    blob = base64.b64decode(sealed.rpartition(b".")[2])  # after the key id
    found = []
    for file in files:
        for match in WRAPPED.finditer(file.read_bytes()):
            wrapped = base64.b64decode(match[2])
            for kek in keks:
                try:
                    key = kek.decrypt(wrapped[:12], wrapped[12:], customer.encode())
                    found.append(AESGCM(key).decrypt(blob[:12], blob[12:], customer.encode())
                                 .decode())
                except InvalidTag:
                    continue
    return found


@pytest.mark.rule("RET-4")
def test_ret_4_after_purge_and_rotation_no_kek_on_disk_opens_any_remnant_of_the_key(
        walk: Walker, cases: CaseApplication, store_settings: Settings) -> None:
    since = time.time() - 1
    case = archived_general_case(walk)
    archived_general_case(walk, "C-2", day=datetime(2027, 10, 8, 9, 0))  # a live key
    sealed = re.search(rb'"contact":\s*"([^"]+)"', raw_bytes(cases, case["id"]))[1]
    assert PHONE in recover_contact(store_settings, store_files(store_settings, since),
                                    "C-1", sealed)[0]  # the attack works on live data

    walk.at(datetime(2030, 1, 1, 12, 0))
    plan = purge(cases, store_settings)
    assert (plan.customers, plan.kek_version) == (["C-1"], 2)

    keks = sorted(p.name for p in (store_settings.master_key_file.parent / "keks").iterdir())
    assert keks == ["kek-000002.hex"]
    assert recover_contact(store_settings, store_files(store_settings, since),
                           "C-1", sealed) == []
    assert walk.get("/verify", "audit.1")["ok"] is True  # and history still verifies
    assert cases.recorder.wrapped_key("C-2").startswith("2:")  # type: ignore[attr-defined]


def register_directory_customer(walk: Walker, customer: str = "C-1") -> None:
    created = walk.client.post("/v1/customers", headers=bearer(walk.tokens["qian"]), json={
        "id": customer, "name": "ACME Robotics", "key_account": True, "size": "key",
        "region": "east", "first_contract": "2019-03-01",
        "contacts": [{"name": PERSON, "phone": PHONE, "respondent_class": "A"}]})
    assert created.status_code == 201, created.text


@pytest.mark.rule("RET-4")
def test_ret_4_a_directory_customer_is_kept_from_its_last_activity_then_purged(
        walk: Walker, cases: CaseApplication, store_settings: Settings) -> None:
    """The reproduction: a customer in the directory and with an exception case was
    never purged ("case … is open"); now the directory record's retention runs from
    its last activity, and the purge erases its contacts but keeps its figures."""
    archived_general_case(walk)  # archived 2026-10-08
    walk.at(datetime(2026, 10, 9, 9, 0))
    register_directory_customer(walk)
    walk.at(datetime(2027, 3, 1, 9, 0))
    node = walk.client.post("/v1/customers/C-1/service-nodes",
                            headers=bearer(walk.tokens["qian"]), json={
                                "node_type": "after_sales_visit", "reference": "V-1",
                                "completed_at": "2027-03-01T08:00:00+08:00"})
    assert node.status_code == 201, node.text

    walk.at(datetime(2030, 2, 1, 9, 0))  # the case is past retention; the customer not
    plan = purge(cases, store_settings)
    assert plan.customers == []
    assert "is retained until 2030-03-01" in plan.blocked["C-1"]

    walk.at(datetime(2030, 3, 2, 9, 0))
    plan = purge(cases, store_settings)
    assert plan.customers == ["C-1"] and len(plan.cases) == 2
    record = walk.client.get("/v1/customers/C-1", headers=bearer(walk.tokens["qian"]))
    assert PERSON not in record.text and PHONE not in record.text
    kept = record.json()
    assert kept["contacts"][0]["name"] == kept["name"] == "[erased]"
    assert (kept["size"], kept["region"], kept["key_account"]) == ("key", "east", True)
    assert [n["reference"] for n in kept["service_nodes"]] == ["V-1"]


@pytest.mark.rule("RET-4")
def test_ret_4_customers_registered_before_retention_ends_existed_get_one_on_reindex(
        walk: Walker, cases: CaseApplication) -> None:

    from domain.surveys.directory import customer_uuid

    walk.at(datetime(2026, 10, 9, 9, 0))
    register_directory_customer(walk)
    case_id = customer_uuid("C-1")
    version = cases.get_case(Case, case_id).version
    # As an earlier release left it: no retention end for a directory customer.
    cases.index._write(  # type: ignore[attr-defined]
        f"UPDATE {cases.index.cases_sql} SET retain_until = NULL WHERE case_id = "
        f"{cases.index.placeholder}", [cases.index._value(case_id)])  # type: ignore[attr-defined]
    assert cases.index.without_retention_end() == [case_id]
    assert cases.reindex_retention() == 1
    assert cases.index.without_retention_end() == []
    assert cases.get_case(Case, case_id).version == version  # nothing recorded


FREE_TEXT = ("The palletising cell stopped after a firmware update.", "cell 3 down",
             "cell running again", "untested firmware", "stage rollouts",
             "Palletiser stopped", "ACME Robotics")
"""What the walk's exception says in free text: its description, report details,
resolution summary, review root cause and lessons, its title and the customer's
name (SEC-PII, RET-4)."""


@pytest.mark.rule("RET-4")
def test_ret_4_free_text_is_sealed_at_rest_and_erased_with_the_customer_figures_kept(
        walk: Walker, cases: CaseApplication, store_settings: Settings,
        client: TestClient) -> None:
    case = archived_general_case(walk)
    shown = walk.get("", "zhao")
    assert shown["description"] == FREE_TEXT[0]
    stored = raw_bytes(cases, case["id"])
    for text in FREE_TEXT:
        assert text.encode() not in stored, text
    kept = ("level", "status", "category", "reporter", "archived_at", "report_count")
    before = {k: shown[k] for k in kept}

    walk.at(datetime(2029, 10, 9, 12, 0))
    assert purge(cases, store_settings).customers == ["C-1"]
    handler = bearer(walk.tokens["zhao"])
    for url in (*(walk.location + path for path in (
            "", "?version=3", "/history", "/document", "/export")), "/v1/exceptions"):
        answer = client.get(url, headers=handler)
        assert answer.status_code == 200, answer.text
        for text in FREE_TEXT:
            assert text not in answer.text, (url, text)
    after = walk.get("", "zhao")
    assert after["description"] == "[erased]"
    assert {k: after[k] for k in kept} == before


@pytest.mark.rule("RET-4")
@pytest.mark.parametrize("store_settings", ["sqlite"], indirect=True)
def test_ret_4_a_snapshot_is_sealed_whole_and_an_erased_one_gives_way_to_the_events(
        store_settings: Settings, clock) -> None:
    from domain.actors import Role
    from infrastructure.bootstrap import build_application
    from tests.factories import ctx, record, report_up

    settings = store_settings.model_copy(update={"snapshot_interval": 2})
    app = build_application(settings, clock, create_tables=True)
    try:
        case = record(ctx(clock.now()))
        app.save_case(case)
        for _ in range(3):
            app.execute(ServiceException, case.id,
                        lambda c: report_up(c, ctx(clock.now()), Role.DEPARTMENT_HEAD))
        stored = app.snapshots.recorder.select_events(case.id)  # type: ignore[union-attr]
        assert stored and all(s.state.startswith(b'{"_sealed_snapshot"') for s in stored)
        assert all(b"cell down" not in s.state for s in stored)
        loaded = app.get_case(ServiceException, case.id)
        assert loaded.report_count == 3 and loaded.description != "[erased]"
        app.keys.destroy(case.customer.id)  # type: ignore[attr-defined]
        erased = app.get_case(ServiceException, case.id)
        assert (erased.version, erased.level, erased.status, erased.report_count) == (
            loaded.version, loaded.level, loaded.status, 3)
        assert erased.description == "[erased]"
    finally:
        app.close()
