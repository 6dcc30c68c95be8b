"""Health, readiness, metrics, OpenAPI and the problem shape of every error."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from infrastructure.clock import FrozenClock
from infrastructure.settings import Settings
from tests.api.conftest import bearer
from tests.factories import open_body


def test_healthz_and_readyz(client: TestClient, store_settings: Settings) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    views = ("obligations", "reports", "library", "audit", "outbox")
    assert ready.json() == {"status": "ok", "store": store_settings.store,
                            "views": {v: {"lag": 0} for v in views}}


def test_readyz_names_every_view_that_lags_more_than_allowed(
        store_settings: Settings, clock: FrozenClock, make_token) -> None:
    """No worker runs here: the views do not follow the log. Within the allowed lag
    the service is ready; beyond it /readyz says which views lag (no worker, or one
    that cannot keep up)."""
    from infrastructure.bootstrap import init_schema

    init_schema(store_settings)
    strict = store_settings.model_copy(update={"ready_max_lag": 1})
    with TestClient(create_app(strict, clock)) as app:
        app.post("/v1/exceptions", json=open_body(), headers=bearer(make_token()))
        assert app.get("/readyz").status_code == 200  # one event behind: allowed
        app.post("/v1/exceptions", json=open_body(), headers=bearer(make_token()))
        lagging = app.get("/readyz")
        assert lagging.status_code == 503
        assert lagging.json()["lagging"] == ["audit", "library", "obligations", "outbox",
                                             "reports"]
        assert lagging.json()["views"]["obligations"] == {"lag": 2}


def test_metrics_an_operator_alerts_on(client: TestClient, make_token, cases,
                                      store_settings: Settings, clock: FrozenClock) -> None:
    from datetime import timedelta

    from infrastructure.scheduler import SingleProcessLeadership, Workers
    from projections.obligations import ObligationsProjection, construct_view
    from projections.runtime import ViewRunner

    client.post("/v1/exceptions", json=open_body(), headers=bearer(make_token()))
    text = client.get("/metrics").text
    for series in ('casetrail_view_lag_events{view="obligations"} 1.0',
                   "casetrail_webhook_backlog 0.0",
                   "casetrail_webhook_oldest_pending_seconds 0.0",
                   "process_cpu_seconds_total", "python_gc_collections_total"):
        assert series in text, series
    ViewRunner(cases, ObligationsProjection(cases, construct_view(cases))).catch_up()
    text = client.get("/metrics").text
    assert 'casetrail_view_lag_events{view="obligations"} 0.0' in text
    assert 'casetrail_obligations{state="pending"}' in text
    assert "casetrail_obligation_warnings 0.0" in text
    clock.advance(timedelta(minutes=91))  # 75 % of a major exception's two hours
    assert Workers(cases, store_settings, SingleProcessLeadership()).sweep().warnings == 1
    ViewRunner(cases, ObligationsProjection(cases, construct_view(cases))).catch_up()
    assert "casetrail_obligation_warnings 1.0" in client.get("/metrics").text
    if store_settings.store == "postgres":
        assert "casetrail_db_pool_size" in text and "casetrail_db_requests_waiting" in text


def test_readyz_is_503_when_the_schema_is_missing(store_settings: Settings,
                                                  clock: FrozenClock) -> None:
    with TestClient(create_app(store_settings, clock)) as uninitialised:
        assert uninitialised.get("/healthz").status_code == 200
        assert uninitialised.get("/readyz").status_code == 503


def test_metrics_count_requests_and_commands(client: TestClient, make_token) -> None:
    client.post("/v1/exceptions", json=open_body(), headers=bearer(make_token()))
    text = client.get("/metrics").text
    assert ('casetrail_http_requests_total{method="POST",route="/v1/exceptions",status="201"} 1.0'
            in text)
    assert ('casetrail_commands_total{case_type="exception",command="record",outcome="recorded"}'
            ' 1.0' in text)
    assert "casetrail_http_request_duration_seconds_bucket" in text


def test_openapi_and_docs(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert "/v1/exceptions" in spec["paths"]
    assert "/v1/exceptions/{case_id}/reports" in spec["paths"]
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert "Problem" in spec["components"]["schemas"]
    assert client.get("/docs").status_code == 200


def test_unknown_routes_and_methods_are_problems(client: TestClient) -> None:
    missing = client.get("/v1/nothing-here")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    wrong = client.delete("/healthz")
    assert wrong.status_code == 405
    assert wrong.json()["status"] == 405


def test_request_id_is_echoed_or_made(client: TestClient) -> None:
    assert client.get("/healthz", headers={"X-Request-ID": "abc-123"}).headers[
        "x-request-id"] == "abc-123"
    made = client.get("/healthz", headers={"X-Request-ID": "bad id with spaces"})
    assert len(made.headers["x-request-id"]) == 32


@pytest.mark.rule("SEC-IN-1")
def test_sec_in_1_unknown_repeated_or_numeric_query_values_are_refused(
        client: TestClient, make_token) -> None:
    headers = bearer(make_token())
    typo = client.get("/v1/exceptions?levle=major", headers=headers)
    assert typo.status_code == 422
    assert [e["field"] for e in typo.json()["errors"]] == ["query.levle"]
    twice = client.get("/v1/obligations?rule=EX-ESC-1&rule=EX-RES-1", headers=headers)
    assert twice.status_code == 422
    assert twice.json()["errors"][0] == {"field": "query.rule",
                                         "message": "given more than once"}
    unix_time = client.get("/v1/obligations?due_before=1700000000", headers=headers)
    assert unix_time.status_code == 422
    assert "ISO 8601" in unix_time.json()["errors"][0]["message"]
    assert client.get("/v1/obligations?due_before=2026-11-22T09:00:00%2B08:00",
                      headers=headers).status_code == 200


@pytest.mark.rule("SEC-IN-2")
def test_the_openapi_documents_the_headers_and_problem_members_a_client_relies_on(
        client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    responses = [(path, method, status, response) for path, ops in spec["paths"].items()
                 for method, op in ops.items() for status, response in op["responses"].items()]
    assert all("X-Request-ID" in r.get("headers", {}) for _, _, _, r in responses)
    created = spec["paths"]["/v1/exceptions"]["post"]["responses"]["201"]["headers"]
    assert {"ETag", "Location", "Idempotent-Replayed"} <= set(created)
    command = spec["paths"]["/v1/exceptions/{case_id}/reports"]["post"]["responses"]
    assert {"ETag", "Idempotent-Replayed"} <= set(command["200"]["headers"])
    assert "Retry-After" in command["503"]["headers"]
    read = spec["paths"]["/v1/corrective-actions/{case_id}"]["get"]["responses"]["200"]
    assert "ETag" in read["headers"]
    problem = spec["components"]["schemas"]["Problem"]["properties"]
    assert {"missing_step", "state", "current_version", "errors"} <= set(problem)


def test_the_openapi_links_an_answer_showing_a_case_to_the_operations_on_it(
        client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    created = spec["paths"]["/v1/exceptions"]["post"]["responses"]["201"]["links"]
    targets = {link["operationId"] for link in created.values()}
    operation_ids = {op["operationId"]: path for path, ops in spec["paths"].items()
                     for op in ops.values()}
    assert {operation_ids[t] for t in targets} >= {
        "/v1/exceptions/{case_id}", "/v1/exceptions/{case_id}/reports"}
    assert all(link["parameters"] == {"case_id": "$response.body#/id"}
               for link in created.values())
    assert "links" not in spec["paths"]["/v1/exceptions/{case_id}/history"]["get"][
        "responses"]["200"]
