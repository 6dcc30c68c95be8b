"""SEC-IN-1 through HTTP: problem details naming fields with nothing recorded,
ETag / If-Match (412), racing writers (409), Idempotency-Key."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from application.app import CaseApplication
from domain.actors import Role
from tests.api.conftest import bearer, stored_events
from tests.factories import open_body, report_body


@pytest.fixture
def make_token(make_token):
    """A department head by default: the major cases here are reported up to cs_head,
    the department head's link of the reporting chain (EX-CHAIN-1)."""
    def make(user: str = "zhao", *roles: Role, **kwargs):
        return make_token(user, *(roles or (Role.DEPARTMENT_HEAD,)), **kwargs)
    return make


def open_case(client: TestClient, token: str) -> str:
    response = client.post("/v1/exceptions", json=open_body(), headers=bearer(token))
    assert response.status_code == 201, response.text
    return response.headers["location"]


def test_ex_rec_1_open_returns_201_location_etag_and_the_view(client: TestClient,
                                                              make_token) -> None:
    response = client.post("/v1/exceptions", json=open_body(), headers=bearer(make_token()))
    assert response.status_code == 201
    assert response.headers["etag"] == '"1"'
    body = response.json()
    assert response.headers["location"] == f"/v1/exceptions/{body['id']}"
    assert body["discovered_at"] == "2026-09-30T06:50:00Z"  # returned in UTC
    assert body["recorded_at"] == "2026-09-30T07:00:00Z"    # from the frozen clock
    assert (body["status"], body["level"], body["version"]) == ("recorded", "major", 1)
    assert body["required_report_recipients"] == ["cs_head"]


def test_sec_in_1_malformed_body_lists_every_field_and_records_nothing(
        client: TestClient, make_token, cases: CaseApplication) -> None:
    before = stored_events(cases)
    body = open_body(level="catastrophic", discovered_at="2026-09-30T14:50:00")
    del body["title"]
    body["customer"]["contact"]["email"] = "not-an-email"
    response = client.post("/v1/exceptions", json=body, headers=bearer(make_token()))
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    fields = {e["field"] for e in response.json()["errors"]}
    assert fields == {"level", "discovered_at", "title", "customer.contact.email"}
    assert stored_events(cases) == before


def test_sec_in_1_unparseable_json_is_a_422_problem(client: TestClient, make_token) -> None:
    response = client.post("/v1/exceptions", content=b"{not json",
                           headers=bearer(make_token(), **{"Content-Type": "application/json"}))
    assert response.status_code == 422
    assert response.json()["type"] == "urn:casetrail:problem:validation"


def test_ex_rec_1_a_future_discovery_is_refused_by_the_rule_naming_the_field(
        client: TestClient, make_token, cases: CaseApplication) -> None:
    before = stored_events(cases)
    response = client.post("/v1/exceptions", headers=bearer(make_token()),
                           json=open_body(discovered_at="2026-09-30T15:30:00+08:00"))
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": "discovered_at", "message": response.json()["detail"]}]
    assert stored_events(cases) == before


def test_ex_esc_1_report_up_through_the_api(client: TestClient, make_token) -> None:
    location = open_case(client, make_token())
    response = client.post(f"{location}/reports", json=report_body(),
                           headers=bearer(make_token(), **{"If-Match": '"1"'}))
    assert response.status_code == 200, response.text
    assert response.headers["etag"] == '"2"'
    assert response.json()["status"] == "reported"
    assert response.json()["last_report"]["report"]["reported_to"] == ["cs_head"]
    assert response.json()["reached_report_recipients"] == ["cs_head"]


def test_sec_in_1_stale_if_match_is_412_and_records_nothing(
        client: TestClient, make_token, cases: CaseApplication) -> None:
    token = make_token()
    location = open_case(client, token)
    assert client.post(f"{location}/reports", json=report_body(),
                       headers=bearer(token, **{"If-Match": '"1"'})).status_code == 200
    before = stored_events(cases)
    stale = client.post(f"{location}/reports", json=report_body(),
                        headers=bearer(token, **{"If-Match": '"1"'}))
    assert stale.status_code == 412
    assert stale.headers["content-type"] == "application/problem+json"
    assert stale.json()["current_version"] == 2
    assert stored_events(cases) == before
    bad = client.post(f"{location}/reports", json=report_body(),
                      headers=bearer(token, **{"If-Match": "yesterday"}))
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "header.If-Match"


def test_sec_in_1_racing_writers_exactly_one_wins_the_other_gets_409(
        client: TestClient, make_token, cases: CaseApplication,
        monkeypatch: pytest.MonkeyPatch) -> None:
    token = make_token()
    location = open_case(client, token)
    # Hold both requests at the save until each has loaded version 1 and decided.
    both_decided = threading.Barrier(2, timeout=10)
    real_save = CaseApplication.save

    def save_after_both_decided(self, *objs, **kwargs):
        both_decided.wait()
        return real_save(self, *objs, **kwargs)

    monkeypatch.setattr(CaseApplication, "save", save_after_both_decided)
    with ThreadPoolExecutor(2) as pool:
        responses = list(pool.map(
            lambda _: client.post(f"{location}/reports", json=report_body(),
                                  headers=bearer(token)), range(2)))
    monkeypatch.undo()
    assert sorted(r.status_code for r in responses) == [200, 409]
    loser = next(r for r in responses if r.status_code == 409)
    assert loser.json()["type"] == "urn:casetrail:problem:concurrent-update"
    assert loser.json()["current_version"] == 2  # the winner's, to reload and retry
    final = client.get(location, headers=bearer(token))
    assert final.headers["etag"] == '"2"' and final.json()["report_count"] == 1
    metrics = client.get("/metrics").text
    assert 'casetrail_conflicts_total{kind="concurrent_update"} 1.0' in metrics


def test_idempotent_repeat_returns_the_first_response_and_one_event(
        client: TestClient, make_token, cases: CaseApplication, clock) -> None:
    headers = bearer(make_token(), **{"Idempotency-Key": "open-7f3a"})
    first = client.post("/v1/exceptions", json=open_body(), headers=headers)
    count = stored_events(cases)
    clock.advance(timedelta(minutes=3))
    again = client.post("/v1/exceptions", json=open_body(), headers=headers)
    assert again.status_code == first.status_code == 201
    assert again.json() == first.json()
    assert again.headers["location"] == first.headers["location"]
    assert again.headers["etag"] == first.headers["etag"]
    assert again.headers["idempotent-replayed"] == "true"
    assert stored_events(cases) == count


def test_idempotent_repeat_of_a_command_after_later_changes_gives_the_first_response(
        client: TestClient, make_token) -> None:
    token = make_token()
    location = open_case(client, token)
    keyed = bearer(token, **{"Idempotency-Key": "report-1"})
    first = client.post(f"{location}/reports", json=report_body(), headers=keyed)
    client.post(f"{location}/reports", json=report_body(), headers=bearer(token))
    again = client.post(f"{location}/reports", json=report_body(), headers=keyed)
    assert again.status_code == 200
    assert again.json() == first.json() and again.headers["etag"] == '"2"'


REPLAYED_HEADERS = ("content-type", "etag", "location")


@pytest.mark.rule("AUD-6")
@pytest.mark.parametrize("path", ["", "/reports"])
def test_aud_6_a_replay_much_later_is_the_first_response_byte_for_byte(
        path: str, client: TestClient, make_token, cases: CaseApplication, clock,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The first answer showed EX-ESC-1 pending; by the replay its deadline has
    passed (the view now says breached) and a new release renders cases otherwise.
    The replay is the first answer as it was sent, never rendered again."""
    from api.routers import exceptions
    from domain.actors import Role

    token = make_token("zhao", Role.DEPARTMENT_HEAD, ttl=timedelta(days=10))
    location = "" if not path else client.post(
        "/v1/exceptions", json=open_body(), headers=bearer(token)).headers["location"]
    body = {"": open_body(level="general"), "/reports": report_body(),
            }[path]
    keyed = bearer(token, **{"Idempotency-Key": f"key{path}"})
    first = client.post(f"{location or '/v1/exceptions'}{path}", json=body, headers=keyed)
    assert first.status_code in (200, 201), first.text
    count = stored_events(cases)
    clock.advance(timedelta(hours=30))

    def rendered_again(*_: object) -> None:
        raise AssertionError("a replay was rendered again")

    with monkeypatch.context() as patched:
        patched.setattr(exceptions, "_view", rendered_again)
        patched.setattr(exceptions.ROUTES, "view", rendered_again)
        again = client.post(f"{location or '/v1/exceptions'}{path}", json=body, headers=keyed)
    assert again.content == first.content
    assert again.status_code == first.status_code
    assert [again.headers.get(h) for h in REPLAYED_HEADERS] == [
        first.headers.get(h) for h in REPLAYED_HEADERS]
    assert again.headers["idempotent-replayed"] == "true"
    assert stored_events(cases) == count
    now = client.get(f"{location or first.headers['location']}", headers=bearer(token)).json()
    assert "breached" in {o["state"] for o in now["obligations"]}  # what a re-render shows


@pytest.mark.rule("AUD-6")
def test_aud_6_a_key_kept_before_answers_were_kept_replays_the_case_as_it_was(
        client: TestClient, make_token, cases: CaseApplication, clock) -> None:
    """Records written before AUD-6 have no answer: the replay renders the version
    the command produced, judged at the instant it was recorded, not now."""
    keyed = bearer(make_token(ttl=timedelta(days=10)), **{"Idempotency-Key": "old-key"})
    first = client.post("/v1/exceptions", json=open_body(level="general"), headers=keyed)
    table = "casetrail_idempotency"
    if cases.recorder.__class__.__name__.startswith("Postgres"):
        table = f'"{cases.recorder.datastore.schema}".{table}'
    with cases.recorder.datastore.transaction(commit=True) as c:
        c.execute(f"UPDATE {table} SET response = NULL")
    clock.advance(timedelta(hours=30))
    again = client.post("/v1/exceptions", json=open_body(level="general"), headers=keyed)
    assert again.json() == first.json() and again.headers["etag"] == first.headers["etag"]
    assert again.headers["location"] == first.headers["location"]


def test_same_idempotency_key_with_another_body_is_422(
        client: TestClient, make_token, cases: CaseApplication) -> None:
    headers = bearer(make_token(), **{"Idempotency-Key": "open-7f3a"})
    client.post("/v1/exceptions", json=open_body(), headers=headers)
    count = stored_events(cases)
    other = client.post("/v1/exceptions", json=open_body(title="Another"), headers=headers)
    assert other.status_code == 422
    assert other.json()["type"] == "urn:casetrail:problem:idempotency-key-reused"
    assert stored_events(cases) == count


def test_aud_2_get_at_a_version_and_the_history(client: TestClient, make_token) -> None:
    token = make_token()
    location = open_case(client, token)
    client.post(f"{location}/reports", json=report_body(), headers=bearer(token))
    then = client.get(f"{location}?version=1", headers=bearer(token))
    assert then.status_code == 200
    assert then.headers["etag"] == '"1"' and then.json()["report_count"] == 0
    assert client.get(f"{location}?version=5", headers=bearer(token)).status_code == 404
    history = client.get(f"{location}/history", headers=bearer(token)).json()["items"]
    assert [(e["version"], e["type"]) for e in history] == [(1, "Recorded"), (2, "ReportedUp")]
    assert history[0]["occurred_at"] == "2026-09-30T06:50:00Z"
    assert history[1]["recorded_at"] == "2026-09-30T07:00:00Z"
